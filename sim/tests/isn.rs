//! ISN policies in the simulation: the host layer translates every connection's sequence
//! numbers so the wire shows the ISS the policy chose (RFC 793 §3.3, RFC 6528), data still
//! flows, and TIME-WAIT records take their SND.NXT from the translated wire.

use serde_json::Value;
use twsim_model::SeqNum;
use twsim_sim::engine::{run, Detail, RunOptions, RunReport};
use twsim_sim::scenario::{parse, Overrides};

/// Server and client 10 ms apart: connect, a 5-byte request read by the server, the client
/// closes first, the server closes after end of stream. `extra` is spliced into the top level
/// (e.g. an `"isn"`), `client_isn` into the client host.
fn exchange(extra: &str, client_isn: &str, at: &str) -> String {
    format!(
        r#"{{"name":"isn","os":"linux",{extra}
            "hosts":[{{"name":"server","addr":"10.0.0.2"}},
                     {{"name":"client","addr":"10.0.0.1"{client_isn}}}],
            "network":{{"routes":[{{"name":"lan","delay":"10ms"}}]}},
            "steps":[
              {{"host":"server","call":"socket","sock":"L"}},
              {{"host":"server","call":"bind","sock":"L","addr":"0.0.0.0:80"}},
              {{"host":"server","call":"listen","sock":"L"}},
              {{"at":"{at}","host":"client","call":"socket","sock":"C"}},
              {{"host":"client","call":"connect","sock":"C","addr":"10.0.0.2:80","expect":"ok"}},
              {{"host":"server","call":"accept","sock":"L","as":"A","expect":"ok"}},
              {{"host":"client","call":"send","sock":"C","data":"hello","expect":"ok"}},
              {{"host":"server","call":"recv","sock":"A","expect_data":"hello"}},
              {{"host":"client","call":"close","sock":"C"}},
              {{"host":"server","call":"recv","sock":"A","expect":"ok"}},
              {{"host":"server","call":"close","sock":"A"}}
            ]}}"#
    )
}

fn run_src(src: &str) -> (RunReport, Vec<Value>) {
    let sc = parse("isn.json", src).unwrap_or_else(|e| panic!("{e}"));
    let r = sc
        .resolve("isn.json", src, None, &Overrides::default())
        .unwrap_or_else(|e| panic!("{e}"));
    run_traced(&r)
}

/// Runs a resolved scenario keeping its trace and pcap; the report and the trace's records.
fn run_traced(r: &twsim_sim::scenario::Resolved) -> (RunReport, Vec<Value>) {
    let mut rep = run(
        r,
        RunOptions {
            trace: true,
            pcap: true,
            quiet: false,
        },
    );
    let trace = rep.recorder.take_trace().expect("trace kept");
    let lines = String::from_utf8(trace)
        .expect("UTF-8 trace")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    (rep, lines)
}

/// SEG.SEQ of every sent segment from `host` with exactly `flags` (tcpdump letters).
fn sent_seqs(trace: &[Value], host: &str, flags: &str) -> Vec<u64> {
    trace
        .iter()
        .filter(|l| l["type"] == "segment" && l["host"] == host)
        .filter(|l| l["data"]["event"] == "sent" && l["data"]["flags"] == flags)
        .map(|l| l["data"]["seq"].as_u64().expect("seq"))
        .collect()
}

/// The `iss` of the first `state` record of `host`.
fn state_iss(trace: &[Value], host: &str) -> u64 {
    trace
        .iter()
        .find(|l| l["type"] == "state" && l["host"] == host)
        .and_then(|l| l["data"]["iss"].as_u64())
        .expect("a state record with an ISS")
}

#[test]
fn constant_isn_is_what_the_wire_shows_and_data_still_flows() {
    let (r, trace) = run_src(&exchange(r#""isn":{"constant":4294967290},"#, "", "0s"));
    assert!(r.ok(), "{}", twsim_sim::report::text(&r));
    // Both ends use the constant, close to the wrap: every later number wraps around 2^32.
    assert_eq!(sent_seqs(&trace, "client", "S"), vec![4_294_967_290]);
    assert_eq!(sent_seqs(&trace, "server", "S."), vec![4_294_967_290]);
    assert_eq!(state_iss(&trace, "client"), 4_294_967_290);
    assert_eq!(state_iss(&trace, "server"), 4_294_967_290);
    // The request's SEQ is ISS + 1, wrapped; its ACK covers the server's SYN.
    let data = trace
        .iter()
        .find(|l| l["type"] == "segment" && l["data"]["event"] == "sent" && l["data"]["len"] == 5)
        .expect("the request");
    assert_eq!(data["data"]["seq"], 4_294_967_291u64);
    assert_eq!(data["data"]["ack"], 4_294_967_291u64);
    // The client closed first: its TIME-WAIT record's SND.NXT is ISS + 1 + 5 + 1 on the wire.
    let created = trace
        .iter()
        .find(|l| l["type"] == "time_wait" && l["data"]["event"] == "created")
        .expect("a TIME-WAIT record");
    assert_eq!(created["host"], "client");
    assert_eq!(
        created["data"]["snd_nxt"].as_u64(),
        Some(u64::from(SeqNum(4_294_967_290).wrapping_add(7).0))
    );
    assert!(matches!(
        r.steps.iter().find(|s| s.call().starts_with("recv(A")).map(|s| &s.result),
        Some(Ok(Detail::Data(d))) if d == b"hello"
    ));
}

#[test]
fn rfc793_clock_gives_one_tick_per_4_microseconds() {
    // The client connects at t = 1.5 s: ISS = 1 500 000 µs / 4 = 375 000.
    let (r, trace) = run_src(&exchange("", r#","isn":"rfc793-clock""#, "1.5s"));
    assert!(r.ok(), "{}", twsim_sim::report::text(&r));
    assert_eq!(sent_seqs(&trace, "client", "S"), vec![375_000]);
    // The server keeps smoltcp's own generator: its ISS is the one of a run without policy.
    let (_, plain) = run_src(&exchange("", "", "1.5s"));
    assert_eq!(
        sent_seqs(&trace, "server", "S."),
        sent_seqs(&plain, "server", "S.")
    );
}

/// Linux `tcp_timewait_state_process`: a SYN that reopens a TIME-WAIT gets ISS = SND.NXT +
/// 65537 (TCP_TW_SYN, `tcp_v4_rcv` passes `tw_snd_nxt + 65535 + 2` to the new request),
/// whatever the host's ISN policy.
#[test]
fn a_syn_reopening_time_wait_on_linux_gets_snd_nxt_plus_65537() {
    // The server closes first and holds TIME-WAIT; the client comes back from the same port
    // a second later. Its SYN's TSval is newer than the record's TS.Recent (timestamps are on
    // under linux), so the SYN reopens the record whatever its SEQ.
    let base = r#"{"name":"reopen","os":"linux",
        "hosts":[{"name": "server", "addr":"10.0.0.2"},{"name":"client","addr":"10.0.0.1"}],
        "network":{"routes":[{"name":"lan","delay":"10ms"}]},
        "steps":[
          {"host":"server","call":"socket","sock":"L"},
          {"host":"server","call":"bind","sock":"L","addr":"0.0.0.0:80"},
          {"host":"server","call":"listen","sock":"L"},
          {"host":"client","call":"socket","sock":"C"},
          {"host":"client","call":"bind","sock":"C","addr":"10.0.0.1:40000"},
          {"host":"client","call":"connect","sock":"C","addr":"10.0.0.2:80","expect":"ok"},
          {"host":"server","call":"accept","sock":"L","as":"A","expect":"ok"},
          {"at":"+100ms","host":"server","call":"close","sock":"A"},
          {"host":"client","call":"recv","sock":"C","expect":"ok"},
          {"host":"client","call":"close","sock":"C"},
          {"at":"+1s","host":"client","call":"socket","sock":"C2"},
          {"host":"client","call":"bind","sock":"C2","addr":"10.0.0.1:40000","expect":"ok"},
          {"host":"client","call":"connect","sock":"C2","addr":"10.0.0.2:80","expect":"ok"},
          {"host":"server","call":"accept","sock":"L","as":"A2","expect":"ok"}
        ]}"#;
    // The server's own policy does not matter: the rule fixes the new incarnation's ISS.
    for isn in ["", r#""isn": {"constant": 5}, "#] {
        let src = base.replacen(
            r#""name": "server","#,
            &format!(r#""name": "server", {isn}"#),
            1,
        );
        let path = "reopen.json";
        let sc = parse(path, &src).unwrap_or_else(|e| panic!("{e}"));
        let r = sc
            .resolve(path, &src, None, &Overrides::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let (_, trace) = run_traced(&r);
        let server = |l: &&Value| l["host"] == "server";
        let reopened = trace
            .iter()
            .filter(server)
            .find(|l| l["type"] == "time_wait" && l["data"]["action"] == "accept_syn")
            .expect("the old SYN reopens the record");
        let record = trace
            .iter()
            .filter(server)
            .rfind(|l| l["type"] == "time_wait" && l["data"]["event"] == "created")
            .expect("the record");
        assert!(record["t_us"].as_u64() < reopened["t_us"].as_u64());
        let snd_nxt = record["data"]["snd_nxt"].as_u64().unwrap() as u32;
        let syn_ack = trace
            .iter()
            .filter(server)
            .find(|l| {
                l["type"] == "segment"
                    && l["data"]["flags"] == "S."
                    && l["t_us"] == reopened["t_us"]
            })
            .expect("the SYN-ACK of the new incarnation");
        assert_eq!(
            syn_ack["data"]["seq"].as_u64(),
            Some(u64::from(snd_nxt.wrapping_add(65_537))),
            "isn policy {isn:?}"
        );
    }
}

#[test]
fn scripted_isns_go_to_the_hosts_connections_in_order() {
    let (r, trace) = run_src(&exchange(
        r#""isn":{"scripted":[7,70]},"#,
        r#","isn":{"scripted":[100]}"#,
        "0s",
    ));
    assert!(r.ok(), "{}", twsim_sim::report::text(&r));
    assert_eq!(sent_seqs(&trace, "client", "S"), vec![100]);
    assert_eq!(sent_seqs(&trace, "server", "S."), vec![7]);
}

#[test]
fn random_isn_leaves_smoltcps_numbers_untouched() {
    let (mut plain, a) = run_src(&exchange("", "", "0s"));
    let (mut random, b) = run_src(&exchange(r#""isn":"random","#, "", "0s"));
    assert_eq!(a, b, "\"random\" is the default");
    assert_eq!(plain.recorder.take_pcap(), random.recorder.take_pcap());
}

/// time-wait.md S4 (the Stratus slow-route story): a copy of incarnation 1's request arrives
/// 45 s later. With constant ISNs and a TIME-WAIT shorter than the route it lands exactly at
/// incarnation 2's RCV.NXT and the server reads incarnation 1's bytes; a 60 s TIME-WAIT or RFC
/// 793 clock ISNs keep it out.
#[test]
fn the_slow_route_copy_corrupts_only_without_its_protections() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/slow-route-old-duplicate.json"
    );
    let src = std::fs::read_to_string(path).expect("example");
    let sc = parse(path, &src).unwrap_or_else(|e| panic!("{e}"));
    // (variant, what incarnation 2 reads, what became of the 45 s-late copy)
    let want = [
        ("smoltcp-constant-isn", "OLD-REQUEST", "delivered"),
        ("stratus-stcp-constant-isn", "OLD-REQUEST", "delivered"),
        ("linux-constant-isn", "NEW-REQUEST", "no_connection"),
        ("smoltcp-rfc793-clock", "NEW-REQUEST", "outside_window"),
    ];
    let names = sc.variant_names();
    assert_eq!(names.len(), want.len());
    for (variant, read, copy) in want {
        let i = names.iter().position(|n| n == variant).expect(variant);
        let r = sc
            .resolve(path, &src, Some(i), &Overrides::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let (rep, trace) = run_traced(&r);
        let arrival = trace
            .iter()
            .find(|l| l["data"]["event"] == "delivered" && !l["data"]["dup_of"].is_null())
            .expect("the copy arrives");
        assert_eq!(arrival["data"]["stale"], true, "{variant}");
        assert_eq!(arrival["data"]["incarnation"], 1, "{variant}");
        assert_eq!(arrival["data"]["outcome"], copy, "{variant}");
        assert!(rep.ok(), "{}", twsim_sim::report::text(&rep));
        // Ground truth agrees with what the server read.
        let corrupt = read == "OLD-REQUEST";
        assert_eq!(
            rep.hazards.corruption_events,
            u64::from(corrupt),
            "{variant}"
        );
        assert_eq!(
            rep.hazards.corrupted_bytes,
            if corrupt { 11 } else { 0 },
            "{variant}"
        );
        assert_eq!(
            rep.hazards.first_corrupt_offset,
            corrupt.then_some(0),
            "{variant}"
        );
        // The copy is stale everywhere; only where it was delivered did it pass the
        // receiver's SEQ and ACK tests (with the clock ISNs it falls outside the window).
        assert_eq!(rep.hazards.stale_arrivals, 1, "{variant}");
        assert_eq!(rep.hazards.stale_seq_ok, u64::from(corrupt), "{variant}");
        assert_eq!(rep.hazards.stale_ack_ok, u64::from(corrupt), "{variant}");
        let last = rep.steps.last().expect("the server's recv");
        assert!(
            matches!(&last.result, Ok(Detail::Data(d)) if d == read.as_bytes()),
            "{variant}: incarnation 2 read {:?}, expected {read}",
            last.result
        );
    }
}
