#!/usr/bin/env bash
# Runs Docket on a throw-away SQLite database with no configuration: creates a
# queue, sends two mails through the mailgate (a new ticket and a reply to its
# acknowledgement) and shows the ticket and the outbox.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet
docket="$PWD/target/debug/docket"
work=$(mktemp -d)
export DOCKET_DATABASE_URL="sqlite://$work/docket.db" DOCKET_LOG=${DOCKET_LOG:-warn}
run() { echo "\$ docket $*"; "$docket" "$@"; }

run migrate
run queue add helpdesk --address help@example.com --comment-address help-comment@example.com
echo "\$ docket mailgate --json < new-mail"
printf 'From: Sam Sample <sam@example.net>\r\nTo: help@example.com\r\nSubject: Printer on floor 2 is offline\r\nMessage-ID: <demo-1@example.net>\r\n\r\nHello, the printer on floor 2 shows "offline" since this morning.\r\n' \
  | "$docket" mailgate --json
ack=$("$docket" outbox list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["message_id"])')
echo "\$ docket mailgate --json < reply-to-the-acknowledgement"
printf 'From: Sam Sample <sam@example.net>\r\nTo: help@example.com\r\nSubject: Re: [Docket #1] Printer on floor 2 is offline\r\nMessage-ID: <demo-2@example.net>\r\nIn-Reply-To: <%s>\r\n\r\nIt is the HP one next to the kitchen.\r\n' "$ack" \
  | "$docket" mailgate --json
run ticket show 1
run outbox list
echo
echo "database: $work/docket.db  (DOCKET_DATABASE_URL=$DOCKET_DATABASE_URL)"
