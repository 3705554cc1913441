"""The order fulfilment workflow's Lambda handlers (``workflows/order_fulfilment.asl.json``).

One module per function, each named in services.yaml's ``functions:`` and
exposing ``handler(event, context) -> dict``. They are mesh clients, not
services: they find orders and inventory through the registry (Cloud Map on
AWS, the local registry file locally) and call their internal RPCs over gRPC.

A handler's exception class name is its Step Functions error name
(``ServiceUnavailable`` is retried by the definition, ``OrderClosed`` ends the
payment wait, anything else is caught and compensated); see
:mod:`functions.errors`.
"""
