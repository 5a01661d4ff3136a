//! Process-level tests: each module spawns the real programs against a
//! fresh private qmail home and checks exit codes, output and files.

mod common;

mod home_setup;
mod dns;
mod qmail_remote;
mod remote_util;
