//! sqmail: the shared library of the s/qmail programs.
//!
//! A newcomer goes man page → `src/bin/<prog>.rs` → the one module it names.
//! Modules are listed leaf first: each uses only modules above it, and
//! there are no cycles (`module_order`'s tests check both).

#![deny(unsafe_code)]

// The system calls std lacks, and plain data: names, dates, envelopes,
// control files, exit codes, the home and the user database.
#[allow(unsafe_code)]
pub mod sys;

pub mod address;
pub mod auto;
pub mod bytescan;
pub mod codec;
pub mod control;
pub mod date;
pub mod envelope;
pub mod environment;
pub mod fsutil;
pub mod netstring;
pub mod passwd;
pub mod printable;
pub mod sockaddr;

pub mod cdb;
pub mod exit;
pub mod getopt;
pub mod home;
pub mod received;
pub mod timeoutio;
pub mod users;

// Protocol helpers: DNS (with DNSSEC), SPF, TLS.
pub mod dns;
pub mod spf;
pub mod tls;

// The queue: its layout, the writer behind qmail-queue, the client that
// feeds it, the inode pool, qmail-clean and the checks of qread/qstat/qmaint.
pub mod queue;

// DMARC: the From domain's policy applied to SPF and DKIM results.
pub mod dmarc;

// DKIM: signing and verification, qmail-dkim, and the qmail-dkverify
// (a qmail-queue front) and qmail-dksign (a qmail-remote front) programs.
pub mod dkim;

// qmail-showctl's report of the configuration.
pub mod showctl;

// Reading the logs: qmailanalog's matchup and reports, qmail-metrics.
pub mod analog;

// The programs' logic: injection, the greylisting client, the UCSPI
// network toolkit (tcpserver, sslserver, ...) and the SMTP server on it.
pub mod inject;
pub mod postgrey;
pub mod ucspi;

// (After ucspi, which it uses: rustfmt sorts a group, so smtpd stands alone.)
pub mod smtpd;

// QMTP and QMQP servers and the QMQP client (after smtpd, whose relay
// lists they share).
pub mod qmtp;

// Delivery: qmail-remote, qmail-local's logic (run in-process by
// qmail-lspawn), and qmail-send with qmail-todo, qmail-start and the
// lspawn/rspawn delivery engine.
pub mod local;
pub mod remote;
pub mod send;

// POP3: qmail-popup and qmail-pop3d (after smtpd, whose line buffer,
// fd-3 child and UCSPITLS modes they share, and local's Maildir).
pub mod pop3;
// SRS (srsforward, srsreverse): after local, whose forwarding it uses.
pub mod srs;

/// The loud skip of tests that miss a peer program (unit tests and `t/`).
#[doc(hidden)]
pub mod testing;

#[cfg(test)]
mod module_order;
