#!/usr/bin/env python3
"""A local receiver for jitgate's notifications, for the sandbox stack and the demo.

Listens on 127.0.0.1:PORT (0 = any free port, written to PORT_FILE), accepts POST /slack
(Slack incoming-webhook JSON) and POST /audit (jitgate's signed webhook), checks the webhook's
HMAC-SHA256 signature with the secret in $JITGATE_WEBHOOK_SECRET, and appends one JSON line per
delivery to LOG: {"path", "verified", "body"}. Answers 200, or 401 for a bad signature.

    notification-sink.py PORT_FILE LOG
"""
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port_file, log_path = sys.argv[1], sys.argv[2]
secret = os.environ.get("JITGATE_WEBHOOK_SECRET", "").encode()


class Sink(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's naming)
        length = min(int(self.headers.get("Content-Length", "0") or 0), 1 << 20)
        body = self.rfile.read(length)
        verified = None
        if self.path.startswith("/audit"):
            ts = self.headers.get("X-Jitgate-Timestamp", "")
            sigs = [s.strip() for s in self.headers.get("X-Jitgate-Signature", "").split(",")]
            want = "sha256=" + hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
            fresh = ts.isdigit() and abs(time.time() - int(ts)) < 300
            verified = fresh and any(hmac.compare_digest(want, s) for s in sigs)
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = body.decode("utf-8", "replace")
        with open(log_path, "a") as log:
            log.write(json.dumps({"path": self.path, "verified": verified, "body": parsed}) + "\n")
        self.send_response(401 if verified is False else 200)
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.replace(port_file + ".tmp", port_file)
server.serve_forever()
