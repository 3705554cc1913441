"""``scripts/new-service NAME``: a working service in the shape of the existing ones.

    python -m mesh.scaffold carts --store redis --depends-on catalog,orders

Writes the contract (``protos/shop/NAME/v1/NAME.proto``, resource-oriented, with
``google.api.http`` rules and access options: scopes ``NAME.read`` and
``NAME.write``), ``services/NAME/`` (app with ``open_store``/``build_unit``,
servicer, store port and its adapter, models and migrations for ``sql``),
integration tests, and the services.yaml entry (the next free port, the
gateway's ``depends_on``), then regenerates the stubs and Terraform's
``access.json``. Everything is checked before anything is written; if a
later step fails, what was written is removed and the two files restored.
"""

from __future__ import annotations

import argparse
import keyword
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

import yaml

from mesh.topology import STORE_KINDS, StoreKind, Topology, TopologyError, parse_topology

__all__ = ["Plan", "ScaffoldError", "main", "plan", "write"]

NAME = re.compile(r"^[a-z][a-z0-9]{1,29}\Z")
RESOURCE = re.compile(r"^[a-z][a-z0-9]{0,29}\Z")
# Names that would shadow a package of ours, a proto package, or a tool.
RESERVED = frozenset(
    {
        "api",
        "type",
        "shop",
        "mesh",
        "gateway",
        "services",
        "tests",
        "test",
        "gen",
        "google",
        "scripts",
        "deploy",
        "protos",
        "web",
        "functions",
        "benchmarks",
        "grpc",
        "all",
        "none",
    }
)
TEMPLATES = Path(__file__).resolve().parent / "templates"
FIRST_PORT = 50051


class ScaffoldError(ValueError):
    """The request cannot be scaffolded as asked; nothing was written."""


@dataclass
class Plan:
    root: Path
    name: str
    store: StoreKind
    port: int
    depends_on: tuple[str, ...]
    replicas: int
    resource: str
    collection: str
    files: dict[Path, str] = field(default_factory=dict)
    services_yaml: str = ""


def _camel(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


def _render(template: str, values: dict[str, str]) -> str:
    return Template((TEMPLATES / template).read_text(encoding="utf-8")).substitute(values)


def _used_paths(root: Path) -> set[str]:
    """The first path segment after /v1/ of every HTTP rule in the contracts."""
    used: set[str] = set()
    for proto in (root / "protos").rglob("*.proto"):
        used |= set(re.findall(r'"/v1/\{?(?:[a-z_.]+=)?([a-z][a-z0-9_-]*)', proto.read_text()))
    return used


def plan(
    root: Path,
    name: str,
    *,
    store: str = "sql",
    port: int | None = None,
    depends_on: tuple[str, ...] = (),
    replicas: int | None = None,
    resource: str | None = None,
) -> Plan:
    """Check everything and render every file; raises ScaffoldError naming what is wrong."""
    if not NAME.match(name):
        raise ScaffoldError(
            f"service name {name[:40]!r} must be 2-30 lower-case letters and digits, "
            "starting with a letter (it becomes a Python package and a proto package)"
        )
    if keyword.iskeyword(name) or keyword.issoftkeyword(name) or name in RESERVED:
        raise ScaffoldError(f"service name {name!r} is reserved")
    kind = next((k for k in STORE_KINDS if k == store), None)
    if kind is None:
        raise ScaffoldError(f"--store {store!r}: must be one of {', '.join(STORE_KINDS)}")
    yaml_path = root / "services.yaml"
    text = yaml_path.read_text(encoding="utf-8")
    try:
        topology = parse_topology(yaml.safe_load(text), source=str(yaml_path))
    except TopologyError as exc:
        raise ScaffoldError(f"services.yaml is broken; fix it first: {exc}") from None
    if name in topology.services:
        raise ScaffoldError(f"service {name!r} already exists in services.yaml")
    for taken in (root / "services" / name, root / "protos" / "shop" / name):
        if taken.exists():
            raise ScaffoldError(f"{taken.relative_to(root)} already exists")
    ports = {s.port: s.name for s in topology.services.values()}
    if port is None:
        port = max(p for p in ports if p < 60000) + 1 if ports else FIRST_PORT
        while port in ports:
            port += 1
    if not 1024 <= port <= 65535:
        raise ScaffoldError(f"--port {port}: must be in 1024..65535")
    if port in ports:
        raise ScaffoldError(f"--port {port} is taken by {ports[port]!r}")
    for dep in depends_on:
        if dep not in topology.services or topology.services[dep].protocol != "grpc":
            raise ScaffoldError(f"--depends-on {dep!r}: not a grpc service of services.yaml")
    replicas = replicas if replicas is not None else (1 if kind == "none" else 2)
    if not 1 <= replicas <= 16:
        raise ScaffoldError(f"--replicas {replicas}: must be in 1..16")
    resource = resource or (name[:-1] if name.endswith("s") and len(name) > 2 else name)
    if not RESOURCE.match(resource) or keyword.iskeyword(resource):
        raise ScaffoldError(f"--resource {resource!r}: must be a lower-case identifier")
    collection = resource + "s"
    if collection in _used_paths(root):
        raise ScaffoldError(f"the REST path /v1/{collection} is already routed by another contract")
    result = Plan(root, name, kind, port, tuple(depends_on), replicas, resource, collection)
    result.services_yaml = _with_entry(text, topology, result)
    _render_files(result)
    return result


def _with_entry(text: str, topology: Topology, p: Plan) -> str:
    """services.yaml with the new entry before the gateway's and the gateway routing to it."""
    fronts = [s.name for s in topology.services.values() if s.protocol == "http"]
    lines = text.splitlines(keepends=True)
    entry = [
        f"  {p.name}:\n",
        f"    module: services.{p.name}\n",
        f"    grpc_service: shop.{p.name}.v1.{_camel(p.name)}Service\n",
        f"    port: {p.port}\n",
        "    protocol: grpc\n",
        f"    depends_on: [{', '.join(p.depends_on)}]\n",
        f"    replicas: {p.replicas}\n",
        f"    store: {p.store}\n",
    ]
    for front in fronts:
        start = next((i for i, line in enumerate(lines) if line == f"  {front}:\n"), None)
        if start is None:
            raise ScaffoldError(f"services.yaml: cannot find the line '  {front}:'")
        for i in range(start + 1, len(lines)):
            match = re.fullmatch(r"(    depends_on: \[)(.*)(\]\s*)", lines[i])
            if match:
                deps = [d.strip() for d in match.group(2).split(",") if d.strip()]
                lines[i] = f"{match.group(1)}{', '.join([*deps, p.name])}{match.group(3)}"
                break
            if re.match(r"  \S", lines[i]):
                raise ScaffoldError(
                    f"services.yaml: {front} needs a one-line 'depends_on: [...]' to edit"
                )
    at = next(
        (i for i, line in enumerate(lines) if fronts and line == f"  {fronts[0]}:\n"), len(lines)
    )
    new_text = "".join([*lines[:at], *entry, *lines[at:]])
    try:
        parse_topology(yaml.safe_load(new_text))
    except TopologyError as exc:
        raise ScaffoldError(f"the new services.yaml would be invalid: {exc}") from None
    return new_text


def _render_files(p: Plan) -> None:
    values = {
        "name": p.name,
        "Name": _camel(p.name),
        "resource": p.resource,
        "Resource": _camel(p.resource),
        "RESOURCE": p.resource.upper(),
        "collection": p.collection,
        "store": p.store,
        "variants": repr(
            {
                "sql": ["sql"],
                "redis": ["redis", "embedded"],
                "dynamodb": ["dynamodb"],
                "none": ["none"],
            }[p.store]
        ),
    }
    values["common"] = _render("store_common.tmpl", values)
    service = Path("services") / p.name
    store = {"sql": "store_sql", "redis": "store_kv", "dynamodb": "store_kv"}.get(
        p.store, "store_none"
    )
    adapter = {"store_sql": "Sql", "store_kv": "Kv", "store_none": "Memory"}[store]
    exported = [
        f"{values['Name']}Store",
        f"{values['Resource']}Record",
        f"{adapter}{values['Name']}Store",
    ]
    values["all"] = "[" + ", ".join(f'"{n}"' for n in sorted(exported)) + "]"
    app = {"sql": "app_sql", "redis": "app_kv", "dynamodb": "app_kv"}.get(p.store, "app_none")
    files = {
        Path("protos/shop") / p.name / "v1" / f"{p.name}.proto": "proto.tmpl",
        service / "__init__.py": None,
        service / "__main__.py": "main.tmpl",
        service / "app.py": f"{app}.tmpl",
        service / "servicer.py": "servicer.tmpl",
        service / "store.py": f"{store}.tmpl",
        Path("tests/integration/services") / f"test_{p.name}.py": "test.tmpl",
    }
    if p.store == "sql":
        files[service / "models.py"] = "models.tmpl"
        files[service / "migrations" / "env.py"] = "migration_env.tmpl"
        files[service / "migrations" / "versions" / f"0001_{p.collection}.py"] = (
            "migration_0001.tmpl"
        )
    for path, template in files.items():
        p.files[path] = _render(template, values) if template else f'"""The {p.name} service."""\n'


GUIDE = Path("docs/deploy.md")
_SCOPE_TABLE = "| scope | allows | routes |"


def _with_scopes(guide: str, p: Plan) -> str:
    """The deploy guide's scope table with the new service's two scopes appended, so
    the guide keeps saying what every scope allows (a test holds it to that)."""
    start = guide.find(_SCOPE_TABLE)
    if start < 0:
        return guide
    end = guide.find("\n\n", start)
    end = len(guide) if end < 0 else end
    rows = (
        f"\n| `{p.name}.read` | read {p.collection} (written by scripts/new-service: say "
        f"what it allows) | the `GET` routes of `shop.{p.name}.v1` |"
        f"\n| `{p.name}.write` | create and delete {p.collection} (written by "
        f"scripts/new-service) | the other routes of `shop.{p.name}.v1` |"
    )
    return guide[:end] + rows + guide[end:]


def write(p: Plan, *, python: str = sys.executable) -> None:
    """Write the plan, regenerate stubs and access.json; on failure undo everything."""
    yaml_path = p.root / "services.yaml"
    access = p.root / "deploy/terraform/envs/dev/access.json"
    guide = p.root / GUIDE
    saved = {path: path.read_bytes() for path in (yaml_path, access, guide) if path.exists()}
    made: list[Path] = []
    try:
        for rel, content in p.files.items():
            target = p.root / rel
            for parent in reversed([target.parent, *target.parent.parents]):
                if not parent.exists():
                    parent.mkdir()
                    made.append(parent)
            target.write_text(content, encoding="utf-8")
            made.append(target)
        yaml_path.write_text(p.services_yaml, encoding="utf-8")
        if guide.exists():
            guide.write_text(_with_scopes(guide.read_text(encoding="utf-8"), p), encoding="utf-8")
        for script in ("scripts/codegen.py", "scripts/access_manifest.py"):
            step = subprocess.run(
                [python, script], cwd=p.root, capture_output=True, text=True, timeout=300
            )
            if step.returncode != 0:
                raise ScaffoldError(f"{script} failed:\n{step.stdout}{step.stderr}")
    except BaseException:
        for path in reversed(made):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        for path, original in saved.items():
            path.write_bytes(original)
        subprocess.run([python, "scripts/codegen.py"], cwd=p.root, capture_output=True, check=False)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/new-service", description=__doc__.splitlines()[0]
    )
    parser.add_argument("name", help="the service: lower-case letters and digits, e.g. carts")
    parser.add_argument("--store", default="sql", help="sql (default), redis, dynamodb or none")
    parser.add_argument("--port", type=int, help="its gRPC port (default: the next free one)")
    parser.add_argument("--depends-on", default="", help="services it calls, comma-separated")
    parser.add_argument("--replicas", type=int, help="replicas (default 2; 1 with --store none)")
    parser.add_argument("--resource", help="its resource, singular (default: NAME minus an s)")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the repository")
    opts = parser.parse_args(argv)
    try:
        made = plan(
            opts.root.resolve(),
            opts.name,
            store=opts.store,
            port=opts.port,
            depends_on=tuple(d.strip() for d in opts.depends_on.split(",") if d.strip()),
            replicas=opts.replicas,
            resource=opts.resource,
        )
        write(made)
    except (ScaffoldError, OSError) as exc:
        print(f"new-service: {exc}", file=sys.stderr)
        return 2
    print(f"created service {made.name!r} (store: {made.store}, port {made.port}):")
    for rel in made.files:
        print(f"  {rel}")
    print("  services.yaml, deploy/terraform/envs/dev/access.json (updated)")
    print(f"next: scripts/test tests/integration/services/test_{made.name}.py; scripts/run")
    return 0
