#!/usr/bin/env python3
"""A backend publisher for stompd that authenticates as a service account.

It trades the client's id and secret for an access token at POST /auth/token
(OAuth 2.0 client credentials, sent as HTTP Basic), connects over STOMP/TCP
with that token in the CONNECT's Authorization header, and publishes
--count messages, each confirmed by its RECEIPT. Before the token expires it
gets a new one from /auth/token and hands it to the live session in band, with
a SEND to /sys/auth/refresh, so the connection is never dropped. It exits 0
once every message is confirmed, and 1 on any error (an ERROR frame from the
server included: a deleted client's session is ended that way).

    export STOMPD_CLIENT_SECRET=...   # printed once by `stompd client add`
    python3 publisher.py --client-id billing --count 10
"""

import argparse
import base64
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import stomp

# How long to wait for CONNECTED and for each RECEIPT, in seconds.
WAIT = 10.0


class Token:
    """An access token and when to replace it: once two thirds of its life
    have passed, so that a slow token request still ends in time."""

    def __init__(self, access, expires_in):
        self.access = access
        now = time.monotonic()
        self.refresh_at = now + expires_in * 2 / 3


def get_token(base_url, client_id, secret):
    """POST /auth/token with the client credentials as HTTP Basic, whose id
    and secret are form-url-encoded first (RFC 6749 section 2.3.1)."""
    basic = "%s:%s" % (urllib.parse.quote_plus(client_id), urllib.parse.quote_plus(secret))
    req = urllib.request.Request(
        base_url.rstrip("/") + "/auth/token",
        data=urllib.parse.urlencode({"grant_type": "client_credentials"}).encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": "Basic " + base64.b64encode(basic.encode()).decode(),
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=WAIT) as resp:
            body = json.load(resp)
    except urllib.error.HTTPError as e:
        err = json.load(e)
        raise SystemExit("token refused: %s %s: %s" % (e.code, err.get("error"), err.get("message")))
    return Token(body["access_token"], body["expires_in"])


class Receipts(stomp.ConnectionListener):
    """Tracks the receipts the server sent and the first ERROR frame."""

    def __init__(self):
        self.cond = threading.Condition()
        self.seen = set()
        self.error = None

    def on_receipt(self, frame):
        with self.cond:
            self.seen.add(frame.headers.get("receipt-id"))
            self.cond.notify_all()

    def on_error(self, frame):
        with self.cond:
            self.error = "%s: %s" % (frame.headers.get("code"), frame.headers.get("message"))
            self.cond.notify_all()

    def on_disconnected(self):
        with self.cond:
            self.error = self.error or "disconnected by the server"
            self.cond.notify_all()

    def wait(self, receipt):
        """Waits for receipt; raises on an ERROR, a lost connection or a
        timeout."""
        deadline = time.monotonic() + WAIT
        with self.cond:
            while receipt not in self.seen:
                if self.error:
                    raise SystemExit("stompd: " + self.error)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SystemExit("no RECEIPT %s within %ss" % (receipt, WAIT))
                self.cond.wait(left)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default="http://127.0.0.1:8080", help="stompd's HTTP address")
    p.add_argument("--stomp", default="127.0.0.1:61613", help="stompd's STOMP/TCP address, host:port")
    p.add_argument("--client-id", required=True)
    p.add_argument("--destination", default="/topic/billing")
    p.add_argument("--count", type=int, default=10, help="messages to publish")
    p.add_argument("--interval", type=float, default=0.0, help="seconds between messages")
    args = p.parse_args()
    secret = os.environ.get("STOMPD_CLIENT_SECRET")
    if not secret:
        raise SystemExit("set STOMPD_CLIENT_SECRET to the secret stompd client add printed")
    host, port = args.stomp.rsplit(":", 1)

    token = get_token(args.url, args.client_id, secret)
    receipts = Receipts()
    conn = stomp.Connection([(host, int(port))], timeout=WAIT, reconnect_attempts_max=1)
    conn.set_listener("receipts", receipts)
    conn.connect(wait=True, headers={"Authorization": "Bearer " + token.access})
    refreshes = 0
    for i in range(1, args.count + 1):
        if time.monotonic() >= token.refresh_at:
            token = get_token(args.url, args.client_id, secret)
            refreshes += 1
            conn.send("/sys/auth/refresh", "", headers={"Authorization": "Bearer " + token.access, "receipt": "refresh-%d" % refreshes})
            receipts.wait("refresh-%d" % refreshes)
        conn.send(args.destination, "message %d" % i, content_type="text/plain", headers={"receipt": "m%d" % i})
        receipts.wait("m%d" % i)
        time.sleep(args.interval)
    conn.disconnect()
    print("published %d messages to %s, refreshed the token %d times" % (args.count, args.destination, refreshes))


if __name__ == "__main__":
    sys.exit(main())
