#!/usr/bin/env python3
"""The chaos suite (`make chaos`, bounded: `make chaos-ci`): faults injected in the middle of a
matching run and of a resolution run on the running stack (release binaries; `make chaos-ci`: the
dev-profile ones `make test` built), each run then checked.

Seeds through the REST API like a user: an invoice set of bench/gen_invoices_hard.py (--docs documents x
--docs reference rows, seed 3), a probabilistic config (bench/configs/invoices.json) and, for
resolution, --docs documents x 10 fields with bench/configs/resolution-speed-policy.json on the
built-in tables. A `baseline` run of each kind comes first (no fault: it trains the config's model
and gives the results every faulted run must reproduce). Then each scenario starts a run, waits
until its progress shows it started and is below --inject-below (50 %), and injects:

  kill9     kill -9 of the kind's worker (matching-worker or resolution-worker), restarted after
            --restart-delay seconds by `deploy/services.sh up` (as an orchestrator would)
  sigterm   SIGTERM to the worker while it takes a chunk; it drains and exits; restarted likewise
  broker    RabbitMQ stopped (`rabbitmqctl stop_app`) for --broker-down seconds, then started
  database  PostgreSQL restarted (`pg_ctlcluster --skip-systemctl-redirect <version> main restart`)
  poison    malformed messages published to the kind's work queue (through the management API):
            a body that is not JSON, a job without a message id, a job naming a run that does not
            exist, and a job naming the running run with a chunk whose range is no range
  unplanned a well-formed chunk of the running run whose index is outside its plan
            (chunks_total + 7), over documents 0..10: dead-lettered ("outside its plan"), the run
            unaffected (before the engine checked the plan, it was counted and completed the run early)
  sender    kill -9 of the webhook-sender, restarted only once the run has ended: the completion
            event is published while no sender runs

A third kind, `smart`, is a smart matching run of the set's first --smart-docs (60; --ci 30) documents: its
faults (kill9, sigterm, broker, database) hit it during the ai-resolver's AI pass, kill9 and sigterm
killing the ai-resolver (see `Smart` for what is checked besides).

and asserts, for every run: it completes (status `completed`); every document counted once
(rows_processed / documents_processed == documents; every planned chunk tallied once); one result
per document (SQL on the `concord` database: no duplicate document position) and the same results
as the baseline run (a digest of every decision); its completion event in the outbox exactly once
and delivered on the events exchange once (a tap queue bound to the events exchange counts them,
by event id) and received by a webhook on loopback once (by event id; the suite subscribes one to
the completion events); and for matching the F1 of the exported results against the generator's truth. For
`poison`, also that each poison message lands in the kind's dead-letter queue with a readable
`x-concord-error` naming what is wrong (docs/DESIGN.md: "Permanent failures go to the dead-letter
queue"; a malformed message names no run it could fail — the run it names, if any, goes on).

Restarting RabbitMQ and PostgreSQL affects everyone on the machine: before a broker or database
scenario the suite waits until no `cargo nextest` runs (at most --test-wait seconds; past them
the scenario is skipped and reported as skipped), holds /tmp/concord-chaos.lock from the start of
the run to the end of the restart, and always leaves both servers running.

    python3 bench/chaos.py --key KEY [--docs 100000] [--scenarios matching:kill9,resolution:broker,...]
                           [--ci] [--json out.json]

Standard library only; needs psql, rabbitmqctl and pg_ctlcluster on the PATH, and RabbitMQ's
management plugin (deploy/deps.sh enables it).
"""
from __future__ import annotations

import argparse
import base64
import csv
import datetime as dt
import hashlib
import io
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN_DIR = os.environ.get("CONCORD_RUN_DIR", os.path.join(REPO, ".run"))
NAMESPACE = os.environ.get("CONCORD_NAMESPACE", "concord")
LOCK = "/tmp/concord-chaos.lock"
KINDS = ("matching", "resolution", "smart")
# `unplanned`: a well-formed chunk message of the running run whose index is outside the run's plan
# (a forged or stale message), with a valid range of documents: dead-lettered, the run unaffected.
# `sender`: kill -9 of the webhook-sender mid-run, restarted only once the run has ended: the
# completion event, published while no sender runs, must still reach the webhook once.
FAULTS = ("kill9", "sigterm", "broker", "database", "poison", "unplanned", "sender")
EXTRA_FAULTS: tuple[str, ...] = ()
WORKER = {"matching": "matching-worker", "resolution": "resolution-worker", "smart": "ai-resolver"}
# A smart run's faults hit the ai-resolver during its AI pass; poison for its queue is not built.
SMART_FAULTS = ("kill9", "sigterm", "broker", "database")
# The bounded suite: every fault once, across both kinds (plus each kind's baseline).
CI_SCENARIOS = ["matching:kill9", "matching:broker", "matching:poison", "resolution:sigterm", "resolution:database",
                "resolution:unplanned", "resolution:sender", "smart:kill9"]
TAP_QUEUE = f"{NAMESPACE}.chaos-events-tap"
STANDARD_TABLES = {"country": "iso-3166-1", "currency": "iso-4217", "uom": "unece-rec20"}


def log(message: str) -> None:
    print(f"[chaos] {message}", flush=True)


# --- the REST API -------------------------------------------------------------------------------

class Api:
    """The gateway, tolerant of faults: a request that meets a restarting dependency (connection
    refused, 5xx) is tried again until `patience` seconds have passed."""

    def __init__(self, base: str, key: str):
        self.base = base.rstrip("/")
        self.key = key

    def request(self, method: str, path: str, body=None, content_type: str | None = None, raw: bool = False,
                patience: float = 120.0):
        headers = {"Authorization": f"Bearer {self.key}"}
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            content_type = "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        deadline = time.time() + patience
        while True:
            req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=600) as resp:
                    data = resp.read()
                return data if raw else json.loads(data or b"null")
            except urllib.error.HTTPError as error:
                text = error.read().decode(errors="replace")[:1000]
                if error.code == 429:
                    time.sleep(float(error.headers.get("Retry-After", "1")))
                    continue
                if error.code < 500 or time.time() > deadline:
                    raise SystemExit(f"{method} {path}: {error.code} {text}")
            except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
                if time.time() > deadline:
                    raise SystemExit(f"{method} {path}: {error}")
            time.sleep(0.5)


# --- PostgreSQL, RabbitMQ, the services ---------------------------------------------------------

def sql(query: str, patience: float = 120.0) -> list[list[str]]:
    """Rows of a query on the local `concord` database (retried while PostgreSQL restarts)."""
    deadline = time.time() + patience
    while True:
        proc = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-w", "-d",
                               os.environ.get("CONCORD_DB_NAME", "concord"), "-AtF", "\t", "-c", query],
                              capture_output=True, text=True)
        if proc.returncode == 0:
            return [line.split("\t") for line in proc.stdout.splitlines() if line]
        if time.time() > deadline:
            raise SystemExit(f"psql failed: {proc.stderr.strip()}")
        time.sleep(0.5)


def scalar(query: str) -> str:
    rows = sql(query)
    return rows[0][0] if rows else ""


class Management:
    """RabbitMQ's management HTTP API (publish, get, declare, bind, purge)."""

    def __init__(self, base: str, user: str, password: str):
        self.base = base.rstrip("/")
        self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def call(self, method: str, path: str, body=None, patience: float = 120.0):
        deadline = time.time() + patience
        while True:
            data = json.dumps(body).encode() if body is not None else None
            req = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Authorization": self.auth, "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=30) as resp:
                    out = resp.read()
                return json.loads(out) if out else None
            except urllib.error.HTTPError as error:
                text = error.read().decode(errors="replace")[:500]
                if error.code < 500 or time.time() > deadline:
                    raise SystemExit(f"RabbitMQ management {method} {path}: {error.code} {text}")
            except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
                if time.time() > deadline:
                    raise SystemExit(f"RabbitMQ management {method} {path}: {error} "
                                     "(is the management plugin enabled? deploy/deps.sh enables it)")
            time.sleep(0.5)

    @staticmethod
    def q(name: str) -> str:
        return urllib.parse.quote(name, safe="")

    def publish(self, exchange: str, routing_key: str, payload: str, properties: dict) -> bool:
        answer = self.call("POST", f"/api/exchanges/%2f/{self.q(exchange)}/publish",
                           {"properties": properties, "routing_key": routing_key, "payload": payload,
                            "payload_encoding": "string"})
        return bool(answer and answer.get("routed"))

    def get_all(self, queue: str) -> list[dict]:
        """Takes every message of a queue (acknowledged: they leave it)."""
        out = []
        while True:
            batch = self.call("POST", f"/api/queues/%2f/{self.q(queue)}/get",
                              {"count": 500, "ackmode": "ack_requeue_false", "encoding": "auto"})
            if not batch:
                return out
            out += batch

    def purge(self, queue: str) -> None:
        self.call("DELETE", f"/api/queues/%2f/{self.q(queue)}/contents")

    def declare_tap(self) -> None:
        self.call("PUT", f"/api/queues/%2f/{self.q(TAP_QUEUE)}",
                  {"durable": True, "arguments": {"x-queue-type": "quorum"}})
        for key in ("matching.run.#", "resolution.#"):
            self.call("POST", f"/api/bindings/%2f/e/{self.q(NAMESPACE + '.events')}/q/{self.q(TAP_QUEUE)}",
                      {"routing_key": key})

    def delete_tap(self) -> None:
        try:
            self.call("DELETE", f"/api/queues/%2f/{self.q(TAP_QUEUE)}", patience=10)
        except SystemExit:
            pass


def pid_of(service: str) -> int | None:
    try:
        pid = int(open(os.path.join(RUN_DIR, f"{service}.pid")).read().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def services_up() -> None:
    """Starts whatever service is not running and waits for every one to be ready."""
    env = dict(os.environ, CONCORD_PROFILE=os.environ.get("CONCORD_PROFILE", "release"))
    proc = subprocess.run(["bash", os.path.join(REPO, "deploy", "services.sh"), "up"], env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"deploy/services.sh up failed:\n{proc.stdout}\n{proc.stderr}")


def test_runs() -> list[str]:
    """The `cargo nextest` runs on this machine (processes named exactly `cargo-nextest`), each as
    "pid N in DIR": the tests a restart of the shared servers would break. Only the exact process
    name counts: waiting on any command line that said `nextest` once held chaos-ci until CI's time
    ran out."""
    found = subprocess.run(["pgrep", "-x", "cargo-nextest"], capture_output=True, text=True).stdout.split()
    runs = []
    for pid in found:
        try:
            runs.append(f"pid {pid} in {os.readlink(f'/proc/{pid}/cwd')}")
        except OSError:
            continue
    return runs


class TestsRunning(Exception):
    """A broker or database scenario not run: test runs kept the shared servers busy too long."""


class SharedRestart:
    """Held from before a run whose fault restarts a shared server to after the restart: waits
    (at most `patience` seconds) until no test run is in progress, then holds
    /tmp/concord-chaos.lock. Raises `TestsRunning` when the patience runs out: the scenario is then
    skipped (reported as such), never run under someone's tests and never waited for without end."""

    def __init__(self, patience: float):
        self.patience = patience

    def __enter__(self):
        deadline = time.time() + self.patience
        announced = False
        while runs := test_runs():
            if time.time() >= deadline:
                raise TestsRunning(f"a cargo nextest run ({'; '.join(runs)}) was still in progress after "
                                   f"{self.patience:.0f} s (--test-wait)")
            if not announced:
                log(f"a cargo nextest run is in progress ({'; '.join(runs)}); waiting for it, at most "
                    f"{self.patience:.0f} s, before restarting a shared server")
                announced = True
            time.sleep(5)
        with open(LOCK, "w") as f:
            f.write(f"pid {os.getpid()} bench/chaos.py since {dt.datetime.now().isoformat()}\n")
        return self

    def __exit__(self, *exc):
        ensure_servers()
        try:
            os.remove(LOCK)
        except FileNotFoundError:
            pass
        return False


def pg_version() -> str:
    return sorted(os.listdir("/etc/postgresql"))[-1]


def broker_answers() -> bool:
    return subprocess.run(["rabbitmqctl", "-q", "await_startup", "--timeout", "5"],
                          capture_output=True).returncode == 0 and \
        subprocess.run(["rabbitmqctl", "-q", "list_queues", "name"], capture_output=True).returncode == 0


def ensure_servers() -> None:
    """PostgreSQL and RabbitMQ running, whatever happened (started when they are not)."""
    if subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"]).returncode != 0:
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", pg_version(), "main", "start"],
                       capture_output=True)
    if not broker_answers():
        subprocess.run(["rabbitmqctl", "start_app"], capture_output=True)
        if not broker_answers():
            subprocess.run(["rabbitmq-server", "-detached"], capture_output=True)
            for _ in range(60):
                if broker_answers():
                    break
                time.sleep(1)


# --- data ---------------------------------------------------------------------------------------

def write_ndjson(docs: list[dict], path: str) -> None:
    with open(path, "w", encoding="utf-8") as out:
        for doc in docs:
            out.write(json.dumps(doc, ensure_ascii=False) + "\n")


def invoice_set(workdir: str, docs: int) -> str:
    """The project's own generator with its hard noise off (`--hard-rate 0`): byte for byte the
    shared bench's invoice set of the same seed, so F1 figures compare, and nothing outside the
    repository is read."""
    data = os.path.join(workdir, f"invoices_scale_{docs}x{docs}_s3")
    if not os.path.exists(os.path.join(data, "truth.csv")):
        log(f"generating the invoice set ({docs:,} x {docs:,}, seed 3)")
        subprocess.run([sys.executable, os.path.join(REPO, "bench", "gen_invoices_hard.py"), "--docs", str(docs),
                        "--refs", str(docs), "--seed", "3", "--hard-rate", "0", "--out", data], check=True,
                       stdout=subprocess.DEVNULL)
    return data


def matching_documents(data: str) -> list[dict]:
    out = []
    with open(os.path.join(data, "docs.csv"), newline="", encoding="utf-8") as src:
        for row in csv.DictReader(src):
            document_id = row.pop("document_id")
            filename = row.pop("document_filename", None) or f"{document_id}.pdf"
            out.append({"document_id": document_id, "filename": filename,
                        "values": {k: (v if v != "" else None) for k, v in row.items()}})
    return out


VOCABULARIES = os.path.join(REPO, "crates", "vocabularies", "data")
# Which built-in table each resolution field's messy values are drawn from, and how many.
VALUE_POOLS = {"country": ("iso-3166-1.tsv", 1350), "currency": ("iso-4217.tsv", 900), "uom": ("unece-rec20.tsv", 750)}
UNKNOWN_VALUES = ["OECD", "n/a", "-", "see attached", "EU", "various", "TBD", "pcs?", "xx", "Europe"]


def value_pool(file: str, size: int, rng: random.Random) -> list[str]:
    """Messy values as extraction writes them, from a built-in table's codes, labels and aliases:
    case and spacing changed, trailing punctuation, one letter dropped or doubled, and about one
    in twenty a value that names nothing in the table."""
    entries = []
    with open(os.path.join(VOCABULARIES, file), encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            code, label, aliases, _attributes = line.rstrip("\n").split("\t")
            entries.append([code, label] + [a for a in aliases.split("|") if a][:6])
    out = []
    for _ in range(size):
        if rng.random() < 0.05:
            out.append(rng.choice(UNKNOWN_VALUES))
            continue
        value = rng.choice(rng.choice(entries))
        noise = rng.random()
        if noise < 0.2:
            value = value.lower()
        elif noise < 0.35:
            value = value.upper()
        elif noise < 0.5:
            value = f"  {value} " if rng.random() < 0.5 else value.replace(" ", "  ")
        elif noise < 0.6:
            value += rng.choice([".", ",", ":", ")"])
        elif noise < 0.75 and len(value) > 4:
            at = rng.randrange(1, len(value) - 1)
            value = value[:at] + value[at + 1:] if rng.random() < 0.5 else value[:at] + value[at] + value[at:]
        out.append(value)
    return out


def resolution_documents(docs: int) -> list[dict]:
    """bench/resolution.py's speed set (10 fields per document), without pandas; the country,
    currency and unit values are drawn from `value_pool` (seeded)."""
    rng = random.Random(7)
    pools = {field: value_pool(file, size, rng) for field, (file, size) in VALUE_POOLS.items()}
    formats = ["%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y", "%B %d, %Y", "%d %b %Y"]
    out = []
    for i in range(docs):
        day = dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(700))
        amount = rng.randrange(100, 10_000_000) / 100
        amount_text = rng.choice([f"{amount:,.2f}", f"{amount:.2f}".replace(".", ","), f"EUR {amount:.2f}",
                                  f"{amount}"])
        out.append({"document_id": f"d{i}", "filename": f"d{i}.pdf", "values": {
            "country": rng.choice(pools["country"]), "currency": rng.choice(pools["currency"]),
            "unit": rng.choice(pools["uom"]), "invoice_date": day.strftime(rng.choice(formats)),
            "total": amount_text, "vendor_name": f"Vendor {rng.randrange(5000)} GmbH",
            "memo": f"Payment for INV-{rng.randrange(10**6):06d} thank you",
            "paid": rng.choice(["yes", "no", "true", "false", "1", "0"]),
            "quantity": str(rng.randrange(1, 500))}})
    return out


def submit_job(api: Api, docs: list[dict], name: str, workdir: str) -> dict:
    path = os.path.join(workdir, f"{name}.ndjson")
    write_ndjson(docs, path)
    with open(path, "rb") as f:
        job = api.request("POST", f"/v1/jobs?name={name}", f.read(), "application/x-ndjson")
    while job["status"] not in ("completed", "failed"):
        time.sleep(0.2)
        job = api.request("GET", f"/v1/jobs/{job['id']}")
    if job["status"] != "completed":
        raise SystemExit(f"job {name} failed: {job.get('error')}")
    return job


def f1_of(export_csv: bytes, truth_path: str, documents: set[str] | None = None) -> float:
    """score_matching.score's F1 (top-1 per document, a prediction right when it names the true row),
    over `documents` if given, else over every document of the truth."""
    truth = {}
    with open(truth_path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if documents is None or row["document_id"] in documents:
                truth[row["document_id"]] = row["ref_id"] or ""
    pred = {}
    for row in csv.DictReader(io.StringIO(export_csv.decode("utf-8"))):
        pred[row["document_id"]] = row["matched_reference_row_id"] or ""
    tp = sum(1 for d, t in truth.items() if pred.get(d, "") and pred.get(d) == t)
    fp = sum(1 for d, t in truth.items() if pred.get(d, "") and pred.get(d) != t)
    n_true = sum(1 for t in truth.values() if t)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / n_true if n_true else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


# --- runs -----------------------------------------------------------------------------------------

class Kind:
    """One kind of run: how to start one, read its progress and check it."""

    def __init__(self, name: str, api: Api):
        self.name = name
        self.api = api

    @property
    def table(self) -> str:
        return "resolution_runs" if self.name == "resolution" else "matching_runs"

    @property
    def queue(self) -> str:
        """The kind's work queue (by its routing key)."""
        return {"smart": "ai"}.get(self.name, self.name)

    def injectable(self, status: str, processed: int, total: int, below: float) -> bool:
        """Whether the run is where a fault should hit it: started, and below `below` of its documents."""
        return status not in ("completed", "failed", "cancelled") and total > 0 and 0 < processed < below * total

    def progress(self, run_id: str) -> tuple[str, int, int]:
        """(status, processed, total) — from the store, so that it reads through an API outage."""
        if self.name != "resolution":
            row = sql(f"select status, rows_processed, rows_total from matching_runs where id = '{run_id}'")[0]
        else:
            row = sql(f"select status, documents_processed, documents_total from resolution_runs "
                      f"where id = '{run_id}'")[0]
        return row[0], int(row[1]), int(row[2])


class Matching(Kind):
    def __init__(self, api: Api, workdir: str, docs: int):
        super().__init__("matching", api)
        data = invoice_set(workdir, docs)
        self.truth = os.path.join(data, "truth.csv")
        log("matching: uploading the reference set and submitting the documents")
        with open(os.path.join(data, "refs.csv"), "rb") as f:
            dataset = api.request("POST", "/v1/reference-data?name=chaos-refs&id_column=ref_id", f.read(), "text/csv")
        self.job = submit_job(api, matching_documents(data), "chaos-matching", workdir)
        config = json.load(open(os.path.join(REPO, "bench", "configs", "invoices.json")))
        config["name"] = f"chaos-{uuid.uuid4().hex[:8]}"
        config["reference_data_id"] = dataset["id"]
        self.config = api.request("POST", "/v1/matching/configs", config)

    def start(self) -> str:
        run = self.api.request("POST", f"/v1/matching/configs/{self.config['id']}/run", {"job_id": self.job["id"]})
        return run["id"]

    def detail(self, run_id: str) -> dict:
        return self.api.request("GET", f"/v1/matching/runs/{run_id}")

    def checks(self, run_id: str, docs: int) -> dict:
        run = sql(f"select status, rows_total, rows_processed, chunks_total, chunks_done, coalesce(error, '') "
                  f"from matching_runs where id = '{run_id}'")[0]
        results = sql(f"select count(*), count(distinct document_position), count(distinct document_id) "
                      f"from match_results where run_id = '{run_id}'")[0]
        chunks = scalar(f"select count(*) from matching_run_chunks where run_id = '{run_id}'")
        digest = scalar(f"select md5(string_agg(document_position || ':' || coalesce(matched_reference_row_id, '-')"
                        f" || ':' || status || ':' || round(confidence::numeric, 6), ',' order by document_position))"
                        f" from match_results where run_id = '{run_id}'")
        export = self.api.request("GET", f"/v1/matching/runs/{run_id}/results/export", raw=True)
        return dict(status=run[0], error=run[5], total=int(run[1]), processed=int(run[2]), chunks_total=int(run[3]),
                    chunks_done=int(run[4]), chunks_tallied=int(chunks), results=int(results[0]),
                    distinct_positions=int(results[1]), distinct_documents=int(results[2]), digest=digest,
                    f1=round(f1_of(export, self.truth), 6), completion_event="matching.run.completed",
                    failure_event="matching.run.failed")

    def poison(self, run_id: str, organization_id: str) -> list[dict]:
        return [
            dict(name="not JSON", payload="this is not a MatchingJob {", message_id=True,
                 expect="not a valid MatchingJob"),
            dict(name="no message id", payload=json.dumps({"organization_id": organization_id, "run_id": run_id}),
                 message_id=False, expect="no message_id"),
            dict(name="unknown run", payload=json.dumps({"organization_id": organization_id,
                                                          "run_id": str(uuid.uuid4()),
                                                          "chunk": {"index": 0, "start": 0, "end": 10}}),
                 message_id=True, expect="does not exist"),
            dict(name="chunk that is no range", payload=json.dumps({
                "organization_id": organization_id, "run_id": run_id,
                "chunk": {"index": 0, "start": 500, "end": 10}}), message_id=True, expect="no range of documents"),
        ]


class Smart(Matching):
    """A smart matching run (`mode: smart`) of the matching kind's config and job: scored, then the
    ai-resolver's AI pass over its review band, which its faults hit (they are injected once the run
    is `ai_resolving`). The AI pass asks the model of the stack's `CONCORD_LLM_*` settings (the local
    model, `make llm-up`); without one, each call fails at once, the items are flagged and the pass
    is over too soon to be hit (the result says so).

    Checked besides the matching checks: each result the pass looked at is decided once (the run's
    `ai_items` equals the results with an AI decision: a redelivered task asks only about results not
    yet decided), none of the band is left undecided, and — the baseline being a smart run without
    faults — the same results were sent to the model and every other result is the baseline's (what
    the model answered may differ from run to run, so that part is not compared)."""

    def __init__(self, matching: Matching, docs: int, workdir: str):
        Kind.__init__(self, "smart", matching.api)
        self.truth, self.config, self.docs = matching.truth, matching.config, docs
        # The model answers in seconds, not microseconds: a smart run takes the set's first
        # `docs` documents, so that its AI pass is minutes at most yet several batches long.
        log(f"smart: submitting the set's first {docs:,} documents")
        documents = matching_documents(os.path.dirname(self.truth))[:docs]
        self.documents = {d["document_id"] for d in documents}
        self.job = submit_job(self.api, documents, "chaos-smart", workdir)

    def injectable(self, status: str, processed: int, total: int, below: float) -> bool:
        return status == "ai_resolving"

    def start(self) -> str:
        run = self.api.request("POST", f"/v1/matching/configs/{self.config['id']}/run",
                               {"job_id": self.job["id"], "mode": "smart"})
        return run["id"]

    def checks(self, run_id: str, docs: int) -> dict:
        checks = super().checks(run_id, docs)
        export = self.api.request("GET", f"/v1/matching/runs/{run_id}/results/export", raw=True)
        checks["f1"] = round(f1_of(export, self.truth, self.documents), 6)
        # The digest: a result the AI pass decided counts as "ai"; any other, as the scorer left it.
        checks["digest"] = scalar(
            f"select md5(string_agg(document_position || ':' || case when ai_decided_at is not null then 'ai' "
            f"else coalesce(matched_reference_row_id, '-') || ':' || status || ':' || round(confidence::numeric, 6) "
            f"end, ',' order by document_position)) from match_results where run_id = '{run_id}'")
        run = sql(f"select ai_items, ai_accepted, ai_flagged, ai_calls from matching_runs where id = '{run_id}'")[0]
        decided = int(scalar(f"select count(*) from match_results where run_id = '{run_id}' "
                             f"and ai_decided_at is not null"))
        undecided = int(scalar(
            f"select count(*) from match_results where run_id = '{run_id}' and ai_decided_at is null "
            f"and (status = 'needs_review' or ambiguous or (matched_reference_row_id is null "
            f"and json_array_length(candidates) > 0))"))
        ai = dict(items=int(run[0]), accepted=int(run[1]), flagged=int(run[2]), calls=int(run[3]), decided=decided,
                  undecided=undecided)
        checks["ai"] = ai
        failures = []
        if ai["items"] != decided:
            failures.append(f"the run counts {ai['items']} AI items, {decided} results carry an AI decision")
        if undecided:
            failures.append(f"{undecided} results of the review band were never decided by the AI pass")
        if ai["accepted"] + ai["flagged"] > ai["items"]:
            failures.append(f"{ai['accepted']} accepted + {ai['flagged']} flagged of {ai['items']} items")
        checks["ai_failures"] = failures
        return checks


class Resolution(Kind):
    def __init__(self, api: Api, workdir: str, docs: int):
        super().__init__("resolution", api)
        log(f"resolution: submitting {docs:,} documents x 10 fields")
        self.job = submit_job(api, resolution_documents(docs), "chaos-resolution", workdir)
        body = json.load(open(os.path.join(REPO, "bench", "configs", "resolution-speed-policy.json")))
        for rule in body["rules"]:
            if rule["rule_type"] == "lookup":
                rule["config"]["table"] = STANDARD_TABLES[rule["config"]["table"]]
        policy = api.request("POST", "/v1/data-policies", {"name": f"chaos-{uuid.uuid4().hex[:8]}",
                                                          "description": "bench/chaos.py"})
        api.request("PUT", f"/v1/data-policies/{policy['id']}", body)
        self.policy = policy

    def start(self) -> str:
        run = self.api.request("POST", "/v1/resolutions", {"source_run_id": self.job["id"],
                                                           "policy_id": self.policy["id"]})
        self.api.request("POST", f"/v1/resolutions/{run['id']}/execute")
        return run["id"]

    def detail(self, run_id: str) -> dict:
        return self.api.request("GET", f"/v1/resolutions/{run_id}")

    def checks(self, run_id: str, docs: int) -> dict:
        run = sql(f"select status, documents_total, documents_processed, chunks_total, chunks_done, "
                  f"coalesce(error, '') from resolution_runs where id = '{run_id}'")[0]
        results = sql(f"select count(*), count(distinct document_position), count(distinct document_id), "
                      f"count(distinct (document_position, field_position)) "
                      f"from resolution_results where run_id = '{run_id}'")[0]
        chunks = scalar(f"select count(*) from resolution_run_chunks where run_id = '{run_id}'")
        digest = scalar(f"select md5(string_agg(document_position || ':' || field_position || ':' || status || ':' "
                        f"|| coalesce(resolved_value::text, '-'), ',' order by document_position, field_position)) "
                        f"from resolution_results where run_id = '{run_id}'")
        return dict(status=run[0], error=run[5], total=int(run[1]), processed=int(run[2]), chunks_total=int(run[3]),
                    chunks_done=int(run[4]), chunks_tallied=int(chunks), results=int(results[0]),
                    distinct_positions=int(results[1]), distinct_documents=int(results[2]),
                    distinct_result_keys=int(results[3]), digest=digest, completion_event="resolution.completed",
                    failure_event="resolution.failed")

    def poison(self, run_id: str, organization_id: str) -> list[dict]:
        return [
            dict(name="not JSON", payload="this is not a ResolutionJob {", message_id=True,
                 expect="not a valid ResolutionJob"),
            dict(name="no message id", payload=json.dumps({"organization_id": organization_id, "run_id": run_id}),
                 message_id=False, expect="no message_id"),
            dict(name="unknown run", payload=json.dumps({"organization_id": organization_id,
                                                          "run_id": str(uuid.uuid4()),
                                                          "chunk": {"index": 0, "start": 0, "end": 10}}),
                 message_id=True, expect="does not exist"),
            dict(name="chunk that is no range", payload=json.dumps({
                "organization_id": organization_id, "run_id": run_id,
                "chunk": {"index": 0, "start": 500, "end": 10}}), message_id=True, expect="no range of documents"),
        ]


# --- faults ---------------------------------------------------------------------------------------

def restart_worker(kind: Kind, sig: int, delay: float) -> dict:
    return restart_service(WORKER[kind.name], sig, delay)


def restart_service(service: str, sig: int, delay: float | None) -> dict:
    """Signals the service and waits for it to exit; restarts it after `delay` seconds (None: not
    now — `run_scenario` brings every service back once the run has ended)."""
    pid = pid_of(service)
    if pid is None:
        raise SystemExit(f"{service} is not running (no live pid in {RUN_DIR})")
    t = time.perf_counter()
    os.kill(pid, sig)
    exited = None
    for _ in range(1200):
        try:
            os.kill(pid, 0)
        except OSError:
            exited = time.perf_counter() - t
            break
        time.sleep(0.05)
    if exited is None:
        raise SystemExit(f"{service} (pid {pid}) did not exit within 60 s of signal {sig}")
    if delay is None:
        return dict(signal=signal.Signals(sig).name, service=service, pid=pid, exited_after_s=round(exited, 2),
                    back="after the run")
    time.sleep(delay)
    services_up()
    return dict(signal=signal.Signals(sig).name, pid=pid, exited_after_s=round(exited, 2),
                back_after_s=round(time.perf_counter() - t, 2))


def restart_broker(down: float) -> dict:
    t = time.perf_counter()
    subprocess.run(["rabbitmqctl", "stop_app"], check=True, capture_output=True)
    time.sleep(down)
    subprocess.run(["rabbitmqctl", "start_app"], check=True, capture_output=True)
    for _ in range(120):
        if broker_answers():
            break
        time.sleep(0.5)
    return dict(action="rabbitmqctl stop_app; start_app", down_s=down, back_after_s=round(time.perf_counter() - t, 2))


def restart_database() -> dict:
    t = time.perf_counter()
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", pg_version(), "main", "restart"], check=True,
                   capture_output=True)
    for _ in range(120):
        if subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"]).returncode == 0:
            break
        time.sleep(0.5)
    return dict(action=f"pg_ctlcluster {pg_version()} main restart", back_after_s=round(time.perf_counter() - t, 2))


def unplanned_chunk(kind: Kind, run_id: str, organization_id: str) -> list[dict]:
    table = kind.table
    planned = int(scalar(f"select chunks_total from {table} where id = '{run_id}'"))
    return [dict(name="chunk outside the plan", payload=json.dumps({
        "organization_id": organization_id, "run_id": run_id,
        "chunk": {"index": planned + 7, "start": 0, "end": 10}}), message_id=True,
        expect="outside its plan")]


def inject_poison(kind: Kind, mgmt: Management, run_id: str, unplanned: bool = False) -> dict:
    table = kind.table
    organization_id = scalar(f"select organization_id from {table} where id = '{run_id}'")
    messages = unplanned_chunk(kind, run_id, organization_id) if unplanned else kind.poison(run_id, organization_id)
    sent = []
    for message in messages:
        message_id = f"chaos-poison-{uuid.uuid4()}"
        properties = {"delivery_mode": 2, "content_type": "application/json",
                      "headers": {"x-chaos-poison": message["name"]}}
        if message["message_id"]:
            properties["message_id"] = message_id
        routed = mgmt.publish(f"{NAMESPACE}.jobs", kind.queue, message["payload"], properties)
        sent.append(dict(message, routed=routed, marker=message["name"]))
    return dict(published=len(sent), routed=sum(1 for s in sent if s["routed"]), messages=sent)


def poison_outcome(kind: Kind, mgmt: Management, injected: dict, wait_s: float = 30.0) -> dict:
    """Every poison message in the kind's dead-letter queue, each with a readable reason."""
    dead_queue = f"{NAMESPACE}.{kind.queue}.dead"
    expected = {m["marker"]: m["expect"] for m in injected["messages"]}
    found: dict[str, str] = {}
    deadline = time.time() + wait_s
    while time.time() < deadline and len(found) < len(expected):
        for message in mgmt.get_all(dead_queue):
            headers = (message.get("properties") or {}).get("headers") or {}
            marker = headers.get("x-chaos-poison")
            if marker in expected:
                found[marker] = str(headers.get("x-concord-error", ""))
        time.sleep(1)
    per_message = []
    for marker, expect in expected.items():
        reason = found.get(marker)
        per_message.append(dict(message=marker, dead_lettered=reason is not None, reason=reason,
                                readable=bool(reason) and expect in reason))
    return dict(dead_letter_queue=dead_queue, messages=per_message,
                ok=all(m["dead_lettered"] and m["readable"] for m in per_message))


# --- one scenario ---------------------------------------------------------------------------------

def wait_until_started(kind: Kind, run_id: str, below: float, timeout: float) -> dict:
    deadline = time.time() + timeout
    status, processed, total = kind.progress(run_id)
    while time.time() < deadline:
        status, processed, total = kind.progress(run_id)
        if status in ("completed", "failed", "cancelled") or kind.injectable(status, processed, total, below):
            break
        if kind.name != "smart" and total and processed >= below * total:
            break
        time.sleep(0.02)
    share = processed / total if total else 0.0
    return dict(status=status, processed=processed, total=total, share=round(share, 3),
                in_window=kind.injectable(status, processed, total, below))


def wait_until_ended(kind: Kind, run_id: str, timeout: float) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = kind.progress(run_id)[0]
        if status in ("completed", "failed", "cancelled"):
            return status
        time.sleep(0.1)
    return "timed out"


def events_in_outbox(run_id: str, routing_key: str) -> tuple[int, int]:
    rows = sql(f"select count(*), count(published_at) from outbox_messages where exchange = 'events' and "
               f"routing_key = '{routing_key}' and payload->'subject'->>'id' = '{run_id}'")
    return int(rows[0][0]), int(rows[0][1])


def run_scenario(kind: Kind, fault: str, args, mgmt: Management, tap: dict, webhooks: "WebhookReceiver",
                 baseline: dict | None) -> dict:
    log(f"{kind.name}:{fault}: starting a run")
    shared = fault in ("broker", "database")
    guard = SharedRestart(args.test_wait) if shared else None
    if guard:
        guard.__enter__()
    injection: dict = {}
    try:
        if fault in ("poison", "unplanned"):
            mgmt.purge(f"{NAMESPACE}.{kind.queue}.dead")
        t = time.perf_counter()
        run_id = kind.start()
        if fault != "baseline":
            at = wait_until_started(kind, run_id, args.inject_below, timeout=args.run_timeout)
            injection["at"] = at
            log(f"{kind.name}:{fault}: injecting at {at['processed']:,}/{at['total']:,} ({at['share']:.0%})"
                + ("" if at["in_window"] else " -- outside the window"))
            if fault == "kill9":
                injection.update(restart_worker(kind, signal.SIGKILL, args.restart_delay))
            elif fault == "sigterm":
                injection.update(restart_worker(kind, signal.SIGTERM, args.restart_delay))
            elif fault == "sender":
                injection.update(restart_service("webhook-sender", signal.SIGKILL, None))
            elif fault == "broker":
                injection.update(restart_broker(args.broker_down))
            elif fault == "database":
                injection.update(restart_database())
            elif fault in ("poison", "unplanned"):
                injection["poison"] = inject_poison(kind, mgmt, run_id, unplanned=fault == "unplanned")
    finally:
        if guard:
            guard.__exit__(None, None, None)
    status = wait_until_ended(kind, run_id, args.run_timeout)
    wall = time.perf_counter() - t
    services_up()  # whatever a fault took down is back before the next scenario
    docs = getattr(kind, "docs", args.docs)
    checks = kind.checks(run_id, docs)
    # The completion event: in the outbox once, published, and delivered on the exchange once.
    deadline = time.time() + 60
    while time.time() < deadline:
        outbox, published = events_in_outbox(run_id, checks["completion_event"])
        if outbox and published == outbox:
            break
        time.sleep(0.5)
    failed_events, _ = events_in_outbox(run_id, checks["failure_event"])
    time.sleep(1)
    drain_tap(mgmt, tap)
    seen = tap.get(run_id, {})
    delivered = seen.get(checks["completion_event"], {})
    result = dict(kind=kind.name, scenario=fault, run_id=run_id, wall_s=round(wall, 2), final_status=status,
                  injection=injection, checks={k: v for k, v in checks.items() if k not in ("digest", "ai_failures")})
    failures = []
    if status != "completed" or checks["status"] != "completed":
        failures.append(f"run ended {status} ({checks['error'] or 'no error'})")
    if checks["total"] != docs or checks["processed"] != docs:
        failures.append(f"counted {checks['processed']:,} of {checks['total']:,} (documents {docs:,})")
    if checks["chunks_done"] != checks["chunks_total"] or checks["chunks_tallied"] != checks["chunks_total"]:
        failures.append(f"chunks done {checks['chunks_done']}, tallied {checks['chunks_tallied']}, "
                        f"planned {checks['chunks_total']}")
    if checks["distinct_positions"] != docs or checks["distinct_documents"] != docs:
        failures.append(f"results for {checks['distinct_positions']:,} positions / "
                        f"{checks['distinct_documents']:,} documents of {docs:,}")
    if kind.name != "resolution" and checks["results"] != docs:
        failures.append(f"{checks['results']:,} results for {docs:,} documents (duplicates)")
    if kind.name == "resolution" and checks["results"] != checks["distinct_result_keys"]:
        failures.append(f"{checks['results']:,} results for {checks['distinct_result_keys']:,} (document, field)s")
    outbox, published = events_in_outbox(run_id, checks["completion_event"])
    result["events"] = dict(outbox=outbox, published=published, failed_events=failed_events,
                            delivered_event_ids=len(delivered), delivered_copies=sum(delivered.values()))
    if outbox != 1 or published != 1:
        failures.append(f"{outbox} completion events in the outbox ({published} published); expected one")
    if failed_events:
        failures.append(f"{failed_events} failure events")
    if len(delivered) != 1:
        failures.append(f"the events exchange delivered {len(delivered)} completion events (by id); expected one")
    hooked = webhooks.wait_for(run_id, checks["completion_event"], timeout=90)
    result["webhook"] = dict(event_ids=len(hooked), copies=sum(hooked.values()))
    if len(hooked) != 1:
        failures.append(f"the webhook received {len(hooked)} completion events (by id); expected one")
    if baseline is not None and checks["status"] == "completed":
        result["same_results_as_baseline"] = checks["digest"] == baseline["digest"]
        if checks["digest"] != baseline["digest"]:
            failures.append("results differ from the baseline run's")
        if kind.name != "resolution":
            result["f1_baseline"] = baseline["f1"]
    if fault in ("poison", "unplanned"):
        outcome = poison_outcome(kind, mgmt, injection["poison"])
        result["poison"] = outcome
        if not outcome["ok"]:
            failures.append("poison: " + "; ".join(
                f"{m['message']}: " + ("not dead-lettered" if not m["dead_lettered"] else f"reason {m['reason']!r}")
                for m in outcome["messages"] if not (m["dead_lettered"] and m["readable"])))
    failures.extend(checks.get("ai_failures", []))
    if fault != "baseline" and not injection.get("at", {}).get("in_window", False):
        result["note"] = ("the fault was injected outside the AI pass (the run was past it when seen)"
                          if kind.name == "smart" else
                          "the fault was injected outside the 0-50 % window (the run was past it when seen)")
    result["pass"] = not failures
    result["failures"] = failures
    result["_digest"] = checks["digest"]
    log(f"{kind.name}:{fault}: {'PASS' if not failures else 'FAIL'} in {wall:.1f} s"
        + (f" (F1 {checks['f1']:.4f})" if "f1" in checks else "") + ("" if not failures else ": " + "; ".join(failures)))
    return result


class WebhookReceiver:
    """A webhook endpoint on loopback, subscribed to the completion events: what it received, by
    run, event type and event id, with the number of copies (a delivery retried after a sender
    died mid-attempt comes again with the same ids: that is allowed, a second event is not)."""

    def __init__(self):
        import http.server

        received = self.received = {}
        lock = self.lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (the standard library's name)
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                try:
                    event = json.loads(body)
                    subject = (event.get("subject") or {}).get("id")
                    key = (subject, event.get("event_type"))
                    with lock:
                        by_id = received.setdefault(key, {})
                        event_id = event.get("event_id") or self.headers.get("webhook-id")
                        by_id[event_id] = by_id.get(event_id, 0) + 1
                except (ValueError, AttributeError):
                    pass
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.id: str | None = None

    def subscribe(self, api: Api) -> None:
        try:
            hook = api.request("POST", "/v1/webhooks", {
                "url": self.url, "event_types": ["matching.run.completed", "resolution.completed"]})
        except SystemExit as e:
            raise SystemExit(f"{e}\nchaos: the webhook on loopback was refused; the stack needs "
                             "CONCORD_WEBHOOKS_ALLOW_PRIVATE_TARGETS=true (deploy/bench.sh sets it)")
        self.id = hook["id"]

    def wait_for(self, run_id: str, event_type: str, timeout: float) -> dict:
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                got = dict(self.received.get((run_id, event_type), {}))
            if got:
                time.sleep(1)  # a second copy or id, if one is coming
                with self.lock:
                    return dict(self.received.get((run_id, event_type), {}))
            time.sleep(0.2)
        return {}

    def close(self, api: Api) -> None:
        if self.id:
            try:
                api.request("DELETE", f"/v1/webhooks/{self.id}")
            except SystemExit:
                pass
        self.server.shutdown()


def drain_tap(mgmt: Management, tap: dict) -> None:
    for message in mgmt.get_all(TAP_QUEUE):
        try:
            event = json.loads(message["payload"])
        except (ValueError, KeyError):
            continue
        subject = (event.get("subject") or {}).get("id")
        by_type = tap.setdefault(subject, {}).setdefault(event.get("event_type"), {})
        by_type[event.get("event_id")] = by_type.get(event.get("event_id"), 0) + 1


# --- main -----------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gateway", default=os.environ.get("CONCORD_GATEWAY", "http://127.0.0.1:8080"))
    ap.add_argument("--key", required=True)
    ap.add_argument("--docs", type=int, default=None, help="documents per run (100,000; --ci: 5,000)")
    ap.add_argument("--scenarios", help="comma-separated kind:fault (kinds: matching, resolution, smart; faults: "
                                        + ", ".join(FAULTS + EXTRA_FAULTS) + "; smart: "
                                        + ", ".join(SMART_FAULTS) + "); default: every fault of matching and "
                                        "resolution, kill9 and sigterm of smart")
    ap.add_argument("--ci", action="store_true", help="the bounded suite: 5,000 documents, each fault once: "
                                                      + ", ".join(CI_SCENARIOS))
    ap.add_argument("--smart-docs", type=int, default=None,
                    help="documents of a smart run, the set's first (60; --ci: 30): the AI pass asks the model "
                         "about its band (8 and 3 results of the default set)")
    ap.add_argument("--inject-below", type=float, default=0.5, help="inject once progress is above 0 and below this")
    ap.add_argument("--restart-delay", type=float, default=2.0, help="seconds before a stopped worker is restarted")
    ap.add_argument("--broker-down", type=float, default=8.0, help="seconds RabbitMQ stays stopped")
    ap.add_argument("--run-timeout", type=float, default=900.0)
    ap.add_argument("--test-wait", type=float, default=None,
                    help="seconds to wait for a cargo nextest run to end before a broker or database "
                         "restart (600; --ci: 120); past them the scenario is skipped")
    ap.add_argument("--management", default=os.environ.get("CONCORD_RABBITMQ_MANAGEMENT", "http://127.0.0.1:15672"))
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "concord-chaos"))
    ap.add_argument("--json", help="write every result to this file")
    args = ap.parse_args()
    if args.docs is None:
        args.docs = 5_000 if args.ci else 100_000
    if args.smart_docs is None:
        args.smart_docs = 30 if args.ci else 60
    if args.test_wait is None:
        args.test_wait = 120.0 if args.ci else 600.0
    if args.scenarios:
        scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    elif args.ci:
        scenarios = CI_SCENARIOS
    else:
        scenarios = [f"{k}:{f}" for k in KINDS for f in (SMART_FAULTS[:2] if k == "smart" else FAULTS)]
    for s in scenarios:
        kind, _, fault = s.partition(":")
        if kind not in KINDS or fault not in FAULTS + EXTRA_FAULTS or (kind == "smart" and fault not in SMART_FAULTS):
            ap.error(f"unknown scenario {s!r}")
    os.makedirs(args.workdir, exist_ok=True)
    api = Api(args.gateway, args.key)
    mgmt = Management(args.management, os.environ.get("CONCORD_RABBITMQ_USER", "guest"),
                      os.environ.get("CONCORD_RABBITMQ_PASSWORD", "guest"))
    mgmt.call("GET", "/api/overview", patience=5)
    mgmt.declare_tap()
    mgmt.purge(TAP_QUEUE)
    tap: dict = {}
    webhooks = WebhookReceiver()
    webhooks.subscribe(api)
    results = []
    skipped: list[tuple[str, str]] = []
    t0 = time.perf_counter()
    try:
        kinds: dict[str, Kind] = {}
        for name in KINDS:
            if not any(s.startswith(name + ":") for s in scenarios):
                continue
            if name == "resolution":
                kinds[name] = Resolution(api, args.workdir, args.docs)
            elif name == "smart":
                kinds[name] = Smart(kinds.get("matching") or Matching(api, args.workdir, args.docs),
                                    min(args.smart_docs, args.docs), args.workdir)
            else:
                kinds[name] = Matching(api, args.workdir, args.docs)
            baseline = run_scenario(kinds[name], "baseline", args, mgmt, tap, webhooks, None)
            results.append(baseline)
            reference = dict(digest=baseline["_digest"], f1=baseline["checks"].get("f1"))
            for s in scenarios:
                if s.startswith(name + ":"):
                    try:
                        results.append(run_scenario(kinds[name], s.split(":", 1)[1], args, mgmt, tap,
                                                    webhooks, reference))
                    except TestsRunning as busy:
                        log(f"{s}: SKIPPED: {busy}")
                        skipped.append((s, str(busy)))
    finally:
        ensure_servers()
        if os.path.exists(LOCK):
            os.remove(LOCK)
        mgmt.delete_tap()
        webhooks.close(api)
        services_up()

    print()
    print(f"chaos: {args.docs:,} documents per run; faults injected once progress was above 0 and below "
          f"{args.inject_below:.0%}; total {time.perf_counter() - t0:.0f} s")
    print("| run | scenario | result | wall s | injected at | counted | results | completion events "
          "(outbox / exchange / webhook) | same results as baseline | F1 | notes |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        c = r["checks"]
        at = r["injection"].get("at")
        notes = "; ".join(r["failures"]) if r["failures"] else ""
        if r.get("poison"):
            notes = (notes + "; " if notes else "") + "dead-lettered: " + ", ".join(
                f"{m['message']} ({m['reason']})" for m in r["poison"]["messages"] if m["dead_lettered"])
        if r.get("note"):
            notes = (notes + "; " if notes else "") + r["note"]
        extra = {k: v for k, v in r["injection"].items() if k in ("exited_after_s", "back_after_s")}
        if extra:
            notes = (notes + "; " if notes else "") + ", ".join(f"{k} {v}" for k, v in extra.items())
        same = {True: "yes", False: "NO"}.get(r.get("same_results_as_baseline"), "-")
        f1 = f"{c['f1']:.4f}" if "f1" in c else "-"
        injected = ("AI pass" if r["kind"] == "smart" else f"{round(at['share'] * 100)} %") if at else "-"
        print(f"| {r['kind']} | {r['scenario']} | {'pass' if r['pass'] else 'FAIL'} | {r['wall_s']:.1f} | "
              f"{injected} | {c['processed']:,}/{c['total']:,} | {c['results']:,} | "
              f"{r['events']['outbox']} / {r['events']['delivered_event_ids']} / {r['webhook']['event_ids']} | {same} | "
              f"{f1} | {notes} |")
    for scenario, reason in skipped:
        kind, _, fault = scenario.partition(":")
        print(f"| {kind} | {fault} | skipped | - | - | - | - | - | - | - | {reason} |")
    failed = [r for r in results if not r["pass"]]
    print(f"\n{len(results) - len(failed)} of {len(results)} runs passed"
          + (f"; {len(skipped)} skipped (shared servers busy with tests)" if skipped else ""))
    if args.json:
        with open(args.json, "w") as f:
            json.dump([{k: v for k, v in r.items() if k != "_digest"} for r in results], f, indent=2)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
