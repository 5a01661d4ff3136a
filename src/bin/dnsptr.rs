//! dnsptr: see dnsptr(8). Servers come from $DNSCACHEIP, else $RESOLVCONF or
//! /etc/resolv.conf.

#![forbid(unsafe_code)]

fn main() {
    let args = sqmail::getopt::args_lossy();
    sqmail::exit::run("dnsptr", || sqmail::dns::tools::dnsname("dnsptr", &args))
}
