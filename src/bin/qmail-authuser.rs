//! qmail-authuser: a checkpassword program. Reads `user\0password\0
//! challenge\0` from fd 3, checks it against `users/authuser` and its
//! backends (system accounts, vmailmgr, vpopmail, Dovecot), and on
//! success runs the subprogram. Exit 1 = wrong credentials, 2 = misuse,
//! 111 = temporary trouble.

#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use sqmail::exit::Die;
use sqmail::smtpd::authuser::{self, Credentials};
use sqmail::smtpd::child::run_with_fd3;
use sqmail::{home, passwd, sys};

const NO: i32 = 1;
const MISUSE: i32 = 2;
const TEMP: i32 = sqmail::exit::TEMP;

fn quiet(code: i32) -> Die {
    Die::quiet(code)
}

/// Private homes may point the system backend at other files (tests).
fn system_files() -> (String, String) {
    let pick = |var: &str, default: &str| match std::env::var(var) {
        Ok(v) if home::private_mode() && !v.is_empty() => v,
        _ => default.to_string(),
    };
    (
        pick("AUTHUSER_PASSWD", "/etc/passwd"),
        pick("AUTHUSER_SHADOW", "/etc/shadow"),
    )
}

/// `?` and `!`: the system account's crypt hash.
fn system_check(c: &Credentials) -> Result<(), Die> {
    let userid = c.user.split('@').next().unwrap_or("");
    let (pw, sh) = system_files();
    let hash = authuser::system_hash(userid, &pw, &sh)
        .map_err(|_| quiet(TEMP))?
        .ok_or_else(|| quiet(NO))?;
    if hash.is_empty() {
        return Err(quiet(TEMP));
    }
    match sys::crypt(&c.secret, hash.as_bytes()) {
        Some(h) if authuser::ct_eq(&h, hash.as_bytes()) => Ok(()),
        _ => Err(quiet(NO)),
    }
}

/// `!`: become the user (unless in a private home) for qmail-pop3d, the
/// account taken from the passwd file the password was checked against.
fn become_user(c: &Credentials, sub: &mut Command) -> Result<(), Die> {
    let userid = c.user.split('@').next().unwrap_or("");
    let (passwd_file, _) = system_files();
    let pw = passwd::user_by_name_in(&passwd_file, userid)
        .map_err(|_| quiet(TEMP))?
        .ok_or_else(|| quiet(NO))?;
    if !home::private_mode() {
        sys::set_ids(pw.uid, pw.gid).map_err(|_| quiet(TEMP))?;
    }
    std::env::set_current_dir(&pw.dir).map_err(|_| quiet(TEMP))?;
    sub.env("USER", &pw.name)
        .env("HOME", &pw.dir)
        .env("SHELL", &pw.shell);
    Ok(())
}

/// `+`, `&`: hand the original block to a helper checkpassword.
fn helper(prog: &str, args: &[&str], block: &[u8]) -> Result<(), Die> {
    let mut cmd = Command::new(prog);
    cmd.args(args);
    match run_with_fd3(&mut cmd, block) {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(quiet(s.code().unwrap_or(TEMP))),
        Err(_) => Err(quiet(TEMP)),
    }
}

fn authuser() -> Result<(), Die> {
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let mut socket = None;
    let mut auth_info: Option<OsString> = None;
    if args.first().is_some_and(|a| a.eq_ignore_ascii_case("-s")) {
        if args.len() < 3 {
            return Err(quiet(MISUSE));
        }
        socket = Some(args[1].clone());
        args.drain(..2);
        // `-x service=method`: Dovecot's auth_info, passed on to doveadm.
        if args.first().is_some_and(|a| a == "-x") {
            let info = args.get(1).filter(|i| i.as_encoded_bytes().contains(&b'='));
            auth_info = Some(info.ok_or_else(|| quiet(MISUSE))?.clone());
            args.drain(..2);
        }
    }
    if args.is_empty() {
        return Err(quiet(MISUSE));
    }
    let mut fd3 = sys::take_fd(3).ok_or_else(|| quiet(TEMP))?;
    let mut block = Vec::with_capacity(authuser::MAX_INPUT + 1);
    (&mut fd3)
        .take(authuser::MAX_INPUT as u64 + 1)
        .read_to_end(&mut block)
        .map_err(|_| quiet(TEMP))?;
    drop(fd3);
    let creds = authuser::parse_block(&block).ok_or_else(|| quiet(MISUSE))?;
    let home = home::home();
    let table = match std::fs::read_to_string(home.join("users/authuser")) {
        Ok(t) => authuser::parse_file(&t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(_) => return Err(quiet(TEMP)),
    };
    let token = authuser::find_token(&table, &creds.user).ok_or_else(|| quiet(NO))?;
    let mut sub = Command::new(&args[0]);
    sub.args(&args[1..]);
    match token.as_str() {
        "?" => system_check(&creds)?,
        "!" => {
            system_check(&creds)?;
            become_user(&creds, &mut sub)?;
        }
        "+" => helper("checkvpw", &["true", "Maildir"], &block)?,
        "&" => helper("vchkpw", &["true"], &block)?,
        "=" => {
            let sock = socket.ok_or_else(|| quiet(MISUSE))?;
            let mut doveadm = Command::new("doveadm");
            doveadm.args(["auth", "test", "-a"]).arg(sock);
            if let Some(info) = &auth_info {
                doveadm.arg("-x").arg(info);
            }
            let status = doveadm
                .arg(&creds.user)
                .arg(OsString::from(
                    String::from_utf8_lossy(&creds.secret).into_owned(),
                ))
                .stdout(Stdio::null())
                .status()
                .map_err(|_| quiet(TEMP))?;
            if !status.success() {
                return Err(quiet(status.code().unwrap_or(TEMP)));
            }
        }
        t if t.len() == 1 => return Err(quiet(MISUSE)),
        t => {
            if !authuser::check_secret(t, &creds) {
                return Err(quiet(NO));
            }
        }
    }
    block.iter_mut().for_each(|b| *b = 0);
    drop(creds);
    // qmail-smtpd's usual subprogram `true` (no path, no arguments) only
    // says yes: answering it here saves an exec per AUTH (qmail-authuser(8)).
    if args.len() == 1 && args[0] == "true" {
        return Ok(());
    }
    let err = sub.exec();
    let _ = err;
    Err(quiet(TEMP))
}

fn main() {
    sqmail::exit::run("qmail-authuser", authuser)
}
