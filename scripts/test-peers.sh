#!/usr/bin/env bash
# Installs (when missing) and starts the real servers the test suite talks to,
# all on 127.0.0.1. Safe to run again; prints the environment tests use.
set -euo pipefail

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

need=()
command -v pg_ctlcluster >/dev/null 2>&1 || need+=(postgresql)
[ -x /usr/sbin/dovecot ] || need+=(dovecot-imapd)
/usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1 || need+=(python3-aiosmtpd)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
[ -x /usr/sbin/postfix ] || need+=(postfix)
[ -x /usr/sbin/slapd ] || need+=(slapd ldap-utils)
# The private slapd's TLS certificates are made with it.
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing test peers: ${need[*]}" >&2
  # Postfix unconfigured: the tests run private instances, never the system's.
  echo "postfix postfix/main_mailer_type select No configuration" | as_root debconf-set-selections
  # slapd unconfigured too: tests run private instances with their own slapd.conf.
  echo "slapd slapd/no_configuration boolean true" | as_root debconf-set-selections
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
for tool in pg_ctlcluster /usr/sbin/dovecot /usr/sbin/postfix /usr/bin/chromium /usr/bin/chromedriver /usr/sbin/slapd /usr/bin/ldapmodify openssl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "test peer $tool is still missing after installing" >&2; exit 1; }
done
/usr/bin/python3 -c 'import aiosmtpd' || { echo "python3-aiosmtpd is still missing" >&2; exit 1; }

# The README's Postfix recipe runs mailgate as a dedicated user.
if [ "$(id -u)" -eq 0 ] && ! id docket >/dev/null 2>&1; then
  useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin docket
fi

# PostgreSQL on 127.0.0.1:5432, with a password login for the tests.
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
fi
export DOCKET_TEST_POSTGRES_URL=${DOCKET_TEST_POSTGRES_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}
if ! psql "$DOCKET_TEST_POSTGRES_URL" -qtAc 'SELECT 1' >/dev/null 2>&1; then
  # A fresh Debian cluster asks for a password over TCP: give postgres one.
  as_root runuser -u postgres -- psql -qc "ALTER USER postgres PASSWORD 'postgres'" >/dev/null
fi
psql "$DOCKET_TEST_POSTGRES_URL" -qtAc 'SELECT 1' >/dev/null
echo "DOCKET_TEST_POSTGRES_URL=$DOCKET_TEST_POSTGRES_URL"

# Schemathesis (the API fuzzer) and openapi-spec-validator, from PyPI, in a
# venv of their own kept between runs.
st_venv="${DOCKET_PEERS_DIR:-$HOME/.cache/docket-test-peers}/api-fuzz-1"
if [ ! -x "$st_venv/bin/st" ]; then
  echo "installing schemathesis into $st_venv" >&2
  python3 -m venv "$st_venv" >&2
  "$st_venv/bin/pip" install -q "schemathesis==4.32.5" "openapi-spec-validator==0.9.0" >&2
fi
"$st_venv/bin/st" --version >/dev/null || { echo "schemathesis does not run" >&2; exit 1; }
echo "DOCKET_TEST_SCHEMATHESIS=$st_venv/bin/st"
