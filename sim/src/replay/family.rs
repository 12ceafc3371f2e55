//! Address-family rules shared by the model replay and the kernel replay: which addresses a
//! host owns, and Linux's answers for an address of the wrong family.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use twsim_model::addr::{is_plain_v6, unmapped};
use twsim_model::{Errno, Family};

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
