#!/usr/bin/env python3
"""The matching benchmark (`make bench-matching`): drives the running stack through its REST API
like a user — uploads each data set's reference CSV, submits its documents as an NDJSON job,
creates the committed config of `bench/configs/`, runs a match, polls its progress, exports the
results as CSV — and scores the export with the bench's own scorer. Splink runs on the same data
in the same session (from a private copy of the bench folder, so the shared one stays as it is).

    python bench/matching.py --key KEY [--sets invoices,febrl4,transactions,scale] \
        [--scale-docs 100000] [--no-splink] [--json out.json]

Needs the bench virtualenv's python (pandas; splink for the peer), see `make bench-setup`.
"""
from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.abspath(os.environ.get("CONCORD_BENCH_DIR", os.path.join(REPO, "..", "shared", "bench")))
sys.path.insert(0, BENCH)
import pandas as pd  # noqa: E402
import score_matching  # noqa: E402

SETS = {
    "invoices": dict(
        data="data/invoices_public_s1", refs="refs.csv", docs="docs.csv", truth="truth.csv",
        ref_id="ref_id", doc_id="document_id", filename="document_filename", config="invoices.json",
        splink_task="invoices_public_s1", splink_args=["invoices", "--set", "public"]),
    "febrl4": dict(
        data="data", refs="febrl4_a.csv.gz", docs="febrl4_b.csv.gz", truth="febrl4_truth.csv.gz",
        ref_id="rec_id", doc_id="rec_id", filename=None, config="febrl4.json",
        splink_task="febrl4", splink_args=["febrl"]),
    "transactions": dict(
        data="data/transactions", refs="refs.csv", docs="docs.csv", truth="truth.csv",
        ref_id="ref_id", doc_id="document_id", filename=None, config="transactions.json",
        splink_task="transactions", splink_args=["transactions"]),
    "scale": dict(
        data=None, refs="refs.csv", docs="docs.csv", truth="truth.csv",
        ref_id="ref_id", doc_id="document_id", filename="document_filename", config="invoices.json",
        splink_task=None, splink_args=["invoices", "--set", "scale"]),
}


class Api:
    def __init__(self, base: str, key: str):
        self.base = base.rstrip("/")
        self.key = key

    def request(self, method: str, path: str, body=None, content_type: str | None = None,
                length: int | None = None, raw: bool = False, timeout: float = 3600):
        headers = {"Authorization": f"Bearer {self.key}"}
        if content_type:
            headers["Content-Type"] = content_type
        if length is not None:
            headers["Content-Length"] = str(length)
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        while True:
            req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=timeout) as resp:
                    data = resp.read()
                break
            except urllib.error.HTTPError as error:
                # Over the key's rate limit: wait as told (only bodiless requests are retried).
                if error.code == 429 and (body is None or isinstance(body, bytes)):
                    time.sleep(float(error.headers.get("Retry-After", "1")))
                    continue
                raise SystemExit(f"{method} {path}: {error.code} {error.read().decode(errors='replace')[:2000]}")
        return data if raw else json.loads(data or b"null")

    def upload_file(self, path: str, query: str, content_type: str):
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            return self.request("POST", query, body=f, content_type=content_type, length=size)


def plain_csv(path: str, workdir: str) -> str:
    """A path to an uncompressed copy of a .csv.gz (the upload streams a plain CSV)."""
    if not path.endswith(".gz"):
        return path
    out = os.path.join(workdir, os.path.basename(path)[:-3])
    with gzip.open(path, "rb") as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return out


def write_ndjson(docs_csv: str, doc_id: str, filename_col: str | None, out: str) -> int:
    n = 0
    with open(docs_csv, newline="", encoding="utf-8") as src, open(out, "w", encoding="utf-8") as dst:
        for row in csv.DictReader(src):
            document_id = row.pop(doc_id)
            filename = row.pop(filename_col) if filename_col else f"{document_id}.pdf"
            values = {k: (v if v != "" else None) for k, v in row.items()}
            dst.write(json.dumps({"document_id": document_id, "filename": filename, "values": values},
                                 ensure_ascii=False))
            dst.write("\n")
            n += 1
    return n


def peak_rss_mb(pid_file: str) -> float | None:
    try:
        pid = open(pid_file).read().strip()
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def match_and_score(api: Api, name: str, start_path: str, job_id: str, truth_path: str, result: dict) -> dict:
    """Starts a run, polls it to its end, exports and scores it; fills `result` and returns the run."""
    t = time.perf_counter()
    run = api.request("POST", start_path, {"job_id": job_id})
    while True:
        progress = api.request("GET", f"/v1/matching/runs/{run['id']}/progress")
        if progress["phase"] in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.1)
    result["run_s"] = time.perf_counter() - t
    detail = api.request("GET", f"/v1/matching/runs/{run['id']}")
    if progress["phase"] != "completed":
        raise SystemExit(f"{name}: the run ended {progress['phase']}: {detail.get('error')}")
    result["chunks"] = progress["chunks_total"]
    t = time.perf_counter()
    exported = api.request("GET", f"/v1/matching/runs/{run['id']}/results/export", raw=True)
    result["export_s"] = time.perf_counter() - t
    pred = pd.read_csv(io.BytesIO(exported), dtype=str, keep_default_na=False)
    pred = pred.rename(columns={"matched_reference_row_id": "ref_id"})
    pred["confidence"] = pred["confidence"].astype(float)
    truth = pd.read_csv(truth_path, dtype=str, keep_default_na=False)
    scores = score_matching.score(truth, pred[["document_id", "ref_id", "confidence"]])
    scores.pop("_merged", None)
    result["scores"] = scores
    result["_pred"] = pred
    return detail


def run_set(api: Api, name: str, spec: dict, data_dir: str, workdir: str, worker_pid_file: str,
            smart: bool = False) -> dict:
    refs = plain_csv(os.path.join(data_dir, spec["refs"]), workdir)
    docs = plain_csv(os.path.join(data_dir, spec["docs"]), workdir)
    truth_path = os.path.join(data_dir, spec["truth"])
    result: dict = {"set": name}

    t = time.perf_counter()
    dataset = api.upload_file(refs, f"/v1/reference-data?name=bench-{name}&id_column={spec['ref_id']}",
                              "text/csv")
    result["upload_refs_s"] = time.perf_counter() - t
    result["refs"] = dataset["row_count"]

    ndjson = os.path.join(workdir, f"{name}.ndjson")
    result["docs"] = write_ndjson(docs, spec["doc_id"], spec["filename"], ndjson)
    t = time.perf_counter()
    job = api.upload_file(ndjson, f"/v1/jobs?name=bench-{name}", "application/x-ndjson")
    result["submit_docs_s"] = time.perf_counter() - t

    config = json.load(open(os.path.join(REPO, "bench", "configs", spec["config"])))
    config["reference_data_id"] = dataset["id"]
    config = api.request("POST", "/v1/matching/configs", config)

    run = match_and_score(api, name, f"/v1/matching/configs/{config['id']}/run", job["id"], truth_path, result)
    pred = result.pop("_pred")
    truth = pd.read_csv(truth_path, dtype=str, keep_default_na=False)
    if smart:
        # The same documents again as a smart run: the AI pass over the review band.
        smart_result: dict = {}
        smart_run = match_and_score(api, name, f"/v1/matching/configs/{config['id']}/smart-run", job["id"],
                                    truth_path, smart_result)
        smart_result.pop("_pred")
        smart_result["ai"] = {k: smart_run.get(k) for k in ("ai_items", "ai_accepted", "ai_flagged", "ai_calls")} \
            if "ai_items" in smart_run else smart_run.get("ai")
        result["smart"] = smart_result
    # Candidate recall: the share of matchable documents whose true row is among the top
    # candidates the run kept (at most five per document).
    candidates = dict(zip(pred["document_id"], pred["candidates"]))
    matchable = truth[truth["ref_id"] != ""]
    hits = sum(
        1 for doc, ref in zip(matchable["document_id"], matchable["ref_id"])
        if ref in {c.rsplit(":", 1)[0] for c in candidates.get(doc, "").split("|") if c})
    result["candidate_recall_top5"] = hits / len(matchable) if len(matchable) else None
    result["needs_review"] = int((pred["status"] == "needs_review").sum())
    result["worker_peak_rss_mb"] = peak_rss_mb(worker_pid_file)
    return result


def run_splink(args_list: list[str], task: str, bench_copy: str, workdir: str, extra: list[str]) -> dict | None:
    cmd = [sys.executable, os.path.join(bench_copy, "splink_baseline.py"), *args_list, "--workdir", workdir, *extra]
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=bench_copy, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        print(f"[bench] splink {' '.join(args_list)} failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
        return None
    results = json.load(open(os.path.join(bench_copy, "results", "splink_results.json")))
    found = next((r for r in results if r.get("task") == task), None)
    if found is not None:
        found["wall_s"] = wall
    return found


def fmt(value, digits=4):
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gateway", default=os.environ.get("CONCORD_GATEWAY", "http://127.0.0.1:8080"))
    ap.add_argument("--key", required=True)
    ap.add_argument("--sets", default="invoices,febrl4,transactions,scale")
    ap.add_argument("--scale-docs", type=int, default=100_000)
    ap.add_argument("--scale-refs", type=int, default=None)
    ap.add_argument("--no-splink", action="store_true")
    ap.add_argument("--smart", action="store_true",
                    help="also run each set as a smart run (the AI pass, against the configured model)")
    ap.add_argument("--worker-pid-file", default=os.path.join(REPO, ".run", "matching-worker.pid"))
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "concord-bench"))
    ap.add_argument("--json", help="write every figure to this file")
    args = ap.parse_args()
    scale_refs = args.scale_refs or args.scale_docs

    os.makedirs(args.workdir, exist_ok=True)
    # A private copy of the bench folder: Splink writes its results next to its script.
    bench_copy = os.path.join(args.workdir, "bench")
    if not os.path.exists(bench_copy):
        shutil.copytree(BENCH, bench_copy, ignore=shutil.ignore_patterns("__pycache__"))
    api = Api(args.gateway, args.key)
    rows = []
    for name in [s.strip() for s in args.sets.split(",") if s.strip()]:
        spec = SETS[name]
        if name == "scale":
            label = f"invoices_scale_{args.scale_docs}x{scale_refs}_s3"
            data_dir = os.path.join(args.workdir, label)
            if not os.path.exists(os.path.join(data_dir, "truth.csv")):
                print(f"[bench] generating {label}", flush=True)
                subprocess.run([sys.executable, os.path.join(BENCH, "gen_invoices.py"), "--docs", str(args.scale_docs),
                                "--refs", str(scale_refs), "--seed", "3", "--out", data_dir], check=True)
            spec = dict(spec, splink_task=label)
        else:
            data_dir = os.path.join(BENCH, spec["data"])
        print(f"[bench] {name}: uploading, submitting, running", flush=True)
        ours = run_set(api, name, spec, data_dir, args.workdir, args.worker_pid_file, smart=args.smart)
        splink = None
        if not args.no_splink:
            print(f"[bench] {name}: Splink on the same data", flush=True)
            extra = ["--scale-docs", str(args.scale_docs), "--scale-refs", str(scale_refs)] if name == "scale" else []
            splink = run_splink(spec["splink_args"], spec["splink_task"], bench_copy, args.workdir, extra)
        rows.append((ours, splink))
        s = ours["scores"]
        print(f"[bench] {name}: F1 {s['f1']:.4f}, run {ours['run_s']:.2f} s", flush=True)

    header = ("set", "docs×refs", "precision", "recall", "F1", "no-match acc", "cand. recall@5",
              "review", "run s", "Splink F1", "Splink no-match", "Splink s", "Splink s / run s", "worker peak RSS MB")
    lines = [header]
    for ours, splink in rows:
        s = ours["scores"]
        # FEBRL4's Splink figures are at its untuned p >= 0.5 (which is also its best F1 there).
        sp = (splink or {}).get("scores") or (splink or {}).get("at_probability_0.5") or {}
        splink_s = (splink or {}).get("total_s")
        lines.append((
            ours["set"], f"{ours['docs']:,}×{ours['refs']:,}", fmt(s["precision"]), fmt(s["recall"]), fmt(s["f1"]),
            fmt(s["no_match_accuracy"]), fmt(ours["candidate_recall_top5"]), str(ours["needs_review"]),
            fmt(ours["run_s"], 2), fmt(sp.get("f1")), fmt(sp.get("no_match_accuracy")), fmt(splink_s, 2),
            (f"{splink_s / ours['run_s']:.2f}" if splink_s else "n/a"),
            fmt(ours["worker_peak_rss_mb"], 0)))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    print()
    for i, line in enumerate(lines):
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(line, widths)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    print("\nrun s = from the run request to `completed` with every result persisted (one matching worker);"
          "\nSplink s = its prep + train + predict, in process, nothing persisted; worker peak RSS is the"
          "\nprocess's high-water mark so far (it keeps the indexes of earlier sets); uploads are not in run s:")
    for ours, _ in rows:
        print(f"  {ours['set']}: reference upload {ours['upload_refs_s']:.2f} s, document submission "
              f"{ours['submit_docs_s']:.2f} s, export {ours['export_s']:.2f} s, {ours['chunks']} chunks")
    for ours, _ in rows:
        if "smart" in ours:
            sm = ours["smart"]
            print(f"  {ours['set']} smart run: F1 {sm['scores']['f1']:.4f} (manual {ours['scores']['f1']:.4f}), "
                  f"no-match {fmt(sm['scores']['no_match_accuracy'])}, run {sm['run_s']:.1f} s, AI {sm['ai']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump([{"concord": o, "splink": s} for o, s in rows], f, indent=2, default=str)


if __name__ == "__main__":
    main()
