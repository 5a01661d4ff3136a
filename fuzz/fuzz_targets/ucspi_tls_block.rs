//! The UCSPI-TLS variable block (`ucspi::ssl::block`, `ucspi::tls_program::parse_block`):
//! sslserver writes `NAME=VALUE\0...\0\0` after the handshake, and
//! sslserver's program side and qmail-smtpd read it back into
//! environment variables.
//!
//! Invariants: every variable read is one `setenv` accepts (a name that is
//! not empty and has no `=`; neither holds a NUL), whatever the block
//! holds; a block written from variables reads back as those variables,
//! even when a value (a certificate's DN) holds a NUL.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sqmail::ucspi::ssl::block;
use sqmail::ucspi::tls_program::parse_block;

fn setenv_ok(k: &[u8], v: &[u8]) -> bool {
    !k.is_empty() && !k.contains(&b'=') && !k.contains(&0) && !v.contains(&0)
}

fuzz_target!(|data: &[u8]| {
    for (k, v) in parse_block(data) {
        assert!(setenv_ok(&k, &v), "{k:?}={v:?}");
    }
    // The same bytes as variables: names from sslserver's set, values
    // from the input (certificate fields are the client's to choose).
    let names = [
        "SSL_PROTOCOL",
        "SSL_CLIENT_S_DN",
        "SSL_CLIENT_S_DN_CN",
        "SSL_CLIENT_S_DN_Email",
    ];
    let text = String::from_utf8_lossy(data);
    let vars: Vec<(String, String)> = text
        .split('\u{1}')
        .zip(names.iter().cycle())
        .map(|(v, k)| (k.to_string(), v.to_string()))
        .collect();
    let b = block(&vars);
    assert!(b.ends_with(b"\0\0"));
    let back = parse_block(&b);
    assert_eq!(back.len(), vars.len(), "a value split the block: {vars:?}");
    for ((k, v), (k2, v2)) in vars.iter().zip(&back) {
        assert_eq!(k.as_bytes(), &k2[..]);
        assert_eq!(v.replace('\0', "?").as_bytes(), &v2[..]);
    }
});
