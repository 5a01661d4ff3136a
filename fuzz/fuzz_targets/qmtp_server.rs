//! The QMTP/QMQP pieces that read a client's bytes: netstring length
//! prefixes (`netstring::read_length`), QMTP's CRLF mode
//! (`qmtp::crlf::CrlfToLf`) fed in two pieces split where the fuzzer says,
//! and qmail-qmqpc's envelope to netstrings.
//!
//! Invariants: no panic; a length taken is at most the limit and is the
//! number written, without a leading zero; CRLF conversion does not depend
//! on where the input is split and equals replacing every CRLF by LF; an
//! envelope taken becomes exactly its records as netstrings.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sqmail::netstring::{self, read_length};
use sqmail::qmtp::crlf::convert;
use sqmail::qmtp::qmqpc::envelope_netstrings;

fuzz_target!(|data: &[u8]| {
    let mut it = data.iter().copied();
    if let Ok(Ok(n)) = read_length(|| it.next().ok_or(()), 200_000_000) {
        assert!(n <= 200_000_000);
        let colon = data.iter().position(|&b| b == b':').unwrap();
        let digits = std::str::from_utf8(&data[..colon]).unwrap();
        assert_eq!(digits.parse::<u64>().unwrap(), n);
        assert!(digits == "0" || !digits.starts_with('0'));
    }

    let split = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    let whole = convert(&[data]);
    assert_eq!(convert(&[&data[..split], &data[split..]]), whole);
    let mut reference = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i] == b'\r' && data.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        reference.push(data[i]);
        i += 1;
    }
    assert_eq!(whole, reference);

    if let Ok(ns) = envelope_netstrings(data) {
        let records: Vec<&[u8]> = data.split(|&b| b == 0).collect();
        let mut want = Vec::new();
        for r in records.iter().take_while(|r| !r.is_empty()) {
            netstring::push(&mut want, &r[1..]);
        }
        assert_eq!(ns, want);
        assert_eq!(data[0], b'F');
    }
});
