//! Socket-call errors, named after the POSIX errno they stand for.
//!
//! Scripts match the POSIX name (`"EADDRINUSE"`); output shows each profile's own spelling
//! through [`Errno::display_for`] (WSAEADDRINUSE 10048 on Windows, e$tcp_address_in_use 4932
//! on Stratus OS_TCP, 226 on HP-UX — the numbers given in the seed articles).

use core::fmt;

/// An error returned by a socket call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, thiserror::Error)]
pub enum Errno {
    /// Local address already in use (bind, listen, port selection by `bind(port 0)`).
    #[error("EADDRINUSE")]
    EADDRINUSE,
    /// Address not available: no free ephemeral port for `connect`, a 4-tuple already in use,
    /// or a local address the host does not own.
    #[error("EADDRNOTAVAIL")]
    EADDRNOTAVAIL,
    /// The peer answered the SYN with RST.
    #[error("ECONNREFUSED")]
    ECONNREFUSED,
    /// The connection was reset by the peer.
    #[error("ECONNRESET")]
    ECONNRESET,
    /// A connect did not complete before its deadline.
    #[error("ETIMEDOUT")]
    ETIMEDOUT,
    /// Invalid argument or state (bind on a bound socket, listen on a connected one, …).
    #[error("EINVAL")]
    EINVAL,
    /// Permission denied (privileged port, Windows exclusive-use conflicts).
    #[error("EACCES")]
    EACCES,
    /// The call would block past its deadline (accept/recv with a timeout, like SO_RCVTIMEO).
    #[error("EAGAIN")]
    EAGAIN,
    /// The socket is not connected (send/recv/shutdown before connect).
    #[error("ENOTCONN")]
    ENOTCONN,
    /// Writing to a connection whose sending side is shut down.
    #[error("EPIPE")]
    EPIPE,
    /// The socket is already connected.
    #[error("EISCONN")]
    EISCONN,
    /// The process holds no handle to that socket.
    #[error("EBADF")]
    EBADF,
    /// Operation not supported on this socket (BSD: connect() on a listening socket).
    #[error("EOPNOTSUPP")]
    EOPNOTSUPP,
    /// Protocol not available: an option of another protocol level (IPV6_V6ONLY on an IPv4
    /// socket: Linux `ip_setsockopt` answers ENOPROTOOPT).
    #[error("ENOPROTOOPT")]
    ENOPROTOOPT,
    /// Address family not supported: an IPv6 address given to an IPv4 socket (Linux
    /// `__inet_bind`, `tcp_v4_connect`), or an IPv6 destination for a socket bound to an
    /// IPv4-mapped address (`ip6_dst_lookup_tail`).
    #[error("EAFNOSUPPORT")]
    EAFNOSUPPORT,
    /// Network unreachable: an IPv4-mapped destination for an IPV6_V6ONLY socket
    /// (`tcp_v6_connect`) or for a socket bound to a plain IPv6 address.
    #[error("ENETUNREACH")]
    ENETUNREACH,
}

/// How a profile spells errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrnoStyle {
    /// POSIX names only (Linux, BSD, RFC reference profiles).
    Posix,
    /// Winsock: `WSAEADDRINUSE (10048)`.
    Winsock,
    /// Stratus VOS OS_TCP: `e$tcp_address_in_use (4932)` for EADDRINUSE.
    StratusOsTcp,
    /// Stratus VOS STCP: `e$streams_EADDRINUSE (6066)` for EADDRINUSE.
    StratusStcp,
    /// HP-UX 11: `EADDRINUSE (226)`.
    Hpux,
}

impl Errno {
    /// Every variant, in declaration order.
    pub const ALL: [Errno; 16] = [
        Errno::EADDRINUSE,
        Errno::EADDRNOTAVAIL,
        Errno::ECONNREFUSED,
        Errno::ECONNRESET,
        Errno::ETIMEDOUT,
        Errno::EINVAL,
        Errno::EACCES,
        Errno::EAGAIN,
        Errno::ENOTCONN,
        Errno::EPIPE,
        Errno::EISCONN,
        Errno::EBADF,
        Errno::EOPNOTSUPP,
        Errno::ENOPROTOOPT,
        Errno::EAFNOSUPPORT,
        Errno::ENETUNREACH,
    ];

    /// The POSIX name, as scripts write it.
    pub fn name(self) -> &'static str {
        match self {
            Errno::EADDRINUSE => "EADDRINUSE",
            Errno::EADDRNOTAVAIL => "EADDRNOTAVAIL",
            Errno::ECONNREFUSED => "ECONNREFUSED",
            Errno::ECONNRESET => "ECONNRESET",
            Errno::ETIMEDOUT => "ETIMEDOUT",
            Errno::EINVAL => "EINVAL",
            Errno::EACCES => "EACCES",
            Errno::EAGAIN => "EAGAIN",
            Errno::ENOTCONN => "ENOTCONN",
            Errno::EPIPE => "EPIPE",
            Errno::EISCONN => "EISCONN",
            Errno::EBADF => "EBADF",
            Errno::EOPNOTSUPP => "EOPNOTSUPP",
            Errno::ENOPROTOOPT => "ENOPROTOOPT",
            Errno::EAFNOSUPPORT => "EAFNOSUPPORT",
            Errno::ENETUNREACH => "ENETUNREACH",
        }
    }

    /// Parses a POSIX name (`"EADDRINUSE"`) or its Winsock spelling (`"WSAEADDRINUSE"`).
    pub fn from_name(s: &str) -> Option<Errno> {
        let posix = s.strip_prefix("WSA").unwrap_or(s);
        let posix = if posix == "EWOULDBLOCK" {
            "EAGAIN"
        } else {
            posix
        };
        Errno::ALL.into_iter().find(|e| e.name() == posix)
    }

    /// Linux errno number (asm-generic/errno.h).
    pub fn linux_code(self) -> i32 {
        match self {
            Errno::EADDRINUSE => 98,
            Errno::EADDRNOTAVAIL => 99,
            Errno::ECONNREFUSED => 111,
            Errno::ECONNRESET => 104,
            Errno::ETIMEDOUT => 110,
            Errno::EINVAL => 22,
            Errno::EACCES => 13,
            Errno::EAGAIN => 11,
            Errno::ENOTCONN => 107,
            Errno::EPIPE => 32,
            Errno::EISCONN => 106,
            Errno::EBADF => 9,
            Errno::EOPNOTSUPP => 95,
            Errno::ENOPROTOOPT => 92,
            Errno::EAFNOSUPPORT => 97,
            Errno::ENETUNREACH => 101,
        }
    }

    /// Winsock error code (winerror.h): WSAEADDRINUSE 10048, WSAECONNREFUSED 10061, …
    pub fn winsock_code(self) -> i32 {
        match self {
            Errno::EADDRINUSE => 10048,
            Errno::EADDRNOTAVAIL => 10049,
            Errno::ECONNREFUSED => 10061,
            Errno::ECONNRESET => 10054,
            Errno::ETIMEDOUT => 10060,
            Errno::EINVAL => 10022,
            Errno::EACCES => 10013,
            Errno::EAGAIN => 10035,
            Errno::ENOTCONN => 10057,
            Errno::EPIPE => 10058, // WSAESHUTDOWN
            Errno::EISCONN => 10056,
            Errno::EBADF => 10009,
            Errno::EOPNOTSUPP => 10045,
            Errno::ENOPROTOOPT => 10042,
            Errno::EAFNOSUPPORT => 10047,
            Errno::ENETUNREACH => 10051,
        }
    }

    /// The error as a profile shows it to its users.
    pub fn display_for(self, style: ErrnoStyle) -> String {
        match (style, self) {
            (ErrnoStyle::Posix, e) => e.name().to_string(),
            (ErrnoStyle::Winsock, Errno::EAGAIN) => "WSAEWOULDBLOCK (10035)".to_string(),
            (ErrnoStyle::Winsock, Errno::EPIPE) => "WSAESHUTDOWN (10058)".to_string(),
            (ErrnoStyle::Winsock, e) => format!("WSA{} ({})", e.name(), e.winsock_code()),
            (ErrnoStyle::StratusOsTcp, Errno::EADDRINUSE) => "e$tcp_address_in_use (4932)".into(),
            (ErrnoStyle::StratusStcp, Errno::EADDRINUSE) => "e$streams_EADDRINUSE (6066)".into(),
            (ErrnoStyle::Hpux, Errno::EADDRINUSE) => "EADDRINUSE (226)".to_string(),
            (_, e) => e.name().to_string(),
        }
    }
}

impl fmt::Display for ErrnoStyle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrnoStyle::Posix => "posix",
            ErrnoStyle::Winsock => "winsock",
            ErrnoStyle::StratusOsTcp => "stratus-os-tcp",
            ErrnoStyle::StratusStcp => "stratus-stcp",
            ErrnoStyle::Hpux => "hpux",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_winsock_spelling_parses() {
        for e in Errno::ALL {
            assert_eq!(Errno::from_name(e.name()), Some(e));
        }
        assert_eq!(Errno::from_name("WSAEADDRINUSE"), Some(Errno::EADDRINUSE));
        assert_eq!(Errno::from_name("EADDRINUS"), None);
    }

    #[test]
    fn profile_spellings_follow_the_sources() {
        assert_eq!(
            Errno::EADDRINUSE.display_for(ErrnoStyle::Winsock),
            "WSAEADDRINUSE (10048)"
        );
        assert_eq!(
            Errno::ECONNREFUSED.display_for(ErrnoStyle::Winsock),
            "WSAECONNREFUSED (10061)"
        );
        assert_eq!(
            Errno::ENOPROTOOPT.display_for(ErrnoStyle::Winsock),
            "WSAENOPROTOOPT (10042)"
        );
        assert_eq!(
            Errno::EAFNOSUPPORT.display_for(ErrnoStyle::Winsock),
            "WSAEAFNOSUPPORT (10047)"
        );
        assert_eq!(
            Errno::EADDRINUSE.display_for(ErrnoStyle::StratusOsTcp),
            "e$tcp_address_in_use (4932)"
        );
        assert_eq!(
            Errno::EADDRINUSE.display_for(ErrnoStyle::StratusStcp),
            "e$streams_EADDRINUSE (6066)"
        );
    }
}
