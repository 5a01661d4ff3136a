//! Process-level tests: each module spawns the real programs against a
//! fresh private qmail home and checks exit codes, output and files.

mod common;

mod dns;
mod home_setup;
mod qmail_remote;
mod remote_util;
