<?php
/*
 * Hosted IdP of the integration-test IdP. The whole entry (keys, signing and
 * NameID options) is written by the harness to idp.json; re-read per request.
 */
$idp = json_decode(file_get_contents(dirname(__DIR__) . '/idp.json'), true, 64, JSON_THROW_ON_ERROR);
$metadata[$idp['entityid']] = $idp['metadata'];
