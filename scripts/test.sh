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
