//! qmail-pop3d: serve a Maildir by POP3 after qmail-popup and the
//! checkpassword program have logged the user in (qmail-pop3d(8)). The
//! session lives in `sqmail::pop3::pop3d`.

#![forbid(unsafe_code)]

fn main() {
    sqmail::exit::run_with("qmail-pop3d", 0, || {
        let maildir = std::env::args_os().nth(1);
        sqmail::pop3::pop3d::serve(maildir.as_deref())
    })
}
