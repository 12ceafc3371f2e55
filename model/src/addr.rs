//! Endpoints, 4-tuples and address overlap.

use crate::errno::Errno;
use core::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// A connection's local and remote endpoints, as seen from the host that holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FourTuple {
    /// Local address and port.
    pub local: SocketAddr,
    /// Remote address and port.
    pub remote: SocketAddr,
}

/// An IPv4 4-tuple hashes as one 96-bit word (ports in the low bits, then the addresses):
/// one hasher call instead of eight, on the path of every segment. Other tuples hash their
/// endpoints. Equal tuples hash alike, as `Eq` requires.
impl core::hash::Hash for FourTuple {
    fn hash<H: core::hash::Hasher>(&self, h: &mut H) {
        // By reference: the endpoints are not copied to be matched.
        match (&self.local, &self.remote) {
            (SocketAddr::V4(l), SocketAddr::V4(r)) => h.write_u128(
                u128::from(l.port())
                    | (u128::from(r.port()) << 16)
                    | (u128::from(u32::from(*r.ip())) << 32)
                    | (u128::from(u32::from(*l.ip())) << 64),
            ),
            (l, r) => {
                l.hash(h);
                r.hash(h);
            }
        }
    }
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

/// The IPv4 address an IPv6 address stands for, if it is IPv4-mapped (`::ffff:a.b.c.d`);
/// any other address unchanged. Linux keeps a v4-mapped socket's address as IPv4
/// (`inet_rcv_saddr`) and its connections in the IPv4 tables (`tcp_v6_connect` hands a
/// v4-mapped destination to `tcp_v4_connect`).
pub fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// [`unmapped`] for an endpoint; an IPv6 endpoint comes back without flow label and scope id.
#[inline]
pub fn unmapped_endpoint(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V4(_) => a,
        SocketAddr::V6(v6) => SocketAddr::new(unmapped(IpAddr::V6(*v6.ip())), v6.port()),
    }
}

/// Whether `ip` is a wildcard: `0.0.0.0`, `[::]`, or the v4-mapped `[::ffff:0.0.0.0]`.
pub fn is_wildcard(ip: IpAddr) -> bool {
    unmapped(ip).is_unspecified()
}

/// Whether `ip` is an IPv6 address that is neither v4-mapped nor a wildcard (`::1`, …):
/// what Linux `inet_use_bhash2_on_bind` and `__inet6_bind` treat as "plain IPv6".
pub fn is_plain_v6(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if !v6.is_unspecified() && v6.to_ipv4_mapped().is_none())
}

/// Whether two local addresses could receive the same packet: equal addresses, or a wildcard
/// that covers the other (`0.0.0.0` covers IPv4; `[::]` covers IPv6, and IPv4 too unless
/// IPV6_V6ONLY). `v6only_a`/`v6only_b` are the sockets' IPV6_V6ONLY flags. Source: Linux
/// `inet_rcv_saddr_equal` / `ipv6_rcv_saddr_equal`, bind-rules.md "IPv6".
pub fn overlaps(a: IpAddr, v6only_a: bool, b: IpAddr, v6only_b: bool) -> bool {
    let (a4, b4) = (unmapped(a), unmapped(b));
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
        // Observed on Linux 6.18 (tests/matrix/*-ipv6-*): the v4-mapped wildcard is 0.0.0.0,
        // and [::] v6only=1 leaves every IPv4 and v4-mapped address alone.
        assert!(overlaps(
            ip("::ffff:0.0.0.0"),
            false,
            ip("127.0.0.2"),
            false
        ));
        assert!(!overlaps(ip("::ffff:0.0.0.0"), false, ip("::1"), false));
        assert!(!overlaps(ip("::"), true, ip("::ffff:127.0.0.2"), false));
        assert!(overlaps(ip("::"), false, ip("::ffff:127.0.0.2"), false));
        assert!(overlaps(ip("::1"), false, ip("::"), true));
    }

    #[test]
    fn mapped_addresses_unmap() {
        assert_eq!(unmapped(ip("::ffff:127.0.0.2")), ip("127.0.0.2"));
        assert_eq!(unmapped(ip("::1")), ip("::1"));
        assert!(is_wildcard(ip("::ffff:0.0.0.0")) && is_wildcard(ip("::")));
        assert!(is_plain_v6(ip("::1")) && !is_plain_v6(ip("::")));
        assert!(!is_plain_v6(ip("::ffff:127.0.0.2")) && !is_plain_v6(ip("127.0.0.2")));
        let ep = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(unmapped_endpoint(ep("10.0.0.1:80")), ep("10.0.0.1:80"));
        assert_eq!(
            unmapped_endpoint(ep("[::ffff:10.0.0.1]:80")),
            ep("10.0.0.1:80")
        );
        let scoped = SocketAddr::V6(std::net::SocketAddrV6::new(ip6("fe80::1"), 80, 7, 2));
        assert_eq!(unmapped_endpoint(scoped), ep("[fe80::1]:80"));
    }

    fn ip6(s: &str) -> std::net::Ipv6Addr {
        s.parse().unwrap()
    }
}

/// The address family of a socket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// `AF_INET`.
    #[default]
    Inet,
    /// `AF_INET6`: IPv6, and IPv4 through v4-mapped addresses unless IPV6_V6ONLY.
    Inet6,
}

impl Family {
    /// The name scripts use: `"inet"`, `"inet6"`.
    pub fn name(self) -> &'static str {
        match self {
            Family::Inet => "inet",
            Family::Inet6 => "inet6",
        }
    }
}

// ----- Linux's answers for addresses of the wrong family (model replay and kernel replay) -----

/// Whether a host whose address is `host` may bind `ip` (as its own or a wildcard): its
/// IPv4 address, `::1`, its v4-mapped address `::ffff:a.b.c.d`, `0.0.0.0`, `[::]` and
/// `[::ffff:0.0.0.0]`. Kernel replay answers EADDRNOTAVAIL itself for anything else
/// (one kernel owns every host's address), and the model replay does the same.
pub fn host_owns(host: Ipv4Addr, ip: IpAddr) -> bool {
    match unmapped(ip) {
        IpAddr::V4(v4) => v4.is_unspecified() || v4 == host,
        IpAddr::V6(v6) => v6.is_unspecified() || v6.is_loopback(),
    }
}

/// Linux's answer when a script gives a socket an address of the other family: an IPv6
/// address (`sockaddr_in6`) on an AF_INET socket is EAFNOSUPPORT (`__inet_bind`,
/// `tcp_v4_connect`); an IPv4 one (`sockaddr_in`, too short) on an AF_INET6 socket is EINVAL
/// (`inet6_bind`, `tcp_v6_connect`: `addr_len < SIN6_LEN_RFC2133`).
pub fn family_mismatch(family: Family, a: SocketAddr) -> Option<Errno> {
    match (family, a) {
        (Family::Inet, SocketAddr::V6(_)) => Some(Errno::EAFNOSUPPORT),
        (Family::Inet6, SocketAddr::V4(_)) => Some(Errno::EINVAL),
        _ => None,
    }
}

/// Linux's answer for a connect() from an AF_INET6 socket (`v6only`, bound to `bound`) to
/// `remote` that its address family rules out: a v4-mapped destination is ENETUNREACH for an
/// IPV6_V6ONLY socket (`tcp_v6_connect`) and for a socket bound to a plain IPv6 address (its
/// IPv4 source is `LOOPBACK4_IPV6`, observed on 6.18); a plain IPv6 destination is
/// EAFNOSUPPORT for a socket bound to a v4-mapped address (`ip6_dst_lookup_tail`).
pub fn inet6_connect_refusal(
    v6only: bool,
    bound: Option<SocketAddr>,
    remote: SocketAddr,
) -> Option<Errno> {
    let bound_ip = bound.map(|b| b.ip());
    let mapped = |ip: IpAddr| matches!(ip, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some());
    if mapped(remote.ip()) {
        (v6only || bound_ip.is_some_and(is_plain_v6)).then_some(Errno::ENETUNREACH)
    } else {
        bound_ip.is_some_and(mapped).then_some(Errno::EAFNOSUPPORT)
    }
}
