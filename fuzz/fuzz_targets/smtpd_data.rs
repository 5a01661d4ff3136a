//! The DATA filter alone (`smtpd::data::DataFilter`), fed in chunks.
//!
//! Invariants: the result (and for an accepted message the bytes stored)
//! does not depend on how the bytes are split;
//! `Done` comes exactly after `CRLF . CRLF` (or a first line `.`), a bare
//! LF ends it with `BareLf`, and the message stored is the lines before
//! the dot line with one leading dot removed, LF-terminated; the size
//! reported is the size stored and never over a non-zero limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sqmail::smtpd::data::{DataFilter, Feed, Refusal, ScanConfig};

struct Run {
    out: Vec<u8>,
    used: usize,
    st: Feed,
    verdict: Result<u64, Refusal>,
    saw_base64: bool,
}

fn run(input: &[u8], limit: u64, scan: &ScanConfig, chunks: &[u8], keep_cr: bool) -> Run {
    let mut f = DataFilter::new(limit, scan).keep_bare_cr(keep_cr);
    let mut out = Vec::new();
    let mut used = 0;
    let mut st = Feed::More;
    let mut sizes = chunks.iter().cycle();
    while used < input.len() {
        let k = usize::from(*sizes.next().unwrap_or(&255)).max(1);
        let part = &input[used..(used + k).min(input.len())];
        let (n, s) = f.feed(part, &mut |b| out.extend_from_slice(b));
        assert!(n <= part.len());
        used += n;
        st = s;
        if s != Feed::More {
            break;
        }
        assert_eq!(n, part.len(), "More must consume everything");
    }
    let saw_base64 = f.saw_base64;
    Run {
        out,
        used,
        st,
        verdict: f.finish(),
        saw_base64,
    }
}

/// The message as stored, by the definition: CRLF-separated lines up to
/// the `.` line, one leading dot removed, each ending in LF.
fn reference(consumed: &[u8]) -> Vec<u8> {
    let body = &consumed[..consumed.len() - 3]; // "." CR LF
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let end = rest.windows(2).position(|w| w == b"\r\n").expect("CRLF");
        let line = &rest[..end];
        out.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
        out.push(b'\n');
        rest = &rest[end + 2..];
    }
    out
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let (cfg, chunks, input) = (data[0], &data[1..3], &data[3..]);
    let limit = [0, 1, 64, 4096][usize::from(cfg & 3)];
    let scan = ScanConfig {
        mime_keys: (cfg & 4 != 0).then(|| [b"TVqQAAMAA".to_vec()].into()),
        whitespace: cfg & 8 != 0,
        loader_keys: (cfg & 16 != 0).then(|| [b"MZ\x90\0\x03".to_vec()].into()),
        loader_char: (cfg & 32 != 0).then_some(b'M'),
        base64: cfg & 64 != 0,
    };
    // qmail's way (bare CR kept) against the reference; the default
    // (bare CR stored as a line end) must end DATA at the same place and
    // store no CR at all.
    let a = run(input, limit, &scan, chunks, true);
    let b = run(input, limit, &scan, &[255], true);
    let n = run(input, 0, &ScanConfig::default(), chunks, false);
    assert_eq!((n.used, n.st), (a.used, a.st));
    assert!(!n.out.contains(&b'\r'), "a CR was stored");
    assert_eq!((a.used, a.st), (b.used, b.st));
    assert_eq!((&a.verdict, a.saw_base64), (&b.verdict, b.saw_base64));
    // After a refusal the sink's bytes are thrown away with qmail-queue.
    if a.verdict.is_ok() {
        assert_eq!(a.out, b.out);
    }
    let consumed = &input[..a.used];
    match a.st {
        Feed::More => assert_eq!(a.used, input.len()),
        Feed::BareLf => {
            assert!(consumed.ends_with(b"\n"));
            assert!(!consumed.ends_with(b"\r\n"), "CRLF taken as a bare LF");
        }
        Feed::Done => {
            assert!(consumed == b".\r\n" || consumed.ends_with(b"\r\n.\r\n"));
            let body = &consumed[..consumed.len() - 3];
            assert!(
                !body.windows(5).any(|w| w == b"\r\n.\r\n"),
                "an earlier end of data was missed"
            );
            if let Ok(size) = a.verdict {
                assert_eq!(a.out, reference(consumed));
                assert_eq!(size, a.out.len() as u64);
                assert!(limit == 0 || size <= limit);
            }
        }
    }
    if a.verdict == Err(Refusal::TooBig) {
        assert!(limit > 0);
    }
});
