//! spfquery: see spfquery(8). Evaluates SPF for one client address, HELO
//! name and envelope sender the way qmail-smtpd does, and prints the
//! result, the trace and, for fail, the explanation.

#![forbid(unsafe_code)]

use std::io::{self, Write};

use sqmail::dns::Resolver;
use sqmail::exit::Die;
use sqmail::spf::{self, Query};

const USAGE: &str =
    "invalid usage\nusage: spfquery sender-ip sender-helo envelope-from [local-rules] [-v]";

fn spfquery(args: &[String]) -> Result<(), Die> {
    if args.len() < 3 {
        return Err(Die::new(sqmail::exit::PERM, USAGE));
    }
    let is_v = |a: &String| a.starts_with("-v");
    let verbose = args[3..].iter().take(2).any(is_v);
    let local_rules = args.get(3).filter(|a| !is_v(a)).map(String::as_str);
    let own = sqmail::sys::local_addrs().unwrap_or_default();
    let q = Query {
        ip: &args[0],
        helo: &args[1],
        sender: &args[2],
        receiver: "localhost",
        local_rules,
        explain: spf::DEFAULT_EXPLAIN,
        own_ips: &own,
        now: sqmail::date::now_secs().max(0) as u64,
    };
    let mut out = io::stdout().lock();
    let w = |e: io::Error| Die::sys("write to stdout", e);
    let Some(o) = spf::check(&q, &mut Resolver::new()) else {
        writeln!(out, "result=IP address syntax error").map_err(w)?;
        out.flush().map_err(w)?;
        return Err(Die::quiet(1));
    };
    let mut text = format!("result={}\n", o.verdict.word());
    if verbose {
        text.push_str("SPF records read: \n");
        text.push_str(&o.records);
    }
    text.push_str(&format!("SPF information evaluated: {}\n", o.trace));
    if let (spf::Verdict::Fail, Some(e)) = (o.verdict, &o.explanation) {
        text.push_str(&format!("SPF results returned: {e}\n"));
    }
    out.write_all(text.as_bytes()).map_err(w)?;
    out.flush().map_err(w)
}

fn main() {
    // Lossy, as qmail-smtpd reads HELO and sender: non-UTF-8 bytes must
    // not make the program panic.
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    sqmail::exit::run("spfquery", || spfquery(&args))
}
