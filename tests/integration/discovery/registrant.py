"""A process that registers instances in a local registry file and heartbeats until killed.

python -m tests.integration.discovery.registrant PATH SERVICE PREFIX COUNT BASE_PORT
"""

from __future__ import annotations

import asyncio
import sys

from mesh.discovery import AWS_INSTANCE_IPV4, AWS_INSTANCE_PORT, LocalRegistry


async def main(path: str, service: str, prefix: str, count: int, base_port: int) -> None:
    registry = LocalRegistry(path, ttl=1.0, heartbeat_interval=0.2)
    for n in range(count):
        attrs = {AWS_INSTANCE_IPV4: "127.0.0.1", AWS_INSTANCE_PORT: str(base_port + n)}
        await registry.register(service, f"{prefix}-{n}", attrs)
    print("ready", flush=True)
    await asyncio.Event().wait()  # heartbeat until killed


if __name__ == "__main__":
    path, service, prefix, count, base_port = sys.argv[1:6]
    asyncio.run(main(path, service, prefix, int(count), int(base_port)))
