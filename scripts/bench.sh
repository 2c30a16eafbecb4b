#!/usr/bin/env bash
# Benchmarks (release build; figures, not pass/fail): ingest into SQLite and
# PostgreSQL, sequential mailgate processes, and the outbox drain rate to a
# local SMTP server.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/test-peers.sh | grep '^DOCKET_TEST_' | sed 's/^/export /')"
cargo build --release --quiet
bin=target/release/docket
export DOCKET_LOG=warn

"$bin" bench ingest --messages "${MESSAGES:-10000}" --postgres-url "$DOCKET_TEST_POSTGRES_URL"

work=$(mktemp -d)
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
/usr/bin/python3 tests/peers/smtp_sink.py "$port" "$work/mail" >/dev/null 2>&1 &
sink=$!
trap 'kill $sink 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done
"$bin" bench outbox --messages "${OUTBOX_MESSAGES:-2000}" --smtp-url "smtp://127.0.0.1:$port"
cargo bench --quiet --bench imap 2>&1 | grep "^{"
scripts/bench-web.sh
