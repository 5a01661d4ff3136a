//! sslserver: tcpserver with TLS (rustls) in a separate relay process;
//! immediate TLS or delayed TLS through UCSPI-TLS (-n). See man/sslserver.1.

#![forbid(unsafe_code)]

use sqmail::exit::run;
use sqmail::tls::ServerFiles;
use sqmail::ucspi::read_passphrase;
use sqmail::ucspi::ssl::{self, SslOptions};

const USAGE: &str = "sslserver [ -1346UXpPhHrRoOdDqQvVeEsSnNmzZ ] [ -c limit ] [ -C perip ] [ -x rules.cdb ] [ -B banner ] [ -g gid ] [ -u uid ] [ -b backlog ] [ -l localname ] [ -t timeout ] [ -I interface ] [ -T ssltimeout ] [ -w progtimeout ] host port program [ arg ... ]";

fn main() {
    run("sslserver", || {
        let args: Vec<_> = std::env::args_os().skip(1).collect();
        let so = SslOptions::parse(&args, USAGE)?;
        let mut files = ServerFiles::from_env();
        if so.passphrase {
            files.passphrase = Some(read_passphrase()?);
        }
        let ctx = ssl::load(&so, &files)?;
        ssl::serve(&so, &files, ctx)
    })
}
