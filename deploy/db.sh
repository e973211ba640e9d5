#!/usr/bin/env bash
# Create Concord's database if it does not exist (as user postgres, no password: see deploy/deps.sh).
# Migrations are not run here: the gateway binary runs them (`gateway migrate`).
#
# Environment overrides:
#   CONCORD_DB_NAME   (default concord)
#   CONCORD_PG_HOST   (default 127.0.0.1)
#   CONCORD_PG_PORT   (default 5432)
set -euo pipefail

DB_NAME="${CONCORD_DB_NAME:-concord}"
PG_HOST="${CONCORD_PG_HOST:-127.0.0.1}"
PG_PORT="${CONCORD_PG_PORT:-5432}"

log() { echo "[deploy] db: $*"; }
die() { echo "[deploy] db: ERROR: $*" >&2; exit 1; }

command -v psql >/dev/null 2>&1 || die "psql not found (run deploy/deps.sh first)"
[[ "$DB_NAME" =~ ^[A-Za-z_][A-Za-z0-9_-]{0,62}$ ]] || die "invalid database name '$DB_NAME'"

pg() { PGCONNECT_TIMEOUT=10 psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -w -d postgres -v ON_ERROR_STOP=1 -qtA "$@"; }

pg -c 'select 1' >/dev/null || die "cannot connect to PostgreSQL on $PG_HOST:$PG_PORT as postgres (run deploy/deps.sh first)"

if [ "$(pg -c "select 1 from pg_database where datname = '$DB_NAME'")" = "1" ]; then
    log "database $DB_NAME already exists on $PG_HOST:$PG_PORT"
else
    log "creating database $DB_NAME on $PG_HOST:$PG_PORT"
    pg -c "create database \"$DB_NAME\""
    log "database $DB_NAME created"
fi
log "CONCORD_DATABASE_URL=postgres://postgres@$PG_HOST:$PG_PORT/$DB_NAME"
log "hint: run migrations with the gateway binary: gateway migrate (e.g. cargo run -p gateway -- migrate)"
