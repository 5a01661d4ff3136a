//! qmail-smtpam: a recipient PAM (qmail-recipients(8)) that asks another
//! SMTP server whether it would take the address given on fd 3 as
//! `address\0\0\0`. Exit 0 it would, 1 it would not, 111 no answer; the
//! reason goes to fd 2 (qmail-smtpd gives PAMs /dev/null as fd 1).

#![forbid(unsafe_code)]

use std::io::{Read, Write};

use sqmail::exit::{Die, TEMP};
use sqmail::remote::verify::{self, Verdict};

const USAGE: &str = "qmail-smtpam: usage: qmail-smtpam host [port]";
/// Longer than any address qmail-smtpd accepts.
const MAX_INPUT: u64 = 1024;

/// The address: the bytes before the first NUL on fd 3.
fn address() -> Result<Vec<u8>, Die> {
    let fd3 = sqmail::sys::take_fd(3)
        .ok_or_else(|| Die::temp("unable to read the address from descriptor 3"))?;
    let mut buf = Vec::new();
    fd3.take(MAX_INPUT + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Die::sys("read the address from descriptor 3", e))?;
    match memchr::memchr(0, &buf) {
        Some(i) => {
            buf.truncate(i);
            Ok(buf)
        }
        None => Err(Die::temp(
            "the address on descriptor 3 is not NUL-terminated or too long",
        )),
    }
}

fn smtpam() -> Result<(), Die> {
    let args = sqmail::getopt::args_lossy();
    // A broken PAM line must not reject mail: usage is 111 (a 421).
    let (host, port) = match args.as_slice() {
        [h] => (h, None),
        [h, p] => (
            h,
            Some(p.parse::<u16>().map_err(|_| Die::new(TEMP, USAGE))?),
        ),
        _ => return Err(Die::new(TEMP, USAGE)),
    };
    let addr = address()?;
    let say = |code: i32, text: &[u8]| {
        let mut e = std::io::stderr().lock();
        let _ = e.write_all(b"qmail-smtpam: ");
        // One log line: the reply's line breaks as spaces.
        let one: Vec<u8> = text
            .trim_ascii_end()
            .iter()
            .map(|&b| if b == b'\n' { b' ' } else { b })
            .collect();
        let _ = e.write_all(&sqmail::printable::bytes(
            &one,
            sqmail::printable::ascii,
            b'?',
        ));
        let _ = e.write_all(b"\n");
        Die::quiet(code)
    };
    match verify::verify(&sqmail::home::home(), host, port, &addr) {
        Verdict::Exists => Ok(()),
        Verdict::Unknown(t) => Err(say(1, &t)),
        Verdict::Temp(t) => Err(say(TEMP, &t)),
    }
}

fn main() {
    sqmail::exit::run("qmail-smtpam", smtpam)
}
