# Sourced by scripts/run and scripts/test: make .venv, install, generate stubs.
# Idempotent: each step reruns only when its inputs changed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${MESH_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"

_hash() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }

bootstrap() {
  local python="${PYTHON:-python3}"
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "error: Python 3.11 or newer is needed as '$python' (set PYTHON=...)" >&2
    exit 2
  fi
  if [ ! -x "$PY" ]; then
    echo "==> creating virtualenv $VENV"
    "$python" -m venv "$VENV"
    "$PY" -m pip install --quiet --upgrade pip
  fi
  local want
  want="$(_hash "$ROOT/pyproject.toml")"
  if [ "$(cat "$VENV/.installed" 2>/dev/null)" != "$want" ]; then
    echo "==> installing dependencies"
    "$PY" -m pip install --quiet --disable-pip-version-check -e "$ROOT[dev]" 2>&1 | { grep -v "^WARNING: Location" || true; }
    echo "$want" > "$VENV/.installed"
  fi
  want="$(_hash $(find "$ROOT/protos" -name '*.proto' | sort) "$ROOT/scripts/codegen.py")"
  if [ ! -d "$ROOT/gen/shop" ] || [ "$(cat "$ROOT/gen/.stamp" 2>/dev/null)" != "$want" ]; then
    echo "==> generating stubs"
    "$PY" "$ROOT/scripts/codegen.py"
    echo "$want" > "$ROOT/gen/.stamp"
  fi
}

# buf (protobuf linter) from the npm registry, plus the googleapis protos it
# needs as a local module (copied from the installed wheel; see buf.yaml).
bootstrap_buf() {
  local tools="$ROOT/.tools"
  if [ ! -x "$tools/node_modules/.bin/buf" ]; then
    if command -v npm >/dev/null 2>&1; then
      echo "==> installing buf"
      mkdir -p "$tools"
      npm install --silent --no-audit --no-fund --prefix "$tools" @bufbuild/buf@1 >/dev/null
    else
      echo "warning: npm not found; the buf lint test will be skipped (required when CI=true)" >&2
    fi
  fi
  "$PY" - "$tools/googleapis" <<'PY'
import shutil, sys
from pathlib import Path
import google.api
src = next(Path(p) for p in google.api.__path__ if (Path(p) / "annotations.proto").exists())
dst = Path(sys.argv[1]) / "google" / "api"
dst.mkdir(parents=True, exist_ok=True)
for proto in src.glob("*.proto"):
    shutil.copy2(proto, dst / proto.name)
PY
}

# The workflow's local interpreter and validator from the npm registry:
# aws-local-stepfunctions runs workflows/order_fulfilment.asl.json under
# workflows/local/server.mjs (scripts/run, the workflow tests); asl-validator
# checks the definition (tests/unit/test_workflow_definition.py). Pinned exactly:
# the glue relies on how the interpreter evaluates the Context Object.
WORKFLOW_TOOLS='aws-local-stepfunctions@3.0.0 asl-validator@4.0.0'
bootstrap_workflow() {
  local tools="$ROOT/.tools"
  if [ "$(cat "$tools/.workflow-installed" 2>/dev/null)" = "$WORKFLOW_TOOLS" ] \
      && [ -x "$tools/node_modules/.bin/asl-validator" ]; then
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "warning: npm not found; the local workflow and its tests are unavailable (required when CI=true)" >&2
    return 0
  fi
  echo "==> installing $WORKFLOW_TOOLS (the local workflow interpreter and validator)"
  mkdir -p "$tools"
  # shellcheck disable=SC2086
  if npm install --silent --no-audit --no-fund --save-exact --prefix "$tools" $WORKFLOW_TOOLS >/dev/null; then
    echo "$WORKFLOW_TOOLS" > "$tools/.workflow-installed"
  else
    echo "warning: $WORKFLOW_TOOLS did not install; the local workflow is unavailable" >&2
  fi
}

# The AWS provider's schema, offline: @cdktf/provider-aws is generated from
# hashicorp/aws, one package version per provider version. 20.1.0 is built from
# 5.100.0, the newest release the configuration's pins (">= 5.88, < 6.0")
# admit, which terraform init would pick. tests/deploy/test_provider_schema.py
# checks every argument and block against it (and fails when CI=true without it).
PROVIDER_SCHEMA_SPEC='@cdktf/provider-aws@20.1.0'
bootstrap_provider_schema() {
  local tools="$ROOT/.tools"
  local manifest="$tools/node_modules/@cdktf/provider-aws/package.json"
  if [ -f "$manifest" ] && grep -q '"version": "'"${PROVIDER_SCHEMA_SPEC##*@}"'"' "$manifest"; then
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "warning: npm not found; the provider schema check will be skipped (required when CI=true)" >&2
    return 0
  fi
  echo "==> installing $PROVIDER_SCHEMA_SPEC (the AWS provider's schema)"
  mkdir -p "$tools"
  # Only the generated files are read: no peers (cdktf, constructs), no scripts.
  npm install --silent --no-audit --no-fund --legacy-peer-deps --ignore-scripts --save-exact \
    --prefix "$tools" "$PROVIDER_SCHEMA_SPEC" >/dev/null \
    || echo "warning: $PROVIDER_SCHEMA_SPEC did not install; the provider schema check will be skipped (required when CI=true)" >&2
}

# checkov (Terraform static analysis) pins many libraries of its own, so it
# lives in its own virtualenv under .tools/, apart from the project's.
CHECKOV_SPEC='checkov>=3.2,<4'
bootstrap_checkov() {
  local venv="$ROOT/.tools/checkov-venv"
  local python="${PYTHON:-python3}"
  if [ "$(cat "$venv/.installed" 2>/dev/null)" = "$CHECKOV_SPEC" ] && [ -x "$venv/bin/checkov" ]; then
    return 0
  fi
  echo "==> installing $CHECKOV_SPEC into $venv"
  mkdir -p "$ROOT/.tools"
  if "$python" -m venv "$venv" \
      && "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$CHECKOV_SPEC" \
        >"$ROOT/.tools/checkov-install.log" 2>&1; then
    echo "$CHECKOV_SPEC" > "$venv/.installed"
  else
    echo "warning: checkov did not install (see .tools/checkov-install.log);" \
      "tests/deploy will skip it locally and fail when CI=true" >&2
  fi
}

# The storefront (web/, its own npm toolchain): packages when the lock file
# changed, a build into web/dist when its sources or the contracts its API
# client is generated from changed (gateway.openapi_dump, no running mesh).
bootstrap_web() {
  local web="$ROOT/web"
  if ! command -v npm >/dev/null 2>&1; then
    echo "warning: npm not found; the storefront is not built (its tests fail when CI=true)" >&2
    return 0
  fi
  local want
  want="$(_hash "$web/package.json" "$web/package-lock.json")"
  if [ "$(cat "$web/node_modules/.installed" 2>/dev/null)" != "$want" ]; then
    echo "==> installing the storefront's npm packages"
    (cd "$web" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --silent --no-audit --no-fund >/dev/null)
    echo "$want" > "$web/node_modules/.installed"
  fi
  want="$(_hash $(find "$web/src" "$web/public" "$web/scripts" -type f ! -name openapi.json ! -name schema.d.ts | sort) \
    "$web/index.html" "$web/vite.config.ts" "$web/tsconfig.json" "$web/package-lock.json" \
    $(find "$ROOT/protos" -name '*.proto' | sort) $(find "$ROOT/gateway" -name '*.py' | sort))"
  if [ ! -f "$web/dist/index.html" ] || [ "$(cat "$web/.build-stamp" 2>/dev/null)" != "$want" ]; then
    echo "==> building the storefront"
    if ! (cd "$web" && MESH_VENV="$VENV" npm run --silent build >"$web/node_modules/.build.log" 2>&1); then
      cat "$web/node_modules/.build.log" >&2
      echo "error: the storefront did not build (web/)" >&2
      exit 1
    fi
    echo "$want" > "$web/.build-stamp"
  fi
}

# Debian's Chromium for the storefront's browser tests (Playwright drives it;
# no browser is ever downloaded). Installed only as root, where apt-get works.
bootstrap_chromium() {
  if [ -x /usr/bin/chromium ]; then
    return 0
  fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing chromium (Debian)"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
        >"$ROOT/.tools/chromium-install.log" 2>&1; then
      echo "warning: chromium did not install (see .tools/chromium-install.log);" \
        "the browser tests are skipped locally and fail when CI=true" >&2
    fi
  else
    echo "warning: /usr/bin/chromium missing (apt-get install chromium);" \
      "the browser tests are skipped locally and fail when CI=true" >&2
  fi
}
