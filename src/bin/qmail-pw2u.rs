//! qmail-pw2u: turn a passwd file (stdin) into a users/assign file
//! (stdout), by qmail-getpw's rules. See man/qmail-pw2u.8.

#![forbid(unsafe_code)]

use std::fs;
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use sqmail::control::{ConstMap, parse_list};
use sqmail::exit::Die;

/// What to do about a user's home directory.
#[derive(Clone, Copy, PartialEq, Eq)]
enum HomeCheck {
    /// -H: nothing.
    None,
    /// -h: a missing home is fatal; a foreign one is skipped.
    Stop,
    /// -o (default): skip missing and foreign homes.
    Skip,
}

struct Opts {
    dashcolon: &'static str,
    upper_ok: bool,
    home: HomeCheck,
    brk: Option<u8>,
}

const USAGE: &str = "qmail-pw2u [ -/ohHuUC ] [ -c char ]";

fn parse_opts() -> Result<Opts, Die> {
    let mut o = Opts {
        dashcolon: "-:",
        upper_ok: false,
        home: HomeCheck::Skip,
        brk: Some(sqmail::auto::BREAK),
    };
    let args = sqmail::getopt::args();
    let (opts, _) = sqmail::getopt::parse(&args, b"/ohHuUCc:", USAGE)?;
    for (c, v) in opts {
        match c {
            b'/' => o.dashcolon = "-/:",
            b'o' => o.home = HomeCheck::Skip,
            b'h' => o.home = HomeCheck::Stop,
            b'H' => o.home = HomeCheck::None,
            b'u' => o.upper_ok = true,
            b'U' => o.upper_ok = false,
            b'C' => o.brk = None,
            _ => o.brk = v.and_then(|v| v.first().copied()),
        }
    }
    Ok(o)
}

fn read_control(home: &Path, name: &str) -> Result<Option<Vec<String>>, Die> {
    match fs::read(home.join(name)) {
        Ok(b) => Ok(Some(parse_list(&String::from_utf8_lossy(&b)))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(_) => Err(Die::temp("unable to read controls")),
    }
}

fn main() {
    sqmail::exit::run("qmail-pw2u", || {
        let o = parse_opts()?;
        let home = sqmail::home::home();
        let include = read_control(&home, "users/include")?.map(|l| ConstMap::from_set(&l));
        let exclude = read_control(&home, "users/exclude")?.map(|l| ConstMap::from_set(&l));
        let mailnames = read_control(&home, "users/mailnames")?.map(|l| ConstMap::from_lines(&l));
        let mut input = Vec::new();
        io::stdin()
            .read_to_end(&mut input)
            .map_err(|_| Die::temp("unable to read input"))?;
        let input = String::from_utf8_lossy(&input);
        let mut out = BufWriter::new(io::stdout().lock());
        let mut text = String::new();
        let mut all = Vec::new();
        let mut alias = false;
        let brk = o.brk.map(|b| (b as char).to_string());
        for line in input.split_inclusive('\n') {
            let Some((user, uugh)) = account(line, &o, &include, &exclude)? else {
                continue;
            };
            if user == sqmail::auto::USER_ALIAS {
                text.push_str(&format!("+{uugh}{}:\n", o.dashcolon));
                alias = true;
            }
            let names = mailnames
                .as_ref()
                .and_then(|m| m.get(&user))
                .unwrap_or(&user)
                .to_string();
            for n in names.split(':').filter(|n| !n.is_empty()) {
                text.push_str(&format!("={n}{uugh}::\n"));
                if let Some(b) = &brk {
                    text.push_str(&format!("+{n}{b}{uugh}{}:\n", o.dashcolon));
                }
            }
            all.push(format!("{user}:{uugh}"));
        }
        if !alias {
            return Err(Die::temp(format!(
                "unable to find {} user",
                sqmail::auto::USER_ALIAS
            )));
        }
        let users = ConstMap::from_lines(&all);
        if let Some(subs) = read_raw(&home, "users/subusers")? {
            for line in subs.split_inclusive('\n') {
                let f: Vec<&str> = line.splitn(4, ':').collect();
                let [sub, user, pre, _] = f[..] else { continue };
                let uugh = users
                    .get(user)
                    .ok_or_else(|| Die::temp(format!("unable to find {user} user for subuser")))?;
                text.push_str(&format!("={sub}{uugh}{}{pre}:\n", o.dashcolon));
                if let Some(b) = &brk {
                    text.push_str(&format!("+{sub}{b}{uugh}{}{pre}-:\n", o.dashcolon));
                }
            }
        }
        if let Some(append) = read_raw(&home, "users/append")? {
            text.push_str(&append);
        }
        text.push_str(".\n");
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|_| Die::temp("unable to write output"))
    })
}

fn read_raw(home: &Path, name: &str) -> Result<Option<String>, Die> {
    match fs::read(home.join(name)) {
        Ok(b) => Ok(Some(String::from_utf8_lossy(&b).into_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(_) => Err(Die::temp("unable to read controls")),
    }
}

/// One passwd line: `(user, ":user:uid:gid:home:")` when it gets mail.
fn account(
    line: &str,
    o: &Opts,
    include: &Option<ConstMap>,
    exclude: &Option<ConstMap>,
) -> Result<Option<(String, String)>, Die> {
    if line.contains('\0') {
        return Ok(None);
    }
    let f: Vec<&str> = line.splitn(7, ':').collect();
    if f.len() < 7 {
        return Ok(None);
    }
    let (user, uid, gid, home) = (f[0], f[2], f[3], f[5]);
    let uid_n: u64 = sqmail::control::parse_leading_uint(uid).unwrap_or(0);
    if uid_n == 0
        || (!o.upper_ok && user.bytes().any(|b| b.is_ascii_uppercase()))
        || include.as_ref().is_some_and(|m| !m.contains(user))
        || exclude.as_ref().is_some_and(|m| m.contains(user))
    {
        return Ok(None);
    }
    if o.home != HomeCheck::None {
        match fs::metadata(home) {
            Ok(st) if u64::from(st.uid()) != uid_n => return Ok(None),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound && o.home == HomeCheck::Skip => {
                return Ok(None);
            }
            Err(_) => return Err(Die::temp(format!("unable to stat {home}"))),
        }
    }
    Ok(Some((
        user.to_string(),
        format!(":{user}:{uid}:{gid}:{home}:"),
    )))
}
