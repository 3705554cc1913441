"""The contracts' comments, by full name, from a descriptor set built with source info.

The generated ``_pb2`` modules keep no comments, so ``scripts/codegen.py``
also writes ``descriptors.binpb`` (protoc ``--include_source_info``) into the
generated package; :func:`load_comments` reads it once at start-up.

    comments = load_comments("shop")
    comments.get("shop.catalog.v1.CatalogService.CreateProduct")  # "Creates a product. ..."

Keys are full names: services, methods (``Service.Method``), messages,
fields (``Message.field``), enums and enum values (``Enum.VALUE``, inside
their enum, unlike protobuf's own scoping of value names).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from importlib import resources

from google.protobuf import descriptor_pb2

__all__ = [
    "SOURCE_INFO",
    "Comments",
    "comments_from_set",
    "first_sentence",
    "load_comments",
]

log = logging.getLogger("gateway")

SOURCE_INFO = "descriptors.binpb"
Comments = Mapping[str, str]

# Field numbers in descriptor.proto that SourceCodeInfo paths are made of.
_FILE_MESSAGE, _FILE_ENUM, _FILE_SERVICE = 4, 5, 6
_MESSAGE_FIELD, _MESSAGE_NESTED, _MESSAGE_ENUM = 2, 3, 4
_ENUM_VALUE = 2
_SERVICE_METHOD = 2


def load_comments(package: str) -> dict[str, str]:
    """The comments in ``<package>/descriptors.binpb``; none (logged) when it is absent."""
    try:
        data = (resources.files(package) / SOURCE_INFO).read_bytes()
    except (FileNotFoundError, ModuleNotFoundError, NotADirectoryError):
        log.warning(
            "%s/%s not found (run scripts/codegen.py): the API description has no comments",
            package,
            SOURCE_INFO,
        )
        return {}
    return comments_from_set(data)


def comments_from_set(data: bytes) -> dict[str, str]:
    """Comments by full name from a serialized FileDescriptorSet."""
    files = descriptor_pb2.FileDescriptorSet.FromString(data).file
    found: dict[str, str] = {}
    for proto in files:
        found.update(_file_comments(proto))
    return found


def _file_comments(proto: descriptor_pb2.FileDescriptorProto) -> dict[str, str]:
    by_path = {
        tuple(loc.path): _clean(loc.leading_comments or loc.trailing_comments)
        for loc in proto.source_code_info.location
        if loc.leading_comments or loc.trailing_comments
    }
    if not by_path:
        return {}
    prefix = f"{proto.package}." if proto.package else ""
    named: list[tuple[str, tuple[int, ...]]] = []
    for i, service in enumerate(proto.service):
        path = (_FILE_SERVICE, i)
        name = prefix + service.name
        named.append((name, path))
        named.extend(
            (f"{name}.{m.name}", (*path, _SERVICE_METHOD, j)) for j, m in enumerate(service.method)
        )
    for i, message in enumerate(proto.message_type):
        named.extend(_message_names(message, prefix, (_FILE_MESSAGE, i)))
    for i, enum in enumerate(proto.enum_type):
        named.extend(_enum_names(enum, prefix, (_FILE_ENUM, i)))
    return {name: by_path[path] for name, path in named if path in by_path}


def _message_names(
    message: descriptor_pb2.DescriptorProto, prefix: str, path: tuple[int, ...]
) -> Iterable[tuple[str, tuple[int, ...]]]:
    name = prefix + message.name
    yield name, path
    for i, field in enumerate(message.field):
        yield f"{name}.{field.name}", (*path, _MESSAGE_FIELD, i)
    for i, nested in enumerate(message.nested_type):
        yield from _message_names(nested, name + ".", (*path, _MESSAGE_NESTED, i))
    for i, enum in enumerate(message.enum_type):
        yield from _enum_names(enum, name + ".", (*path, _MESSAGE_ENUM, i))


def _enum_names(
    enum: descriptor_pb2.EnumDescriptorProto, prefix: str, path: tuple[int, ...]
) -> Iterable[tuple[str, tuple[int, ...]]]:
    name = prefix + enum.name
    yield name, path
    for i, value in enumerate(enum.value):
        yield f"{name}.{value.name}", (*path, _ENUM_VALUE, i)


def _clean(comment: str) -> str:
    """``// text`` lines as protoc gives them (one leading space each): plain text."""
    lines = [line[1:] if line.startswith(" ") else line for line in comment.splitlines()]
    return "\n".join(lines).strip()


def first_sentence(text: str) -> str:
    """The summary of a comment: its first sentence, or its first line."""
    line = text.split("\n\n", 1)[0].replace("\n", " ").strip()
    end = line.find(". ")
    return line[: end + 1] if end >= 0 else line
