//! `mailfromrules`: which envelope senders a relay client may use
//! (qmail-mfrules(8)). `compile` turns the source lines into cdb records for
//! qmail-mfrules; `accepts` is qmail-smtpd's lookup (`LOCALMFCHECK='!'`).

use crate::cdb::Cdb;

/// One source line as cdb records (`key`, `value`); `None` is a parse error.
/// Comment and empty lines give no records.
pub fn compile(line: &str) -> Option<Vec<(String, String)>> {
    let line = line.trim_end_matches([' ', '\t', '\r', '\n']);
    if line.is_empty() || line.starts_with('#') {
        return Some(Vec::new());
    }
    let amp = line.find('&').filter(|&i| i > 1)?;
    let (address, mavs) = (&line[..amp], &line[amp + 1..]);
    let mut value = String::new();
    if !mavs.is_empty() {
        for m in mavs.split(',') {
            if m.len() < 3 || m.starts_with([' ', '\t']) {
                return None;
            }
            value.push('+');
            value.push_str(&m.to_ascii_lowercase());
        }
    }
    Some(
        expand(&address.to_ascii_lowercase())
            .into_iter()
            .map(|k| (k, value.clone()))
            .collect(),
    )
}

/// tcprules-style ranges in the last dotted component: `10.0.0.1-5`.
fn expand(address: &str) -> Vec<String> {
    if address.contains(['=', '@']) {
        return vec![address.to_string()];
    }
    let (head, last) = match address.rfind('.') {
        Some(i) => (&address[..=i], &address[i + 1..]),
        None => return vec![address.to_string()],
    };
    let range = last
        .split_once('-')
        .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)));
    match range {
        Some((a, b)) if a <= b && b <= 65535 => (a..=b).map(|n| format!("{head}{n}")).collect(),
        _ => vec![address.to_string()],
    }
}

/// The keys tried for a client, in order (qmail-mfrules(8)).
pub fn keys(info: Option<&str>, ip: &str, host: &str) -> Vec<String> {
    let mut k = Vec::new();
    if let Some(i) = info {
        k.push(i.to_string());
        k.push(format!("{i}@{ip}"));
        k.push(format!("{i}@={host}"));
    }
    k.push(ip.to_string());
    k.push(format!("={host}"));
    for sep in [':', '.'] {
        let mut p = ip.len();
        while let Some(i) = ip[..p].rfind(sep) {
            k.push(ip[..=i].to_string());
            p = i;
        }
    }
    for (i, _) in host.match_indices('.') {
        k.push(format!("={}", &host[i..]));
    }
    k.push("=".into());
    k
}

/// Whether the rules let this client use `sender` (lower case).
pub fn accepts(c: &Cdb, sender: &str, info: Option<&str>, ip: &str, host: &str) -> bool {
    let sender = sender.to_ascii_lowercase();
    for key in keys(
        info.map(str::to_ascii_lowercase).as_deref(),
        ip,
        &host.to_ascii_lowercase(),
    ) {
        let v = match c.get(key.as_bytes()) {
            Ok(Some(v)) => v,
            Ok(None) => continue,
            Err(_) => return false,
        };
        if v.is_empty() {
            return true;
        }
        let v = String::from_utf8_lossy(&v);
        if v.split('+')
            .rev()
            .any(|m| !m.is_empty() && sender.ends_with(m))
        {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cdb::CdbMaker;

    #[test]
    fn compiling() {
        assert_eq!(
            compile("Joe&@Example.com,bob@x.org").unwrap(),
            vec![("joe".into(), "+@example.com+bob@x.org".into())]
        );
        assert_eq!(compile("10.0.0.1-3&").unwrap().len(), 3);
        assert_eq!(compile("# c").unwrap(), vec![]);
        assert!(compile("&x").is_none());
        assert!(compile("a&xyz").is_none());
        assert!(compile("ab&x").is_none());
        assert!(compile("noamp").is_none());
    }

    #[test]
    fn lookup() {
        let d = std::env::temp_dir().join(format!("sqmail-mfr-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let mut m = CdbMaker::create(&d.join("t"), &d.join("m.cdb")).unwrap();
        for l in [
            "alice&alice@example.com",
            "192.168.&@example.com",
            "=.trusted.example&",
        ] {
            for (k, v) in compile(l).unwrap() {
                m.add(k.as_bytes(), v.as_bytes()).unwrap();
            }
        }
        m.finish().unwrap();
        let c = Cdb::open(&d.join("m.cdb")).unwrap();
        assert!(accepts(
            &c,
            "Alice@example.com",
            Some("alice"),
            "10.1.1.1",
            "h"
        ));
        assert!(!accepts(
            &c,
            "eve@example.com",
            Some("alice"),
            "10.1.1.1",
            "h"
        ));
        assert!(accepts(&c, "eve@example.com", None, "192.168.1.2", "h"));
        assert!(accepts(
            &c,
            "any@where",
            None,
            "1.2.3.4",
            "mx.trusted.example"
        ));
        assert!(!accepts(&c, "any@where", None, "1.2.3.4", "unknown"));
        assert_eq!(
            keys(None, "1.2.3.4", "a.b")[2..4],
            ["1.2.3.".to_string(), "1.2.".into()]
        );
        std::fs::remove_dir_all(&d).unwrap();
    }
}
