"""Compile the test-only echo proto and serve it with an echoing grpc.aio servicer.

The servicer answers every RPC with what it received (request, metadata,
deadline; an RPC whose response type is its request type answers with the
request itself). Metadata ``x-echo-fail: <code>`` makes it fail with that code, a
``BadRequest`` and an ``ErrorInfo`` detail; ``x-echo-fail-after: <n>`` makes
Watch fail after ``n`` messages; ``x-echo-delay-ms: <n>`` makes a unary call
answer ``n`` ms late (an in-flight request to drain).
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

PROTO_ROOT = Path(__file__).resolve().parents[1] / "protos"
# The echo contract declares its access with the shop's own option.
SHOP_PROTOS = Path(__file__).resolve().parents[2] / "protos"
SERVICE = "gatewaytest.v1.EchoService"


def compile_echo(out: Path) -> tuple[ModuleType, ModuleType]:
    """Generate the echo modules into ``out`` (put on sys.path) and import them."""
    import google.api
    from grpc_tools import protoc

    if "gatewaytest.v1.echo_pb2" in sys.modules:
        return sys.modules["gatewaytest.v1.echo_pb2"], sys.modules["gatewaytest.v1.echo_pb2_grpc"]
    googleapis = next(
        Path(p).parents[1] for p in google.api.__path__ if (Path(p) / "annotations.proto").exists()
    )
    well_known = Path(protoc.__file__).parent / "_proto"
    (out / "gatewaytest").mkdir(parents=True, exist_ok=True)
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{SHOP_PROTOS}",
        f"-I{googleapis}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        "gatewaytest/v1/echo.proto",
        # Comments for the OpenAPI document, as scripts/codegen.py writes them for shop.
        "--include_source_info",
        f"--descriptor_set_out={out / 'gatewaytest' / 'descriptors.binpb'}",
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed on the echo proto")
    for package in (out / "gatewaytest", out / "gatewaytest" / "v1"):
        (package / "__init__.py").touch()
    sys.path.insert(0, str(out))
    return (
        importlib.import_module("gatewaytest.v1.echo_pb2"),
        importlib.import_module("gatewaytest.v1.echo_pb2_grpc"),
    )


def make_servicer(pb2: ModuleType, pb2_grpc: ModuleType, *, initial_metadata: bool = True) -> Any:
    """The echo servicer. ``initial_metadata`` sends ``x-echo-initial`` ahead of each
    unary answer (what the metadata tests check); a HEADERS frame of its own, which
    the shop's services never send, so the benchmark's backend goes without.
    """

    class EchoServicer(pb2_grpc.EchoServiceServicer):  # type: ignore[misc,name-defined]
        async def _answer(
            self, rpc: str, request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> Any:
            metadata = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
            if "x-echo-fail" in metadata:
                await _fail(context, int(metadata["x-echo-fail"]), metadata)
            if "x-echo-delay-ms" in metadata:
                # A deliberately slow backend (drain and deadline tests), not synchronisation.
                await asyncio.sleep(int(metadata["x-echo-delay-ms"]) / 1000)
            remaining = context.time_remaining()
            if initial_metadata:
                await context.send_initial_metadata((("x-echo-initial", "hello"),))
            context.set_trailing_metadata((("x-echo-trailer", "bye"),))
            return pb2.EchoResponse(
                request=request,
                metadata=metadata,
                rpc=rpc,
                book=request.book,
                time_remaining=-1.0 if remaining is None else remaining,
            )

        async def Watch(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            metadata = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
            if "x-echo-fail" in metadata and "x-echo-fail-after" not in metadata:
                await _fail(context, int(metadata["x-echo-fail"]), metadata)
            fail_after = int(metadata.get("x-echo-fail-after", "-1"))
            for index in range(request.count):
                if index == fail_after:
                    await _fail(context, int(metadata.get("x-echo-fail", "10")), metadata)
                yield pb2.EchoResponse(request=request, index=index, rpc="Watch")

    def unary(rpc: str) -> Any:
        async def handler(
            self: Any, request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> Any:
            return await self._answer(rpc, request, context)

        return handler

    async def mirror(self: Any, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        return request  # an RPC that answers with its own request type (UpdateShelf)

    methods = pb2.DESCRIPTOR.services_by_name["EchoService"].methods
    for method in methods:
        if method.server_streaming:
            continue
        echoes = method.output_type.name == "EchoResponse"
        setattr(EchoServicer, method.name, unary(method.name) if echoes else mirror)
    return EchoServicer()


async def _fail(
    context: grpc.aio.ServicerContext[Any, Any], code: int, metadata: dict[str, str]
) -> None:
    status_code = next(c for c in grpc.StatusCode if c.value[0] == code)
    message = metadata.get("x-echo-fail-message", f"failed with {status_code.name}")
    bad = any_pb2.Any()
    bad.Pack(
        error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field="name", description="echo says no"
                ),
            ]
        )
    )
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason="ECHO_FAIL", domain="gatewaytest"))
    status = status_pb2.Status(code=code, message=message, details=[bad, info])
    await context.abort(
        status_code,
        message,
        trailing_metadata=(("grpc-status-details-bin", status.SerializeToString()),),
    )


async def start_echo_server(pb2: ModuleType, pb2_grpc: ModuleType) -> tuple[grpc.aio.Server, int]:
    """A grpc.aio server on 127.0.0.1, a free port, with the echo and health services."""
    server = grpc.aio.server()
    pb2_grpc.add_EchoServiceServicer_to_server(make_servicer(pb2, pb2_grpc), server)
    # grpcio-health-checking has shipped health.aio since 1.39; its stubs predate it.
    health_servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port
