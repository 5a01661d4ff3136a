//! qmail-smtpd's envelope addresses and MAIL parameters
//! (`smtpd::addr`) and the envelope filters that see them
//! (`smtpd::filter`, `smtpd::wildmat`).
//!
//! Invariants: an address taken is at most `MAX_ADDRESS` bytes without a
//! NUL; an argument without `<` has none; `rewrite_literal` only replaces a
//! local `@[ip]` by the local host; `domain` is a suffix without `@`; the
//! filters answer without panicking on any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sqmail::smtpd::addr::{self, MAX_ADDRESS};
use sqmail::smtpd::filter::{self, List};
use sqmail::smtpd::wildmat;

fn list(words: &[&str]) -> List {
    List::new(words.iter().map(|s| s.to_string()).collect())
}

fuzz_target!(|data: &[u8]| {
    let p = addr::mail_params(data);
    if let Some(n) = p.size {
        let _ = n.checked_add(0);
    }
    let Some(mut a) = addr::parse(data) else {
        return;
    };
    assert!(data.contains(&b'<'));
    assert!(a.len() <= MAX_ADDRESS && !a.contains(&0));
    let before = a.clone();
    addr::rewrite_literal(&mut a, &["127.0.0.1".into(), "::1".into()], "local.example");
    if a != before {
        assert!(a.ends_with(b"@local.example"));
        assert!(before.ends_with(b"]"));
    }
    let d = addr::domain(&a);
    assert!(a.ends_with(d) && !d.contains(&b'@'));
    let l = list(&[
        "@spam.example",
        "bad@x.org",
        "!@ok.example",
        "*@*.dyn.example",
        "[a-c]*@q.example",
    ]);
    let _ = filter::badmailfrom(&l, &a, a.len() % 2 == 0, Some("client.example"));
    let _ = filter::badrcptto(&l, &a);
    let _ = filter::badhelo(&l, &a);
    let ds = String::from_utf8_lossy(d).to_ascii_lowercase();
    for k in filter::domain_keys(&ds) {
        assert!(ds.ends_with(k.trim_start_matches('.')));
    }
    // Patterns come from control files; both sides from the input here.
    if let Some(sp) = a.iter().position(|&b| b == b' ') {
        let (pat, text) = (&a[..sp.min(64)], &a[sp + 1..]);
        let _ = wildmat::matches(pat, &text[..text.len().min(256)]);
    }
});
