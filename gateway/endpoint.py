"""A route ready to serve: one binding, its transcoder and its gRPC method path."""

from __future__ import annotations

from typing import Any

import grpc

from gateway.patch import transcoder_for
from gateway.rules import Binding
from gateway.templates import Template
from gateway.transcode import Transcoder
from mesh.access import rule_of

__all__ = ["Endpoint"]

# Channels remembered per route: the current one and a few being retired. A
# multi-callable keeps its channel alive (so no WeakKeyDictionary); the bound
# keeps closed channels from piling up.
CHANNELS_KEPT = 4


class Endpoint:
    __slots__ = (
        "_by_channel",
        "_callable",
        "_channel",
        "backend",
        "binding",
        "grpc_path",
        "http_method",
        "rpc",
        "rule",
        "template",
        "transcoder",
    )

    def __init__(self, binding: Binding) -> None:
        self.binding = binding
        self.backend = binding.backend
        self.http_method = binding.http_method
        self.template: Template = binding.template
        self.rpc = binding.rpc
        self.rule = rule_of(binding.method)
        self.grpc_path = f"/{binding.method.containing_service.full_name}/{binding.method.name}"
        self.transcoder: Transcoder = transcoder_for(binding)
        # The last channel seen, checked by identity first (the common case), then the
        # few before it by id (each entry holds its channel, so an id is never reused
        # while it is a key): a provider hands out a new channel when the endpoint set
        # changes, and may hand out an older one again.
        self._channel: Any = None
        self._callable: Any = None
        self._by_channel: dict[int, tuple[Any, Any]] = {}

    def callable(self, channel: grpc.aio.Channel) -> Any:
        """The multi-callable for ``channel``, made once per channel object."""
        if channel is self._channel:
            return self._callable
        entry = self._by_channel.get(id(channel))
        if entry is None:
            if len(self._by_channel) >= CHANNELS_KEPT:
                del self._by_channel[next(iter(self._by_channel))]  # the oldest
            entry = (channel, self._make(channel))
            self._by_channel[id(channel)] = entry
        made = entry[1]
        self._channel, self._callable = channel, made
        return made

    def _make(self, channel: grpc.aio.Channel) -> Any:
        # The classes' own C methods: no Python frame per call.
        serialize = self.transcoder.request_class.SerializeToString
        deserialize = self.transcoder.response_class.FromString
        # _registered_method (what generated stubs pass) registers the method with the
        # channel's core once, so calls skip the per-call method-path conversion.
        # types-grpcio does not declare the keyword, grpcio has had it since 1.62.
        untyped: Any = channel
        if self.transcoder.streaming:
            return untyped.unary_stream(
                self.grpc_path,
                request_serializer=serialize,
                response_deserializer=deserialize,
                _registered_method=True,
            )
        return untyped.unary_unary(
            self.grpc_path,
            request_serializer=serialize,
            response_deserializer=deserialize,
            _registered_method=True,
        )
