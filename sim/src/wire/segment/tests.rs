//! Tests of the segment view, the in-place parses and the translations.

use super::*;

#[test]
fn the_timestamp_fast_path_reads_what_the_general_parse_reads() {
    let ts = [8, 10, 0, 0, 0, 7, 0x80, 0, 0, 9];
    let with = |pre: &[u8], post: &[u8]| [pre, &ts[..], post].concat();
    let cases = [
        with(&[], &[]),
        with(&[], &[0, 0]),
        with(&[1, 1], &[]),
        with(&[1], &[0]),
        // Not timestamps alone: the general parse reads the rest.
        with(&[], &[2, 4, 5, 0xb4]),
        with(&[1, 1], &[1, 1, 4, 2]),
        with(&[2, 4, 5, 0xb4], &[]),
        // Truncated or malformed: what was read stays.
        ts[..9].to_vec(),
        vec![8, 10, 1, 2],
        vec![1, 1, 1],
        vec![],
    ];
    for c in cases {
        assert_eq!(TcpOptions::parse(&c), TcpOptions::parse_each(&c), "{c:?}");
        assert_eq!(
            TcpOptions::parse(&c),
            TcpOptions::parse_with_smoltcp(&c),
            "{c:?}"
        );
    }
    assert_eq!(
        TcpOptions::parse(&with(&[1, 1], &[])).timestamp,
        Some((7, 0x8000_0009))
    );
}

/// A small deterministic generator for the agreement tests (xorshift64).
struct Gen(u64);
impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> usize {
        (self.next() % n) as usize
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// An options field of well-formed, malformed and unknown options, possibly truncated.
fn random_options(g: &mut Gen) -> Vec<u8> {
    let mut o = Vec::new();
    for _ in 0..g.below(6) {
        match g.below(12) {
            0 => o.push(0),
            1 | 2 => o.push(1),
            3 => o.extend([2, 4, g.next() as u8, g.next() as u8]),
            4 => o.extend([3, 3, g.next() as u8]),
            5 => o.extend([4, 2]),
            6 => {
                let n = 1 + g.below(4);
                o.extend([5, (2 + 8 * n) as u8]);
                o.extend(g.bytes(8 * n));
            }
            7 => {
                o.extend([8, 10]);
                o.extend(g.bytes(8));
            }
            8 => {
                // A known or unknown kind with an arbitrary length byte.
                let kind = [2, 3, 4, 5, 8, 9, 30][g.below(7)];
                let len = g.below(40);
                o.extend([kind, len as u8]);
                o.extend(g.bytes(len.saturating_sub(2)));
            }
            _ => {
                let n = 1 + g.below(4);
                o.extend(g.bytes(n));
            }
        }
    }
    // An options field holds at most 40 bytes.
    o.truncate(40);
    if g.below(4) == 0 {
        o.truncate(g.below(o.len() as u64 + 1));
    }
    o
}

#[test]
fn the_in_place_option_parse_reads_what_smoltcp_reads() {
    let mut g = Gen(0x9e37_79b9_7f4a_7c15);
    for _ in 0..200_000 {
        let o = random_options(&mut g);
        let want = TcpOptions::parse_with_smoltcp(&o);
        assert_eq!(TcpOptions::parse_each(&o), want, "{o:?}");
        assert_eq!(TcpOptions::parse(&o), want, "{o:?}");
    }
}

#[test]
fn the_in_place_segment_parse_reads_what_smoltcp_reads() {
    let a: SocketAddrV4 = "10.0.0.1:40000".parse().unwrap();
    let b: SocketAddrV4 = "10.0.0.2:80".parse().unwrap();
    let mut g = Gen(0x2545_f491_4f6c_dd1d);
    let mut parsed = 0;
    for i in 0..100_000 {
        let payload_len = g.below(3) * 7;
        let payload = g.bytes(payload_len);
        let tcp = TcpRepr {
            src_port: a.port(),
            dst_port: b.port(),
            control: [
                TcpControl::None,
                TcpControl::Syn,
                TcpControl::Fin,
                TcpControl::Rst,
                TcpControl::Psh,
            ][g.below(5)],
            seq_number: TcpSeqNumber(g.next() as i32),
            ack_number: (g.below(2) == 0).then(|| TcpSeqNumber(g.next() as i32)),
            window_len: g.next() as u16,
            window_scale: (g.below(2) == 0).then(|| g.next() as u8 % 15),
            max_seg_size: (g.below(2) == 0).then(|| g.next() as u16),
            sack_permitted: g.below(2) == 0,
            sack_ranges: [None, None, None],
            timestamp: (g.below(2) == 0)
                .then(|| smoltcp::wire::TcpTimestampRepr::new(g.next() as u32, 0)),
            payload: &payload,
        };
        let mut p = emit(a, b, &tcp);
        // Damage some: header fields, bytes past the end, then truncation.
        for _ in 0..g.below(4) {
            match g.below(5) {
                0 => p[0] = (p[0] & 0xf0) | (g.next() as u8 & 0x0f),
                1 => p[2..4].copy_from_slice(&(g.below(120) as u16).to_be_bytes()),
                2 => p[9] = [6, 17, 1][g.below(3)],
                3 => p[20 + 12] = (g.next() as u8) & 0xf0,
                _ => {
                    let n = g.below(8);
                    p.extend(g.bytes(n));
                }
            }
        }
        if i % 7 == 0 {
            // Arbitrary bytes after the fixed TCP header.
            let end = p.len();
            if end > 40 {
                let o = random_options(&mut g);
                let n = o.len().min(end - 40);
                p[40..40 + n].copy_from_slice(&o[..n]);
            }
        }
        if g.below(5) == 0 {
            p.truncate(g.below(p.len() as u64 + 1));
        }
        let m = SegMeta::parse(&p);
        assert_eq!(m, SegMeta::parse_with_smoltcp(&p), "{p:?}");
        parsed += usize::from(m.is_some());
    }
    // Both verdicts are exercised.
    assert!((20_000..80_000).contains(&parsed), "{parsed}");
}

#[test]
fn crafted_segments_parse_back_with_valid_checksums() {
    let a: SocketAddrV4 = "10.0.0.1:40000".parse().unwrap();
    let b: SocketAddrV4 = "10.0.0.2:80".parse().unwrap();
    let bytes = craft(a, b, SeqNum(7), Some(SeqNum(9)), Ctl::Ack, 512);
    let ip = Ipv4Packet::new_checked(&bytes[..]).unwrap();
    assert!(ip.verify_checksum());
    let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
    assert!(tcp.verify_checksum(&IpAddress::Ipv4(*a.ip()), &IpAddress::Ipv4(*b.ip())));
    let m = SegMeta::parse(&bytes).unwrap();
    assert_eq!(
        (m.src, m.dst, m.seq, m.ack, m.flags, m.window),
        (a, b, SeqNum(7), SeqNum(9), TcpFlags::ACK, 512)
    );
}

#[test]
fn reset_follows_rfc9293_closed_state_rule() {
    let a: SocketAddrV4 = "10.0.0.1:40000".parse().unwrap();
    let b: SocketAddrV4 = "10.0.0.2:80".parse().unwrap();
    let syn = SegMeta {
        src: a,
        dst: b,
        flags: TcpFlags::SYN,
        psh: false,
        seq: SeqNum(100),
        ack: SeqNum(0),
        payload_len: 0,
        window: 100,
        options: TcpOptions::default(),
    };
    let r = SegMeta::parse(&reset_for(&syn).unwrap()).unwrap();
    assert_eq!(
        (r.src, r.dst, r.seq, r.ack, r.flags),
        (b, a, SeqNum(0), SeqNum(101), TcpFlags::RST | TcpFlags::ACK)
    );
    let ack = SegMeta {
        flags: TcpFlags::ACK | TcpFlags::FIN,
        ack: SeqNum(555),
        ..syn
    };
    let r = SegMeta::parse(&reset_for(&ack).unwrap()).unwrap();
    assert_eq!((r.seq, r.flags), (SeqNum(555), TcpFlags::RST));
    assert!(reset_for(&SegMeta {
        flags: TcpFlags::RST,
        ..syn
    })
    .is_none());
}

#[test]
fn options_are_parsed_once_with_the_segment() {
    let a: SocketAddrV4 = "10.0.0.1:40000".parse().unwrap();
    let b: SocketAddrV4 = "10.0.0.2:80".parse().unwrap();
    let tcp = TcpRepr {
        src_port: a.port(),
        dst_port: b.port(),
        control: TcpControl::Syn,
        seq_number: TcpSeqNumber(100),
        ack_number: None,
        window_len: 1024,
        window_scale: Some(7),
        max_seg_size: Some(1460),
        sack_permitted: true,
        sack_ranges: [None, None, None],
        timestamp: Some(smoltcp::wire::TcpTimestampRepr::new(11, 0)),
        payload: &[],
    };
    let p = Packet::parse(emit(a, b, &tcp)).unwrap();
    let o = p.meta.options;
    assert_eq!(
        (o.mss, o.window_scale, o.sack_permitted, o.timestamp),
        (Some(1460), Some(7), true, Some((11, 0)))
    );
    assert_eq!(p.meta.info().tsval, Some(TsVal(11)));
    assert_eq!((p.meta.seq, p.meta.seg_len()), (SeqNum(100), 1));
}

#[test]
fn translation_is_a_bijection_with_valid_checksums() {
    let a: SocketAddrV4 = "10.0.0.1:40000".parse().unwrap();
    let b: SocketAddrV4 = "10.0.0.2:80".parse().unwrap();
    let tcp = TcpRepr {
        src_port: a.port(),
        dst_port: b.port(),
        control: TcpControl::None,
        seq_number: TcpSeqNumber(1000),
        ack_number: Some(TcpSeqNumber(5000)),
        window_len: 1024,
        window_scale: None,
        max_seg_size: None,
        sack_permitted: false,
        sack_ranges: [Some((6000, 7000)), Some((8000, 9000)), None],
        timestamp: Some(smoltcp::wire::TcpTimestampRepr::new(3, 4)),
        payload: b"data",
    };
    let original = emit(a, b, &tcp);
    let mut p = Packet::parse(original.clone()).unwrap();
    p.shift_seq(u32::MAX - 10);
    p.unshift_ack(100);
    let check = |p: &Packet| {
        let ip = Ipv4Packet::new_checked(&p.bytes[..]).unwrap();
        let t = TcpPacket::new_checked(ip.payload()).unwrap();
        assert!(t.verify_checksum(&IpAddress::Ipv4(*a.ip()), &IpAddress::Ipv4(*b.ip())));
        assert_eq!(
            SegMeta::parse(&p.bytes).unwrap(),
            p.meta,
            "the view follows the bytes"
        );
    };
    check(&p);
    assert_eq!(p.meta.seq, SeqNum(1000u32.wrapping_add(u32::MAX - 10)));
    assert_eq!(p.meta.ack, SeqNum(4900));
    assert_eq!(p.meta.options.sack[0], Some((5900, 6900)));
    assert_eq!(p.meta.options.timestamp, Some((3, 4)));
    p.shift_seq(11);
    p.unshift_ack(u32::MAX - 99);
    check(&p);
    assert_eq!(p.bytes, original, "shifting back restores every byte");
}

#[test]
fn checksums_are_known_from_the_emitter_or_verified() {
    let a: SocketAddrV4 = "10.0.0.1:40000".parse().unwrap();
    let b: SocketAddrV4 = "10.0.0.2:80".parse().unwrap();
    let good = craft(a, b, SeqNum(7), Some(SeqNum(9)), Ctl::Ack, 512);
    // What the emitter vouches for is what a verification finds.
    let p = Packet::parse(good.clone()).unwrap();
    assert_eq!(Packet::emitted(good.clone()).unwrap(), p);
    assert!(p.checksums_ok());
    // A damaged IPv4 header checksum, a damaged TCP checksum, a damaged payload byte.
    for at in [10, 20 + 16, 20 + 13] {
        let mut bad = good.clone();
        bad[at] ^= 0x40;
        let mut p = Packet::parse(bad).unwrap();
        assert!(!p.checksums_ok(), "byte {at}");
        // A translation recomputes the TCP checksum only.
        p.unshift_ack(3);
        assert_eq!(p.checksums_ok(), at != 10, "byte {at}");
        assert_eq!(
            p.checksums_ok(),
            Packet::parse(p.bytes.clone()).unwrap().checksums_ok()
        );
    }
}
