//! Signing (see qmail-dkim(8)): one DKIM-Signature field per key, the
//! body hashed once per body canonicalization however many keys sign.

use super::header;
use super::key::SigningKey;
use super::{Canon, canon, verify};
use crate::codec;

/// The fields signed when present, each as many times as it occurs;
/// From once more (oversigned), so a From added later breaks the signature.
const SIGNED: &[&str] = &[
    "from",
    "sender",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "to",
    "cc",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "content-id",
    "content-description",
    "resent-date",
    "resent-from",
    "resent-sender",
    "resent-to",
    "resent-cc",
    "resent-message-id",
    "in-reply-to",
    "references",
    "list-id",
    "list-help",
    "list-unsubscribe",
    "list-subscribe",
    "list-post",
    "list-owner",
    "list-archive",
];

/// One signature to make.
pub struct Spec<'a> {
    pub key: &'a SigningKey,
    pub domain: String,
    pub selector: String,
    pub canon: Canon,
    /// `i=`, when given.
    pub identity: Option<String>,
    /// Write `l=` (the body length signed).
    pub body_length: bool,
    /// `x=` this many seconds after `now`.
    pub expire: Option<u64>,
    pub now: u64,
}

/// The domain of the (first) From field's address, lower case.
pub fn from_domain(msg: &[u8]) -> Option<String> {
    let (head, _) = header::split(msg);
    let f = header::fields(head)
        .into_iter()
        .find(|f| f.is(head, "from"))?;
    let v = f.value(head);
    let addr = match (
        crate::bytescan::rfind(b'<', v),
        crate::bytescan::rfind(b'>', v),
    ) {
        (Some(a), Some(b)) if a < b => &v[a + 1..b],
        _ => v,
    };
    let at = crate::bytescan::rfind(b'@', addr)?;
    let d: String = addr[at + 1..]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_'))
        .map(|c| c.to_ascii_lowercase() as char)
        .collect();
    (!d.is_empty()).then_some(d)
}

/// The DKIM-Signature fields for `msg`, in the order of `specs`, each
/// ending in the message's own line end (LF or CRLF): put them in front.
pub fn sign(msg: &[u8], specs: &[Spec]) -> Result<Vec<u8>, String> {
    let (head, body) = header::split(msg);
    let eol: &[u8] = match crate::bytescan::find(b'\n', msg) {
        Some(i) if i > 0 && msg[i - 1] == b'\r' => b"\r\n",
        _ => b"\n",
    };
    let fields = header::fields(head);
    if !fields.iter().any(|f| f.is(head, "from")) {
        return Err("no From field to sign".into());
    }
    let mut hashes: Vec<(bool, String, u64)> = Vec::new();
    for relaxed in [false, true] {
        if specs.iter().any(|s| s.canon.body_relaxed == relaxed) {
            let mut b = canon::Body::new(relaxed, None);
            b.update(body);
            let (d, len) = b.finish();
            hashes.push((relaxed, codec::b64_encode(d.as_ref()), len));
        }
    }
    let mut names: Vec<&str> = Vec::new();
    for &n in SIGNED {
        let count = fields.iter().filter(|f| f.is(head, n)).count();
        let count = if n == "from" { count + 1 } else { count };
        names.extend(std::iter::repeat_n(n, count));
    }
    let mut out = Vec::new();
    for s in specs {
        if let Some(i) = &s.identity {
            let d = i
                .rsplit_once('@')
                .map_or("", |(_, d)| d)
                .to_ascii_lowercase();
            let within = d == s.domain || d.ends_with(&format!(".{}", s.domain));
            if !within {
                return Err(format!("identity {i} not within domain {}", s.domain));
            }
        }
        let (_, bh, len) = hashes
            .iter()
            .find(|h| h.0 == s.canon.body_relaxed)
            .ok_or("no body hash")?;
        let e = String::from_utf8_lossy(eol);
        let mut f = format!(
            "DKIM-Signature: v=1; a={}; c={}; d={}; s={};{e}\t",
            s.key.algorithm().name(),
            s.canon.name(),
            s.domain,
            s.selector
        );
        if let Some(i) = &s.identity {
            f.push_str(&format!("i={i}; "));
        }
        if s.body_length {
            f.push_str(&format!("l={len}; "));
        }
        f.push_str(&format!("t={}; ", s.now));
        if let Some(x) = s.expire {
            f.push_str(&format!("x={}; ", s.now.saturating_add(x)));
        }
        f.push_str(&format!("h={};{e}\tbh={bh};{e}\tb=", names.join(":")));
        let mut data = verify::signed_headers(head, &fields, &names, s.canon.header_relaxed);
        canon::header(f.as_bytes(), s.canon.header_relaxed, &mut data);
        data.truncate(data.len() - 2);
        let sig = codec::b64_encode(&s.key.sign(&data)?);
        out.extend_from_slice(f.as_bytes());
        for (i, chunk) in sig.as_bytes().chunks(72).enumerate() {
            if i > 0 {
                out.extend_from_slice(eol);
                out.extend_from_slice(b"\t ");
            }
            out.extend_from_slice(chunk);
        }
        out.extend_from_slice(eol);
    }
    Ok(out)
}
