"""schemathesis hooks for scripts/test-api: every test case logs in afresh, because the fuzzer
itself may log out (POST /auth/logout) or revoke (DELETE /auth/sessions/{id}) the session it was
given, and then every later case would only see 401."""

import json
import os
import urllib.request

import schemathesis


@schemathesis.auth(refresh_interval=None)
class FreshLogin:
    def get(self, case, context):
        request = urllib.request.Request(
            os.environ["NATTER_API_TEST_BASE"] + "/api/v1/auth/login",
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
            return json.load(response)["access_token"]

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
