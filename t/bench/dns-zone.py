#!/usr/bin/env python3
"""A tiny authoritative DNS server on UDP for the benchmarks (standard library
only): answers A and TXT questions from the zone below, NXDOMAIN for other
names, an empty answer for other types. Usage: dns-zone.py IP PORT
[NAME=TEXT...] (more TXT records; prints "ready" when it listens)."""
import socket
import struct
import sys

# The SPF work of t/bench/run: the sender domain's record costs three
# lookups (the TXT, an a: name, an include:).
ZONE = {
    "bench.test": {"TXT": ["v=spf1 a:mx.bench.test include:_spf.bench.test -all"]},
    "mx.bench.test": {"A": ["192.0.2.10"]},
    "_spf.bench.test": {"TXT": ["v=spf1 ip4:198.51.100.0/24 -all"]},
}
TYPES = {1: "A", 16: "TXT"}


def name_at(msg, off):
    labels = []
    while True:
        n = msg[off]
        if n == 0:
            return ".".join(labels).lower(), off + 1
        labels.append(msg[off + 1:off + 1 + n].decode("ascii", "replace"))
        off += 1 + n


def rdata(kind, value):
    if kind == "A":
        return socket.inet_aton(value)
    data = value.encode()
    return b"".join(bytes([len(data[i:i + 255])]) + data[i:i + 255]
                    for i in range(0, len(data), 255))


def answer(msg):
    qid, _flags, qd = struct.unpack(">HHH", msg[:6])
    if qd != 1:
        return None
    qname, off = name_at(msg, 12)
    qtype, _qclass = struct.unpack(">HH", msg[off:off + 4])
    question = msg[12:off + 4]
    node = ZONE.get(qname)
    records = (node or {}).get(TYPES.get(qtype, ""), [])
    rcode = 0 if node is not None else 3
    flags = 0x8400 | rcode  # response, authoritative
    out = struct.pack(">HHHHHH", qid, flags, 1, len(records), 0, 0) + question
    for value in records:
        rd = rdata(TYPES[qtype], value)
        out += b"\xc0\x0c" + struct.pack(">HHIH", qtype, 1, 300, len(rd)) + rd
    return out


def main():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for arg in sys.argv[3:]:
        name, text = arg.split("=", 1)
        ZONE.setdefault(name.lower(), {}).setdefault("TXT", []).append(text)
    s.bind((sys.argv[1], int(sys.argv[2])))
    print("ready", flush=True)
    while True:
        msg, peer = s.recvfrom(4096)
        try:
            reply = answer(msg)
        except (IndexError, struct.error):
            reply = None
        if reply:
            s.sendto(reply, peer)


if __name__ == "__main__":
    main()
