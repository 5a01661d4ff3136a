//! qmail-queue's envelope reader (`queue::writer::check_envelope`, the code
//! behind `copy_envelope`): `F sender \0 (T recipient \0)* (\0 | Q)`.
//!
//! Invariants: the verdict and the bytes kept match a direct reading of the
//! grammar (addresses at most `envelope::MAX_ADDRESS` bytes, else 11; EOF
//! is 54; anything else 91), whatever the buffer sizes and however the
//! reads are split or interrupted.
#![no_main]

use std::io::{self, Read};

use libfuzzer_sys::fuzz_target;
use sqmail::envelope::MAX_ADDRESS;
use sqmail::queue::exitcode::code;
use sqmail::queue::writer::{Fail, check_envelope};

/// Hands out `data` in pieces, with an EINTR now and then.
struct Choppy<'a> {
    data: &'a [u8],
    seed: u32,
}

impl Read for Choppy<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.seed = self.seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        if self.seed >> 29 == 0 {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let n = buf
            .len()
            .min(self.data.len())
            .min((self.seed >> 16) as usize % 700 + 1);
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// The grammar read directly: the verdict and the bytes qmail-queue keeps.
fn reference(e: &[u8]) -> (Result<bool, Fail>, Vec<u8>) {
    let mut kept = Vec::new();
    let mut i = 0;
    let address = |i: &mut usize, kept: &mut Vec<u8>| -> Result<(), Fail> {
        let rest = &e[*i..];
        match rest.iter().position(|&b| b == 0) {
            Some(n) if n <= MAX_ADDRESS => {
                kept.extend_from_slice(&rest[..=n]);
                *i += n + 1;
                Ok(())
            }
            Some(_) => Err(code::ADDRESS_TOO_LONG),
            None if rest.len() > MAX_ADDRESS => Err(code::ADDRESS_TOO_LONG),
            None => Err(code::READ),
        }
    };
    let r = (|| {
        match e.first() {
            None => return Err(code::READ),
            Some(b'F') => {}
            Some(_) => return Err(code::ENVELOPE),
        }
        kept.push(b'F');
        i = 1;
        address(&mut i, &mut kept)?;
        loop {
            let b = *e.get(i).ok_or(code::READ)?;
            i += 1;
            match b {
                0 => return Ok(true),
                b'Q' => return Ok(false),
                b'T' => {
                    kept.push(b'T');
                    address(&mut i, &mut kept)?;
                }
                _ => return Err(code::ENVELOPE),
            }
        }
    })();
    (r, kept)
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, env)) = data.split_first() else {
        return;
    };
    let (want, want_kept) = reference(env);
    let mut ib = vec![0u8; usize::from(seed & 15) + 1];
    let mut ob = vec![0u8; usize::from(seed >> 4) + 1];
    let mut kept = Vec::new();
    let input = Choppy {
        data: env,
        seed: u32::from(seed),
    };
    let got = check_envelope(input, &mut kept, &mut ib, &mut ob);
    assert_eq!(got, want);
    assert!(env.starts_with(&kept), "kept bytes that were not read");
    if got.is_ok() {
        assert_eq!(kept, want_kept);
    }
});
