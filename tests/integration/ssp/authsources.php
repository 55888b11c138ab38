<?php
/*
 * Auth sources of the integration-test IdP: exampleauth:UserPass with the
 * users from users.json ({"name": {"password": ..., "attributes": {...}}}),
 * re-read on every request so tests can change users on a running IdP.
 */
$users = json_decode(file_get_contents(__DIR__ . '/users.json'), true, 64, JSON_THROW_ON_ERROR);

$userpass = ['exampleauth:UserPass'];
foreach ($users as $name => $user) {
    $userpass[$name . ':' . $user['password']] = $user['attributes'];
}

$config = [
    'admin' => ['core:AdminPassword'],
    'example-userpass' => $userpass,
];
