"""The local hosted sign-in: development's stand-in for Cognito's hosted UI.

The storefront signs in with the OAuth 2.0 authorization code flow and PKCE
(RFC 6749, RFC 7636) against whatever its ``/config.json`` names: Cognito's
hosted UI on AWS, this server locally. It mirrors the hosted UI's endpoints so
the app has one code path:

| endpoint | what it does |
|---|---|
| ``GET /oauth2/authorize`` | checks the request, shows the local users to pick from |
| ``POST /oauth2/authorize`` | the pick: a one-time code, then a redirect to the app |
| ``POST /oauth2/token`` | code + ``code_verifier`` → an access token from :class:`LocalIssuer` |
| ``GET /logout`` | back to a registered sign-out address |

It is local by construction: it listens on loopback only, is started by the
local runner (``scripts/run``) and nothing else, signs with the local issuer's
key (which only a gateway configured for :data:`mesh.issuer.LOCAL_ISSUER`
trusts), and redirects only to the exact addresses it was given. Codes live
:data:`CODE_TTL` seconds, are bound to the client, the redirect address and the
PKCE challenge (S256 only), and are spent on first use, right or wrong.

    app = LocalSignIn(issuer, SignInClient("shop-web-local", "http://127.0.0.1:8080"))
    server = await serve_signin(app)      # server.url: http://127.0.0.1:<port>
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit

import uvicorn

from mesh.issuer import LocalIssuer, check_scopes, check_subject
from mesh.jwks_server import _is_loopback

__all__ = [
    "CALLBACK_PATH",
    "CODE_TTL",
    "LocalSignIn",
    "SignInClient",
    "SignInServer",
    "local_signin_env",
    "local_users",
    "serve_signin",
]

CALLBACK_PATH: Final = "/callback"
CODE_TTL: Final = 60.0
TOKEN_TTL: Final = 3600.0
MAX_BODY: Final = 8192
MAX_PENDING: Final = 1000
# RFC 7636 section 4.1: 43 to 128 unreserved characters.
_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
_STATE_MAX = 512

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass(frozen=True)
class SignInClient:
    """The one client allowed to sign in: its id and its origin (the app's).

    The redirect address is ``origin + CALLBACK_PATH`` exactly, and the only
    sign-out address is ``origin + "/"``; nothing else is ever redirected to.
    """

    client_id: str
    origin: str

    def __post_init__(self) -> None:
        parts = urlsplit(self.origin)
        if (
            parts.scheme != "http"
            or not parts.hostname
            or not _is_loopback(parts.hostname)
            or parts.path
            or parts.query
            or parts.fragment
        ):
            raise ValueError(
                f"a local client's origin is http://<loopback>:<port>, not {self.origin!r}"
            )
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,128}", self.client_id):
            raise ValueError("a client id has 1 to 128 letters, digits, '.', '_' or '-'")

    @property
    def redirect_uri(self) -> str:
        return self.origin + CALLBACK_PATH

    @property
    def logout_uri(self) -> str:
        return self.origin + "/"


def local_users(
    customer_scopes: Sequence[str], admin_scopes: Sequence[str]
) -> dict[str, list[str]]:
    """The named local users: two customers and the shop owner."""
    return {
        "alice": check_scopes(customer_scopes),
        "bob": check_scopes(customer_scopes),
        "admin": check_scopes(admin_scopes),
    }


@dataclass(frozen=True)
class _Grant:
    user: str
    redirect_uri: str
    challenge: str
    expires: float


class _Refusal(Exception):
    """An OAuth error (RFC 6749 section 5.2): ``error`` code and a description."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


class LocalSignIn:
    """ASGI 3 application of the local hosted sign-in."""

    def __init__(
        self,
        issuer: LocalIssuer,
        client: SignInClient,
        users: Mapping[str, Sequence[str]],
        *,
        code_ttl: float = CODE_TTL,
        token_ttl: float = TOKEN_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        for name in users:
            check_subject(name)
        self.issuer = issuer
        self.client = client
        self.users = {name: check_scopes(scopes) for name, scopes in users.items()}
        self.code_ttl = code_ttl
        self.token_ttl = token_ttl
        self._clock = clock
        self._codes: dict[str, _Grant] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # served with lifespan="off"
            return
        method, path = scope["method"], scope["path"]
        query = scope["query_string"].decode("latin-1")
        try:
            if path == "/oauth2/authorize" and method == "GET":
                await self._picker(send, _form(query))
            elif path == "/oauth2/authorize" and method == "POST":
                await self._pick(send, _form(await _body(receive, scope)))
            elif path == "/oauth2/token" and method == "POST":
                await self._token(send, _form(await _body(receive, scope)))
            elif path == "/oauth2/token" and method == "OPTIONS":
                await _send(send, 204, b"", self._cors())
            elif path == "/logout" and method == "GET":
                await self._logout(send, _form(query))
            elif path in ("/oauth2/authorize", "/oauth2/token", "/logout"):
                await _send(send, 405, b"method not allowed\n", [(b"allow", b"GET, POST")])
            else:
                await _send(send, 404, b"not found\n", [])
        except _Refusal as refusal:
            if path == "/oauth2/token":
                body = _json({"error": refusal.error, "error_description": refusal.description})
                await _send(send, refusal.status, body, self._cors(json=True))
            else:
                # Never redirect an unchecked request: the error is shown here.
                page = _page(
                    "Sign-in refused", f"<p role='alert'>{escape(refusal.description)}</p>"
                )
                await _send(send, refusal.status, page, _html_headers(self.client.origin))

    def _check_request(self, form: Mapping[str, str]) -> None:
        if form.get("client_id") != self.client.client_id:
            raise _Refusal(400, "invalid_client", "unknown client_id")
        if form.get("redirect_uri") != self.client.redirect_uri:
            raise _Refusal(400, "invalid_request", "redirect_uri is not registered for this client")
        if form.get("response_type") != "code":
            raise _Refusal(400, "unsupported_response_type", "response_type must be code")
        if form.get("code_challenge_method") != "S256":
            raise _Refusal(400, "invalid_request", "code_challenge_method must be S256 (PKCE)")
        if not _CHALLENGE.fullmatch(form.get("code_challenge", "")):
            raise _Refusal(400, "invalid_request", "code_challenge must be a base64url SHA-256")
        if len(form.get("state", "")) > _STATE_MAX:
            raise _Refusal(400, "invalid_request", f"state is longer than {_STATE_MAX} characters")

    async def _picker(self, send: Send, form: Mapping[str, str]) -> None:
        self._check_request(form)
        hidden = "".join(
            f'<input type="hidden" name="{name}" value="{escape(form.get(name, ""))}">'
            for name in (
                "client_id",
                "redirect_uri",
                "response_type",
                "code_challenge",
                "code_challenge_method",
                "state",
            )
        )
        buttons = "".join(
            f'<li><button type="submit" name="user" value="{escape(name)}">{escape(name)}</button>'
            f" <span>{escape(' '.join(scopes))}</span></li>"
            for name, scopes in self.users.items()
        )
        body = (
            "<h1>Local sign-in</h1>"
            "<p>Development only: pick a local user. On AWS this page is Cognito's.</p>"
            f'<form method="post" action="/oauth2/authorize">{hidden}'
            f'<ul aria-label="Local users">{buttons}</ul></form>'
        )
        await _send(send, 200, _page("Local sign-in", body), _html_headers(self.client.origin))

    async def _pick(self, send: Send, form: Mapping[str, str]) -> None:
        self._check_request(form)
        user = form.get("user", "")
        if user not in self.users:
            raise _Refusal(400, "access_denied", "pick one of the listed users")
        now = self._clock()
        self._expire(now)
        if len(self._codes) >= MAX_PENDING:
            raise _Refusal(503, "temporarily_unavailable", "too many sign-ins in progress")
        code = secrets.token_urlsafe(32)
        self._codes[code] = _Grant(
            user, form["redirect_uri"], form["code_challenge"], now + self.code_ttl
        )
        params = {"code": code}
        if form.get("state"):
            params["state"] = form["state"]
        location = f"{self.client.redirect_uri}?{urlencode(params)}"
        await _send(
            send, 302, b"", [(b"location", location.encode()), (b"cache-control", b"no-store")]
        )

    async def _token(self, send: Send, form: Mapping[str, str]) -> None:
        if form.get("grant_type") != "authorization_code":
            raise _Refusal(400, "unsupported_grant_type", "grant_type must be authorization_code")
        if form.get("client_id") != self.client.client_id:
            raise _Refusal(401, "invalid_client", "unknown client_id")
        # Spent on first use, right or wrong: a replayed or guessed code gets nothing.
        grant = self._codes.pop(form.get("code", ""), None)
        if grant is None or grant.expires <= self._clock():
            raise _Refusal(400, "invalid_grant", "the code is unknown, used or expired")
        if form.get("redirect_uri") != grant.redirect_uri:
            raise _Refusal(400, "invalid_grant", "redirect_uri differs from the authorization's")
        verifier = form.get("code_verifier", "")
        if not _VERIFIER.fullmatch(verifier):
            raise _Refusal(400, "invalid_grant", "code_verifier is missing or malformed")
        if not secrets.compare_digest(_s256(verifier), grant.challenge):
            raise _Refusal(400, "invalid_grant", "code_verifier does not match the challenge")
        scopes = self.users[grant.user]
        token = self.issuer.mint(
            grant.user, scopes, self.token_ttl, client_id=self.client.client_id
        )
        body = _json(
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": int(self.token_ttl),
                "scope": " ".join(scopes),
            }
        )
        await _send(send, 200, body, self._cors(json=True))

    async def _logout(self, send: Send, form: Mapping[str, str]) -> None:
        if form.get("client_id") != self.client.client_id:
            raise _Refusal(400, "invalid_client", "unknown client_id")
        if form.get("logout_uri") != self.client.logout_uri:
            raise _Refusal(400, "invalid_request", "logout_uri is not registered for this client")
        headers = [(b"location", self.client.logout_uri.encode()), (b"cache-control", b"no-store")]
        await _send(send, 302, b"", headers)

    def _expire(self, now: float) -> None:
        for code in [c for c, g in self._codes.items() if g.expires <= now]:
            del self._codes[code]

    def _cors(self, *, json: bool = False) -> list[tuple[bytes, bytes]]:
        # Only the app's origin may read token answers (the exchange is a fetch from it).
        headers = [
            (b"access-control-allow-origin", self.client.origin.encode()),
            (b"access-control-allow-methods", b"POST"),
            (b"access-control-allow-headers", b"content-type"),
            (b"vary", b"origin"),
            (b"cache-control", b"no-store"),
        ]
        if json:
            headers.append((b"content-type", b"application/json"))
        return headers


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _form(raw: str) -> dict[str, str]:
    """A form or query string; a repeated or undecodable parameter is refused."""
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=bool(raw), max_num_fields=32)
    except ValueError:
        raise _Refusal(400, "invalid_request", "malformed parameters") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise _Refusal(400, "invalid_request", f"parameter {name[:40]!r} given twice")
        form[name] = value
    return form


async def _body(receive: Receive, scope: Scope) -> str:
    content_type = dict(scope["headers"]).get(b"content-type", b"").split(b";")[0].strip()
    if content_type != b"application/x-www-form-urlencoded":
        raise _Refusal(415, "invalid_request", "send application/x-www-form-urlencoded")
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise _Refusal(413, "invalid_request", f"body over {MAX_BODY} bytes")
        chunks.append(chunk)
        more = message.get("more_body", False)
    try:
        return b"".join(chunks).decode("ascii")
    except UnicodeDecodeError:
        raise _Refusal(400, "invalid_request", "a form body is ASCII (percent-encoded)") from None


def _json(value: Mapping[str, Any]) -> bytes:
    import json

    return json.dumps(value, separators=(",", ":")).encode()


_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;color:#1a1a1a}"
    "ul{list-style:none;padding:0}li{margin:.6rem 0}"
    "button{font:inherit;min-width:7rem;padding:.4rem 1rem;border:2px solid #1d4ed8;"
    "background:#1d4ed8;color:#fff;border-radius:4px;cursor:pointer}"
    "button:focus-visible{outline:3px solid #111;outline-offset:2px}span{color:#444}"
)


def _page(title: str, body: str) -> bytes:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<style>{_STYLE}</style></head><body><main>{body}</main></body></html>"
    ).encode()


def _html_headers(app_origin: str) -> list[tuple[bytes, bytes]]:
    # form-action also governs where the form's redirect may land: here and the app.
    csp = (
        "default-src 'none'; style-src 'unsafe-inline'; "
        f"form-action 'self' {app_origin}; frame-ancestors 'none'; base-uri 'none'"
    )
    return [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-security-policy", csp.encode()),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"cache-control", b"no-store"),
    ]


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    if not any(name == b"content-type" for name, _ in headers):
        headers = [*headers, (b"content-type", b"text/plain; charset=utf-8")]
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class SignInServer:
    """A running sign-in server on loopback; ``url`` is its base. ``await close()`` stops it."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, host: str) -> None:
        self._server = server
        self._thread = thread
        self._host = host

    @property
    def port(self) -> int:
        port: int = self._server.servers[0].sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    async def close(self) -> None:
        """Stop serving and wait for the server's thread; safe to call twice."""
        self._server.should_exit = True
        await asyncio.to_thread(self._thread.join)


async def serve_signin(
    app: LocalSignIn, host: str = "127.0.0.1", port: int = 0, *, start_timeout: float = 10.0
) -> SignInServer:
    """Serve ``app`` on ``host`` (loopback only) until :meth:`SignInServer.close`.

    uvicorn runs on a thread of its own with its own loop: there it leaves the
    process's signals alone, which belong to the caller (the local runner).
    """
    if not _is_loopback(host):
        raise ValueError(f"the local sign-in listens on loopback only, not {host!r}")
    config = uvicorn.Config(
        app, host=host, port=port, lifespan="off", access_log=False, log_config=None
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="local-signin", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    # uvicorn says it is listening only through this flag (or by ending the thread).
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise OSError(f"the local sign-in could not listen on {host}:{port}")
        await asyncio.sleep(0.01)
    return SignInServer(server, thread, host)


def local_signin_env(url: str, client: SignInClient) -> dict[str, str]:
    """The gateway's settings for pointing the storefront at this sign-in (its ``/config.json``)."""
    return {
        "MESH_GATEWAY_OAUTH_AUTHORIZE_URL": f"{url}/oauth2/authorize",
        "MESH_GATEWAY_OAUTH_TOKEN_URL": f"{url}/oauth2/token",
        "MESH_GATEWAY_OAUTH_LOGOUT_URL": f"{url}/logout",
        "MESH_GATEWAY_WEB_CLIENT_ID": client.client_id,
    }
