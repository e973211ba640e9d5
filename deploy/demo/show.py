"""Prints the demo's answers readably: `python3 show.py dataset|results|resolution|table|built-ins|policy|error|field NAME` reads JSON on stdin."""
import json
import sys


def dataset(d):
    columns = ", ".join(f"{c['name']} ({c['type']})" for c in d["columns"])
    print(f"  {d['id']}: {d['row_count']} rows; columns: {columns}")


def results(page):
    for r in page["data"]:
        flag = " (ambiguous)" if r["ambiguous"] else ""
        match = r["matched_reference_row_id"] or "no match"
        print(f"\n  {r['document_id']} -> {match}  confidence {r['confidence']:.3f}  status {r['status']}{flag}")
        for e in r["evidence"]:
            score = "missing" if e["score"] is None else f"{e['score']:.2f}"
            print(f"      {e['source']:<15} {e['strategy']:<13} {score:>7}   "
                  f"{str(e['document_value']):<28} ~ {e['reference_value']}")
        print("      candidates: " + ", ".join(
            f"{c['reference_row_id']} {c['confidence']:.3f}" for c in r["candidates"]))


def table(t):
    print(f"  {t['name']} v{t['version']}: extends {t['extends']}, {t['entry_count']} own entries")


def built_ins(page):
    print(", ".join(t["name"] for t in page["data"] if t.get("built_in")))


def policy(p):
    print(f"  policy {p['id']} v{p['version']}: {len(p['fields'])} fields, {len(p['rules'])} rules")


def error(body):
    e = body["error"]
    print(f"  {e['code']}: {e['message']}")


def resolution(page):
    for r in page["data"]:
        step = r["resolution_step"] or "-"
        value = "null" if r["resolved_value"] is None else json.dumps(r["resolved_value"], ensure_ascii=False)
        original = "" if r["original_value"] is None else r["original_value"]
        line = (f"  {r['document_id']:<14} {r['field_key']:<12} {original!s:<26.26} -> {value:<22} "
                f"{step:<8} {r['confidence']:.2f}  {r['status']}")
        if r["candidates"] and r["resolution_step"] != "lookup" or (r["candidates"] and r["confidence"] < 0.99):
            line += "   candidates: " + ", ".join(f"{c['code']} {c['score']:.2f}" for c in r["candidates"][:3])
        if r.get("model") or r.get("ai_flag"):
            line += f"\n{'':<16}model {r.get('model')}: {r.get('rationale')!r}"
            if r.get("ai_flag"):
                line += f" (not used: {r['ai_flag']})"
        print(line)


def smart(page):
    for r in page["data"]:
        ai = r.get("ai")
        if not ai:
            continue
        match = r["matched_reference_row_id"] or "no match"
        print(f"  {r['document_id']} -> {match} (resolved by {r['resolved_by']}); model {ai['model']} "
              f"suggested {ai['suggested_reference_row_id']} at {ai['confidence']}: {ai['rationale']!r}"
              + (f" — not applied: {ai['flag']}" if ai['flag'] else " — applied"))


if __name__ == "__main__":
    body = json.load(sys.stdin)
    what = sys.argv[1]
    if what == "dataset":
        dataset(body)
    elif what == "results":
        results(body)
    elif what == "resolution":
        resolution(body)
    elif what == "smart":
        smart(body)
    elif what in ("table", "policy", "error"):
        globals()[what](body)
    elif what == "table-id":
        print(next((t["id"] for t in body["data"] if t["name"] == sys.argv[2]), ""))
    elif what == "built-ins":
        built_ins(body)
    elif what == "field":
        value = body
        for part in sys.argv[2].split("."):
            value = value[part]
        print(value)
