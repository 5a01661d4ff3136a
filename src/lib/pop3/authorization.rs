//! qmail-popup's AUTHORIZATION state without I/O (qmail-popup(8)): USER and
//! PASS or APOP become the checkpassword block `user\0secret\0timestamp\0`
//! for the I/O shell to hand over; CAPA, STLS, NOOP and QUIT are answered
//! here. `UCSPITLS` decides about STLS as for qmail-smtpd: unset or `-`
//! none, `!` (also `?`, `@`) required before USER and APOP, else offered.

use crate::pop3::command::{self, Verb};
use crate::pop3::reply::{self as r, put};
use crate::smtpd::TlsMode;

/// Fixed for one connection.
#[derive(Debug, Clone)]
pub struct Config {
    /// The APOP timestamp `<pid.time@host>` of the greeting.
    pub timestamp: Vec<u8>,
    pub tls: TlsMode,
    /// sslserver -n gave us the UCSPI-TLS descriptors.
    pub stls_possible: bool,
    /// TLS from the start (POP3S under sslserver).
    pub tls_active: bool,
}

/// How the client logged in (for the log line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mech {
    Apop,
    User,
}

impl Mech {
    pub fn name(self) -> &'static str {
        match self {
            Mech::Apop => "Apop",
            Mech::User => "User",
        }
    }
}

/// A login for the checkpassword program.
#[derive(Debug, PartialEq, Eq)]
pub struct Login {
    pub mech: Mech,
    pub user: Vec<u8>,
    /// `user\0secret\0timestamp\0`: the caller zeroes it after use.
    pub block: Vec<u8>,
}

/// Work for the I/O shell.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    Continue,
    Login(Login),
    /// `+OK` is in `out`: send it, then start TLS.
    StartTls,
    Quit,
}

pub struct Authorization {
    cfg: Config,
    user: Option<Vec<u8>>,
    pub out: Vec<u8>,
}

impl Authorization {
    pub fn new(cfg: Config) -> Authorization {
        Authorization {
            cfg,
            user: None,
            out: Vec::new(),
        }
    }

    pub fn greet(&mut self) {
        self.out.extend_from_slice(b"+OK ");
        self.out.extend_from_slice(&self.cfg.timestamp);
        self.out.extend_from_slice(b"\r\n");
    }

    pub fn tls_active(&self) -> bool {
        self.cfg.tls_active
    }

    /// A login before TLS that policy forbids.
    fn needs_tls(&self) -> bool {
        self.cfg.tls.required() && !self.cfg.tls_active
    }

    fn stls_offered(&self) -> bool {
        self.cfg.tls != TlsMode::Off && self.cfg.stls_possible && !self.cfg.tls_active
    }

    pub fn line_too_long(&mut self) {
        put(&mut self.out, r::TOO_LONG);
    }

    pub fn line(&mut self, line: &[u8]) -> Action {
        let Some((verb, arg)) = command::parse(line, &mut self.out) else {
            return Action::Continue;
        };
        match verb {
            Verb::User if self.needs_tls() => put(&mut self.out, r::TLS_REQUIRED),
            Verb::User if arg.is_empty() => put(&mut self.out, r::SYNTAX),
            Verb::User => {
                self.user = Some(arg.to_vec());
                put(&mut self.out, r::OK);
            }
            Verb::Pass => match self.user.take() {
                None => put(&mut self.out, r::WANT_USER),
                Some(user) if arg.is_empty() => {
                    self.user = Some(user);
                    put(&mut self.out, r::SYNTAX);
                }
                Some(user) => return Action::Login(self.login(Mech::User, user, arg)),
            },
            Verb::Apop if self.needs_tls() => put(&mut self.out, r::TLS_REQUIRED),
            Verb::Apop => match arg.iter().position(|&b| b == b' ') {
                Some(i) if i > 0 && i + 1 < arg.len() => {
                    let (user, digest) = (arg[..i].to_vec(), &arg[i + 1..]);
                    return Action::Login(self.login(Mech::Apop, user, digest));
                }
                _ => put(&mut self.out, r::SYNTAX),
            },
            Verb::Capa => {
                put(&mut self.out, r::CAPA);
                put(&mut self.out, "TOP");
                put(&mut self.out, "UIDL");
                if !self.needs_tls() {
                    put(&mut self.out, "USER");
                }
                if self.stls_offered() {
                    put(&mut self.out, "STLS");
                }
                put(&mut self.out, ".");
            }
            Verb::Stls if self.stls_offered() => {
                put(&mut self.out, r::STLS_GO);
                return Action::StartTls;
            }
            Verb::Stls => put(&mut self.out, r::STLS_UNAVAILABLE),
            Verb::Noop => put(&mut self.out, r::OK),
            Verb::Quit => {
                put(&mut self.out, r::OK);
                return Action::Quit;
            }
            _ => put(&mut self.out, r::AUTH_FIRST),
        }
        Action::Continue
    }

    fn login(&self, mech: Mech, user: Vec<u8>, secret: &[u8]) -> Login {
        let mut block = Vec::with_capacity(user.len() + secret.len() + 64);
        for part in [&user[..], secret, &self.cfg.timestamp] {
            block.extend_from_slice(part);
            block.push(0);
        }
        Login { mech, user, block }
    }

    /// TLS is on: a USER given before it is forgotten (RFC 2595 §4).
    pub fn tls_started(&mut self) {
        self.cfg.tls_active = true;
        self.user = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(tls: TlsMode, stls_possible: bool, tls_active: bool) -> Authorization {
        let mut a = Authorization::new(Config {
            timestamp: b"<1.2@pop.example>".to_vec(),
            tls,
            stls_possible,
            tls_active,
        });
        a.greet();
        assert_eq!(reply(&mut a), "+OK <1.2@pop.example>\r\n");
        a
    }

    fn reply(a: &mut Authorization) -> String {
        String::from_utf8(std::mem::take(&mut a.out)).unwrap()
    }

    fn cmd(a: &mut Authorization, line: &[u8]) -> (Action, String) {
        let act = a.line(line);
        (act, reply(a))
    }

    #[test]
    fn user_pass_and_apop() {
        let mut a = session(TlsMode::Off, false, false);
        assert_eq!(cmd(&mut a, b"PASS x").1, "-ERR USER first\r\n");
        assert_eq!(cmd(&mut a, b"USER").1, "-ERR syntax error\r\n");
        assert_eq!(cmd(&mut a, b"user joe\r").1, "+OK \r\n");
        assert_eq!(cmd(&mut a, b"PASS").1, "-ERR syntax error\r\n");
        let (act, out) = cmd(&mut a, b"PASS se cret");
        assert_eq!(out, "");
        assert_eq!(
            act,
            Action::Login(Login {
                mech: Mech::User,
                user: b"joe".to_vec(),
                block: b"joe\0se cret\0<1.2@pop.example>\0".to_vec(),
            })
        );
        let (act, _) = cmd(&mut a, b"APOP joe c4c9334bac560ecc979e58001b3e22fb");
        let Action::Login(l) = act else { panic!() };
        assert_eq!(l.mech, Mech::Apop);
        assert_eq!(
            l.block,
            b"joe\0c4c9334bac560ecc979e58001b3e22fb\0<1.2@pop.example>\0"
        );
        for bad in [&b"APOP joe"[..], b"APOP joe ", b"APOP  x", b"APOP"] {
            assert_eq!(
                cmd(&mut a, bad),
                (Action::Continue, "-ERR syntax error\r\n".into())
            );
        }
    }

    #[test]
    fn bad_input_before_auth() {
        let mut a = session(TlsMode::Off, false, false);
        for line in [
            &b"STAT"[..],
            b"RETR 1",
            b"DELE 1",
            b"LIST",
            b"\xff\xfe",
            b"",
        ] {
            assert_eq!(
                cmd(&mut a, line),
                (Action::Continue, "-ERR authorization first\r\n".into())
            );
        }
        assert_eq!(cmd(&mut a, b"USER a\0b").1, "-ERR syntax error\r\n");
        assert_eq!(cmd(&mut a, b"NOOP").1, "+OK \r\n");
        assert_eq!(cmd(&mut a, b"QUIT"), (Action::Quit, "+OK \r\n".into()));
    }

    #[test]
    fn stls_only_when_possible_and_once() {
        let capa = |a: &mut Authorization| cmd(a, b"CAPA").1;
        // UCSPITLS unset, or set without sslserver -n: no STLS.
        for mut a in [
            session(TlsMode::Off, true, false),
            session(TlsMode::Offered, false, false),
        ] {
            assert_eq!(
                capa(&mut a),
                "+OK capability list follows\r\nTOP\r\nUIDL\r\nUSER\r\n.\r\n"
            );
            assert_eq!(cmd(&mut a, b"STLS").1, "-ERR STLS not available\r\n");
        }
        let mut a = session(TlsMode::Offered, true, false);
        assert!(capa(&mut a).ends_with("USER\r\nSTLS\r\n.\r\n"));
        assert_eq!(cmd(&mut a, b"USER joe").1, "+OK \r\n");
        assert_eq!(
            cmd(&mut a, b"stls"),
            (Action::StartTls, "+OK starting TLS negotiation\r\n".into())
        );
        a.tls_started();
        assert!(!capa(&mut a).contains("STLS"));
        assert_eq!(cmd(&mut a, b"STLS").1, "-ERR STLS not available\r\n");
        assert_eq!(
            cmd(&mut a, b"PASS x").1,
            "-ERR USER first\r\n",
            "USER forgotten"
        );
    }

    #[test]
    fn tls_required_refuses_cleartext_logins() {
        let mut a = session(TlsMode::Required, true, false);
        assert_eq!(
            capa_of(&mut a),
            "+OK capability list follows\r\nTOP\r\nUIDL\r\nSTLS\r\n.\r\n"
        );
        for line in [&b"USER joe"[..], b"APOP joe 0123"] {
            assert_eq!(
                cmd(&mut a, line).1,
                "-ERR TLS required but not negotiated\r\n"
            );
        }
        assert_eq!(cmd(&mut a, b"PASS x").1, "-ERR USER first\r\n");
        assert_eq!(cmd(&mut a, b"STLS").0, Action::StartTls);
        a.tls_started();
        assert_eq!(cmd(&mut a, b"USER joe").1, "+OK \r\n");
        assert!(matches!(cmd(&mut a, b"PASS x").0, Action::Login(_)));
        // POP3S: TLS from the start.
        let mut a = session(TlsMode::Required, false, true);
        assert_eq!(cmd(&mut a, b"USER joe").1, "+OK \r\n");
    }

    fn capa_of(a: &mut Authorization) -> String {
        cmd(a, b"CAPA").1
    }
}
