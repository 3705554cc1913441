"""CoalescingTransport: a response's head leaves with its body, nothing is lost or reordered."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from gateway.http import CoalescingTransport

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


class Recorder:
    """The asyncio transport surface CoalescingTransport uses, recording writes."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closing = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        assert not self.closing, "write after close"
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.aborted = self.closing = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 1)}.get(name, default)


def wrap() -> tuple[CoalescingTransport, Recorder]:
    inner = Recorder()
    return CoalescingTransport(cast(asyncio.Transport, inner)), inner


def test_head_and_body_go_out_in_one_write() -> None:
    transport, inner = wrap()
    transport.write(HEAD)
    assert inner.writes == []
    transport.write(b"{}")
    assert inner.writes == [HEAD + b"{}"]


def test_writes_after_the_first_body_pass_straight_through() -> None:
    transport, inner = wrap()
    transport.write(HEAD)
    transport.write(b"a")
    transport.write(b"b")
    assert inner.writes == [HEAD + b"a", b"b"]


def test_interim_100_continue_is_never_held() -> None:
    transport, inner = wrap()
    transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert inner.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]


def test_a_bodiless_response_is_flushed_at_its_end() -> None:
    transport, inner = wrap()
    transport.write(HEAD)
    transport.flush()
    transport.flush()  # idempotent
    assert inner.writes == [HEAD]


def test_close_flushes_first_and_abort_drops() -> None:
    transport, inner = wrap()
    transport.write(HEAD)
    transport.close()
    assert inner.writes == [HEAD] and inner.closing
    transport, inner = wrap()
    transport.write(HEAD)
    transport.abort()
    assert inner.writes == [] and inner.aborted


def test_nothing_is_written_to_a_closing_transport() -> None:
    transport, inner = wrap()
    transport.write(HEAD)
    inner.closing = True  # the peer went away
    transport.flush()
    assert inner.writes == []


def test_a_whole_response_in_one_write_is_not_held() -> None:
    transport, inner = wrap()
    transport.write(HEAD + b"{}")
    assert inner.writes == [HEAD + b"{}"]


def test_other_attributes_reach_the_transport() -> None:
    transport, _ = wrap()
    assert transport.get_extra_info("peername") == ("127.0.0.1", 1)
    assert transport.is_closing() is False
