#!/usr/bin/env bash
# Makes sure the PostgreSQL the tests use is up: 127.0.0.1:5432, user
# postgres with trust authentication from loopback, and a database "test".
# Each store test makes and drops its own schema inside it.
#
# If PostgreSQL is installed but stopped, it is started. If it is missing and
# we are root (a CI machine), it is installed with apt. Trust authentication
# is only ever added for 127.0.0.1 and ::1: this is test-machine setup, not
# something to run on a production database host.
#
# FIFTHWHEEL_SKIP_POSTGRES=1 skips all of this; the store tests then skip
# their PostgreSQL half and say so.
set -euo pipefail

say() { printf 'ensure-postgres: %s\n' "$*"; }
fail() { printf 'ensure-postgres: %s\n' "$*" >&2; exit 1; }

if [[ "${FIFTHWHEEL_SKIP_POSTGRES:-}" == 1 ]]; then
  say "FIFTHWHEEL_SKIP_POSTGRES=1: not checking PostgreSQL; its tests will be skipped"
  exit 0
fi

skip_hint="or set FIFTHWHEEL_SKIP_POSTGRES=1 to run without the PostgreSQL tests"
is_root() { [[ $(id -u) -eq 0 ]]; }
ready() { command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432; }
can_connect() {
  PGCONNECT_TIMEOUT=5 psql -w -q -X "postgresql://postgres@127.0.0.1:5432/test?sslmode=disable" \
    -c 'select 1' >/dev/null 2>&1
}
as_postgres() { runuser -u postgres -- "$@"; }
cluster_version() { ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1; }

start_cluster() {
  local v
  v=$(cluster_version)
  [[ -n "$v" ]] || fail "no cluster under /etc/postgresql; $skip_hint"
  say "starting PostgreSQL $v"
  pg_ctlcluster --skip-systemctl-redirect "$v" main start || true
  for _ in $(seq 1 60); do
    ready && return 0
    sleep 0.5
  done
  fail "PostgreSQL $v did not become ready on 127.0.0.1:5432; see /var/log/postgresql/; $skip_hint"
}

if ! ready; then
  if ! command -v pg_ctlcluster >/dev/null || [[ -z "$(cluster_version)" ]]; then
    is_root || fail "PostgreSQL is not installed and we are not root to install it; install it (apt-get install postgresql) $skip_hint"
    say "installing PostgreSQL with apt"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
  fi
  is_root || [[ $(id -un) == postgres ]] || fail "PostgreSQL is stopped and only root or postgres can start it; $skip_hint"
  start_cluster
fi

if can_connect; then
  say "PostgreSQL ready on 127.0.0.1:5432, database test"
  exit 0
fi

is_root || fail "cannot connect as postgres to database test on 127.0.0.1 without a password; as root this script would add trust authentication for loopback and create the database; $skip_hint"

hba=$(as_postgres psql -tAX -c 'show hba_file')
if ! grep -Eq '^host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
  say "adding trust authentication for loopback to $hba"
  tmp=$(mktemp)
  { printf '# Added by fifthwheel scripts/ensure-postgres.sh (test machine only).\n'
    printf 'host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n'
    cat "$hba"; } >"$tmp"
  cat "$tmp" >"$hba"
  rm -f "$tmp"
  as_postgres psql -qX -c 'select pg_reload_conf()' >/dev/null
fi
if [[ -z "$(as_postgres psql -tAX -c "select 1 from pg_database where datname = 'test'")" ]]; then
  say "creating database test"
  as_postgres createdb test
fi

can_connect || fail "still cannot connect to postgresql://postgres@127.0.0.1:5432/test; $skip_hint"
say "PostgreSQL ready on 127.0.0.1:5432, database test"
