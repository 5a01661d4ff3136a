//! tcprulescheck: show which rule tcpserver would apply to a client
//! described by TCPREMOTEIP, TCPREMOTEHOST and TCPREMOTEINFO.
//! See man/tcprulescheck.1.

#![forbid(unsafe_code)]

use std::io::Write;
use std::net::IpAddr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use sqmail::cdb::Cdb;
use sqmail::exit::{Die, run};
use sqmail::ucspi::rules;

const USAGE: &str = "tcprulescheck rules.cdb";

fn var(name: &str) -> Option<Vec<u8>> {
    std::env::var_os(name).map(|v| v.as_bytes().to_vec())
}

fn main() {
    run("tcprulescheck", || {
        let args: Vec<_> = std::env::args_os().skip(1).collect();
        let [path] = &args[..] else {
            return Err(Die::usage(USAGE));
        };
        let path = Path::new(path);
        let ip_text = sqmail::ucspi::remote_ip().unwrap_or_else(|| "0".into());
        let ip: IpAddr = match ip_text.as_str() {
            "0" => IpAddr::from([0, 0, 0, 0]),
            t => t
                .parse()
                .map_err(|_| Die::perm(format!("invalid TCPREMOTEIP: {t}")))?,
        };
        let (host, info) = (var("TCPREMOTEHOST"), var("TCPREMOTEINFO"));
        let lossy = |v: &Option<Vec<u8>>| {
            String::from_utf8_lossy(v.as_deref().unwrap_or_default()).into_owned()
        };
        eprintln!(
            "tcprulescheck: info: TCPREMOTEIP: {ip_text} TCPREMOTEHOST: {} TCPREMOTEINFO: {}",
            lossy(&host),
            lossy(&info)
        );
        let cdb =
            Cdb::open(path).map_err(|e| Die::sys(format_args!("read: {}", path.display()), e))?;
        let d = rules::lookup(&cdb, &ip, host.as_deref(), info.as_deref())
            .map_err(|e| Die::sys(format_args!("read: {}", path.display()), e))?;
        let mut out = Vec::new();
        match &d.key {
            Some(k) if !k.is_empty() => {
                out.extend_from_slice(format!("rule {}:\n", rules::decode_key(k)).as_bytes())
            }
            _ => out.extend_from_slice(b"default:\n"),
        }
        for (k, v) in &d.env {
            out.extend_from_slice(b"set environment variable ");
            out.extend_from_slice(k);
            out.push(b'=');
            out.extend_from_slice(v);
            out.push(b'\n');
        }
        out.extend_from_slice(if d.deny {
            b"deny connection\n"
        } else {
            b"allow connection\n"
        });
        std::io::stdout()
            .write_all(&out)
            .map_err(|e| Die::sys("write output", e))
    })
}
