"""The local mesh: every service of services.yaml as its own process.

    python -m mesh.runner [--only NAME ...] [--data-dir .data] [--ready-timeout 60] [--tls]

Starts services in dependency order, waits for each replica's health check to
report SERVING, prints how to call them, and on Ctrl-C (or SIGTERM) stops them
in reverse order with SIGTERM so each drains cleanly. Logs of each process go
to ``<data-dir>/logs/<service>-<replica>.log``.

Once up, it supervises like ECS: a replica that exits on its own is started
again (the first replica on its documented port), after a backoff with jitter,
while the others keep serving. More than ``MAX_RESTARTS`` restarts of one
replica within a minute is a crash loop: the mesh stops with that replica's
last log lines, as it does when a process cannot start at all.

With ``--tls`` every gRPC server and client speaks mutual TLS: the local CA
and certificates in ``<data-dir>/tls`` are made (or reused, see
:mod:`mesh.certs`) and each process gets its own service's certificate.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from mesh.certs import CLIENT, CertFiles, ensure_certs
from mesh.config import ConfigError, workflow_kind
from mesh.discovery import (
    AWS_INSTANCE_IPV4,
    AWS_INSTANCE_PORT,
    HealthFilter,
    LocalRegistry,
    RegistryError,
)
from mesh.issuer import LocalIssuer, local_auth_env, serve_jwks
from mesh.localobs import (
    SIDE_PORT_OFFSET,
    describe_endpoints,
    observability_env,
    write_endpoints,
)
from mesh.localworkflow import LocalWorkflow, WorkflowUnavailable, start_local_workflow
from mesh.probe import check_grpc, check_http
from mesh.signin import (
    LocalSignIn,
    SignInClient,
    SignInServer,
    local_signin_env,
    local_users,
    serve_signin,
)
from mesh.tls import TlsSettings, server_name
from mesh.token import CUSTOMER_SCOPES, known_scopes
from mesh.topology import ServiceSpec, Topology, TopologyError, load_topology

__all__ = ["main"]

# A crash loop, not bad luck: this many restarts of one replica within a minute.
MAX_RESTARTS = 5
RESTART_WINDOW = 60.0
# Backoff before restart n (1, 2, ...): BASE * 2**(n-1), at most MAX, times a jitter
# in [0.5, 1] so replicas that died together do not come back in lockstep.
RESTART_BACKOFF_BASE = 0.5
RESTART_BACKOFF_MAX = 10.0
LOG_TAIL_LINES = 15
# The storefront's OAuth client at the local sign-in (Cognito's app client on AWS).
WEB_CLIENT_ID = "shop-web-local"


def restart_delay(attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait before the ``attempt``-th restart within the window (1-based)."""
    base = min(RESTART_BACKOFF_MAX, RESTART_BACKOFF_BASE * 2.0 ** (attempt - 1))
    jitter: float = (rng or random).uniform(0.5, 1.0)
    return base * jitter


def log_tail(path: str, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a process's log, indented, for an error message."""
    try:
        with open(path, "rb") as log:
            text = log.read()[-16384:].decode("utf-8", "replace")
    except OSError as exc:
        return f"    (log unreadable: {exc})"
    return "\n".join("    " + line for line in text.splitlines()[-lines:])


@dataclass
class Replica:
    spec: ServiceSpec
    index: int
    port: int
    process: asyncio.subprocess.Process
    log: IO[bytes]
    restarts: deque[float] = field(default_factory=deque)

    @property
    def label(self) -> str:
        return f"{self.spec.name}-{self.index}"


def _say(message: str) -> None:
    print(message, flush=True)


def tls_env(files: CertFiles, service: str) -> dict[str, str]:
    """A process's TLS settings: its own service's certificate, as file paths."""
    env = {
        "MESH_TLS_CERT": str(files.cert(service)),
        "MESH_TLS_KEY": str(files.key(service)),
        "MESH_TLS_CA": str(files.ca),
    }
    # Content variables from the caller's shell would clash with the paths.
    return {**env, **{f"{name}_PEM": "" for name in env}}


def child_env(
    spec: ServiceSpec,
    index: int,
    port: int,
    data_dir: Path,
    extra_env: Mapping[str, str],
    base: Mapping[str, str],
) -> dict[str, str]:
    """A replica's environment: services.yaml's env under the caller's, the runner's on top."""
    return {
        **dict(spec.env),
        **base,
        "MESH_PORT": str(port),
        "MESH_DATA_DIR": str(data_dir),
        "MESH_REPLICA": str(index),
        "PYTHONUNBUFFERED": "1",
        **extra_env,
    }


async def _start(
    spec: ServiceSpec, index: int, port: int, data_dir: Path, extra_env: dict[str, str]
) -> Replica:
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = (logs / f"{spec.name}-{index}.log").open("ab")
    env = child_env(spec, index, port, data_dir, extra_env, os.environ)
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


async def _registered_port(registry: LocalRegistry, replica: Replica) -> int:
    """The port a replica registered (replicas after the first bind a free port)."""
    try:
        instances = await registry.discover(replica.spec.name, health=HealthFilter.ALL)
    except RegistryError:
        return 0
    for instance in instances:
        if instance.attributes.get("pid") == str(replica.process.pid):
            return int(instance.attributes.get(AWS_INSTANCE_PORT, "0"))
    return 0


async def _wait_ready(
    replica: Replica,
    timeout: float,
    registry: LocalRegistry,
    tls: TlsSettings | None = None,
    namespace: str = "",
) -> None:
    deadline = time.monotonic() + timeout
    spec = replica.spec
    while time.monotonic() < deadline:
        if replica.process.returncode is not None:
            raise RuntimeError(
                f"{replica.label} exited with code {replica.process.returncode}; "
                f"the end of {replica.log.name}:\n{log_tail(replica.log.name)}"
            )
        if replica.port == 0:
            replica.port = await _registered_port(registry, replica)
            if replica.port == 0:
                await asyncio.sleep(0.2)
                continue
        if spec.protocol == "http":
            ok, _ = await asyncio.to_thread(
                check_http, f"http://127.0.0.1:{replica.port}/healthz", 1.0
            )
        else:
            ok, _ = await asyncio.to_thread(
                check_grpc,
                f"127.0.0.1:{replica.port}",
                "",
                1.0,
                tls,
                server_name(spec.name, namespace) if tls else None,
            )
        if ok:
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(
        f"{replica.label} not ready after {timeout:.0f}s; "
        f"the end of {replica.log.name}:\n{log_tail(replica.log.name)}"
    )


class Supervisor:
    """Restarts replicas that exit on their own, until told to stop or a crash loop."""

    def __init__(
        self,
        launch: Callable[[ServiceSpec, int], Awaitable[Replica]],
        ready: Callable[[Replica], Awaitable[None]],
        stop: asyncio.Event,
    ) -> None:
        self.launch = launch
        self.ready = ready
        self.stop = stop
        self.crash_loop = asyncio.Event()
        self.reason = ""
        self._tasks: list[asyncio.Task[None]] = []

    def watch(self, replicas: list[Replica]) -> None:
        self._tasks = [asyncio.create_task(self._watch(r)) for r in replicas]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _pause(self, seconds: float) -> bool:
        """Wait ``seconds`` unless the mesh is stopping; True if it is."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), timeout=seconds)
        return self.stop.is_set()

    async def _watch(self, replica: Replica) -> None:
        while True:
            code = await replica.process.wait()
            if self.stop.is_set():
                return
            now = time.monotonic()
            while replica.restarts and now - replica.restarts[0] > RESTART_WINDOW:
                replica.restarts.popleft()
            if len(replica.restarts) >= MAX_RESTARTS:
                self.reason = (
                    f"{replica.label} exited with code {code} after {MAX_RESTARTS} restarts "
                    f"within {RESTART_WINDOW:.0f}s (a crash loop); the end of "
                    f"{replica.log.name}:\n{log_tail(replica.log.name)}"
                )
                self.crash_loop.set()
                return
            replica.restarts.append(now)
            delay = restart_delay(len(replica.restarts))
            _say(
                f"  exited  {replica.label:<12} code {code}; restarting in {delay:.1f}s "
                f"(restart {len(replica.restarts)} within {RESTART_WINDOW:.0f}s)"
            )
            if await self._pause(delay):
                return
            replica.log.close()
            fresh = await self.launch(replica.spec, replica.index)
            replica.process, replica.log = fresh.process, fresh.log
            replica.port = fresh.port
            try:
                await self.ready(replica)
            except RuntimeError as exc:
                _say(f"  failed  {replica.label:<12} {str(exc).splitlines()[0]}")
                if replica.process.returncode is None:
                    replica.process.kill()
                continue
            _say(f"  ready   {replica.label:<12} 127.0.0.1:{replica.port:<5}  (restarted)")


async def _stop(replicas: list[Replica], grace: float) -> int:
    """SIGTERM each replica in reverse start order; the number that did not stop cleanly.

    A replica that was already down (it died on its own and its restart was still
    pending) is no failure of the stop: the console reported its exit when it came.
    """
    failures = 0
    for replica in reversed(replicas):
        if replica.process.returncode is not None:
            ended = replica.process.returncode
            _say(f"  stopped {replica.label} (already down: exit {ended})")
            replica.log.close()
            continue
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


async def _start_workflow(data_dir: Path, files: CertFiles | None, timeout: float) -> LocalWorkflow:
    """The local Step Functions and Lambda (see mesh.localworkflow); orders finds its URL."""
    env = {"MESH_REGISTRY": "local", "MESH_REGISTRY_FILE": str(data_dir / "registry.json")}
    if files is not None:
        env |= tls_env(files, CLIENT)
    try:
        workflow = await start_local_workflow(data_dir, env, timeout=timeout)
    except WorkflowUnavailable as exc:
        raise RuntimeError(f"{exc}\n(MESH_WORKFLOW=off runs orders without the workflow)") from None
    _say(
        f"  ready   {'workflow':<12} {workflow.url.removeprefix('http://'):<15}  "
        "(Step Functions API + Lambda functions: workflows/order_fulfilment.asl.json under "
        "aws-local-stepfunctions; log workflow.log)"
    )
    return workflow


async def _show_registry(registry: LocalRegistry, specs: list[ServiceSpec]) -> None:
    _say("\nRegistered instances (local registry):")
    for spec in specs:
        if spec.protocol != "grpc":
            continue
        try:
            instances = await registry.discover(spec.name, health=HealthFilter.ALL)
        except RegistryError as exc:
            _say(f"  {spec.name:<10} registry error: {exc}")
            continue
        for instance in sorted(instances, key=lambda i: i.instance_id):
            attrs = instance.attributes
            _say(
                f"  {spec.name:<10} {instance.instance_id:<32} "
                f"{attrs.get(AWS_INSTANCE_IPV4)}:{attrs.get(AWS_INSTANCE_PORT)}  {instance.health.name}"
            )


def _show_metrics(endpoints: dict[str, str], data_dir: Path) -> None:
    """Where each replica's metrics are (also in <data dir>/metrics.json, for scripts/top)."""
    write_endpoints(data_dir, endpoints)
    for line in describe_endpoints(endpoints, data_dir):
        _say(line)


def grpcurl_flags(files: CertFiles | None, service: str, namespace: str) -> str:
    """How grpcurl reaches ``service``: plaintext, or mutual TLS with the tools' certificate."""
    if files is None:
        return "-plaintext"

    def shown(path: Path) -> str:
        # Relative to where the user stands when that is shorter: lines stay readable.
        try:
            return str(path.relative_to(Path.cwd()))
        except ValueError:
            return str(path)

    return (
        f"-cacert {shown(files.ca)} -cert {shown(files.cert(CLIENT))} "
        f"-key {shown(files.key(CLIENT))} -servername {server_name(service, namespace)}"
    )


def _usage(
    topology: Topology,
    replicas: list[Replica],
    data_dir: Path,
    files: CertFiles | None,
    storefront: bool = False,
) -> None:
    first = {r.spec.name: r for r in replicas if r.index == 0}
    # scripts/token reads the same data dir; name it when it is not the default.
    flag = "" if data_dir == Path(".data").resolve() else f" --data-dir {data_dir}"
    admin = f'-H "Authorization: Bearer $(scripts/token --admin{flag})"'
    customer = f'-H "Authorization: Bearer $(scripts/token{flag})"'
    for replica in first.values():
        if storefront and replica.spec.protocol == "http":
            _say(
                f"\nThe storefront: http://127.0.0.1:{replica.port}/"
                "  (sign in as alice or bob, customers, or admin, the owner)"
            )
    _say("\nThe mesh is up. Try:")
    for replica in first.values():
        if replica.spec.protocol == "http":
            base = f"http://127.0.0.1:{replica.port}"
            _say(f"  curl -s {base}/readyz")
            _say(f"  curl -s {base}/v1/products                     # public reads need no token")
            _say(
                f"  curl -s {admin} -X POST {base}/v1/products "
                '-d \'{"sku": "mug", "displayName": "Mug", '
                '"price": {"currencyCode": "EUR", "amountMinor": 1200}, "active": true}\''
            )
            _say(f"  curl -s {admin} -X PUT {base}/v1/stocks/mug -d '{{\"onHand\": 10}}'")
            _say(
                f"  curl -s {customer} -X POST {base}/v1/orders "
                '-d \'{"requestId": "r1", "lines": [{"sku": "mug", "quantity": 2}]}\''
            )
            _say(f"  curl -s {customer} {base}/v1/orders          # alice's orders only")
            _say(f"  open {base}/docs  (the API reference; {base}/openapi.json for tools)")
        else:
            flags = grpcurl_flags(files, replica.spec.name, topology.namespace)
            _say(f"  grpcurl {flags} 127.0.0.1:{replica.port} list")
            _say(f"  grpcurl {flags} 127.0.0.1:{replica.port} describe {replica.spec.grpc_service}")
    examples = {
        "catalog": (
            "CreateProduct",
            '{"product": {"sku": "mug", "display_name": "Mug", '
            '"price": {"currency_code": "EUR", "amount_minor": 1200}, "active": true}}',
        ),
        "inventory": ("SetStock", '{"name": "stocks/mug", "on_hand": 10}'),
        "orders": ("CreateOrder", '{"request_id": "r1", "lines": [{"sku": "mug", "quantity": 2}]}'),
    }
    if any(name in first for name in examples):
        _say("  # grpcurl straight at a service is a caller inside the mesh (no principal):")
    for name, (method, body) in examples.items():
        if name in first:
            replica = first[name]
            flags = grpcurl_flags(files, name, topology.namespace)
            _say(
                f"  grpcurl {flags} -d '{body}' 127.0.0.1:{replica.port} "
                f"{replica.spec.grpc_service}/{method}"
            )
    _say("Press Ctrl-C to stop.")


def _ephemeral_ports() -> range:
    """The ports the kernel hands out to outgoing connections (Linux; else IANA's)."""
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        low, high = 49152, 65535
    return range(low, high + 1)


def _fixed_ports(topology: Topology) -> list[int]:
    """Every port the runner binds at offset 0: services' and their metrics side ports."""
    ports = [spec.port for spec in topology.services.values()]
    return ports + [port + SIDE_PORT_OFFSET for port in ports]


def free_offset(topology: Topology | None = None) -> int:
    """A ``--port-offset`` at which every service's port is free now (tests, drills).

    No port may fall in the ephemeral range: any outgoing connection (a channel,
    a database pool) can be given such a port between this check and the bind,
    and the replica then fails to start with EADDRINUSE.
    """
    ports = _fixed_ports(topology or load_topology())
    ephemeral = _ephemeral_ports()
    offsets = [
        offset
        for offset in range(1000, 65536 - max(ports))
        if all(p + offset >= 1024 and p + offset not in ephemeral for p in ports)
    ]
    for offset in random.sample(offsets, min(50, len(offsets))):
        try:
            for port in ports:
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port + offset))
        except OSError:
            continue
        return offset
    raise RuntimeError("no free port range for the mesh outside the ephemeral ports")


async def run(
    topology: Topology,
    only: list[str],
    data_dir: Path,
    ready_timeout: float,
    offset: int = 0,
    files: CertFiles | None = None,
    replicas_of: Mapping[str, int] | None = None,
) -> int:
    """Start ``topology`` (or ``only`` those), supervise it until SIGINT/SIGTERM, stop it.

    ``replicas_of`` overrides services.yaml's replica counts (a drill's wider mesh).
    """
    replicas_of = dict(replicas_of or {})
    try:
        local_workflow = workflow_kind(os.environ) == "local"
    except ConfigError as exc:
        _say(f"error: {exc}")
        return 2
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    replicas: list[Replica] = []
    metrics: dict[str, str] = {}  # replica label -> its /metrics URL
    specs = [s for s in topology.start_order() if not only or s.name in only]
    registry = LocalRegistry(data_dir / "registry.json", ttl=3.0)
    # The local issuer: scripts/token signs with its key, the gateway trusts its JWKS,
    # served from here for as long as the mesh runs. An issuer of your own
    # (MESH_GATEWAY_JWKS_URL exported) or MESH_GATEWAY_AUTH=none wins.
    issuer = LocalIssuer.load_or_create(data_dir)
    jwks = await serve_jwks(issuer)
    auth_env = {}
    signin: SignInServer | None = None
    if not {"MESH_GATEWAY_JWKS_URL", "MESH_GATEWAY_AUTH"} & os.environ.keys():
        auth_env = local_auth_env(issuer, jwks.url)
        gateway = next((s for s in specs if s.protocol == "http"), None)
        if gateway is not None:
            # The storefront's sign-in: the local stand-in for Cognito's hosted UI,
            # redirecting only to the gateway's own origin, where the app is served.
            client = SignInClient(WEB_CLIENT_ID, f"http://127.0.0.1:{gateway.port + offset}")
            users = local_users(CUSTOMER_SCOPES, sorted(known_scopes()))
            signin = await serve_signin(LocalSignIn(issuer, client, users))
            auth_env |= local_signin_env(signin.url, client)
    storefront = bool(os.environ.get("MESH_GATEWAY_WEB_ROOT"))

    async def launch(spec: ServiceSpec, index: int) -> Replica:
        # The first replica takes the documented port; the others any free one.
        port = spec.port + offset if index == 0 else 0
        # The gateway reads its own prefix first (MESH_GATEWAY_*).
        extra = {}
        if spec.protocol == "http":
            extra = {**auth_env, **({"MESH_GATEWAY_PORT": str(port)} if port else {})}
        if files is not None:
            extra |= tls_env(files, spec.name)
        obs_env, metrics_port = observability_env(spec, index, offset, os.environ)
        extra |= obs_env
        metrics[f"{spec.name}-{index}"] = f"http://127.0.0.1:{metrics_port}/metrics"
        return await _start(spec, index, port, data_dir, extra)

    async def ready(replica: Replica) -> None:
        own_tls = None
        if files is not None:
            name = replica.spec.name
            own_tls = TlsSettings.from_files(files.cert(name), files.key(name), files.ca)
        await _wait_ready(replica, ready_timeout, registry, own_tls, topology.namespace)

    supervisor = Supervisor(launch, ready, stop)
    workflow: LocalWorkflow | None = None

    async def stop_all() -> int:
        """Stop the replicas, then the workflow their orders call; the failures."""
        failures = await _stop(replicas, 10)
        if workflow is not None:
            await workflow.stop()
        return failures

    try:
        if any(s.name == "orders" for s in specs) and local_workflow:
            workflow = await _start_workflow(data_dir, files, ready_timeout)
        for spec in specs:
            for index in range(replicas_of.get(spec.name, spec.replicas)):
                replica = await launch(spec, index)
                replicas.append(replica)
                waiter = asyncio.ensure_future(ready(replica))
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                stopper.cancel()
                if stop.is_set():
                    waiter.cancel()
                    raise KeyboardInterrupt
                waiter.result()
                _say(
                    f"  ready   {replica.label:<12} 127.0.0.1:{replica.port:<5}  (log {replica.log.name})"
                )
        await _show_registry(registry, specs)
        _show_metrics(metrics, data_dir)
        _usage(topology, replicas, data_dir, files, storefront)
        supervisor.watch(replicas)
        stopper = asyncio.ensure_future(stop.wait())
        looping = asyncio.ensure_future(supervisor.crash_loop.wait())
        await asyncio.wait({stopper, looping}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        looping.cancel()
        if supervisor.crash_loop.is_set():
            stop.set()
            await supervisor.close()
            _say(f"error: {supervisor.reason}\nstopping the mesh")
            await stop_all()
            return 1
    except KeyboardInterrupt:
        pass
    except RuntimeError as exc:
        _say(f"error: {exc}")
        await stop_all()
        return 1
    finally:
        stop.set()  # supervisors restart nothing from here on
        await supervisor.close()
        await registry.close()
        await jwks.close()
        if signin is not None:
            await signin.close()
    _say("\nstopping")
    return 1 if await stop_all() else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/run", description="Run the whole mesh locally.")
    parser.add_argument(
        "--only", action="append", default=[], help="start only these services (repeat)"
    )
    parser.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("MESH_DATA_DIR", ".data"))
    )
    parser.add_argument("--ready-timeout", type=float, default=60.0)
    parser.add_argument(
        "--port-offset",
        type=int,
        default=0,
        help="shift every port by this much (run a second mesh beside the first)",
    )
    parser.add_argument(
        "--replicas",
        action="append",
        default=[],
        metavar="NAME=N",
        help="run N replicas of a service instead of services.yaml's count (repeat)",
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="mutual TLS between all processes, with a local CA in <data-dir>/tls",
    )
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
    top = max(_fixed_ports(topology))
    if not 0 <= opts.port_offset <= 65535 - top:
        parser.error(f"--port-offset must be in 0..{65535 - top}")
    if opts.ready_timeout <= 0:
        parser.error("--ready-timeout must be positive")
    replicas_of: dict[str, int] = {}
    for item in opts.replicas:
        name, _, count = item.partition("=")
        if name not in topology.services or not count.isdigit() or not 1 <= int(count) <= 8:
            parser.error(f"--replicas {item!r}: must be NAME=N, a known service and N in 1..8")
        replicas_of[name] = int(count)
    data_dir = opts.data_dir.resolve()
    files = None
    if opts.tls:
        try:
            files, written = ensure_certs(data_dir / "tls", topology)
        except (ValueError, OSError) as exc:
            parser.error(f"--tls: {exc}")
        done = f"issued {', '.join(written)}" if written else "all reused"
        _say(f"Mutual TLS with the certificates in {files.directory}/ ({done})")
    return asyncio.run(
        run(
            topology,
            opts.only,
            data_dir,
            opts.ready_timeout,
            opts.port_offset,
            files,
            replicas_of,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
