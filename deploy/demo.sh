#!/usr/bin/env bash
# The demo (`make demo`, after `make up` and `make llm-up`): creates an API key, submits a sample job
# by REST and another as an upstream system would (a message on the intake exchange), matches it
# against a ledger (manually, then as a smart run with the local LLM), resolves it with a data
# policy (with an LLM fallback), and shows everything back.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
bin_dir="${CARGO_TARGET_DIR:-$HOME/.cache/concord-target}/debug"
gateway="http://${CONCORD_HTTP_ADDR:-127.0.0.1:8080}"
namespace="${CONCORD_NAMESPACE:-concord}"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
pretty() { python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin), indent=2, ensure_ascii=False))'; }

say "An API key for the organisation 'demo' (gateway keys create)"
key="$("$bin_dir/gateway" keys create --org demo --scopes read,write --name "make demo" | tail -n 1)"
echo "key: ${key:0:12}… (stored hashed)"

say "POST /v1/jobs: four invoices with their raw extracted values"
created="$(curl -fsS -X POST "$gateway/v1/jobs" -H "Authorization: Bearer $key" \
  -H 'Content-Type: application/json' -H "Idempotency-Key: demo-$(date +%s)" \
  --data-binary @"$repo/deploy/demo/sample-job.json")"
echo "$created" | pretty
job_id="$(echo "$created" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"

say "GET /v1/jobs/$job_id/documents?limit=2 (cursor pagination)"
curl -fsS "$gateway/v1/jobs/$job_id/documents?limit=2" -H "Authorization: Bearer $key" | pretty

say "An upstream system publishes a batch to the intake exchange ($namespace.intake, routing key job.submit.v1)"
message_id="demo-intake-$(date +%s)"
python3 - "$key" "$message_id" "$namespace" "$repo/deploy/demo/intake-job.json" <<'PY'
import base64, json, sys, urllib.request
key, message_id, namespace, path = sys.argv[1:]
body = {
    "routing_key": "job.submit.v1",
    "payload": open(path).read(),
    "payload_encoding": "string",
    "properties": {"message_id": message_id, "content_type": "application/json",
                   "delivery_mode": 2, "headers": {"authorization": f"Bearer {key}"}},
}
request = urllib.request.Request(
    f"http://127.0.0.1:15672/api/exchanges/%2F/{namespace}.intake/publish",
    data=json.dumps(body).encode(), method="POST",
    headers={"Content-Type": "application/json",
             "Authorization": "Basic " + base64.b64encode(b"guest:guest").decode()})
print("published:", json.load(urllib.request.urlopen(request, timeout=10)))
PY
for _ in $(seq 1 40); do
  listed="$(curl -fsS "$gateway/v1/jobs?limit=5" -H "Authorization: Bearer $key")"
  intake_job="$(echo "$listed" | python3 -c 'import json,sys; print(next((j["id"] for j in json.load(sys.stdin)["data"] if j["intake_message_id"]==sys.argv[1]), ""))' "$message_id")"
  [[ -n "$intake_job" ]] && break
  sleep 0.25
done
[[ -n "$intake_job" ]] || { echo "the intake batch did not arrive (see .run/gateway.log)" >&2; exit 1; }

say "GET /v1/jobs: the runs of the organisation, newest first (the intake batch is $intake_job)"
echo "$listed" | python3 -c '
import json, sys
for job in json.load(sys.stdin)["data"]:
    print("  {id}  {status:<10} {source:<7} {document_count:>3} documents  {name}".format(**job))'

say "POST /v1/reference-data: the ledger as CSV (streamed; ids from the ref_id column, column types inferred)"
show() { python3 "$repo/deploy/demo/show.py" "$@"; }
dataset="$(curl -fsS -X POST "$gateway/v1/reference-data?name=ledger&id_column=ref_id" \
  -H "Authorization: Bearer $key" -H 'Content-Type: text/csv' --data-binary @"$repo/deploy/demo/ledger.csv")"
echo "$dataset" | show dataset
dataset_id="$(echo "$dataset" | show field id)"

say "POST /v1/matching/configs: how the invoices map onto the ledger (deploy/demo/matching-config.json)"
config="$(python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); c["reference_data_id"]=sys.argv[2]; print(json.dumps(c))' \
  "$repo/deploy/demo/matching-config.json" "$dataset_id" \
  | curl -fsS -X POST "$gateway/v1/matching/configs" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' --data-binary @-)"
config_id="$(echo "$config" | show field id)"
echo "  config $config_id: threshold $(echo "$config" | show field threshold), review band from $(echo "$config" | show field review_band.lower)"

# Polls a matching run's progress until it ends (up to 5 minutes: a smart run waits for the model).
wait_for_run() {
  local phase progress
  for _ in $(seq 1 1200); do
    progress="$(curl -fsS "$gateway/v1/matching/runs/$1/progress" -H "Authorization: Bearer $key")"
    phase="$(echo "$progress" | show field phase)"
    [[ "$phase" == completed || "$phase" == failed || "$phase" == cancelled ]] && break
    sleep 0.25
  done
  echo "  progress: $progress"
  [[ "$phase" == completed ]] || { echo "the run ended $phase (see .run/$2.log)" >&2; exit 1; }
}

say "POST /v1/matching/configs/$config_id/run over the sample job: queued at once, matched by the matching worker"
run="$(curl -fsS -X POST "$gateway/v1/matching/configs/$config_id/run" -H "Authorization: Bearer $key" \
  -H 'Content-Type: application/json' -d "{\"job_id\": \"$job_id\"}")"
run_id="$(echo "$run" | show field id)"
echo "  run $run_id: $(echo "$run" | show field status)"
wait_for_run "$run_id" matching-worker

say "GET /v1/matching/runs/$run_id/results: each document's match, its confidence and the evidence per field"
curl -fsS "$gateway/v1/matching/runs/$run_id/results" -H "Authorization: Bearer $key" | show results

say "POST /v1/lookup-tables: units — the built-in UN/ECE Rec 20 table, extended with our own aliases"
# A second demo finds the table there: it gets a new version (PUT) instead.
units_id="$(curl -fsS "$gateway/v1/lookup-tables?limit=1000&built_in=false" -H "Authorization: Bearer $key" | show table-id units)"
if [[ -z "$units_id" ]]; then
  curl -fsS -X POST "$gateway/v1/lookup-tables" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
    --data-binary @"$repo/deploy/demo/units-table.json" | show table
else
  curl -fsS -X PUT "$gateway/v1/lookup-tables/$units_id" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
    --data-binary @"$repo/deploy/demo/units-table.json" | show table
fi
echo "  built-in tables: $(curl -fsS "$gateway/v1/lookup-tables?limit=10" -H "Authorization: Bearer $key" \
  | show built-ins)"

say "POST /v1/data-policies + PUT: how each output field is derived (deploy/demo/resolution-policy.json)"
policy_id="$(curl -fsS -X POST "$gateway/v1/data-policies" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
  -d '{"name": "invoice header", "description": "the fields our ERP needs"}' | show field id)"
curl -fsS -X PUT "$gateway/v1/data-policies/$policy_id" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
  --data-binary @"$repo/deploy/demo/resolution-policy.json" \
  | show policy
echo "  a policy with a cycle is refused, naming the rule:"
curl -sS -X PUT "$gateway/v1/data-policies/$policy_id" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
  -d '{"fields": [{"field_key": "a", "type": "number"}, {"field_key": "b", "type": "number"}], "rules": [{"rule_type": "compute", "target_field": "a", "config": {"expression": "b + 1"}}, {"rule_type": "compute", "target_field": "b", "config": {"expression": "a * 2"}}]}' \
  | show error

say "POST /v1/dialects: how results are written out (deploy/demo/dialect.json)"
dialect_id="$(curl -fsS -X POST "$gateway/v1/dialects" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
  --data-binary @"$repo/deploy/demo/dialect.json" | show field id)"
echo "  dialect $dialect_id"

say "POST /v1/resolutions over the sample job, then /execute: resolved by the resolution worker; values the rules can't settle (ship_to 'Korea', 'Congo') go to the local LLM"
resolution="$(curl -fsS -X POST "$gateway/v1/resolutions" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
  -d "{\"source_run_id\": \"$job_id\", \"policy_id\": \"$policy_id\", \"dialect_id\": \"$dialect_id\"}")"
resolution_id="$(echo "$resolution" | show field id)"
echo "  resolution $resolution_id: $(echo "$resolution" | show field status)"
curl -fsS -X POST "$gateway/v1/resolutions/$resolution_id/execute" -H "Authorization: Bearer $key" >/dev/null
for _ in $(seq 1 1200); do
  resolution="$(curl -fsS "$gateway/v1/resolutions/$resolution_id" -H "Authorization: Bearer $key")"
  status="$(echo "$resolution" | show field status)"
  [[ "$status" == completed || "$status" == failed ]] && break
  sleep 0.1
done
echo "  $status: $(echo "$resolution" | show field counters)"
[[ "$status" == completed ]] || { echo "the resolution ended $status (see .run/resolution-worker.log)" >&2; exit 1; }

say "GET /v1/resolutions/$resolution_id/results: each field, how it was resolved and how sure"
curl -fsS "$gateway/v1/resolutions/$resolution_id/results?limit=100" -H "Authorization: Bearer $key" | show resolution

say "GET /v1/resolutions/$resolution_id/results/export: the same, in the German dialect"
curl -fsS "$gateway/v1/resolutions/$resolution_id/results/export" -H "Authorization: Bearer $key"

say "POST /v1/matching/configs/$config_id/smart-run: scored, then the review band goes to the local LLM"
smart="$(curl -fsS -X POST "$gateway/v1/matching/configs/$config_id/smart-run" -H "Authorization: Bearer $key" \
  -H 'Content-Type: application/json' -d "{\"job_id\": \"$job_id\"}")"
smart_id="$(echo "$smart" | show field id)"
wait_for_run "$smart_id" ai-resolver
echo "  AI pass: $(curl -fsS "$gateway/v1/matching/runs/$smart_id" -H "Authorization: Bearer $key" | show field ai)"
curl -fsS "$gateway/v1/matching/runs/$smart_id/results" -H "Authorization: Bearer $key" | show smart

say "A bad request gets a clear error"
curl -sS -X POST "$gateway/v1/jobs" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
  -d '{"name": "broken", "documents": [{"document_id": "x", "values": {"amount": 12.5}}]}' | pretty

say "Done. The stack keeps running: make status, make down. Logs: .run/*.log"
