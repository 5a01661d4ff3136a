//! tcprules lines (`ucspi::rules::parse_line`) and what tcpserver makes of
//! the compiled records (`decode_record`, `decode_key`, `cascade`).
//!
//! Invariants: a rule has at most 256 keys (none for an empty range) and a
//! record that decodes to its own deny flag and variables; CIDR keys decode
//! to `address/length`; the lookup cascade of any client has the bounded
//! set of keys it should.
#![no_main]

use std::net::IpAddr;

use libfuzzer_sys::fuzz_target;
use sqmail::ucspi::rules;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(rule)) = rules::parse_line(data) {
        // An empty range (`1-0`) gives no keys, as in ucspi-tcp.
        assert!(rule.keys.len() <= 256);
        for k in &rule.keys {
            let d = rules::decode_record(k.clone(), &rule.data);
            assert_eq!(d.deny, rule.data.starts_with(b"D\0"));
            if matches!(k.first(), Some(b'_' | b'^')) && !data.contains(&b'=') {
                let text = rules::decode_key(k);
                assert!(text.ends_with(&format!("/{}", k.len() - 1)), "{text}");
            }
        }
        let d = rules::decode_record(Vec::new(), &rule.data);
        let items = rule.data.iter().filter(|&&b| b == b'+').count();
        assert!(d.env.len() <= items);
    }
    let _ = rules::address_keys(data);
    let _ = rules::decode_key(data);
    let _ = rules::decode_record(data.to_vec(), data);
    if data.len() >= 17 {
        let ip: IpAddr = if data[0] & 1 == 0 {
            <[u8; 4]>::try_from(&data[1..5]).unwrap().into()
        } else {
            <[u8; 16]>::try_from(&data[1..17]).unwrap().into()
        };
        let host = &data[17..];
        let keys = rules::cascade(&ip, Some(host), Some(b"info"));
        let dots = host.iter().filter(|&&b| b == b'.').count();
        assert!(keys.len() <= 2 + 1 + 1 + 3 + 128 + dots + 1 + 1);
        assert_eq!(keys.last().map(Vec::len), Some(0));
    }
});
