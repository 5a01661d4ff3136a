//! Shell-style patterns as INN's `wildmat` reads them: `*`, `?`, `[set]`,
//! `[^set]` (ranges `a-z`, `]` first is literal) and `\x`. Case-sensitive,
//! anchored at both ends. Used by badmailfrom, badrcptto and badhelo.

/// Whether `pat` matches the whole of `text`.
pub fn matches(pat: &[u8], text: &[u8]) -> bool {
    // Iterative matcher with one backtrack point for the last `*`.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pat.len() {
            match pat[p] {
                b'*' => {
                    star = Some((p, t));
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    t += 1;
                    continue;
                }
                b'[' => {
                    if let Some((ok, next)) = class(&pat[p..], text[t]) {
                        if ok {
                            p += next;
                            t += 1;
                            continue;
                        }
                    } else if text[t] == b'[' {
                        p += 1;
                        t += 1;
                        continue;
                    }
                }
                b'\\' if p + 1 < pat.len() => {
                    if pat[p + 1] == text[t] {
                        p += 2;
                        t += 1;
                        continue;
                    }
                }
                c => {
                    if c == text[t] {
                        p += 1;
                        t += 1;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((sp, st)) => {
                p = sp + 1;
                t = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

/// Matches one byte against the class at the start of `pat` (`[`...`]`).
/// Returns (matched, length of the class), or `None` if it is unterminated.
fn class(pat: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(pat.get(i), Some(b'^'));
    if negate {
        i += 1;
    }
    let mut found = false;
    let mut first = true;
    loop {
        let b = *pat.get(i)?;
        if b == b']' && !first {
            return Some((found != negate, i + 1));
        }
        first = false;
        if pat.get(i + 1) == Some(&b'-') && pat.get(i + 2).is_some_and(|&e| e != b']') {
            if (b..=pat[i + 2]).contains(&c) {
                found = true;
            }
            i += 3;
        } else {
            if b == c {
                found = true;
            }
            i += 1;
        }
    }
}

/// The `!`-toggling walk over a list file used by badmailfrom, badrcptto
/// and badhelo: a matching plain line sets "listed", a matching `!line`
/// clears it; the state after the last line is the answer.
pub fn listed(lines: &[String], text: &[u8]) -> bool {
    let mut state = false;
    for l in lines {
        match l.strip_prefix('!') {
            Some(neg) => {
                if state && matches(neg.as_bytes(), text) {
                    state = false;
                }
            }
            None => {
                if !state && matches(l.as_bytes(), text) {
                    state = true;
                }
            }
        }
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let yes: &[(&str, &str)] = &[
            ("*", ""),
            ("*", "abc"),
            ("a*c", "abbbc"),
            ("*@example.com", "joe@example.com"),
            ("?oe", "joe"),
            ("[jk]oe", "koe"),
            ("[a-c]x", "bx"),
            ("[^a-c]x", "dx"),
            ("[]]", "]"),
            ("a\\*", "a*"),
            ("*a*b", "xxaxxb"),
        ];
        for (p, t) in yes {
            assert!(matches(p.as_bytes(), t.as_bytes()), "{p} {t}");
        }
        let no: &[(&str, &str)] = &[
            ("a*c", "abd"),
            ("?", ""),
            ("[^a-c]x", "ax"),
            ("a\\*", "ab"),
            ("*@example.com", "joe@example.org"),
            ("Joe", "joe"),
        ];
        for (p, t) in no {
            assert!(!matches(p.as_bytes(), t.as_bytes()), "{p} {t}");
        }
    }

    #[test]
    fn toggling() {
        let l: Vec<String> = ["*@spam.example", "!ok@spam.example"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(listed(&l, b"x@spam.example"));
        assert!(!listed(&l, b"ok@spam.example"));
        assert!(!listed(&l, b"x@good.example"));
    }
}
