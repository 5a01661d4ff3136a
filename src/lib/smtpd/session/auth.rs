//! The AUTH dialogue of a session (RFC 4954, qmail-smtpd(8)): mechanism
//! checks, the 334 prompts, decoding, and the checkprogram's answer.

use super::{Action, Host, Session, lossy};
use crate::smtpd::auth::{self, Mech};
use crate::smtpd::reply as r;

/// Credentials for the checkprogram; the secret is zeroed on drop.
#[derive(Debug, PartialEq, Eq)]
pub struct AuthRequest {
    pub mech: Mech,
    pub user: Vec<u8>,
    pub secret: Vec<u8>,
    pub challenge: Vec<u8>,
}

impl AuthRequest {
    /// The fd-3 block: `user\0secret\0challenge\0`.
    pub fn block(&self) -> Vec<u8> {
        let mut b =
            Vec::with_capacity(self.user.len() + self.secret.len() + self.challenge.len() + 3);
        for f in [&self.user, &self.secret, &self.challenge] {
            b.extend_from_slice(f);
            b.push(0);
        }
        b
    }
}

impl Drop for AuthRequest {
    fn drop(&mut self) {
        self.secret.iter_mut().for_each(|b| *b = 0);
    }
}

/// The checkprogram's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthOutcome {
    Ok,
    Failed,
    /// A child problem: the 454 text.
    Trouble(&'static str),
}

#[derive(Debug)]
pub(super) enum AuthStep {
    LoginUser,
    LoginPass(Vec<u8>),
    Plain,
    Cram(Vec<u8>),
}

impl Session {
    pub(super) fn auth(&mut self, arg: &[u8]) -> Action {
        if !self.cfg.auth.enabled() || !self.cfg.checkprogram {
            self.reply(r::AUTH_UNAVAILABLE);
            return Action::Continue;
        }
        if self.cfg.tls.required() && !self.tls_active {
            self.reply(r::TLS_REQUIRED);
            return Action::Continue;
        }
        // RFC 4954: AUTH is an ESMTP extension, offered only after EHLO
        // (and after the EHLO that must follow STARTTLS).
        if !self.ehlo {
            self.reply(r::EHLO_FIRST);
            return Action::Continue;
        }
        if self.authed > 0 {
            self.reply(r::AUTH_ALREADY);
            return Action::Continue;
        }
        if self.seenmail {
            self.reply(r::AUTH_IN_MAIL);
            return Action::Continue;
        }
        let (word, initial) = match crate::bytescan::find(b' ', arg) {
            Some(sp) => (&arg[..sp], Some(arg[sp..].trim_ascii())),
            None => (arg, None),
        };
        let Some(mech) = Mech::parse(word) else {
            self.reply(r::AUTH_TYPE);
            return Action::Continue;
        };
        if !self.cfg.auth.allows(mech) {
            if mech == Mech::CramMd5 {
                self.reply(r::AUTH_TYPE);
            } else {
                self.reply(r::AUTH_FAILED);
                self.log_line("Reject::AUTH::Auth_Meth", None, " ?~ 'none'");
            }
            return Action::Continue;
        }
        let initial = initial.filter(|i| !i.is_empty());
        match (mech, initial) {
            (Mech::Login, None) => {
                self.auth_step = Some((mech, AuthStep::LoginUser));
                self.reply(r::LOGIN_USER);
            }
            (Mech::Plain, None) => {
                self.auth_step = Some((mech, AuthStep::Plain));
                self.reply(r::PLAIN_PROMPT);
            }
            (Mech::CramMd5, _) => {
                let ch = format!(
                    "<{}.{}@{}>",
                    self.cfg.pid,
                    crate::date::now_secs(),
                    self.cfg.local_host
                );
                let t = format!("334 {}", auth::b64_encode(ch.as_bytes()));
                self.reply(&t);
                self.auth_step = Some((mech, AuthStep::Cram(ch.into_bytes())));
            }
            (Mech::Login, Some(i)) => {
                self.auth_step = Some((mech, AuthStep::LoginUser));
                return self.auth_continue(i);
            }
            (Mech::Plain, Some(i)) => {
                self.auth_step = Some((mech, AuthStep::Plain));
                return self.auth_continue(i);
            }
        }
        Action::Continue
    }

    /// A line over the length limit inside the exchange ends it: the next
    /// lines are commands again, never credentials.
    pub(super) fn auth_abort_too_long(&mut self) {
        self.auth_step = None;
        self.reply(r::AUTH_MALFORMED);
    }

    pub(super) fn auth_continue(&mut self, line: &[u8]) -> Action {
        let Some((mech, step)) = self.auth_step.take() else {
            return Action::Continue;
        };
        if line == b"*" {
            self.reply(r::AUTH_CANCELED);
            return Action::Continue;
        }
        let Some(dec) = auth::b64_decode(line).filter(|d| !d.is_empty()) else {
            self.reply(r::AUTH_MALFORMED);
            return Action::Continue;
        };
        let (user, secret, challenge) = match step {
            // A NUL would end the field in the checkpassword block.
            AuthStep::LoginUser | AuthStep::LoginPass(_) if auth::has_nul(&dec) => {
                self.reply(r::AUTH_MALFORMED);
                return Action::Continue;
            }
            AuthStep::LoginUser => {
                self.auth_step = Some((mech, AuthStep::LoginPass(dec)));
                self.reply(r::LOGIN_PASS);
                return Action::Continue;
            }
            AuthStep::LoginPass(user) => (user, dec, Vec::new()),
            AuthStep::Plain => match auth::split_plain(&dec) {
                Some((u, p)) => (u, p, Vec::new()),
                None => (Vec::new(), Vec::new(), Vec::new()),
            },
            AuthStep::Cram(ch) => match auth::split_cram(&dec) {
                Some((u, d)) => (u, d, ch),
                None => (Vec::new(), Vec::new(), Vec::new()),
            },
        };
        if user.is_empty() || secret.is_empty() {
            self.reply(r::AUTH_MALFORMED);
            return Action::Continue;
        }
        Action::Auth(AuthRequest {
            mech,
            user,
            secret,
            challenge,
        })
    }

    /// The checkprogram has answered (after its 5-second pause on failure).
    pub fn auth_finished(
        &mut self,
        mech: Mech,
        user: &[u8],
        outcome: AuthOutcome,
        host: &mut dyn Host,
    ) {
        let user = lossy(user);
        match outcome {
            AuthOutcome::Ok => {
                self.authed = 1;
                self.auth_mech = Some(mech);
                self.auth_user = user.clone();
                self.relay = Some(String::new());
                self.remote_info = Some(user.clone());
                host.export("AUTHUSER", &user);
                host.export("AUTHPROTOCOL", mech.name());
                host.export("TCPREMOTEINFO", &user);
                self.reply(r::AUTH_OK);
            }
            AuthOutcome::Failed => {
                self.reply(r::AUTH_FAILED);
                let what = format!("Reject::AUTH::{}", mech.name());
                self.log_line(&what, None, &format!(" ?~ '{user}'"));
            }
            AuthOutcome::Trouble(t) => self.reply(t),
        }
    }
}
