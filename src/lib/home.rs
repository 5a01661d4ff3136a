//! The qmail home and the identities of qmail's users.
//!
//! `QMAILHOME` overrides the compiled-in home, except in a set-uid/set-gid
//! program. When not running as root ("private mode") every qmail user and
//! group is the invoking user, so a whole instance runs unprivileged.

use std::io;
use std::path::PathBuf;

use crate::{auto, passwd, sys};

/// The qmail home this process must use.
pub fn home() -> PathBuf {
    if !sys::is_setid()
        && let Some(h) = std::env::var_os("QMAILHOME")
        && !h.is_empty()
    {
        return PathBuf::from(h);
    }
    PathBuf::from(auto::HOME)
}

/// True when qmail users map to the invoking user: a program that is not
/// set-id and was given a private home with `QMAILHOME` (tests and
/// `make run`, as any user, root included). Then no program changes uid:
/// every "qmail user" and every mail user is the invoking user, and uid 0 is
/// allowed for local delivery. Without `QMAILHOME` a program is part of a
/// system install and uses the real qmail users, whatever uid it runs as
/// (qmail-rspawn runs as qmailr, qmail-send as qmails).
pub fn private_mode() -> bool {
    !sys::is_setid()
        && std::env::var_os("QMAILHOME").is_some_and(|h| !h.is_empty() && h != auto::HOME)
}

/// Numeric ids of qmail's users and groups (conf-files/users, groups).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    pub alias: u32,
    pub qmaild: u32,
    pub qmaill: u32,
    pub owner: u32,
    pub qmailp: u32,
    pub qmailq: u32,
    pub qmailr: u32,
    pub qmails: u32,
    /// The main group (`sqmail`).
    pub gid_qmail: u32,
    /// The auxiliary group (`nofiles`).
    pub gid_nofiles: u32,
}

impl Ids {
    /// Private mode: everyone is the invoking user.
    pub fn private() -> Ids {
        let (u, g) = (sys::getuid(), sys::getgid());
        Ids {
            alias: u,
            qmaild: u,
            qmaill: u,
            owner: u,
            qmailp: u,
            qmailq: u,
            qmailr: u,
            qmails: u,
            gid_qmail: g,
            gid_nofiles: g,
        }
    }

    /// The system's ids, read from /etc/passwd and /etc/group.
    pub fn system() -> io::Result<Ids> {
        let uid = |name: &str| -> io::Result<u32> {
            passwd::user_by_name(name)?
                .map(|p| p.uid)
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no user {name}")))
        };
        let gid = |name: &str| -> io::Result<u32> {
            passwd::group_by_name(name)?
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no group {name}")))
        };
        Ok(Ids {
            alias: uid(auto::USER_ALIAS)?,
            qmaild: uid(auto::USER_QMAILD)?,
            qmaill: uid(auto::USER_QMAILL)?,
            owner: uid(auto::USER_OWNER)?,
            qmailp: uid(auto::USER_QMAILP)?,
            qmailq: uid(auto::USER_QMAILQ)?,
            qmailr: uid(auto::USER_QMAILR)?,
            qmails: uid(auto::USER_QMAILS)?,
            gid_qmail: gid(auto::GROUP_QMAIL)?,
            gid_nofiles: gid(auto::GROUP_NOFILES)?,
        })
    }

    /// The ids for this process: private or system.
    pub fn current() -> io::Result<Ids> {
        if private_mode() {
            Ok(Ids::private())
        } else {
            Ids::system()
        }
    }
}
