use std::collections::HashMap;

use ring::signature::Ed25519KeyPair;

use super::*;
use crate::dkim::key::SigningKey;
use crate::dkim::sign::{self, Spec};

const NOW: u64 = 1_700_000_000;

#[derive(Default)]
struct Fake(HashMap<String, Result<Vec<Vec<u8>>, DnsError>>);

impl Fake {
    fn key(mut self, name: &str, rec: &str) -> Fake {
        self.0
            .insert(name.into(), Ok(vec![rec.as_bytes().to_vec()]));
        self
    }
    fn fail(mut self, name: &str, e: DnsError) -> Fake {
        self.0.insert(name.into(), Err(e));
        self
    }
}

impl KeyLookup for Fake {
    fn txt(&mut self, name: &str) -> Result<Vec<Vec<u8>>, DnsError> {
        self.0.get(name).cloned().unwrap_or(Err(DnsError::Hard))
    }
}

const MSG: &[u8] = b"From: Joe <joe@example.com>\n\
To: ann@example.net\n\
Subject: a  test\n\
\tfolded\n\
\n\
Hello  there \n\
\n\
bye\n\
\n\n";

fn ed_key() -> SigningKey {
    let rng = ring::rand::SystemRandom::new();
    let p = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    SigningKey::Ed25519(Ed25519KeyPair::from_pkcs8(p.as_ref()).unwrap())
}

fn spec<'a>(key: &'a SigningKey, selector: &str, c: &str) -> Spec<'a> {
    Spec {
        key,
        domain: "example.com".into(),
        selector: selector.into(),
        canon: Canon::parse(c.as_bytes()).unwrap(),
        identity: None,
        body_length: false,
        expire: None,
        now: NOW,
    }
}

fn signed(msg: &[u8], specs: &[Spec]) -> Vec<u8> {
    let mut out = sign::sign(msg, specs).unwrap();
    out.extend_from_slice(msg);
    out
}

fn words(r: &[SigResult]) -> Vec<&'static str> {
    r.iter().map(|r| r.outcome.word()).collect()
}

#[test]
fn ed25519_every_canonicalization_and_tampering() {
    let k = ed_key();
    let mut dns = Fake::default().key("sel._domainkey.example.com", &k.record());
    for c in [
        "simple/simple",
        "simple/relaxed",
        "relaxed/simple",
        "relaxed/relaxed",
    ] {
        let m = signed(MSG, &[spec(&k, "sel", c)]);
        let r = message(&m, NOW, &mut dns);
        assert_eq!(words(&r), ["pass"], "{c}: {r:?}");
        assert_eq!(
            r[0].to_string(),
            "dkim=pass header.d=example.com header.s=sel header.a=ed25519-sha256"
        );
        // The same message with CRLF line ends.
        let crlf: Vec<u8> = m
            .iter()
            .flat_map(|&b| {
                if b == b'\n' {
                    vec![b'\r', b'\n']
                } else {
                    vec![b]
                }
            })
            .collect();
        assert_eq!(words(&message(&crlf, NOW, &mut dns)), ["pass"], "{c} CRLF");
        let body = [&m[..], b"more\n"].concat();
        assert_eq!(
            message(&body, NOW, &mut dns)[0].outcome,
            Outcome::Fail("body hash did not verify".into())
        );
        let subj = String::from_utf8_lossy(&m).replace("a  test", "a  tost");
        assert_eq!(
            message(subj.as_bytes(), NOW, &mut dns)[0].outcome,
            Outcome::Fail("signature did not verify".into())
        );
        let from = [&b"From: Eve <eve@example.org>\n"[..], &m].concat();
        assert_eq!(
            words(&message(&from, NOW, &mut dns)),
            ["fail"],
            "{c}: From added"
        );
    }
    // Relaxed is blind to blanks that simple sees.
    let m = signed(MSG, &[spec(&k, "sel", "relaxed/relaxed")]);
    let spaced = String::from_utf8_lossy(&m)
        .replace("Hello  there", "Hello there")
        .replace("a  test", "a test");
    assert_eq!(words(&message(spaced.as_bytes(), NOW, &mut dns)), ["pass"]);
    let m = signed(MSG, &[spec(&k, "sel", "simple/simple")]);
    let spaced = String::from_utf8_lossy(&m).replace("Hello  there", "Hello there");
    assert_eq!(words(&message(spaced.as_bytes(), NOW, &mut dns)), ["fail"]);
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("sqmail-dkim-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

#[test]
fn seed_files_as_dkimpy_writes_them() {
    let f = tmp("seed.key");
    std::fs::write(&f, codec::b64_encode(&[7u8; 32]) + "\n").unwrap();
    assert_eq!(
        SigningKey::load(&f).unwrap().algorithm(),
        Algorithm::Ed25519Sha256
    );
    std::fs::write(&f, "not a key\n").unwrap();
    assert!(SigningKey::load(&f).is_err());
    let _ = std::fs::remove_file(&f);
}

#[test]
fn body_length_and_expiry() {
    let k = ed_key();
    let mut dns = Fake::default().key("sel._domainkey.example.com", &k.record());
    let mut s = spec(&k, "sel", "relaxed/relaxed");
    s.body_length = true;
    s.expire = Some(3600);
    let m = signed(MSG, &[s]);
    assert!(String::from_utf8_lossy(&m).contains(&format!("x={};", NOW + 3600)));
    let more = [&m[..], b"appended by a list\n"].concat();
    assert_eq!(words(&message(&more, NOW, &mut dns)), ["pass"]);
    assert_eq!(
        message(&m, NOW + 3601, &mut dns)[0].outcome,
        Outcome::Fail("signature expired".into())
    );
}

fn with_sig(sig: &str) -> Vec<u8> {
    [format!("DKIM-Signature: {sig}\n").as_bytes(), MSG].concat()
}

#[test]
fn bad_signatures_are_results_not_crashes() {
    let k = ed_key();
    let mut dns = Fake::default().key("sel._domainkey.example.com", &k.record());
    let good =
        String::from_utf8(sign::sign(MSG, &[spec(&k, "sel", "relaxed/relaxed")]).unwrap()).unwrap();
    let good = good
        .trim_start_matches("DKIM-Signature: ")
        .trim_end()
        .to_string();
    let cases: Vec<(String, &str)> = vec![
        (
            good.replacen("b=", "b=!!!", 1).replacen("bh=!!!", "bh=", 1),
            "permerror",
        ),
        (good.replacen("v=1; ", "", 1), "permerror"),
        (good.replacen("v=1; ", "v=1; v=1; ", 1), "permerror"),
        (
            good.replacen("h=", "l=99999999999999999999999999999999; h=", 1),
            "fail",
        ),
        (good.replacen("h=", "l=12x; h=", 1), "permerror"),
        (
            good.replacen("a=ed25519-sha256", "a=rsa-sha1", 1),
            "permerror",
        ),
        (
            good.replacen("d=example.com", "d=exa mple..com", 1),
            "permerror",
        ),
        (good.replacen("h=from:from:", "h=", 1), "permerror"),
        (good.replacen("s=sel", "s=nokey", 1), "permerror"),
        (good.replacen("h=", "i=joe@example.org; h=", 1), "permerror"),
        (good.replacen("h=", "i=joe@sub.example.com; h=", 1), "fail"),
        ("garbage".into(), "permerror"),
        (String::new(), "permerror"),
        (
            "v=1; a=ed25519-sha256; b=; bh=; d=; s=; h=".into(),
            "permerror",
        ),
    ];
    for (n, (sig, want)) in cases.into_iter().enumerate() {
        let r = message(&with_sig(&sig), NOW, &mut dns);
        assert_eq!(words(&r), [want], "case {n}: {sig}: {r:?}");
    }
}

#[test]
fn keys_from_the_dns() {
    let k = ed_key();
    let m = signed(MSG, &[spec(&k, "sel", "simple/simple")]);
    let n = "sel._domainkey.example.com";
    let one = |mut dns: Fake| message(&m, NOW, &mut dns).remove(0);
    assert_eq!(
        one(Fake::default().fail(n, DnsError::Temp)).outcome.word(),
        "temperror"
    );
    assert_eq!(one(Fake::default()).outcome.word(), "permerror");
    assert_eq!(
        one(Fake::default().key(n, "v=DKIM1; k=ed25519; p=")).outcome,
        Outcome::PermError("key revoked".into())
    );
    let rsa = "v=DKIM1; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDwIRP/UC3SBsEmGqZ9ZJW3/DkMoGeLnQg1fWn7/zYtIxN2SnFCjxOCKG9v3b4jYfcTNh5ijSsq631uBItLa7od+v/RtdC2UzJ1lWT947qR+Rcac2gbto/NMqJ0fzfVjH4OuKhitdY9tf6mcwGjaNBcWToIMmPSPDdQPNUYckcQ2QIDAQAB";
    assert_eq!(
        one(Fake::default().key(n, rsa)).outcome,
        Outcome::PermError("key type does not match a=".into())
    );
    let testing = one(Fake::default().key(n, &(k.record() + "; t=y")));
    assert!(testing.testing && testing.outcome == Outcome::Pass);
    assert!(testing.to_string().contains("(testing)"));
    // A key record split over several strings is joined by the resolver;
    // a record over 64 KiB of nonsense is still only a permerror.
    let huge = "x".repeat(70_000);
    assert_eq!(
        one(Fake::default().key(n, &huge)).outcome.word(),
        "permerror"
    );
}

#[test]
fn several_signatures_and_a_crowded_header() {
    let k1 = ed_key();
    let k2 = ed_key();
    let mut dns = Fake::default()
        .key("one._domainkey.example.com", &k1.record())
        .key("two._domainkey.example.com", &k2.record());
    let m = signed(
        MSG,
        &[
            spec(&k1, "one", "relaxed/relaxed"),
            spec(&k2, "two", "simple/simple"),
        ],
    );
    assert_eq!(words(&message(&m, NOW, &mut dns)), ["pass", "pass"]);
    let mut dns1 = Fake::default().key("one._domainkey.example.com", &k1.record());
    assert_eq!(words(&message(&m, NOW, &mut dns1)), ["pass", "permerror"]);
    // The keys to ask for ahead, each once (a third signature with the
    // first one's key adds no name; one that does not parse adds none).
    let again = signed(&m, &[spec(&k1, "one", "simple/simple")]);
    let broken = [&b"DKIM-Signature: v=1; d=example.com; s=bad\n"[..], &again].concat();
    let (head, _) = header::split(&broken);
    assert_eq!(
        Verifier::new(head.to_vec(), NOW).key_names(),
        ["one._domainkey.example.com", "two._domainkey.example.com"]
    );

    // 10,000 header lines, and as many signature fields: bounded work.
    let mut big: Vec<u8> = (0..10_000)
        .flat_map(|i| format!("X-Line-{i}: v\n").into_bytes())
        .collect();
    big.extend_from_slice(MSG);
    let m = signed(&big, &[spec(&k1, "one", "relaxed/relaxed")]);
    let start = std::time::Instant::now();
    assert_eq!(words(&message(&m, NOW, &mut dns)), ["pass"]);
    let sigs: Vec<u8> = (0..10_000)
        .flat_map(|_| b"DKIM-Signature: v=1\n".to_vec())
        .collect();
    let r = message(&[&sigs[..], &m].concat(), NOW, &mut dns);
    assert_eq!(r.len(), MAX_SIGNATURES + 1);
    assert_eq!(r[MAX_SIGNATURES].outcome.word(), "neutral");
    assert!(start.elapsed().as_secs() < 10);
}

#[test]
fn identities_within_the_domain() {
    let k = ed_key();
    let mut dns = Fake::default().key("sel._domainkey.example.com", &k.record());
    let mut s = spec(&k, "sel", "relaxed");
    s.identity = Some("joe@news.example.com".into());
    assert_eq!(words(&message(&signed(MSG, &[s]), NOW, &mut dns)), ["pass"]);
    let mut s = spec(&k, "sel", "relaxed");
    s.identity = Some("joe@example.org".into());
    assert_eq!(
        sign::sign(MSG, &[s]).unwrap_err(),
        "identity joe@example.org not within domain example.com"
    );
    let mut s = spec(&k, "sel", "relaxed");
    s.identity = Some("joe@badexample.com".into());
    assert!(sign::sign(MSG, &[s]).is_err());
}

/// Thousands of damaged copies of a signed message (bytes changed,
/// removed, cut off): every one gives results, none a panic.
#[test]
fn damaged_messages_never_panic() {
    let k = ed_key();
    let mut dns = Fake::default().key("sel._domainkey.example.com", &k.record());
    let m = signed(MSG, &[spec(&k, "sel", "simple/relaxed")]);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let specials = [0u8, b'\n', b'\r', b';', b'=', b':', b' ', 0xff, b'l', b'0'];
    for _ in 0..3000 {
        let mut d = m.clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() as usize) % d.len();
            match next() % 3 {
                0 => d[at] = specials[(next() as usize) % specials.len()],
                1 => {
                    d.remove(at);
                }
                _ => d.truncate(at),
            }
            if d.is_empty() {
                break;
            }
        }
        let r = message(&d, NOW, &mut dns);
        assert!(r.len() <= MAX_SIGNATURES + 1);
    }
}

#[test]
fn unsigned_and_headless_messages() {
    let mut dns = Fake::default();
    assert!(message(MSG, NOW, &mut dns).is_empty());
    assert!(message(b"", NOW, &mut dns).is_empty());
    assert!(message(b"\xff\x00\n\n\x00", NOW, &mut dns).is_empty());
    let k = ed_key();
    assert!(sign::sign(b"Subject: x\n\nbody\n", &[spec(&k, "s", "simple")]).is_err());
    assert_eq!(sign::from_domain(MSG).as_deref(), Some("example.com"));
    assert_eq!(
        sign::from_domain(b"From: x@Sub.Example.ORG (x)\n\n").as_deref(),
        Some("sub.example.org")
    );
    assert_eq!(sign::from_domain(b"From: nobody\n\n"), None);
}
