//! What qmail-remote makes of a remote SMTP server's replies
//! (`remote::report::Reply::push_line`, `remote::smtp::Ehlo::parse`) and
//! its quoting of envelope addresses (`remote::smtp::quote`).
//!
//! Invariants: a reply text for the report is bounded, LF-separated, with
//! no CR and no NUL; the EHLO keywords found are upper case; a quoted
//! address keeps its domain and unescapes to the original local part.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sqmail::remote::report::Reply;
use sqmail::remote::smtp::{Ehlo, quote};

fuzz_target!(|data: &[u8]| {
    let mut r = Reply::default();
    for l in data.split(|&b| b == b'\n') {
        r.push_line(l);
    }
    assert!(r.text.len() <= 5000, "{}", r.text.len());
    assert!(!r.text.contains(&b'\r') && !r.text.contains(&0));
    let e = Ehlo::parse(&r);
    for m in &e.auth {
        assert_eq!(*m, m.to_ascii_uppercase());
    }
    let _ = e.mechanism();
    let q = quote(data);
    if q != data {
        assert!(q.starts_with(b"\""));
        let at = data.iter().rposition(|&b| b == b'@').unwrap_or(data.len());
        assert!(q.ends_with(&data[at..]));
        // The quoted local part unescapes to the original one.
        let inner = &q[1..q.len() - (data.len() - at) - 1];
        let mut back = Vec::new();
        let mut esc = false;
        for &b in inner {
            if !esc && b == b'\\' {
                esc = true;
                continue;
            }
            assert!(esc || b != b'"', "unescaped quote");
            esc = false;
            back.push(b);
        }
        assert_eq!(back, &data[..at]);
    }
});
