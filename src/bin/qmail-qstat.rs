//! qmail-qstat: count the messages in the queue. See man/qmail-qstat.8.

#![forbid(unsafe_code)]

use sqmail::exit::{Die, run};
use sqmail::home;
use sqmail::queue::check::{count_split, count_todo, err_text};

fn main() {
    run("qmail-qstat", || {
        let queue = home::home().join("queue");
        let count = |dir: &str| {
            count_split(&queue.join(dir))
                .map_err(|e| Die::temp(format!("unable to read queue/{dir}: {}", err_text(&e))))
        };
        let mess = count("mess")?;
        let (mut todo, flat) = count_todo(&queue)
            .map_err(|e| Die::temp(format!("unable to read queue/todo: {}", err_text(&e))))?;
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
