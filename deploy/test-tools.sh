#!/usr/bin/env bash
# The tools `make test` needs beyond cargo (`make test-tools`): a virtualenv outside the
# repository with schemathesis (the property-based run against the live gateway's OpenAPI
# document, tests/system/tests/api/openapi.rs) and openapi-spec-validator (the document validates
# as OpenAPI 3.1). Pinned; created once, checked on every run.
set -euo pipefail

venv="${CONCORD_TEST_VENV:-$HOME/.cache/concord-test-venv}"
schemathesis_version="4.32.5"
validator_version="0.9.0"

log() { echo "[test-tools] $*"; }

if [[ -x "$venv/bin/python" ]] \
  && [[ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null)" == "$schemathesis_version" ]] \
  && [[ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("openapi-spec-validator"))' 2>/dev/null)" == "$validator_version" ]]; then
  exit 0
fi
command -v python3 >/dev/null || { echo "python3 is missing: apt-get install python3 python3-venv" >&2; exit 1; }
log "creating the test virtualenv in $venv (schemathesis $schemathesis_version, openapi-spec-validator $validator_version)"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check \
  "schemathesis==$schemathesis_version" "openapi-spec-validator==$validator_version"
