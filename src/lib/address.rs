//! RFC 822 address lists as qmail-inject handles them: a tokenizer, the
//! right-to-left address-list walker that hands each address to a
//! rewriting callback, the re-folding printer, and qmail's quoting of
//! envelope addresses (`quote`, `quote2`).
//!
//! Byte-oriented throughout: header fields are not required to be UTF-8.

/// The kind of a token. Words carry text; the rest are single characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `@`
    At,
    /// An atom (letters, digits and everything not special).
    Atom,
    /// `:`
    Colon,
    /// `,`
    Comma,
    /// `( ... )`, text without the parentheses.
    Comment,
    /// `.`
    Dot,
    /// `<`
    Left,
    /// `[ ... ]`, text without the brackets.
    Literal,
    /// `" ... "`, text without the quotes and escapes.
    Quote,
    /// `>`
    Right,
    /// `;`
    Semi,
}

impl Kind {
    fn is_word(self) -> bool {
        matches!(
            self,
            Kind::Atom | Kind::Literal | Kind::Quote | Kind::Comment
        )
    }
}

/// One token. `text` is empty for punctuation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    pub text: Vec<u8>,
}

impl Token {
    pub fn punct(kind: Kind) -> Token {
        Token {
            kind,
            text: Vec::new(),
        }
    }

    pub fn word(kind: Kind, text: impl Into<Vec<u8>>) -> Token {
        Token {
            kind,
            text: text.into(),
        }
    }
}

fn punct_kind(b: u8) -> Option<Kind> {
    Some(match b {
        b'.' => Kind::Dot,
        b',' => Kind::Comma,
        b'@' => Kind::At,
        b'<' => Kind::Left,
        b'>' => Kind::Right,
        b':' => Kind::Colon,
        b';' => Kind::Semi,
        _ => return None,
    })
}

fn punct_char(kind: Kind) -> u8 {
    match kind {
        Kind::Dot => b'.',
        Kind::Comma => b',',
        Kind::At => b'@',
        Kind::Left => b'<',
        Kind::Right => b'>',
        Kind::Colon => b':',
        Kind::Semi => b';',
        _ => 0,
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// True when `b` may continue an atom.
fn atom_continues(b: u8) -> bool {
    !is_space(b) && !b"([\"<>;:@,.".contains(&b)
}

/// Reads a delimited word (comment, quoted string, literal) starting after
/// its opening byte at `*i`; leaves `*i` on the closing byte. Nested
/// parentheses in comments count but are not kept. `None`: unterminated.
fn delimited(s: &[u8], i: &mut usize, close: u8, nests: bool) -> Option<Vec<u8>> {
    let mut text = Vec::new();
    let mut level = 1;
    loop {
        *i += 1;
        let b = *s.get(*i)?;
        match b {
            b'(' if nests => level += 1,
            b if b == close => {
                level -= 1;
                if level == 0 {
                    return Some(text);
                }
            }
            b'\\' => {
                *i += 1;
                text.push(*s.get(*i)?);
            }
            b => text.push(b),
        }
    }
}

/// Splits a header field (or an address) into tokens. `None` when it
/// cannot be tokenized: an unbalanced `)` or `]`, or an unterminated
/// comment, quoted string or literal.
pub fn parse(s: &[u8]) -> Option<Vec<Token>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if let Some(kind) = punct_kind(b) {
            out.push(Token::punct(kind));
        } else if is_space(b) {
        } else if b == b')' || b == b']' {
            return None;
        } else if b == b'(' {
            out.push(Token::word(
                Kind::Comment,
                delimited(s, &mut i, b')', true)?,
            ));
        } else if b == b'"' {
            out.push(Token::word(Kind::Quote, delimited(s, &mut i, b'"', false)?));
        } else if b == b'[' {
            out.push(Token::word(
                Kind::Literal,
                delimited(s, &mut i, b']', false)?,
            ));
        } else {
            // An atom: the first byte is taken whatever it is; a backslash
            // takes the next byte literally.
            let mut text = Vec::new();
            loop {
                if s[i] == b'\\' {
                    i += 1;
                    if i >= s.len() {
                        break;
                    }
                }
                text.push(s[i]);
                i += 1;
                if i >= s.len() || !atom_continues(s[i]) {
                    break;
                }
            }
            i -= 1;
            // An atom with bytes that cannot be written bare is a quoted
            // string from here on.
            let kind = if text
                .iter()
                .any(|&c| !(32..=126).contains(&c) || !atom_continues(c) || b")]\\".contains(&c))
            {
                Kind::Quote
            } else {
                Kind::Atom
            };
            // A backslash ending the field escapes nothing: no atom.
            if !text.is_empty() {
                out.push(Token::word(kind, text));
            }
        }
        i += 1;
    }
    Some(out)
}

fn needs_space(last: Option<Kind>, next: Kind) -> bool {
    let Some(last) = last else { return false };
    matches!(last, Kind::Colon | Kind::Comma)
        || next == Kind::Left
        || (last.is_word() && next.is_word())
}

/// The printer's line state: where the current line begins and where the
/// last tentative line break (`"\n "` after a comma) sits.
struct Folder {
    width: usize,
    line_start: usize,
    last_break: Option<usize>,
}

impl Folder {
    /// A tentative break at the end of `out`. The previous tentative break
    /// is taken back when the line up to here still fits in the width.
    fn mark(&mut self, out: &mut Vec<u8>) {
        match self.last_break {
            Some(b) if self.width == 0 || out.len() - self.line_start <= self.width => {
                out.drain(b..b + 2);
                out.extend_from_slice(b"\n ");
                self.last_break = Some(out.len() - 2);
            }
            prev => {
                if let Some(b) = prev {
                    self.line_start = b + 1;
                }
                self.last_break = Some(out.len());
                out.extend_from_slice(b"\n ");
            }
        }
    }
}

/// Prints tokens as a header field: one space where RFC 822 needs one,
/// words quoted and escaped, and lines folded after commas so that they
/// stay within `width` columns where possible (0: never fold). The result
/// ends in `\n`.
pub fn unparse(tokens: &[Token], width: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(tokens.iter().map(|t| t.text.len() + 3).sum::<usize>() + 2);
    let mut fold = Folder {
        width,
        line_start: 0,
        last_break: None,
    };
    let mut last = None;
    for t in tokens {
        if needs_space(last, t.kind) {
            out.push(b' ');
        }
        last = Some(t.kind);
        let (open, close) = match t.kind {
            Kind::Comma => {
                out.push(b',');
                fold.mark(&mut out);
                continue;
            }
            Kind::Atom => (None, None),
            Kind::Quote => (Some(b'"'), Some(b'"')),
            Kind::Literal => (Some(b'['), Some(b']')),
            Kind::Comment => (Some(b'('), Some(b')')),
            k => {
                out.push(punct_char(k));
                continue;
            }
        };
        out.extend(open);
        for (k, &c) in t.text.iter().enumerate() {
            // A LF without a blank after it would start a header line of
            // its own (a name from the environment, an argument): a blank.
            if c == b'\n' && !matches!(t.text.get(k + 1), Some(b' ' | b'\t')) {
                out.push(b' ');
                continue;
            }
            if b"\"[]()\\\r\n".contains(&c) {
                out.push(b'\\');
            }
            out.push(c);
        }
        out.extend(close);
    }
    fold.mark(&mut out);
    out.pop();
    out
}

/// The address as an envelope wants it: words without quotes, literals in
/// brackets, comments dropped.
pub fn unquote(tokens: &[Token]) -> Vec<u8> {
    let mut out = Vec::new();
    for t in tokens {
        match t.kind {
            Kind::Comment => {}
            Kind::Atom | Kind::Quote => out.extend_from_slice(&t.text),
            Kind::Literal => {
                out.push(b'[');
                out.extend_from_slice(&t.text);
                out.push(b']');
            }
            k => out.push(punct_char(k)),
        }
    }
    out
}

/// Moves the last token of `from` (the loop below only calls it while
/// `from` has one) onto `to`.
fn shift(from: &mut Vec<Token>, to: &mut Vec<Token>) {
    if let Some(t) = from.pop() {
        to.push(t);
    }
}

/// Walks the address list of a header field, `tokens` being the whole
/// field (name and colon first), from right to left as RFC 822 lists are
/// easiest parsed. Each address (the inside of `<...>`, or a bare
/// `local@domain`, in forward order, comments inside `<>` included) goes to
/// `rewrite`, which may change it in place. Words separated only by spaces
/// are separate addresses: a comma is put between them. Comments outside
/// `<>` move behind the address they precede.
///
/// Returns the rewritten field, `Ok(None)` on a syntax error (an unopened
/// `>`, unbalanced groups), or the callback's error.
pub fn addrlist<E>(
    mut tokens: Vec<Token>,
    mut rewrite: impl FnMut(&mut Vec<Token>) -> Result<(), E>,
) -> Result<Option<Vec<Token>>, E> {
    let head = tokens.len().min(2);
    // Both built right to left.
    let mut out: Vec<Token> = Vec::with_capacity(tokens.len() + 4);
    let mut addr: Vec<Token> = Vec::new();
    let mut in_group = false;
    let mut word_ok = true;

    while tokens.len() > head {
        let kind = tokens[tokens.len() - 1].kind;
        match kind {
            Kind::Semi => {
                flush(&mut addr, &mut out, true, &mut rewrite)?;
                if in_group {
                    return Ok(None);
                }
                in_group = true;
                word_ok = true;
                shift(&mut tokens, &mut out);
            }
            Kind::Colon => {
                flush(&mut addr, &mut out, false, &mut rewrite)?;
                if !in_group {
                    return Ok(None);
                }
                in_group = false;
                // The colon and the group's name, through the comma before it.
                while tokens.len() > head && tokens[tokens.len() - 1].kind != Kind::Comma {
                    shift(&mut tokens, &mut out);
                }
                if tokens.len() > head {
                    shift(&mut tokens, &mut out);
                }
                word_ok = true;
            }
            Kind::Right => {
                flush(&mut addr, &mut out, true, &mut rewrite)?;
                shift(&mut tokens, &mut out);
                while tokens.len() > head && tokens[tokens.len() - 1].kind != Kind::Left {
                    shift(&mut tokens, &mut addr);
                }
                // Even an empty `<>` is an address.
                give(&mut addr, &mut out, &mut rewrite)?;
                if tokens.len() <= head {
                    return Ok(None);
                }
                shift(&mut tokens, &mut out);
                // The phrase before `<`.
                while tokens.len() > head
                    && matches!(
                        tokens[tokens.len() - 1].kind,
                        Kind::Comment | Kind::Atom | Kind::Quote | Kind::At | Kind::Dot
                    )
                {
                    shift(&mut tokens, &mut out);
                }
                word_ok = false;
            }
            Kind::Atom | Kind::Quote | Kind::Literal => {
                if !word_ok {
                    flush(&mut addr, &mut out, true, &mut rewrite)?;
                }
                word_ok = false;
                shift(&mut tokens, &mut addr);
            }
            Kind::Comment => shift(&mut tokens, &mut out),
            Kind::Comma => {
                flush(&mut addr, &mut out, false, &mut rewrite)?;
                word_ok = true;
                shift(&mut tokens, &mut out);
            }
            Kind::At | Kind::Dot | Kind::Left => {
                word_ok = true;
                shift(&mut tokens, &mut addr);
            }
        }
    }
    flush(&mut addr, &mut out, false, &mut rewrite)?;
    out.extend(tokens.drain(..).rev());
    out.reverse();
    Ok(Some(out))
}

/// Gives a pending address to the callback, then a comma when asked.
fn flush<E>(
    addr: &mut Vec<Token>,
    out: &mut Vec<Token>,
    comma: bool,
    rewrite: &mut impl FnMut(&mut Vec<Token>) -> Result<(), E>,
) -> Result<(), E> {
    if addr.is_empty() {
        return Ok(());
    }
    give(addr, out, rewrite)?;
    if comma {
        out.push(Token::punct(Kind::Comma));
    }
    Ok(())
}

/// Hands one address (collected right to left) to the callback in forward
/// order and appends the result to `out` (right to left).
fn give<E>(
    addr: &mut Vec<Token>,
    out: &mut Vec<Token>,
    rewrite: &mut impl FnMut(&mut Vec<Token>) -> Result<(), E>,
) -> Result<(), E> {
    addr.reverse();
    rewrite(addr)?;
    out.extend(addr.drain(..).rev());
    Ok(())
}

/// True when a local part must be quoted: empty, a byte outside the safe
/// set, or dots at either end or doubled.
pub fn quote_need(s: &[u8]) -> bool {
    s.is_empty()
        || s.iter()
            .any(|&c| c >= 127 || c <= 32 || b"\"(),:;<>@[\\]".contains(&c))
        || s[0] == b'.'
        || s[s.len() - 1] == b'.'
        || s.windows(2).any(|w| w == b"..")
}

/// `s` quoted if it needs it: in double quotes, with `\r \n " \` escaped.
pub fn quote(s: &[u8]) -> Vec<u8> {
    if !quote_need(s) {
        return s.to_vec();
    }
    let mut out = Vec::with_capacity(s.len() + 2);
    out.push(b'"');
    for &c in s {
        if matches!(c, b'\r' | b'\n' | b'"' | b'\\') {
            out.push(b'\\');
        }
        out.push(c);
    }
    out.push(b'"');
    out
}

/// An envelope address for a header: the local part (before the last `@`)
/// quoted if needed, the domain as it is. Empty stays empty.
pub fn quote2(s: &[u8]) -> Vec<u8> {
    if s.is_empty() {
        return Vec::new();
    }
    match s.iter().rposition(|&c| c == b'@') {
        None => quote(s),
        Some(at) => {
            let mut out = quote(&s[..at]);
            out.extend_from_slice(&s[at..]);
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(t: &[Token]) -> Vec<Kind> {
        t.iter().map(|t| t.kind).collect()
    }

    /// Found by fuzz/fuzz_targets/inject_address.rs: an escaped special
    /// byte (`group\\;`) stayed an atom and was printed bare, so the field
    /// qmail-inject wrote said something else (here a group's end).
    #[test]
    fn escaped_specials_print_quoted() {
        for field in [&b"group\\;, <x@y>"[..], b"a\\ b@c", b"a\\,b@c", b"x\\<y"] {
            let t = parse(field).unwrap();
            assert_eq!(parse(&unparse(&t, 0)), Some(t));
        }
        let t = parse(b"group\\;").unwrap();
        assert_eq!(t, vec![Token::word(Kind::Quote, "group;")]);
    }

    /// Found by fuzz/fuzz_targets/inject_address.rs: a trailing backslash
    /// made an empty atom, which prints as nothing.
    #[test]
    fn trailing_backslash_is_no_token() {
        let t = parse(b"quoted \\").unwrap();
        assert_eq!(t, vec![Token::word(Kind::Atom, "quoted")]);
        assert_eq!(parse(&unparse(&t, 0)), Some(t));
    }

    /// Found by fuzz/fuzz_targets/inject_address.rs: a LF inside a word
    /// (NAME="x\nBcc: y" for the default From) was written as `\\` LF, and
    /// the rest became a header line of its own.
    #[test]
    fn lf_in_a_word_starts_no_header_line() {
        let t = vec![
            Token::word(Kind::Atom, "From"),
            Token::punct(Kind::Colon),
            Token::word(Kind::Quote, "x\nBcc: victim@example.org"),
            Token::punct(Kind::Left),
            Token::word(Kind::Atom, "u"),
            Token::punct(Kind::Right),
            Token::word(Kind::Comment, "c\n"),
        ];
        let out = unparse(&t, 0);
        assert_eq!(out, b"From: \"x Bcc: victim@example.org\" <u>(c )\n");
        let folded = vec![Token::word(Kind::Quote, "a\n b")];
        assert_eq!(unparse(&folded, 0), b"\"a\\\n b\"\n");
    }

    #[test]
    fn tokens() {
        let t = parse(b"To: \"A \\\"B\\\"\" <a.b@[1.2.3.4]> (x (y) z)").unwrap();
        use Kind::*;
        assert_eq!(
            kinds(&t),
            vec![
                Atom, Colon, Quote, Left, Atom, Dot, Atom, At, Literal, Right, Comment
            ]
        );
        assert_eq!(t[2].text, b"A \"B\"");
        assert_eq!(t[8].text, b"1.2.3.4");
        assert_eq!(t[10].text, b"x y z");
        assert_eq!(parse(b"a)b").unwrap()[0].kind, Quote);
        assert_eq!(parse(b"J\xc3\xb6rg").unwrap()[0].kind, Quote);
        assert!(parse(b"a ) b").is_none());
        assert!(parse(b"\"open").is_none());
        assert!(parse(b"(open").is_none());
        assert!(parse(b"[1.2").is_none());
    }

    fn rewrite_all(field: &[u8], f: impl Fn(&mut Vec<Token>)) -> Option<String> {
        let t = parse(field).unwrap();
        addrlist::<()>(t, |a| {
            f(a);
            Ok(())
        })
        .unwrap()
        .map(|t| String::from_utf8(unparse(&t, 80)).unwrap())
    }

    fn add_host(a: &mut Vec<Token>) {
        if !a.iter().any(|t| t.kind == Kind::At) && !a.is_empty() {
            a.push(Token::punct(Kind::At));
            a.push(Token::word(Kind::Atom, "h"));
        }
    }

    #[test]
    fn address_lists() {
        assert_eq!(
            rewrite_all(b"To: djb fred\n", add_host).unwrap(),
            "To: djb@h, fred@h\n"
        );
        assert_eq!(
            rewrite_all(b"Cc: \"Fred Q\" <fred>, (c) x@y\n", add_host).unwrap(),
            "Cc: \"Fred Q\" <fred@h>, x@y (c)\n"
        );
        assert_eq!(
            rewrite_all(b"To: list: a, b;, c\n", add_host).unwrap(),
            "To: list: a@h, b@h;, c@h\n"
        );
        assert_eq!(rewrite_all(b"To: <>\n", add_host).unwrap(), "To: <>\n");
        assert_eq!(rewrite_all(b"To:\n", add_host).unwrap(), "To:\n");
        assert_eq!(rewrite_all(b"To: a>\n", add_host), None);
        assert_eq!(rewrite_all(b"To: a;\n b;\n", add_host), None);
        assert_eq!(rewrite_all(b"To: a: b\n", add_host), None);
    }

    #[test]
    fn folding() {
        let names: Vec<String> = (0..12).map(|i| format!("user{i:02}@example.com")).collect();
        let field = format!("To: {}\n", names.join(","));
        let out = rewrite_all(field.as_bytes(), |_| {}).unwrap();
        for line in out.lines() {
            assert!(line.len() <= 80, "{line}");
        }
        assert_eq!(
            out.replace(",\n  ", ", ").replace("To: ", ""),
            names.join(", ") + "\n"
        );
        assert!(out.contains(",\n  user"));
        assert_eq!(
            String::from_utf8(unparse(&parse(b"X: a,b").unwrap(), 0)).unwrap(),
            "X: a, b\n"
        );
    }

    #[test]
    fn unquoting_and_quoting() {
        let t = parse(b"\"a b\"@[1.2.3.4] (c)").unwrap();
        assert_eq!(unquote(&t), b"a b@[1.2.3.4]");
        assert_eq!(quote2(b"a b@x@y"), b"\"a b@x\"@y");
        assert_eq!(quote2(b"fred@x"), b"fred@x");
        assert_eq!(quote2(b""), b"");
        assert_eq!(quote(b".x"), b"\".x\"");
        assert_eq!(quote(b"a..b"), b"\"a..b\"");
        assert_eq!(quote(b"a\"b"), b"\"a\\\"b\"");
        assert!(!quote_need(b"a.b+c=d"));
    }
}
