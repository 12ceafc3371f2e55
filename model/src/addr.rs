//! Endpoints, 4-tuples and address overlap.

use core::fmt;
use std::net::{IpAddr, SocketAddr};

/// A connection's local and remote endpoints, as seen from the host that holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FourTuple {
    /// Local address and port.
    pub local: SocketAddr,
    /// Remote address and port.
    pub remote: SocketAddr,
}

impl FourTuple {
    /// A 4-tuple from its two endpoints.
    pub fn new(local: SocketAddr, remote: SocketAddr) -> Self {
        FourTuple { local, remote }
    }
    /// The same connection seen from the other end.
    pub fn reversed(self) -> Self {
        FourTuple {
            local: self.remote,
            remote: self.local,
        }
    }
}

impl fmt::Display for FourTuple {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}<->{}", self.local, self.remote)
    }
}

/// The IPv4 address an IPv6 address stands for, if it is IPv4-mapped (`::ffff:a.b.c.d`).
fn as_v4(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Whether two local addresses could receive the same packet: equal addresses, or a wildcard
/// that covers the other (`0.0.0.0` covers IPv4; `[::]` covers IPv6, and IPv4 too unless
/// IPV6_V6ONLY). `v6only_a`/`v6only_b` are the sockets' IPV6_V6ONLY flags. Source: Linux
/// `inet_rcv_saddr_equal` / `ipv6_rcv_saddr_equal`, bind-rules.md "IPv6".
pub fn overlaps(a: IpAddr, v6only_a: bool, b: IpAddr, v6only_b: bool) -> bool {
    let (a4, b4) = (as_v4(a), as_v4(b));
    let any6_covers_v4 = |ip: IpAddr, v6only: bool, other: IpAddr| {
        matches!(ip, IpAddr::V6(v) if v.is_unspecified()) && !v6only && other.is_ipv4()
    };
    if any6_covers_v4(a, v6only_a, b4) || any6_covers_v4(b, v6only_b, a4) {
        return true;
    }
    if a4.is_ipv4() != b4.is_ipv4() {
        return false;
    }
    a4 == b4 || a4.is_unspecified() || b4.is_unspecified()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn overlap_rules() {
        assert!(overlaps(ip("0.0.0.0"), false, ip("10.0.0.1"), false));
        assert!(overlaps(ip("10.0.0.1"), false, ip("10.0.0.1"), false));
        assert!(!overlaps(ip("10.0.0.1"), false, ip("10.0.0.2"), false));
        assert!(overlaps(ip("::"), false, ip("10.0.0.1"), false));
        assert!(!overlaps(ip("::"), true, ip("10.0.0.1"), false));
        assert!(overlaps(
            ip("::ffff:10.0.0.1"),
            false,
            ip("10.0.0.1"),
            false
        ));
        assert!(!overlaps(ip("::1"), false, ip("127.0.0.1"), false));
        assert!(overlaps(ip("::"), true, ip("::1"), false));
    }
}
