//! An OpenSSL cipher string (as s/qmail passes it to `SSL_CTX_set_cipher_list`)
//! applied to our suites, strictly: every element must be one we can
//! honour, else the whole string is refused. As in OpenSSL, keywords
//! select among the TLS 1.2 suites and TLS 1.3 stays on; a TLS 1.3 suite
//! named outright limits TLS 1.3 to the suites named.

use std::sync::Arc;

use rustls::SupportedCipherSuite;
use rustls::crypto::CryptoProvider;

use super::suite_name;

/// OpenSSL keywords that select none of our suites (no export, NULL, RC4,
/// CBC, DH, PSK, ... suites exist here): `!aNULL` and its kind hold
/// already.
const NONE_OF_OURS: &[&str] = &[
    "aNULL", "eNULL", "NULL", "ADH", "AECDH", "EXP", "EXPORT", "LOW", "MEDIUM", "RC4", "MD5",
    "DES", "3DES", "IDEA", "SEED", "CAMELLIA", "ARIA", "CCM", "CCM8", "AESCCM", "AESCCM8", "PSK",
    "kPSK", "ECDHEPSK", "DHEPSK", "RSAPSK", "SRP", "DSS", "aDSS", "DH", "EDH", "DHE", "kDHE",
    "kEDH", "kRSA", "SHA1", "SHA", "SSLv3", "TLSv1", "TLSv1.0", "aGOST", "GOST89", "kGOST",
];

/// Whether a keyword (or suite name) covers our TLS 1.2 suite `name`;
/// `None` for a word we do not know.
fn covers(word: &str, name: &str) -> Option<bool> {
    if NONE_OF_OURS.contains(&word) {
        return Some(false);
    }
    Some(match word {
        "ALL" | "DEFAULT" | "HIGH" | "TLSv1.2" | "ECDH" | "ECDHE" | "EECDH" | "kECDHE"
        | "kEECDH" | "AEAD" => true,
        "ECDSA" | "aECDSA" => name.contains("-ECDSA-"),
        "RSA" | "aRSA" => name.contains("-RSA-"),
        "AES" => name.contains("-AES"),
        "AES128" => name.contains("AES128"),
        "AES256" => name.contains("AES256"),
        "AESGCM" => name.contains("GCM"),
        "CHACHA20" => name.contains("CHACHA20"),
        "SHA256" => name.ends_with("SHA256") || name.contains("CHACHA20"),
        "SHA384" => name.ends_with("SHA384"),
        w if w == name => true,
        w if w.starts_with("ECDHE-") || w.starts_with("TLS_") => false,
        _ => return None,
    })
}

/// A suite's names: OpenSSL's, IANA's and rustls's.
fn names(s: &SupportedCipherSuite) -> [String; 3] {
    let iana = s.suite().as_str().unwrap_or("");
    [
        suite_name(*s).0.to_string(),
        iana.to_string(),
        iana.replace("TLS13_", "TLS_"),
    ]
}

/// The ring provider with the suites `list` selects, or why not.
pub fn provider(list: &str) -> Result<Arc<CryptoProvider>, String> {
    let mut p = rustls::crypto::ring::default_provider();
    let (tls13, tls12): (Vec<_>, Vec<_>) = p
        .cipher_suites
        .iter()
        .copied()
        .partition(|s| s.tls13().is_some());
    let mut on = vec![false; tls12.len()];
    let mut banned = vec![false; tls12.len()];
    let mut named13: Vec<SupportedCipherSuite> = Vec::new();
    for elem in list.split([':', ',', ' ']).filter(|e| !e.is_empty()) {
        if elem == "@STRENGTH" {
            continue; // an order: ours is already strongest first
        }
        if let Some(s) = tls13.iter().find(|s| names(s).iter().any(|n| n == elem)) {
            named13.push(*s);
            continue;
        }
        let (op, body) = match elem.as_bytes()[0] {
            b'!' | b'-' | b'+' => (elem.as_bytes()[0], &elem[1..]),
            _ => (b' ', elem),
        };
        let mut hit = Vec::with_capacity(tls12.len());
        for s in &tls12 {
            let [openssl, iana, _] = names(s);
            let mut all = true;
            for w in body.split('+') {
                let c = match w == iana {
                    true => Some(true),
                    false => covers(w, &openssl),
                };
                all &= c.ok_or_else(|| format!("cipher {elem} is not one sqmail knows"))?;
            }
            hit.push(all);
        }
        for (i, _) in hit.into_iter().enumerate().filter(|(_, h)| *h) {
            match op {
                b'!' => (on[i], banned[i]) = (false, true),
                b'-' => on[i] = false,
                b'+' => {} // an order only
                _ => on[i] = !banned[i],
            }
        }
    }
    let mut kept: Vec<SupportedCipherSuite> = if named13.is_empty() { tls13 } else { named13 };
    kept.extend(tls12.iter().zip(&on).filter(|(_, o)| **o).map(|(s, _)| *s));
    if kept.is_empty() {
        return Err(format!("cipher list {list} leaves no cipher"));
    }
    p.cipher_suites = kept;
    Ok(Arc::new(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picked(list: &str) -> Vec<&'static str> {
        provider(list)
            .unwrap()
            .cipher_suites
            .iter()
            .map(|s| suite_name(*s).0)
            .collect()
    }

    #[test]
    fn openssl_strings() {
        let all = picked("ALL");
        assert_eq!(all.len(), 9);
        assert_eq!(picked("HIGH:!aNULL:!MD5:@STRENGTH"), all);
        let p = picked("ECDHE-RSA-AES256-GCM-SHA384");
        assert_eq!(p.len(), 4, "TLS 1.3 stays on: {p:?}");
        assert!(p.contains(&"ECDHE-RSA-AES256-GCM-SHA384"));
        let p = picked("ECDHE+AESGCM:!AES128");
        assert!(p.contains(&"ECDHE-ECDSA-AES256-GCM-SHA384"));
        assert!(!p.iter().any(|n| n.contains("AES128-GCM")), "{p:?}");
        assert!(!p.iter().any(|n| n.contains("-CHACHA20")), "{p:?}");
        assert_eq!(
            picked("TLS_AES_256_GCM_SHA384:!ALL"),
            ["TLS_AES_256_GCM_SHA384"]
        );
        assert_eq!(picked("HIGH:-RSA:RSA").len(), 9, "- can be undone");
        assert_eq!(picked("HIGH:!RSA:RSA").len(), 6, "! cannot");
        assert!(provider("HIGH:FOOBAR").unwrap_err().contains("FOOBAR"));
        assert!(provider("kEECDH+SHA1").is_ok());
    }
}
