#!/usr/bin/python3
"""A real SMTP server for Docket's tests: delivers every accepted message into
ROOT/<local part of the recipient>/ as a Maildir, which the test Dovecot serves
over IMAP. Recipients starting with "reject" get 550 5.1.1 (no such user),
"policy" 554 5.7.1 (spam), "tempfail" 451.

With --introspect URL it demands AUTH XOAUTH2 (nothing else) and asks that
OAuth2 introspection endpoint (RFC 7662) whether the bearer token is active
and names the user signing in, as Dovecot's oauth2 passdb does; 535 if not.

usage: smtp_sink.py [--introspect URL] PORT ROOT [UID GID]
(prints "ready" once listening)"""
import asyncio
import base64
import binascii
import json
import mailbox
import os
import signal
import sys
import time
import urllib.parse
import urllib.request

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


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


class OAuthHandler(Handler):
    """A Handler that takes XOAUTH2 only, vouched for by the endpoint."""

    def __init__(self, root, uid, gid, introspect):
        super().__init__(root, uid, gid)
        self.introspect = introspect

    def active_user(self, token):
        data = urllib.parse.urlencode({"token": token}).encode()
        with urllib.request.urlopen(self.introspect, data=data, timeout=5) as r:
            answer = json.load(r)
        return answer.get("username") if answer.get("active") else None

    async def auth_XOAUTH2(self, server, args):
        if len(args) != 2:
            raw = await server.challenge_auth("")
            if not isinstance(raw, bytes):
                return AuthResult(success=False, handled=True)
        else:
            try:
                raw = base64.b64decode(args[1], validate=True)
            except binascii.Error:
                await server.push("501 5.5.2 Cannot decode the response")
                return AuthResult(success=False, handled=True)
        parts = dict(p.split(b"=", 1) for p in raw.split(b"\x01") if b"=" in p)
        user = parts.get(b"user", b"").decode()
        auth = parts.get(b"auth", b"").decode()
        if not auth.lower().startswith("bearer "):
            return AuthResult(success=False, handled=False)
        loop = asyncio.get_running_loop()
        who = await loop.run_in_executor(None, self.active_user, auth[7:])
        if user and who == user:
            return AuthResult(success=True, auth_data=user)
        # As Gmail does: the reason as a 334 JSON challenge, then 535 once
        # the client answers it (or nothing, when it hangs up).
        reason = json.dumps({"status": "401", "schemes": "bearer", "scope": "https://mail.google.com/"})
        answer = await server.challenge_auth(reason.encode())
        if not isinstance(answer, bytes):
            return AuthResult(success=False, handled=True)
        return AuthResult(success=False, handled=False)


def main():
    args = sys.argv[1:]
    introspect = None
    if args[:1] == ["--introspect"]:
        introspect, args = args[1], args[2:]
    port, root = int(args[0]), args[1]
    uid = int(args[2]) if len(args) > 2 else None
    gid = int(args[3]) if len(args) > 3 else None
    os.umask(0o007)
    os.makedirs(root, exist_ok=True)
    if introspect:
        controller = Controller(
            OAuthHandler(root, uid, gid, introspect), hostname="127.0.0.1", port=port,
            server_hostname="smtp-sink.test", auth_require_tls=False, auth_required=True,
            auth_exclude_mechanism=["LOGIN", "PLAIN"])
    else:
        controller = Controller(Handler(root, uid, gid), hostname="127.0.0.1", port=port, server_hostname="smtp-sink.test")
    controller.start()
    print("ready", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: (controller.stop(), sys.exit(0)))
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
