"""What tracing costs: the rows ``scripts/bench mesh`` and ``scripts/bench gateway`` add.

The measured process exports over OTLP gRPC, as on AWS (to the ADOT sidecar),
to :func:`serve_sink`: a real OTLP trace service in a process of its own that
accepts and counts spans, so the exporter's whole cost (batching, protobuf,
the gRPC call) lands in the measured process and the collector's in none.
Metrics are always on in every row; "off" is ``MESH_TRACES_EXPORTER=none``.

    python -m benchmarks.tracing sink <port>      (started by the benchmarks)
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["MODES", "report", "sink", "tracing_env"]

# label -> sample ratio (None: tracing off)
MODES: dict[str, float | None] = {"off": None, "10 % sampled": 0.1, "100 % sampled": 1.0}
TARGETS = {"10 % sampled": 0.10, "100 % sampled": 0.25}


def tracing_env(ratio: float | None, sink_port: int) -> dict[str, str]:
    if ratio is None:
        return {"MESH_TRACES_EXPORTER": "none"}
    return {
        "MESH_TRACES_EXPORTER": "otlp-grpc",
        "MESH_TRACES_ENDPOINT": f"http://127.0.0.1:{sink_port}",
        "MESH_TRACES_SAMPLE_RATIO": str(ratio),
    }


async def serve_sink(port: int) -> None:
    from grpc import aio
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

    class Sink(trace_service_pb2_grpc.TraceServiceServicer):
        async def Export(self, request: Any, context: Any) -> Any:
            return trace_service_pb2.ExportTraceServiceResponse()

    server = aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Sink(), server)  # type: ignore[no-untyped-call]
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


@contextmanager
def sink(port: int) -> Iterator[subprocess.Popen[bytes]]:
    """An OTLP trace sink on ``port`` for as long as the block runs."""
    process = subprocess.Popen([sys.executable, "-m", "benchmarks.tracing", "sink", str(port)])
    try:
        time.sleep(0.5)  # exporters retry, so a late sink only delays the first batch
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
        asyncio.run(serve_sink(int(sys.argv[2])))


if __name__ == "__main__":
    main()
