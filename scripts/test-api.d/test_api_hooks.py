"""schemathesis hooks for scripts/test-api: every test case logs in afresh, because the fuzzer
itself may log out (POST /auth/logout) or revoke (DELETE /auth/sessions/{id}) the session it was
given, and then every later case would only see 401. Also: tus upload chunks
(`application/offset+octet-stream`) are raw bytes."""

import json
import os
import urllib.request

import schemathesis
from hypothesis import strategies as st

# The body of PATCH /files/uploads/{upload_id}: any bytes (schemathesis has no generator of its own
# for this media type).
schemathesis.openapi.media_type("application/offset+octet-stream", st.binary(max_size=4096))


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
