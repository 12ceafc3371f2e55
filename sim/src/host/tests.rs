//! Host-layer tests that drive a host by hand.

use super::*;
use crate::wire::craft;
use twsim_model::{IsnPolicy, Profile};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

/// A Linux host at `SERVER` listening on :80.
fn listening_server() -> Host {
    let cfg = Profile::Linux.config();
    let msl = Duration::from_secs(30);
    let mut h = Host::new(
        "server".into(),
        SERVER,
        cfg,
        cfg.time_wait_duration(msl),
        msl,
        crate::rng::stream(1, "server"),
        IsnGenerator::new(IsnPolicy::Random, 1),
    );
    let any: SocketAddr = "0.0.0.0:80".parse().unwrap();
    h.socket("main", "L").unwrap();
    h.bind("main", "L", any).unwrap();
    h.listen("main", "L", 8).unwrap();
    h
}

/// A SYN from the client, its checksum damaged if `damaged`.
fn syn(damaged: bool) -> Packet {
    use smoltcp::wire::{Ipv4Packet, TcpPacket};
    let (src, dst) = (
        SocketAddrV4::new(CLIENT, 40000),
        SocketAddrV4::new(SERVER, 80),
    );
    let mut bytes = craft(src, dst, SeqNum(7), None, Ctl::Ack, 1024);
    let mut ip = Ipv4Packet::new_unchecked(&mut bytes[..]);
    let mut tcp = TcpPacket::new_unchecked(ip.payload_mut());
    tcp.set_syn(true);
    tcp.fill_checksum(&IpAddress::Ipv4(*src.ip()), &IpAddress::Ipv4(*dst.ip()));
    if damaged {
        let c = tcp.checksum();
        tcp.set_checksum(c ^ 1);
    }
    Packet::parse(bytes).expect("well formed")
}

#[test]
fn a_segment_with_a_bad_checksum_never_reaches_smoltcp() {
    // smoltcp's device leaves receive checksums to the host layer, which drops what smoltcp's
    // own verification would drop: the damaged SYN draws no SYN-ACK, the intact one does.
    for (damaged, reply) in [(false, vec!["S."]), (true, vec![])] {
        let mut h = listening_server();
        let now = Instant::ZERO + Duration::from_millis(1);
        h.deliver(now, syn(damaged));
        h.poll(now);
        let out: Vec<String> = h.take_tx().iter().map(|p| p.meta.flag_letters()).collect();
        assert_eq!(out, reply, "damaged: {damaged}");
    }
}
