#!/usr/bin/env python3
"""The resolution benchmark (`make bench-resolution`): drives the running stack through its REST
API like a user.

Accuracy: loads the bench's vocabulary files as lookup tables `country`, `currency` and `uom`
(CSV uploads), saves the committed policy `bench/configs/values-policy.json` with `PUT`,
submits every value of the set as a document (`{field: raw_value}`), creates and executes a
resolution run, polls it, exports the results and scores them with the bench's own scorer. Then
the same with `bench/configs/values-policy-standard.json`, which uses the built-in standard
tables instead of the vocabulary files. No LLM: both policies use `fallback: "none"`.

Speed: 100,000 documents × 10 fields (country, currency and unit values drawn from the set, dates
and amounts in mixed formats, free text, a compute and a format rule: `resolution-speed-policy.json`)
resolved end to end — from `execute` to `completed` with every result stored.

    python bench/resolution.py --key KEY [--values DIR] [--speed-docs 100000] [--no-speed] [--json out.json]
"""
from __future__ import annotations

import argparse
import io
import json
import os
import random
import sys
import tempfile
import time

import pandas as pd

from matching import BENCH, REPO, Api, peak_rss_mb  # noqa: E402  (also puts the bench on sys.path)
import score_values  # noqa: E402

FIELDS = ("country", "currency", "uom")


def delete_table(api: Api, name: str) -> None:
    try:
        table = api.request("GET", f"/v1/lookup-tables/{name}?limit=1")
    except SystemExit:
        return
    if not table.get("built_in"):
        api.request("DELETE", f"/v1/lookup-tables/{table['id']}", raw=True)


def find_table_id(api: Api, name: str) -> str | None:
    cursor = ""
    while True:
        page = api.request("GET", f"/v1/lookup-tables?limit=200{cursor}")
        for table in page["data"]:
            if table["name"] == name and not table.get("built_in"):
                return table["id"]
        if not page["pagination"]["has_more"]:
            return None
        cursor = "&cursor=" + page["pagination"]["next_cursor"]


def load_vocabularies(api: Api, values_dir: str) -> None:
    for field in FIELDS:
        existing = find_table_id(api, field)
        if existing:
            api.request("DELETE", f"/v1/lookup-tables/{existing}", raw=True)
        api.upload_file(os.path.join(values_dir, f"vocab_{field}.csv"),
                        f"/v1/lookup-tables?name={field}", "text/csv")


def submit_job(api: Api, documents: list[dict], name: str, workdir: str) -> dict:
    path = os.path.join(workdir, f"{name}.ndjson")
    with open(path, "w", encoding="utf-8") as out:
        for doc in documents:
            out.write(json.dumps(doc, ensure_ascii=False))
            out.write("\n")
    return api.upload_file(path, f"/v1/jobs?name={name}", "application/x-ndjson")


def resolve(api: Api, job_id: str, policy_file: str, name: str) -> tuple[dict, float, bytes]:
    """Creates the policy, runs it over the job; the run, its seconds (execute → completed) and
    its CSV export."""
    policy = api.request("POST", "/v1/data-policies", {"name": name, "description": f"bench: {policy_file}"})
    body = json.load(open(policy_file if os.path.isabs(policy_file) else os.path.join(REPO, "bench", "configs", policy_file)))
    api.request("PUT", f"/v1/data-policies/{policy['id']}", body)
    run = api.request("POST", "/v1/resolutions", {"source_run_id": job_id, "policy_id": policy["id"]})
    t = time.perf_counter()
    api.request("POST", f"/v1/resolutions/{run['id']}/execute")
    while True:
        run = api.request("GET", f"/v1/resolutions/{run['id']}")
        if run["status"] in ("completed", "failed"):
            break
        time.sleep(0.05)
    seconds = time.perf_counter() - t
    if run["status"] != "completed":
        raise SystemExit(f"{name}: the run ended {run['status']}: {run.get('error')}")
    exported = api.request("GET", f"/v1/resolutions/{run['id']}/results/export", raw=True)
    return run, seconds, exported


def accuracy(api: Api, values_dir: str, workdir: str, policy_file: str, label: str) -> dict:
    truth = pd.read_csv(os.path.join(values_dir, "values.csv"), dtype=str, keep_default_na=False)
    documents = [{"document_id": row.value_id, "filename": f"{row.value_id}.txt",
                  "values": {row.field: row.raw_value}} for row in truth.itertuples()]
    job = submit_job(api, documents, f"bench-values-{label}", workdir)
    wait_job(api, job["id"])
    run, seconds, exported = resolve(api, job["id"], policy_file, f"bench-{label}")
    wide = pd.read_csv(io.BytesIO(exported), dtype=str, keep_default_na=False)
    by_id = wide.set_index("document_id")
    predicted = [by_id.at[row.value_id, row.field] if row.value_id in by_id.index else ""
                 for row in truth.itertuples()]
    pred = pd.DataFrame({"value_id": truth["value_id"], "predicted": predicted})
    figures = score_values.score(truth, pred)
    merged = figures.pop("_merged")
    wrong = merged[(merged["predicted"] != "") & (merged["predicted"] != merged["canonical"])]
    missed = merged[(merged["predicted"] == "") & (merged["canonical"] != "")]
    return {"policy": policy_file, "values": len(truth), "run_s": seconds,
            "counters": run["counters"], "scores": figures,
            "wrong_examples": wrong[["field", "raw_value", "canonical", "predicted"]].head(40).values.tolist(),
            "missed_examples": missed[["field", "raw_value", "canonical"]].head(40).values.tolist(),
            "missed_count": len(missed)}


def wait_job(api: Api, job_id: str) -> None:
    while True:
        job = api.request("GET", f"/v1/jobs/{job_id}")
        if job["status"] in ("completed", "failed"):
            if job["status"] != "completed":
                raise SystemExit(f"job {job_id} failed")
            return
        time.sleep(0.05)


STANDARD_TABLES = {"country": "iso-3166-1", "currency": "iso-4217", "uom": "unece-rec20"}


def speed(api: Api, values_dir: str, workdir: str, docs: int, worker_pid: str) -> dict:
    truth = pd.read_csv(os.path.join(values_dir, "values.csv"), dtype=str, keep_default_na=False)
    pools = {field: truth[truth["field"] == field]["raw_value"].tolist() for field in FIELDS}
    rng = random.Random(7)
    date_formats = ["%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y", "%B %d, %Y", "%d %b %Y"]
    documents = []
    for i in range(docs):
        day = pd.Timestamp("2024-01-01") + pd.Timedelta(days=rng.randrange(700))
        amount = rng.randrange(100, 10_000_000) / 100
        amount_text = rng.choice([f"{amount:,.2f}", f"{amount:.2f}".replace(".", ","), f"EUR {amount:.2f}", f"{amount}"])
        documents.append({"document_id": f"d{i}", "filename": f"d{i}.pdf", "values": {
            "country": rng.choice(pools["country"]), "currency": rng.choice(pools["currency"]),
            "unit": rng.choice(pools["uom"]), "invoice_date": day.strftime(rng.choice(date_formats)),
            "total": amount_text, "vendor_name": f"Vendor {rng.randrange(5000)} GmbH",
            "memo": f"Payment for INV-{rng.randrange(10**6):06d} thank you",
            "paid": rng.choice(["yes", "no", "true", "false", "1", "0"]),
            "quantity": str(rng.randrange(1, 500))}})
    t = time.perf_counter()
    job = submit_job(api, documents, "bench-values-speed", workdir)
    wait_job(api, job["id"])
    submit_s = time.perf_counter() - t
    run, seconds, _ = resolve(api, job["id"], "resolution-speed-policy.json", "bench-speed")
    values = run["counters"]["fields_resolved"] + run["counters"]["fields_unresolved"] + run["counters"]["fields_waiting"]
    # The same documents with the built-in standard tables (thousands of names in 30 languages).
    body = json.load(open(os.path.join(REPO, "bench", "configs", "resolution-speed-policy.json")))
    for rule in body["rules"]:
        if rule["rule_type"] == "lookup":
            rule["config"]["table"] = STANDARD_TABLES[rule["config"]["table"]]
    standard = os.path.join(workdir, "speed-standard.json")
    json.dump(body, open(standard, "w"))
    _, standard_seconds, _ = resolve(api, job["id"], standard, "bench-speed-standard")
    return {"documents": docs, "values": values, "submit_s": submit_s, "run_s": seconds,
            "values_per_s": values / seconds, "counters": run["counters"],
            "standard_run_s": standard_seconds,
            "worker_peak_rss_mb": peak_rss_mb(worker_pid)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--key", required=True)
    parser.add_argument("--base", default=os.environ.get("CONCORD_BASE_URL", "http://127.0.0.1:8080"))
    parser.add_argument("--values", default=os.path.join(BENCH, "data", "values_public"))
    parser.add_argument("--speed-docs", type=int, default=100_000)
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--json")
    args = parser.parse_args()
    api = Api(args.base, args.key)
    run_dir = os.environ.get("CONCORD_RUN_DIR", os.path.join(REPO, ".run"))
    worker_pid = os.path.join(run_dir, "resolution-worker.pid")
    results: dict = {}
    with tempfile.TemporaryDirectory() as workdir:
        load_vocabularies(api, args.values)
        for label, policy in (("vocabulary", "values-policy.json"), ("standard", "values-policy-standard.json")):
            results[label] = accuracy(api, args.values, workdir, policy, label)
        if not args.no_speed:
            results["speed"] = speed(api, args.values, workdir, args.speed_docs, worker_pid)

    baseline = {"accuracy": 0.991, "wrong_resolution_rate": 0.0057, "correct_abstain": 0.933}
    print()
    print("| policy | resolvable accuracy | wrong resolutions (of all) | no-canonical left unresolved | run s |")
    print("| --- | --- | --- | --- | --- |")
    for label in ("vocabulary", "standard"):
        r = results[label]
        s = r["scores"]
        print(f"| {r['policy']} | {s['resolvable_accuracy']:.4f} | {s['wrong_resolution_rate']:.4f} | "
              f"{s['no_canonical_correct_abstain']:.4f} | {r['run_s']:.2f} |")
    print(f"| RapidFuzz baseline (bench README) | {baseline['accuracy']:.3f} | {baseline['wrong_resolution_rate']:.4f} | "
          f"{baseline['correct_abstain']:.3f} | |")
    if "speed" in results:
        s = results["speed"]
        print(f"\nspeed: {s['values']} values ({s['documents']} documents) resolved in {s['run_s']:.1f} s "
              f"({s['values_per_s']:.0f} values/s; job submitted in {s['submit_s']:.1f} s; "
              f"worker peak RSS {s['worker_peak_rss_mb']} MB); with the built-in tables: {s['standard_run_s']:.1f} s")
    for label in ("vocabulary", "standard"):
        r = results[label]
        print(f"\n{label}: wrong resolutions ({len(r['wrong_examples'])} shown): {r['wrong_examples']}")
        print(f"{label}: {r['missed_count']} resolvable values left unresolved; first: {r['missed_examples'][:15]}")
    if args.json:
        json.dump(results, open(args.json, "w"), indent=2, default=str)


if __name__ == "__main__":
    main()
