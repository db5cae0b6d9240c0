"""OAuth 2.0 for the sandbox CRM: `POST /services/oauth2/token` (client credentials, password).

Client credentials run as the integration user; the username-password flow runs as a seeded
user (to play human edits). Tokens never expire; `POST /services/oauth2/revoke` ends one.
"""

import base64
import hashlib
import hmac
import secrets
import time
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from bizbus.deploy.sandbox.crm.errors import SalesforceError, json_response
from bizbus.deploy.sandbox.crm.records import RecordStore
from bizbus.deploy.sandbox.crm.seed import INTEGRATION_USERNAME, USER_PASSWORD, user_id_for
from bizbus.deploy.sandbox.registry import SYSTEMS

__all__ = ["ORG_ID", "authenticate", "oauth_revoke", "oauth_token"]

ORG_ID = "00D5j000000HengAAA"


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    return json_response({"error": error, "error_description": description}, status)


async def _form(request: Request) -> dict[str, str]:
    parsed = parse_qs((await request.body()).decode(), keep_blank_values=True)
    form = {key: values[0] for key, values in parsed.items()}
    form.update({k: v for k, v in request.query_params.items() if k not in form})
    return form


def _client(request: Request, form: dict[str, str]) -> tuple[str, str]:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        decoded = base64.b64decode(header[6:]).decode()
        client_id, _, secret = decoded.partition(":")
        return client_id, secret
    return form.get("client_id", ""), form.get("client_secret", "")


async def oauth_token(request: Request, records: RecordStore) -> Response:
    """Issue an access token, answering errors as Salesforce's OAuth endpoint does."""
    form = await _form(request)
    client_id, secret = _client(request, form)
    expected = SYSTEMS["crm"].credentials
    grant = form.get("grant_type", "")
    if grant not in ("client_credentials", "password"):
        return _oauth_error("unsupported_grant_type", "grant type not supported")
    if not (
        hmac.compare_digest(client_id, expected["client_id"])
        and hmac.compare_digest(secret, expected["client_secret"])
    ):
        return _oauth_error("invalid_client", "invalid client credentials")
    username = INTEGRATION_USERNAME
    if grant == "password":
        username = form.get("username", "")
        if not hmac.compare_digest(form.get("password", ""), USER_PASSWORD):
            return _oauth_error("invalid_grant", "authentication failure")
    user_id = user_id_for(records, username)
    if user_id is None:
        return _oauth_error("invalid_grant", "authentication failure")
    token = f"{ORG_ID[:15]}!{secrets.token_urlsafe(72)}"
    issued_at = str(int(time.time() * 1000))
    records.store.db.execute(
        "INSERT INTO _tokens (token, user_id, client_id, issued_at) VALUES (?, ?, ?, ?)",
        (token, user_id, client_id, issued_at),
    )
    instance_url = str(request.base_url).rstrip("/")
    identity = f"{instance_url}/id/{ORG_ID}/{user_id}"
    signature = base64.b64encode(
        hmac.new(secret.encode(), (identity + issued_at).encode(), hashlib.sha256).digest()
    ).decode()
    body: dict[str, Any] = {
        "access_token": token,
        "instance_url": instance_url,
        "id": identity,
        "token_type": "Bearer",
        "issued_at": issued_at,
        "signature": signature,
        "scope": "api",
    }
    return json_response(body)


async def oauth_revoke(request: Request, records: RecordStore) -> Response:
    """Revoke a token (`token=` in the form or query)."""
    form = await _form(request)
    records.store.db.execute("DELETE FROM _tokens WHERE token = ?", (form.get("token", ""),))
    return Response(status_code=200)


def authenticate(request: Request, records: RecordStore) -> str:
    """Return the user id behind the request's bearer token.

    Raises:
        SalesforceError: 401 INVALID_SESSION_ID for a missing, unknown or revoked token.
    """
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() in ("bearer", "oauth") and token:
        rows = records.store.query("SELECT user_id FROM _tokens WHERE token = ?", (token.strip(),))
        if rows:
            return str(rows[0]["user_id"])
    raise SalesforceError(401, "INVALID_SESSION_ID", "Session expired or invalid")
