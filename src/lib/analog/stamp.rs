//! The time stamp that starts a log line: multilog's TAI64N label
//! (`@4000...`, 24 hex digits) or a decimal number of seconds since 1970
//! (`accustamp`, `tai64nunix`). Both become seconds since 1970.

/// TAI64 labels count from 2^62, and TAI was 10 s ahead of UTC in 1970
/// (the offset daemontools' tai64n and tai64nlocal use).
const TAI64_BASE: u64 = (1 << 62) + 10;

/// Seconds since 1970 of a stamp field, None when it is no stamp.
pub fn parse(field: &str) -> Option<f64> {
    if let Some(hex) = field.strip_prefix('@') {
        if hex.len() != 24 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let secs = u64::from_str_radix(&hex[..16], 16).ok()?;
        let nanos = u32::from_str_radix(&hex[16..], 16).ok()?;
        let unix = secs.checked_sub(TAI64_BASE)?;
        return Some(unix as f64 + f64::from(nanos.min(999_999_999)) / 1e9);
    }
    let ok = !field.is_empty()
        && field.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && field.bytes().filter(|&b| b == b'.').count() <= 1
        && field.as_bytes()[0] != b'.';
    if ok { field.parse().ok() } else { None }
}

/// A stamp as matchup writes it: seconds with six decimals.
pub fn text(secs: f64) -> String {
    format!("{secs:.6}")
}

/// The TAI64N label of `secs` (for tests and for writing logs).
pub fn tai64n(secs: f64) -> String {
    let whole = secs.floor();
    let nanos = ((secs - whole) * 1e9) as u32;
    format!(
        "@{:016x}{:08x}",
        whole as u64 + TAI64_BASE,
        nanos.min(999_999_999)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_numbers() {
        // 2025-01-01 00:00:00 UTC with 0.5 s.
        let t = parse("@4000000067748596".to_string().as_str());
        assert_eq!(t, None, "too short");
        let label = tai64n(1_735_689_600.5);
        assert_eq!(label, "@400000006774858a1dcd6500");
        assert_eq!(parse(&label), Some(1_735_689_600.5));
        assert_eq!(parse("1735689600.250000"), Some(1_735_689_600.25));
        assert_eq!(parse("17"), Some(17.0));
        for bad in [
            "",
            ".5",
            "1.2.3",
            "@zz",
            "status:",
            "@3fffffffffffffff00000000",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_eq!(text(1.5), "1.500000");
    }
}
