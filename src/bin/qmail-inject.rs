//! qmail-inject: prepare a message (header rewriting, added fields, the
//! envelope) and hand it to qmail-queue. See man/qmail-inject.8 and
//! man/qmail-header.5; the logic lives in `sqmail::inject`.

#![forbid(unsafe_code)]

use std::io::{self, BufReader, Write};
use std::os::unix::ffi::OsStringExt;

use sqmail::exit::{Die, run};
use sqmail::getopt::{self, GetOpt, Opt};
use sqmail::inject::{Identity, Inject, copy_body};
use sqmail::queue::client::QueueClient;
use sqmail::{date, home};

const PROG: &str = "qmail-inject";

/// Where the recipients come from (-a, -h, -A, -H).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Recipients {
    Args,
    Header,
    ArgsElseHeader,
    Both,
}

fn main() {
    run(PROG, real_main)
}

fn real_main() -> Result<(), Die> {
    let start = date::now_secs();
    let home = home::home();
    let mut inj = Inject::new(&home, Identity::from_env(), start, std::process::id());

    let args: Vec<Vec<u8>> = std::env::args_os().skip(1).map(|a| a.into_vec()).collect();
    let mut from = Recipients::ArgsElseHeader;
    let mut queue = true;
    let mut opts = GetOpt::new(&args, b"aAhHnNf:");
    for o in opts.by_ref() {
        match o {
            Opt::Flag(b'a', _) => from = Recipients::Args,
            Opt::Flag(b'A', _) => from = Recipients::ArgsElseHeader,
            Opt::Flag(b'h', _) => from = Recipients::Header,
            Opt::Flag(b'H', _) => from = Recipients::Both,
            Opt::Flag(b'n', _) => queue = false,
            Opt::Flag(b'N', _) => queue = true,
            Opt::Flag(b'f', Some(s)) => inj.set_sender(&s)?,
            o => {
                let _ = writeln!(io::stderr(), "{}", getopt::problem(PROG, &o));
                return Err(Die::quiet(sqmail::exit::PERM));
            }
        }
    }
    let operands = opts.operands();
    if from == Recipients::ArgsElseHeader {
        from = if operands.is_empty() {
            Recipients::Header
        } else {
            Recipients::Args
        };
    }
    if from != Recipients::Header {
        for a in operands {
            inj.add_recipient(a)?;
        }
    }

    let mut input = BufReader::with_capacity(64 * 1024, io::stdin());
    let body_start = inj.read_header(&mut input)?;
    let head = inj.finish_header(!queue)?;

    if !queue {
        let mut out = io::BufWriter::with_capacity(64 * 1024, io::stdout().lock());
        let mut failed = out
            .write_all(&head)
            .and(out.write_all(&body_start))
            .is_err();
        copy_body(&mut input, |b| failed |= out.write_all(b).is_err())?;
        if failed || out.flush().is_err() {
            return Err(Die::temp("unable to write output"));
        }
        return Ok(());
    }

    let mut qq = QueueClient::start(&home).map_err(|_| Die::temp("unable to run qmail-queue"))?;
    qq.write_all(&head);
    qq.write_all(&body_start);
    copy_body(&mut input, |b| qq.write_all(b))?;
    let envelope = inj.envelope(from != Recipients::Args);
    qq.finish(&envelope)
        .map_err(|e| Die::new(sqmail::exit::class_code(e.is_permanent()), e.text()))
}
