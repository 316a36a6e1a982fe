"""Registers a user for scripts/test-api and prints its id: `register.py BASE USERNAME PASSWORD`."""

import json
import sys
import urllib.request

base, username, password = sys.argv[1:4]
request = urllib.request.Request(
    base + "/api/v1/auth/register",
    data=json.dumps({"username": username, "password": password}).encode(),
    headers={"content-type": "application/json"},
    method="POST",
)
with urllib.request.urlopen(request, timeout=30) as response:
    assert response.status == 201, response.status
    print(json.load(response)["user"]["id"])
