#!/usr/bin/env bash
# The whole test suite: installs and starts the test peers, checks format and
# lints, runs every test against SQLite and PostgreSQL, then the CLI contract.
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(scripts/test-peers.sh | grep '^DOCKET_TEST_' | sed 's/^/export /')"

cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test --all-targets 2>&1 | tee target/test.log
if [ -f ../shared/contract/cli_smoke.py ]; then
  python3 ../shared/contract/cli_smoke.py target/debug/docket
fi
# One closing line over every test binary (cargo prints one per binary).
awk '/^test result:/ { p += $4; f += $6 } END { printf "total: %d passed, %d failed\n", p, f }' target/test.log
