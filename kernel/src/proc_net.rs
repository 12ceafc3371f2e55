//! Rows of `/proc/net/tcp` and `/proc/net/tcp6`: the only view of a TIME-WAIT or orphaned
//! socket, which has no descriptor. Read through `/proc/thread-self/net/...`, which follows the
//! calling thread's network namespace (`/proc/self/net` follows the process's first thread).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use twsim_model::TcpState;

/// `TCP_TIME_WAIT` in `include/net/tcp_states.h`.
pub(crate) const TCP_TIME_WAIT: u8 = 6;

/// The RFC 9293 state of a Linux TCP state number (`include/net/tcp_states.h`).
pub(crate) fn linux_state(s: u8) -> TcpState {
    match s {
        1 => TcpState::Established,
        2 => TcpState::SynSent,
        // 12 is TCP_NEW_SYN_RECV, a request socket.
        3 | 12 => TcpState::SynReceived,
        4 => TcpState::FinWait1,
        5 => TcpState::FinWait2,
        6 => TcpState::TimeWait,
        8 => TcpState::CloseWait,
        9 => TcpState::LastAck,
        10 => TcpState::Listen,
        11 => TcpState::Closing,
        // 7 is TCP_CLOSE; nothing else is defined.
        _ => TcpState::Closed,
    }
}

/// Equal address and port (an IPv6 row carries no scope id or flow label to compare).
pub(crate) fn same_endpoint(a: SocketAddr, b: SocketAddr) -> bool {
    a.ip() == b.ip() && a.port() == b.port()
}

/// The `(local, remote, st)` columns of every row after the header line, with addresses read
/// by `addr`; malformed rows are skipped.
fn rows<A>(text: &str, addr: impl Fn(&str) -> Option<A>) -> Vec<(A, A, u8)> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut f = line.split_whitespace().skip(1);
            let local = addr(f.next()?)?;
            let remote = addr(f.next()?)?;
            let st = u8::from_str_radix(f.next()?, 16).ok()?;
            Some((local, remote, st))
        })
        .collect()
}

/// Rows `(local, remote, state)` of `/proc/net/tcp6` (format: `tcp6_seq_show`; each address
/// is four raw network-order words, each printed in host order, then the port, all hex).
pub(crate) fn parse_proc_net_tcp6(text: &str) -> Vec<(SocketAddr, SocketAddr, u8)> {
    fn addr(s: &str) -> Option<SocketAddr> {
        let (ip, port) = s.split_once(':')?;
        if ip.len() != 32 || !ip.is_ascii() {
            return None;
        }
        let mut bytes = [0u8; 16];
        for (i, chunk) in bytes.chunks_mut(4).enumerate() {
            let word = u32::from_str_radix(&ip[8 * i..8 * i + 8], 16).ok()?;
            chunk.copy_from_slice(&word.to_ne_bytes());
        }
        let port = u16::from_str_radix(port, 16).ok()?;
        Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(bytes)), port))
    }
    rows(text, addr)
}

/// Rows `(local, remote, state)` of `/proc/net/tcp` (format: `tcp4_seq_show`; addresses are
/// the raw network-order word printed in host order, ports in host order, all hex).
pub(crate) fn parse_proc_net_tcp(text: &str) -> Vec<(SocketAddrV4, SocketAddrV4, u8)> {
    fn addr(s: &str) -> Option<SocketAddrV4> {
        let (ip, port) = s.split_once(':')?;
        let ip = u32::from_str_radix(ip, 16).ok()?;
        let port = u16::from_str_radix(port, 16).ok()?;
        Some(SocketAddrV4::new(Ipv4Addr::from(ip.to_ne_bytes()), port))
    }
    rows(text, addr)
}

/// TCP sockets in TIME-WAIT in the calling thread's network namespace now, IPv4 and IPv6
/// (the rows of `/proc/thread-self/net/tcp{,6}` in state 6, `TCP_TIME_WAIT`, which come from
/// `get_timewait4_sock` and `get_timewait6_sock`); `None` where neither file can be read.
///
/// `twsim bench` prints it before its kernel baseline: `connect(2)` looks for an ephemeral
/// port through the bind hash (`__inet_hash_connect` in `net/ipv4/inet_hashtables.c`), where
/// every TIME-WAIT holds its port, so the same exchange runs more slowly while earlier
/// commands' TIME-WAITs (60 s on Linux) are still there.
pub fn time_wait_sockets() -> Option<usize> {
    let v4 = std::fs::read_to_string("/proc/thread-self/net/tcp").ok();
    let v6 = std::fs::read_to_string("/proc/thread-self/net/tcp6").ok();
    if v4.is_none() && v6.is_none() {
        return None;
    }
    let tw = |st: u8| st == TCP_TIME_WAIT;
    Some(
        v4.map_or(0, |t| {
            parse_proc_net_tcp(&t).iter().filter(|r| tw(r.2)).count()
        }) + v6.map_or(0, |t| {
            parse_proc_net_tcp6(&t).iter().filter(|r| tw(r.2)).count()
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_tcp6_rows_parse() {
        let text = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
           0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000002 00:00000000 00000000     0        0 1 3 0 100 0 0 10 0\n\
           1: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:9C41 01 00000000:00000000 00:00000000 00000000     0        0 0 1 0 20 0 0 10 -1\n\
           2: 0000000000000000FFFF00000200007F:1F90 0000000000000000FFFF00000300007F:9C40 06 00000000:00000000 00:00000000 00000000     0        0 0 1 0 20 0 0 10 -1\n";
        let rows = parse_proc_net_tcp6(text);
        if cfg!(target_endian = "little") {
            let sa = |s: &str| s.parse::<SocketAddr>().expect("address");
            assert_eq!(
                rows,
                vec![
                    (sa("[::]:8080"), sa("[::]:0"), 10),
                    (sa("[::1]:8080"), sa("[::1]:40001"), 1),
                    (
                        sa("[::ffff:127.0.0.2]:8080"),
                        sa("[::ffff:127.0.0.3]:40000"),
                        TCP_TIME_WAIT
                    ),
                ]
            );
        }
    }

    #[test]
    fn proc_net_tcp_rows_parse() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
           0: 0200007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n\
           1: 0200007F:1F90 0300007F:9C40 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0\n";
        let rows = parse_proc_net_tcp(text);
        if cfg!(target_endian = "little") {
            let server = SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 2), 8080);
            let client = SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 3), 40000);
            let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0);
            assert_eq!(rows, vec![(server, any, 10), (server, client, 6)]);
        }
        assert_eq!(linux_state(10), TcpState::Listen);
        assert_eq!(linux_state(TCP_TIME_WAIT), TcpState::TimeWait);
        assert_eq!(linux_state(7), TcpState::Closed);
    }

    /// A TIME-WAIT made here on loopback (the client closes first) is a row of
    /// `/proc/thread-self/net/tcp` in state `TCP_TIME_WAIT`, and is counted.
    #[test]
    fn a_time_wait_made_here_is_found_and_counted() {
        use std::io::Read;
        use std::net::{TcpListener, TcpStream};
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("listen");
        let c = TcpStream::connect(l.local_addr().expect("address")).expect("connect");
        let (client, server) = match (c.local_addr(), c.peer_addr()) {
            (Ok(SocketAddr::V4(a)), Ok(SocketAddr::V4(b))) => (a, b),
            other => panic!("not IPv4: {other:?}"),
        };
        let (mut s, _) = l.accept().expect("accept");
        drop(c); // the client's FIN first: its side ends in TIME-WAIT
        assert_eq!(s.read(&mut [0u8; 1]).expect("end of stream"), 0);
        drop(s);
        let found = (0..200).any(|_| {
            let text = std::fs::read_to_string("/proc/thread-self/net/tcp").expect("procfs");
            let here = parse_proc_net_tcp(&text).contains(&(client, server, TCP_TIME_WAIT));
            if !here {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            here
        });
        assert!(found, "no TIME-WAIT row for {client} -> {server}");
        assert!(time_wait_sockets().is_some_and(|n| n >= 1));
    }
}
