<?php
/*
 * Auth sources of the demo IdP: exampleauth:UserPass with the users from
 * users.json ({"name": {"password": ..., "attributes": {...}}}), copied here
 * from examples/idp/users.json by examples/demo.sh and re-read on every
 * request.
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
