//! qmail-smtpd's input buffer (`smtpd::input::InBuf`) filled in chunks of
//! varying size, as reads return them.
//!
//! Invariants: the lines taken out are the input's LF-terminated lines, in
//! order; a line longer than `MAX_LINE` is reported once as `TooLong` and
//! never handed out; a read always finds free space.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sqmail::smtpd::input::{InBuf, Line, MAX_LINE};

#[derive(Debug, PartialEq, Eq)]
enum Got {
    Ok(Vec<u8>),
    TooLong,
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, input)) = data.split_first() else {
        return;
    };
    // Long inputs made of a few bytes repeated, so lines over MAX_LINE occur.
    let input: Vec<u8> = if seed & 0x80 != 0 {
        input
            .iter()
            .flat_map(|&b| std::iter::repeat_n(b, 64))
            .collect()
    } else {
        input.to_vec()
    };
    let mut b = InBuf::new();
    let mut got = Vec::new();
    let mut rest = &input[..];
    let mut chunk = usize::from(seed & 0x7f) + 1;
    loop {
        while let Some(l) = b.next_line() {
            got.push(match l {
                Line::Ok(l) => Got::Ok(l.to_vec()),
                Line::TooLong => Got::TooLong,
            });
        }
        if rest.is_empty() {
            break;
        }
        let sp = b.spare();
        assert!(!sp.is_empty(), "no room to read into");
        let k = rest.len().min(sp.len()).min(chunk);
        sp[..k].copy_from_slice(&rest[..k]);
        b.filled(k);
        rest = &rest[k..];
        chunk = chunk * 13 % 5003 + 1;
    }
    let complete = input.iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1);
    let want: Vec<Got> = input[..complete]
        .split(|&c| c == b'\n')
        .take(input[..complete].iter().filter(|&&c| c == b'\n').count())
        .map(|l| {
            if l.len() > MAX_LINE {
                Got::TooLong
            } else {
                Got::Ok(l.to_vec())
            }
        })
        .collect();
    assert_eq!(got, want);
    assert!(b.pending().len() <= MAX_LINE);
});
