//! Process-level tests: each module spawns the real programs against a
//! fresh private qmail home and checks exit codes, output and files.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failing test panics

mod common;

mod analog;
mod args;
mod authuser_pop3;
mod cve;
mod dane;
mod dkim;
mod dmarc;
mod dns;
mod home_setup;
mod install;
mod layout;
mod local_tools;
mod make_run;
mod man_pages;
mod metrics;
mod pop3;
mod postgrey;
mod qmail_inject;
mod qmail_local;
mod qmail_queue;
mod qmail_remote;
mod qmail_send;
mod qmail_smtpd;
mod qmq;
mod qmtp;
mod qmtp_compat;
mod qmtp_net;
mod queue_pool;
mod queue_tools;
mod remote_forms;
mod remote_tls;
mod rspawn;
mod smtpam;
mod smtpd_base64;
mod smtpd_client;
mod smtpd_fuzz;
mod smtpd_policy;
mod spf;
mod spf_suite;
mod srs;
mod ucspi;
mod ucspi_tls;
mod users;
mod virtual_domain;
