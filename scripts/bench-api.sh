#!/usr/bin/env bash
# API benchmark (figures, not pass/fail): `docket serve` on a fresh database,
# loaded with wrk: ticket create (POST /api/v1/tickets: ingest, the
# acknowledgement, the SLA clocks) and ticket read (GET /api/v1/tickets/N),
# then the webhook delivery rate to a local receiver (`docket bench
# webhooks`). SQLite by default; BENCH_POSTGRES_URL=postgres://…/dbname runs
# it on PostgreSQL (an empty database that exists). CONNECTIONS (default 1)
# and DURATION (default 10s) as in bench-web.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "installing wrk" >&2; apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet
bin="$PWD/target/release/docket"
work=$(mktemp -d)
export DOCKET_LOG=warn
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
if [ -n "${BENCH_POSTGRES_URL:-}" ]; then
  export DOCKET_DATABASE_URL="$BENCH_POSTGRES_URL"
else
  export DOCKET_DATABASE_URL="sqlite://$work/api.db"
fi
"$bin" migrate >/dev/null
"$bin" queue add support --address support@example.com >/dev/null
echo "bench-password" | "$bin" user add alice@example.com --role staff --queue support >/dev/null
token=$("$bin" token add bench --user alice@example.com --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" serve --listen "127.0.0.1:$port" >/dev/null 2>&1 &
server=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
auth="Authorization: Bearer $token"
api="http://127.0.0.1:$port/api/v1"

printf 'POST /api/v1/tickets '
WRK_BODY='{"queue": "support", "subject": "Printer on fire", "body": "Third floor, again.", "requestor": "sam@example.net"}' \
  wrk -t1 -c"${CONNECTIONS:-1}" -d"${DURATION:-10s}" -s scripts/wrk-post.lua -H "$auth" "$api/tickets" | tail -n 1
id=$(curl -s -H "$auth" "$api/tickets?limit=1" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')
printf 'GET /api/v1/tickets/%s ' "$id"
wrk -t1 -c"${CONNECTIONS:-1}" -d"${DURATION:-10s}" -s scripts/wrk-report.lua -H "$auth" "$api/tickets/$id" | tail -n 1
printf 'GET /api/v1/tickets?limit=50 '
wrk -t1 -c"${CONNECTIONS:-1}" -d"${DURATION:-10s}" -s scripts/wrk-report.lua -H "$auth" "$api/tickets?limit=50" | tail -n 1
kill $server; wait $server 2>/dev/null || true
printf 'webhooks '
"$bin" bench webhooks --deliveries "${DELIVERIES:-5000}" --tickets 500 ${BENCH_POSTGRES_URL:+--postgres-url "$BENCH_POSTGRES_URL"}
