#!/usr/bin/env python3
"""Send one message file N times over SMTP, SESSIONS connections at a time,
one message per connection (as smtp-source does, but with a message of our
own: smtp-source cannot send a DKIM-signed one). Standard library only.
Usage: smtp-file.py HOST:PORT FILE COUNT SESSIONS SENDER RECIPIENT
Exits 1 when a message was not accepted."""
import socket
import sys
import threading


def reply(f):
    while True:
        line = f.readline()
        if not line:
            raise OSError("connection closed")
        if line[3:4] != b"-":
            return line


def one(addr, data, sender, rcpt):
    with socket.create_connection(addr) as s:
        f = s.makefile("rb")
        reply(f)
        s.sendall(b"HELO bench.test\r\n")
        reply(f)
        # Pipelined envelope; the server's PIPELINING makes it safe.
        s.sendall(b"MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n" % (sender, rcpt))
        codes = [reply(f)[:1] for _ in range(3)]
        if codes != [b"2", b"2", b"3"]:
            return False
        s.sendall(data)
        ok = reply(f)[:1] == b"2"
        s.sendall(b"QUIT\r\n")
        return ok


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    raw = open(sys.argv[2], "rb").read()
    count, sessions = int(sys.argv[3]), int(sys.argv[4])
    sender, rcpt = sys.argv[5].encode(), sys.argv[6].encode()
    # CRLF lines, dot-stuffed, and the end mark.
    lines = raw.replace(b"\r\n", b"\n").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    data = b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n" for l in lines) + b".\r\n"
    left = [count]
    failed = [0]
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                if left[0] == 0:
                    return
                left[0] -= 1
            try:
                ok = one((host, int(port)), data, sender, rcpt)
            except OSError:
                ok = False
            if not ok:
                with lock:
                    failed[0] += 1

    ts = [threading.Thread(target=worker) for _ in range(sessions)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if failed[0]:
        print(f"smtp-file: {failed[0]} of {count} not accepted", file=sys.stderr)
        sys.exit(1)


main()
