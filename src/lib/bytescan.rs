//! Byte search for the programs started per connection or per message.
//!
//! The `memchr` crate's top-level functions pick their routine on first
//! use by probing the CPU (`cpuid`, which traps to the hypervisor on a
//! virtual machine): a fixed cost in every short-lived process. SSE2 is
//! part of x86-64, so these use its routines directly, with no probe; other
//! targets get the crate's portable word-at-a-time code.

use memchr::arch::all::memchr as portable;
use memchr::arch::all::rabinkarp;
#[cfg(target_arch = "x86_64")]
use memchr::arch::x86_64::sse2::memchr as sse2;
#[cfg(target_arch = "x86_64")]
use memchr::arch::x86_64::sse2::packedpair;

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

/// A search for one byte string, made once and run over many texts.
pub struct Substring<'n> {
    needle: &'n [u8],
    #[cfg(target_arch = "x86_64")]
    sse2: Option<packedpair::Finder>,
    portable: rabinkarp::Finder,
}

impl<'n> Substring<'n> {
    pub fn new(needle: &'n [u8]) -> Substring<'n> {
        Substring {
            needle,
            #[cfg(target_arch = "x86_64")]
            sse2: packedpair::Finder::new(needle),
            portable: rabinkarp::Finder::new(needle),
        }
    }

    /// Where the needle first starts in `hay`.
    pub fn find(&self, hay: &[u8]) -> Option<usize> {
        // The SSE2 routine needs a needle of two bytes or more and a
        // haystack at least as long as it says.
        #[cfg(target_arch = "x86_64")]
        if let Some(f) = &self.sse2
            && hay.len() >= f.min_haystack_len()
        {
            return f.find(hay, self.needle);
        }
        self.portable.find(hay, self.needle)
    }
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

    #[test]
    fn substrings_like_memmem() {
        let mut hay = vec![b'x'; 300];
        hay[280..284].copy_from_slice(b"com\n");
        hay[20..23].copy_from_slice(b"com");
        for needle in [&b"com"[..], b"com\n", b"c", b"", b"xxxx", b"zz"] {
            let f = Substring::new(needle);
            for end in [0, 2, 5, 22, 23, 40, 283, 284, 300] {
                let h = &hay[..end];
                assert_eq!(
                    f.find(h),
                    memchr::memmem::find(h, needle),
                    "{needle:?} in {end}"
                );
            }
        }
    }
}
