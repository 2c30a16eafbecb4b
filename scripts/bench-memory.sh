#!/usr/bin/env bash
# Memory figures (not pass/fail): peak RSS of `docket import` on a large
# mbox, against the size of the file, and of `docket poll --once` fetching
# 200 messages of 5 MB from a private Dovecot. Peak RSS should not grow with
# the mbox: it streams one message at a time and stores in batches bounded
# by count and bytes.
#   MBOX_MB=1024 scripts/bench-memory.sh      (BIN=target/debug/docket to skip the release build)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${BIN:-}" ]; then
    cargo build --release --quiet
    BIN=target/release/docket
    bench=(cargo bench --quiet --bench imap)
else
    bench=(cargo test --quiet --bench imap -- --bench)
fi
export DOCKET_LOG=warn
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# An mbox of MBOX_MB megabytes: 100 KB messages, each a new ticket.
for mb in ${MBOX_SIZES:-64 ${MBOX_MB:-1024}}; do
    /usr/bin/python3 - "$work/in.mbox" "$mb" <<'PY'
import sys
path, mb = sys.argv[1], int(sys.argv[2])
line = ("x" * 76 + "\n").encode()
body = line * (100 * 1024 // len(line))
with open(path, "wb") as f:
    i = 0
    while f.tell() < mb * 1024 * 1024:
        i += 1
        f.write(b"From sam@example.net Mon Jan  1 00:00:00 2024\n")
        f.write(("From: Sam <sam%d@example.net>\nTo: help@example.com\nSubject: big import %d\n"
                 "Message-ID: <mem-%d@example.net>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n\n" % (i % 500, i, i)).encode())
        f.write(body)
        f.write(b"\n")
PY
    rm -f "$work/d.db"*
    url="sqlite://$work/d.db"
    DOCKET_DATABASE_URL=$url "$BIN" queue add help --address help@example.com >/dev/null
    size=$(du -m "$work/in.mbox" | cut -f1)
    /usr/bin/time -v "$BIN" --database-url "$url" import "$work/in.mbox" --json \
        2>"$work/time.txt" | tail -1
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time.txt")
    echo "{\"what\": \"import mbox\", \"mbox_mb\": $size, \"max_rss_kb\": $rss, \"wall\": \"$wall\"}"
    rm -f "$work/in.mbox"
done

# IMAP: 200 messages of 5 MB, one `poll --once`.
IMAP_BENCH_MEMORY=1 DOCKET_BIN="$BIN" "${bench[@]}" 2>&1 | grep "^{"
