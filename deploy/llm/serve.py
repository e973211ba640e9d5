"""Concord's default local model server: llama.cpp's own HTTP server (the code of `llama-server`),
prebuilt in the PyPI wheel `xllamacpp` (pinned in deploy/llm/requirements.txt), so nothing is compiled.

It speaks the OpenAI API that crates/llm uses: POST /v1/chat/completions with `response_format`
`{"type": "json_schema", ...}` (turned into a grammar, so the reply follows the schema), `max_tokens`,
`temperature`, `usage` and `finish_reason` in the reply; GET /v1/models once the model is loaded.

    python serve.py --model SmolLM2-135M-Instruct.Q4_1.gguf [--host 127.0.0.1] [--port 8081]
                    [--ctx 8192] [--alias NAME] [--threads N]

Runs until SIGTERM or SIGINT. Logs (llama.cpp's) go to stderr.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time


def default_threads() -> int:
    """Half the CPUs this process may use, at least one.

    llama.cpp's threads wait for each other at every step: on a machine whose other cores are
    busy (the Rust services, a build, a test suite) one thread that keeps its core answers several
    times faster than two that take turns with the rest (measured on 2 cores: 45 tokens/s with one
    thread, 3 to 12 with two while a build ran).
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, cpus // 2)


def parse_args(argv: list[str]) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=env("LLM_MODEL_PATH"), help="the gguf file (env LLM_MODEL_PATH)")
    parser.add_argument("--host", default=env("LLM_HOST", "127.0.0.1"), help="address to listen on (env LLM_HOST)")
    parser.add_argument("--port", type=int, default=int(env("LLM_PORT", "8081")), help="port (env LLM_PORT)")
    parser.add_argument(
        "--ctx", type=int, default=int(env("N_CTX", "8192")), help="context size in tokens (env N_CTX; default 8192)"
    )
    parser.add_argument(
        "--alias",
        default=env("MODEL_ALIAS", "SmolLM2-135M-Instruct"),
        help="model name reported by /v1/models and in replies (env MODEL_ALIAS); requests may name any model",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=int(env("N_THREADS", "0") or "0"),
        help="CPU threads (env N_THREADS; 0 = half the CPUs, at least 1)",
    )
    args = parser.parse_args(argv)
    if not args.model:
        parser.error("--model (or LLM_MODEL_PATH) is required")
    if not os.path.isfile(args.model):
        parser.error(f"model file not found: {args.model}")
    if args.ctx < 1:
        parser.error("--ctx must be at least 1")
    if args.threads < 0:
        parser.error("--threads must be 0 (automatic) or more")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    import xllamacpp  # imported late: `--help` works without it

    threads = args.threads or default_threads()
    params = xllamacpp.CommonParams()
    params.model.path = args.model
    params.n_ctx = args.ctx
    # One request at a time, each with the whole context: the client queues its calls, and on a
    # small CPU two slots would not decode faster than one.
    params.n_parallel = 1
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.hostnames = [args.host]
    params.port = args.port
    params.model_alias = {args.alias}
    # No web UI: this is an API for the services.
    params.ui = False

    server = xllamacpp.Server(params)  # returns once the model is loaded and the port is open
    print(
        f"concord-llm: {args.alias} ({os.path.basename(args.model)}) answering on {server.listening_address}/v1 "
        f"(context {args.ctx}, {threads} thread(s), ready in {time.monotonic() - started:.1f} s, "
        f"xllamacpp {xllamacpp.__version__})",
        file=sys.stderr,
        flush=True,
    )

    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        print(f"concord-llm: signal {signum}, stopping", file=sys.stderr, flush=True)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not stop.wait(3600):
        pass
    del server
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
