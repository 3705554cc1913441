"""Read deploy/terraform without a terraform binary: python-hcl2 and a small model.

Expressions stay strings (``"${var.port}"``); the checks in this package look
at which names they reference, never at what they would evaluate to.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "deploy" / "terraform"
MODULES = TERRAFORM / "modules"
ENV = TERRAFORM / "envs" / "dev"

# Newer python-hcl2 keeps the quotes of strings and block labels unless told not to.
_OPTIONS = hcl2.SerializationOptions(
    with_comments=False, explicit_blocks=False, strip_string_quotes=True
)
_META_ARGUMENTS = {"source", "version", "count", "for_each", "providers", "depends_on"}
_VAR = re.compile(r"\bvar\.([A-Za-z_][A-Za-z0-9_-]*)")
_LOCAL = re.compile(r"\blocal\.([A-Za-z_][A-Za-z0-9_-]*)")
_MODULE_OUTPUT = re.compile(
    r"\bmodule\.([A-Za-z_][A-Za-z0-9_-]*)(?:\[[^\]]*\])?\.([A-Za-z_][\w-]*)"
)

Body = dict[str, Any]


def tf_files() -> list[Path]:
    return sorted(p for p in TERRAFORM.rglob("*.tf") if ".terraform" not in p.parts)


def parse(path: Path) -> Body:
    with path.open(encoding="utf-8") as handle:
        result: Body = hcl2.load(handle, serialization_options=_OPTIONS)
    return result


def strings(node: Any) -> Iterator[str]:
    """Every string leaf (expressions included) of a parsed body."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


def referenced(pattern: re.Pattern[str], node: Any) -> set[str]:
    return {m.group(1) for text in strings(node) for m in pattern.finditer(text)}


@dataclass
class Module:
    """One Terraform module directory, its blocks merged across files."""

    path: Path
    variables: dict[str, Body] = field(default_factory=dict)
    outputs: dict[str, Body] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    resources: dict[tuple[str, str], Body] = field(default_factory=dict)
    data: dict[tuple[str, str], Body] = field(default_factory=dict)
    calls: dict[str, Body] = field(default_factory=dict)
    everything: list[Body] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.path.relative_to(TERRAFORM))

    def resources_of(self, kind: str) -> dict[str, Body]:
        return {name: body for (k, name), body in self.resources.items() if k == kind}

    def used_vars(self) -> set[str]:
        return referenced(_VAR, self.everything)

    def used_locals(self) -> set[str]:
        return referenced(_LOCAL, self.everything)

    def used_module_outputs(self) -> set[tuple[str, str]]:
        return {
            (m.group(1), m.group(2))
            for text in strings(self.everything)
            for m in _MODULE_OUTPUT.finditer(text)
        }

    def required_inputs(self) -> set[str]:
        return {name for name, body in self.variables.items() if "default" not in body}

    def call_target(self, call: str) -> Module:
        return load_module((self.path / self.calls[call]["source"]).resolve())

    def call_inputs(self, call: str) -> set[str]:
        return set(self.calls[call]) - _META_ARGUMENTS


@cache
def load_module(path: Path) -> Module:
    module = Module(path)
    for tf in sorted(path.glob("*.tf")):
        parsed = parse(tf)
        module.everything.append(parsed)
        for block in parsed.get("variable", []):
            module.variables.update(block)
        for block in parsed.get("output", []):
            module.outputs.update(block)
        for block in parsed.get("locals", []):
            module.locals.update(block)
        for block in parsed.get("module", []):
            module.calls.update(block)
        for kind, target in (("resource", module.resources), ("data", module.data)):
            for block in parsed.get(kind, []):
                for rtype, named in block.items():
                    for rname, body in named.items():
                        target[(rtype, rname)] = body
    return module


def all_modules() -> list[Module]:
    dirs = sorted(p for p in MODULES.iterdir() if p.is_dir())
    return [load_module(ENV), *(load_module(d) for d in dirs)]


def expr(text: str) -> str:
    """The inside of a pure ``${...}`` expression, whitespace-normalised."""
    text = text.strip()
    if text.startswith("${") and text.endswith("}"):
        text = text[2:-1]
    return re.sub(r"\s+", " ", text)
