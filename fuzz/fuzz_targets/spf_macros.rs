//! The SPF macro language (`spf::macros::expand`, `well_formed`).
//!
//! Invariants: whether a string expands depends on its syntax only (the
//! same answer as `well_formed` for any sender, address and names); the
//! expansion is bounded by the input; `%{p}` asks for the name at most
//! once per use.
#![no_main]

use std::net::IpAddr;

use libfuzzer_sys::fuzz_target;
use sqmail::spf::macros::{self, Vars};

fuzz_target!(|data: &[u8]| {
    if data.len() < 17 {
        return;
    }
    let (head, rest) = data.split_at(17);
    let ip: IpAddr = if head[0] & 1 == 0 {
        <[u8; 4]>::try_from(&head[1..5]).unwrap().into()
    } else {
        <[u8; 16]>::try_from(&head[1..17]).unwrap().into()
    };
    let exp = head[0] & 2 != 0;
    let text = String::from_utf8_lossy(rest);
    let mut parts = text.splitn(4, '\u{1}');
    let spec = parts.next().unwrap_or("");
    let domain = parts.next().unwrap_or("example.org");
    let sender = parts.next().unwrap_or("user@example.org");
    let helo = parts.next().unwrap_or("mx.example.org");
    let v = Vars {
        sender,
        ip,
        helo,
        receiver: "receiver.example",
        now: 1_700_000_000,
    };
    let mut asked = 0usize;
    let r = macros::expand(spec, domain, &v, exp, &mut || {
        asked += 1;
        "ptr.example".to_string()
    });
    assert_eq!(r.is_ok(), macros::well_formed(spec, exp), "{spec:?}");
    assert!(asked <= spec.matches('%').count());
    if let Ok(out) = r {
        let longest = [sender, domain, helo, "ptr.example", "receiver.example"]
            .iter()
            .map(|s| s.len())
            .max()
            .unwrap_or(0)
            .max(63);
        // Each %{..} is at least 4 bytes and URL-escaping triples a byte.
        assert!(out.len() <= spec.len() * 3 + (spec.len() / 4 + 1) * longest * 3);
    }
});
