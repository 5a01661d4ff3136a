#!/usr/bin/env python3
"""A minimal SMTP sink for t/analog.rs: listens on 127.0.0.1:PORT (argv[1],
0 for any), writes the port to the file argv[2] once listening, accepts
every message with the same replies (no ids, so two runs log alike)."""
import os
import socket
import sys
import threading


def serve(conn):
    f = conn.makefile("rb")
    conn.sendall(b"220 sink.test ESMTP\r\n")
    for line in f:
        verb = line[:4].upper()
        if verb == b"DATA":
            conn.sendall(b"354 go ahead\r\n")
            for body in f:
                if body in (b".\r\n", b".\n"):
                    break
            conn.sendall(b"250 ok\r\n")
        elif verb == b"QUIT":
            conn.sendall(b"221 bye\r\n")
            break
        elif verb == b"EHLO":
            conn.sendall(b"250-sink.test\r\n250 8BITMIME\r\n")
        else:
            conn.sendall(b"250 ok\r\n")
    conn.close()


s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
with open(sys.argv[2] + ".tmp", "w") as p:
    p.write(str(s.getsockname()[1]))
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
