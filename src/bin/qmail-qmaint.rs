//! qmail-qmaint: check the queue's consistency, fix it interactively,
//! remove a message or the DKIM staging files. See man/qmail-qmaint.8.

#![forbid(unsafe_code)]

use std::io::{self, Write};

use sqmail::exit::{Die, run};
use sqmail::queue::check::{self, Ask, Check, Terminal, code, err_text};
use sqmail::{home, queue};

const USAGE: &str = "qmail-qmaint [ -i ] | [ -d messid ] [ -D ]";

enum Mode {
    Inspect { interactive: bool },
    Delete(u64),
    Dkim,
}

fn parse(args: &[String]) -> Result<Mode, Die> {
    let usage = || Die::usage(USAGE);
    match args {
        [] => Ok(Mode::Inspect { interactive: false }),
        [a] if a == "-i" => Ok(Mode::Inspect { interactive: true }),
        [a] if a == "-D" => Ok(Mode::Dkim),
        [a, id] if a == "-d" => Ok(Mode::Delete(
            queue::parse_id(id.trim_start_matches('#')).ok_or_else(usage)?,
        )),
        [a] if a.starts_with("-d") && a.len() > 2 => parse(&["-d".to_string(), a[2..].to_string()]),
        _ => Err(usage()),
    }
}

fn main() {
    run("qmail-qmaint", || {
        let args = sqmail::getopt::args_lossy();
        let mode = parse(&args)?;
        let queue = home::home().join("queue");
        std::env::set_current_dir(&queue).map_err(|e| {
            Die::new(
                code::INACCESSIBLE,
                format!("unable to chdir to {}: {}", queue.display(), err_text(&e)),
            )
        })?;
        let destructive = !matches!(mode, Mode::Inspect { interactive: false });
        if destructive && check::send_running() {
            return Err(Die::new(
                code::FAILED,
                "qmail-send is running: stop it first",
            ));
        }
        match mode {
            Mode::Inspect { interactive } => {
                let owners = check::owners().map_err(|e| {
                    Die::temp(format!("unable to read the qmail users: {}", err_text(&e)))
                })?;
                let mut terminal = Terminal;
                let stdout = io::stdout();
                let mut out = stdout.lock();
                let ask: Option<&mut dyn Ask> =
                    interactive.then_some(&mut terminal as &mut dyn Ask);
                let mut check = Check::new(owners, ask, &mut out);
                check.run();
                let code = check.exit_code();
                let _ = out.flush();
                if code == 0 {
                    Ok(())
                } else {
                    Err(Die::quiet(code))
                }
            }
            Mode::Delete(id) => {
                check::delete(id).map_err(|t| Die::new(code::FAILED, t))?;
                println!("message #{id} removed.");
                Ok(())
            }
            Mode::Dkim => {
                let n = check::clear_dkim().map_err(|e| {
                    Die::new(
                        code::FAILED,
                        format!("unable to clear dkim: {}", err_text(&e)),
                    )
                })?;
                println!("{n} files removed from the DKIM staging area.");
                Ok(())
            }
        }
    })
}
