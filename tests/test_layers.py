"""The layering of DESIGN.md, as a test: every import statement of our code, read
from its syntax tree (imports inside functions too), against four rules.

- ``mesh`` (the runtime) imports no service and not the gateway;
- a service imports no other service: services talk over gRPC only;
- the gateway imports no service: it knows them through their contracts;
- the workflow's functions import no service and not the gateway: they are
  mesh clients and call services over gRPC (and the runtime imports no function).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "__init__.py").exists())


def imported_modules(tree: ast.AST, module: str) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in ``tree``; ``module`` resolves relative ones."""
    package = module.split(".")
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - node.level], *filter(None, [base])])
            # `from services import orders` imports services.orders.
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def forbidden(importer: str, imported: str) -> str | None:
    """Why ``importer`` may not import ``imported``, or None."""
    top, _, rest = imported.partition(".")
    target_service = rest.split(".")[0] if top == "services" and rest else ""
    layer = importer.split(".")[0]
    if layer == "mesh" and top in ("services", "gateway", "functions"):
        return "the runtime imports no service, no function and not the gateway"
    if layer == "functions" and top in ("services", "gateway"):
        return "a function calls services over gRPC, it imports none"
    if layer == "gateway" and top == "services":
        return "the gateway imports no service"
    if layer == "services" and target_service:
        own = importer.split(".")[1] if importer.count(".") else ""
        if target_service in SERVICES and target_service != own:
            return "a service imports no other service"
    return None


def violations(root: Path, packages: tuple[str, ...]) -> list[str]:
    found = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            importer = module_name(path, root)
            tree = ast.parse(path.read_text(), str(path))
            for line, imported in imported_modules(tree, importer):
                why = forbidden(importer, imported)
                if why:
                    found.append(f"{path.relative_to(root)}:{line}: {imported}: {why}")
    return found


def test_the_code_keeps_its_layers() -> None:
    assert violations(ROOT, ("mesh", "gateway", "services", "functions")) == []


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("mesh/x.py", "from services.orders import store\n"),
        ("mesh/x.py", "def f():\n    import gateway.app\n"),
        ("gateway/x.py", "from services.catalog.servicer import CatalogServicer\n"),
        ("services/orders/x.py", "from services.inventory.servicer import validate_lines\n"),
        ("services/orders/x.py", "from services import inventory\n"),
        ("services/orders/sub/x.py", "from ...inventory import store\n"),
        ("functions/x.py", "from services.orders.store import OrdersStore\n"),
        ("mesh/x.py", "from functions.handler import lambda_handler\n"),
    ],
)
def test_a_break_of_the_layers_is_caught(tmp_path: Path, path: str, source: str) -> None:
    """The checker itself can fail: each rule catches a planted import."""
    file = tmp_path / path
    file.parent.mkdir(parents=True)
    file.write_text(source)
    assert len(violations(tmp_path, (path.split("/")[0],))) >= 1


def test_own_service_and_runtime_imports_are_allowed(tmp_path: Path) -> None:
    file = tmp_path / "services" / "orders" / "x.py"
    file.parent.mkdir(parents=True)
    file.write_text(
        "from services.orders.store import OrdersStore\nfrom mesh.errors import NotFound\n"
    )
    assert violations(tmp_path, ("services",)) == []
