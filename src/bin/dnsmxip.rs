//! dnsmxip: see dnsmxip(8). Servers come from $DNSCACHEIP, else $RESOLVCONF or
//! /etc/resolv.conf.

#![forbid(unsafe_code)]

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    sqmail::exit::run("dnsmxip", || sqmail::dns::tools::dnsmxip(&args))
}
