//! qmail-local's `.qmail` lines (`local::parse_line`, split the
//! way `execute` splits a file) and the texts it derives from an address
//! (`local::lines`: DTLINE, RPLINE, UFLINE, EXT*, HOST*, the safe
//! extension).
//!
//! Invariants: an instruction is a piece of its line without trailing
//! blanks; files start with `.` or `/` (Maildirs end in `/`); the header
//! lines are one line each, ending in LF; the EXT/HOST parts are suffixes
//! and prefixes of what they come from; the safe extension has no dot and
//! no upper case.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sqmail::local::{Instr, lines, parse_line, safe_ext};

fn one_line(v: &[u8], prefix: &[u8]) {
    assert!(v.starts_with(prefix) && v.ends_with(b"\n"));
    assert_eq!(v.iter().filter(|&&b| b == b'\n').count(), 1, "{v:?}");
}

fuzz_target!(|data: &[u8]| {
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    for line in body.split(|&b| b == b'\n') {
        let what = match parse_line(line) {
            Instr::Skip | Instr::ForwardOnly => continue,
            Instr::Maildir(p) => {
                assert!(p.ends_with(b"/") && matches!(p[0], b'.' | b'/'));
                p
            }
            Instr::Mbox(p) => {
                assert!(matches!(p[0], b'.' | b'/') && !p.ends_with(b"/"));
                p
            }
            Instr::Forward(a) | Instr::Program(a) => a,
        };
        assert!(!what.ends_with(b" ") && !what.ends_with(b"\t"));
        let at = what.as_ptr() as usize - line.as_ptr() as usize;
        assert!(at + what.len() <= line.len(), "not a piece of the line");
    }

    // The same bytes as an address: local-ext@host and a sender.
    let (addr, sender) = data.split_at(data.len() / 2);
    let (local, host) = match addr.iter().rposition(|&b| b == b'@') {
        Some(i) => (&addr[..i], &addr[i + 1..]),
        None => (addr, &b""[..]),
    };
    one_line(&lines::dtline(local, host), b"Delivered-To: ");
    one_line(&lines::rpline(sender), b"Return-Path: <");
    let now = i64::from_le_bytes(data.get(..8).map_or([0; 8], |b| b.try_into().unwrap()));
    let uf = lines::ufline(sender, now);
    one_line(&uf, b"From ");
    let who = &uf[5..uf.len() - 1];
    let sp = who
        .iter()
        .position(|&b| b == b' ')
        .expect("date after the sender");
    assert!(!who[..sp].iter().any(|&b| b == b'\t'));
    let ext = local
        .iter()
        .position(|&b| b == b'-')
        .map_or(&b""[..], |i| &local[i + 1..]);
    for p in lines::ext_parts(ext) {
        assert!(ext.ends_with(p));
    }
    for p in lines::host_parts(host) {
        assert!(host.starts_with(p));
    }
    let safe = safe_ext(ext);
    assert_eq!(safe.len(), ext.len());
    assert!(!safe.contains(&b'.') && !safe.iter().any(u8::is_ascii_uppercase));
});
