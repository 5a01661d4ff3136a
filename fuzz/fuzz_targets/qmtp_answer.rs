//! qmail-remote's QMTP answer reader (`remote::qmtp::read_answer`): one
//! netstring per recipient from the server.
//!
//! Invariants: an answer taken is non-empty, at most 10,000 bytes, and is
//! exactly what the netstring held; a well-formed netstring written by us
//! reads back; a read error is passed on, never taken as an answer.
#![no_main]

use std::io;

use libfuzzer_sys::fuzz_target;
use sqmail::remote::qmtp::read_answer;

fn reader(d: &[u8]) -> impl FnMut() -> io::Result<u8> + '_ {
    let mut it = d.iter();
    move || {
        it.next()
            .copied()
            .ok_or_else(|| io::ErrorKind::UnexpectedEof.into())
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(a)) = read_answer(reader(data)) {
        assert!(!a.is_empty() && a.len() <= 10_000);
        let colon = data
            .iter()
            .position(|&b| b == b':')
            .expect("length ends in ':'");
        let len: usize = std::str::from_utf8(&data[..colon])
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(len, a.len());
        assert_eq!(&data[colon + 1..colon + 1 + len], &a[..]);
        assert_eq!(data[colon + 1 + len], b',');
    }
    let mut ns = format!("{}:", data.len()).into_bytes();
    ns.extend_from_slice(data);
    ns.push(b',');
    match read_answer(reader(&ns)) {
        Ok(Some(a)) => assert_eq!(a, data),
        Ok(None) => assert!(data.is_empty() || data.len() > 10_000),
        Err(e) => panic!("{e}"),
    }
});
