//! Sockets for the UCSPI servers and clients: listening with a chosen
//! backlog and IPv6-only setting, accepting, connecting with a local
//! address and a timeout, socket options std does not offer, socketpairs.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use super::{check, last_err};

fn to_storage(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: an all-zero sockaddr_storage is a valid value.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            let sin = unsafe { &mut *(&mut ss as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            let sin6 = unsafe { &mut *(&mut ss as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            sin6.sin6_scope_id = a.scope_id();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

fn from_storage(ss: &libc::sockaddr_storage) -> io::Result<SocketAddr> {
    match ss.ss_family as i32 {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin = unsafe { &*(ss as *const _ as *const libc::sockaddr_in) };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Ok(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6 = unsafe { &*(ss as *const _ as *const libc::sockaddr_in6) };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Ok(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => Err(io::Error::new(io::ErrorKind::InvalidData, "address family")),
    }
}

fn set_int_opt(fd: RawFd, level: i32, name: i32, val: i32) -> io::Result<()> {
    // SAFETY: val lives across the call; its size is passed.
    check(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &val as *const i32 as *const libc::c_void,
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

fn new_socket(addr: &SocketAddr) -> io::Result<OwnedFd> {
    let family = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: socket takes integers; a valid result is a fresh descriptor we own.
    let fd = check(unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: fd was just created and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A listening TCP socket: `SO_REUSEADDR`, `IPV6_V6ONLY` as asked for IPv6
/// sockets (`v6only` false = dual stack), bound and listening with `backlog`.
pub fn tcp_listen(addr: &SocketAddr, v6only: bool, backlog: i32) -> io::Result<OwnedFd> {
    let fd = new_socket(addr)?;
    let raw = fd.as_raw_fd();
    set_int_opt(raw, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    if addr.is_ipv6() {
        set_int_opt(
            raw,
            libc::IPPROTO_IPV6,
            libc::IPV6_V6ONLY,
            i32::from(v6only),
        )?;
    }
    let (ss, len) = to_storage(addr);
    // SAFETY: ss holds a valid sockaddr of length len.
    check(unsafe { libc::bind(raw, &ss as *const _ as *const libc::sockaddr, len) })?;
    // SAFETY: listen on our descriptor.
    check(unsafe { libc::listen(raw, backlog) })?;
    Ok(fd)
}

/// `accept4` with close-on-exec; returns the connection and the peer.
pub fn tcp_accept(listen: RawFd) -> io::Result<(OwnedFd, SocketAddr)> {
    // SAFETY: zeroed storage is valid; len tells accept its size.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: ss/len are valid out-pointers.
    let fd = check(unsafe {
        libc::accept4(
            listen,
            &mut ss as *mut _ as *mut libc::sockaddr,
            &mut len,
            libc::SOCK_CLOEXEC,
        )
    })?;
    // SAFETY: accept returned a fresh descriptor we own.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    Ok((owned, from_storage(&ss)?))
}

/// `getsockname`.
pub fn local_addr(fd: RawFd) -> io::Result<SocketAddr> {
    // SAFETY: as in tcp_accept.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: ss/len are valid out-pointers.
    check(unsafe { libc::getsockname(fd, &mut ss as *mut _ as *mut libc::sockaddr, &mut len) })?;
    from_storage(&ss)
}

/// `TCP_NODELAY` on.
pub fn set_nodelay(fd: RawFd) -> io::Result<()> {
    set_int_opt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)
}

/// Removes any IP options the peer asked for (source routing): sets
/// `IP_OPTIONS` to empty. Not applicable to IPv6 sockets.
pub fn kill_ip_options(fd: RawFd) -> io::Result<()> {
    // SAFETY: a zero-length option value; the pointer is never read.
    check(unsafe { libc::setsockopt(fd, libc::IPPROTO_IP, libc::IP_OPTIONS, std::ptr::null(), 0) })
        .map(|_| ())
}

/// Connects to `addr` (optionally from `local`) within `timeout_ms`.
pub fn tcp_connect(
    addr: &SocketAddr,
    local: Option<&SocketAddr>,
    timeout_ms: i32,
) -> io::Result<OwnedFd> {
    let fd = new_socket(addr)?;
    let raw = fd.as_raw_fd();
    if let Some(l) = local {
        let (ss, len) = to_storage(l);
        // SAFETY: ss holds a valid sockaddr of length len.
        check(unsafe { libc::bind(raw, &ss as *const _ as *const libc::sockaddr, len) })?;
    }
    super::set_nonblock(raw, true)?;
    let (ss, len) = to_storage(addr);
    // SAFETY: ss holds a valid sockaddr of length len.
    let r = unsafe { libc::connect(raw, &ss as *const _ as *const libc::sockaddr, len) };
    if r == -1 {
        let e = last_err();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(e);
        }
        if !super::wait_fd(raw, true, timeout_ms)? {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"));
        }
        let mut err: i32 = 0;
        let mut elen = std::mem::size_of::<i32>() as libc::socklen_t;
        // SAFETY: err/elen are valid out-pointers of the right size.
        check(unsafe {
            libc::getsockopt(
                raw,
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                &mut err as *mut i32 as *mut libc::c_void,
                &mut elen,
            )
        })?;
        if err != 0 {
            return Err(io::Error::from_raw_os_error(err));
        }
    }
    super::set_nonblock(raw, false)?;
    Ok(fd)
}

/// `shutdown(fd, SHUT_WR)`: tells the peer we are done writing.
pub fn shutdown_write(fd: RawFd) {
    // SAFETY: shutdown on an integer descriptor; errors are irrelevant here.
    unsafe {
        libc::shutdown(fd, libc::SHUT_WR);
    }
}

/// A connected pair of `AF_UNIX` stream sockets (close-on-exec).
pub fn unix_socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid 2-int array.
    check(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    // SAFETY: both descriptors are fresh and ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A pipe (read end, write end), close-on-exec.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid 2-int array.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: both descriptors are fresh and ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// `chroot(dir)` then `chdir("/")`.
pub fn chroot(dir: &Path) -> io::Result<()> {
    let c = super::fd::cstr(dir)?;
    // SAFETY: c is a valid NUL-terminated path.
    check(unsafe { libc::chroot(c.as_ptr()) })?;
    std::env::set_current_dir("/")
}

/// Process id of the caller.
pub fn getpid() -> i32 {
    std::process::id() as i32
}
