"""A route ready to serve: one binding, its transcoder and its gRPC method path."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf.message import Message

from gateway.rules import Binding
from gateway.templates import Template
from gateway.transcode import Transcoder

__all__ = ["Endpoint"]


class Endpoint:
    __slots__ = (
        "_callable",
        "_channel",
        "backend",
        "binding",
        "grpc_path",
        "http_method",
        "rpc",
        "template",
        "transcoder",
    )

    def __init__(self, binding: Binding) -> None:
        self.binding = binding
        self.backend = binding.backend
        self.http_method = binding.http_method
        self.template: Template = binding.template
        self.rpc = binding.rpc
        self.grpc_path = f"/{binding.method.containing_service.full_name}/{binding.method.name}"
        self.transcoder = Transcoder(binding)
        self._channel: grpc.aio.Channel | None = None
        self._callable: Any = None

    def callable(self, channel: grpc.aio.Channel) -> Any:
        """The multi-callable for ``channel``; rebuilt only when the provider gives a new one."""
        if channel is not self._channel:
            serialize = _serialize
            deserialize = self.transcoder.response_class.FromString
            if self.transcoder.streaming:
                self._callable = channel.unary_stream(
                    self.grpc_path, request_serializer=serialize, response_deserializer=deserialize
                )
            else:
                self._callable = channel.unary_unary(
                    self.grpc_path, request_serializer=serialize, response_deserializer=deserialize
                )
            self._channel = channel
        return self._callable


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()
