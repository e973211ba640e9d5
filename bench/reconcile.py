#!/usr/bin/env python3
"""The reconciliation benchmark (`make bench-reconcile`): the invoice bench's extracted vendor
names reconciled, as OpenRefine would, against a vendor master made of the ledger's distinct
vendors with their tax ids, through the running stack's W3C Reconciliation service.

    python3 bench/reconcile.py --key KEY [--gateway URL] [--data DIR] [--batch 10]

From DIR (default: the shared bench's data/invoices_public_s1): refs.csv gives the vendor master
(each distinct vendor name with its tax id, an id V0001...), docs.csv the extracted vendor names
and truth.csv, through each document's ledger row, the vendor each name is. Documents without a
ledger row are left out (their vendor is not known to the truth). It uploads the master, creates a
config scoring `weighted` (the name fuzzily, the tax id exactly: a master has no history to
train a model on), issues a reconciliation token, and posts the names in batches of `--batch` as
a form with `queries=` (OpenRefine's own request). Reported:

  * top-1: the first candidate is the vendor;
  * among the best: the vendor has the best score (possibly tied with namesakes);
  * match:true: on how many names, and how many of those are the vendor (precision);
  * speed: names per second and per batch latency, from a single client.

Standard library only.
"""
from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import statistics
import time
import urllib.parse

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.abspath(os.environ.get("CONCORD_BENCH_DIR", os.path.join(REPO, "..", "shared", "bench")))


def request(conn, method, path, body=None, headers=None):
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    return response.status, data


def api(conn, key, method, path, body):
    status, data = request(conn, method, path, json.dumps(body),
                           {"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    if status not in (200, 201, 202):
        raise SystemExit(f"{method} {path}: {status} {data[:500]!r}")
    return json.loads(data)


def load(data_dir):
    with open(os.path.join(data_dir, "refs.csv"), newline="") as f:
        refs = list(csv.DictReader(f))
    vendors, vendor_of_ref = {}, {}
    for ref in refs:
        name = ref["vendor_name"]
        if name not in vendors:
            vendors[name] = {"vendor_id": f"V{len(vendors) + 1:05d}", "name": name,
                             "tax_id": ref.get("vendor_tax_id") or None}
        vendor_of_ref[ref["ref_id"]] = vendors[name]["vendor_id"]
    with open(os.path.join(data_dir, "truth.csv"), newline="") as f:
        truth = {row["document_id"]: row["ref_id"] for row in csv.DictReader(f)}
    names = []
    with open(os.path.join(data_dir, "docs.csv"), newline="") as f:
        for doc in csv.DictReader(f):
            ref = truth.get(doc["document_id"])
            if ref and doc["vendor_name"].strip():
                names.append((doc["vendor_name"], vendor_of_ref[ref]))
    return list(vendors.values()), names


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--key", required=True)
    parser.add_argument("--gateway", default=os.environ.get("CONCORD_URL", "http://127.0.0.1:8080"))
    parser.add_argument("--data", default=os.path.join(BENCH, "data", "invoices_public_s1"))
    parser.add_argument("--batch", type=int, default=10)
    args = parser.parse_args()

    url = urllib.parse.urlparse(args.gateway)
    conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=300)
    vendors, names = load(args.data)
    print(f"[reconcile] {len(vendors):,} vendors in the master, {len(names):,} extracted names "
          f"({os.path.basename(args.data.rstrip('/'))})", flush=True)

    dataset = api(conn, args.key, "POST", "/v1/reference-data",
                  {"name": "vendor master", "id_column": "vendor_id", "rows": vendors})
    config = api(conn, args.key, "POST", "/v1/matching/configs", {
        "name": "vendor master (reconcile bench)",
        "reference_data_id": dataset["id"],
        "scoring": "weighted",
        "field_mappings": [
            {"source": "vendor_name", "target": "name", "strategy": "fuzzy", "params": {"kind": "name"}, "weight": 2},
            {"source": "tax_id", "target": "tax_id", "strategy": "exact", "weight": 1},
        ],
        "threshold": 0.85,
        "review_band": {"lower": 0.6},
    })
    token = api(conn, args.key, "POST", f"/v1/matching/configs/{config['id']}/reconciliation-tokens",
                {"name": "reconcile bench"})
    path = urllib.parse.urlparse(token["service_url"]).path

    top1 = among_best = sure = sure_right = 0
    wrong = []
    latencies = []
    started = time.perf_counter()
    for at in range(0, len(names), args.batch):
        chunk = names[at:at + args.batch]
        batch = {f"q{i}": {"query": name} for i, (name, _) in enumerate(chunk)}
        form = urllib.parse.urlencode({"queries": json.dumps(batch)})
        t = time.perf_counter()
        status, data = request(conn, "POST", path, form,
                               {"Content-Type": "application/x-www-form-urlencoded"})
        latencies.append((time.perf_counter() - t) * 1000)
        if status != 200:
            raise SystemExit(f"batch at {at}: {status} {data[:500]!r}")
        results = json.loads(data)
        for i, (_, vendor) in enumerate(chunk):
            candidates = results[f"q{i}"]["result"]
            if not candidates:
                continue
            best = candidates[0]
            right = best["id"] == vendor
            top1 += right
            among_best += any(c["id"] == vendor and c["score"] == best["score"] for c in candidates)
            if best.get("match"):
                sure += 1
                sure_right += right
                if not right:
                    wrong.append((chunk[i][0], best["name"], best["score"], vendor))
    elapsed = time.perf_counter() - started
    n = len(names)
    print(f"[reconcile] top-1 {top1 / n:.4f} ({top1:,}/{n:,}); among the best (ties with namesakes) "
          f"{among_best / n:.4f}")
    print(f"[reconcile] match:true on {sure:,} names ({sure / n:.4f}); precision "
          f"{sure_right / max(sure, 1):.4f} ({sure - sure_right} wrong)")
    names_by_id = {v["vendor_id"]: v["name"] for v in vendors}
    for query, name, score, vendor in wrong:
        print(f"[reconcile]   match:true but wrong: {query!r} → {name!r} ({score:.1f}); "
              f"the vendor is {names_by_id[vendor]!r}")
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"[reconcile] {n / elapsed:,.0f} names/s from one client; batch of {args.batch}: "
          f"p50 {statistics.median(latencies):.1f} ms, p99 {p99:.1f} ms")


if __name__ == "__main__":
    main()
