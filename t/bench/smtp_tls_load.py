#!/usr/bin/env python3
"""TLS-capable SMTP load generator for t/bench/tls (Postfix's smtp-source
speaks no TLS). One client for every server: SESSIONS processes, each sending
its share of COUNT messages, one message per connection, with TLS 1.3 and no
certificate verification (the same suites against every server).

usage: smtp_tls_load.py PORT MODE COUNT SESSIONS SIZE RCPT [USER PASS]
  MODE: starttls (EHLO, STARTTLS, EHLO), smtps (TLS from the first byte),
        submission (as starttls, then AUTH PLAIN USER PASS before MAIL)
Prints one JSON line: sent, failed, seconds, client_cpu_s, resumed."""
import base64
import json
import multiprocessing as mp
import os
import socket
import ssl
import sys
import time


class Dialog:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def reply(self):
        """The last line of a (multi-line) reply; raises on 4xx/5xx."""
        while True:
            while b"\r\n" not in self.buf:
                data = self.sock.recv(65536)
                if not data:
                    raise OSError("connection closed")
                self.buf += data
            line, self.buf = self.buf.split(b"\r\n", 1)
            if len(line) < 4 or line[3:4] != b"-":
                if line[:1] not in (b"2", b"3"):
                    raise OSError("refused: " + line.decode("latin-1"))
                return line

    def cmd(self, text):
        self.sock.sendall(text + b"\r\n")
        return self.reply()


def one(ctx, port, mode, body, rcpt, auth):
    raw = socket.create_connection(("127.0.0.1", port), timeout=30)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock = raw
    if mode == "smtps":
        sock = ctx.wrap_socket(raw, server_hostname="bench.test")
    d = Dialog(sock)
    d.reply()
    d.cmd(b"EHLO load.bench.test")
    if mode != "smtps":
        d.cmd(b"STARTTLS")
        sock = ctx.wrap_socket(raw, server_hostname="bench.test")
        d = Dialog(sock)
        d.cmd(b"EHLO load.bench.test")
    if auth:
        d.cmd(b"AUTH PLAIN " + auth)
    d.cmd(b"MAIL FROM:<load@bench.test>")
    d.cmd(b"RCPT TO:<" + rcpt + b">")
    d.cmd(b"DATA")
    sock.sendall(body)
    d.reply()
    try:
        sock.sendall(b"QUIT\r\n")
        d.reply()
    except OSError:
        pass
    resumed = sock.session_reused
    sock.close()
    return resumed


def worker(port, mode, count, size, rcpt, auth, out):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    line = b"x" * 70 + b"\r\n"
    text = b"From: load@bench.test\r\nTo: " + rcpt + b"\r\nSubject: tls load\r\n\r\n"
    text += line * max(1, size // len(line))
    body = text + b".\r\n"
    sent = failed = resumed = 0
    for _ in range(count):
        try:
            resumed += one(ctx, port, mode, body, rcpt, auth)
            sent += 1
        except (OSError, ssl.SSLError) as e:
            failed += 1
            if failed <= 3:
                print("smtp_tls_load:", e, file=sys.stderr)
    t = os.times()
    out.put((sent, failed, resumed, t.user + t.system))


def main():
    port, mode, count, sessions, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    rcpt = sys.argv[6].encode()
    auth = None
    if len(sys.argv) > 8:
        auth = base64.b64encode(b"\0" + sys.argv[7].encode() + b"\0" + sys.argv[8].encode())
    q = mp.Queue()
    shares = [count // sessions + (1 if i < count % sessions else 0) for i in range(sessions)]
    t0 = time.monotonic()
    ps = [mp.Process(target=worker, args=(int(port), mode, n, size, rcpt, auth, q)) for n in shares]
    for p in ps:
        p.start()
    res = [q.get() for _ in ps]
    for p in ps:
        p.join()
    secs = time.monotonic() - t0
    print(json.dumps({
        "sent": sum(r[0] for r in res), "failed": sum(r[1] for r in res),
        "resumed": sum(r[2] for r in res), "seconds": round(secs, 3),
        "client_cpu_s": round(sum(r[3] for r in res), 3),
    }))


if __name__ == "__main__":
    main()
