//! qmail-qstat: count the messages in the queue. See man/qmail-qstat.8.

#![forbid(unsafe_code)]

use sqmail::exit::{Die, run};
use sqmail::home;
use sqmail::queue::check::{count_split, err_text};

fn main() {
    run("qmail-qstat", || {
        let queue = home::home().join("queue");
        let count = |dir: &str| {
            count_split(&queue.join(dir))
                .map_err(|e| Die::temp(format!("unable to read queue/{dir}: {}", err_text(&e))))
        };
        let (mess, mut todo) = (count("mess")?, count("todo")?);
        // qmail 1.03's flat todo/ID (a queue C qmail wrote) counts too.
        let strays = sqmail::queue::stray::scan(&sqmail::queue::Queue::at(queue));
        let flat = strays
            .stray
            .iter()
            .filter(|p| p.starts_with("todo/") && p.matches('/').count() == 1)
            .count() as u64;
        if flat > 0 {
            eprintln!(
                "qmail-qstat: warning: {flat} todo entries in qmail 1.03's flat layout (package/upgrade moves them)"
            );
            todo += flat;
        }
        println!("messages in queue: {mess}");
        println!("messages in queue but not yet preprocessed: {todo}");
        Ok(())
    })
}
