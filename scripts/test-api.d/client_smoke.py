"""The client generated from the served document (scripts/test-api) makes real calls: register,
then GET /users/me with the access token it got."""

import secrets
import sys
import uuid

from natter_client import AuthenticatedClient, Client
from natter_client.api.auth import register
from natter_client.api.users import me
from natter_client.models import AuthTokens, RegisterRequest, UserView

base = sys.argv[1]
username = "client-" + uuid.uuid4().hex[:12]
with Client(base_url=base, timeout=30) as client:
    tokens = register.sync(
        client=client,
        body=RegisterRequest(username=username, password=secrets.token_urlsafe(18)),
    )
assert isinstance(tokens, AuthTokens), tokens
assert tokens.user.username == username, tokens.user
with AuthenticatedClient(base_url=base, token=tokens.access_token, timeout=30) as client:
    user = me.sync(client=client)
assert isinstance(user, UserView), user
assert user.id == tokens.user.id and user.username == username, user
print(f"generated client: registered {username} and read it back from /users/me")
