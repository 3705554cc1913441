"""moto's AWS API emulator as a real HTTP server on loopback, with dummy credentials."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from moto.server import ThreadedMotoServer

from tests.integration.discovery.support import aws_test_env


@contextmanager
def moto_server() -> Iterator[str]:
    """The endpoint URL of a moto server on a free 127.0.0.1 port; never real credentials."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with pytest.MonkeyPatch.context() as mp:
        for key, value in aws_test_env().items():
            mp.setenv(key, value)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            yield f"http://{host}:{port}"
        finally:
            server.stop()
