"""The compiled printer gives what json_format.MessageToDict gives, for every field kind."""

from __future__ import annotations

import math
from typing import Any

import pytest
from google.api import http_pb2
from google.protobuf import (
    any_pb2,
    descriptor_pb2,
    descriptor_pool,
    json_format,
    message_factory,
    struct_pb2,
    timestamp_pb2,
)
from google.rpc import error_details_pb2, status_pb2

from gateway.render import printer

F = descriptor_pb2.FieldDescriptorProto


def _kinds_class() -> Any:
    """A proto3 message with the field kinds the shop protos do not all have."""
    file = descriptor_pb2.FileDescriptorProto(
        name="rendertest/kinds.proto",
        package="rendertest",
        syntax="proto3",
        dependency=["google/protobuf/timestamp.proto"],
    )
    inner = file.message_type.add(name="Inner")
    inner.field.add(name="label", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    enum = file.enum_type.add(name="Kind")
    enum.value.add(name="KIND_UNSPECIFIED", number=0)
    enum.value.add(name="KIND_A", number=1)
    msg = file.message_type.add(name="Kinds")
    for number, (name, kind) in enumerate(
        [
            ("f32", F.TYPE_FLOAT),
            ("f64", F.TYPE_DOUBLE),
            ("i64", F.TYPE_INT64),
            ("u64", F.TYPE_UINT64),
            ("s32", F.TYPE_SINT32),
            ("raw", F.TYPE_BYTES),
            ("flag", F.TYPE_BOOL),
            ("text", F.TYPE_STRING),
        ],
        start=1,
    ):
        msg.field.add(name=name, number=number, type=kind, label=F.LABEL_OPTIONAL)
    msg.field.add(
        name="kind",
        number=9,
        type=F.TYPE_ENUM,
        type_name=".rendertest.Kind",
        label=F.LABEL_OPTIONAL,
    )
    msg.field.add(
        name="kinds",
        number=10,
        type=F.TYPE_ENUM,
        type_name=".rendertest.Kind",
        label=F.LABEL_REPEATED,
    )
    msg.field.add(name="floats", number=11, type=F.TYPE_FLOAT, label=F.LABEL_REPEATED)
    msg.field.add(
        name="inner",
        number=12,
        type=F.TYPE_MESSAGE,
        type_name=".rendertest.Inner",
        label=F.LABEL_OPTIONAL,
    )
    msg.field.add(
        name="inners",
        number=13,
        type=F.TYPE_MESSAGE,
        type_name=".rendertest.Inner",
        label=F.LABEL_REPEATED,
    )
    msg.field.add(
        name="when",
        number=14,
        type=F.TYPE_MESSAGE,
        type_name=".google.protobuf.Timestamp",
        label=F.LABEL_OPTIONAL,
    )
    msg.oneof_decl.add(name="choice")
    msg.field.add(
        name="pick_text", number=15, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL, oneof_index=0
    )
    msg.field.add(
        name="pick_inner",
        number=16,
        type=F.TYPE_MESSAGE,
        type_name=".rendertest.Inner",
        label=F.LABEL_OPTIONAL,
        oneof_index=0,
    )
    msg.oneof_decl.add(name="_maybe")
    msg.field.add(
        name="maybe",
        number=17,
        type=F.TYPE_INT32,
        label=F.LABEL_OPTIONAL,
        oneof_index=1,
        proto3_optional=True,
    )
    for number, (name, key, value, value_type) in enumerate(
        [
            ("by_id", F.TYPE_INT32, F.TYPE_MESSAGE, ".rendertest.Inner"),
            ("by_flag", F.TYPE_BOOL, F.TYPE_STRING, ""),
            ("by_big", F.TYPE_INT64, F.TYPE_DOUBLE, ""),
        ],
        start=18,
    ):
        entry = msg.nested_type.add(name=f"{''.join(p.title() for p in name.split('_'))}Entry")
        entry.options.map_entry = True
        entry.field.add(name="key", number=1, type=key, label=F.LABEL_OPTIONAL)
        entry.field.add(name="value", number=2, type=value, label=F.LABEL_OPTIONAL)
        if value_type:
            entry.field[1].type_name = value_type
        msg.field.add(
            name=name,
            number=number,
            type=F.TYPE_MESSAGE,
            label=F.LABEL_REPEATED,
            type_name=f".rendertest.Kinds.{entry.name}",
        )
    # A Python keyword as a field name: the compiled printer cannot write m.from.
    msg.field.add(name="from", number=21, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("rendertest.Kinds"))


Kinds = _kinds_class()


def _full_kinds() -> Any:
    m = Kinds(
        f32=0.1,
        f64=-2.5e300,
        i64=-(2**62),
        u64=2**64 - 1,
        s32=-7,
        raw=b"\x00\xff",
        flag=True,
        text='é\u2028"',
        kind=1,
        kinds=[0, 1, 7],
        floats=[1.1, math.inf],
        pick_inner={"label": "x"},
        maybe=0,
        **{"from": "keyword"},
    )
    m.inner.label = "in"
    m.inners.add(label="a")
    m.inners.add()
    m.when.FromSeconds(1_700_000_000)
    m.by_id[3].label = "three"
    m.by_flag[True] = "yes"
    m.by_big[-(2**40)] = math.nan
    return m


def _status() -> status_pb2.Status:
    bad = any_pb2.Any()
    bad.Pack(
        error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field="f", description="d")
            ]
        )
    )
    return status_pb2.Status(code=3, message="no", details=[bad])


CASES = {
    "empty proto3": Kinds(),
    "every kind set": _full_kinds(),
    "oneof scalar, infinities": Kinds(
        pick_text="t", f32=-math.inf, f64=math.inf, floats=[math.nan]
    ),
    "unknown open enum number": Kinds(kind=42),
    "proto3 with Any details": _status(),
    "oneofs and recursion": http_pb2.Http(
        rules=[
            http_pb2.HttpRule(
                selector="s", get="/v1/{name}", additional_bindings=[http_pb2.HttpRule(post="/x")]
            )
        ]
    ),
    "proto2, closed enums, presence": descriptor_pb2.FieldDescriptorProto(
        name="f", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL
    ),
    "proto2 nested": descriptor_pb2.DescriptorProto(
        name="M",
        field=[descriptor_pb2.FieldDescriptorProto(name="a", number=1)],
        options=descriptor_pb2.MessageOptions(deprecated=True),
    ),
    "well-known type at the top": struct_pb2.Struct(fields={"a": struct_pb2.Value(number_value=1)}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_printer_matches_json_format(name: str) -> None:
    message = CASES[name]
    expected = json_format.MessageToDict(message, always_print_fields_with_no_presence=True)
    got = printer(message.DESCRIPTOR)(message)
    assert _nan_safe(got) == _nan_safe(expected)


def test_closed_enum_unknown_number_is_left_out_as_json_format_does() -> None:
    message = descriptor_pb2.FieldDescriptorProto()
    message.MergeFromString(b"\x20\x63")  # label (a closed enum) = 99: kept as unknown field
    expected = json_format.MessageToDict(message, always_print_fields_with_no_presence=True)
    assert printer(message.DESCRIPTOR)(message) == expected


def _nan_safe(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, dict):
        return {k: _nan_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_safe(v) for v in value]
    return value
