//! SMTP AUTH decoding (`smtpd::auth`: base64, the PLAIN and CRAM-MD5
//! splits) and qmail-authuser's reading of the fd-3 block
//! (`smtpd::authuser::parse_block`).
//!
//! Invariants: base64 decodes what it encodes; PLAIN and CRAM splits are
//! pieces of the response; the checkpassword block qmail-smtpd writes is
//! read back by qmail-authuser as the same user, secret and challenge;
//! blocks over 512 bytes are refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sqmail::smtpd::auth::{self, Mech};
use sqmail::smtpd::authuser::{MAX_INPUT, parse_block};
use sqmail::smtpd::session::AuthRequest;

fuzz_target!(|data: &[u8]| {
    let enc = auth::b64_encode(data);
    assert_eq!(auth::b64_decode(enc.as_bytes()).as_deref(), Some(data));
    let _ = auth::b64_decode(data);
    if let Some((u, p)) = auth::split_plain(data) {
        // No NUL in either: a NUL in the password is how a replayed
        // CRAM-MD5 answer posed as one.
        assert!(!u.contains(&0) && !p.contains(&0));
        assert!(data.ends_with(&p));
    }
    if let Some((u, d)) = auth::split_cram(data) {
        assert_eq!(u.len() + 1 + d.len(), data.len());
        assert!(!d.contains(&b' '));
    }
    assert_eq!(auth::hmac_md5_hex(data, b"<1.2@x>").len(), 32);

    let mut f = data.splitn(3, |&b| b == 1);
    let req = AuthRequest {
        mech: Mech::Plain,
        user: f.next().unwrap_or_default().to_vec(),
        secret: f.next().unwrap_or_default().to_vec(),
        challenge: f.next().unwrap_or_default().to_vec(),
    };
    let block = req.block();
    let nul = [&req.user, &req.secret, &req.challenge]
        .iter()
        .any(|f| f.contains(&0));
    // Refused exactly when too long or when a field holds a NUL (more
    // than three fields: the replay bypass).
    let parsed = parse_block(&block);
    assert_eq!(parsed.is_none(), block.len() > MAX_INPUT || nul);
    match parsed {
        None => {}
        Some(c) => {
            assert!(block.len() <= MAX_INPUT);
            // A field with a NUL never gets here from a session (501);
            // only clean fields must read back unchanged.
            if !nul {
                assert_eq!(c.user, String::from_utf8_lossy(&req.user));
                assert_eq!(c.secret, req.secret);
                assert_eq!(c.challenge, req.challenge);
            }
        }
    }
    let _ = parse_block(data);
});
