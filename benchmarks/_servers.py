"""Processes the gateway benchmark starts: the echo backend and the two HTTP fronts.

python -m benchmarks._servers backend <port> <gen_dir> [initial-metadata]
python -m benchmarks._servers gateway <port> <backend_port> <gen_dir>
python -m benchmarks._servers naive <port> <backend_port> <gen_dir>
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request  # the bench extra; FastAPI needs them at module level

from gateway import Settings
from tests.gateway_support.echo import SERVICE, compile_echo, make_servicer


async def backend(port: int, gen: Path, initial_metadata: bool) -> None:
    import grpc

    pb2, pb2_grpc = compile_echo(gen)
    server = grpc.aio.server()
    servicer = make_servicer(pb2, pb2_grpc, initial_metadata=initial_metadata)
    pb2_grpc.add_EchoServiceServicer_to_server(servicer, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


def gateway_app(backend_port: int, gen: Path) -> Any:
    from gateway import LocalChannelProvider, create_app
    from mesh.config import load_telemetry
    from mesh.logs import configure_logging
    from mesh.telemetry import Telemetry

    compile_echo(gen)
    configure_logging("gateway", "INFO")  # the access log stays on, as in production
    return create_app(
        LocalChannelProvider({"echo": backend_port}),
        services={"echo": SERVICE},
        settings=Settings.from_env(),
        # MESH_TRACES_* from the environment: off unless the tracing rows set them.
        telemetry=Telemetry.from_settings(load_telemetry("gateway"), entry=True),
        generated_package=None,
    )


def naive_app(backend_port: int, gen: Path) -> Any:
    """What one writes by hand: FastAPI, parse JSON, await the stub, dump the dict."""
    import grpc
    from google.protobuf import json_format

    pb2, pb2_grpc = compile_echo(gen)
    app = FastAPI()
    stubs: dict[str, Any] = {}

    @app.post("/v1/echo")
    async def echo(request: Request) -> Any:
        if "stub" not in stubs:
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{backend_port}")
            stubs["stub"] = pb2_grpc.EchoServiceStub(channel)
        message = json_format.ParseDict(await request.json(), pb2.EchoRequest())
        response = await stubs["stub"].Echo(message, timeout=15)
        return json_format.MessageToDict(response, always_print_fields_with_no_presence=True)

    return app


def main() -> None:
    role, port = sys.argv[1], int(sys.argv[2])
    if role == "backend":
        asyncio.run(backend(port, Path(sys.argv[3]), sys.argv[4:5] == ["initial-metadata"]))
        return
    backend_port, gen = int(sys.argv[3]), Path(sys.argv[4])
    if role == "gateway":
        from gateway.__main__ import uvicorn_options

        # As `python -m gateway` runs it, on one worker.
        options = uvicorn_options(Settings.from_env())
        options.update(host="127.0.0.1", port=port, workers=1, log_level="warning")
        uvicorn.run(gateway_app(backend_port, gen), **options)
        return
    # What one runs by hand: uvicorn's defaults, with uvloop and httptools installed.
    uvicorn.run(
        naive_app(backend_port, gen),
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
