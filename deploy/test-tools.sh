#!/usr/bin/env bash
# The tools `make test` needs beyond cargo (`make test-tools`): a virtualenv outside the
# repository with schemathesis (the property-based run against the live gateway's OpenAPI
# document, tests/system/tests/api/openapi.rs) and openapi-spec-validator (the document validates
# as OpenAPI 3.1; jsonschema, which schemathesis brings, checks its examples), pinned, created
# once, checked on every run; and Debian's chromium for the docs page's browser test.
set -euo pipefail

venv="${CONCORD_TEST_VENV:-$HOME/.cache/concord-test-venv}"
schemathesis_version="4.32.5"
validator_version="0.9.0"

log() { echo "[test-tools] $*"; }

# Debian's Chromium: the docs page is rendered in it headless (tests/system/tests/api/openapi.rs).
if [[ ! -x /usr/bin/chromium ]]; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    log "installing chromium (apt)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium is missing: apt-get install chromium" >&2
    exit 1
  fi
fi

# playwright-core, pinned by tests/system/browser/package-lock.json, drives that Chromium through
# the review UI (tests/system/tests/api/ui.rs): installed from the npm registry into the
# directory's node_modules (ignored by git), again whenever the lock file asks for another version.
repo="$(cd "$(dirname "$0")/.." && pwd)"
browser_dir="$repo/tests/system/browser"
if ! command -v npm >/dev/null; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    log "installing nodejs and npm (apt)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  else
    echo "node and npm are missing: apt-get install nodejs npm" >&2
    exit 1
  fi
fi
wanted="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["packages"]["node_modules/playwright-core"]["version"])' "$browser_dir/package-lock.json")"
installed="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$browser_dir/node_modules/playwright-core/package.json" 2>/dev/null || true)"
if [[ "$wanted" != "$installed" ]]; then
  log "installing playwright-core $wanted (npm ci in tests/system/browser)"
  (cd "$browser_dir" && npm ci --no-audit --no-fund --silent)
fi

if [[ -x "$venv/bin/python" ]] \
  && [[ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null)" == "$schemathesis_version" ]] \
  && [[ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("openapi-spec-validator"))' 2>/dev/null)" == "$validator_version" ]]; then
  exit 0
fi
if ! command -v python3 >/dev/null || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    log "installing python3 and python3-venv (apt)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
  else
    echo "python3 with venv is missing: apt-get install python3 python3-venv" >&2
    exit 1
  fi
fi
log "creating the test virtualenv in $venv (schemathesis $schemathesis_version, openapi-spec-validator $validator_version)"
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check \
  "schemathesis==$schemathesis_version" "openapi-spec-validator==$validator_version"
