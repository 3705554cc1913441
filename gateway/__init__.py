"""REST-to-gRPC transcoding gateway driven by ``google.api.http`` annotations.

    from gateway import create_app, LocalChannelProvider
    app = create_app(LocalChannelProvider({"catalog": 50051}))   # an ASGI app

See :mod:`gateway.settings` for the ``MESH_GATEWAY_*`` variables and
``python -m gateway`` for the server.
"""

from gateway.app import Gateway, create_app
from gateway.channels import ChannelProvider, LocalChannelProvider
from gateway.errors import HTTP_STATUS, GatewayError
from gateway.routes import RouteConflict
from gateway.rules import RuleError
from gateway.settings import Settings, SettingsError

__all__ = [
    "HTTP_STATUS",
    "ChannelProvider",
    "Gateway",
    "GatewayError",
    "LocalChannelProvider",
    "RouteConflict",
    "RuleError",
    "Settings",
    "SettingsError",
    "create_app",
]
