"""What tracing costs: the rows ``scripts/bench mesh`` and ``scripts/bench gateway`` add.

The measured process exports over OTLP/HTTP, as on AWS (to the ADOT sidecar,
see modules/ecs_service), to :func:`serve_sink`: an HTTP server in a process of
its own that takes ``POST /v1/traces`` and answers 200, so the exporter's whole
cost (batching, protobuf, the HTTP request) lands in the measured process and
the collector's in none. Metrics are always on in every row; "off" is
``MESH_TRACES_EXPORTER=none``.

    python -m benchmarks.tracing sink <port>      (started by the benchmarks)
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["MODES", "report", "sink", "tracing_env"]

# label -> sample ratio (None: tracing off)
MODES: dict[str, float | None] = {"off": None, "10 % sampled": 0.1, "100 % sampled": 1.0}
TARGETS = {"10 % sampled": 0.10, "100 % sampled": 0.25}


def tracing_env(ratio: float | None, sink_port: int) -> dict[str, str]:
    if ratio is None:
        return {"MESH_TRACES_EXPORTER": "none"}
    return {
        "MESH_TRACES_EXPORTER": "otlp-http",
        "MESH_TRACES_ENDPOINT": f"http://127.0.0.1:{sink_port}/v1/traces",
        "MESH_TRACES_SAMPLE_RATIO": str(ratio),
    }


class _Accept(BaseHTTPRequestHandler):
    """An OTLP/HTTP trace endpoint that keeps nothing."""

    protocol_version = "HTTP/1.1"  # keep-alive, as a collector would

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return None


def serve_sink(port: int) -> None:
    ThreadingHTTPServer(("127.0.0.1", port), _Accept).serve_forever()


@contextmanager
def sink(port: int) -> Iterator[subprocess.Popen[bytes]]:
    """An OTLP/HTTP trace sink on ``port`` for as long as the block runs."""
    process = subprocess.Popen([sys.executable, "-m", "benchmarks.tracing", "sink", str(port)])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # until it listens
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield process
    finally:
        process.terminate()
        process.wait(10)


def report(cpu_ms: Callable[[str], float], title: str) -> None:
    """Prints CPU per request per mode and the increase over "off", against the targets."""
    off = cpu_ms("off")
    print(f"\n{title}")
    for label in MODES:
        value = cpu_ms(label)
        line = f"  {label:<14} {value:7.3f} ms/req"
        if label in TARGETS:
            line += f"  {value / off - 1:+6.1%} vs off (target <= +{TARGETS[label]:.0%})"
        print(line)


def main() -> None:
    if sys.argv[1:2] == ["sink"]:
        serve_sink(int(sys.argv[2]))


if __name__ == "__main__":
    main()
