#!/usr/bin/env bash
# The benchmarks (`make bench-matching`, `make bench-resolution`): the bench virtualenv (pandas,
# Splink — outside the repository), the stack on release binaries, a key, then bench/matching.py
# or bench/resolution.py, which drive the REST API like a user and print their tables. Extra
# arguments go to the script, e.g.
#   make bench-matching BENCH_ARGS="--sets invoices --no-splink"
#   make bench-resolution BENCH_ARGS="--no-speed"
#   make bench-realtime BENCH_ARGS="--refs 100000 --seconds 10"
#   make bench-reconcile BENCH_ARGS="--batch 50"
#   make bench-review BENCH_ARGS="--count 50"
#   make load BENCH_ARGS="--only run-detail --duration 5"
#   make chaos BENCH_ARGS="--docs 20000 --scenarios matching:kill9,resolution:poison"
# `load` and `chaos` (bench/load.py, bench/chaos.py) need only the standard library; chaos kills and
# restarts the workers and restarts RabbitMQ and PostgreSQL (see bench/chaos.py for the lock it takes).
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
venv="${CONCORD_BENCH_VENV:-$HOME/.cache/concord-bench-venv}"
bench_dir="${CONCORD_BENCH_DIR:-$repo/../shared/bench}"
# The stack runs release binaries unless CONCORD_PROFILE=debug (the optimised dev profile that
# `make test` has already built: `make chaos-ci` uses it so that CI builds nothing twice).
profile="${CONCORD_PROFILE:-release}"
bin_dir="${CARGO_TARGET_DIR:-$HOME/.cache/concord-target}/$profile"

log() { echo "[bench] $*"; }

setup() {
  if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import pandas, splink' 2>/dev/null; then
    log "creating the bench virtualenv in $venv (pandas, Splink, DuckDB: a few minutes once)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q -r "$bench_dir/requirements.txt"
  fi
}

run() {
  local bench="${1:-matching}"
  local python="$venv/bin/python"
  if [[ "$bench" == review ]]; then
    # Standard library, and playwright-core for the browser (installed by the test tools).
    python=python3
    bash "$repo/deploy/test-tools.sh"
  elif [[ "$bench" == realtime || "$bench" == reconcile || "$bench" == load || "$bench" == chaos ]]; then
    # Standard library only; the load it drives needs a rate limit above its rate.
    python=python3
    export CONCORD_RATE_LIMIT_PER_MINUTE="${CONCORD_RATE_LIMIT_PER_MINUTE:-100000000}"
    # chaos subscribes a webhook on loopback to the completion events.
    # chaos also kills the ai-resolver in a smart run's AI pass: one item per prompt keeps each call
    # of the local model (one thread on two cores) to seconds, where a four-item prompt can run
    # into the 30 s call timeout and its retries.
    if [[ "$bench" == chaos ]]; then
      export CONCORD_WEBHOOKS_ALLOW_PRIVATE_TARGETS=true
      export CONCORD_LLM_ITEMS_PER_PROMPT="${CONCORD_LLM_ITEMS_PER_PROMPT:-1}"
    fi
  else
    setup
  fi
  if [[ "$profile" == release ]]; then
    log "building the release binaries"
    cargo build --release --bins
  else
    log "building the $profile binaries"
    cargo build --bins
  fi
  bash "$repo/deploy/db.sh"
  "$bin_dir/gateway" migrate
  # The stack on these binaries (a stack already up is replaced).
  bash "$repo/deploy/services.sh" down >/dev/null
  # Exported: bench/chaos.py restarts the workers it kills with deploy/services.sh up.
  export CONCORD_PROFILE="$profile"
  bash "$repo/deploy/services.sh" up
  key="$("$bin_dir/gateway" keys create --org bench --scopes read,write --name "make bench-$bench" | tail -n 1)"
  "$python" "$repo/bench/$bench.py" --key "$key" ${BENCH_ARGS:-}
}

case "${1:-run}" in
  setup) setup ;;
  run) run "${2:-matching}" ;;
  *) echo "usage: $0 setup|run [matching|resolution|realtime|reconcile|review|load|chaos]" >&2; exit 2 ;;
esac
