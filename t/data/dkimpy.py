#!/usr/bin/python3
"""dkimpy (Debian python3-dkim) against a DNS server on loopback, for t/dkim.rs.

dkimpy.py PORT verify < message: one line per signature, "pass" or "fail"
(the reason for a failure on stderr).
dkimpy.py PORT sign SELECTOR DOMAIN KEYFILE CANON ALGORITHM < message: the
message with dkimpy's signature in front.
"""
import sys

import dkim
import dns.resolver


def main():
    port = int(sys.argv[1])
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = ["127.0.0.1"]
    res.port = port

    def dnsfunc(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        try:
            ans = res.resolve(name, "TXT", lifetime=timeout)
        except dns.exception.DNSException:
            return None
        return b"".join(b"".join(r.strings) for r in ans[:1])

    msg = sys.stdin.buffer.read()
    if sys.argv[2] == "verify":
        d = dkim.DKIM(msg)
        n = len([h for h in d.headers if h[0].lower() == b"dkim-signature"])
        for i in range(n):
            try:
                ok = d.verify(idx=i, dnsfunc=dnsfunc)
            except dkim.DKIMException as e:
                print("fail", file=sys.stdout)
                print(e, file=sys.stderr)
                continue
            print("pass" if ok else "fail")
        return
    selector, domain, keyfile, canon, alg = sys.argv[3:8]
    h, b = canon.split("/")
    sig = dkim.sign(
        msg,
        selector.encode(),
        domain.encode(),
        open(keyfile, "rb").read(),
        canonicalize=(h.encode(), b.encode()),
        signature_algorithm=alg.encode(),
    )
    sys.stdout.buffer.write(sig + msg)


main()
