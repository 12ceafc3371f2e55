//! Integration tests of the `twsim` binary: determinism, the trace, pcap, pcapng, SVG ladder,
//! viewer page and JSON summary it writes.

mod cli_support;

use cli_support::*;
use serde_json::Value;
use std::path::Path;

// ---------------------------------------------------------------------------------------------
// Determinism, trace and pcap
// ---------------------------------------------------------------------------------------------

/// A pcapng packet as the tests read it: (interface, microseconds, TCP flags byte, comment).
type NgPacket = (u32, u64, u8, String);

/// Reads a pcapng: the interface names, then every packet.
fn read_pcapng(bytes: &[u8]) -> (Vec<String>, Vec<NgPacket>) {
    use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketOption;
    use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
    use pcap_file::pcapng::{Block, PcapNgReader};
    let mut r = PcapNgReader::new(bytes).expect("a pcapng section header");
    let mut packets = Vec::new();
    while let Some(b) = r.next_block() {
        if let Block::EnhancedPacket(p) = b.expect("a valid block") {
            let comment = p
                .options
                .iter()
                .find_map(|o| match o {
                    EnhancedPacketOption::Comment(c) => Some(c.to_string()),
                    _ => None,
                })
                .unwrap_or_default();
            // IPv4 header (20 bytes, no options here), then TCP: flags at offset 13.
            let flags = p.data[20 + 13];
            packets.push((
                p.interface_id,
                p.timestamp.as_micros() as u64,
                flags,
                comment,
            ));
        }
    }
    let names = r
        .interfaces()
        .iter()
        .map(|i| {
            i.options
                .iter()
                .find_map(|o| match o {
                    InterfaceDescriptionOption::IfName(n) => Some(n.to_string()),
                    _ => None,
                })
                .unwrap_or_default()
        })
        .collect();
    (names, packets)
}

/// `--pcap FILE.pcapng`: send and receive side as two interfaces; the lost final ACK of
/// lost-final-ack is on the send side only, with its comment; a late copy carries where it
/// came from; same seed, same bytes; classic pcap for other names.
#[test]
fn pcapng_shows_dropped_and_late_segments_with_comments() {
    let dir = TempDir::new("pcapng");
    let f = dir.path("f.pcapng");
    let o = twsim([
        "demo".as_ref(),
        "lost-final-ack".as_ref(),
        "--pcap".as_ref(),
        f.as_os_str(),
    ]);
    assert_status(&o, 0, "demo lost-final-ack --pcap f.pcapng");
    let main = dir.path("f.lost-final-ack.base.pcapng");
    let bytes = std::fs::read(&main).expect("the pcapng was written");
    assert_eq!(
        &bytes[..4],
        &[0x0a, 0x0d, 0x0d, 0x0a],
        "a pcapng section header block"
    );
    let (names, packets) = read_pcapng(&bytes);
    assert_eq!(names, ["send", "receive"]);
    let dropped: Vec<_> = packets
        .iter()
        .filter(|p| p.3.contains("dropped by fault #0"))
        .collect();
    assert_eq!(dropped.len(), 1, "{packets:?}");
    let (iface, t, flags, comment) = dropped[0];
    assert_eq!(*iface, 0, "seen where it was sent");
    assert_eq!(*flags, 0x10, "a bare ACK: {comment}");
    assert!(comment.contains("client > server [.]"), "{comment}");
    let id = comment.split(' ').next().expect("an id");
    assert!(
        !packets
            .iter()
            .any(|p| p.0 == 1 && p.3.split(':').next() == Some(id)),
        "the dropped ACK {id} never reaches the receive side: {packets:?}"
    );
    // Every segment sent at t is received one route delay (10 ms) later.
    let sends = packets.iter().filter(|p| p.0 == 0).count();
    let receives = packets.iter().filter(|p| p.0 == 1).count();
    assert_eq!(sends, receives + 1, "{packets:?}");
    let first_receive = packets.iter().find(|p| p.0 == 1).expect("a delivery");
    assert_eq!(first_receive.1, packets[0].1 + 10_000, "{packets:?}");
    assert!(*t > 0);
    // A late copy says what it is, on both sides.
    let g = dir.path("g.pcapng");
    let o = twsim([
        "demo".as_ref(),
        "slow-route-old-duplicate".as_ref(),
        "--variant".as_ref(),
        "smoltcp-constant-isn".as_ref(),
        "--pcap".as_ref(),
        g.as_os_str(),
    ]);
    assert_status(&o, 0, "slow-route-old-duplicate --pcap g.pcapng");
    let g_bytes = std::fs::read(&g).expect("the pcapng was written");
    let (_, packets) = read_pcapng(&g_bytes);
    assert!(
        packets.iter().any(|p| p.0 == 0
            && p.3
                .contains("copy of #4 via slow (fault #0), arrives t=45.030s")),
        "{packets:?}"
    );
    assert!(
        packets.iter().any(|p| p.0 == 1
            && p.1 == 45_030_000
            && p.3.contains(
                "copy of #4 via slow, sent 45.000s ago; old duplicate of incarnation 1: delivered"
            )),
        "{packets:?}"
    );
    // Deterministic bytes.
    let h = dir.path("h.pcapng");
    twsim([
        "demo".as_ref(),
        "slow-route-old-duplicate".as_ref(),
        "--variant".as_ref(),
        "smoltcp-constant-isn".as_ref(),
        "--pcap".as_ref(),
        h.as_os_str(),
    ]);
    assert_eq!(std::fs::read(&h).expect("written"), g_bytes);
}

/// `--svg`: a well-formed SVG ladder, read back with the svg crate's parser: two lanes, the
/// lost final ACK drawn as a dropped segment ending in a cross with its fault, TIME-WAIT as a
/// band labelled with its length, calls beside the lanes, and a break for the idle minute.
#[test]
fn svg_ladder_shows_the_lost_final_ack() {
    use svg::parser::Event;
    let dir = TempDir::new("svg");
    let f = dir.path("f.svg");
    let o = twsim([
        "demo".as_ref(),
        "lost-final-ack".as_ref(),
        "--svg".as_ref(),
        f.as_os_str(),
    ]);
    assert_status(&o, 0, "demo lost-final-ack --svg f.svg");
    let text = std::fs::read_to_string(dir.path("f.lost-final-ack.base.svg")).expect("written");
    let mut tags: Vec<(String, String)> = Vec::new(); // (tag, class)
    let mut texts: Vec<String> = Vec::new();
    for ev in svg::read(&text).expect("parses") {
        match ev {
            Event::Tag(name, _, attrs) => tags.push((
                name.to_string(),
                attrs
                    .get("class")
                    .map(|c| c.to_string())
                    .unwrap_or_default(),
            )),
            Event::Text(t) => texts.push(t.to_string()),
            Event::Error(e) => panic!("bad SVG: {e:?}"),
            _ => {}
        }
    }
    assert!(text.starts_with("<svg"), "{}", &text[..40]);
    let count =
        |tag: &str, class: &str| tags.iter().filter(|(t, c)| t == tag && c == class).count();
    assert_eq!(count("g", "segment dropped"), 1, "one dropped segment");
    assert_eq!(count("line", "cross"), 2, "a cross of two strokes");
    let has = |want: &str| texts.iter().any(|t| t.contains(want));
    assert!(has("dropped by fault #0"), "{texts:?}");
    assert!(has("TIME-WAIT 61.000s (expired)"), "{texts:?}");
    assert!(
        has("server 10.0.0.2") && has("client 10.0.0.1"),
        "{texts:?}"
    );
    assert!(has("C: TIME-WAIT"), "{texts:?}");
    assert!(has("close(C) = ok"), "{texts:?}");
    assert!(has("59.990s later"), "{texts:?}");
    // The README's pictures are what the command draws today.
    for (args, file) in [
        (
            &["run", "examples/lost-final-ack.json"][..],
            "docs/img/lost-final-ack.svg",
        ),
        (
            &[
                "demo",
                "slow-route-old-duplicate",
                "--variant",
                "smoltcp-constant-isn",
            ][..],
            "docs/img/slow-route-old-duplicate.svg",
        ),
    ] {
        let out = dir.path("readme.svg");
        let mut a: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
        a.push("--svg".into());
        a.push(out.clone().into());
        let o = twsim(&a);
        assert_status(&o, 0, &format!("{args:?}"));
        let now = std::fs::read(&out).expect("written");
        let kept = std::fs::read(Path::new(ROOT).join(file)).expect("the README's picture");
        assert!(
            now == kept,
            "{file} is out of date: regenerate it with twsim {} --svg {file}",
            args.join(" ")
        );
        std::fs::remove_file(&out).expect("removed");
    }
}

/// `twsim view`: one self-contained page holding the ladder, the whole trace, the layout
/// and the controls, with nothing fetched from elsewhere; a file that is not a trace is bad
/// input and writes nothing. (CI renders the page in headless Chromium.)
#[test]
fn view_writes_one_self_contained_page() {
    let dir = TempDir::new("view");
    let t = dir.path("t.jsonl");
    let o = twsim([
        "run".as_ref(),
        "examples/lost-final-ack.json".as_ref(),
        "--trace".as_ref(),
        t.as_os_str(),
    ]);
    assert_status(&o, 0, "run --trace");
    let html = dir.path("v.html");
    let o = twsim([
        "view".as_ref(),
        t.as_os_str(),
        "-o".as_ref(),
        html.as_os_str(),
    ]);
    assert_status(&o, 0, "view");
    let page = std::fs::read_to_string(&html).expect("written");
    let trace = std::fs::read_to_string(&t).expect("trace");
    for want in [
        "<svg",
        "class=\"segment dropped\"",
        "id=\"scrub\"",
        "id=\"conn\"",
        "id=\"records\"",
        "id=\"record\"",
        "<title>lost-final-ack (seed 1)</title>",
    ] {
        assert!(page.contains(want), "{want:?} not in the page");
    }
    for banned in ["http://", "https://", "src=\"", "href=\""] {
        let hits: Vec<&str> = page
            .lines()
            .filter(|l| l.contains(banned) && !l.contains("http://www.w3.org/2000/svg"))
            .collect();
        assert!(hits.is_empty(), "{banned:?}: {hits:?}");
    }
    // The whole trace, record for record.
    let start =
        page.find("id=\"trace-data\">").expect("trace element") + "id=\"trace-data\">".len();
    let end = start + page[start..].find("</script>").expect("its end");
    let embedded: Vec<serde_json::Value> = serde_json::from_str(&page[start..end]).expect("JSON");
    let lines: Vec<serde_json::Value> = trace
        .lines()
        .map(|l| serde_json::from_str(l).expect("a trace line"))
        .collect();
    assert_eq!(embedded, lines);
    // Not a trace.
    let bad = dir.path("bad.html");
    let o = twsim([
        "view".as_ref(),
        "examples/lost-final-ack.json".as_ref(),
        "-o".as_ref(),
        bad.as_os_str(),
    ]);
    assert_status(&o, 2, "view of a scenario");
    assert!(stderr(&o).contains("trace line 1"), "{}", stderr(&o));
    assert!(!bad.exists());
}

const DET_SCENARIO: &str = "examples/fork-server-restart.json";

/// Runs the determinism scenario with `seed`, returning (trace, pcap) bytes.
fn trace_and_pcap(dir: &TempDir, tag: &str, seed: u64) -> (Vec<u8>, Vec<u8>) {
    let trace = dir.path(&format!("{tag}.jsonl"));
    let pcap = dir.path(&format!("{tag}.pcap"));
    let seed = seed.to_string();
    let o = twsim([
        "run".as_ref(),
        DET_SCENARIO.as_ref(),
        "--seed".as_ref(),
        seed.as_ref(),
        "--trace".as_ref(),
        trace.as_os_str(),
        "--pcap".as_ref(),
        pcap.as_os_str(),
    ]);
    assert_status(&o, 0, &format!("run {DET_SCENARIO} --seed {seed}"));
    (
        std::fs::read(&trace).expect("trace written"),
        std::fs::read(&pcap).expect("pcap written"),
    )
}

fn trace_records(trace: &[u8]) -> Vec<Value> {
    std::str::from_utf8(trace)
        .expect("trace is UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad trace line {l:?}: {e}")))
        .collect()
}

/// Segment records with the given `data.event`.
fn segments<'a>(recs: &'a [Value], event: &str) -> Vec<&'a Value> {
    recs.iter()
        .filter(|r| r["type"] == "segment" && r["data"]["event"] == event)
        .collect()
}

fn first_syn_seq(trace: &[u8]) -> u64 {
    let recs = trace_records(trace);
    let syn = segments(&recs, "sent")
        .into_iter()
        .find(|r| r["data"]["flags"] == "S")
        .expect("a SYN was sent");
    syn["data"]["seq"].as_u64().expect("seq is a number")
}

fn u32_le(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

/// (timestamp in µs, TCP sequence number) of every pcap record, after checking the global header.
fn pcap_packets(pcap: &[u8]) -> Vec<(u64, u32)> {
    assert!(pcap.len() >= 24, "pcap shorter than its global header");
    assert_eq!(
        &pcap[0..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "little-endian microsecond magic"
    );
    assert_eq!(u16::from_le_bytes([pcap[4], pcap[5]]), 2, "version major");
    assert_eq!(u16::from_le_bytes([pcap[6], pcap[7]]), 4, "version minor");
    assert_eq!(u32_le(pcap, 20), 101, "LINKTYPE_RAW");
    let mut out = Vec::new();
    let mut i = 24;
    while i < pcap.len() {
        assert!(i + 16 <= pcap.len(), "truncated record header at {i}");
        let (sec, usec, incl, orig) = (
            u32_le(pcap, i),
            u32_le(pcap, i + 4),
            u32_le(pcap, i + 8),
            u32_le(pcap, i + 12),
        );
        assert!(usec < 1_000_000, "microseconds field {usec} out of range");
        assert_eq!(incl, orig, "whole packets are captured");
        let pkt = &pcap[i + 16..i + 16 + incl as usize];
        assert_eq!(pkt[0] >> 4, 4, "raw IPv4 packet");
        assert_eq!(pkt[9], 6, "TCP");
        let ihl = usize::from(pkt[0] & 0x0f) * 4;
        let seq = u32::from_be_bytes(pkt[ihl + 4..ihl + 8].try_into().expect("4 bytes"));
        out.push((u64::from(sec) * 1_000_000 + u64::from(usec), seq));
        i += 16 + incl as usize;
    }
    assert_eq!(i, pcap.len(), "pcap ends on a record boundary");
    out
}

#[test]
fn same_seed_gives_identical_trace_and_pcap() {
    let dir = TempDir::new("same-seed");
    let (t1, p1) = trace_and_pcap(&dir, "a", 1);
    let (t2, p2) = trace_and_pcap(&dir, "b", 1);
    assert!(!t1.is_empty() && !p1.is_empty());
    assert!(t1 == t2, "traces differ between two runs with seed 1");
    assert!(p1 == p2, "pcaps differ between two runs with seed 1");
}

#[test]
fn another_seed_gives_another_trace() {
    let dir = TempDir::new("other-seed");
    let (t1, _) = trace_and_pcap(&dir, "s1", 1);
    let (t2, _) = trace_and_pcap(&dir, "s2", 2);
    assert!(t1 != t2, "seed 2 gave the same trace as seed 1");
    let (s1, s2) = (first_syn_seq(&t1), first_syn_seq(&t2));
    assert_ne!(s1, s2, "the first SYN's ISN does not depend on the seed");
}

#[test]
fn pcap_is_raw_ip_stamped_at_delivery_times() {
    let dir = TempDir::new("pcap");
    let (trace, pcap) = trace_and_pcap(&dir, "p", 1);
    let recs = trace_records(&trace);
    let delivered: Vec<(u64, u32)> = segments(&recs, "delivered")
        .iter()
        .map(|r| {
            let t = r["t_us"].as_u64().expect("t_us");
            let seq = r["data"]["seq"].as_u64().expect("seq");
            (t, u32::try_from(seq).expect("seq fits in 32 bits"))
        })
        .collect();
    let packets = pcap_packets(&pcap);
    assert!(!packets.is_empty(), "empty capture");
    for (t, seq) in &packets {
        assert!(
            delivered.iter().any(|(dt, _)| dt == t),
            "packet at {t} us is at no delivered segment's virtual time"
        );
        assert!(
            delivered.contains(&(*t, *seq)),
            "packet seq={seq} at {t} us was not delivered then"
        );
    }
    assert_eq!(
        packets, delivered,
        "one capture per delivered segment, in delivery order"
    );
}

#[test]
fn json_summary_parses() {
    let o = twsim(["run", "examples/fork-server-restart.json", "--json"]);
    assert_status(&o, 0, "run --json");
    let v: Value = serde_json::from_str(&stdout(&o)).expect("--json prints one JSON document");
    assert_eq!(v["ok"], Value::Bool(true), "{v}");
    assert_eq!(v["scenario"], "fork-server-restart", "{v}");
    // Every step names its call, as the timeline does.
    let steps = v["steps"].as_array().expect("steps");
    assert!(!steps.is_empty());
    for st in steps {
        assert!(
            st["call"].as_str().is_some_and(|c| !c.is_empty()),
            "a step without its call: {st}"
        );
    }
    assert_eq!(steps[0]["call"], "fork() -> parent", "{v}");

    // A scenario with variants prints one summary per variant.
    let o = twsim(["run", "examples/restart-time-wait.json", "--json"]);
    assert_status(&o, 0, "run --json (variants)");
    let v: Value = serde_json::from_str(&stdout(&o)).expect("--json prints one JSON document");
    let runs = v.as_array().expect("an array of summaries");
    let variants = [
        "linux",
        "rfc793-msl-30s",
        "rfc793-msl-2min",
        "stratus-os-tcp",
        "stratus-stcp",
        "hpux",
    ];
    assert_eq!(runs.len(), variants.len(), "{v}");
    for (r, name) in runs.iter().zip(variants) {
        assert_eq!(r["variant"], name, "{v}");
    }
    assert!(runs.iter().all(|r| r["ok"] == Value::Bool(true)), "{v}");
}
