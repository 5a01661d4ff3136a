//! qmail-smtpd's logic without I/O: the command parser and state machine
//! (`session`), the DATA filter (`data`), envelope filters (`filter`,
//! `wildmat`), addresses (`addr`), AUTH (`auth`) and every reply (`reply`).
//! `src/bin/qmail-smtpd.rs` is the I/O shell around it.

pub mod addr;
pub mod auth;
pub mod authuser;
pub mod cdbmake;
pub mod child;
pub mod data;
pub mod filter;
pub mod input;
pub mod mfrules;
pub mod recipients;
pub mod reply;
pub mod session;
pub mod wildmat;

pub use session::{Action, AuthOutcome, Config, Dns, Host, RcptCheck, Session, TlsMode};
