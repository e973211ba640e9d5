#!/usr/bin/env bash
# Ensure Concord's local dependencies are installed and running on Debian 12:
#   - curl and python3
#   - PostgreSQL, reachable on $CONCORD_PG_HOST:$CONCORD_PG_PORT as user postgres without a password
#   - RabbitMQ on 127.0.0.1:5672 with the default guest/guest user
# Idempotent: when everything is already up it only checks and returns.
#
# Environment overrides:
#   CONCORD_PG_HOST               (default 127.0.0.1; a non-local host is only checked, never installed/started)
#   CONCORD_PG_PORT               (default 5432)
#   CONCORD_AMQP_PORT             (default 5672)
#   CONCORD_RABBITMQ_MANAGEMENT   1 (default) enables the management plugin if not yet enabled; 0 skips it
set -euo pipefail

PG_HOST="${CONCORD_PG_HOST:-127.0.0.1}"
PG_PORT="${CONCORD_PG_PORT:-5432}"
AMQP_HOST=127.0.0.1
AMQP_PORT="${CONCORD_AMQP_PORT:-5672}"
RABBIT_MGMT="${CONCORD_RABBITMQ_MANAGEMENT:-1}"
PG_WAIT=60
RABBIT_WAIT=90

# Debian puts the server tools in sbin, which a non-root PATH may lack.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

log() { echo "[deploy] deps: $*"; }
warn() { echo "[deploy] deps: WARNING: $*" >&2; }
die() { echo "[deploy] deps: ERROR: $*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else die "need root (or sudo) to run: $*"
    fi
}

as_postgres() {
    if [ "$(id -u)" -eq 0 ] && command -v runuser >/dev/null 2>&1; then runuser -u postgres -- "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo -u postgres "$@"
    else die "need root (or sudo) to run as postgres: $*"
    fi
}

APT_UPDATED=0
apt_install() {
    if [ "$APT_UPDATED" -eq 0 ]; then
        log "apt-get update"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update
        APT_UPDATED=1
    fi
    log "apt-get install -y $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"
}

tcp_open() { # host port
    (exec 3<>"/dev/tcp/$1/$2") >/dev/null 2>&1
}

is_local_host() {
    case "$1" in 127.*|localhost|::1|"[::1]") return 0 ;; *) return 1 ;; esac
}

# ---------------------------------------------------------------- tools
ensure_tools() {
    local missing=()
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    command -v python3 >/dev/null 2>&1 || missing+=(python3)
    if [ "${#missing[@]}" -gt 0 ]; then
        apt_install "${missing[@]}"
    else
        log "curl and python3 present"
    fi
}

# ---------------------------------------------------------------- PostgreSQL
pg_installed() {
    command -v pg_ctlcluster >/dev/null 2>&1 &&
        command -v psql >/dev/null 2>&1 &&
        compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null
}

pg_login_ok() {
    PGCONNECT_TIMEOUT=5 psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -w -d postgres -tAc 'select 1' >/dev/null 2>&1
}

pg_wait_ready() {
    local waited=0
    until pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; do
        if [ "$waited" -ge "$PG_WAIT" ]; then
            die "PostgreSQL not ready on $PG_HOST:$PG_PORT after ${PG_WAIT} s (see /var/log/postgresql/)"
        fi
        sleep 1
        waited=$((waited + 1))
    done
    log "PostgreSQL ready on $PG_HOST:$PG_PORT"
}

pg_start_local() {
    # Prefer the cluster configured on $PG_PORT; else the newest version's "main" (created if missing).
    local ver="" name="main" line
    line="$(pg_lsclusters -h 2>/dev/null | awk -v p="$PG_PORT" '$3 == p {print $1, $2; exit}' || true)"
    if [ -n "$line" ]; then
        ver="${line%% *}"
        name="${line#* }"
    else
        ver="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1 || true)"
        if [ -z "$ver" ] || [ ! -d "/etc/postgresql/$ver/main" ]; then
            [ -n "$ver" ] || ver="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
            log "no PostgreSQL cluster on port $PG_PORT; creating $ver/main on port $PG_PORT"
            as_root pg_createcluster "$ver" main -p "$PG_PORT"
        else
            local other
            other="$(pg_lsclusters -h 2>/dev/null | awk -v v="$ver" '$1 == v && $2 == "main" {print $3; exit}' || true)"
            die "cluster $ver/main is configured for port ${other:-?}, not $PG_PORT: set CONCORD_PG_PORT=${other:-<port>} or change /etc/postgresql/$ver/main/postgresql.conf"
        fi
    fi
    as_root install -d -o postgres -g postgres -m 2775 /var/run/postgresql
    # pg_ctlcluster status: 0 running, 3 stopped
    if as_root pg_ctlcluster "$ver" "$name" status >/dev/null 2>&1; then
        log "PostgreSQL cluster $ver/$name is running"
    else
        log "starting PostgreSQL cluster $ver/$name"
        as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start
    fi
    PG_CLUSTER="$ver $name"
}

pg_trust_local() {
    # Put passwordless rules first in pg_hba.conf (first match wins) for local socket, 127.0.0.1 and ::1.
    local hba marker="# concord deploy/deps.sh: passwordless local access"
    hba="$(as_postgres psql -p "$PG_PORT" -tAc 'show hba_file' 2>/dev/null || true)"
    if [ -z "$hba" ] && [ -n "$PG_CLUSTER" ]; then hba="/etc/postgresql/${PG_CLUSTER% *}/${PG_CLUSTER#* }/pg_hba.conf"; fi
    [ -n "$hba" ] && as_root test -f "$hba" || die "cannot locate pg_hba.conf to allow passwordless login"
    if as_root grep -qF "$marker" "$hba"; then
        log "$hba already has Concord's trust rules"
    else
        log "setting trust auth for local, 127.0.0.1/32 and ::1/128 in $hba (backup $hba.concord.bak)"
        as_root cp -p "$hba" "$hba.concord.bak"
        local tmp
        tmp="$(mktemp)"
        {
            echo "$marker"
            echo "local   all   all                  trust"
            echo "host    all   all   127.0.0.1/32   trust"
            echo "host    all   all   ::1/128        trust"
            echo
            as_root cat "$hba"
        } >"$tmp"
        as_root cp "$tmp" "$hba"
        rm -f "$tmp"
    fi
    log "reloading PostgreSQL configuration"
    as_postgres psql -p "$PG_PORT" -qtAc 'select pg_reload_conf()' >/dev/null ||
        { [ -n "$PG_CLUSTER" ] && as_root pg_ctlcluster $PG_CLUSTER reload; } ||
        die "could not reload PostgreSQL after editing $hba"
    sleep 1
}

ensure_postgres() {
    PG_CLUSTER=""
    if ! is_local_host "$PG_HOST"; then
        log "CONCORD_PG_HOST=$PG_HOST is not local; only checking it"
        command -v pg_isready >/dev/null 2>&1 || apt_install postgresql-client
        pg_wait_ready
        pg_login_ok || warn "cannot log in as postgres on $PG_HOST:$PG_PORT without a password"
        return
    fi
    if pg_installed; then
        log "PostgreSQL installed ($(ls /usr/lib/postgresql | sort -V | paste -sd ' ' -))"
    else
        log "PostgreSQL not installed"
        apt_install postgresql postgresql-client
    fi
    if pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; then
        log "PostgreSQL already accepting connections on $PG_HOST:$PG_PORT"
    else
        pg_start_local
        pg_wait_ready
    fi
    if pg_login_ok; then
        log "psql -h $PG_HOST -p $PG_PORT -U postgres works without a password"
    else
        pg_trust_local
        pg_login_ok || die "psql -h $PG_HOST -p $PG_PORT -U postgres still needs a password after editing pg_hba.conf"
        log "psql -h $PG_HOST -p $PG_PORT -U postgres works without a password"
    fi
}

# ---------------------------------------------------------------- RabbitMQ
rabbit_ping() { rabbitmq-diagnostics -q ping >/dev/null 2>&1; }

rabbit_up() { tcp_open "$AMQP_HOST" "$AMQP_PORT"; }

ensure_rabbitmq() {
    if command -v rabbitmq-server >/dev/null 2>&1; then
        log "RabbitMQ installed"
    else
        log "RabbitMQ not installed"
        apt_install rabbitmq-server
    fi
    if rabbit_up; then
        log "RabbitMQ already accepting connections on $AMQP_HOST:$AMQP_PORT"
    else
        if rabbit_ping; then
            log "RabbitMQ node answers ping; waiting for its AMQP listener"
        else
            log "starting RabbitMQ (rabbitmq-server -detached)"
            as_root rabbitmq-server -detached
        fi
        local waited=0
        until rabbit_up; do
            if [ "$waited" -ge "$RABBIT_WAIT" ]; then
                die "RabbitMQ not accepting connections on $AMQP_HOST:$AMQP_PORT after ${RABBIT_WAIT} s (see /var/log/rabbitmq/)"
            fi
            sleep 1
            waited=$((waited + 1))
        done
        log "RabbitMQ accepting connections on $AMQP_HOST:$AMQP_PORT after ${waited} s"
    fi
    rabbit_guest
    rabbit_management
}

rabbit_guest() {
    # guest/guest is the default user and may log in from localhost only, which is all we need.
    if as_root rabbitmqctl -q authenticate_user guest guest >/dev/null 2>&1; then
        log "RabbitMQ user guest/guest works"
        return
    fi
    warn "guest/guest cannot log in; (re)creating it with full permissions on vhost /"
    as_root rabbitmqctl -q add_user guest guest >/dev/null 2>&1 ||
        as_root rabbitmqctl -q change_password guest guest >/dev/null
    as_root rabbitmqctl -q set_user_tags guest administrator >/dev/null
    as_root rabbitmqctl -q set_permissions -p / guest '.*' '.*' '.*' >/dev/null
    as_root rabbitmqctl -q authenticate_user guest guest >/dev/null 2>&1 ||
        die "RabbitMQ user guest/guest still cannot log in"
    log "RabbitMQ user guest/guest works"
}

rabbit_management() {
    [ "$RABBIT_MGMT" = "1" ] || { log "RabbitMQ management plugin skipped (CONCORD_RABBITMQ_MANAGEMENT=$RABBIT_MGMT)"; return; }
    if as_root grep -qs 'rabbitmq_management' /etc/rabbitmq/enabled_plugins; then
        log "RabbitMQ management plugin already enabled"
        return
    fi
    log "enabling RabbitMQ management plugin (optional)"
    if as_root rabbitmq-plugins -q enable rabbitmq_management >/dev/null 2>&1; then
        log "RabbitMQ management plugin enabled (http://127.0.0.1:15672)"
    else
        warn "could not enable the RabbitMQ management plugin; continuing without it"
    fi
}

log "ensuring local dependencies (PostgreSQL on $PG_HOST:$PG_PORT, RabbitMQ on $AMQP_HOST:$AMQP_PORT)"
ensure_tools
ensure_postgres
ensure_rabbitmq
log "all dependencies ready"
