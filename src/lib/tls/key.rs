//! Private keys from PEM files for the TLS programs: unencrypted (PKCS#8,
//! PKCS#1, SEC1), PKCS#8 `ENCRYPTED PRIVATE KEY` (PBES2) and OpenSSL's
//! legacy `Proc-Type: 4,ENCRYPTED` form, opened with the `-3` passphrase.

use std::path::Path;

use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use zeroize::Zeroizing;

/// The private key in a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    load_key_with(path, None)
}

/// A private-key passphrase (`-3`). It stays in memory for reloads, is
/// wiped when dropped, and never printed.
#[derive(Clone, Default)]
pub struct Passphrase(Zeroizing<Vec<u8>>);

impl Passphrase {
    /// Takes the bytes over (no copy is made).
    pub fn new(bytes: Vec<u8>) -> Passphrase {
        Passphrase(Zeroizing::new(bytes))
    }
}

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(..)")
    }
}

/// The private key in a PEM file: an unencrypted one (PKCS#8, PKCS#1 or
/// SEC1), or a PKCS#8 `ENCRYPTED PRIVATE KEY` (PBES2) opened with `pass`.
pub fn load_key_with(
    path: &Path,
    pass: Option<&Passphrase>,
) -> Result<PrivateKeyDer<'static>, String> {
    let at = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let text = Zeroizing::new(std::fs::read(path).map_err(|e| at(&e))?);
    if let Some(section) = pem_section(&text, "ENCRYPTED PRIVATE KEY") {
        let (_, der) = section.map_err(|e| at(&e))?;
        let pass = pass.ok_or_else(|| at(&"encrypted key, and no passphrase (-3)"))?;
        return decrypt_pkcs8(&der, &pass.0).map_err(|e| at(&e));
    }
    if memchr::memmem::find(&text, b"Proc-Type: 4,ENCRYPTED").is_some() {
        let pass = pass.ok_or_else(|| at(&"encrypted key, and no passphrase (-3)"))?;
        return decrypt_legacy(&text, &pass.0).map_err(|e| at(&e));
    }
    PrivateKeyDer::from_pem_slice(&text).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => at(&"no private key"),
        e => at(&e),
    })
}

/// How to turn a key we cannot decrypt into one we can.
const CONVERT: &str = "convert it with openssl pkcs8 -topk8 -v2 aes256";

/// Decrypts a DER `EncryptedPrivateKeyInfo` into the PKCS#8 key inside.
fn decrypt_pkcs8(der: &[u8], pass: &[u8]) -> Result<PrivateKeyDer<'static>, String> {
    use pkcs8::pkcs5::Error as P5;
    let info = pkcs8::EncryptedPrivateKeyInfoRef::try_from(der)
        .map_err(|e| format!("encrypted key not understood ({e}), {CONVERT}"))?;
    match info.decrypt(pass) {
        Ok(doc) => Ok(PrivateKeyDer::Pkcs8(doc.as_bytes().to_vec().into())),
        Err(pkcs8::Error::EncryptedPrivateKey(
            e @ (P5::UnsupportedAlgorithm { .. } | P5::NoPbes1CryptSupport),
        )) => Err(format!("encrypted key not understood ({e}), {CONVERT}")),
        Err(pkcs8::Error::EncryptedPrivateKey(P5::AlgorithmParametersInvalid { oid })) => {
            Err(format!("bad parameters for encryption algorithm {oid}"))
        }
        Err(_) => Err("wrong passphrase or damaged key".into()),
    }
}

/// The legacy OpenSSL form: `Proc-Type: 4,ENCRYPTED` and `DEK-Info:
/// CIPHER,IV` headers in an `RSA PRIVATE KEY` or `EC PRIVATE KEY` section,
/// the cipher key made from the passphrase and the first 8 bytes of the IV
/// by OpenSSL's EVP_BytesToKey (MD5, one round).
fn decrypt_legacy(text: &[u8], pass: &[u8]) -> Result<PrivateKeyDer<'static>, String> {
    use cbc::cipher::block_padding::Pkcs7;
    use cbc::cipher::{BlockCipherDecrypt, BlockModeDecrypt, KeyInit, KeyIvInit};
    use md5::{Digest, Md5};
    fn cbc<C: BlockCipherDecrypt + KeyInit>(
        key: &[u8],
        iv: &[u8],
        buf: &mut [u8],
    ) -> Option<usize> {
        let d = cbc::Decryptor::<C>::new_from_slices(key, iv).ok()?;
        d.decrypt_padded::<Pkcs7>(buf).ok().map(<[u8]>::len)
    }
    let (label, section) = ["RSA PRIVATE KEY", "EC PRIVATE KEY"]
        .into_iter()
        .find_map(|l| Some((l, pem_section(text, l)?)))
        .ok_or_else(|| format!("unknown legacy encrypted PEM, {CONVERT}"))?;
    let (headers, body) = section?;
    let dek = headers
        .iter()
        .find_map(|h| h.strip_prefix(b"DEK-Info:"))
        .map(|d| String::from_utf8_lossy(d).trim().to_string())
        .unwrap_or_default();
    let (cipher, iv) = dek.split_once(',').unwrap_or((&dek, ""));
    let iv: Option<Vec<u8>> = iv
        .as_bytes()
        .chunks(2)
        .map(|h| match h {
            [a, b] if a.is_ascii_hexdigit() && b.is_ascii_hexdigit() => {
                u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
            }
            _ => None,
        })
        .collect();
    type Decrypt = fn(&[u8], &[u8], &mut [u8]) -> Option<usize>;
    let (key_len, iv_len, decrypt): (usize, usize, Decrypt) = match cipher {
        "AES-128-CBC" => (16, 16, cbc::<aes::Aes128>),
        "AES-192-CBC" => (24, 16, cbc::<aes::Aes192>),
        "AES-256-CBC" => (32, 16, cbc::<aes::Aes256>),
        "DES-EDE3-CBC" => (24, 8, cbc::<des::TdesEde3>),
        _ => return Err(format!("legacy encrypted PEM ({cipher}), {CONVERT}")),
    };
    let iv = iv
        .filter(|iv| iv.len() == iv_len)
        .ok_or_else(|| format!("legacy encrypted PEM with a bad IV, {CONVERT}"))?;
    let mut key = Zeroizing::new(Vec::with_capacity(key_len + 16));
    while key.len() < key_len {
        let mut h = Md5::new();
        if !key.is_empty() {
            h.update(&key[key.len() - 16..]);
        }
        h.update(pass);
        h.update(&iv[..8]);
        key.extend_from_slice(&h.finalize());
    }
    let key = &key[..key_len];
    let mut buf = Zeroizing::new(body);
    let plain = decrypt(key, &iv, &mut buf);
    // A wrong passphrase fails the padding check, or (rarely) leaves bytes
    // that are no DER structure.
    let der = plain
        .map(|n| buf[..n].to_vec())
        .filter(|der| pkcs8::der::Document::try_from(&der[..]).is_ok())
        .ok_or("wrong passphrase or damaged key")?;
    Ok(match label {
        "RSA PRIVATE KEY" => PrivateKeyDer::Pkcs1(der.into()),
        _ => PrivateKeyDer::Sec1(der.into()),
    })
}

/// The header lines (`Name: value`) and the decoded body of the first PEM
/// section labelled `label`.
type Section<'a> = (Vec<&'a [u8]>, Vec<u8>);

fn pem_section<'a>(text: &'a [u8], label: &str) -> Option<Result<Section<'a>, String>> {
    use base64::Engine;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut lines = text.split(|&b| b == b'\n').map(<[u8]>::trim_ascii);
    lines.position(|l| l == begin.as_bytes())?;
    let (mut headers, mut b64) = (Vec::new(), Vec::new());
    for l in lines {
        if l == end.as_bytes() {
            return Some(
                base64::engine::general_purpose::STANDARD
                    .decode(&b64)
                    .map(|der| (headers, der))
                    .map_err(|e| format!("base64 decode error: {e}")),
            );
        }
        if b64.is_empty() && l.contains(&b':') {
            headers.push(l);
        } else {
            b64.extend_from_slice(l);
        }
    }
    Some(Err(format!("missing {end}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::{ClientAuth, ServerFiles};
    use std::path::PathBuf;
    use std::process::Command;

    /// A scratch directory, emptied first.
    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sqmail-tls-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Runs `openssl ARGS`; false if openssl is not installed.
    fn openssl(args: &[&str]) -> bool {
        match Command::new("openssl").args(args).output() {
            Ok(o) => {
                assert!(o.status.success(), "openssl {args:?}: {o:?}");
                true
            }
            Err(_) => false,
        }
    }

    fn pass(p: &str) -> Passphrase {
        Passphrase::new(p.as_bytes().to_vec())
    }

    #[test]
    fn encrypted_pkcs8_keys_openssl_makes() {
        let d = scratch("enc");
        let path = |f: &str| d.join(f).to_string_lossy().into_owned();
        let (plain, rsa) = (path("plain.pem"), path("rsa-plain.pem"));
        let ec = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];
        if !openssl(&[&["genpkey"][..], &ec, &["-out", &plain]].concat()) {
            return crate::testing::skip("openssl not installed (package/testdeps)");
        }
        let want = load_key(Path::new(&plain)).unwrap();
        // pkcs8 -topk8 with the ciphers and PRFs OpenSSL offers.
        let cases: &[&[&str]] = &[
            &["-v2", "aes256"],
            &["-v2", "aes128", "-v2prf", "hmacWithSHA1"],
            &["-v2", "aes192", "-v2prf", "hmacWithSHA512"],
            &["-v2", "des3"],
            &["-scrypt"],
        ];
        for (i, extra) in cases.iter().enumerate() {
            let out = path(&format!("enc{i}.pem"));
            let args = ["pkcs8", "-topk8", "-in", &plain, "-out", &out];
            let pw = "pass:s3cret phrase";
            assert!(openssl(&[&args[..], extra, &["-passout", pw]].concat()));
            let got = load_key_with(Path::new(&out), Some(&pass("s3cret phrase")));
            assert_eq!(got.unwrap().secret_der(), want.secret_der(), "{extra:?}");
            let wrong = load_key_with(Path::new(&out), Some(&pass("s3cret phrasE")));
            assert_eq!(
                wrong.unwrap_err(),
                format!("{out}: wrong passphrase or damaged key"),
                "{extra:?}"
            );
        }
        // PKCS#12-style PBES1 and Camellia: not understood, and said so.
        for (i, extra) in [["-v1", "PBE-SHA1-3DES"], ["-v2", "camellia256"]]
            .iter()
            .enumerate()
        {
            let out = path(&format!("old{i}.pem"));
            let args = [
                "pkcs8", "-topk8", "-in", &plain, "-out", &out, "-passout", "pass:x",
            ];
            assert!(openssl(&[&args[..], extra].concat()));
            let e = load_key_with(Path::new(&out), Some(&pass("x"))).unwrap_err();
            assert!(e.contains(": encrypted key not understood ("), "{e}");
            assert!(e.ends_with(CONVERT), "{e}");
        }
        let none = load_key(Path::new(&path("enc0.pem"))).unwrap_err();
        assert!(none.ends_with("enc0.pem: encrypted key, and no passphrase (-3)"));
        // genpkey -aes256, and OpenSSL 3's default for req -newkey
        // (AES-256-CBC, PBKDF2 with HMAC-SHA256), key and certificate in one
        // file; an empty passphrase works too.
        let genkey = path("gen.pem");
        assert!(openssl(
            &[
                &["genpkey"][..],
                &ec,
                &["-aes256", "-pass", "pass:", "-out", &genkey]
            ]
            .concat()
        ));
        assert!(load_key_with(Path::new(&genkey), Some(&pass(""))).is_ok());
        let both = path("both.pem");
        let req = [
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-subj",
            "/CN=localhost",
            "-days",
            "2",
            "-passout",
            "pass:x",
            "-keyout",
            &rsa,
            "-out",
            &both,
        ];
        assert!(openssl(&req));
        let key = std::fs::read_to_string(&rsa).unwrap();
        assert!(key.contains("ENCRYPTED PRIVATE KEY"), "{key}");
        let cert = std::fs::read_to_string(&both).unwrap();
        std::fs::write(&both, cert + &key).unwrap();
        let files = ServerFiles {
            cert: Some(both.into()),
            passphrase: Some(pass("x")),
            ..ServerFiles::default()
        };
        assert!(files.build(ClientAuth::None).is_ok());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn legacy_encrypted_pem() {
        let d = scratch("legacy");
        let path = |f: &str| d.join(f).to_string_lossy().into_owned();
        let (ec, rsa) = (path("ec.pem"), path("rsa.pem"));
        let ecgen = [
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ];
        if !openssl(&[&ecgen[..], &["-out", &ec]].concat()) {
            return crate::testing::skip("openssl not installed (package/testdeps)");
        }
        let rsagen = [
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:1024",
        ];
        assert!(openssl(&[&rsagen[..], &["-out", &rsa]].concat()));
        // Traditional output, SEC1 or PKCS#1, plain and encrypted.
        let (ec_in, rsa_in) = (["ec", "-in", &ec], ["rsa", "-traditional", "-in", &rsa]);
        let cases: [(&[&str], &str); 4] = [
            (&ec_in, "-aes256"),
            (&ec_in, "-aes192"),
            (&rsa_in, "-aes128"),
            (&rsa_in, "-des3"),
        ];
        for (i, (args, cipher)) in cases.into_iter().enumerate() {
            let (plain, enc) = (path(&format!("p{i}.pem")), path(&format!("e{i}.pem")));
            assert!(openssl(&[args, &["-out", &plain]].concat()));
            let out = ["-passout", "pass:old key", "-out", &enc];
            assert!(openssl(&[args, &[cipher], &out].concat()));
            let want = load_key(Path::new(&plain)).unwrap();
            let got = load_key_with(Path::new(&enc), Some(&pass("old key"))).unwrap();
            assert_eq!(got, want, "{args:?} {cipher}");
            let wrong = load_key_with(Path::new(&enc), Some(&pass("old kez"))).unwrap_err();
            assert!(
                wrong.ends_with(": wrong passphrase or damaged key"),
                "{wrong}"
            );
        }
        let none = load_key(Path::new(&path("e0.pem"))).unwrap_err();
        assert!(none.ends_with("e0.pem: encrypted key, and no passphrase (-3)"));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn broken_pem() {
        let d = scratch("broken");
        let f = d.join("legacy.pem");
        std::fs::write(
            &f,
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\
             DEK-Info: CAMELLIA-128-CBC,00112233445566778899AABBCCDDEEFF\n\nAAAA\n\
             -----END RSA PRIVATE KEY-----\n",
        )
        .unwrap();
        let e = load_key_with(&f, Some(&pass("x"))).unwrap_err();
        assert_eq!(
            e,
            format!(
                "{}: legacy encrypted PEM (CAMELLIA-128-CBC), {CONVERT}",
                f.display()
            )
        );
        let pem = b"junk\r\n-----BEGIN ENCRYPTED PRIVATE KEY-----\r\nYWJj\r\nZA==\r\n\
                    -----END ENCRYPTED PRIVATE KEY-----\r\n";
        assert_eq!(
            pem_section(pem, "ENCRYPTED PRIVATE KEY"),
            Some(Ok((vec![], b"abcd".to_vec())))
        );
        assert_eq!(pem_section(pem, "PRIVATE KEY"), None);
        std::fs::write(&f, &pem[..60]).unwrap();
        let e = load_key_with(&f, Some(&pass("x"))).unwrap_err();
        assert!(
            e.ends_with("missing -----END ENCRYPTED PRIVATE KEY-----"),
            "{e}"
        );
        std::fs::write(&f, pem).unwrap();
        let e = load_key_with(&f, Some(&pass("x"))).unwrap_err();
        assert!(e.contains(": encrypted key not understood ("), "{e}");
        std::fs::write(&f, "nothing\n").unwrap();
        let e = load_key(&f).unwrap_err();
        assert!(e.ends_with(": no private key"), "{e}");
        assert_eq!(format!("{:?}", pass("secret")), "Passphrase(..)");
        let _ = std::fs::remove_dir_all(&d);
    }
}
