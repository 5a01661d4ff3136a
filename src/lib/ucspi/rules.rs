//! tcprules: the rule text format, the cdb keys it produces (byte-compatible
//! with ucspi-tcp6), and the lookup cascade tcpserver and sslserver follow.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::cdb::Cdb;

/// Bit alphabet of IPv4 CIDR keys (`_` + one byte per prefix bit).
const V4_BITS: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz123456";

/// A syntax error: the ucspi-tcp message text (the line is appended).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError(pub &'static str);

pub const BAD_LINE: SyntaxError = SyntaxError("unable to parse this line");
pub const BAD_PREFIX: SyntaxError = SyntaxError("invalid prefix length on line");
pub const BAD_V4_CIDR: SyntaxError = SyntaxError("invalid IPv4 CIDR address on line");
pub const BAD_V6: SyntaxError = SyntaxError("invalid IPv6 address: on line");
pub const BAD_V6_CIDR: SyntaxError = SyntaxError("invalid IPv6 CIDR address on line");

/// One parsed rule line: the cdb keys and the record stored under each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub keys: Vec<Vec<u8>>,
    pub data: Vec<u8>,
}

/// Parses one line (without its newline). `Ok(None)` for comments, blank
/// lines and lines with neither `:` nor `,`.
pub fn parse_line(line: &[u8]) -> Result<Option<Rule>, SyntaxError> {
    let line = trim_end(line);
    if line.first() == Some(&b'#') || line.is_empty() {
        return Ok(None);
    }
    let comma = line.iter().position(|&b| b == b',').unwrap_or(line.len());
    let Some(colon) = line[..comma].iter().rposition(|&b| b == b':') else {
        if comma == line.len() {
            return Ok(None);
        }
        return Err(BAD_LINE);
    };
    let (address, instr) = (&line[..colon], &line[colon + 1..comma]);
    let mut data = Vec::new();
    match instr {
        b"deny" => data.extend_from_slice(b"D\0"),
        b"allow" => {}
        _ => return Err(BAD_LINE),
    }
    let mut rest = &line[comma..];
    while let Some(item) = rest.strip_prefix(b",") {
        let eq = item.iter().position(|&b| b == b'=').ok_or(BAD_LINE)?;
        let q = *item.get(eq + 1).ok_or(BAD_LINE)?;
        let val = &item[eq + 2..];
        let end = val.iter().position(|&b| b == q).ok_or(BAD_LINE)?;
        // NUL ends a record item: inside a variable it would add items.
        if item[..eq].contains(&0) || val[..end].contains(&0) {
            return Err(BAD_LINE);
        }
        data.push(b'+');
        data.extend_from_slice(&item[..eq]);
        data.push(b'=');
        data.extend_from_slice(&val[..end]);
        data.push(0);
        rest = &val[end + 1..];
        if !rest.is_empty() && rest[0] != b',' {
            return Err(BAD_LINE);
        }
    }
    Ok(Some(Rule {
        keys: address_keys(address)?,
        data,
    }))
}

fn trim_end(mut s: &[u8]) -> &[u8] {
    while let Some((&last, head)) = s.split_last() {
        if !matches!(last, b' ' | b'\t' | b'\n' | b'\r') {
            break;
        }
        s = head;
    }
    s
}

/// The cdb keys an address token stands for.
pub fn address_keys(addr: &[u8]) -> Result<Vec<Vec<u8>>, SyntaxError> {
    if addr.contains(&b'=') {
        return Ok(vec![addr.to_vec()]);
    }
    if let Some(at) = addr.iter().position(|&b| b == b'@') {
        if !addr.contains(&b':') {
            return Ok(vec![addr.to_vec()]);
        }
        let ip = parse_v6(&addr[at + 1..]).ok_or(BAD_V6)?;
        let mut k = addr[..=at].to_vec();
        k.extend_from_slice(&v6_key(&ip));
        return Ok(vec![k]);
    }
    let text = std::str::from_utf8(addr).map_err(|_| BAD_LINE);
    if let Some(slash) = addr.iter().position(|&b| b == b'/') {
        let text = text?;
        let (ip, len) = (&text[..slash], &text[slash + 1..]);
        if addr.contains(&b':') {
            let ip = parse_v6(ip.as_bytes()).ok_or(BAD_V6_CIDR)?;
            let n: u32 = len.parse().map_err(|_| BAD_PREFIX)?;
            if n == 0 || n > 128 {
                return Err(BAD_PREFIX);
            }
            return Ok(vec![v6_cidr_key(&ip, n)]);
        }
        let ip: Ipv4Addr = ip.parse().map_err(|_| BAD_V4_CIDR)?;
        let n: u32 = len.parse().map_err(|_| BAD_PREFIX)?;
        if n == 0 || n > 32 {
            return Err(BAD_PREFIX);
        }
        return Ok(vec![v4_cidr_key(&ip, n)]);
    }
    if addr.contains(&b':') {
        let ip = parse_v6(addr).ok_or(BAD_V6)?;
        return Ok(vec![v6_key(&ip)]);
    }
    v4_range(addr).unwrap_or_else(|| Ok(vec![addr.to_vec()]))
}

fn parse_v6(s: &[u8]) -> Option<Ipv6Addr> {
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// `a.b.c.L-R` or `a.L-R.`: one key per value from L to R (R capped at
/// 255). `None` without a `-`; both bounds must be decimal numbers.
fn v4_range(addr: &[u8]) -> Option<Result<Vec<Vec<u8>>, SyntaxError>> {
    let dash = addr.iter().position(|&b| b == b'-')?;
    let start = addr[..dash]
        .iter()
        .rposition(|&b| b == b'.')
        .map_or(0, |d| d + 1);
    let end = addr[dash + 1..]
        .iter()
        .position(|&b| b == b'.')
        .map_or(addr.len(), |d| dash + 1 + d);
    let number = |s: &[u8]| -> Result<u64, SyntaxError> {
        if s.is_empty() || !s.iter().all(u8::is_ascii_digit) || s.len() > 9 {
            return Err(BAD_LINE);
        }
        Ok(s.iter().fold(0, |n, &d| n * 10 + u64::from(d - b'0')))
    };
    let bounds =
        number(&addr[start..dash]).and_then(|l| Ok((l, number(&addr[dash + 1..end])?.min(255))));
    Some(bounds.map(|(left, right)| {
        (left..=right)
            .map(|v| {
                let mut k = addr[..start].to_vec();
                k.extend_from_slice(v.to_string().as_bytes());
                k.extend_from_slice(&addr[end..]);
                k
            })
            .collect()
    }))
}

/// Fully expanded upper-case IPv6 text, 39 bytes.
pub fn v6_key(ip: &Ipv6Addr) -> Vec<u8> {
    let s: Vec<String> = ip.segments().iter().map(|g| format!("{g:04X}")).collect();
    s.join(":").into_bytes()
}

/// `_` + one byte per leading bit: `0` for clear, the alphabet's byte for set.
pub fn v4_cidr_key(ip: &Ipv4Addr, n: u32) -> Vec<u8> {
    let bits = u32::from(*ip);
    let mut k = vec![b'_'];
    k.extend((0..n).map(|i| {
        if bits & (1 << (31 - i)) != 0 {
            V4_BITS[i as usize]
        } else {
            b'0'
        }
    }));
    k
}

/// `^` + one byte per leading bit: `0` for clear, 96+k for the k-th set bit.
pub fn v6_cidr_key(ip: &Ipv6Addr, n: u32) -> Vec<u8> {
    let bits = u128::from(*ip);
    let mut k = vec![b'^'];
    let mut set = 0u8;
    for i in 0..n {
        if bits & (1 << (127 - i)) != 0 {
            k.push(96u8.wrapping_add(set));
            set = set.wrapping_add(1);
        } else {
            k.push(b'0');
        }
    }
    k
}

/// Turns a CIDR key back into `addr/len` text (for tcprulescheck).
pub fn decode_key(key: &[u8]) -> String {
    let bits_of = |b: &[u8]| -> Vec<bool> { b.iter().map(|&c| c != b'0').collect() };
    match key.first() {
        Some(b'_') => {
            let bits = bits_of(&key[1..]);
            let mut v = 0u32;
            for (i, &b) in bits.iter().enumerate().take(32) {
                if b {
                    v |= 1 << (31 - i);
                }
            }
            format!("{}/{}", Ipv4Addr::from(v), bits.len())
        }
        Some(b'^') => {
            let bits = bits_of(&key[1..]);
            let mut v = 0u128;
            for (i, &b) in bits.iter().enumerate().take(128) {
                if b {
                    v |= 1 << (127 - i);
                }
            }
            format!("{}/{}", Ipv6Addr::from(v), bits.len())
        }
        _ => String::from_utf8_lossy(key).into_owned(),
    }
}

/// The outcome of a rules lookup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// The key that matched; `None` when nothing matched.
    pub key: Option<Vec<u8>>,
    pub deny: bool,
    pub env: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Decodes a rule record: `D\0` then `+VAR=VALUE\0` items.
pub fn decode_record(key: Vec<u8>, data: &[u8]) -> Decision {
    let mut d = Decision {
        key: Some(key),
        ..Decision::default()
    };
    for item in data.split(|&b| b == 0) {
        match item.first() {
            Some(b'D') => d.deny = true,
            Some(b'+') => {
                let item = &item[1..];
                let eq = item.iter().position(|&b| b == b'=').unwrap_or(item.len());
                let val = item.get(eq + 1..).unwrap_or_default();
                d.env.push((item[..eq].to_vec(), val.to_vec()));
            }
            _ => {}
        }
    }
    d
}

/// The keys of the cascade, in order, for a client.
pub fn cascade(ip: &IpAddr, host: Option<&[u8]>, info: Option<&[u8]>) -> Vec<Vec<u8>> {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(*ip, IpAddr::V4),
        v4 => *v4,
    };
    let ipkey = match ip {
        IpAddr::V4(v4) => v4.to_string().into_bytes(),
        IpAddr::V6(v6) => v6_key(&v6),
    };
    let cat = |a: &[u8], b: &[u8]| [a, b].concat();
    let mut keys = Vec::with_capacity(48);
    if let Some(info) = info {
        keys.push(cat(&cat(info, b"@"), &ipkey));
        if let Some(h) = host {
            keys.push(cat(&cat(info, b"@="), h));
        }
    }
    keys.push(ipkey.clone());
    if let Some(h) = host {
        keys.push(cat(b"=", h));
    }
    match ip {
        IpAddr::V4(v4) => {
            for (i, _) in ipkey.iter().enumerate().rev().filter(|(_, b)| **b == b'.') {
                keys.push(ipkey[..=i].to_vec());
            }
            keys.extend((1..=32).rev().map(|n| v4_cidr_key(&v4, n)));
        }
        IpAddr::V6(v6) => keys.extend((1..=128).rev().map(|n| v6_cidr_key(&v6, n))),
    }
    if let Some(h) = host {
        for (i, _) in h.iter().enumerate().filter(|(_, b)| **b == b'.') {
            keys.push(cat(b"=", &h[i..]));
        }
        keys.push(b"=".to_vec());
    }
    keys.push(Vec::new());
    keys
}

/// Follows the cascade in `cdb`: the first existing key decides.
pub fn lookup(
    cdb: &Cdb,
    ip: &IpAddr,
    host: Option<&[u8]>,
    info: Option<&[u8]>,
) -> io::Result<Decision> {
    for key in cascade(ip, host, info) {
        if let Some(data) = cdb.get(&key)? {
            return Ok(decode_record(key, &data));
        }
    }
    Ok(Decision::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzz/fuzz_targets/tcprules.rs: a NUL in a value ended the
    /// record item, so `allow,A="1<NUL>D"` compiled to a deny.
    #[test]
    fn nul_in_a_variable_is_refused() {
        assert_eq!(parse_line(b"1.2.3.:allow,A=\"1\0D\""), Err(BAD_LINE));
        assert_eq!(parse_line(b"1.2.3.:allow,A\0B=\"1\""), Err(BAD_LINE));
        let r = parse_line(b"1.2.3.:allow,A=\"1\"").unwrap().unwrap();
        assert_eq!(r.data, b"+A=1\0");
    }

    fn keys(a: &str) -> Vec<String> {
        address_keys(a.as_bytes())
            .unwrap()
            .into_iter()
            .map(|k| String::from_utf8_lossy(&k).into_owned())
            .collect()
    }

    #[test]
    fn lines() {
        let r = parse_line(b"1.2.3.4:deny").unwrap().unwrap();
        assert_eq!(r.keys, vec![b"1.2.3.4".to_vec()]);
        assert_eq!(r.data, b"D\0");
        let r = parse_line(b"127.:allow,RELAYCLIENT=\"\",X=/a:b,c/  \t")
            .unwrap()
            .unwrap();
        assert_eq!(r.data, b"+RELAYCLIENT=\0+X=a:b,c\0");
        let r = parse_line(b"::1:allow").unwrap().unwrap();
        assert_eq!(
            r.keys,
            vec![b"0000:0000:0000:0000:0000:0000:0000:0001".to_vec()]
        );
        assert_eq!(parse_line(b"# c:deny").unwrap(), None);
        assert_eq!(parse_line(b"nothing here").unwrap(), None);
        assert_eq!(
            parse_line(b":allow").unwrap().unwrap().keys,
            vec![Vec::<u8>::new()]
        );
        assert_eq!(parse_line(b"1.2.3.4:maybe"), Err(BAD_LINE));
        assert_eq!(parse_line(b"1.2.3.4:denyx"), Err(BAD_LINE));
        assert_eq!(parse_line(b"1.2.3.1-2x:deny"), Err(BAD_LINE));
        assert_eq!(parse_line(b"1.2.3.4:allow,X=\"open"), Err(BAD_LINE));
        assert_eq!(parse_line(b"1.2.3.4:allow,X=\"a\"b"), Err(BAD_LINE));
        assert_eq!(parse_line(b"1.2.3.4:allow,X"), Err(BAD_LINE));
        assert_eq!(parse_line(b"1.2.3.0/33:allow"), Err(BAD_PREFIX));
        assert_eq!(parse_line(b"1.2.3/8:allow"), Err(BAD_V4_CIDR));
        assert_eq!(parse_line(b"1::x:allow"), Err(BAD_V6));
        assert_eq!(parse_line(b"1::x/8:allow"), Err(BAD_V6_CIDR));
        assert_eq!(parse_line(b"::/129:allow"), Err(BAD_PREFIX));
    }

    #[test]
    fn key_forms() {
        assert_eq!(keys("18.23.0.1-3"), ["18.23.0.1", "18.23.0.2", "18.23.0.3"]);
        assert_eq!(keys("10.1-3."), ["10.1.", "10.2.", "10.3."]);
        assert_eq!(keys("1.2.3.254-300").len(), 2);
        assert_eq!(keys("=.example.com"), ["=.example.com"]);
        assert_eq!(keys("joe@1.2.3.4"), ["joe@1.2.3.4"]);
        assert_eq!(
            keys("joe@::1"),
            ["joe@0000:0000:0000:0000:0000:0000:0000:0001"]
        );
        assert_eq!(keys("127.0.0.0/8"), ["_0bcdefgh"]);
        assert_eq!(keys("128.0.0.0/1"), ["_a"]);
        assert_eq!(keys("2002::/16"), ["^00`00000000000a0"]);
        assert_eq!(decode_key(b"_0bcdefgh"), "127.0.0.0/8");
        assert_eq!(decode_key(b"^00`00000000000a0"), "2002::/16");
    }

    #[test]
    fn cascade_order() {
        let ip: IpAddr = "1.2.3.4".parse().unwrap();
        let k = cascade(&ip, Some(b"a.example.com"), Some(b"joe"));
        let s: Vec<String> = k
            .iter()
            .map(|k| String::from_utf8_lossy(k).into())
            .collect();
        assert_eq!(
            s[..8],
            [
                "joe@1.2.3.4",
                "joe@=a.example.com",
                "1.2.3.4",
                "=a.example.com",
                "1.2.3.",
                "1.2.",
                "1.",
                "_0000000h000000o0000000wx00000400"
            ]
        );
        assert_eq!(s[s.len() - 5..], ["_0", "=.example.com", "=.com", "=", ""]);
        let mapped: IpAddr = "::ffff:1.2.3.4".parse().unwrap();
        assert_eq!(cascade(&mapped, None, None)[0], b"1.2.3.4");
        let v6: IpAddr = "2002::1".parse().unwrap();
        let k = cascade(&v6, None, None);
        assert_eq!(k.len(), 1 + 128 + 1);
        assert!(k.contains(&b"^00`00000000000a0".to_vec()));
    }
}
