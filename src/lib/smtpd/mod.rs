//! qmail-smtpd: the command parser and state machine without I/O
//! (`session`), its configuration (`config`), the connection that does the
//! I/O (`conn`), the DATA filter (`data`), envelope filters (`filter`,
//! `wildmat`), addresses (`addr`), AUTH (`auth`) and every reply (`reply`).

pub mod addr;
pub mod auth;
pub mod authuser;
pub mod cdbmake;
pub mod child;
pub mod config;
pub mod conn;
pub mod data;
pub mod filter;
pub mod input;
pub mod mfrules;
pub mod recipients;
pub mod reply;
pub mod session;
pub mod vmailuser;
pub mod wildmat;

pub use session::{Action, AuthOutcome, Config, Dns, Host, RcptCheck, Session, TlsMode};
