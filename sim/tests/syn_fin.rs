//! A segment with both SYN and FIN, which smoltcp 0.14 cannot represent: each profile's
//! `SynFinRule` decides in the host layer, at a listener and at a TIME-WAIT record. Two hosts
//! are driven by hand (no scenario can send a SYN+FIN) and the SYN+FIN is crafted.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use twsim_model::{Duration, FourTuple, Instant, IsnGenerator, IsnPolicy, Profile, SeqNum};
use twsim_sim::host::Host;
use twsim_sim::wire::{craft, Ctl, Packet, TcpFlags};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

fn host(name: &str, addr: Ipv4Addr, p: Profile) -> Host {
    let cfg = p.config();
    let msl = Duration::from_secs(30);
    Host::new(
        name.to_string(),
        addr,
        cfg,
        cfg.time_wait_duration(msl),
        msl,
        twsim_sim::rng::stream(1, name),
        IsnGenerator::new(IsnPolicy::Random, 1),
    )
}

/// Moves every packet each host sent to the other, `rounds` times, 1 ms apart.
fn shuttle(h: &mut [Host; 2], now: &mut Instant, rounds: u32) {
    for _ in 0..rounds {
        *now += Duration::from_millis(1);
        for i in 0..2 {
            h[i].poll(*now);
            for p in h[i].take_tx() {
                h[1 - i].deliver(*now, p);
            }
        }
    }
}

/// A crafted SYN+FIN (no ACK) from `src` to `dst` with sequence number `seq`.
fn syn_fin(src: SocketAddrV4, dst: SocketAddrV4, seq: SeqNum) -> Packet {
    use smoltcp::wire::{IpAddress, Ipv4Packet, TcpPacket};
    let mut bytes = craft(src, dst, seq, None, Ctl::Ack, 1024);
    let mut ip = Ipv4Packet::new_unchecked(&mut bytes[..]);
    let mut tcp = TcpPacket::new_unchecked(ip.payload_mut());
    tcp.set_syn(true);
    tcp.set_fin(true);
    tcp.fill_checksum(&IpAddress::Ipv4(*src.ip()), &IpAddress::Ipv4(*dst.ip()));
    let p = Packet::parse(bytes).expect("well formed");
    assert!(p.meta.has(TcpFlags::SYN | TcpFlags::FIN) && !p.meta.has(TcpFlags::ACK));
    p
}

/// A server listening on :80 (and a client host beside it).
fn listening(p: Profile) -> ([Host; 2], Instant) {
    let mut h = [host("server", SERVER, p), host("client", CLIENT, p)];
    let any: SocketAddr = "0.0.0.0:80".parse().unwrap();
    h[0].socket("main", "L").unwrap();
    h[0].bind("main", "L", any).unwrap();
    h[0].listen("main", "L", 8).unwrap();
    (h, Instant::ZERO)
}

fn flags(p: &Packet) -> String {
    p.meta.flag_letters()
}

#[test]
fn a_syn_fin_to_a_listener_follows_the_profile() {
    // FreeBSD (drop_synfin = 0): a SYN, answered with SYN-ACK. Linux: tcp_rcv_state_process
    // discards it at the listener. XNU: dropped before any lookup (tcp_input line 2237).
    for (p, reply) in [
        (Profile::FreeBsd, Some("S.")),
        (Profile::Rfc793, Some("S.")),
        (Profile::Linux, None),
        (Profile::MacOs, None),
    ] {
        let (mut h, mut now) = listening(p);
        now += Duration::from_millis(1);
        let src = SocketAddrV4::new(CLIENT, 40000);
        let dst = SocketAddrV4::new(SERVER, 80);
        h[0].deliver(now, syn_fin(src, dst, SeqNum(7)));
        h[0].poll(now);
        let out: Vec<String> = h[0].take_tx().iter().map(flags).collect();
        assert_eq!(
            out,
            reply.into_iter().map(String::from).collect::<Vec<_>>(),
            "{p:?}"
        );
    }
}

#[test]
fn a_syn_fin_beyond_rcv_nxt_at_a_time_wait_record_follows_the_profile() {
    for (p, record_left, reply) in [
        // tcp_twcheck closes the record; the listener answers as for a SYN
        (Profile::FreeBsd, false, Some("S.")),
        // TCP_TW_SYN deschedules the record; the listener discards the SYN+FIN
        (Profile::Linux, false, None),
        // dropped before the record sees it
        (Profile::MacOs, true, None),
    ] {
        let (mut h, mut now) = listening(p);
        h[1].socket("main", "C").unwrap();
        let server: SocketAddr = "10.0.0.2:80".parse().unwrap();
        let local = h[1].connect(now, "main", "C", server).unwrap();
        shuttle(&mut h, &mut now, 5);
        assert!(h[0].accept("main", "L", "A").unwrap().is_some(), "{p:?}");
        // The server closes first and ends in TIME-WAIT.
        h[0].close(now, "main", "A").unwrap();
        shuttle(&mut h, &mut now, 5);
        h[1].close(now, "main", "C").unwrap();
        shuttle(&mut h, &mut now, 20);
        let tw = h[0].live_time_wait();
        assert_eq!(tw.len(), 1, "{p:?}: the server holds TIME-WAIT");
        let tuple = FourTuple::new(server, SocketAddr::V4(local));
        assert_eq!(tw[0].tuple, tuple);
        let seq = tw[0].rcv_nxt.wrapping_add(10);
        h[0].deliver(now, syn_fin(local, SocketAddrV4::new(SERVER, 80), seq));
        h[0].poll(now);
        let out: Vec<String> = h[0].take_tx().iter().map(flags).collect();
        assert_eq!(
            out,
            reply.into_iter().map(String::from).collect::<Vec<_>>(),
            "{p:?}"
        );
        assert_eq!(
            h[0].live_time_wait().len(),
            usize::from(record_left),
            "{p:?}"
        );
    }
}
