"""Every .tf file parses, and every module is documented the same way."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.deploy.terraform import (
    ENV,
    MODULES,
    ROOT,
    TERRAFORM,
    Module,
    all_modules,
    parse,
    tf_files,
)

KNOWN_BLOCKS = {
    "terraform",
    "provider",
    "variable",
    "output",
    "locals",
    "resource",
    "data",
    "module",
    "ephemeral",
}
EXPECTED_MODULES = {
    "network",
    "discovery",
    "ecs_service",
    "data",
    "api_gateway",
    "ecr",
    "identity",
    "stream_api",
    "cache",
    "observability",
    "table",
    "web",
    "workflow",
}


def test_the_expected_modules_exist() -> None:
    assert {p.name for p in MODULES.iterdir() if p.is_dir()} == EXPECTED_MODULES


@pytest.mark.parametrize("path", tf_files(), ids=lambda p: str(p.relative_to(TERRAFORM)))
def test_file_parses(path: Path) -> None:
    parsed = parse(path)
    assert parsed, f"{path.name} is empty"
    assert set(parsed) <= KNOWN_BLOCKS, f"unexpected top-level blocks: {set(parsed) - KNOWN_BLOCKS}"


@pytest.mark.parametrize("module", all_modules(), ids=lambda m: m.name)
def test_every_variable_is_typed_and_described(module: Module) -> None:
    for name, body in module.variables.items():
        assert "type" in body, f"{module.name}: variable {name} has no type"
        assert str(body.get("description", "")).strip(), (
            f"{module.name}: variable {name} has no description"
        )


@pytest.mark.parametrize("module", all_modules(), ids=lambda m: m.name)
def test_every_output_is_described(module: Module) -> None:
    for name, body in module.outputs.items():
        assert str(body.get("description", "")).strip(), (
            f"{module.name}: output {name} has no description"
        )


@pytest.mark.parametrize("module", all_modules(), ids=lambda m: m.name)
def test_free_form_inputs_are_validated(module: Module) -> None:
    # Booleans, tag maps and plain lists of ids have nothing to validate.
    exempt = {"bool", "map(string)"}
    missing = [
        name
        for name, body in module.variables.items()
        if body["type"] not in exempt and name != "tags" and "validation" not in body
    ]
    assert not missing, f"{module.name}: variables without a validation block: {missing}"


@pytest.mark.parametrize("module", all_modules(), ids=lambda m: m.name)
def test_every_module_pins_terraform_and_the_provider(module: Module) -> None:
    blocks = [b for parsed in module.everything for b in parsed.get("terraform", [])]
    assert blocks, f"{module.name}: no terraform block"
    block = blocks[0]
    assert "required_version" in block
    providers = block["required_providers"]
    providers = providers[0] if isinstance(providers, list) else providers
    assert providers["aws"]["source"] == "hashicorp/aws"
    assert "version" in providers["aws"]


def test_state_is_local_by_default_and_s3_is_documented() -> None:
    env = all_modules()[0]
    assert env.path == ENV
    for parsed in env.everything:
        for block in parsed.get("terraform", []):
            assert "backend" not in block, (
                "the default is local state; S3 lives in backend.tf.example"
            )
    example = (ENV / "backend.tf.example").read_text(encoding="utf-8")
    assert 'backend "s3"' in example
    assert "use_lockfile = true" in example


def test_tfvars_example_sets_only_declared_variables() -> None:
    env = all_modules()[0]
    text = (ENV / "terraform.tfvars.example").read_text(encoding="utf-8")
    uncommented = "\n".join(line.lstrip("# ") for line in text.splitlines())
    assigned = {
        line.split("=", 1)[0].strip()
        for line in uncommented.splitlines()
        if "=" in line and line[:1].isalpha() and not line.startswith(("issuer", "audience"))
    }
    assert assigned, "terraform.tfvars.example sets nothing"
    assert assigned <= set(env.variables), f"undeclared: {assigned - set(env.variables)}"
    assert env.required_inputs() <= {
        line.split("=", 1)[0].strip() for line in text.splitlines() if line[:1].isalpha()
    }, "every required variable must be set (uncommented) in the example"


def test_the_deploy_guide_names_real_outputs_and_variables() -> None:
    env = all_modules()[0]
    guide = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    outputs = set(re.findall(r"output -raw ([a-z_]+)", guide))
    assert outputs, "docs/deploy.md reads no terraform output"
    assert outputs <= set(env.outputs), f"unknown outputs: {outputs - set(env.outputs)}"
    variables = set(re.findall(r"-var ([a-z_]+)=", guide))
    assert variables <= set(env.variables), f"unknown variables: {variables - set(env.variables)}"
    for required in ("api_url", "cloudmap_namespace", "ecs_cluster_name", "ecr_repository_url"):
        assert required in env.outputs


def test_the_secret_reference_rule_takes_whole_secrets_and_json_keys() -> None:
    """ECS reads a plain-string secret by its bare ARN (the page-token key) and one key of
    a JSON secret as ARN:KEY:: (the database); the module's validation must take both."""
    module = next(m for m in all_modules() if m.name == "modules/ecs_service")
    condition = str(module.variables["secrets"]["validation"][0]["condition"])
    pattern = re.search(r'regex\("(.+?)", v\)', condition)
    assert pattern is not None, condition
    rule = re.compile(pattern.group(1).replace("\\\\", "\\"))
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop-dev/page-token-AbCdEf"
    assert rule.match(arn)
    assert rule.match(arn + ":password::")
    assert not rule.match("arn:aws:ssm:eu-west-1:123456789012:parameter/x")
    assert not rule.match(arn + ":password:")
