//! qmail-queue's envelope: `F sender \0 (T recipient \0)* \0`.
//! Also used, with the `u`/`p` prefix, as the `intd`/`todo` file format.

/// The longest address qmail-queue accepts, without its NUL.
pub const MAX_ADDRESS: usize = 1002;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Envelope {
    pub sender: Vec<u8>,
    pub recipients: Vec<Vec<u8>>,
}

impl Envelope {
    pub fn new(sender: impl Into<Vec<u8>>) -> Envelope {
        Envelope {
            sender: sender.into(),
            recipients: Vec::new(),
        }
    }

    /// The wire form given to qmail-queue on fd 1, terminator included.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            2 + self.sender.len() + self.recipients.iter().map(|r| r.len() + 2).sum::<usize>() + 1,
        );
        out.push(b'F');
        out.extend_from_slice(&self.sender);
        out.push(0);
        for r in &self.recipients {
            out.push(b'T');
            out.extend_from_slice(r);
            out.push(0);
        }
        out.push(0);
        out
    }

    /// s/qmail's form that also tells qmail-queue to skip the QHPSI virus
    /// scan: the token `Q` `\0` before the terminator (qmail-queue(8)).
    pub fn to_bytes_no_scan(&self) -> Vec<u8> {
        let mut out = self.to_bytes();
        out.pop();
        out.extend_from_slice(b"Q\0\0");
        out
    }
}

/// Splits a NUL-separated record list into records (without the NULs).
/// A trailing part without NUL is returned as the last record.
pub fn records(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let data = data.strip_suffix(&[0]).unwrap_or(data);
    data.split(|&b| b == 0)
        .filter(|r| !data.is_empty() || !r.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form() {
        let mut e = Envelope::new("a@b");
        e.recipients.push(b"c@d".to_vec());
        assert_eq!(e.to_bytes(), b"Fa@b\0Tc@d\0\0");
        assert_eq!(e.to_bytes_no_scan(), b"Fa@b\0Tc@d\0Q\0\0");
    }

    #[test]
    fn record_split() {
        let v: Vec<&[u8]> = records(b"u1\0p2\0Fa\0Tb\0").collect();
        assert_eq!(v, vec![&b"u1"[..], b"p2", b"Fa", b"Tb"]);
        assert_eq!(records(b"").count(), 0);
    }
}
