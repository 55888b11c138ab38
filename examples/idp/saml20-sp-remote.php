<?php
/*
 * SPs the demo IdP trusts: every ../sp/*.xml is SAML metadata (as served by
 * mod_auth_idbroker at /saml/metadata), parsed by SimpleSAMLphp's own
 * SAMLParser on every request. The optional ../sp/NAME.json next to NAME.xml
 * holds sp-remote options that override the XML (NameID format and source).
 */
foreach (glob(dirname(__DIR__) . '/sp/*.xml') as $file) {
    $overrides = [];
    $json = substr($file, 0, -4) . '.json';
    if (is_file($json)) {
        $overrides = json_decode(file_get_contents($json), true, 64, JSON_THROW_ON_ERROR);
    }
    foreach (\SimpleSAML\Metadata\SAMLParser::parseDescriptorsFile($file) as $entityId => $entity) {
        $sp = $entity->getMetadata20SP();
        if ($sp !== null) {
            $metadata[$entityId] = array_merge($sp, $overrides);
        }
    }
}
