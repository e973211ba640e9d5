#!/usr/bin/env bash
# The matching benchmark (`make bench-matching`): the bench virtualenv (pandas, Splink — outside
# the repository), the stack on release binaries, a key, then bench/matching.py, which drives the
# REST API like a user and prints the table. Extra arguments go to bench/matching.py, e.g.
#   make bench-matching BENCH_ARGS="--sets invoices --no-splink"
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
venv="${CONCORD_BENCH_VENV:-$HOME/.cache/concord-bench-venv}"
bench_dir="${CONCORD_BENCH_DIR:-$repo/../shared/bench}"
bin_dir="${CARGO_TARGET_DIR:-$HOME/.cache/concord-target}/release"

log() { echo "[bench] $*"; }

setup() {
  if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import pandas, splink' 2>/dev/null; then
    log "creating the bench virtualenv in $venv (pandas, Splink, DuckDB: a few minutes once)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q -r "$bench_dir/requirements.txt"
  fi
}

run() {
  setup
  log "building the release binaries"
  cargo build --release --bins
  "$bin_dir/gateway" migrate
  # The stack on release binaries (a debug stack from `make up` is replaced).
  bash "$repo/deploy/services.sh" down >/dev/null
  CONCORD_PROFILE=release bash "$repo/deploy/services.sh" up
  key="$("$bin_dir/gateway" keys create --org bench --scopes read,write --name "make bench-matching" | tail -n 1)"
  "$venv/bin/python" "$repo/bench/matching.py" --key "$key" ${BENCH_ARGS:-}
}

case "${1:-run}" in
  setup) setup ;;
  run) run ;;
  *) echo "usage: $0 setup|run" >&2; exit 2 ;;
esac
