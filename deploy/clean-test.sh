#!/usr/bin/env bash
# Drops what earlier test runs left behind: databases named concord_test_* and broker queues and
# exchanges named test-* (tests delete their own at the end; a killed run cannot).
set -euo pipefail

pg_host="${CONCORD_PG_HOST:-127.0.0.1}"
pg_port="${CONCORD_PG_PORT:-5432}"
dbs=$(psql -h "$pg_host" -p "$pg_port" -U postgres -d postgres -tAc \
  "SELECT datname FROM pg_database WHERE datname LIKE 'concord_test_%'" 2>/dev/null || true)
count=0
for db in $dbs; do
  psql -h "$pg_host" -p "$pg_port" -U postgres -d postgres -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 && count=$((count + 1))
done
echo "[clean-test] dropped $count test databases"

# Through the management API when it is there (deps.sh enables it); skipped otherwise.
api="http://127.0.0.1:${CONCORD_RABBITMQ_MANAGEMENT_PORT:-15672}/api"
if curl -fsS -u guest:guest "$api/overview" >/dev/null 2>&1; then
  python3 - "$api" <<'PY'
import base64, json, sys, urllib.parse, urllib.request
api = sys.argv[1]
auth = {"Authorization": "Basic " + base64.b64encode(b"guest:guest").decode()}
def call(path, method="GET"):
    with urllib.request.urlopen(urllib.request.Request(api + path, method=method, headers=auth), timeout=30) as r:
        return json.load(r) if method == "GET" else None
deleted = 0
for kind in ("queues", "exchanges"):
    for item in call(f"/{kind}?columns=name,vhost"):
        if item["name"].startswith("test-"):
            try:
                call(f"/{kind}/{urllib.parse.quote(item['vhost'], safe='')}/{urllib.parse.quote(item['name'], safe='')}", "DELETE")
                deleted += 1
            except Exception:
                pass
print(f"[clean-test] deleted {deleted} test queues and exchanges")
PY
fi
