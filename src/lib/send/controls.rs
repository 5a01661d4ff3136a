//! The control files qmail-send and qmail-todo read (qmail-control(5)).

use std::io;
use std::path::Path;

use crate::control::{ConstMap, Control};

#[derive(Debug, Clone)]
pub struct Controls {
    pub locals: ConstMap,
    pub vdoms: ConstMap,
    pub percenthack: ConstMap,
    pub envnoathost: String,
    /// concurrencylocal, concurrencyremote.
    pub concurrency: [u64; 2],
    pub queuelifetime: u64,
    pub bouncefrom: String,
    pub bouncehost: String,
    pub bouncemaxbytes: u64,
    pub doublebouncehost: String,
    pub doublebounceto: String,
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, what.to_string())
}

/// `locals`, else `me`; neither is an error.
pub fn read_locals(c: &Control, me: Option<&str>) -> io::Result<ConstMap> {
    match c.list("locals")? {
        Some(l) => Ok(ConstMap::from_set(&l)),
        None => me
            .map(|m| ConstMap::from_set(&[m.to_string()]))
            .ok_or_else(|| bad("no control/locals and no control/me")),
    }
}

pub fn read_vdoms(c: &Control) -> io::Result<ConstMap> {
    Ok(c.map("virtualdomains")?.unwrap_or_default())
}

impl Controls {
    pub fn read(home: &Path) -> io::Result<Controls> {
        let c = Control::new(home);
        let me = c.line("me")?;
        let me = me.as_deref();
        Ok(Controls {
            locals: read_locals(&c, me)?,
            vdoms: read_vdoms(&c)?,
            percenthack: ConstMap::from_set(&c.list("percenthack")?.unwrap_or_default()),
            envnoathost: c.line_or_me("envnoathost", me, "envnoathost")?,
            concurrency: [
                c.int("concurrencylocal", 10)?,
                c.int("concurrencyremote", 20)?,
            ],
            queuelifetime: c.int("queuelifetime", 604_800)?,
            bouncefrom: c.line_or("bouncefrom", "MAILER-DAEMON")?,
            bouncehost: c.line_or_me("bouncehost", me, "bouncehost")?,
            bouncemaxbytes: c.int("bouncemaxbytes", 0)?,
            doublebouncehost: c.line_or_me("doublebouncehost", me, "doublebouncehost")?,
            doublebounceto: c.line_or("doublebounceto", "postmaster")?,
        })
    }

    /// HUP: locals, virtualdomains, the concurrencies and queuelifetime.
    /// On any error the old values stay.
    pub fn reread(&mut self, home: &Path) -> io::Result<()> {
        let c = Control::new(home);
        let me = c.line("me")?;
        let locals = read_locals(&c, me.as_deref())?;
        let vdoms = read_vdoms(&c)?;
        let conc = [
            c.int("concurrencylocal", 10)?,
            c.int("concurrencyremote", 20)?,
        ];
        let life = c.int("queuelifetime", 604_800)?;
        self.locals = locals;
        self.vdoms = vdoms;
        self.concurrency = conc;
        self.queuelifetime = life;
        Ok(())
    }

    /// qmail-todo's HUP: locals and virtualdomains only.
    pub fn reread_todo(&mut self, home: &Path) -> io::Result<()> {
        let c = Control::new(home);
        let me = c.line("me")?;
        let locals = read_locals(&c, me.as_deref())?;
        self.vdoms = read_vdoms(&c)?;
        self.locals = locals;
        Ok(())
    }
}
