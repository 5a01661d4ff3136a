//! qmail-inject and sendmail in a private home whose QMAILQUEUE is a fake
//! that saves what it was given.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Output;

use crate::common::{QmailHome, run_with_input};

/// A private home whose QMAILQUEUE is a script saving fd 0 to `msg` and
/// fd 1 to `env`, then exiting with `code`.
pub struct Fake {
    pub h: QmailHome,
    queue: PathBuf,
}

impl Fake {
    pub fn new(name: &str, code: i32) -> Fake {
        let h = QmailHome::new(name);
        h.control("me", "me.example\n");
        h.control("defaultdomain", "dom.example\n");
        let queue = h.path("fake-queue");
        let script = format!(
            "#!/bin/sh\ncat > '{d}/msg' && cat <&1 > '{d}/env' && echo \"$PWD\" > '{d}/cwd'\nexit {code}\n",
            d = h.dir.display()
        );
        fs::write(&queue, script).unwrap();
        fs::set_permissions(&queue, fs::Permissions::from_mode(0o755)).unwrap();
        Fake { h, queue }
    }

    /// Runs `prog args` with `env` set and `input` on stdin.
    pub fn run(&self, prog: &str, args: &[&str], env: &[(&str, &str)], input: &str) -> Output {
        let mut c = self.h.cmd(prog);
        c.env("QMAILQUEUE", &self.queue).args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        run_with_input(&mut c, input.as_bytes())
    }

    pub fn inject(&self, args: &[&str], env: &[(&str, &str)], input: &str) -> Output {
        self.run("qmail-inject", args, env, input)
    }

    /// The saved message.
    pub fn msg(&self) -> String {
        String::from_utf8(fs::read(self.h.path("msg")).unwrap()).unwrap()
    }

    /// The saved envelope, NULs shown as `|`.
    pub fn env(&self) -> String {
        String::from_utf8(fs::read(self.h.path("env")).unwrap())
            .unwrap()
            .replace('\0', "|")
    }

    /// Whether the fake queue saved an envelope (it read the whole message).
    pub fn saved_envelope(&self) -> bool {
        self.h.path("env").exists()
    }
}
