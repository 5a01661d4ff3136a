//! sqmail: the shared library of the s/qmail programs.
//!
//! A newcomer goes man page → `src/bin/<prog>.rs` → the one module it names.
//! Leaf modules first; no cycles.

#![deny(unsafe_code)]

#[allow(unsafe_code)]
pub mod sys;

pub mod address;
pub mod auto;
pub mod bytescan;
pub mod cdb;
pub mod control;
pub mod date;
pub mod dns;
pub mod envelope;
pub mod exit;
pub mod fsutil;
pub mod home;
pub mod inject;
pub mod passwd;
pub mod postgrey;
pub mod queue;
/// The old path of `queue::client`, kept while qmail-smtpd and qmail-local
/// (edited elsewhere) still name it.
pub use queue::client as qq;
pub mod remote;
pub mod smtpd;
pub mod spf;
pub mod timeoutio;

// The UCSPI network toolkit (tcpserver, tcprules, sslserver, ...) and TLS.
pub mod tls;
pub mod ucspi;

// Local delivery: qmail-local's logic (run in-process by qmail-lspawn) and
// the user database (users/assign, users/cdb, qmail-getpw's rules).
pub mod local;
pub mod users;

// The delivery daemons: qmail-send's scheduler, qmail-todo's preprocessing,
// qmail-clean, the spawn engine of qmail-lspawn/qmail-rspawn, qmail-start.
pub mod send;
