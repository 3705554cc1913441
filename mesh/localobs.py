"""Observability of the local mesh: what scripts/run gives each process, and where it says so.

Each replica gets a Prometheus endpoint on a side port (the first replica of a
service: its port + :data:`SIDE_PORT_OFFSET`, so ``catalog`` at 50051 has its
metrics at 51051 and the gateway at 8080 at 9080; further replicas: a free port)
and, unless the caller's environment says otherwise, the ``file`` trace
exporter into ``<data dir>/traces``, which ``scripts/trace`` reads. The list of
endpoints is written to ``<data dir>/metrics.json`` for ``scripts/top``.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Mapping
from pathlib import Path

from mesh.topology import ServiceSpec

__all__ = [
    "ENDPOINTS_FILE",
    "SIDE_PORT_OFFSET",
    "describe_endpoints",
    "observability_env",
    "read_endpoints",
    "write_endpoints",
]

SIDE_PORT_OFFSET = 1000
ENDPOINTS_FILE = "metrics.json"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def metrics_port(spec: ServiceSpec, index: int, offset: int = 0) -> int:
    """The side port of a replica's metrics endpoint."""
    if index == 0:
        return spec.port + offset + SIDE_PORT_OFFSET
    return _free_port()


def observability_env(
    spec: ServiceSpec, index: int, offset: int, caller: Mapping[str, str]
) -> tuple[dict[str, str], int]:
    """A replica's telemetry variables (the caller's own win) and its metrics port."""
    port = metrics_port(spec, index, offset)
    env = {"MESH_METRICS_PORT": str(port)}
    if "MESH_TRACES_EXPORTER" not in caller:
        env["MESH_TRACES_EXPORTER"] = "file"
    return env, port


def write_endpoints(data_dir: Path, endpoints: Mapping[str, str]) -> Path:
    """``{"catalog-0": "http://127.0.0.1:51051/metrics", ...}`` for scripts/top."""
    path = data_dir / ENDPOINTS_FILE
    path.write_text(json.dumps(dict(endpoints), indent=2) + "\n", encoding="utf-8")
    return path


def read_endpoints(data_dir: Path) -> dict[str, str]:
    path = data_dir / ENDPOINTS_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


def describe_endpoints(endpoints: Mapping[str, str], data_dir: Path) -> list[str]:
    """The lines scripts/run prints about metrics and traces."""
    lines = ["", "Metrics (Prometheus text):"]
    lines += [f"  {label:<12} {url}" for label, url in endpoints.items()]
    lines.append("  scripts/top                     # the live view of all of them")
    lines.append(f"Traces: {data_dir / 'traces'}/*.jsonl (one file per process)")
    lines.append(
        "  scripts/trace --list            # recent traces; scripts/trace <trace id> shows one"
    )
    return lines
