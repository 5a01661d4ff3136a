//! SPF record syntax (`spf::record::parse`, `is_spf1`, `domain_spec`).
//!
//! Invariants: a record that parses is made of printable ASCII terms; its
//! directives written out again (with its modifiers) parse to the same
//! record; a syntax error names a term of the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sqmail::spf::record::{self, Mechanism};

fuzz_target!(|data: &[u8]| {
    let _ = record::is_spf1(data);
    let text = String::from_utf8_lossy(data);
    let _ = record::domain_spec(&text);
    match record::parse(&text) {
        Ok(r) => {
            let mut again = String::from("v=spf1");
            for d in &r.directives {
                assert!(d.text.bytes().all(|b| b.is_ascii_graphic()));
                if let Mechanism::Ip4(_, n) = d.mechanism {
                    assert!(n <= 32);
                }
                if let Mechanism::Ip6(_, n) = d.mechanism {
                    assert!(n <= 128);
                }
                if let Mechanism::A(_, a, b) | Mechanism::Mx(_, a, b) = d.mechanism {
                    assert!(a <= 32 && b <= 128);
                }
                again.push(' ');
                again.push_str(&d.text);
            }
            for (name, v) in [("redirect", &r.redirect), ("exp", &r.exp)] {
                if let Some(v) = v {
                    assert!(record::domain_spec(v));
                    again.push_str(&format!(" {name}={v}"));
                }
            }
            assert_eq!(record::parse(&again), Ok(r), "{again:?}");
        }
        Err(e) => assert!(text.contains(&e.term), "{e:?}"),
    }
});
