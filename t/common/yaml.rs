//! Just enough YAML for test data such as the openspf RFC 7208 suite:
//! documents split by `---`, block maps and sequences by indentation,
//! plain, single- and double-quoted scalars (with `\xHH`, `\0`, `\n`, ...
//! escapes), one-line flow sequences (`[0, "a"]`), and `|`/`>` block
//! scalars. Anything else panics: this reads files we ship, and a
//! misread must not pass silently.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Str(String),
    Seq(Vec<Value>),
    /// Keys in file order (`get` takes the last of a repeated key, as
    /// PyYAML keeps it).
    Map(Vec<(String, Value)>),
}

impl Value {
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(m) => m.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    pub fn str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn seq(&self) -> &[Value] {
        match self {
            Value::Seq(v) => v,
            _ => &[],
        }
    }
    pub fn map(&self) -> &[(String, Value)] {
        match self {
            Value::Map(m) => m,
            _ => &[],
        }
    }
}

/// One significant line: its indentation and text (comments and blank
/// lines are dropped; a block scalar's content is not needed verbatim).
struct Line<'a> {
    indent: usize,
    text: &'a str,
}

/// Every document of `text`.
pub fn documents(text: &str) -> Vec<Value> {
    let mut docs = Vec::new();
    let mut cur: Vec<Line> = Vec::new();
    for l in text.lines() {
        if l.starts_with("---") {
            docs.extend(document(&cur));
            cur.clear();
            continue;
        }
        let body = l.trim_start();
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        cur.push(Line {
            indent: l.len() - body.len(),
            text: body.trim_end(),
        });
    }
    docs.extend(document(&cur));
    docs
}

fn document(lines: &[Line]) -> Option<Value> {
    if lines.is_empty() {
        return None;
    }
    let mut i = 0;
    let v = node(lines, &mut i, lines[0].indent);
    assert_eq!(i, lines.len(), "yaml: stray line {:?}", lines[i].text);
    Some(v)
}

/// The block node whose lines start at `*i` with indentation `indent`.
fn node(lines: &[Line], i: &mut usize, indent: usize) -> Value {
    if lines[*i].text.starts_with("- ") || lines[*i].text == "-" {
        return sequence(lines, i, indent);
    }
    let mut map = Vec::new();
    while *i < lines.len() && lines[*i].indent == indent {
        let (key, rest) = split_key(lines[*i].text);
        *i += 1;
        let v = value_after(lines, i, indent, rest);
        map.push((key, v));
    }
    Value::Map(map)
}

fn sequence(lines: &[Line], i: &mut usize, indent: usize) -> Value {
    let mut items = Vec::new();
    while *i < lines.len() && lines[*i].indent == indent && lines[*i].text.starts_with('-') {
        let rest = lines[*i].text[1..].trim_start();
        if rest.is_empty() {
            *i += 1;
            items.push(value_after(lines, i, indent, ""));
        } else if starts_map_entry(rest) {
            // `- key: value` opens a map indented past the dash.
            let inner = indent + (lines[*i].text.len() - rest.len());
            let mut sub: Vec<Line> = vec![Line {
                indent: inner,
                text: rest,
            }];
            let mut j = *i + 1;
            while j < lines.len() && lines[j].indent >= inner {
                sub.push(Line {
                    indent: lines[j].indent,
                    text: lines[j].text,
                });
                j += 1;
            }
            let mut k = 0;
            items.push(node(&sub, &mut k, inner));
            *i = j;
        } else {
            *i += 1;
            items.push(inline(rest));
        }
    }
    Value::Seq(items)
}

/// The value of a key (or dash) whose line ended in `rest`.
fn value_after(lines: &[Line], i: &mut usize, indent: usize, rest: &str) -> Value {
    let deeper = |i: usize| i < lines.len() && lines[i].indent > indent;
    if rest.starts_with('|') || rest.starts_with('>') {
        let sep = if rest.starts_with('|') { "\n" } else { " " };
        let mut parts = Vec::new();
        while deeper(*i) {
            parts.push(lines[*i].text);
            *i += 1;
        }
        return Value::Str(parts.join(sep));
    }
    if rest.is_empty() {
        let nested_seq =
            *i < lines.len() && lines[*i].indent == indent && lines[*i].text.starts_with('-');
        if deeper(*i) || nested_seq {
            let at = lines[*i].indent;
            return node(lines, i, at);
        }
        return Value::Str(String::new());
    }
    let mut v = inline(rest);
    // A plain scalar may go on over more-indented lines.
    if let Value::Str(s) = &mut v {
        while deeper(*i) {
            s.push(' ');
            s.push_str(lines[*i].text);
            *i += 1;
        }
    }
    v
}

/// Whether `s` is `key: ...` or `key:` (and not a scalar with a colon).
fn starts_map_entry(s: &str) -> bool {
    if s.starts_with('"') || s.starts_with('\'') {
        let (_, end) = quoted(s);
        let after = s[end..].trim_start();
        return after.starts_with(':');
    }
    !s.starts_with('[') && (s.contains(": ") || s.ends_with(':'))
}

/// `key: rest` → (key, rest). A plain key may hold colons not followed
/// by a space (`foo:bar/baz.example.com:`).
fn split_key(s: &str) -> (String, &str) {
    if s.starts_with('"') || s.starts_with('\'') {
        let (k, end) = quoted(s);
        let rest = s[end..].trim_start();
        let rest = rest
            .strip_prefix(':')
            .unwrap_or_else(|| panic!("yaml: no ':' after key in {s:?}"));
        return (k, rest.trim());
    }
    if let Some(at) = s.find(": ") {
        return (s[..at].to_string(), s[at + 2..].trim());
    }
    match s.strip_suffix(':') {
        Some(k) => (k.to_string(), ""),
        None => panic!("yaml: not a map entry: {s:?}"),
    }
}

/// A scalar or flow sequence on one line.
fn inline(s: &str) -> Value {
    let s = s.trim();
    if let Some(body) = s.strip_prefix('[') {
        let body = body
            .strip_suffix(']')
            .unwrap_or_else(|| panic!("yaml: unclosed flow sequence {s:?}"));
        let mut items = Vec::new();
        let mut rest = body.trim();
        while !rest.is_empty() {
            let (item, end) = if rest.starts_with('"') || rest.starts_with('\'') {
                quoted(rest)
            } else {
                let end = rest.find(',').unwrap_or(rest.len());
                (rest[..end].trim().to_string(), end)
            };
            items.push(Value::Str(item));
            rest = rest[end..].trim_start();
            rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
        }
        return Value::Seq(items);
    }
    if s.starts_with('"') || s.starts_with('\'') {
        let (v, end) = quoted(s);
        let after = s[end..].trim();
        assert!(
            after.is_empty() || after.starts_with('#'),
            "yaml: text after quoted scalar in {s:?}"
        );
        return Value::Str(v);
    }
    let plain = match s.find(" #") {
        Some(at) => &s[..at],
        None => s,
    };
    Value::Str(plain.trim_end().to_string())
}

/// A quoted scalar at the start of `s`: its value and the byte offset
/// just past the closing quote.
fn quoted(s: &str) -> (String, usize) {
    let q = s.as_bytes()[0];
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((at, c)) = chars.next() {
        if c as u32 == u32::from(q) {
            if q == b'\'' && s[at + 1..].starts_with('\'') {
                chars.next();
                out.push('\'');
                continue;
            }
            return (out, at + 1);
        }
        if c != '\\' || q == b'\'' {
            out.push(c);
            continue;
        }
        let (_, e) = chars
            .next()
            .unwrap_or_else(|| panic!("yaml: escape at end of {s:?}"));
        let hex = |n: usize, chars: &mut dyn Iterator<Item = (usize, char)>| {
            let h: String = chars.take(n).map(|(_, c)| c).collect();
            let v =
                u32::from_str_radix(&h, 16).unwrap_or_else(|_| panic!("yaml: bad escape in {s:?}"));
            char::from_u32(v).unwrap_or_else(|| panic!("yaml: bad escape in {s:?}"))
        };
        out.push(match e {
            '0' => '\0',
            'a' => '\x07',
            'b' => '\x08',
            't' => '\t',
            'n' => '\n',
            'v' => '\x0b',
            'f' => '\x0c',
            'r' => '\r',
            'e' => '\x1b',
            ' ' => ' ',
            '"' => '"',
            '/' => '/',
            '\\' => '\\',
            'x' => hex(2, &mut chars),
            'u' => hex(4, &mut chars),
            'U' => hex(8, &mut chars),
            _ => panic!("yaml: unknown escape \\{e} in {s:?}"),
        });
    }
    panic!("yaml: unterminated quoted scalar {s:?}")
}

#[test]
fn reads_the_forms_the_spf_suite_uses() {
    let text = "# c\n---\ndescription: x\ntests:\n  t1:\n    description: >-\n      folded\n      text\n    host: 1.2.3.4\n    result: [fail, permerror]\n    helo: \"JUMPIN' JUPITER\"\n    mailfrom: '@example.net'\nzonedata:\n  foo:bar/baz.example.com:\n    - TIMEOUT\n    - MX: [0, \"\"]\n    - SPF: \"v=spf1 a:\\xEF\\x0d\\0\"\n    - SPF: [ ]\n  \"a%b  c.example.com\":\n    - TXT: it's # a comment\n---\n";
    let docs = documents(text);
    assert_eq!(docs.len(), 1);
    let d = &docs[0];
    let t = d.get("tests").unwrap().get("t1").unwrap();
    assert_eq!(t.get("description").unwrap().str(), Some("folded text"));
    assert_eq!(
        t.get("result").unwrap().seq(),
        [Value::Str("fail".into()), Value::Str("permerror".into())]
    );
    assert_eq!(t.get("helo").unwrap().str(), Some("JUMPIN' JUPITER"));
    assert_eq!(t.get("mailfrom").unwrap().str(), Some("@example.net"));
    let z = d.get("zonedata").unwrap().map();
    assert_eq!(z[0].0, "foo:bar/baz.example.com");
    let recs = z[0].1.seq();
    assert_eq!(recs[0], Value::Str("TIMEOUT".into()));
    assert_eq!(
        recs[1].get("MX").unwrap().seq(),
        [Value::Str("0".into()), Value::Str(String::new())]
    );
    assert_eq!(
        recs[2].get("SPF").unwrap().str(),
        Some("v=spf1 a:\u{ef}\r\0")
    );
    assert_eq!(recs[3].get("SPF").unwrap(), &Value::Seq(Vec::new()));
    assert_eq!(z[1].0, "a%b  c.example.com");
    assert_eq!(z[1].1.seq()[0].get("TXT").unwrap().str(), Some("it's"));
}
