"""Registers the user the schemathesis hooks log in as (scripts/test-api)."""

import json
import os
import urllib.request

request = urllib.request.Request(
    os.environ["NATTER_API_TEST_BASE"] + "/api/v1/auth/register",
    data=json.dumps(
        {
            "username": os.environ["NATTER_API_TEST_USER"],
            "password": os.environ["NATTER_API_TEST_PASSWORD"],
        }
    ).encode(),
    headers={"content-type": "application/json"},
    method="POST",
)
with urllib.request.urlopen(request, timeout=30) as response:
    assert response.status == 201, response.status
    print(json.load(response)["user"]["id"])
