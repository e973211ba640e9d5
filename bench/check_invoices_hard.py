#!/usr/bin/env python3
"""Offline checks of bench/gen_invoices_hard.py against the shared generator (no service needed).

    python bench/check_invoices_hard.py [--workdir DIR] [--quick]

1. `--hard-rate 0` gives byte-identical files to the shared gen_invoices.py (2,000 x 10,000, seed 1).
2. The same arguments give byte-identical files (the `hard` set, 2,000 x 10,000, seed 11, twice).
3. The hard set against the shared generator's set of the same seed: same refs, truth, document ids,
   filenames and kinds; the shared modes kept, in order, with the hard kinds after them; a document
   without a hard kind identical to the shared one; a hard kind changing only the fields it may touch;
   truth and noise log consistent (a ref exactly for `matched` / `duplicate_scan` documents, every
   ref_id in refs.csv).
4. The mix: share of matched documents carrying 0 / 1 / 2 hard kinds, and per kind its share of all
   documents (and of matched ones); with `--only K` (1,000 x 5,000, seed 12) the documents carrying K.
Exits non-zero on a failed check. Plain python3 (no pandas).
"""
from __future__ import annotations

import argparse
import collections
import csv
import hashlib
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.abspath(os.environ.get("CONCORD_BENCH_DIR", os.path.join(HERE, "..", "..", "shared", "bench")))
GEN_HARD = os.path.join(HERE, "gen_invoices_hard.py")
GEN_SHARED = os.path.join(SHARED, "gen_invoices.py")
sys.path.insert(0, HERE)
import gen_invoices_hard as gh  # noqa: E402

FILES = ("refs.csv", "docs.csv", "truth.csv", "noise_log.csv")
DOC_FIELDS = ("vendor_name", "invoice_number", "invoice_date", "amount", "currency", "po_number")
ALLOWED = {  # the fields each hard kind may change
    **{k: {"vendor_name"} for k in gh.HARD_KINDS if k.startswith("hard.name_")},
    **{k: {"invoice_number"} for k in gh.HARD_KINDS if k.startswith("hard.inv_")},
    **{k: {"invoice_date"} for k in gh.HARD_KINDS if k.startswith("hard.date_")},
    **{k: {"amount"} for k in gh.HARD_KINDS if k.startswith("hard.amount_")},
    "hard.currency_wrong": {"currency", "amount"},
    "hard.fields_missing": set(DOC_FIELDS),
    "hard.field_shift": {"invoice_number", "po_number", "currency", "amount"},
    "hard.mojibake": set(gh.MOJIBAKE_FIELDS),
    "hard.unicode_form": {"vendor_name", "invoice_number", "amount"},
}
assert set(ALLOWED) == set(gh.HARD_KINDS)
failures: list[str] = []


def check(ok: bool, what: str):
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failures.append(what)


def gen(script: str, out: str, docs: int, refs: int, seed: int, *extra: str):
    subprocess.run([sys.executable, script, "--docs", str(docs), "--refs", str(refs), "--seed", str(seed),
                    "--out", out, *extra], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def md5s(d: str) -> dict:
    return {f: hashlib.md5(open(os.path.join(d, f), "rb").read()).hexdigest() for f in FILES}


def rows(path: str) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def compare(hard_dir: str, shared_dir: str) -> dict:
    """Check 3 for one hard set; returns {document_id: [hard kinds]}."""
    check(md5s(hard_dir)["refs.csv"] == md5s(shared_dir)["refs.csv"], f"{hard_dir}: refs.csv = shared")
    check(md5s(hard_dir)["truth.csv"] == md5s(shared_dir)["truth.csv"], f"{hard_dir}: truth.csv = shared")
    hd, sd = rows(os.path.join(hard_dir, "docs.csv")), rows(os.path.join(shared_dir, "docs.csv"))
    hn, sn = rows(os.path.join(hard_dir, "noise_log.csv")), rows(os.path.join(shared_dir, "noise_log.csv"))
    truth = rows(os.path.join(hard_dir, "truth.csv"))
    ref_ids = {r["ref_id"] for r in rows(os.path.join(hard_dir, "refs.csv"))}
    check([d["document_id"] for d in hd] == [d["document_id"] for d in sd] == [t["document_id"] for t in truth]
          == [n["document_id"] for n in hn], f"{hard_dir}: same document ids, in order, in docs/truth/noise_log")
    check([d["document_filename"] for d in hd] == [d["document_filename"] for d in sd],
          f"{hard_dir}: filenames = shared")
    check([n["kind"] for n in hn] == [n["kind"] for n in sn], f"{hard_dir}: document kinds = shared")
    bad_truth = [t["document_id"] for t, n in zip(truth, hn)
                 if (t["ref_id"] != "") != (n["kind"] in ("matched", "duplicate_scan"))
                 or (t["ref_id"] and t["ref_id"] not in ref_ids)]
    check(not bad_truth, f"{hard_dir}: truth agrees with the noise log's kinds, refs exist ({len(bad_truth)} bad)")
    hard_of, bad_modes, bad_same, bad_fields, unknown = {}, [], [], [], []
    for h, s, n_h, n_s in zip(hd, sd, hn, sn):
        modes = [m for m in n_h["modes"].split(";") if m]
        public = [m for m in modes if not m.startswith("hard.")]
        hard = [m for m in modes if m.startswith("hard.")]
        unknown += [m for m in hard if m not in gh.HARD_KINDS]
        if public != [m for m in n_s["modes"].split(";") if m] or modes != public + hard:
            bad_modes.append(h["document_id"])
        changed = {f for f in DOC_FIELDS if h[f] != s[f]}
        if not hard and changed:
            bad_same.append(h["document_id"])
        if hard and not changed <= set().union(*(ALLOWED[k] for k in hard)):
            bad_fields.append((h["document_id"], hard, sorted(changed)))
        if hard and not changed:
            bad_fields.append((h["document_id"], hard, "nothing changed"))
        hard_of[h["document_id"]] = hard
    check(not unknown, f"{hard_dir}: every hard mode is a known kind {sorted(set(unknown))[:5]}")
    check(not bad_modes, f"{hard_dir}: shared modes kept in order, hard kinds after them ({len(bad_modes)} bad)")
    check(not bad_same, f"{hard_dir}: documents without a hard kind = shared ({len(bad_same)} differ)")
    check(not bad_fields, f"{hard_dir}: hard kinds change only their fields, and change something "
                          f"({len(bad_fields)} bad: {bad_fields[:3]})")
    return {"hard": hard_of, "kinds": {n["document_id"]: n["kind"] for n in hn}}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "concord-bench-check"))
    ap.add_argument("--quick", action="store_true", help="skip the per-kind --only sets")
    a = ap.parse_args()
    w = a.workdir
    os.makedirs(w, exist_ok=True)

    # 1. rate 0 = the shared generator
    gen(GEN_SHARED, os.path.join(w, "shared_s1"), 2000, 10000, 1)
    gen(GEN_HARD, os.path.join(w, "hard0_s1"), 2000, 10000, 1, "--hard-rate", "0")
    m0, ms = md5s(os.path.join(w, "hard0_s1")), md5s(os.path.join(w, "shared_s1"))
    for f in FILES:
        print(f"      {f}: shared {ms[f]}  hard-rate 0 {m0[f]}")
    check(m0 == ms, "--hard-rate 0 gives the shared generator's bytes (2,000 x 10,000, seed 1)")

    # 2. deterministic
    gen(GEN_HARD, os.path.join(w, "hard_s11_a"), 2000, 10000, 11)
    gen(GEN_HARD, os.path.join(w, "hard_s11_b"), 2000, 10000, 11)
    ma, mb = md5s(os.path.join(w, "hard_s11_a")), md5s(os.path.join(w, "hard_s11_b"))
    for f in FILES:
        print(f"      {f}: {ma[f]}  {mb[f]}")
    check(ma == mb, "the hard set twice: byte-identical (2,000 x 10,000, seed 11)")
    gen(GEN_HARD, os.path.join(w, "hard_only_a"), 300, 1500, 5, "--only", "amount_net,mojibake")
    gen(GEN_HARD, os.path.join(w, "hard_only_b"), 300, 1500, 5, "--only", "amount_net,mojibake")
    check(md5s(os.path.join(w, "hard_only_a")) == md5s(os.path.join(w, "hard_only_b")),
          "--only twice: byte-identical")

    # 3. against the shared set of the same seed
    gen(GEN_SHARED, os.path.join(w, "shared_s11"), 2000, 10000, 11)
    info = compare(os.path.join(w, "hard_s11_a"), os.path.join(w, "shared_s11"))

    # 4. the mix
    hard, kinds = info["hard"], info["kinds"]
    matched = [d for d, k in kinds.items() if k in ("matched", "duplicate_scan")]
    dist = collections.Counter(min(len(hard[d]), 2) for d in matched)
    print(f"\nmatched documents: {len(matched)}; carrying 0 / 1 / 2 hard kinds: "
          + " / ".join(f"{dist[i] / len(matched):.1%}" for i in range(3)))
    check(0.30 <= dist[1] / len(matched) <= 0.40, "30-40 % of matched documents carry exactly one hard kind")
    check(0.03 <= dist[2] / len(matched) <= 0.07, "about 5 % carry two")
    per_all = collections.Counter(k for d in hard for k in hard[d])
    per_matched = collections.Counter(k for d in matched for k in hard[d])
    only_counts = {}
    if not a.quick:
        for k in gh.HARD_KINDS:
            d = os.path.join(w, f"only_{k}")
            gen(GEN_HARD, d, 1000, 5000, 12, "--only", k)
            only_counts[k] = sum(1 for n in rows(os.path.join(d, "noise_log.csv"))
                                 if k in n["modes"].split(";") and n["kind"] in ("matched", "duplicate_scan"))
        gen(GEN_SHARED, os.path.join(w, "shared_s12"), 1000, 5000, 12)
        for k in gh.HARD_KINDS:  # each --only set against the shared set of its seed
            compare(os.path.join(w, f"only_{k}"), os.path.join(w, "shared_s12"))
    print(f"\n{'kind':24} {'rate':>6} {'share all':>9} {'share matched':>13} {'--only: matched docs with it':>29}")
    for k, (_g, r) in gh.HARD_KINDS.items():
        print(f"{k:24} {r:6.3f} {per_all[k] / len(kinds):9.3f} {per_matched[k] / len(matched):13.3f} "
              f"{only_counts.get(k, ''):>29}")
    print(f"\n{len(failures)} failed check(s)" if failures else "\nall checks passed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
