"""The compiled JSON parser against json_format: same message when it accepts, else json_format.

Differential and property-based: for any JSON value, the fast path either
gives up or yields exactly json_format.ParseDict's message (and json_format
accepts); :func:`parse_json` as a whole accepts and rejects what json_format
does.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from google.protobuf import (
    any_pb2,
    descriptor_pb2,
    descriptor_pool,
    duration_pb2,
    empty_pb2,
    field_mask_pb2,
    json_format,
    message_factory,
    struct_pb2,
    timestamp_pb2,
    wrappers_pb2,
)
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.fields import check_field_masks
from gateway.parse import MAX_DEPTH, decode_json, parse_json, parser

F = descriptor_pb2.FieldDescriptorProto
SCALARS = {
    "i32": F.TYPE_INT32,
    "s32": F.TYPE_SINT32,
    "sf32": F.TYPE_SFIXED32,
    "u32": F.TYPE_UINT32,
    "fx32": F.TYPE_FIXED32,
    "i64": F.TYPE_INT64,
    "s64": F.TYPE_SINT64,
    "sf64": F.TYPE_SFIXED64,
    "u64": F.TYPE_UINT64,
    "fx64": F.TYPE_FIXED64,
    "f32": F.TYPE_FLOAT,
    "f64": F.TYPE_DOUBLE,
    "flag": F.TYPE_BOOL,
    "text": F.TYPE_STRING,
    "raw": F.TYPE_BYTES,
}
WKTS = {
    "when": "Timestamp",
    "span": "Duration",
    "mask": "FieldMask",
    "wrapped_i64": "Int64Value",
    "wrapped_f64": "DoubleValue",
    "wrapped_text": "StringValue",
    "obj": "Struct",
    "val": "Value",
    "vals": "ListValue",
    "any": "Any",
    "nothing": "Empty",
}
WKT_FILES = (
    timestamp_pb2,
    duration_pb2,
    field_mask_pb2,
    wrappers_pb2,
    struct_pb2,
    any_pb2,
    empty_pb2,
)


def _kinds_class() -> Any:
    """proto3 with every field kind json_format distinguishes, and a proto2 closed enum."""
    legacy = descriptor_pb2.FileDescriptorProto(
        name="parsetest/legacy.proto", package="parsetest", syntax="proto2"
    )
    closed = legacy.enum_type.add(name="Closed")
    closed.value.add(name="CLOSED_ONE", number=1)
    closed.value.add(name="CLOSED_TWO", number=2)
    old = legacy.message_type.add(name="Legacy")
    old.field.add(
        name="closed",
        number=1,
        type=F.TYPE_ENUM,
        type_name=".parsetest.Closed",
        label=F.LABEL_OPTIONAL,
    )
    old.field.add(
        name="closed_list",
        number=2,
        type=F.TYPE_ENUM,
        type_name=".parsetest.Closed",
        label=F.LABEL_REPEATED,
    )

    file = descriptor_pb2.FileDescriptorProto(
        name="parsetest/kinds.proto",
        package="parsetest",
        syntax="proto3",
        dependency=["parsetest/legacy.proto", *(m.DESCRIPTOR.name for m in WKT_FILES)],
    )
    enum = file.enum_type.add(name="Kind")
    enum.value.add(name="KIND_UNSPECIFIED", number=0)
    enum.value.add(name="KIND_A", number=1)
    enum.value.add(name="KIND_B", number=2)
    inner = file.message_type.add(name="Inner")
    inner.field.add(name="label", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    inner.field.add(
        name="child",
        number=2,
        type=F.TYPE_MESSAGE,
        type_name=".parsetest.Inner",
        label=F.LABEL_OPTIONAL,
    )
    inner.field.add(name="n", number=3, type=F.TYPE_INT32, label=F.LABEL_OPTIONAL)
    msg = file.message_type.add(name="Kinds")
    number = 0

    def add(name: str, kind: int, repeated: bool = False, type_name: str = "", **kw: Any) -> None:
        nonlocal number
        number += 1
        label = F.LABEL_REPEATED if repeated else F.LABEL_OPTIONAL
        if type_name:
            kw["type_name"] = type_name
        msg.field.add(name=name, number=number, type=kind, label=label, **kw)

    for name, kind in SCALARS.items():
        add(name, kind)
        add(f"{name}_list", kind, repeated=True)
    add("kind", F.TYPE_ENUM, type_name=".parsetest.Kind")
    add("kind_list", F.TYPE_ENUM, repeated=True, type_name=".parsetest.Kind")
    add("null", F.TYPE_ENUM, type_name=".google.protobuf.NullValue")
    add("inner", F.TYPE_MESSAGE, type_name=".parsetest.Inner")
    add("inner_list", F.TYPE_MESSAGE, repeated=True, type_name=".parsetest.Inner")
    add("legacy", F.TYPE_MESSAGE, type_name=".parsetest.Legacy")
    for name, wkt in WKTS.items():
        add(name, F.TYPE_MESSAGE, type_name=f".google.protobuf.{wkt}")
    add("val_list", F.TYPE_MESSAGE, repeated=True, type_name=".google.protobuf.Value")
    add("when_list", F.TYPE_MESSAGE, repeated=True, type_name=".google.protobuf.Timestamp")
    msg.oneof_decl.add(name="choice")
    add("pick_text", F.TYPE_STRING, oneof_index=0)
    add("pick_inner", F.TYPE_MESSAGE, type_name=".parsetest.Inner", oneof_index=0)
    add("pick_val", F.TYPE_MESSAGE, type_name=".google.protobuf.Value", oneof_index=0)
    msg.oneof_decl.add(name="_maybe")
    add("maybe", F.TYPE_INT32, oneof_index=1, proto3_optional=True)
    for name, key, value, value_type in [
        ("by_id", F.TYPE_INT32, F.TYPE_MESSAGE, ".parsetest.Inner"),
        ("by_flag", F.TYPE_BOOL, F.TYPE_STRING, ""),
        ("by_big", F.TYPE_INT64, F.TYPE_DOUBLE, ""),
        ("by_u64", F.TYPE_UINT64, F.TYPE_BYTES, ""),
        ("by_name", F.TYPE_STRING, F.TYPE_ENUM, ".parsetest.Kind"),
        ("by_key", F.TYPE_STRING, F.TYPE_MESSAGE, ".google.protobuf.Value"),
    ]:
        entry = msg.nested_type.add(name=f"{''.join(p.title() for p in name.split('_'))}Entry")
        entry.options.map_entry = True
        entry.field.add(name="key", number=1, type=key, label=F.LABEL_OPTIONAL)
        entry.field.add(name="value", number=2, type=value, label=F.LABEL_OPTIONAL)
        if value_type:
            entry.field[1].type_name = value_type
        add(name, F.TYPE_MESSAGE, repeated=True, type_name=f".parsetest.Kinds.{entry.name}")
    pool = descriptor_pool.DescriptorPool()
    for module in WKT_FILES:
        pool.AddSerializedFile(module.DESCRIPTOR.serialized_pb)
    pool.Add(legacy)
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("parsetest.Kinds"))


Kinds: Any = _kinds_class()
FIELDS = Kinds.DESCRIPTOR.fields
INNER_FIELDS = Kinds.DESCRIPTOR.fields_by_name["inner"].message_type.fields


def _reference(value: Any) -> Message | None:
    """json_format's message, or None when it rejects the value, or when it holds a
    FieldMask path that is not a field path (``"1"``): json_format takes those, the
    gateway refuses them on purpose (gateway.fields.check_field_mask)."""
    message: Message = Kinds()
    try:
        json_format.ParseDict(value, message)
        check_field_masks(message)
    except Exception:
        return None
    return message


def _fast(value: Any) -> Message | None:
    """The compiled fast path's message, or None when it gives up."""
    message: Message = Kinds()
    try:
        parser(Kinds.DESCRIPTOR)(value, message, 1)
    except Exception:  # as parse_json does: _Fallback, or e.g. a lone surrogate protobuf refuses
        return None
    return message


def _whole(value: Any) -> Message | None:
    message: Message = Kinds()
    try:
        parse_json(value, message)
    except json_format.ParseError:
        return None
    return message


def _same(a: Message, b: Message) -> bool:
    return bool(
        a == b
        and a.SerializeToString(deterministic=True) == b.SerializeToString(deterministic=True)
    )


# -- strategies --------------------------------------------------------------

_INT_EDGES = [
    0,
    1,
    -1,
    2**31 - 1,
    2**31,
    -(2**31),
    -(2**31) - 1,
    2**32 - 1,
    2**32,
    2**53,
    2**53 + 1,
    2**63 - 1,
    2**63,
    -(2**63),
    -(2**63) - 1,
    2**64 - 1,
    2**64,
]
_STRINGS = [
    "",
    "KIND_A",
    "KIND_B",
    "CLOSED_ONE",
    "KIND_Z",
    "1",
    "-1",
    "2",
    "7",
    "01",
    "1.0",
    "1e3",
    " 1",
    "1 ",
    "+1",
    "1_0",
    "0x10",
    "\u0661",
    "true",
    "false",
    "True",
    "NaN",
    "Infinity",
    "-Infinity",
    "nan",
    "inf",
    "1.5",
    "3.5e38",
    "AAEC",
    "AAE",
    "A",
    "-_+/",
    "aGk=",
    "aGk",
    "a b",
    "\ud800",
    "\udc00x",
    "\ud83d\ude00",
    "é",
    "null",
    "2017-01-15T01:30:15.01Z",
    "1.5s",
    "-0.5s",
    "a.b,cD",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775809",
]
_KEYS = sorted(
    {f.name for f in FIELDS}
    | {f.json_name for f in FIELDS}
    | {f.name for f in INNER_FIELDS}
    | {"@type", "value", "[x.y]", "unknown", "seconds"}
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(_INT_EDGES),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1.0, -0.0, 1.5, 3.5e38, 3.4e38, 1e308]),
    st.sampled_from(_STRINGS),
    st.text(max_size=6),
)
def _containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    # A named function: hypothesis checks that `extend` uses its argument by reading
    # the source, which it cannot find for a lambda inside a multi-line call.
    return st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.one_of(st.sampled_from(_KEYS + _STRINGS), st.text(max_size=4)), inner, max_size=4
        ),
    )


json_values = st.recursive(scalars, _containers, max_leaves=12)
bodies = st.dictionaries(st.sampled_from(_KEYS), json_values, max_size=6)


def _plausible(field: Any) -> st.SearchStrategy[Any]:
    """Values of roughly the right JSON type for ``field`` (so the fast path gets exercised)."""
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        key, value = field.message_type.fields
        return st.dictionaries(
            _plausible(key).map(str).map(lambda k: k.lower()), _plausible(value), max_size=3
        )
    single: st.SearchStrategy[Any]
    if field.message_type is not None:
        if field.message_type.full_name.startswith("google.protobuf."):
            single = json_values
        else:
            single = st.dictionaries(
                st.sampled_from(["label", "n", "child"]),
                st.one_of(st.text(max_size=3), st.integers(-5, 5)),
                max_size=3,
            )
    elif field.enum_type is not None:
        single = st.sampled_from(["KIND_A", "KIND_B", "CLOSED_ONE", 0, 1, 2, 9, "X"])
    elif field.type == F.TYPE_STRING:
        single = st.text(max_size=5)
    elif field.type == F.TYPE_BYTES:
        single = st.sampled_from(["", "AAEC", "aGk", "aGk=", "-_8", "+/8=", "!!"])
    elif field.type == F.TYPE_BOOL:
        single = st.booleans()
    elif field.type in (F.TYPE_FLOAT, F.TYPE_DOUBLE):
        single = st.one_of(st.floats(), st.integers(-(2**60), 2**60))
    else:
        single = st.one_of(
            st.sampled_from(_INT_EDGES), st.integers(-1000, 1000), st.integers(-1000, 1000).map(str)
        )
    if field.is_repeated:
        return st.lists(single, max_size=3)
    return st.one_of(single, st.none())


plausible_bodies = st.fixed_dictionaries(
    {}, optional={f.json_name if i % 2 else f.name: _plausible(f) for i, f in enumerate(FIELDS)}
)


# -- properties --------------------------------------------------------------


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(bodies, plausible_bodies, json_values))
def test_fast_path_accepts_only_what_json_format_gives(value: Any) -> None:
    fast, reference = _fast(value), _reference(value)
    if fast is not None:
        assert reference is not None, f"json_format rejects what the fast path took: {value!r}"
        assert _same(fast, reference), value
    whole = _whole(value)
    assert (whole is None) == (reference is None), value
    if whole is not None and reference is not None:
        assert _same(whole, reference), value


@settings(max_examples=300, deadline=None)
@given(plausible_bodies, st.booleans())
def test_canonical_json_takes_the_fast_path(value: Any, proto_names: bool) -> None:
    """What json_format prints (int64 as strings, base64, enum names) needs no fallback."""
    reference = _reference(value)
    if reference is None:
        return
    try:
        canonical = json_format.MessageToDict(reference, preserving_proto_field_name=proto_names)
    except json_format.SerializeToJsonError:
        return  # e.g. a non-finite number in a Struct value: json_format has no JSON for it
    if "NaN" in repr(canonical) or "Infinity" in repr(canonical):
        return  # quoted non-finite floats are json_format's to read
    fast = _fast(canonical)
    assert fast is not None, canonical
    # Against json_format reading the same JSON: printing is lossy for some values
    # (NullValue prints null whatever its number).
    again = _reference(canonical)
    assert again is not None and _same(fast, again)


# -- examples ----------------------------------------------------------------


def test_the_benchmark_body_takes_the_fast_path() -> None:
    value = {
        "text": "bench",
        "i32": 7,
        "textList": ["a", "b"],
        "kind": "KIND_A",
        "u64": "18446744073709551615",
        "i64": -5,
        "raw": "AAEC",
        "f64": 1.5,
        "flag": True,
        "inner": {"label": "x", "child": {"n": 3}},
        "byId": {"3": {"label": "t"}},
        "by_name": {"k": "KIND_B"},
        "maybe": 0,
        "pickText": "p",
        "when": "2017-01-15T01:30:15Z",
        "kindList": [1, "KIND_B"],
        "by_flag": {"true": "y"},
    }
    fast = _fast(value)
    assert fast is not None
    reference = _reference(value)
    assert reference is not None and _same(fast, reference)
    assert fast.HasField("maybe") and fast.WhichOneof("choice") == "pick_text"


@pytest.mark.parametrize(
    "value",
    [
        {"i32": 2**31},
        {"u32": -1},
        {"i64": "9223372036854775808"},
        {"f32": 3.5e38},
        {"f64": math.inf},
        {"flag": "true"},
        {"text": 5},
        {"kind": "KIND_Z"},
        {"raw": 5},
        {"unknown": 1},
        {"pickText": "a", "pickInner": {}},
        {"inner": 5},
        {"textList": "a"},
        {"textList": [None]},
        {"byId": {"x": {}}},
        {"by_flag": {"yes": "y"}},
        {"legacy": {"closed": 9}},
        {"when": "yesterday"},
        {"[ext.x]": 1},
        {"null_list": [None]},
        {"val_list": None},
        {"i32": 1.5},
        {"i32": True},
        {"text": "\ud800"},
        {"u64": " 7"},
    ],
)
def test_what_json_format_rejects_is_rejected(value: Any) -> None:
    assert _reference(value) is None
    assert _fast(value) is None
    with pytest.raises(json_format.ParseError):
        parse_json(value, Kinds())


@pytest.mark.parametrize(
    "value",
    [
        {"i32": "1e1"},
        {"i32": 1.0},
        {"kind": "1"},
        {"kind": 9},
        {"legacy": {"closed": 1}},
        {"f64": "NaN"},
        {"f32": "-Infinity"},
        {"u64": "+7"},
        {"textList": ["x"], "text_list": ["y"]},
        {"inner": {}},
        {"inner": []},
        {"val": None},
        {"null": None},
        {"pickVal": None},
        {"textList": [], "text_list": ["b"]},
        {"by_key": {"a": None}},
        {"any": {}},
        {"any": {"@type": "type.googleapis.com/google.protobuf.Duration", "value": "1s"}},
    ],
)
def test_what_json_format_accepts_is_the_same_message(value: Any) -> None:
    reference = _reference(value)
    assert reference is not None
    whole = _whole(value)
    assert whole is not None and _same(whole, reference)


def test_depth_limit_matches_json_format() -> None:
    def nested(levels: int) -> dict[str, Any]:
        value: dict[str, Any] = {"label": "leaf"}
        for _ in range(levels):
            value = {"child": value}
        return {"inner": value}

    for levels in (MAX_DEPTH - 3, MAX_DEPTH - 2, MAX_DEPTH - 1):
        reference = _reference(nested(levels))
        whole = _whole(nested(levels))
        assert (reference is None) == (whole is None), levels
    assert _reference(nested(MAX_DEPTH - 3)) is not None
    assert _whole(nested(MAX_DEPTH)) is None


def test_a_wkt_deep_inside_gets_the_depth_that_is_left() -> None:
    def nested(levels: int) -> dict[str, Any]:
        value: Any = 1
        for _ in range(levels):
            value = {"k": value}
        return {"obj": value}

    for levels in range(MAX_DEPTH - 4, MAX_DEPTH + 1):
        assert (_reference(nested(levels)) is None) == (_whole(nested(levels)) is None), levels


def test_fallback_into_a_body_field_starts_from_a_clean_sub_message() -> None:
    message = Kinds()

    def reset() -> Message:
        message.ClearField("inner")
        sub: Message = message.inner
        return sub

    # "label" is taken by the fast path, then "n": "1e1" makes it give up.
    parse_json({"label": "x", "n": "1e1"}, message.inner, reset)
    assert message.inner.label == "x" and message.inner.n == 10


def test_decode_rejects_what_json_format_parse_rejects() -> None:
    for body in (b'{"a": 1, "a": 2}', b"\xff", '{"a": 1}'.encode("utf-16"), b"{", b""):
        with pytest.raises(json_format.ParseError):
            decode_json(body)
        with pytest.raises((json_format.ParseError, UnicodeDecodeError)):
            json_format.Parse(body, Kinds())
    assert decode_json(b'{"a": [1, {"b": null}]}') == {"a": [1, {"b": None}]}


def test_a_lone_surrogate_is_a_parse_error_not_a_crash() -> None:
    with pytest.raises(json_format.ParseError):
        parse_json({"text": "\ud800"}, Kinds())


def test_a_mask_path_that_is_no_field_path_is_refused_though_json_format_takes_it() -> None:
    # Found by the property test: json_format reads "1" as a path; no field is named so.
    assert json_format.ParseDict({"mask": "1"}, Kinds()).mask.paths == ["1"]
    assert _whole({"mask": "1"}) is None
