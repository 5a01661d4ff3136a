//! Byte search for the programs started per connection or per message.
//!
//! The `memchr` crate's top-level functions pick their routine on first
//! use by probing the CPU (`cpuid`, which traps to the hypervisor on a
//! virtual machine): a fixed cost in every short-lived process. SSE2 is
//! part of x86-64, so these use its routines directly, with no probe; other
//! targets get the crate's portable word-at-a-time code.

use memchr::arch::all::memchr as portable;
#[cfg(target_arch = "x86_64")]
use memchr::arch::x86_64::sse2::memchr as sse2;

/// The first `b` in `hay`.
#[inline]
pub fn find(b: u8, hay: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if let Some(f) = sse2::One::new(b) {
        return f.find(hay);
    }
    portable::One::new(b).find(hay)
}

/// The last `b` in `hay`.
#[inline]
pub fn rfind(b: u8, hay: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if let Some(f) = sse2::One::new(b) {
        return f.rfind(hay);
    }
    portable::One::new(b).rfind(hay)
}

/// The first `a` or `b` in `hay`.
#[inline]
pub fn find2(a: u8, b: u8, hay: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if let Some(f) = sse2::Two::new(a, b) {
        return f.find(hay);
    }
    portable::Two::new(a, b).find(hay)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_like_memchr() {
        let mut hay = vec![b'x'; 300];
        assert_eq!(find(b'@', &hay), None);
        assert_eq!(rfind(b'@', &hay), None);
        assert_eq!(find2(b'\r', b'\n', &hay), None);
        hay[7] = b'@';
        hay[250] = b'@';
        hay[100] = b'\n';
        hay[40] = b'\r';
        assert_eq!(find(b'@', &hay), Some(7));
        assert_eq!(rfind(b'@', &hay), Some(250));
        assert_eq!(find2(b'\r', b'\n', &hay), Some(40));
        assert_eq!(find2(b'\n', b'q', &hay), Some(100));
        assert_eq!(find(b'@', b""), None);
        assert_eq!(find(0, b"ab\0"), Some(2));
    }
}
