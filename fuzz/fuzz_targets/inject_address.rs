//! qmail-inject's RFC 822 address handling (`sqmail::address`): the
//! tokenizer, the address-list walker, the folding printer, quoting.
//!
//! Invariants: a printed field never starts a new header line (every LF but
//! the last is followed by a blank); printing then tokenizing gives the same
//! tokens (where no LF stands without a blank after it); the walker's
//! output prints the same way; `quote` output reads back as the one word it
//! quoted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sqmail::address::{self, Kind, Token};

fn check_folded(out: &[u8]) {
    assert!(out.ends_with(b"\n"), "{:?}", String::from_utf8_lossy(out));
    let body = &out[..out.len() - 1];
    for (i, &b) in body.iter().enumerate() {
        if b == b'\n' {
            assert!(
                matches!(body.get(i + 1), Some(b' ' | b'\t')),
                "header injection: {:?}",
                String::from_utf8_lossy(out)
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&w, s)) = data.split_first() else {
        return;
    };
    let width = usize::from(w % 80);
    if let Some(toks) = address::parse(s) {
        let printed = address::unparse(&toks, width);
        check_folded(&printed);
        let again = address::parse(&printed).expect("printed field tokenizes");
        // A LF without a blank after it cannot be written in a header (it
        // is printed as a blank): the others come back unchanged.
        let lone_lf = |t: &Token| {
            t.text
                .iter()
                .enumerate()
                .any(|(k, &c)| c == b'\n' && !matches!(t.text.get(k + 1), Some(b' ' | b'\t')))
        };
        if !toks.iter().any(lone_lf) {
            assert_eq!(again, toks, "{:?}", String::from_utf8_lossy(&printed));
        }
        let _ = address::unquote(&toks);

        let mut field = vec![Token::word(Kind::Atom, "To"), Token::punct(Kind::Colon)];
        field.extend(toks);
        let mut seen = 0usize;
        let r: Result<_, ()> = address::addrlist(field, |a| {
            seen += 1;
            if a.is_empty() {
                a.push(Token::word(Kind::Atom, "empty"));
            }
            Ok(())
        });
        if let Ok(Some(out)) = r {
            assert!(out.len() >= 2 && out[1].kind == Kind::Colon);
            check_folded(&address::unparse(&out, width));
        }
    }
    if address::quote_need(s) {
        let q = address::quote(s);
        let t = address::parse(&q).expect("quoted word tokenizes");
        assert_eq!(t, vec![Token::word(Kind::Quote, s)]);
    } else {
        assert_eq!(address::quote(s), s);
    }
    let q2 = address::quote2(s);
    assert_eq!(q2.is_empty(), s.is_empty());
});
