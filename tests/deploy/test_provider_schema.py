"""Every argument and block in deploy/terraform exists in the pinned AWS provider, and required ones are set.

What ``terraform validate`` would say about arguments, without the provider
binary: the schema comes from ``@cdktf/provider-aws`` (see
:mod:`tests.deploy.provider_schema`), the package generated from the newest
provider release the pins admit (``terraform init`` would pick it too).

It catches a misspelt or removed argument, an argument written as a block or
a block as an argument, an argument in the wrong nested block, and a missing
required argument or block. It cannot check values (types, enums, ranges),
expressions, references between resources, conflicting arguments, what the
AWS API accepts, or anything inside a JSON document (an OpenAPI body, a
policy); nor ephemeral resources, which the bindings do not describe, nor
the inside of a field they type as `any` (a WAF rule's statement).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import hcl2
import pytest

from tests.deploy.provider_schema import PACKAGE, Field, Schema, provider_version, schema_of
from tests.deploy.terraform import TERRAFORM, all_modules

_OPTIONS = hcl2.SerializationOptions(
    with_comments=False, explicit_blocks=True, strip_string_quotes=True
)
_META = {"count", "for_each", "depends_on", "lifecycle", "provider", "provisioner", "connection"}
_MARKERS = {"__is_block__", "__start_line__", "__end_line__"}
# Ephemeral resources are newer than cdktf: no bindings describe them.
UNCHECKED_EPHEMERAL = {"aws_secretsmanager_random_password"}


@pytest.fixture(scope="session")
def version() -> str:
    found = provider_version()
    if found is None:
        message = f"{PACKAGE} not installed (scripts/test installs it with npm)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def _blocks(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        parsed: dict[str, Any] = hcl2.load(handle, serialization_options=_OPTIONS)
    return parsed


def _is_block(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(v, dict) and v.get("__is_block__") for v in value
    )


def _check(body: dict[str, Any], schema: Schema, where: str, top: bool) -> list[str]:
    errors: list[str] = []
    present: set[str] = set()
    for key, value in body.items():
        if key in _MARKERS or (top and key in _META):
            continue
        if key == "dynamic":
            for dynamic in value:
                for name, spec in dynamic.items():
                    if name in _MARKERS:
                        continue
                    present.add(name)
                    errors += _field(name, schema, spec["content"], where, dynamic=True)
            continue
        present.add(key)
        errors += _field(key, schema, value, where)
    for name, spec in schema.fields.items():
        if spec.required and name not in present:
            kind = "block" if spec.block else "argument"
            errors.append(f"{where}: required {kind} {name!r} is missing")
    return errors


def _field(name: str, schema: Schema, value: Any, where: str, dynamic: bool = False) -> list[str]:
    spec: Field | None = schema.fields.get(name)
    if spec is None:
        close = [f for f in schema.fields if f.split("_")[0] == name.split("_")[0]]
        hint = f" (did you mean {', '.join(sorted(close))}?)" if close else ""
        return [f"{where}: unknown {'block' if _is_block(value) else 'argument'} {name!r}{hint}"]
    if spec.opaque:
        return []
    if dynamic or _is_block(value):
        if not spec.block:
            return [f"{where}: {name!r} is an argument, written as a block"]
        if spec.schema is None:
            return []
        errors: list[str] = []
        for index, block in enumerate(value):
            errors += _check(block, spec.schema, f"{where}.{name}[{index}]", top=False)
        return errors
    if spec.block:
        return [f"{where}: {name!r} is a block, written as an argument"]
    return []


def _items() -> list[tuple[str, str, str, dict[str, Any], str]]:
    found: list[tuple[str, str, str, dict[str, Any], str]] = []
    for module in all_modules():
        for path in sorted(module.path.glob("*.tf")):
            parsed = _blocks(path)
            for kind in ("resource", "data", "ephemeral"):
                for block in parsed.get(kind, []):
                    for type_name, named in block.items():
                        if type_name in _MARKERS:
                            continue
                        for name, body in named.items():
                            if name in _MARKERS:
                                continue
                            where = f"{path.relative_to(TERRAFORM)}: {kind} {type_name}.{name}"
                            found.append((kind, type_name, name, body, where))
    return found


ITEMS = _items()


def test_the_package_is_the_provider_the_pins_select(version: str) -> None:
    """The newest 5.x: every module admits it, and none allows a 6.x the package does not describe."""
    major, minor, _ = (int(p) for p in version.split("."))
    for module in all_modules():
        text = " ".join(p.read_text(encoding="utf-8") for p in module.path.glob("versions.tf"))
        constraint = re.search(r'version\s*=\s*">= (\d+)\.(\d+), < (\d+)\.0"', text)
        assert constraint, f"{module.name}: provider pin not of the form '>= X.Y, < Z.0'"
        low = (int(constraint.group(1)), int(constraint.group(2)))
        assert low <= (major, minor), f"{module.name}: pin excludes {version}"
        assert int(constraint.group(3)) == major + 1, f"{module.name}: pin admits another major"


@pytest.mark.parametrize(
    ("kind", "type_name", "name", "body", "where"),
    ITEMS,
    ids=[item[4].split(": ", 1)[1] + " @" + item[4].split(":")[0] for item in ITEMS],
)
def test_arguments_and_blocks_exist_and_required_ones_are_set(
    version: str, kind: str, type_name: str, name: str, body: dict[str, Any], where: str
) -> None:
    if kind == "ephemeral":
        assert type_name in UNCHECKED_EPHEMERAL, f"{where}: a new ephemeral type, check by hand"
        pytest.skip("ephemeral resources are not in the cdktf bindings")
    schema = schema_of(kind, type_name)
    assert schema is not None, f"{where}: no {kind} {type_name!r} in hashicorp/aws {version}"
    errors = _check(body, schema, where, top=True)
    assert not errors, "\n".join(errors)


def test_the_check_catches_what_it_claims(version: str) -> None:
    """A misspelt argument, a block as an argument, a missing required argument."""
    schema = schema_of("resource", "aws_ecs_service")
    assert schema is not None
    bad = {
        "name": "x",
        "enable_execute_comand": True,
        "deployment_circuit_breaker": "on",
        "network_configuration": [{"__is_block__": True, "assign_public_ip": False}],
    }
    errors = "\n".join(_check(bad, schema, "t", top=True))
    assert "unknown argument 'enable_execute_comand'" in errors
    assert "'deployment_circuit_breaker' is a block, written as an argument" in errors
    assert "required argument 'subnets' is missing" in errors
    assert schema_of("resource", "aws_ecs_servce") is None
    # What the bindings type as `any` is left alone, and only that.
    acl = schema_of("resource", "aws_wafv2_web_acl")
    assert acl is not None
    rule = acl.fields["rule"].schema
    assert rule is not None
    assert rule.fields["statement"].opaque
    assert not rule.fields["visibility_config"].opaque
