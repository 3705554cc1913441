"""The local issuer's JWKS over HTTP: a real server on 127.0.0.1, real clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import jwt
import pytest

from mesh.issuer import LOCAL_AUDIENCE, LOCAL_ISSUER, JwksServer, LocalIssuer, serve_jwks
from mesh.jwks_server import MAX_HEAD, start_jwks_server


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> LocalIssuer:
    return LocalIssuer.load_or_create(tmp_path_factory.mktemp("data"))


@pytest.fixture
async def server(issuer: LocalIssuer) -> AsyncIterator[JwksServer]:
    async with await serve_jwks(issuer) as running:
        yield running


async def exchange(server: JwksServer, request: bytes) -> bytes:
    """Send raw bytes, read until the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
        await writer.wait_closed()


async def test_get_serves_the_jwks_that_verifies_tokens(
    server: JwksServer, issuer: LocalIssuer
) -> None:
    assert server.url == f"http://127.0.0.1:{server.port}/.well-known/jwks.json"
    async with httpx.AsyncClient() as client:
        response = await client.get(server.url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "public, max-age=300"
    assert response.headers["connection"] == "close"
    assert response.json() == issuer.jwks()
    # What the gateway does with it: pick the key by kid, verify.
    token = issuer.mint("alice", ["orders.read"])
    key = jwt.PyJWKSet.from_dict(response.json())[jwt.get_unverified_header(token)["kid"]]
    claims = jwt.decode(token, key, ["RS256"], audience=LOCAL_AUDIENCE, issuer=LOCAL_ISSUER)
    assert claims["scope"] == "orders.read"


async def test_head_and_a_query_string_are_served(server: JwksServer) -> None:
    async with httpx.AsyncClient() as client:
        head = await client.head(server.url)
        queried = await client.get(server.url + "?refresh=1")
    assert head.status_code == 200
    assert head.content == b""
    assert int(head.headers["content-length"]) == len(queried.content) > 0


@pytest.mark.parametrize(
    "path", ["/", "/.well-known/jwks.json/", "/.well-known/openid-configuration"]
)
async def test_other_paths_are_not_found(server: JwksServer, path: str) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{server.port}{path}")
    assert response.status_code == 404
    assert response.json() == {"error": "the JWKS is at /.well-known/jwks.json"}
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
async def test_other_methods_are_not_allowed(server: JwksServer, method: str) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.request(method, server.url, content=b"x" * 100_000)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /.well-known/jwks.json\r\n\r\n",
        b"GET /.well-known/jwks.json HTTP/2.0\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",  # a TLS hello, roughly
        b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: x",  # then EOF
    ],
)
async def test_a_malformed_request_is_a_bad_request(
    server: JwksServer, request_bytes: bytes
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(request_bytes)
    writer.write_eof()
    answer = await asyncio.wait_for(reader.read(), timeout=10)
    writer.close()
    await writer.wait_closed()
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")


async def test_a_megabyte_of_headers_is_refused_and_the_connection_closed(
    server: JwksServer,
) -> None:
    hostile = b"GET /.well-known/jwks.json HTTP/1.1\r\n" + b"X-Junk: " + b"a" * (1 << 20)
    answer = await exchange(server, hostile + b"\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert body == f'{{"error": "request head over {MAX_HEAD} bytes"}}'.encode()
    async with httpx.AsyncClient() as client:
        assert (await client.get(server.url)).status_code == 200


async def test_a_client_that_connects_and_leaves_does_no_harm(server: JwksServer) -> None:
    _, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.close()
    await writer.wait_closed()
    async with httpx.AsyncClient() as client:
        assert (await client.get(server.url)).status_code == 200


async def test_a_slow_client_gets_a_timeout(issuer: LocalIssuer) -> None:
    async with await start_jwks_server(issuer.jwks(), head_timeout=0.2) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /.well-known/jwks.json HTTP/1.1\r\n")  # and never the blank line
        answer = await asyncio.wait_for(reader.read(), timeout=10)
        writer.close()
        await writer.wait_closed()
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")


async def test_close_ends_open_connections_and_stops_listening(issuer: LocalIssuer) -> None:
    server = await serve_jwks(issuer)
    port = server.port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /.well-known/jwks.json HTTP/1.1\r\n")  # a head that never ends
    # A full request answered afterwards means the server has accepted the first one too.
    async with httpx.AsyncClient() as client:
        assert (await client.get(server.url)).status_code == 200
    # Well within the 10 s head timeout: close cancels the waiting connection.
    await asyncio.wait_for(server.close(), timeout=5)
    assert await asyncio.wait_for(reader.read(), timeout=5) == b""
    writer.close()
    await writer.wait_closed()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)
    await server.close()  # twice is fine


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1", "example.com"])
async def test_it_listens_on_loopback_only(issuer: LocalIssuer, host: str) -> None:
    with pytest.raises(ValueError, match="loopback only"):
        await serve_jwks(issuer, host=host)


async def test_it_serves_on_ipv6_loopback_too(issuer: LocalIssuer) -> None:
    try:
        server = await serve_jwks(issuer, host="::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    async with server:
        assert server.url.startswith("http://[::1]:")
        async with httpx.AsyncClient() as client:
            assert (await client.get(server.url)).json() == issuer.jwks()
