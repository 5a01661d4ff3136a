#!/usr/bin/env python3
# fake-ucspitls.py VARS PROG [ARGS...]: plays sslserver -n's TLS half for
# tests, without TLS. PROG gets SSLCTLFD/SSLREADFD/SSLWRITEFD; fd 0/1 stay
# the "network". On 'Y' the variable block VARS ("K=V,K=V") is sent back and
# bytes are relayed between the network and PROG's pipes in the clear.
import os, select, socket, subprocess, sys

ctl, ctl_child = socket.socketpair()
from_tls_r, from_tls_w = os.pipe()
to_tls_r, to_tls_w = os.pipe()
env = dict(os.environ, SSLCTLFD=str(ctl_child.fileno()),
           SSLREADFD=str(from_tls_r), SSLWRITEFD=str(to_tls_w))
p = subprocess.Popen(sys.argv[2:], env=env,
                     pass_fds=(ctl_child.fileno(), from_tls_r, to_tls_w))
ctl_child.close(); os.close(from_tls_r); os.close(to_tls_w)
cmd = ctl.recv(1)
if cmd in (b'Y', b'y'):
    if cmd == b'Y':
        block = b''.join(kv.encode() + b'\0' for kv in sys.argv[1].split(',') if kv) + b'\0'
        if block == b'\0':
            block = b'\0\0'
        ctl.sendall(block)
    srcs = {0: from_tls_w, to_tls_r: 1}
    while srcs:
        ready, _, _ = select.select(list(srcs), [], [])
        for fd in ready:
            data = os.read(fd, 65536)
            if not data:
                if srcs[fd] != 1:
                    os.close(srcs[fd])
                del srcs[fd]
                continue
            os.write(srcs[fd], data)
            if fd == to_tls_r:
                sys.stdout.flush()
sys.exit(p.wait())
