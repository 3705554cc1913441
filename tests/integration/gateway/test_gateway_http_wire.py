"""The gateway's HTTP/1.1 protocol on the wire (raw sockets against uvicorn on loopback).

Each response's head and body leave in one write, and HTTP/1.1's other
paths (interim 100 Continue, HEAD, pipelining, Connection: close, garbage)
still behave as uvicorn's own protocol does.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from types import ModuleType
from urllib.parse import urlsplit

import pytest

from tests.gateway_support.live import live_gateway

BODY = json.dumps({"name": "wire", "i32": 5}).encode()


@pytest.fixture(scope="module")
def address(echo_modules: tuple[ModuleType, ModuleType]) -> Iterator[tuple[str, int]]:
    with live_gateway(echo_modules) as url:
        parts = urlsplit(url)
        assert parts.hostname and parts.port
        yield parts.hostname, parts.port


def connect(address: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(address, timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def post(body: bytes = BODY, extra: bytes = b"") -> bytes:
    return (
        b"POST /v1/echo HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
        + extra
        + b"Content-Length: %d\r\n\r\n" % len(body)
        + body
    )


def complete(data: bytes) -> tuple[bytes, bytes] | None:
    """(head, body) when ``data`` holds a whole Content-Length response, else None."""
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        return None
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return (head, rest[:length]) if len(rest) >= length else None


def read_response(sock: socket.socket, buffer: bytearray) -> tuple[bytes, bytes]:
    while (found := complete(bytes(buffer))) is None:
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-response"
        buffer += chunk
    head, body = found
    del buffer[: len(head) + 4 + len(body)]
    return head, body


def test_each_response_arrives_whole_in_its_first_segment(address: tuple[str, int]) -> None:
    with connect(address) as sock:
        for _ in range(20):
            sock.sendall(post())
            # One write on the server is one segment on loopback: the first recv
            # holds everything. Two writes would mostly show the head alone.
            first = sock.recv(65536)
            found = complete(first)
            assert found is not None, f"partial first segment: {first!r}"
            head, body = found
            assert head.startswith(b"HTTP/1.1 200 ")
            assert json.loads(body)["request"]["name"] == "wire"
            assert b"server:" not in head.lower()


def test_expect_100_continue_is_answered_before_the_body_is_sent(
    address: tuple[str, int],
) -> None:
    with connect(address) as sock:
        request = post(extra=b"Expect: 100-continue\r\n")
        head_only = request[: request.index(b"\r\n\r\n") + 4]
        sock.sendall(head_only)
        interim = sock.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n"), interim
        sock.sendall(BODY)
        buffer = bytearray(interim[interim.index(b"\r\n\r\n") + 4 :])
        head, body = read_response(sock, buffer)
        assert head.startswith(b"HTTP/1.1 200 ")
        assert json.loads(body)["request"]["i32"] == 5


def test_head_request_gets_its_head_and_the_connection_stays_usable(
    address: tuple[str, int],
) -> None:
    with connect(address) as sock:
        sock.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: gw\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, "closed before the head"
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        assert rest == b""
        sock.sendall(post())
        status, body = read_response(sock, bytearray())
        assert status.startswith(b"HTTP/1.1 200 ")
        assert json.loads(body)["rpc"] == "Echo"


def test_pipelined_requests_are_answered_in_order(address: tuple[str, int]) -> None:
    first = json.dumps({"name": "one"}).encode()
    second = json.dumps({"name": "two"}).encode()
    with connect(address) as sock:
        sock.sendall(post(first) + post(second))
        buffer = bytearray()
        names = [json.loads(read_response(sock, buffer)[1])["request"]["name"] for _ in "12"]
    assert names == ["one", "two"]


def test_connection_close_is_honoured(address: tuple[str, int]) -> None:
    with connect(address) as sock:
        sock.sendall(post(extra=b"Connection: close\r\n"))
        head, _ = read_response(sock, bytearray())
        assert b"connection: close" in head.lower()
        assert sock.recv(65536) == b""


def test_garbage_gets_400_and_a_closed_connection(address: tuple[str, int]) -> None:
    with connect(address) as sock:
        sock.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 400 ")
