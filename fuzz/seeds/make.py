#!/usr/bin/env python3
"""Writes the hand-made seed corpora under fuzz/corpus/<target>/.

Run from anywhere: python3 fuzz/seeds/make.py. The files are committed;
this script is how they were made (and how to remake them)."""
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpus")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- SMTP sessions: 6 configuration bytes, then the client's bytes ----
CFG_PLAIN = bytes([0x00, 0x02, 0x00, 0x00, 0x00, 0x11])
CFG_CHECKS = bytes([0x8F, 0x02, 0x09, 0x0C, 0x05, 0x2A])  # lists, relay off, AUTH, HELOCHECK
CFG_RELAY_TLS = bytes([0x30, 0x23, 0x21, 0x00, 0x00, 0x07])
CFG_SPF = bytes([0x41, 0xC2, 0x00, 0x04, 0x20, 0x80 | 0x13])
sessions = {
    "plain": CFG_PLAIN + b"EHLO client.example.com\r\nMAIL FROM:<alice@example.com> SIZE=120\r\n"
    b"RCPT TO:<bob@example.org>\r\nRCPT TO:<carol@example.org>\r\nDATA\r\n"
    b"Subject: hi\r\n\r\nHello.\r\n..leading dot\r\n.\r\nQUIT\r\n",
    "checks": CFG_CHECKS + b"HELO localhost\r\nMAIL FROM:<x@spam.example>\r\nRCPT TO:<root@example.org>\r\n"
    b"RCPT TO:<@r1,@r2:u@[127.0.0.1]>\r\nRSET\r\nVRFY x\r\nNOOP\r\nHELP\r\nBOGUS\r\nQUIT\r\n",
    "auth": CFG_CHECKS[:2] + bytes([0x09 | 0x20, 0x00, 0x00, 0x00]) + b"EHLO a\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"
    b"AUTH LOGIN\r\nYWxpY2U=\r\nc2VjcmV0\r\nAUTH CRAM-MD5\r\nYWxpY2UgMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\r\n"
    b"AUTH LOGIN\r\n*\r\nMAIL FROM:<alice@example.com>\r\nRCPT TO:<x@elsewhere.example>\r\nQUIT\r\n",
    "starttls": CFG_RELAY_TLS + b"EHLO c\r\nSTARTTLS\r\nEHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<postmaster>\r\n"
    b"DATA\r\nReceived: x\r\nContent-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA//8AALgAAAAA\r\n.\r\nQUIT\r\n",
    "spf": CFG_SPF + b"HELO mx.sender.example\r\nMAIL FROM:<a@sender.example> SMTPUTF8\r\n"
    b"RCPT TO:<b@example.org>\r\nRCPT TO:<c@example.org>\r\nDATA\r\nx\r\n.\r\nQUIT\r\n",
    "pipelined-bare-lf": CFG_PLAIN + b"HELO x\nMAIL FROM:<a@b>\nRCPT TO:<c@d>\nDATA\nbody\n.\n",
    "long-line": CFG_PLAIN + b"HELO " + b"x" * 5000 + b"\r\nNOOP\r\nQUIT\r\n",
}
for k, v in sessions.items():
    put("smtpd_session", k, v)

# ---- DATA: config byte, two chunk sizes, then the client's bytes ----
put("smtpd_data", "simple", b"\x00\x07\x03Subject: x\r\n\r\nbody\r\n.\r\n")
put("smtpd_data", "dots", b"\x01\x01\x40..a\r\n.\rb\r\n.\r\r\n\r\n.\r\nafter")
put("smtpd_data", "hops", b"\x00\x10\x10" + b"Received: x\r\n" * 101 + b"\r\n.\r\n")
put("smtpd_data", "base64", b"\x7c\x05\x09Content-Type: application/x\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    b"TVqQAAMAAAAEAAAA//8AALgAAAAA\r\nAAAA MZ\x90\x00\x03xx\r\n--b\r\n.\r\n")
put("smtpd_data", "bare-lf", b"\x00\x03\x03line\nmore\r\n.\r\n")
put("smtpd_data", "empty", b"\x02\x01\x01.\r\n")

# ---- InBuf: seed byte, then bytes ----
put("smtpd_inbuf", "lines", b"\x05HELO x\r\nMAIL FROM:<a@b>\r\nQU")
put("smtpd_inbuf", "long", b"\x85" + b"ab" * 40 + b"\n" + b"NOOP\n")

# ---- addresses ----
for i, a in enumerate([b"FROM:<alice@example.com> SIZE=1000 BODY=8BITMIME",
                       b"TO:<@r1,@r2:u@[127.0.0.1]>", b"TO: <\"x>y\"@d>", b"FROM:<>",
                       b"TO:<a\\>b@c> SMTPUTF8", b"FROM:<x@spam.example> SIZE=99999999999999999999999",
                       b"TO:<*x y@q.example>"]):
    put("smtpd_addr", f"addr{i}", a)
put("smtpd_auth", "plain", b"\x00alice\x00secret")
put("smtpd_auth", "cram", b"alice 0123456789abcdef0123456789abcdef")
put("smtpd_auth", "fields", b"alice\x01secret\x01<1.2@mx>")
put("smtpd_auth", "b64", b"AGFsaWNlAHNlY3JldA==")

# ---- qmail-queue envelopes: seed byte, then the envelope ----
put("queue_envelope", "two", b"\x35Falice@example.com\x00Tbob@example.org\x00Tc@d\x00\x00")
put("queue_envelope", "bounce-q", b"\x11F\x00Tpostmaster@example.org\x00Q")
put("queue_envelope", "long", b"\xf0F" + b"a" * 1002 + b"\x00T" + b"b" * 1003 + b"\x00\x00")
put("queue_envelope", "bad", b"\x00Xa\x00\x00")

# ---- qmail-inject address fields: width byte, then the field ----
for i, f in enumerate([b"Alice <alice@example.com>, bob@example.org (Bob)",
                       b"group: a@b, \"c d\"@e;, <@r1,@r2:x@y>",
                       b"\"quoted \\\" string\"@[192.0.2.1] (nested (comment))",
                       b"a b c, <> , x@y.z"]):
    put("inject_address", f"field{i}", bytes([72]) + f)

# ---- .qmail files ----
put("local_dotqmail", "mixed", "# comment\n./Maildir/\n/var/mail/joe\n|preline /usr/bin/procmail\n&bob@example.org\nalice\n+list\n\n")
put("local_dotqmail", "list", "+list\n&a@b.example\n  trailing  \t\n")
put("local_dotqmail", "address", "joe-foo-bar.Baz@mail.Example.ORG\"sender x\"@example.com")

# ---- SPF ----
records = [
    "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a mx -all",
    "v=spf1 include:_spf.google.com ~all",
    "v=spf1 a:%{d}.example mx:mail.example/24//64 ptr exists:%{ir}.%{l1r+-}._spf.%{d} ?all",
    "v=spf1 redirect=_spf.example.com",
    "v=spf1 -ip4:10.0.0.0/8 +all exp=explain._spf.%{d} foo=bar",
    "v=spf1 ip4:1.2.3.4/33 all:x",
]
for i, r in enumerate(records):
    put("spf_record", f"rec{i}", r)
macro_head = bytes([2, 192, 0, 2, 3]) + bytes(12)
for i, m in enumerate(["%{s}", "%{ir}.%{v}._spf.%{d2}", "%{l-}%%%_%-", "%{lr-}", "%{L}x%{c}%{r}%{t}%{p}",
                       "%{d0}", "%{i2r.-+,/_=}"]):
    put("spf_macros", f"m{i}", macro_head + f"{m}\x01email.example.com\x01strong-bad@email.example.com\x01mx.example.org".encode())
zone = """192.0.2.10 mx.sender.example user@sender.example
sender.example TXT v=spf1 include:_spf.sender.example a mx/24 -all
_spf.sender.example TXT v=spf1 ip4:198.51.100.0/24 ip6:2001:db8::/32 ptr ~all
sender.example MX mx1.sender.example
sender.example MX mx2.sender.example
mx1.sender.example A 192.0.2.10
mx2.sender.example AAAA 2001:db8::25
192.0.2.10 PTR mx1.sender.example
"""
put("spf_check", "zone", zone)
put("spf_check", "loop", "192.0.2.9 h a@loop.example\nloop.example TXT v=spf1 include:loop.example redirect=loop.example\n")
put("spf_check", "exp", "2001:db8::9 h a@x.example\nx.example TXT v=spf1 -all exp=e.x.example\ne.x.example TXT %{i} is not allowed\\nsee %{d}\n!temp.example TXT x\n")

# ---- DNS packets ----
def name(n):
    out = b""
    for label in n.strip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\x00"

def rr(n, typ, data, ttl=300):
    return name(n) + struct.pack(">HHIH", typ, 1, ttl, len(data)) + data

def msg(qname, qtype, answers=(), auth=(), rcode=0, flags=0x8180):
    h = struct.pack(">HHHHHH", 0x1234, flags | rcode, 1, len(answers), len(auth), 0)
    return h + name(qname) + struct.pack(">HH", qtype, 1) + b"".join(answers) + b"".join(auth)

A, NS, CNAME, SOA, PTR, MX, TXT, AAAA, NSEC, NSEC3 = 1, 2, 5, 6, 12, 15, 16, 28, 47, 50
soa = name("ns.example.org") + name("hostmaster.example.org") + struct.pack(">IIIII", 1, 3600, 600, 86400, 300)
put("dns_wire", "mx", msg("example.org", MX, [rr("example.org", MX, b"\x00\x0a" + name("mx1.example.org")),
                                             rr("example.org", MX, b"\x00\x14" + name("mx2.example.org"))]))
put("dns_wire", "cname", msg("www.example.org", A, [rr("www.example.org", CNAME, name("web.example.org")),
                                                  rr("web.example.org", A, bytes([192, 0, 2, 80]))]))
put("dns_wire", "cname-only", msg("alias.example.org", AAAA, [rr("alias.example.org", CNAME, name("far.example.net"))]))
put("dns_wire", "txt", msg("example.org", TXT, [rr("example.org", TXT, b"\x0fv=spf1 mx -all\x05 more")]))
put("dns_wire", "ptr", msg("10.2.0.192.in-addr.arpa", PTR, [rr("10.2.0.192.in-addr.arpa", PTR, name("host.example.org"))]))
bitmap = b"\x00\x06\x40\x01\x00\x00\x00\x03"  # A, NS? (window 0: A MX ... ) small bitmap
put("dns_wire", "nsec-nx", msg("nope.example.org", A, [], [rr("example.org", SOA, soa),
    rr("example.org", NSEC, name("www.example.org") + bitmap)], rcode=3))
h1 = bytes(range(20))
nsec3 = b"\x01\x00\x00\x0a\x04\xaa\xbb\xcc\xdd\x14" + bytes(range(1, 21)) + bitmap
put("dns_wire", "nsec3-nx", msg("nope.example.org", TLSA := 52, [], [rr("example.org", SOA, soa),
    rr("0123456789abcdefghijklmnopqrstuv.example.org", NSEC3, nsec3)], rcode=3))
put("dns_wire", "resolv-conf", b"nameserver 192.0.2.53\nnameserver [2001:db8::53]:5353\nsearch example.org\n")

# ---- UCSPI-TLS blocks ----
put("ucspi_tls_block", "session", b"SSL_PROTOCOL=TLSv1.3\x00SSL_CIPHER=TLS_AES_256_GCM_SHA384\x00"
    b"SSL_CLIENT_S_DN=/CN=client/emailAddress=a@b\x00SSL_CLIENT_VERIFY=SUCCESS\x00\x00")
put("ucspi_tls_block", "empty", b"\x00\x00")
put("ucspi_tls_block", "values", b"TLSv1.2\x01/CN=x\x01x\x01a@b.example")

# ---- tcprules lines ----
rules = ["127.0.0.1:allow,RELAYCLIENT=\"\"", "192.0.2.0/24:allow,RBLSMTPD=\"-blocked\",X='a=b'",
         "10.0.0.1-50:deny", "=.example.org:allow,TCPREMOTEHOST=\"x\"", "joe@2001:db8::1:allow",
         "2001:db8::/32:allow", ":deny", "# comment", "1.2.3.:allow,A=\"1\",B=\"2\""]
for i, r in enumerate(rules):
    put("tcprules", f"rule{i}", r)

# ---- QMTP answers and remote replies ----
put("qmtp_answer", "ok", b"30:Kok 1234567890 qp 4711 accepted,")
put("qmtp_answer", "defer", b"12:Zdisk full!,")
put("qmtp_answer", "bad", b"2x:Kx,")
put("remote_reply", "ehlo", b"250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-AUTH LOGIN PLAIN cram-md5\r\n"
    b"250-8BITMIME\r\n250-SMTPUTF8\r\n250 STARTTLS\r")
put("remote_reply", "quoted", b"\"john doe\"@example.org")
put("remote_reply", "nul", b"550 no\x00such user\r")
