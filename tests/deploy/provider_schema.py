"""The pinned AWS provider's schema, offline, from the npm package ``@cdktf/provider-aws``.

``terraform validate`` needs the provider binary, which cannot be downloaded
here. The cdktf bindings are generated from the provider's own schema (a
package version names the provider version it was built from), so they list
every argument and nested block of every resource and data source, and which
are required. scripts/lib/bootstrap.sh installs the package into ``.tools/``.

Per resource type the package has ``lib/<type>/index.js`` (each argument's
Terraform name, whether it is a block, and the converter of a block's
contents) and ``index.d.ts`` (which configuration properties are optional).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from tests.deploy.terraform import ROOT

PACKAGE = ROOT / ".tools" / "node_modules" / "@cdktf" / "provider-aws"

_ENTRY = re.compile(r"^\s+(\w+): \{\n\s+value: (.*),\n\s+isBlock: (true|false),", re.MULTILINE)
_CONVERTER = re.compile(r"(?<!cdktf\.)\b([a-z]\w*)ToHclTerraform\b")
_PROPERTY = re.compile(r"\b(?:this\._|struct\.|struct\!\.)(\w+)")
_INTERFACE = re.compile(r"export interface (\w+)(?: extends [^{]+)? \{(.*?)\n\}", re.DOTALL)
_MEMBER = re.compile(r"^\s+readonly (\w+)(\?)?:", re.MULTILINE)
_CLASS = re.compile(r"export declare class (\w+) extends cdktf\.Terraform(?:Resource|DataSource)")


@dataclass
class Field:
    block: bool
    required: bool
    schema: Schema | None = None  # a block's contents
    # Typed `any` by the bindings (a schema too deep for cdktf, such as a WAF
    # rule's statement): block or argument, its contents cannot be checked.
    opaque: bool = False


@dataclass
class Schema:
    fields: dict[str, Field] = field(default_factory=dict)


def provider_version() -> str | None:
    """The hashicorp/aws version the installed package was generated from."""
    manifest = PACKAGE / "package.json"
    if not manifest.is_file():
        return None
    version: str = json.loads(manifest.read_text(encoding="utf-8"))["cdktf"]["provider"]["version"]
    return version


def _directory(kind: str, type_name: str) -> Path:
    name = type_name.removeprefix("aws_").replace("_", "-")
    return PACKAGE / "lib" / (f"data-aws-{name}" if kind == "data" else name)


def _attr_blocks(js: str) -> dict[str, str]:
    """Converter name (``""`` for the resource itself) -> the text of its ``attrs`` literal."""
    blocks: dict[str, str] = {}
    for match in re.finditer(
        r"(?:function (\w+)ToHclTerraform\(struct\)|synthesizeHclAttributes\(\)) \{", js
    ):
        start = js.index("const attrs = ", match.end()) + len("const attrs = ")
        if js.startswith("{}", start):  # nothing configurable (computed only)
            blocks[match.group(1) or ""] = ""
            continue
        end = js.index("\n        };" if match.group(1) is None else "\n    };", start)
        blocks[match.group(1) or ""] = js[start:end]
    return blocks


def _interfaces(dts: str) -> dict[str, dict[str, bool]]:
    """Interface name -> property -> required."""
    return {
        m.group(1): {p.group(1): p.group(2) is None for p in _MEMBER.finditer(m.group(2))}
        for m in _INTERFACE.finditer(dts)
    }


@cache
def schema_of(kind: str, type_name: str) -> Schema | None:
    """The schema of ``resource`` or ``data`` ``type_name``; None if the package lacks it."""
    directory = _directory(kind, type_name)
    js_path, dts_path = directory / "index.js", directory / "index.d.ts"
    if not js_path.is_file() or not dts_path.is_file():
        return None
    js = js_path.read_text(encoding="utf-8")
    dts = dts_path.read_text(encoding="utf-8")
    blocks = _attr_blocks(js)
    interfaces = _interfaces(dts)
    found = _CLASS.search(dts)
    if found is None:
        return None
    root_interface = f"{found.group(1)}Config"

    def build(converter: str, interface: str, seen: frozenset[str]) -> Schema:
        schema = Schema()
        required = interfaces.get(interface, {})
        for entry in _ENTRY.finditer(blocks.get(converter, "")):
            name, value, is_block = entry.group(1), entry.group(2), entry.group(3) == "true"
            prop = _PROPERTY.search(value)
            needed = bool(prop and required.get(prop.group(1), False))
            child = None
            if is_block:
                inner = _CONVERTER.search(value)
                if inner and inner.group(1) not in seen:
                    sub = inner.group(1)
                    child = build(sub, sub[0].upper() + sub[1:], seen | {sub})
            opaque = value.startswith("cdktf.anyToHclTerraform(")
            schema.fields[name] = Field(is_block, needed, child, opaque)
        return schema

    return build("", root_interface, frozenset())
