#!/usr/bin/env bash
# Start, stop and inspect the five services as background processes (`make up`, `make down`,
# `make status`). Logs and pid files go to $CONCORD_RUN_DIR (default <repo>/.run).
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
run_dir="${CONCORD_RUN_DIR:-$repo/.run}"
# CONCORD_PROFILE=release runs the optimised binaries (the benchmarks do).
bin_dir="${CARGO_TARGET_DIR:-$HOME/.cache/concord-target}/${CONCORD_PROFILE:-debug}"
http_addr="${CONCORD_HTTP_ADDR:-127.0.0.1:8080}"
services=(gateway matching-worker resolution-worker ai-resolver webhook-sender)
declare -A ops=([gateway]="$http_addr" [matching-worker]=127.0.0.1:9101 [resolution-worker]=127.0.0.1:9102 [ai-resolver]=127.0.0.1:9103 [webhook-sender]=127.0.0.1:9104)

log() { echo "[services] $*"; }

running() { [[ -f "$run_dir/$1.pid" ]] && kill -0 "$(cat "$run_dir/$1.pid")" 2>/dev/null; }

ready() { curl -fsS "http://${ops[$1]}/readyz" >/dev/null 2>&1; }

up() {
  mkdir -p "$run_dir"
  for service in "${services[@]}"; do
    if running "$service"; then
      log "$service already running (pid $(cat "$run_dir/$service.pid"))"
      continue
    fi
    [[ -x "$bin_dir/$service" ]] || { echo "[services] $bin_dir/$service is missing: run make build" >&2; exit 1; }
    # Something else (another checkout's stack, say) on this service's address would pass for it.
    if ready "$service"; then
      echo "[services] ${ops[$service]} already answers, but not for a $service of $run_dir: stop the other stack first" >&2
      exit 1
    fi
    CONCORD_OPS_ADDR="${ops[$service]}" nohup "$bin_dir/$service" >>"$run_dir/$service.log" 2>&1 &
    echo $! >"$run_dir/$service.pid"
    log "started $service (pid $!, log $run_dir/$service.log)"
  done
  for service in "${services[@]}"; do
    for _ in $(seq 1 60); do
      ready "$service" && break
      running "$service" || { echo "[services] $service exited; last log lines:" >&2; tail -n 20 "$run_dir/$service.log" >&2; exit 1; }
      sleep 0.5
    done
    ready "$service" || { echo "[services] $service is not ready after 30 s (see $run_dir/$service.log)" >&2; exit 1; }
  done
  log "all services ready; gateway on http://$http_addr"
}

down() {
  for service in "${services[@]}"; do
    if running "$service"; then
      pid="$(cat "$run_dir/$service.pid")"
      kill -TERM "$pid"
      for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
      log "stopped $service"
    fi
    rm -f "$run_dir/$service.pid"
  done
}

status() {
  for service in "${services[@]}"; do
    if running "$service"; then
      state="running (pid $(cat "$run_dir/$service.pid"))"
      ready "$service" && state="$state, ready" || state="$state, not ready"
    else
      state="stopped"
    fi
    printf '  %-18s %s\n' "$service" "$state"
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
