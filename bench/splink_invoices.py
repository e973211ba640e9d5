#!/usr/bin/env python3
"""Splink on any invoice-like set directory (refs.csv, docs.csv, truth.csv[, noise_log.csv]).

The bench's splink_baseline.py runs its invoice model only on `data/invoices_public_s1` or on the
scale set it generates itself. This adapter imports that script's own pieces from a bench folder
(the private copy bench/matching.py makes, or the shared one: it is only read, no bytecode is
written there) and runs the very same pipeline -- invoice_normalize's parsing, invoice_settings(),
the same training (prior from the two deterministic rules, u by random sampling, two EM passes),
predict at p >= 0.001, best ref per document -- on the directories given, e.g. the hard sets of
bench/gen_invoices_hard.py. One difference: an EM pass that Splink refuses (an m probability
underflowing below 1e-300, seen on the skewed --only sets) is skipped and listed in the result as
em_passes_skipped instead of failing the set.

    python bench/splink_invoices.py --data DIR [--data DIR ...] [--bench-dir BENCH] \
        [--threshold W] [--workdir W] [--json out.json]

Scores (score_matching.score) at:
  * the match-weight threshold chosen on invoices_public_s1 (as the bench does for its scale set):
    --threshold, else the one in BENCH/results/splink_results.json, else chosen here on BENCH's
    public set with its truth;
  * the threshold chosen on the set itself with its truth ("oracle", optimistic);
  * Splink's untuned match probability >= 0.5.
Per noise mode (score_matching.by_noise_mode, at the public threshold) when the set has a
noise_log.csv. Predictions go to WORKDIR/splink_<set>_pred.csv (document_id, ref_id, confidence =
match weight, match_probability); nothing is written in the bench folder.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # the bench folder may be the shared one: leave no __pycache__ there
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_BENCH = os.path.abspath(os.environ.get("CONCORD_BENCH_DIR", os.path.join(HERE, "..", "..", "shared", "bench")))


def load_bench(bench_dir: str):
    sys.path.insert(0, bench_dir)
    import splink_baseline as sb  # noqa: E402  (imports invoice_normalize, score_matching, splink)
    return sb


def run_dir(sb, data_dir: str, name: str, threshold: float | None, workdir: str) -> dict:
    """splink_baseline.run_invoices for an arbitrary directory (same steps, same settings)."""
    pd = sb.pd
    t0 = time.perf_counter()
    docs, refs, truth = (sb._read(os.path.join(data_dir, f)) for f in ("docs.csv", "refs.csv", "truth.csv"))
    nd, nr = sb.inorm.norm_docs(docs), sb.inorm.norm_refs(refs)
    for df in (nd, nr):
        for c in ("date_a", "date_b"):
            df[c] = pd.to_datetime(df[c], errors="coerce")
    t_prep = time.perf_counter() - t0

    t1 = time.perf_counter()
    db_api = sb.DuckDBAPI()
    sdf_d = db_api.register(nd, dataset_display_name="docs")
    sdf_r = db_api.register(nr, dataset_display_name="refs")
    linker = sb.Linker([sdf_d, sdf_r], sb.invoice_settings(), log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(
        ["l.inv_norm = r.inv_norm and l.vendor_norm = r.vendor_norm",
         "l.po_norm = r.po_norm and l.amount_cents = r.amount_cents"], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=5e6, seed=1)
    em_failed = []
    for column in ("inv_norm", "vendor_norm"):
        # Splink 5 refuses an m probability that underflows (below 1e-300), which happens on sets where
        # half the documents carry one kind (the --only sets): the pass is then skipped and recorded,
        # the model keeps the other pass's estimates.
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(sb.block_on(column))
        except ValueError as error:
            em_failed.append(f"EM blocked on {column}: {str(error)[:160]}")
    if len(em_failed) == 2:
        raise RuntimeError("both EM passes failed: " + " | ".join(em_failed))
    t_train = time.perf_counter() - t1

    t2 = time.perf_counter()
    pred = linker.inference.predict(threshold_match_probability=0.001, warning_mode="never")
    n_pairs = db_api._con.execute(f"select count(*) from {pred.physical_name}").fetchone()[0]
    best = sb.best_per_document(pred, "docs", db_api, "uid")
    t_pred = time.perf_counter() - t2
    total = time.perf_counter() - t0

    res = dict(task=name, data=data_dir, docs=len(docs), refs=len(refs),
               candidate_pairs_scored_above_0_001=int(n_pairs), prep_s=round(t_prep, 2),
               train_s=round(t_train, 2), predict_s=round(t_pred, 2), total_s=round(total, 2), env=sb._env())
    if em_failed:
        res["em_passes_skipped"] = em_failed
    oracle_t, oracle = sb.choose_threshold(best, truth)
    res["at_oracle_threshold"] = dict(threshold_match_weight=oracle_t, **sb._summ(oracle))
    if threshold is None:
        threshold = oracle_t
        res["threshold_chosen_here"] = True
    conf = best.rename(columns={"match_weight": "confidence"})
    r = sb.score_matching.score(truth, conf[["document_id", "ref_id", "confidence"]], threshold)
    res["threshold_match_weight"] = threshold
    res["scores"] = sb._summ(r)
    res["at_probability_0.5_untuned"] = sb._summ(sb.score_matching.score(
        truth, best.rename(columns={"match_probability": "confidence"})[["document_id", "ref_id", "confidence"]],
        0.5))
    noise_path = os.path.join(data_dir, "noise_log.csv")
    if os.path.exists(noise_path) or os.path.exists(noise_path + ".gz"):
        tab = sb.score_matching.by_noise_mode(r["_merged"], sb._read(noise_path))
        res["per_noise_mode"] = {g: [int(n), round(float(c), 4)]
                                 for g, n, c in tab[["group", "n", "correct"]].itertuples(index=False)}
    os.makedirs(workdir, exist_ok=True)
    res["pred_csv"] = os.path.join(workdir, f"splink_{name}_pred.csv")
    sb._write_pred(best, res["pred_csv"])
    return res


def public_threshold(sb, workdir: str) -> tuple[float, str]:
    try:
        return sb._public_threshold(), "from results/splink_results.json (chosen on invoices_public_s1)"
    except SystemExit:
        r = run_dir(sb, os.path.join(sb.DATA, "invoices_public_s1"), "invoices_public_s1", None, workdir)
        return r["threshold_match_weight"], "chosen here on invoices_public_s1"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", action="append", required=True, help="a set directory (repeatable)")
    ap.add_argument("--name", action="append", help="a name per --data (default: the directory's name)")
    ap.add_argument("--bench-dir", default=DEFAULT_BENCH, help="the bench folder whose splink_baseline.py to use")
    ap.add_argument("--threshold", type=float, help="match-weight threshold (default: the public set's)")
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "concord-bench"))
    ap.add_argument("--json", help="write the results (a list, one per --data) here")
    a = ap.parse_args(argv)
    names = a.name or [os.path.basename(os.path.normpath(d)) for d in a.data]
    if len(names) != len(a.data):
        ap.error("give one --name per --data")
    sb = load_bench(os.path.abspath(a.bench_dir))
    if a.threshold is not None:
        th, how = a.threshold, "given"
    else:
        th, how = public_threshold(sb, a.workdir)
    out = []
    for d, n in zip(a.data, names):
        try:
            res = run_dir(sb, os.path.abspath(d), n, th, a.workdir)
        except Exception as error:  # e.g. an EM pass that cannot estimate a level on a skewed set
            print(f"{n}: Splink failed: {type(error).__name__}: {str(error)[:300]}", file=sys.stderr, flush=True)
            out.append(dict(task=n, data=os.path.abspath(d), error=f"{type(error).__name__}: {error}"))
            continue
        res["threshold_source"] = how
        s, o, p = res["scores"], res["at_oracle_threshold"], res["at_probability_0.5_untuned"]
        print(f"{n}: w >= {th:.4f} ({how}): P {s['precision']:.4f} R {s['recall']:.4f} F1 {s['f1']:.4f} "
              f"no-match {s['no_match_accuracy']}; oracle w >= {o['threshold_match_weight']:.4f}: F1 {o['f1']:.4f} "
              f"no-match {o['no_match_accuracy']}; p >= 0.5: F1 {p['f1']:.4f} no-match {p['no_match_accuracy']}; "
              f"{res['total_s']:.1f} s", flush=True)
        out.append(res)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
