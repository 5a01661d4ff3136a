//! rblsmtpd: block SMTP clients listed in DNS block lists (or by
//! $RBLSMTPD), else run the SMTP server. See man/rblsmtpd.1.

#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::IpAddr;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use sqmail::dns::{DnsError, Resolver, list_name};
use sqmail::exit::{Die, run};
use sqmail::sys;
use sqmail::timeoutio::TimeoutFd;
use sqmail::ucspi::{getopt, num};

const USAGE: &str =
    "rblsmtpd [ -bBcCiW ] [ -t timeout ] [ -r base ] [ -a base ] [ -w delay ] prog [ arg ... ]";
const ME: &str = "rblsmtpd.local";

/// What to do with the client.
enum Verdict {
    Accept,
    Block(u16, String),
}

/// Bytes outside 32..=126 become `?`; at most `max` bytes.
fn clean(text: &[u8], max: usize) -> String {
    sqmail::printable::text(&text[..text.len().min(max)], sqmail::printable::ascii)
}

fn main() {
    run("rblsmtpd", || {
        let args: Vec<_> = std::env::args_os().skip(1).collect();
        let (opts, prog) = getopt(&args, "bBcCiW", "tTraw", USAGE)?;
        if prog.is_empty() {
            return Err(Die::usage(USAGE));
        }
        let (mut code, mut fail_closed, mut info, mut timeout) = (451u16, false, false, 60u32);
        for (c, v) in &opts {
            match c {
                'b' => code = 553,
                'B' => code = 451,
                'c' => fail_closed = true,
                'C' => fail_closed = false,
                'i' => info = true,
                't' | 'T' => timeout = num(v, USAGE)?,
                _ => {}
            }
        }
        let mut cmd = Command::new(&prog[0]);
        cmd.args(&prog[1..]);
        let ip_text = sqmail::ucspi::remote_ip().unwrap_or_default();
        let Ok(ip) = ip_text.parse::<IpAddr>() else {
            return Err(exec(cmd, &prog[0]));
        };
        let pid = sys::getpid();
        let log = |text: &str| {
            let _ = writeln!(std::io::stderr(), "rblsmtpd: {ip_text} pid {pid}: {text}");
        };
        let mut verdict = match std::env::var_os("RBLSMTPD") {
            Some(v) if v.is_empty() => Some(Verdict::Accept),
            Some(v) => {
                let v = v.as_encoded_bytes();
                Some(match v.strip_prefix(b"-") {
                    Some(rest) => Verdict::Block(553, clean(rest, 1000)),
                    None => Verdict::Block(451, clean(v, 1000)),
                })
            }
            None => None,
        };
        let from_env = verdict.is_some();
        let dns = Resolver::new();
        for (c, v) in &opts {
            match (c, &verdict) {
                ('w' | 'W', _) => {
                    let secs = if *c == 'w' {
                        num::<u64>(v, USAGE)?
                    } else {
                        std::env::var("GREETDELAY")
                            .ok()
                            .and_then(|s| s.parse().ok())
                            .unwrap_or(0)
                    };
                    log(&format!("greetdelay: {secs}"));
                    std::thread::sleep(Duration::from_secs(secs));
                }
                ('r', None) => match dns.txt(&list_name(ip, v)).map(|t| t.into_iter().next()) {
                    Ok(Some(text)) if text.is_empty() => {
                        verdict = Some(Verdict::Block(code, format!("listed in {v}")))
                    }
                    Ok(Some(text)) => verdict = Some(Verdict::Block(code, clean(&text, 1000))),
                    Err(DnsError::Temp) if fail_closed => {
                        verdict = Some(Verdict::Block(451, "temporary RBL lookup error".into()))
                    }
                    _ => {}
                },
                ('a', None) if dns.ip(&list_name(ip, v)).is_ok_and(|a| !a.is_empty()) => {
                    verdict = Some(Verdict::Accept)
                }
                _ => {}
            }
        }
        let (code, text) = match verdict {
            None | Some(Verdict::Accept) => return Err(exec(cmd, &prog[0])),
            Some(Verdict::Block(code, text)) => (code, text),
        };
        if info && !from_env {
            let note = format!("[RBL info] {}", clean(text.as_bytes(), 200));
            log(&note);
            cmd.env("RBLSMTPD", note);
            return Err(exec(cmd, &prog[0]));
        }
        log(&format!("{code} {text}"));
        converse(code, &text, timeout);
        Ok(())
    })
}

fn exec(mut cmd: Command, prog: &std::ffi::OsStr) -> Die {
    let e = cmd.exec();
    Die::temp(format!("unable to run: {}: {e}", prog.to_string_lossy()))
}

/// The blocking SMTP dialogue: greet, accept the harmless commands,
/// refuse the rest with `code text`, stop on QUIT, EOF or timeout.
fn converse(code: u16, text: &str, timeout: u32) {
    let refuse = format!("{code} {text}\r\n");
    let mut out = TimeoutFd::new(1, timeout.max(1));
    if timeout == 0 {
        let _ = out.write_all(refuse.as_bytes());
        return;
    }
    if out.write_all(format!("220 {ME}\r\n").as_bytes()).is_err() {
        return;
    }
    let mut input = BufReader::new(TimeoutFd::new(0, timeout));
    let mut line = Vec::new();
    loop {
        line.clear();
        match input.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let verb: String = line
            .iter()
            .take_while(|b| b.is_ascii_alphabetic())
            .map(|b| b.to_ascii_uppercase() as char)
            .collect();
        let reply = match verb.as_str() {
            "QUIT" => {
                let _ = out.write_all(format!("221 {ME}\r\n").as_bytes());
                return;
            }
            "HELO" | "EHLO" | "MAIL" | "RSET" | "NOOP" => format!("250 {ME}\r\n"),
            _ => refuse.clone(),
        };
        if out.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}
