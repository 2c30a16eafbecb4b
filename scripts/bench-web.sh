#!/usr/bin/env bash
# Web benchmark (figures, not pass/fail): `docket serve` on a database seeded
# with TICKETS tickets (default 100,000), loaded with wrk for the queue page,
# a ticket page, a search, the triage board and the WIP board. SQLite by
# default; BENCH_POSTGRES_URL=postgres://…/dbname runs it on PostgreSQL (the
# database must exist; it is seeded when empty).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "installing wrk" >&2; apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet
bin="$PWD/target/release/docket"
work=$(mktemp -d)
# BENCH_DB=path keeps (and reuses) the seeded database between runs.
db=${BENCH_DB:-$work/web.db}
export DOCKET_LOG=warn
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
if [ -n "${BENCH_POSTGRES_URL:-}" ]; then
  export DOCKET_DATABASE_URL="$BENCH_POSTGRES_URL"
  "$bin" migrate >/dev/null
  seeded=$(psql "$BENCH_POSTGRES_URL" -tAc "SELECT COUNT(*) FROM tickets")
else
  export DOCKET_DATABASE_URL="sqlite://$db"
  seeded=$([ -s "$db" ] && echo 1 || echo 0)
fi

if [ "$seeded" = 0 ]; then
  echo "seeding ${TICKETS:-100000} tickets…" >&2
  "$bin" dev seed --tickets "${TICKETS:-100000}" >&2
  # Freshly loaded tables have no statistics yet: plans would be guesses
  # until autovacuum runs (the queue view measured 45x slower without).
  if [ -n "${BENCH_POSTGRES_URL:-}" ]; then psql "$BENCH_POSTGRES_URL" -qc ANALYZE; fi
fi
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" serve --listen "127.0.0.1:$port" >/dev/null 2>&1 &
server=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

jar="$work/cookies"
csrf=$(curl -s -c "$jar" "http://127.0.0.1:$port/login" | grep -o 'name="csrf" value="[^"]*"' | head -1 | sed 's/.*value="//;s/"//')
curl -s -b "$jar" -c "$jar" -o /dev/null "http://127.0.0.1:$port/login" \
  --data-urlencode "csrf=$csrf" --data-urlencode "email=admin@example.com" --data-urlencode "password=docket-demo"
session=$(awk '$6 == "docket_session" { print $7 }' "$jar")
[ -n "$session" ] || { echo "sign-in failed" >&2; exit 1; }
ticket=$(( ${TICKETS:-100000} / 2 ))

# PAGES overrides the list; CONNECTIONS the concurrency (1: one reader at a time).
pages=${PAGES:-"/queues/helpdesk /tickets/$ticket /search?q=printer /queues /triage /triage?queue=helpdesk /wip /sla /reports/aging /reports/flow"}
for page in $pages; do
  printf '%s ' "$page"
  wrk -t1 -c"${CONNECTIONS:-1}" -d"${DURATION:-10s}" -s scripts/wrk-report.lua -H "Cookie: docket_session=$session" \
    "http://127.0.0.1:$port$page" | tail -n 1
done
# The memory of serve after answering all of that.
echo "serve max RSS: $(awk '/VmHWM/ { print $2, $3 }' /proc/$server/status)"
