<?php
/*
 * Hosted IdP of the demo. The whole entry (entity ID, key pair, signing and
 * NameID options) is written by examples/demo_helper.py to ../idp.json.
 */
$idp = json_decode(file_get_contents(dirname(__DIR__) . '/idp.json'), true, 64, JSON_THROW_ON_ERROR);
$metadata[$idp['entityid']] = $idp['metadata'];
