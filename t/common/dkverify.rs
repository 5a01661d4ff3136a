//! qmail-dkverify run as qmail-smtpd would run it: the message on
//! descriptor 0, the envelope on descriptor 1, and a stand-in qmail-queue
//! ($DKIMQUEUE) that keeps what it is given.

use std::process::Stdio;

use crate::common::{QmailHome, script};

/// Runs qmail-dkverify in `h` with `env` (DNSCACHEIP, DKIM, DMARC, ...)
/// on `input`; gives its exit code and the message the queue got (`None`
/// when the queue was not run). The envelope must reach the queue intact.
pub fn dkverify(
    h: &QmailHome,
    env: &[(&str, &str)],
    input: &[u8],
) -> (Option<i32>, Option<Vec<u8>>) {
    let q = h.path("fake-queue");
    let (queued, envelope_out) = (h.path("queued"), h.path("envelope"));
    let _ = std::fs::remove_file(&queued);
    script(
        &q,
        &format!(
            "cat > {}\ncat <&1 > {}",
            queued.display(),
            envelope_out.display()
        ),
    );
    let envelope = h.path("envelope.in");
    std::fs::write(&envelope, b"Fjoe@example.com\0Tb@example.net\0\0").unwrap();
    let mut child = h
        .cmd("qmail-dkverify")
        .env("DKIMQUEUE", &q)
        .env("QMAILQUEUE", "bin/qmail-dkverify")
        .envs(env.iter().copied())
        .stdout(std::fs::File::open(&envelope).unwrap())
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    let w = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &data));
    let status = child.wait().unwrap();
    let _ = w.join();
    let got = std::fs::read(&queued).ok();
    if got.is_some() {
        assert_eq!(
            std::fs::read(&envelope_out).unwrap(),
            b"Fjoe@example.com\0Tb@example.net\0\0"
        );
    }
    (status.code(), got)
}
