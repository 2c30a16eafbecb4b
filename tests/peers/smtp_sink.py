#!/usr/bin/python3
"""A real SMTP server for Docket's tests: delivers every accepted message into
ROOT/<local part of the recipient>/ as a Maildir, which the test Dovecot serves
over IMAP. Recipients starting with "reject" get 550 5.1.1 (no such user),
"policy" 554 5.7.1 (spam), "tempfail" 451.

usage: smtp_sink.py PORT ROOT [UID GID]   (prints "ready" once listening)"""
import mailbox
import os
import signal
import sys
import time

from aiosmtpd.controller import Controller


class Handler:
    def __init__(self, root, uid, gid):
        self.root, self.uid, self.gid = root, uid, gid

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0].lower()
        if local.startswith("reject"):
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        if local.startswith("policy"):
            return "554 5.7.1 <%s>: Message rejected as spam" % address
        if local.startswith("tempfail"):
            return "451 4.3.0 <%s>: Temporary failure, try again later" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        for rcpt in envelope.rcpt_tos:
            user = rcpt.split("@")[0].lower()
            path = os.path.join(self.root, user)
            box = mailbox.Maildir(path, create=True)
            box.add(envelope.original_content)
            if self.uid is not None:
                for dirpath, dirs, files in os.walk(path):
                    os.chown(dirpath, self.uid, self.gid)
                    for f in files:
                        os.chown(os.path.join(dirpath, f), self.uid, self.gid)
        return "250 Message accepted for delivery"


def main():
    port, root = int(sys.argv[1]), sys.argv[2]
    uid = int(sys.argv[3]) if len(sys.argv) > 3 else None
    gid = int(sys.argv[4]) if len(sys.argv) > 4 else None
    os.umask(0o007)
    os.makedirs(root, exist_ok=True)
    controller = Controller(Handler(root, uid, gid), hostname="127.0.0.1", port=port, server_hostname="smtp-sink.test")
    controller.start()
    print("ready", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: (controller.stop(), sys.exit(0)))
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
