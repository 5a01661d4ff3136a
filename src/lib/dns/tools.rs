//! The small query programs s/qmail ships (dnsip, dnsmxip, dnsname/dnsptr,
//! dnstxt, dnsfq): each takes names or addresses and prints one line per
//! answer set. A temporary DNS failure ends the program with exit 111;
//! a name that does not exist gives an empty answer.

use std::io::Write;
use std::net::IpAddr;

use super::{DnsError, Resolver};
use crate::exit::Die;

fn fail(what: &str, arg: &str, e: DnsError) -> Die {
    match e {
        DnsError::Temp => Die::temp(format!(
            "unable to find {what} for {arg}: temporary failure"
        )),
        DnsError::Hard => Die::perm(format!(
            "unable to find {what} for {arg}: permanent failure"
        )),
    }
}

/// Ok([]) for a name that does not exist.
fn soft<T>(r: Result<Vec<T>, DnsError>) -> Result<Vec<T>, DnsError> {
    match r {
        Err(DnsError::Hard) => Ok(Vec::new()),
        r => r,
    }
}

fn print(out: String) -> Result<(), Die> {
    std::io::stdout()
        .write_all(out.as_bytes())
        .map_err(|e| Die::sys("write output", e))
}

fn usage(args: &[String], u: &str) -> Result<(), Die> {
    if args.is_empty() {
        return Err(Die::usage(u));
    }
    Ok(())
}

/// dnsip: the addresses (IPv6 and IPv4) of each name, each followed by a space.
pub fn dnsip(args: &[String]) -> Result<(), Die> {
    usage(args, "dnsip fqdn ...")?;
    let r = Resolver::new();
    let mut out = String::new();
    for a in args {
        let v = soft(r.ip(a)).map_err(|e| fail("IP address", a, e))?;
        for ip in v {
            out.push_str(&format!("{ip} "));
        }
        out.push('\n');
    }
    print(out)
}

/// dnsmxip: `ip preference` for every address of every MX (implicit MX
/// included), in the order qmail-remote would try them.
pub fn dnsmxip(args: &[String]) -> Result<(), Die> {
    usage(args, "dnsmxip fqdn ...")?;
    let r = Resolver::new();
    let mut out = String::new();
    for a in args {
        for m in r.mxip(a).map_err(|e| fail("MX addresses", a, e))? {
            out.push_str(&format!("{} {}\n", m.ip, m.pref));
        }
    }
    print(out)
}

/// dnsname/dnsptr: the name of each address (first PTR record); `prog`
/// names the program in its usage line.
pub fn dnsname(prog: &str, args: &[String]) -> Result<(), Die> {
    usage(args, &format!("{prog} ip ..."))?;
    let r = Resolver::new();
    let mut out = String::new();
    for a in args {
        let ip: IpAddr = a
            .parse()
            .map_err(|_| Die::perm(format!("unable to parse IP address {a}")))?;
        let v = soft(r.ptr(ip)).map_err(|e| fail("host name", a, e))?;
        out.push_str(v.first().map_or("", String::as_str));
        out.push('\n');
    }
    print(out)
}

/// dnstxt: each TXT record of each name on its own line.
pub fn dnstxt(args: &[String]) -> Result<(), Die> {
    usage(args, "dnstxt fqdn ...")?;
    let r = Resolver::new();
    let mut out = Vec::new();
    for a in args {
        for t in soft(r.txt(a)).map_err(|e| fail("TXT records", a, e))? {
            out.extend(t.into_iter().map(|b| if b == b'\n' { b' ' } else { b }));
            out.push(b'\n');
        }
    }
    print(String::from_utf8_lossy(&out).into_owned())
}

/// dnsfq: the fully-qualified name of a host: its first address, then
/// that address's name; the host itself when there is no name.
pub fn dnsfq(args: &[String]) -> Result<(), Die> {
    usage(args, "dnsfq host ...")?;
    let r = Resolver::new();
    let mut out = String::new();
    for a in args {
        let ips = r.ip(a).map_err(|e| fail("IP address", a, e))?;
        let ip = ips
            .first()
            .ok_or_else(|| Die::perm(format!("unable to find IP address for {a}")))?;
        let names = soft(r.ptr(*ip)).map_err(|e| fail("host name", a, e))?;
        out.push_str(names.first().map_or(a.as_str(), String::as_str));
        out.push('\n');
    }
    print(out)
}
