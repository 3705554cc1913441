"""scripts/deploy-web against moto's S3 and CloudFront (server mode, real boto3).

A small fake build stands in for web/dist; ``terraform`` and ``npm`` are
stand-in scripts on PATH where a test needs them (neither runs here for real).
Every refused input leaves the bucket empty and invalidates nothing.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from deploy.web.__main__ import main
from deploy.web.publish import MANIFEST_KEY, publish, upload_order
from deploy.web.site import (
    IMMUTABLE,
    MAX_FILE_BYTES,
    MAX_FILES,
    MAX_TOTAL_BYTES,
    NO_CACHE,
    read_site,
)
from deploy.web.target import Target, config_json, resolve_target
from tests.deploy.terraform import ROOT
from tests.integration.discovery.support import REGION
from tests.support.moto import moto_server

URL = "https://d1example.cloudfront.net"
AUTH_DOMAIN = f"https://shop-dev-1a2b3c.auth.{REGION}.amazoncognito.com"
CLIENT_ID = "4m2k8example0client0id0abcd"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


@dataclass
class Site:
    """A bucket and a distribution serving it, in moto."""

    bucket: str
    distribution_id: str
    s3: Any
    cloudfront: Any

    def flags(self, dist: Path, *extra: str) -> list[str]:
        return [
            "--skip-build",
            "--dist",
            str(dist),
            "--bucket",
            self.bucket,
            "--distribution-id",
            self.distribution_id,
            "--region",
            REGION,
            "--url",
            URL,
            *extra,
        ]

    def objects(self) -> set[str]:
        listed = self.s3.list_objects_v2(Bucket=self.bucket)
        return {o["Key"] for o in listed.get("Contents", [])}

    def invalidations(self) -> list[list[str]]:
        listed = self.cloudfront.list_invalidations(DistributionId=self.distribution_id)
        paths = []
        for item in listed["InvalidationList"].get("Items", []):
            one = self.cloudfront.get_invalidation(
                DistributionId=self.distribution_id, Id=item["Id"]
            )
            paths.append(one["Invalidation"]["InvalidationBatch"]["Paths"]["Items"])
        return paths

    def untouched(self) -> bool:
        return not self.objects() and not self.invalidations()


_counter = iter(range(10_000))


def _distribution(cloudfront: Any, bucket: str) -> str:
    made = cloudfront.create_distribution(
        DistributionConfig={
            "CallerReference": f"test-{next(_counter)}",
            "Comment": "storefront",
            "Enabled": True,
            "Origins": {
                "Quantity": 1,
                "Items": [
                    {
                        "Id": "site",
                        "DomainName": f"{bucket}.s3.{REGION}.amazonaws.com",
                        "S3OriginConfig": {"OriginAccessIdentity": ""},
                    }
                ],
            },
            "DefaultCacheBehavior": {
                "TargetOriginId": "site",
                "ViewerProtocolPolicy": "redirect-to-https",
            },
        }
    )
    distribution_id: str = made["Distribution"]["Id"]
    return distribution_id


@pytest.fixture
def site(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Site:
    # boto3 reads AWS_ENDPOINT_URL itself: the script's clients reach moto unchanged.
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    s3 = boto3.client("s3", region_name=REGION)
    cloudfront = boto3.client("cloudfront", region_name=REGION)
    bucket = f"shop-dev-web-{next(_counter)}"
    s3.create_bucket(Bucket=bucket)
    return Site(bucket, _distribution(cloudfront, bucket), s3, cloudfront)


def _write(root: Path, files: dict[str, bytes | str]) -> Path:
    for key, body in files.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body.encode() if isinstance(body, str) else body)
    return root


BUILD: dict[str, bytes | str] = {
    "index.html": '<!doctype html><script type="module" src="/assets/index-a1b2c3.js"></script>',
    "assets/index-a1b2c3.js": "console.log('shop')",
    "assets/index-d4e5f6.css": "body{margin:0}",
    "assets/logo-0f9e8d.svg": "<svg xmlns='http://www.w3.org/2000/svg'/>",
    "assets/inter-7c6b5a.woff2": b"wOF2\x00\x01",
    "favicon.ico": b"\x00\x00\x01\x00",
    "robots.txt": "User-agent: *\n",
}


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    return _write(tmp_path / "dist", BUILD)


def _deploy(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- a deploy ---------------------------------------------------------------------


def test_a_deploy_uploads_every_file_with_its_type_and_caching_then_invalidates(
    site: Site, dist: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = site.flags(
        dist,
        "--auth-domain",
        AUTH_DOMAIN,
        "--client-id",
        CLIENT_ID,
        "--scope",
        "openid",
        "--scope",
        "shop/orders.read",
    )
    code, out, err = _deploy(argv, capsys)
    assert code == 0, err
    assert out.strip().splitlines()[-1] == URL
    assert site.objects() == {*BUILD, "config.json", MANIFEST_KEY}

    expected = {
        "index.html": ("text/html; charset=utf-8", NO_CACHE),
        "config.json": ("application/json", NO_CACHE),
        "favicon.ico": ("image/x-icon", NO_CACHE),
        "robots.txt": ("text/plain; charset=utf-8", NO_CACHE),
        "assets/index-a1b2c3.js": ("text/javascript; charset=utf-8", IMMUTABLE),
        "assets/index-d4e5f6.css": ("text/css; charset=utf-8", IMMUTABLE),
        "assets/logo-0f9e8d.svg": ("image/svg+xml", IMMUTABLE),
        "assets/inter-7c6b5a.woff2": ("font/woff2", IMMUTABLE),
    }
    for key, (content_type, cache_control) in expected.items():
        head = site.s3.head_object(Bucket=site.bucket, Key=key)
        assert (head["ContentType"], head["CacheControl"]) == (content_type, cache_control), key
    assert IMMUTABLE == "public, max-age=31536000, immutable"
    body = site.s3.get_object(Bucket=site.bucket, Key="assets/inter-7c6b5a.woff2")["Body"].read()
    assert body == BUILD["assets/inter-7c6b5a.woff2"]

    config = json.loads(site.s3.get_object(Bucket=site.bucket, Key="config.json")["Body"].read())
    assert config == {
        "apiBase": "/",
        "auth": {  # the app's contract (web/README.md)
            "authorizeUrl": f"{AUTH_DOMAIN}/oauth2/authorize",
            "tokenUrl": f"{AUTH_DOMAIN}/oauth2/token",
            "logoutUrl": f"{AUTH_DOMAIN}/logout",
            "clientId": CLIENT_ID,
            "scope": "openid shop/orders.read",
            "scopePrefix": "shop/",
        },
    }
    # Only the two names that change in place; never /*.
    assert site.invalidations() == [["/index.html", "/config.json"]]


def test_without_sign_in_settings_the_app_gets_auth_null(
    site: Site, dist: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _deploy(site.flags(dist), capsys)
    assert code == 0, err
    config = json.loads(site.s3.get_object(Bucket=site.bucket, Key="config.json")["Body"].read())
    assert config == {"apiBase": "/", "auth": None}


def test_the_builds_own_config_json_is_replaced(
    site: Site, dist: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (dist / "config.json").write_text('{"apiBase": "http://localhost:8080/"}')
    code, _, err = _deploy(site.flags(dist), capsys)
    assert code == 0, err
    assert "replaced" in err
    config = json.loads(site.s3.get_object(Bucket=site.bucket, Key="config.json")["Body"].read())
    assert config["apiBase"] == "/"


def test_the_page_goes_up_after_everything_it_names() -> None:
    keys = ["index.html", "assets/b-2.js", "config.json", "assets/a-1.css", "robots.txt"]
    assert upload_order(keys) == [
        "assets/a-1.css",
        "assets/b-2.js",
        "robots.txt",
        "config.json",
        "index.html",
    ]


def test_old_assets_stay_one_deploy_for_open_tabs_then_go(site: Site, tmp_path: Path) -> None:
    target = Target(site.bucket, site.distribution_id, REGION, URL, None)

    def deploy(n: int, shared: str = "assets/shared-000.js") -> Any:
        build = _write(
            tmp_path / f"dist{n}",
            {"index.html": f"v{n}", f"assets/app-{n:03}.js": f"app {n}", shared: "same"},
        )
        return publish(
            read_site(build), target, config_json(target), s3=site.s3, cloudfront=site.cloudfront
        )

    first = deploy(1)
    assert "assets/app-001.js" in first.uploaded and not first.deleted
    second = deploy(2)
    assert site.objects() >= {"assets/app-001.js", "assets/app-002.js"}
    assert second.kept == ["assets/app-001.js"]
    assert "assets/shared-000.js" in second.unchanged, "an asset already there is not sent again"
    third = deploy(3)
    assert third.deleted == ["assets/app-001.js"]
    assert third.kept == ["assets/app-002.js"]
    assert site.objects() == {
        "index.html",
        "config.json",
        "assets/app-002.js",
        "assets/app-003.js",
        "assets/shared-000.js",
        MANIFEST_KEY,
    }
    assert site.s3.get_object(Bucket=site.bucket, Key="index.html")["Body"].read() == b"v3"
    assert len(site.invalidations()) == 3


def test_files_no_deploy_made_are_removed_once_a_deploy_is_up(site: Site, dist: Path) -> None:
    site.s3.put_object(Bucket=site.bucket, Key="old/leftover.js", Body=b"x")
    target = Target(site.bucket, site.distribution_id, REGION, URL, None)
    report = publish(
        read_site(dist), target, config_json(target), s3=site.s3, cloudfront=site.cloudfront
    )
    assert report.deleted == ["old/leftover.js"]
    assert "old/leftover.js" not in site.objects()


# -- refused input: nothing uploaded, nothing invalidated ---------------------------


def _refused(
    site: Site, argv: list[str], capsys: pytest.CaptureFixture[str], *fragments: str
) -> None:
    code, out, err = _deploy(argv, capsys)
    assert code == 2
    assert out == ""
    assert err.splitlines()[-1].startswith("error: ")
    for fragment in fragments:
        assert fragment in err, err
    assert site.untouched()


def test_a_missing_build_directory(
    site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _refused(site, site.flags(tmp_path / "nope"), capsys, "no such directory")


def test_a_build_without_index_html(
    site: Site, dist: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (dist / "index.html").unlink()
    _refused(site, site.flags(dist), capsys, "no index.html")


def test_a_link_leading_out_of_the_build(
    site: Site, dist: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = tmp_path / "outside.txt"
    secret.write_text("not for the world")
    (dist / "assets" / "leak-123.js").symlink_to(secret)
    _refused(site, site.flags(dist), capsys, "assets/leak-123.js", "outside the build directory")


def test_a_linked_directory(
    site: Site, dist: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "elsewhere").mkdir()
    (dist / "more").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    _refused(site, site.flags(dist), capsys, "more: a linked directory")


def test_a_link_inside_the_build_is_a_copy(
    site: Site, dist: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (dist / "assets" / "alias-999.js").symlink_to(dist / "assets" / "index-a1b2c3.js")
    code, _, err = _deploy(site.flags(dist), capsys)
    assert code == 0, err
    body = site.s3.get_object(Bucket=site.bucket, Key="assets/alias-999.js")["Body"].read()
    assert body == b"console.log('shop')"


def test_a_pipe_in_the_build(site: Site, dist: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.mkfifo(dist / "assets" / "pipe")
    _refused(site, site.flags(dist), capsys, "assets/pipe: not a regular file")


@pytest.mark.parametrize(
    "name", ["assets/with space.js", ".env", "assets/.hidden.js", "assets/100%.js", "caf\u00e9.js"]
)
def test_a_name_that_is_not_a_plain_url_path(
    site: Site, dist: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    _write(dist, {name: "x"})
    _refused(site, site.flags(dist), capsys, "not a plain URL path")


def test_an_oversized_file(site: Site, dist: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with (dist / "assets" / "huge-1.js").open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)  # sparse: nothing is written
    _refused(site, site.flags(dist), capsys, "assets/huge-1.js", f"more than {MAX_FILE_BYTES}")


def test_too_many_files(site: Site, dist: Path, capsys: pytest.CaptureFixture[str]) -> None:
    many = dist / "assets" / "many"
    many.mkdir()
    for n in range(MAX_FILES):
        (many / f"f{n}.js").write_bytes(b"")
    _refused(site, site.flags(dist), capsys, f"more than {MAX_FILES} files")


def test_too_many_bytes_in_all(site: Site, dist: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for n in range(MAX_TOTAL_BYTES // MAX_FILE_BYTES + 1):
        with (dist / "assets" / f"big-{n}.js").open("wb") as handle:
            handle.truncate(MAX_FILE_BYTES)  # sparse
    _refused(site, site.flags(dist), capsys, f"more than {MAX_TOTAL_BYTES} bytes in all")


def test_an_unknown_environment(site: Site, dist: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _refused(
        site, [*site.flags(dist), "--env", "prod"], capsys, "unknown environment 'prod'", "dev"
    )


def test_a_bucket_that_does_not_exist(
    site: Site, dist: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = site.flags(dist)
    argv[argv.index("--bucket") + 1] = "shop-dev-web-missing"
    _refused(site, argv, capsys, "bucket shop-dev-web-missing does not exist")


def test_a_distribution_that_does_not_exist(
    site: Site, dist: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = site.flags(dist)
    argv[argv.index("--distribution-id") + 1] = "E0000000000000"
    _refused(site, argv, capsys, "distribution E0000000000000 does not exist")


def test_a_distribution_of_another_bucket(
    site: Site, dist: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = _distribution(site.cloudfront, "some-other-bucket")
    argv = site.flags(dist)
    argv[argv.index("--distribution-id") + 1] = other
    _refused(site, argv, capsys, f"has no origin in bucket {site.bucket}")


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--url", "http://d1example.cloudfront.net", "url"),
        ("--url", "https://d1example.cloudfront.net/app", "url"),
        ("--region", "mars-1", "region"),
        ("--bucket", "Shop_Dev", "bucket"),
        ("--distribution-id", "e1;rm", "distribution id"),
        ("--bucket", "x" * 300, "bucket"),
    ],
)
def test_malformed_flags(
    site: Site,
    dist: Path,
    capsys: pytest.CaptureFixture[str],
    flag: str,
    value: str,
    message: str,
) -> None:
    argv = site.flags(dist)
    argv[argv.index(flag) + 1] = value
    _refused(site, argv, capsys, message, "is not valid")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--client-id", CLIENT_ID], "--auth-domain and --client-id go together"),
        (["--auth-domain", "javascript:alert(1)", "--client-id", CLIENT_ID], "--auth-domain"),
        (["--auth-domain", AUTH_DOMAIN, "--client-id", "a b"], "client_id"),
        (
            ["--auth-domain", AUTH_DOMAIN, "--client-id", CLIENT_ID, "--scope", 'x"y'],
            "a scope",
        ),
    ],
)
def test_malformed_sign_in_flags(
    site: Site,
    dist: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    _refused(site, site.flags(dist, *extra), capsys, message)


# -- terraform outputs and the build -------------------------------------------------


def _tool(bin_dir: Path, name: str, script: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text("#!/usr/bin/env bash\n" + script, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def _web_output(site: Site) -> dict[str, Any]:
    return {
        "url": URL,
        "bucket": site.bucket,
        "distribution_id": site.distribution_id,
        "region": REGION,
        "auth": {
            "authorize_endpoint": f"{AUTH_DOMAIN}/oauth2/authorize",
            "token_endpoint": f"{AUTH_DOMAIN}/oauth2/token",
            "logout_endpoint": f"{AUTH_DOMAIN}/logout",
            "client_id": CLIENT_ID,
            "scopes": ["openid", "email", "shop/orders.read", "shop/carts.write"],
            "redirect_uri": f"{URL}/callback",
            "logout_uri": f"{URL}/",
        },
    }


def test_settings_come_from_terraform_output(
    site: Site,
    dist: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    calls = tmp_path / "terraform.calls"
    output = tmp_path / "web.json"
    output.write_text(json.dumps(_web_output(site)))
    _tool(tmp_path / "bin", "terraform", f'echo "$*" >> "{calls}"\ncat "{output}"\n')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    code, out, err = _deploy(["--skip-build", "--dist", str(dist)], capsys)
    assert code == 0, err
    assert out.strip() == URL
    env_dir = ROOT / "deploy" / "terraform" / "envs" / "dev"
    assert calls.read_text().split() == [f"-chdir={env_dir}", "output", "-json", "web"]
    config = json.loads(site.s3.get_object(Bucket=site.bucket, Key="config.json")["Body"].read())
    assert config["auth"]["clientId"] == CLIENT_ID
    assert config["auth"]["scope"] == "openid email shop/orders.read shop/carts.write"
    assert config["auth"]["scopePrefix"] == "shop/"


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("echo null\n", "the storefront is off"),
        ("echo '{not json'\n", "not JSON"),
        ("echo '[1]'\n", "expected an object"),
        ("echo 'No outputs found' >&2\nexit 1\n", "No outputs found"),
        ('echo \'{"bucket": "b-1-2"}\'\n', "missing"),
    ],
)
def test_bad_terraform_output(
    site: Site,
    dist: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    script: str,
    message: str,
) -> None:
    _tool(tmp_path / "bin", "terraform", script)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    _refused(site, ["--skip-build", "--dist", str(dist)], capsys, message)


def test_hostile_values_in_terraform_output(
    site: Site,
    dist: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = _web_output(site)
    # The app sends the browser to this address: a hostile one is refused before upload.
    bad["auth"]["authorize_endpoint"] = "https://evil.example/authorize?x=<script>"
    output = tmp_path / "web.json"
    output.write_text(json.dumps(bad))
    _tool(tmp_path / "bin", "terraform", f'cat "{output}"\n')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    _refused(site, ["--skip-build", "--dist", str(dist)], capsys, "authorize_endpoint")


def test_without_terraform_the_flags_are_named(
    site: Site,
    dist: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    _refused(site, ["--skip-build", "--dist", str(dist)], capsys, "terraform is not on PATH")


def test_the_build_runs_first_and_a_failed_build_uploads_nothing(
    site: Site,
    dist: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    calls = tmp_path / "npm.calls"
    _tool(tmp_path / "bin", "npm", f'echo "$*" >> "{calls}"\nexit 3\n')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    argv = [a for a in site.flags(dist) if a != "--skip-build"]
    _refused(site, argv, capsys, "the build failed (npm exited 3)")
    assert calls.read_text().split() == ["--prefix", str(ROOT / "web"), "run", "build"]

    _tool(tmp_path / "bin", "npm", f'echo "$*" >> "{calls}"\n')
    code, _, err = _deploy(argv, capsys)
    assert code == 0, err
    assert "index.html" in site.objects()


def test_the_command_itself(site: Site, dist: Path) -> None:
    """scripts/deploy-web, the wrapper a person runs: exit 0 and the URL, exit 2 on bad input."""
    run = subprocess.run(
        [str(ROOT / "scripts" / "deploy-web"), *site.flags(dist)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == URL
    assert "index.html" in site.objects()
    refused = subprocess.run(
        [str(ROOT / "scripts" / "deploy-web"), *site.flags(dist), "--env", "../../etc"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode == 2
    assert "unknown environment" in refused.stderr


def test_config_json_has_exactly_the_keys_the_app_reads() -> None:
    # web/src/auth.ts declares what the app reads; the deploy writes the same names.
    source = (ROOT / "web" / "src" / "auth.ts").read_text()
    block = source.split("export interface AuthConfig {", 1)[1].split("}", 1)[0]
    declared = {
        line.split(":")[0].strip().rstrip("?") for line in block.splitlines() if ":" in line
    }
    target = resolve_target(
        None,
        bucket="shop-web-123",
        distribution_id="E2QWRUHAPOMQZL",
        region=REGION,
        url=URL,
        auth_domain=AUTH_DOMAIN,
        client_id=CLIENT_ID,
        scopes=["openid", "shop/orders.read"],
    )
    written = json.loads(config_json(target))["auth"]
    assert set(written) == declared
