<?php
/*
 * Trusted SPs of the integration-test IdP: every ../sp/*.xml is SAML metadata
 * (an EntityDescriptor or EntitiesDescriptor), parsed by SimpleSAMLphp's own
 * SAMLParser on every request, so SPs can be added to a running IdP. The
 * optional ../sp/NAME.json next to NAME.xml holds SimpleSAMLphp sp-remote
 * options that override what the XML says (NameIDFormat, signing, ...).
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
