//! crypt(3) from libcrypt (libxcrypt): verifying /etc/shadow hashes
//! (`$6$`, `$5$`, `$y$`, `$1$`, DES) for qmail-authuser.

use std::ffi::{CStr, CString, c_char};

/// libxcrypt's `struct crypt_data` is 32768 bytes.
const CRYPT_DATA_SIZE: usize = 32768;

#[link(name = "crypt")]
unsafe extern "C" {
    fn crypt_r(phrase: *const c_char, setting: *const c_char, data: *mut u8) -> *mut c_char;
}

/// `crypt_r(phrase, setting)`: the hash of `phrase` with the salt and
/// method of `setting` (a stored hash). `None` when libcrypt refuses
/// (unknown method, NUL bytes) — never a match.
pub fn crypt(phrase: &[u8], setting: &[u8]) -> Option<Vec<u8>> {
    let p = CString::new(phrase).ok()?;
    let s = CString::new(setting).ok()?;
    let mut data = vec![0u8; CRYPT_DATA_SIZE];
    // SAFETY: p and s are NUL-terminated and live across the call; data is
    // a zeroed buffer of the size libxcrypt's crypt_data has, owned here, so
    // the call is reentrant. The result points into `data` (or is NULL).
    let out = unsafe { crypt_r(p.as_ptr(), s.as_ptr(), data.as_mut_ptr()) };
    if out.is_null() {
        return None;
    }
    // SAFETY: non-NULL results are NUL-terminated strings inside `data`,
    // which is still alive here.
    let hash = unsafe { CStr::from_ptr(out) }.to_bytes().to_vec();
    data.iter_mut().for_each(|b| *b = 0);
    // libxcrypt marks failure with a hash starting with '*'.
    if hash.is_empty() || hash[0] == b'*' {
        return None;
    }
    Some(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha512_crypt() {
        // openssl passwd -6 -salt saltsalt secret
        let stored = b"$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1";
        assert_eq!(crypt(b"secret", stored).as_deref(), Some(&stored[..]));
        assert_ne!(crypt(b"wrong", stored).as_deref(), Some(&stored[..]));
        assert_eq!(crypt(b"x", b"*"), None);
    }
}
