"""scripts/deploy-web: build the storefront, upload it, write /config.json, invalidate.

    scripts/deploy-web [--env dev] [--dist DIR] [--skip-build]
                       [--bucket B --distribution-id ID --region R --url https://HOST]
                       [--auth-domain https://HOST --client-id ID [--scope S]...]

Settings come from ``terraform output -json web`` of deploy/terraform/envs/ENV
unless every one of them is a flag. Prints the site's URL last. Exit status 2
for anything wrong (nothing uploaded when it can be told in advance).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from deploy.web.errors import DeployError
from deploy.web.publish import publish
from deploy.web.site import read_site
from deploy.web.target import config_json, resolve_target, terraform_output
from mesh.awsconfig import client_config

ROOT = Path(__file__).resolve().parents[2]
ENVS = ROOT / "deploy" / "terraform" / "envs"
WEB = ROOT / "web"
BUILD_TIMEOUT_SECONDS = 900.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scripts/deploy-web",
        description="Build the storefront (web/), upload it to its S3 bucket with the right "
        "cache headers, write /config.json and invalidate CloudFront.",
    )
    parser.add_argument("--env", default="dev", help="environment under deploy/terraform/envs")
    parser.add_argument("--dist", type=Path, default=None, help="the build (default web/dist)")
    parser.add_argument("--skip-build", action="store_true", help="upload --dist as it is")
    given = parser.add_argument_group("instead of terraform output")
    given.add_argument("--bucket")
    given.add_argument("--distribution-id")
    given.add_argument("--region")
    given.add_argument("--url", help="the site, https://HOST (redirect URIs derive from it)")
    given.add_argument("--auth-domain", help="Cognito hosted UI, https://PREFIX.auth.REGION...")
    given.add_argument("--client-id", help="the browser app client")
    given.add_argument("--scope", action="append", help="a scope to request (repeat)")
    return parser


def _env_dir(name: str) -> Path:
    known = sorted(p.name for p in ENVS.iterdir() if p.is_dir())
    if name not in known:
        raise DeployError(f"unknown environment {name!r}; known: {', '.join(known)}")
    return ENVS / name


def _build() -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise DeployError("npm is not on PATH: install Node.js, or pass --skip-build --dist DIR")
    print("==> npm --prefix web run build", file=sys.stderr)
    try:
        run = subprocess.run(
            [npm, "--prefix", str(WEB), "run", "build"],
            cwd=ROOT,
            stdout=2,  # the build talks on stderr: stdout carries only the URL
            timeout=BUILD_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise DeployError(f"the build took more than {BUILD_TIMEOUT_SECONDS:.0f} s") from exc
    if run.returncode != 0:
        raise DeployError(f"the build failed (npm exited {run.returncode}); nothing uploaded")


def run(argv: Sequence[str]) -> str:
    """Deploy as ``argv`` says; returns the site's URL."""
    args = _parser().parse_args(argv)
    env_dir = _env_dir(args.env)
    flags_complete = all((args.bucket, args.distribution_id, args.region, args.url))
    output = None if flags_complete else terraform_output(env_dir)
    target = resolve_target(
        output,
        bucket=args.bucket,
        distribution_id=args.distribution_id,
        region=args.region,
        url=args.url,
        auth_domain=args.auth_domain,
        client_id=args.client_id,
        scopes=args.scope,
    )
    if not args.skip_build:
        _build()
    site = read_site(args.dist if args.dist is not None else WEB / "dist")

    session = boto3.session.Session(region_name=target.region)
    config = client_config(connect_timeout=5.0, read_timeout=60.0, max_attempts=5)
    report = publish(
        site,
        target,
        config_json(target),
        s3=session.client("s3", config=config),
        cloudfront=session.client("cloudfront", config=config),
    )
    if report.replaced_config:
        print(
            "note: the build's own config.json was replaced by this environment's", file=sys.stderr
        )
    print(
        f"==> {len(report.uploaded)} uploaded, {len(report.unchanged)} unchanged, "
        f"{len(report.kept)} kept from the previous deploy, {len(report.deleted)} deleted; "
        f"invalidation {report.invalidation_id}",
        file=sys.stderr,
    )
    return target.url


def main(argv: Sequence[str] | None = None) -> int:
    try:
        url = run(sys.argv[1:] if argv is None else argv)
    except DeployError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as exc:
        print(f"error: AWS: {exc}", file=sys.stderr)
        return 2
    print(url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
