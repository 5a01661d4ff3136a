//! A scratch root for install tests (see scratch_root.sh): as root, in
//! mount, network, pid and UTS namespaces of their own, so an install to
//! /var/qmail, /service and /usr/sbin touches nothing of the host and no
//! daemon outlives the test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::{fresh_dir, skip};

/// Runs `body` (sh) as root in a fresh scratch root; the source tree is at
/// its own path inside. None (after a loud skip) when this is impossible
/// here. The root's files stay under the returned directory's `root/`.
pub fn run(name: &str, body: &str) -> Option<(Output, PathBuf)> {
    run_with(name, body, &[])
}

/// `run` with more trees readable inside, at their own paths.
pub fn run_with(name: &str, body: &str, binds: &[&Path]) -> Option<(Output, PathBuf)> {
    if sqmail::sys::getuid() != 0 {
        skip("install tests in a scratch root need root");
        return None;
    }
    let can = Command::new("unshare")
        .args(["-m", "-n", "-p", "-u", "--fork", "true"])
        .status();
    if !can.is_ok_and(|s| s.success()) {
        skip("no namespaces here (unshare -m -n -p -u refused)");
        return None;
    }
    let dir = fresh_dir(name);
    let out = Command::new("unshare")
        .args(["-m", "-n", "-p", "-u", "--fork", "sh", "-c"])
        .arg(include_str!("scratch_root.sh"))
        .arg("scratch_root")
        .arg(&dir)
        .arg(env!("CARGO_MANIFEST_DIR"))
        .arg(body)
        .env("SQMAIL_BIN", super::bin_dir())
        .env(
            "SCRATCH_BIND",
            binds
                .iter()
                .map(|p| p.to_string_lossy())
                .collect::<Vec<_>>()
                .join(":"),
        )
        .output();
    match out {
        Ok(o) => Some((o, dir)),
        Err(e) => {
            skip(&format!("unshare: {e}"));
            None
        }
    }
}

/// A path inside the scratch root of `dir`.
pub fn inside(dir: &Path, path: &str) -> PathBuf {
    dir.join("root").join(path.trim_start_matches('/'))
}

/// sh for a scratch root: C qmail's accounts (groups nofiles and qmail)
/// and notqmail built from the source tree `src` (bound inside) and
/// installed in /var/qmail by its `make setup check`.
pub fn notqmail_setup(src: &Path) -> String {
    format!(
        r#"
groupadd nofiles; groupadd qmail
useradd -g nofiles -d /var/qmail/alias -M -s /bin/false alias
for u in qmaild qmaill qmailp; do useradd -g nofiles -d /var/qmail -M -s /bin/false $u; done
for u in qmailq qmailr qmails; do useradd -g qmail -d /var/qmail -M -s /bin/false $u; done
cp -r {} /tmp/nq
cd /tmp/nq
make clean > /dev/null 2>&1 || :
echo /var/qmail > conf-qmail
make setup check > /tmp/nq.log 2>&1 || {{ tail -30 /tmp/nq.log; exit 1; }}
"#,
        src.display()
    )
}
