"""scripts/package-functions: the Lambda zip holds every function and what it imports.

The real build downloads Linux wheels (PyPI through pip) once per dependency
set and keeps them in ``.tools/functions-deps``; later runs only zip. It is
built twice: for the Lambda runtime's Python (3.12: the wheels resolve, every
native extension is for 3.12), and for the Python running the tests, whose
zip is unpacked and imported by a bare interpreter (``-S``: no site-packages)
with only the package and a stand-in for what Lambda's runtime provides
(boto3 and its dependencies) on its path. With ``LAMBDA_PYTHON`` set to a 3.12
interpreter, or ``python3.12`` on PATH, the 3.12 zip is imported that way too.

The rest is fast: which files go in, reproducible bytes, and refusals.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mesh.topology import load_topology
from scripts import package_functions as pf
from tests.deploy.terraform import ROOT

SCRIPT = ROOT / "scripts" / "package_functions.py"
FUNCTIONS = sorted(load_topology(ROOT / "services.yaml").functions)
CACHE = ROOT / ".tools" / "functions-deps"
RUNNING = f"{sys.version_info.major}.{sys.version_info.minor}"


def _run(*args: str, root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


@pytest.fixture
def fake_root(tmp_path: Path) -> Path:
    """A copy of what the script reads: services.yaml, pyproject.toml, functions/, mesh/, gen/shop."""
    root = tmp_path / "repo"
    root.mkdir()
    for name in ("services.yaml", "pyproject.toml"):
        shutil.copy(ROOT / name, root / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "functions", root / "functions", ignore=ignore)
    shutil.copytree(ROOT / "mesh", root / "mesh", ignore=ignore)
    shutil.copytree(ROOT / "gen" / "shop", root / "gen" / "shop", ignore=ignore)
    return root


# -- what goes in ----------------------------------------------------------------


def test_the_package_holds_every_function_the_runtime_and_the_stubs() -> None:
    names = [entry.arcname for entry in pf.entries(ROOT, None)]
    assert names == sorted(names), "entries must be sorted for reproducible bytes"
    assert len(names) == len(set(names))
    for function in FUNCTIONS:
        assert f"functions/{function}.py" in names
    for required in ("functions/__init__.py", "mesh/__init__.py", "shop/__init__.py"):
        assert required in names
    assert "services.yaml" in names  # Lambda's working directory is the zip's root
    assert any(n.startswith("shop/orders/v1/") and n.endswith("_pb2.py") for n in names)
    tops = {n.split("/")[0] for n in names}
    assert tops == {"functions", "mesh", "shop", "services.yaml"}, "no services, gateway or tests"
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".pyo"))]


def test_the_requirements_are_the_projects_minus_the_left_out_ones() -> None:
    names = {re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0].lower() for r in pf.requirements(ROOT)}
    assert "grpcio" in names and "protobuf" in names and "pyyaml" in names
    assert not names & (pf.PROVIDED_BY_RUNTIME | pf.SERVER_ONLY)
    pins = pf.pinned_versions()
    assert "grpcio==" + importlib.metadata.version("grpcio") in pins


def test_the_same_inputs_give_the_same_bytes(tmp_path: Path) -> None:
    items = pf.entries(ROOT, None)
    first, second = tmp_path / "a" / "functions.zip", tmp_path / "b" / "functions.zip"
    pf.write_zip(items, first)
    os.utime(ROOT / "functions" / f"{FUNCTIONS[0]}.py")  # a touched file changes nothing
    pf.write_zip(pf.entries(ROOT, None), second)
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == [e.arcname for e in items]
    assert {i.date_time for i in infos} == {pf.EPOCH}
    assert {i.external_attr >> 16 for i in infos} == {0o100644}


def test_the_dependencies_leave_out_console_scripts(tmp_path: Path) -> None:
    deps = tmp_path / "deps"
    (deps / "bin").mkdir(parents=True)
    (deps / "bin" / "tool").write_text("#!/some/python\n", encoding="utf-8")
    (deps / "lib_a").mkdir()
    (deps / "lib_a" / "__init__.py").write_text("", encoding="utf-8")
    (deps / ".complete").write_text("", encoding="utf-8")
    names = [e.arcname for e in pf.entries(ROOT, deps)]
    assert "lib_a/__init__.py" in names
    assert not [n for n in names if n.startswith("bin/") or n == ".complete"]


def test_a_dependency_that_shadows_our_package_is_refused(tmp_path: Path) -> None:
    deps = tmp_path / "deps"
    (deps / "mesh").mkdir(parents=True)
    (deps / "mesh" / "__init__.py").write_text("", encoding="utf-8")
    with pytest.raises(pf.PackageError, match=r"mesh/__init__\.py comes from both"):
        pf.entries(ROOT, deps)


# -- refusals (before pip runs) -----------------------------------------------------


def test_a_function_without_its_module_is_refused(fake_root: Path) -> None:
    (fake_root / "functions" / f"{FUNCTIONS[0]}.py").unlink()
    run = _run(root=fake_root)
    assert run.returncode == 1
    assert f"function {FUNCTIONS[0]!r} has no handler module" in run.stderr


def test_a_module_without_a_handler_is_refused(fake_root: Path) -> None:
    (fake_root / "functions" / f"{FUNCTIONS[0]}.py").write_text("x = 1\n", encoding="utf-8")
    run = _run(root=fake_root)
    assert run.returncode == 1
    assert "defines no top-level handler" in run.stderr


def test_a_module_that_does_not_parse_is_refused(fake_root: Path) -> None:
    (fake_root / "functions" / f"{FUNCTIONS[-1]}.py").write_text(
        "def handler(event, context:\n", encoding="utf-8"
    )
    run = _run(root=fake_root)
    assert run.returncode == 1
    assert f"{FUNCTIONS[-1]}.py:1: not valid Python" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_handler_without_an_entry_is_refused(fake_root: Path) -> None:
    (fake_root / "functions" / "refund.py").write_text(
        "def handler(event, context):\n    return {}\n", encoding="utf-8"
    )
    run = _run(root=fake_root)
    assert run.returncode == 1
    assert "refund.py: a handler with no entry" in run.stderr


def test_no_functions_and_a_broken_service_list_are_refused(fake_root: Path) -> None:
    services = fake_root / "services.yaml"
    text = services.read_text(encoding="utf-8")
    services.write_text(text.split("\nfunctions:")[0] + "\n", encoding="utf-8")
    run = _run(root=fake_root)
    assert run.returncode == 1
    assert "no functions map" in run.stderr
    services.write_text(text.replace("depends_on: [inventory]", "depends_on: [nowhere]"), "utf-8")
    run = _run(root=fake_root)
    assert run.returncode == 1
    assert "'nowhere' is not a grpc service" in run.stderr
    services.write_text("functions: [\n", encoding="utf-8")
    run = _run(root=fake_root)
    assert run.returncode == 1
    assert "not valid YAML" in run.stderr


def test_missing_stubs_and_bad_arguments_are_refused(fake_root: Path) -> None:
    shutil.rmtree(fake_root / "gen")
    run = _run(root=fake_root)
    assert run.returncode == 1
    assert "run scripts/codegen.py" in run.stderr
    run = _run("--python-version", "3.12; rm -rf /", root=fake_root)
    assert run.returncode == 2
    assert "--python-version must look like 3.12" in run.stderr
    assert not (fake_root / "dist").exists()


# -- the real build -------------------------------------------------------------------


def _runtime_stand_in(directory: Path) -> Path:
    """What Lambda's Python runtime provides beside the zip: boto3 and its dependencies."""
    directory.mkdir()
    todo, seen = ["boto3"], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        dist = importlib.metadata.distribution(name)
        for requirement in dist.requires or []:
            if "extra ==" not in requirement:
                todo.append(re.split(r"[\s\[<>=!~;(]", requirement, maxsplit=1)[0].lower())
        for file in dist.files or []:
            top = file.parts[0]
            if top.endswith((".dist-info", ".data")) or top in ("..", "bin"):
                continue
            source = Path(str(dist.locate_file(top)))
            if not (directory / top).exists() and source.exists():
                (directory / top).symlink_to(source)
    return directory


_IMPORT_CHECK = """
import sys
package, runtime = sys.argv[1], sys.argv[2]
sys.path[:0] = [package, runtime]
import importlib
from functions.runtime import FunctionRuntime, FunctionSettings
from mesh.topology import load_topology
topology = load_topology()
assert sorted(topology.functions) == sys.argv[3].split(","), sorted(topology.functions)
for name in topology.functions:
    module = importlib.import_module("functions." + name)
    assert callable(module.handler), name
    assert module.__file__.startswith(package), module.__file__
settings = FunctionSettings.from_env(name, {
    "MESH_REGISTRY": "cloudmap", "MESH_CLOUDMAP_NAMESPACE": "shop-dev.shop.local",
    "AWS_REGION": "eu-west-1", "MESH_DATA_DIR": "/tmp/mesh",
})
FunctionRuntime(settings, topology)
import grpc, google.protobuf, yaml
for mod in (grpc, google.protobuf, yaml):
    assert mod.__file__.startswith(package), mod.__file__
print("imported", len(topology.functions))
"""


def _import_from(python: str, zip_path: Path, workdir: Path) -> None:
    package = workdir / "task"
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(package)
    runtime = _runtime_stand_in(workdir / "runtime")
    run = subprocess.run(
        [python, "-S", "-c", _IMPORT_CHECK, str(package), str(runtime), ",".join(FUNCTIONS)],
        cwd=package,  # Lambda runs the handler in the package's root (/var/task)
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(workdir)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"imported {len(FUNCTIONS)}" in run.stdout


def _lambda_python() -> str | None:
    for candidate in (os.environ.get("LAMBDA_PYTHON"), shutil.which("python3.12")):
        if not candidate:
            continue
        probe = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 12))"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if probe.stdout.strip() == "True":
            return candidate
    return None


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The zip for Lambda's Python and for this one, from this checkout."""
    out = tmp_path_factory.mktemp("package")
    zips = {}
    for version in sorted({pf.LAMBDA_PYTHON, RUNNING}):
        run = subprocess.run(
            [
                sys.executable,
                str(SCRIPT),
                "--out",
                str(out / version),
                "--python-version",
                version,
                "--cache",
                str(CACHE),
            ],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert run.returncode == 0, run.stderr[-4000:]
        assert "source_code_hash: " in run.stdout
        zips[version] = out / version / pf.ZIP_NAME
    return zips


@pytest.mark.slow
def test_the_lambda_zip_has_linux_wheels_for_its_python(built: dict[str, Path]) -> None:
    with zipfile.ZipFile(built[pf.LAMBDA_PYTHON]) as archive:
        names = archive.namelist()
    native = [n for n in names if n.endswith(".so")]
    assert native, "no native extension: did the wheels install?"
    wrong = [n for n in native if ".abi3." not in n and "cpython-312-x86_64-linux-gnu" not in n]
    assert not wrong, f"extensions not built for Lambda's python3.12 on x86_64: {wrong[:5]}"
    assert any(n.startswith("grpc/_cython/cygrpc.cpython-312") for n in names)
    tops = {n.split("/")[0] for n in names}
    assert not tops & {"boto3", "botocore", "sqlalchemy", "uvicorn", "bin"}
    size = built[pf.LAMBDA_PYTHON].stat().st_size
    assert size < pf.MAX_ZIPPED


@pytest.mark.slow
def test_every_function_imports_from_the_unpacked_zip(
    built: dict[str, Path], tmp_path: Path
) -> None:
    _import_from(sys.executable, built[RUNNING], tmp_path / "running")
    lambda_python = _lambda_python()
    if lambda_python is not None:
        _import_from(lambda_python, built[pf.LAMBDA_PYTHON], tmp_path / "lambda")
