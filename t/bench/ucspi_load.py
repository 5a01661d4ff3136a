#!/usr/bin/env python3
"""Load generator for t/bench/ucspi: PROCS processes, each opening
connections one after another for SECS seconds. Mode `tcp`: connect, read
until EOF. Mode `tls`: connect, TLS handshake (no verification), close.
Prints: connections/s and mean latency in ms."""
import multiprocessing as mp
import socket
import ssl
import sys
import time


def worker(mode, port, secs, out):
    ctx = None
    if mode == "tls":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    n, lat, errs = 0, 0.0, 0
    end = time.monotonic() + secs
    while time.monotonic() < end:
        t0 = time.monotonic()
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            if ctx is None:
                while s.recv(4096):
                    pass
            else:
                t = ctx.wrap_socket(s, server_hostname="localhost")
                t.close()
            s.close()
            n += 1
            lat += time.monotonic() - t0
        except OSError:
            errs += 1
    out.put((n, lat, errs))


def main():
    mode, port, secs, procs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    q = mp.Queue()
    ps = [mp.Process(target=worker, args=(mode, port, secs, q)) for _ in range(procs)]
    for p in ps:
        p.start()
    res = [q.get() for _ in ps]
    for p in ps:
        p.join()
    n = sum(r[0] for r in res)
    lat = sum(r[1] for r in res)
    errs = sum(r[2] for r in res)
    print(f"{n / secs:.1f} {1000 * lat / max(n, 1):.3f} {errs}")


if __name__ == "__main__":
    main()
