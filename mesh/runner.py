"""The local mesh: every service of services.yaml as its own process.

    python -m mesh.runner [--only NAME ...] [--data-dir .data] [--ready-timeout 60]

Starts services in dependency order, waits for each replica's health check to
report SERVING, prints how to call them, and on Ctrl-C (or SIGTERM) stops them
in reverse order with SIGTERM so each drains cleanly. Logs of each process go
to ``<data-dir>/logs/<service>-<replica>.log``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from mesh.probe import check_grpc, check_http
from mesh.topology import ServiceSpec, Topology, TopologyError, load_topology

__all__ = ["main"]


@dataclass
class Replica:
    spec: ServiceSpec
    index: int
    port: int
    process: asyncio.subprocess.Process
    log: IO[bytes]

    @property
    def label(self) -> str:
        return f"{self.spec.name}-{self.index}"


def _say(message: str) -> None:
    print(message, flush=True)


async def _start(spec: ServiceSpec, index: int, port: int, data_dir: Path) -> Replica:
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = (logs / f"{spec.name}-{index}.log").open("ab")
    env = {
        **os.environ,
        "MESH_PORT": str(port),
        "MESH_DATA_DIR": str(data_dir),
        "MESH_REPLICA": str(index),
        "PYTHONUNBUFFERED": "1",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        spec.module,
        env=env,
        stdout=log,
        stderr=log,
        start_new_session=True,  # Ctrl-C reaches the runner only; it stops children in order.
    )
    return Replica(spec, index, port, process, log)


async def _wait_ready(replica: Replica, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    spec = replica.spec
    while time.monotonic() < deadline:
        if replica.process.returncode is not None:
            raise RuntimeError(
                f"{replica.label} exited with code {replica.process.returncode}; "
                f"see {replica.log.name}"
            )
        if spec.protocol == "http":
            ok, _ = await asyncio.to_thread(
                check_http, f"http://127.0.0.1:{replica.port}/healthz", 1.0
            )
        else:
            ok, _ = await asyncio.to_thread(check_grpc, f"127.0.0.1:{replica.port}", "", 1.0)
        if ok:
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{replica.label} not ready after {timeout:.0f}s; see {replica.log.name}")


async def _stop(replicas: list[Replica], grace: float) -> int:
    failures = 0
    for replica in reversed(replicas):
        if replica.process.returncode is None:
            replica.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(replica.process.wait(), timeout=grace + 5)
            except TimeoutError:
                replica.process.kill()
                await replica.process.wait()
        code = replica.process.returncode
        failures += code not in (0, -signal.SIGTERM)
        _say(f"  stopped {replica.label} (exit {code})")
        replica.log.close()
    return failures


def _usage(topology: Topology, replicas: list[Replica]) -> None:
    _say("\nThe mesh is up. Try:")
    for replica in replicas:
        spec = replica.spec
        if replica.index != 0:
            continue
        if spec.protocol == "http":
            _say(f"  curl -s http://127.0.0.1:{spec.port}/healthz")
            continue
        _say(f"  grpcurl -plaintext 127.0.0.1:{spec.port} list")
        _say(f"  grpcurl -plaintext 127.0.0.1:{spec.port} describe {spec.grpc_service}")
    catalog, inventory, orders = (
        topology.services.get(n) for n in ("catalog", "inventory", "orders")
    )
    if catalog and inventory and orders:
        _say(
            f'  grpcurl -plaintext -d \'{{"product": {{"sku": "mug", "display_name": "Mug", '
            f'"price": {{"currency_code": "EUR", "amount_minor": 1200}}, "active": true}}}}\' '
            f"127.0.0.1:{catalog.port} {catalog.grpc_service}/CreateProduct"
        )
        _say(
            f'  grpcurl -plaintext -d \'{{"name": "stocks/mug", "on_hand": 10}}\' '
            f"127.0.0.1:{inventory.port} {inventory.grpc_service}/SetStock"
        )
        _say(
            f'  grpcurl -plaintext -d \'{{"request_id": "r1", "lines": [{{"sku": "mug", '
            f'"quantity": 2}}]}}\' 127.0.0.1:{orders.port} {orders.grpc_service}/CreateOrder'
        )
    _say("Press Ctrl-C to stop.")


async def run(topology: Topology, only: list[str], data_dir: Path, ready_timeout: float) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    replicas: list[Replica] = []
    specs = [s for s in topology.start_order() if not only or s.name in only]
    try:
        for spec in specs:
            for index in range(spec.replicas):
                # The first replica takes the documented port; the others any free one.
                port = spec.port if index == 0 else 0
                replica = await _start(spec, index, port, data_dir)
                replicas.append(replica)
                if port == 0:
                    continue
                waiter = asyncio.ensure_future(_wait_ready(replica, ready_timeout))
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                stopper.cancel()
                if stop.is_set():
                    waiter.cancel()
                    raise KeyboardInterrupt
                waiter.result()
                _say(f"  ready   {replica.label:<12} 127.0.0.1:{port}  (log {replica.log.name})")
        _usage(topology, replicas)
        exited = [asyncio.ensure_future(r.process.wait()) for r in replicas]
        stopper = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({stopper, *exited}, return_when=asyncio.FIRST_COMPLETED)
        for task in [stopper, *exited]:
            task.cancel()
        if stopper not in done:
            dead = next(r for r in replicas if r.process.returncode is not None)
            _say(f"{dead.label} exited with code {dead.process.returncode}; stopping the mesh")
            await _stop(replicas, 10)
            return 1
    except KeyboardInterrupt:
        pass
    except RuntimeError as exc:
        _say(f"error: {exc}")
        await _stop(replicas, 10)
        return 1
    _say("\nstopping")
    failures = await _stop(replicas, 10)
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/run", description="Run the whole mesh locally.")
    parser.add_argument(
        "--only", action="append", default=[], help="start only these services (repeat)"
    )
    parser.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("MESH_DATA_DIR", ".data"))
    )
    parser.add_argument("--ready-timeout", type=float, default=60.0)
    opts = parser.parse_args(argv)
    try:
        topology = load_topology()
    except TopologyError as exc:
        parser.error(str(exc))
    unknown = [name for name in opts.only if name not in topology.services]
    if unknown:
        parser.error(
            f"unknown service(s): {', '.join(unknown)}; known: {', '.join(topology.services)}"
        )
    _say(
        f"Starting the mesh ({', '.join(s.name for s in topology.start_order())}), data in {opts.data_dir}/"
    )
    return asyncio.run(run(topology, opts.only, opts.data_dir.resolve(), opts.ready_timeout))


if __name__ == "__main__":
    sys.exit(main())
