<?php
/*
 * SimpleSAMLphp main config of the demo IdP, served by `php -S 127.0.0.1:PORT`
 * (examples/demo.sh). Everything instance-specific (port, paths, salt) comes
 * from settings.json, written by examples/demo_helper.py; this file is
 * re-read on every request. Adapted from tests/integration/ssp/config.php.
 */
$s = json_decode(file_get_contents(__DIR__ . '/settings.json'), true, 64, JSON_THROW_ON_ERROR);

$config = [
    'baseurlpath' => $s['baseurlpath'],
    'certdir' => $s['certdir'],
    'loggingdir' => $s['logdir'],
    'datadir' => $s['datadir'],
    'tempdir' => $s['tempdir'],
    'metadatadir' => __DIR__ . '/metadata/',
    'attributenamemapdir' => '/usr/share/simplesamlphp/config/attributemap/',
    'technicalcontact_name' => 'mod_auth_idbroker demo',
    'technicalcontact_email' => 'na@example.org',
    'timezone' => 'UTC',

    'secretsalt' => $s['secretsalt'],
    'auth.adminpassword' => $s['adminpassword'],
    'admin.protectindexpage' => false,
    'admin.protectmetadata' => false,
    'admin.checkforupdates' => false,
    'trusted.url.domains' => [],
    'enable.http_post' => false,
    'assertion.allowed_clock_skew' => 180,

    // A demo: show what went wrong, and log the SAML messages (DEBUG).
    'debug' => ['saml' => true, 'backtraces' => true, 'validatexml' => false],
    'showerrors' => true,
    'errorreporting' => false,

    'logging.level' => SimpleSAML\Logger::DEBUG,
    'logging.handler' => 'file',
    'logging.logfile' => 'simplesamlphp.log',
    'logging.processname' => 'simplesamlphp',
    'statistics.out' => [],

    'enable.saml20-idp' => true,
    'enable.shib13-idp' => false,
    'enable.adfs-idp' => false,
    'module.enable' => [
        'exampleauth' => true,
        'core' => true,
        'saml' => true,
        'admin' => true,
    ],

    // Plain http on 127.0.0.1: no Secure flag, no SameSite=None (browsers
    // reject None without Secure). Cookie names carry the port: cookies
    // ignore ports, and the SP runs on the same host.
    'store.type' => 'phpsession',
    'session.duration' => 8 * 60 * 60,
    'session.datastore.timeout' => 4 * 60 * 60,
    'session.state.timeout' => 60 * 60,
    'session.cookie.name' => 'SimpleSAMLSessionID' . $s['port'],
    'session.cookie.lifetime' => 0,
    'session.cookie.path' => '/',
    'session.cookie.domain' => null,
    'session.cookie.secure' => false,
    'session.cookie.samesite' => null,
    'session.phpsession.cookiename' => 'SimpleSAML' . $s['port'],
    'session.phpsession.savepath' => $s['sessiondir'],
    'session.phpsession.httponly' => true,
    'session.authtoken.cookiename' => 'SimpleSAMLAuthToken' . $s['port'],
    'session.rememberme.enable' => false,

    'language.available' => ['en'],
    'language.default' => 'en',
    'language.parameter.setcookie' => false,
    'language.cookie.secure' => false,
    'language.cookie.samesite' => null,

    'theme.use' => 'default',
    'template.auto_reload' => false,
    'production' => true,

    'authproc.idp' => [],
];
