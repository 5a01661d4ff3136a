//! (qmail-remote) Outgoing TCP connections from a chosen local address with a connect
//! timeout, and the host's own interface addresses (qmail's ipme).

use std::io;
use std::mem;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::{check, last_err, wait_fd};

fn sockaddr(a: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
    let mut ss: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let len = match a {
        SocketAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(v4.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe { (&raw mut ss).cast::<libc::sockaddr_in>().write(sin) };
            mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: v6.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.ip().octets(),
                },
                sin6_scope_id: v6.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            unsafe { (&raw mut ss).cast::<libc::sockaddr_in6>().write(sin6) };
            mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

/// Why `connect_from` failed: before connecting (socket, bind) or while
/// connecting (the errno qmail's tcpto looks at).
#[derive(Debug)]
pub enum ConnectError {
    Socket(io::Error),
    Bind(io::Error),
    Connect(io::Error),
}

/// A TCP connection to `to`, bound to `from` first when given, waiting at
/// most `timeout_ms` for the handshake. The socket is blocking and
/// close-on-exec on return. A timeout is an `io::ErrorKind::TimedOut` error.
pub fn connect_from(
    from: Option<SocketAddr>,
    to: SocketAddr,
    timeout_ms: i32,
) -> Result<TcpStream, ConnectError> {
    let family = if to.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: socket() takes integers and returns a new descriptor or -1.
    let fd = check(unsafe {
        libc::socket(
            family,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    })
    .map_err(ConnectError::Socket)?;
    // SAFETY: fd was just created by socket() and is owned by nobody else.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    if let Some(local) = from {
        let (ss, len) = sockaddr(&local);
        // SAFETY: ss holds a valid sockaddr of length len.
        check(unsafe { libc::bind(fd, (&raw const ss).cast(), len) })
            .map_err(ConnectError::Bind)?;
    }
    let (ss, len) = sockaddr(&to);
    // SAFETY: ss holds a valid sockaddr of length len.
    let r = unsafe { libc::connect(fd, (&raw const ss).cast(), len) };
    if r == -1 {
        let e = last_err();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(ConnectError::Connect(e));
        }
        if !wait_fd(fd, true, timeout_ms).map_err(ConnectError::Connect)? {
            return Err(ConnectError::Connect(io::ErrorKind::TimedOut.into()));
        }
        let mut err: libc::c_int = 0;
        let mut elen = mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: err/elen are valid for writing one int.
        check(unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&raw mut err).cast(),
                &mut elen,
            )
        })
        .map_err(ConnectError::Connect)?;
        if err != 0 {
            return Err(ConnectError::Connect(io::Error::from_raw_os_error(err)));
        }
    }
    let s = TcpStream::from(owned);
    s.set_nonblocking(false).map_err(ConnectError::Socket)?;
    debug_assert_eq!(s.as_raw_fd(), fd);
    Ok(s)
}

/// The addresses of this host's interfaces (qmail's ipme), IPv4 and IPv6.
pub fn local_addrs() -> io::Result<Vec<IpAddr>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills head with a list we free below.
    check(unsafe { libc::getifaddrs(&mut head) })?;
    let mut out = Vec::new();
    let mut p = head;
    while !p.is_null() {
        // SAFETY: p is a node of the list getifaddrs returned, not yet freed.
        let ifa = unsafe { &*p };
        if !ifa.ifa_addr.is_null() {
            // SAFETY: ifa_addr points to a sockaddr whose family says its type.
            let fam = i32::from(unsafe { (*ifa.ifa_addr).sa_family });
            if fam == libc::AF_INET {
                // SAFETY: family AF_INET means a sockaddr_in.
                let sin = unsafe { &*ifa.ifa_addr.cast::<libc::sockaddr_in>() };
                out.push(IpAddr::V4(Ipv4Addr::from(
                    sin.sin_addr.s_addr.to_ne_bytes(),
                )));
            } else if fam == libc::AF_INET6 {
                // SAFETY: family AF_INET6 means a sockaddr_in6.
                let sin6 = unsafe { &*ifa.ifa_addr.cast::<libc::sockaddr_in6>() };
                out.push(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)));
            }
        }
        p = ifa.ifa_next;
    }
    // SAFETY: head came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn connect_bound_and_refused() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let to = l.local_addr().unwrap();
        let from: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let s = connect_from(Some(from), to, 1000).unwrap();
        let (_peer, addr) = l.accept().unwrap();
        assert_eq!(addr, s.local_addr().unwrap());
        // The client's own port is bound but not listening, and stays
        // ours while `s` lives: nothing else can take it, unlike a closed
        // listener's port.
        let closed = s.local_addr().unwrap();
        match connect_from(None, closed, 1000) {
            Err(ConnectError::Connect(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused),
            r => panic!("{r:?}"),
        }
    }

    #[test]
    fn loopback_is_local() {
        assert!(
            local_addrs()
                .unwrap()
                .contains(&IpAddr::V4(Ipv4Addr::LOCALHOST))
        );
    }
}
