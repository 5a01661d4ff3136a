//! The server side shared by tcpserver and sslserver: options, the accept
//! loop with its concurrency limit, and the per-connection work (names,
//! IDENT, rules, log lines, environment) done in the forked child.

use std::collections::HashMap;
use std::ffi::{CString, OsString};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::sync::OnceLock;

use super::{Common, Conn, ident, log, rules};
use crate::cdb::Cdb;
use crate::dns::Resolver;
use crate::exit::Die;
use crate::sys;

/// Flags every server takes, and the letters that take a value.
pub const FLAGS: &str = "146UXpPhHrRoOdDqQv";
pub const VALUED: &str = "cCxBgubltI";

/// The server options of tcpserver(1); sslserver adds its own.
#[derive(Debug, Clone)]
pub struct Options {
    pub common: Common,
    pub limit: usize,
    pub per_ip: usize,
    pub backlog: i32,
    pub rules: Option<PathBuf>,
    pub rules_missing_ok: bool,
    pub banner: Vec<u8>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub paranoid: bool,
    pub keep_ip_options: bool,
    pub print_local: bool,
}

impl std::ops::Deref for Options {
    type Target = Common;
    fn deref(&self) -> &Common {
        &self.common
    }
}

impl std::ops::DerefMut for Options {
    fn deref_mut(&mut self) -> &mut Common {
        &mut self.common
    }
}

impl Options {
    /// Applies the common options; returns the ones it does not know.
    pub fn parse(
        prog: &'static str,
        args: &[OsString],
        extra_flags: &str,
        extra_valued: &str,
        usage: &str,
        nodelay: bool,
    ) -> Result<(Options, super::OptList), Die> {
        let (common, opts) = Common::parse(
            prog,
            args,
            [FLAGS, extra_flags],
            [VALUED, extra_valued],
            usage,
            (false, nodelay),
        )?;
        let mut o = Options {
            common,
            limit: 40,
            per_ip: 0,
            backlog: 20,
            rules: None,
            rules_missing_ok: false,
            banner: Vec::new(),
            uid: None,
            gid: None,
            paranoid: false,
            keep_ip_options: false,
            print_local: false,
        };
        let num = |v: &str| super::num::<u32>(v, usage);
        let mut other = Vec::new();
        for (c, v) in opts {
            match c {
                '1' => o.print_local = true,
                'U' => {
                    o.uid = std::env::var("UID").ok().and_then(|s| s.parse().ok());
                    o.gid = std::env::var("GID").ok().and_then(|s| s.parse().ok());
                }
                'X' => o.rules_missing_ok = true,
                'p' => o.paranoid = true,
                'P' => o.paranoid = false,
                'o' => o.keep_ip_options = true,
                'O' => o.keep_ip_options = false,
                'c' => {
                    o.limit = num(&v)? as usize;
                    if o.limit == 0 {
                        return Err(Die::usage(usage));
                    }
                }
                'C' => o.per_ip = num(&v)? as usize,
                'x' => o.rules = Some(v.into()),
                'B' => o.banner = v.into_bytes(),
                'g' => o.gid = Some(num(&v)?),
                'u' => o.uid = Some(num(&v)?),
                'b' => o.backlog = num(&v)? as i32,
                _ => other.push((c, v)),
            }
        }
        Ok((o, other))
    }

    /// Drops to `-g`/`-u` (group first).
    pub fn drop_privileges(&self) -> Result<(), Die> {
        if let Some(g) = self.gid {
            sys::set_gid(g).map_err(|e| Die::sys("set gid", e))?;
        }
        if let Some(u) = self.uid {
            let g = self.gid.unwrap_or_else(sys::getgid);
            sys::set_ids(u, g).map_err(|e| Die::sys("set uid", e))?;
        }
        Ok(())
    }

    /// The address to bind: `0` means all IPv4 addresses (all IPv6 with
    /// `-6`), `:0` and `::` IPv6 (`:0` dual stack); else a literal or name.
    fn bind_addr(&self) -> Result<(IpAddr, bool), Die> {
        match self.host.as_str() {
            "" => Err(Die::usage("empty host")),
            ":0" => Ok((IpAddr::V6(Ipv6Addr::UNSPECIFIED), false)),
            "0" if self.family == Some(6) => Ok((IpAddr::V6(Ipv6Addr::UNSPECIFIED), true)),
            h => {
                let mut ips = super::resolve(h, IpAddr::V4(Ipv4Addr::UNSPECIFIED), self.family);
                if ips.is_empty() {
                    return Err(Die::temp(format!(
                        "unable to figure out IP address for: {h}"
                    )));
                }
                Ok((ips.remove(0), true))
            }
        }
    }

    /// Binds and listens as the options say.
    pub fn listen(&self) -> Result<OwnedFd, Die> {
        let port = super::port(&self.port).ok_or_else(|| {
            Die::temp(format!(
                "unable to figure out port number for: {}",
                self.port
            ))
        })?;
        let (ip, v6only) = self.bind_addr()?;
        let scope = match (&self.interface, ip) {
            (Some(name), IpAddr::V6(_)) => interface_index(name)
                .ok_or_else(|| Die::temp(format!("unable to find interface: {name}")))?,
            _ => 0,
        };
        let addr = match ip {
            IpAddr::V4(v4) => SocketAddr::from((v4, port)),
            IpAddr::V6(v6) => SocketAddr::V6(std::net::SocketAddrV6::new(v6, port, 0, scope)),
        };
        let fd = sys::tcp_listen(&addr, v6only, self.backlog)
            .map_err(|e| Die::sys(format!("bind to {}", addr), e))?;
        Ok(fd)
    }
}

fn interface_index(name: &str) -> Option<u32> {
    let text = std::fs::read_to_string(format!("/sys/class/net/{name}/ifindex")).ok()?;
    text.trim().parse().ok()
}

fn interface_name(index: u32) -> Option<String> {
    let dir = std::fs::read_dir("/sys/class/net").ok()?;
    dir.filter_map(Result::ok).find_map(|e| {
        let idx = std::fs::read_to_string(e.path().join("ifindex")).ok()?;
        (idx.trim().parse() == Ok(index)).then(|| e.file_name().to_string_lossy().into_owned())
    })
}

/// Points fds 0 and 1 at /dev/null (the server's own stdio is not used).
fn null_stdio() {
    if let Ok(f) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        let _ = sys::dup2(f.as_raw_fd(), 0);
        let _ = sys::dup2(f.as_raw_fd(), 1);
    }
}

/// The accept loop. `before_fork` runs in the parent per connection (for
/// sslserver's certificate reload); `child` runs in the forked child and
/// never returns. Exits 0 on SIGTERM.
pub fn serve(
    o: &Options,
    listen: OwnedFd,
    drop_in_parent: bool,
    before_fork: impl FnMut(),
    child: impl Fn(OwnedFd, SocketAddr) -> Die,
) -> Result<(), Die> {
    serve_starting(
        o,
        listen,
        drop_in_parent,
        before_fork,
        |sock, _| Start::Fork(sock),
        |_| {},
        child,
    )
}

/// How the parent started a connection's process.
pub enum Start {
    /// The program runs already (started without a fork): its pid.
    Spawned(i32),
    /// Fork and run the `child` function on this socket.
    Fork(OwnedFd),
}

/// [`serve`] where `start` runs in the parent first and may start the
/// program itself; a child it started is counted, logged and reaped like a
/// forked one. `reaped` hears of every child reaped, before its `end` line.
pub fn serve_starting(
    o: &Options,
    listen: OwnedFd,
    drop_in_parent: bool,
    mut before_fork: impl FnMut(),
    mut start: impl FnMut(OwnedFd, SocketAddr) -> Start,
    mut reaped: impl FnMut(i32),
    child: impl Fn(OwnedFd, SocketAddr) -> Die,
) -> Result<(), Die> {
    let lfd = listen.as_raw_fd();
    // Read the environment for the spawned programs once, not per child.
    let _ = base_env();
    if drop_in_parent {
        o.drop_privileges()?;
    }
    sys::ignore_signal(libc::SIGPIPE).map_err(|e| Die::sys("set signals", e))?;
    let sigfd = sys::signal_pipe(&[libc::SIGCHLD, libc::SIGTERM])
        .map_err(|e| Die::sys("create self-pipe", e))?;
    if o.print_local {
        let local = sys::local_addr(lfd).map_err(|e| Die::sys("get local address", e))?;
        let line = format!("{} : {}\n", super::ip_text(local.ip()), local.port());
        let _ = std::io::stdout().write_all(line.as_bytes());
        let _ = std::io::stdout().flush();
    }
    null_stdio();
    sys::set_nonblock(lfd, true).map_err(|e| Die::sys("set non-blocking", e))?;
    let mut children = 0usize;
    let mut per_ip: HashMap<IpAddr, usize> = HashMap::new();
    let mut pids: HashMap<i32, IpAddr> = HashMap::new();
    let status = |n: usize| {
        if o.verbose() {
            log(o.prog, format_args!("status: {}/{}", n, o.limit));
        }
    };
    status(0);
    loop {
        let fds: &[RawFd] = if children < o.limit {
            &[sigfd, lfd]
        } else {
            &[sigfd]
        };
        let ready = sys::poll_readable(fds, -1).map_err(|e| Die::sys("poll", e))?;
        if ready[0] {
            for sig in sys::drain_signals(sigfd) {
                if sig == libc::SIGTERM {
                    return Ok(());
                }
            }
            while let Ok(Some((pid, wstat))) = sys::wait_nohang_raw() {
                children = children.saturating_sub(1);
                reaped(pid);
                if let Some(ip) = pids.remove(&pid)
                    && let Some(n) = per_ip.get_mut(&ip)
                {
                    *n -= 1;
                    if *n == 0 {
                        per_ip.remove(&ip);
                    }
                }
                if o.verbose() {
                    log(o.prog, format_args!("end {pid} status {wstat}"));
                }
                status(children);
            }
        }
        if ready.get(1) != Some(&true) {
            continue;
        }
        // Take every waiting connection (up to the limit) per wake-up.
        while children < o.limit {
            let Ok((conn, remote)) = sys::tcp_accept(lfd) else {
                break;
            };
            let rip = super::unmap(remote.ip());
            if o.per_ip > 0 && per_ip.get(&rip).copied().unwrap_or(0) >= o.per_ip {
                if o.verbosity >= 1 {
                    log(
                        o.prog,
                        format_args!(
                            "warning: dropping connection from {rip}: per-IP limit reached"
                        ),
                    );
                }
                continue;
            }
            before_fork();
            children += 1;
            status(children);
            let conn = match start(conn, remote) {
                Start::Spawned(pid) => {
                    track(o, &mut per_ip, &mut pids, pid, rip);
                    continue;
                }
                Start::Fork(conn) => conn,
            };
            match sys::fork() {
                Ok(sys::Fork::Child) => {
                    drop(listen);
                    sys::close_fd(sigfd);
                    let _ = sys::default_signal(libc::SIGTERM);
                    let _ = sys::default_signal(libc::SIGCHLD);
                    let d = child(conn, remote);
                    if o.verbosity >= 1 && !d.text.is_empty() {
                        log(o.prog, format_args!("{}", d.text));
                    }
                    sys::exit_now(d.code);
                }
                Ok(sys::Fork::Parent(pid)) => track(o, &mut per_ip, &mut pids, pid, rip),
                Err(_) => {
                    children -= 1;
                    if o.verbosity >= 1 {
                        log(o.prog, format_args!("fatal: unable to fork"));
                    }
                }
            }
        }
    }
}

/// Counts a started child against its remote address for `-C`.
fn track(
    o: &Options,
    per_ip: &mut HashMap<IpAddr, usize>,
    pids: &mut HashMap<i32, IpAddr>,
    pid: i32,
    rip: IpAddr,
) {
    if o.per_ip > 0 {
        *per_ip.entry(rip).or_insert(0) += 1;
        pids.insert(pid, rip);
    }
}

/// What the child learned about the connection, ready to run the program.
pub struct Accepted {
    pub conn: Conn,
    pub rule_env: Vec<(Vec<u8>, Vec<u8>)>,
}

/// What the per-connection lookups found, before anything is logged: the
/// connection and the rules' verdict (or why the connection is dropped).
pub struct Examined {
    pub conn: Conn,
    pub verdict: Result<rules::Decision, Die>,
}

/// Socket options, local address and interface of an accepted socket.
fn prepare(o: &Options, sock: RawFd, remote: SocketAddr) -> Result<Conn, Die> {
    let local = sys::local_addr(sock).map_err(|e| Die::sys("get local address", e))?;
    if !o.keep_ip_options && local.is_ipv4() {
        let _ = sys::kill_ip_options(sock);
    }
    if o.nodelay {
        let _ = sys::set_nodelay(sock);
    }
    let mut c = Conn::new(local, remote);
    if let SocketAddr::V6(l6) = local
        && l6.scope_id() != 0
    {
        c.interface = interface_name(l6.scope_id());
    }
    Ok(c)
}

/// Names and IDENT: the steps that may wait on the network.
fn lookups(o: &Options, c: &mut Conn) {
    let dns = Resolver::new();
    c.local_host = match &o.local_name {
        Some(n) => Some(n.clone()),
        None => super::host_name(&dns, c.local.ip()),
    };
    if o.lookup_remote {
        c.remote_host = super::remote_host(&dns, c.remote.ip(), o.paranoid);
    }
    if o.ident {
        c.remote_info = ident::lookup(c.local, c.remote, o.ident_secs);
    }
}

/// The rules' decision for `c` (the default one without `-x`).
fn decide(o: &Options, c: &Conn) -> Result<rules::Decision, Die> {
    let Some(path) = &o.rules else {
        return Ok(rules::Decision::default());
    };
    let dropping = |e: &dyn std::fmt::Display| {
        Die::temp(format!(
            "warning: dropping connection, unable to read {}: {e}",
            path.display()
        ))
    };
    match Cdb::open_optional(path) {
        Ok(Some(cdb)) => rules::lookup(
            &cdb,
            &c.remote.ip(),
            c.remote_host.as_deref(),
            c.remote_info.as_deref(),
        )
        .map_err(|e| dropping(&e)),
        Ok(None) if o.rules_missing_ok => Ok(rules::Decision::default()),
        Ok(None) => Err(dropping(&"file does not exist")),
        Err(e) => Err(dropping(&e)),
    }
}

/// The verbose `pid PID from IP` line.
pub fn log_pid(o: &Options, pid: i32, remote: SocketAddr) {
    if o.verbose() {
        log(
            o.prog,
            format_args!("pid {pid} from {}", super::ip_text(remote.ip())),
        );
    }
}

/// Writes the `-B` banner on the socket (in the clear).
pub fn send_banner(o: &Options, sock: RawFd) {
    if !o.banner.is_empty() {
        let _ = sys::borrow_fd(sock).write_all(&o.banner);
    }
}

/// The lookups and the rules without logging: what a process that does
/// not know the program's pid yet can do.
pub fn examine(o: &Options, sock: RawFd, remote: SocketAddr) -> Result<Examined, Die> {
    let mut conn = prepare(o, sock, remote)?;
    lookups(o, &mut conn);
    let verdict = decide(o, &conn);
    Ok(Examined { conn, verdict })
}

/// The verbose `ok`/`deny` line.
fn log_verdict(o: &Options, pid: i32, conn: &Conn, deny: bool) {
    if o.verbose() {
        let what = if deny { "deny" } else { "ok" };
        log(o.prog, format_args!("{what} {pid} {}", conn.log_fields()));
    }
}

/// The decision's end for the process that logs as `pid`: the `ok`/`deny`
/// line; a denied or dropped connection returns the exit.
pub fn conclude(o: &Options, pid: i32, ex: Examined) -> Result<Accepted, Die> {
    let decision = ex.verdict?;
    log_verdict(o, pid, &ex.conn, decision.deny);
    if decision.deny {
        return Err(Die::quiet(crate::exit::PERM));
    }
    Ok(Accepted {
        conn: ex.conn,
        rule_env: decision.env,
    })
}

/// The per-connection work (tcpserver(1)) up to the decision, in ucspi-tcp's
/// order, in the process that will run the program: socket options, `pid`
/// line, banner (if `banner` is true), names, IDENT, rules, the `ok`/`deny`
/// line. A denied or dropped connection returns the exit.
pub fn accept_work(
    o: &Options,
    sock: RawFd,
    remote: SocketAddr,
    banner: bool,
) -> Result<Accepted, Die> {
    let mut conn = prepare(o, sock, remote)?;
    let pid = sys::getpid();
    log_pid(o, pid, remote);
    if banner {
        send_banner(o, sock);
    }
    lookups(o, &mut conn);
    let verdict = decide(o, &conn);
    conclude(o, pid, Examined { conn, verdict })
}

/// The variables the program gets: the connection variables (`prefixes`:
/// `TCP` for tcpserver, `SSL` and with `-e` also `TCP` for sslserver), then
/// the rule variables (rules override, as in DJB's tcpserver). `None`
/// removes a variable.
pub fn environment(a: &Accepted, prefixes: &[&str]) -> Vec<(OsString, Option<OsString>)> {
    environment_of(&a.conn, &a.rule_env, prefixes)
}

/// [`environment`] from its parts.
fn environment_of(
    conn: &Conn,
    rule_env: &[(Vec<u8>, Vec<u8>)],
    prefixes: &[&str],
) -> Vec<(OsString, Option<OsString>)> {
    use std::os::unix::ffi::OsStringExt;
    let mut env = Vec::new();
    for p in prefixes {
        for (k, v) in conn.environ(p) {
            env.push((k.into(), v));
        }
    }
    for (k, v) in rule_env {
        env.push((
            OsString::from_vec(k.clone()),
            Some(OsString::from_vec(v.clone())),
        ));
    }
    env
}

/// Execs the program of an accepted connection the way [`spawn_allowed`]
/// starts it (ucspi-tcp's pathexec: the server's PATH, no shell for a file
/// without `#!`, SIGPIPE default); returns only on failure.
/// `extra` variables are set after the connection and rule ones.
pub fn exec_program(
    o: &Options,
    a: &Accepted,
    prefixes: &[&str],
    extra: &[(OsString, Option<OsString>)],
) -> Die {
    let Some(argv) = program_argv(o) else {
        let e = std::io::Error::from(std::io::ErrorKind::InvalidInput);
        return Die::temp(unrunnable(o, &e));
    };
    let _ = sys::default_signal(libc::SIGPIPE);
    let mut changes = environment(a, prefixes);
    changes.extend_from_slice(extra);
    let e = sys::pathexec(&argv, &envp(&changes));
    Die::temp(unrunnable(o, &e))
}

/// The program's argv as C strings; `None` if an argument holds a NUL.
fn program_argv(o: &Options) -> Option<Vec<CString>> {
    o.argv
        .iter()
        .map(|a| CString::new(a.as_bytes()).ok())
        .collect()
}

/// The line for a program that cannot be executed.
fn unrunnable(o: &Options, e: &std::io::Error) -> String {
    format!("fatal: unable to run: {}: {e}", o.argv[0].to_string_lossy())
}

/// Logs, as a forked child would, that a spawned child could not exec.
pub fn log_unrunnable(o: &Options, e: &std::io::Error) {
    if o.verbosity >= 1 {
        log(o.prog, format_args!("{}", unrunnable(o, e)));
    }
}

/// The server's own environment as `NAME=VALUE` strings, read once.
fn base_env() -> &'static [CString] {
    static BASE: OnceLock<Vec<CString>> = OnceLock::new();
    BASE.get_or_init(|| {
        std::env::vars_os()
            .filter_map(|(k, v)| {
                let mut kv = k.into_vec();
                kv.push(b'=');
                kv.extend_from_slice(v.as_bytes());
                CString::new(kv).ok()
            })
            .collect()
    })
}

/// The server's environment changed by `changes` (later ones win).
fn envp(changes: &[(OsString, Option<OsString>)]) -> Vec<CString> {
    let changed = |entry: &[u8]| {
        changes.iter().any(|(k, _)| {
            entry.len() > k.len() && entry.starts_with(k.as_bytes()) && entry[k.len()] == b'='
        })
    };
    let mut out: Vec<CString> = base_env()
        .iter()
        .filter(|e| !changed(e.as_bytes()))
        .cloned()
        .collect();
    for (i, (k, v)) in changes.iter().enumerate() {
        let later = changes[i + 1..].iter().any(|(k2, _)| k2 == k);
        if let (Some(v), false) = (v, later) {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            if let Ok(c) = CString::new(kv) {
                out.push(c);
            }
        }
    }
    out
}

/// How to start the program of an allowed connection without a fork.
pub struct SpawnPlan<'a> {
    /// Connection-variable prefixes, as for [`environment`].
    pub prefixes: &'a [&'a str],
    /// Variables added after the connection and rule variables.
    pub extra: &'a [(&'a str, &'a str)],
    /// Descriptor moves `(from, to)` for the program.
    pub moves: &'a [(RawFd, RawFd)],
    /// Whether the `-B` banner goes on the socket before the program starts.
    pub banner: bool,
}

/// Starts the program of an examined connection without a fork
/// ([`sys::spawn`]), then logs its `pid` and `ok` lines with the program's
/// pid. `None` when the connection has to take the forking path instead:
/// denied, rules unreadable, or the start failed. Either way the program
/// is searched in the server's PATH, as ucspi-tcp's pathexec does, even
/// when a rule sets another one for the program. `banner_sent` says whether the banner
/// went out. With a `spawner` the start does not wait for the exec, and a
/// failed exec shows when the child is reaped ([`sys::Starter::failed`]).
pub fn spawn_allowed(
    o: &Options,
    sock: RawFd,
    ex: &Examined,
    plan: &SpawnPlan,
    banner_sent: &mut bool,
    spawner: Option<&mut sys::Starter>,
) -> Option<i32> {
    let decision = match &ex.verdict {
        Ok(d) if !d.deny => d,
        _ => return None,
    };
    let mut changes = environment_of(&ex.conn, &decision.env, plan.prefixes);
    changes.extend(
        plan.extra
            .iter()
            .map(|(k, v)| ((*k).into(), Some((*v).into()))),
    );
    let argv = program_argv(o)?;
    if plan.banner && !*banner_sent {
        send_banner(o, sock);
        *banner_sent = true;
    }
    // The signals `serve` catches (its self-pipe), and those Rust's runtime
    // catches to report a stack overflow.
    let caught = [libc::SIGCHLD, libc::SIGTERM, libc::SIGSEGV, libc::SIGBUS];
    let envp = envp(&changes);
    let pid = match spawner {
        Some(sp) => sp.spawn(argv, envp, plan.moves, &caught).ok()?,
        None => sys::spawn(&argv, &envp, plan.moves, &caught).ok()?,
    };
    log_pid(o, pid, ex.conn.remote);
    log_verdict(o, pid, &ex.conn, false);
    Some(pid)
}
