//! Stale segments against the analytic model of time-wait.md: the receiver's acceptance of
//! every stale arrival equals the prediction (SEQ_OK ⇔ −L < d < W, ACK acceptability, PAWS),
//! run after run, and with random ISNs the rate of acceptance agrees with
//! P(SEQ_OK) = (W + L − 1) / 2³² through importance sampling.

use twsim_sim::engine::{run, RunOptions};
use twsim_sim::host::Hazards;
use twsim_sim::scenario::{parse, Overrides};

/// Runs scenario `src` (no variants) and returns its hazards; the run must be OK.
fn hazards(src: &str) -> Hazards {
    let sc = parse("analytic.json", src).unwrap_or_else(|e| panic!("{e}"));
    let r = sc
        .resolve("analytic.json", src, None, &Overrides::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let rep = run(
        &r,
        RunOptions {
            trace: false,
            pcap: false,
            quiet: true,
        },
    );
    assert!(rep.ok(), "{}", twsim_sim::report::text(&rep));
    rep.hazards
}

/// The first steps of both experiments: a server listening on port 80 and incarnation 1 of
/// 10.0.0.1:40000 ↔ 10.0.0.2:80 (client socket C1, accepted as A1).
const OPENING: &str = r#"{"host":"server","call":"socket","sock":"L"},
    {"host":"server","call":"bind","sock":"L","addr":"0.0.0.0:80"},
    {"host":"server","call":"listen","sock":"L"},
    {"host":"client","call":"socket","sock":"C1"},
    {"host":"client","call":"bind","sock":"C1","addr":"10.0.0.1:40000"},
    {"host":"client","call":"connect","sock":"C1","addr":"10.0.0.2:80"},
    {"host":"server","call":"accept","sock":"L","as":"A1"}"#;

/// Incarnation 1 sends 12 segments of 1000 bytes, each copied onto a slow route with
/// probability 0.3 (delay uniform in 11–24 s); A closes first, TIME-WAIT (smoltcp, 10 s) ends,
/// A reopens the 4-tuple and sends 12 more segments one second apart while the copies arrive:
/// some land ahead of RCV.NXT in the window, some behind it, some before incarnation 2 exists.
fn stream_with_old_copies(seed: u64, isn: &str) -> String {
    let sends = |sock: &str, gap: &str| {
        (0..12)
            .map(|i| {
                format!(
                    r#"{{"at":"+{gap}","host":"client","call":"send","sock":"{sock}","data":"{}"}}"#,
                    char::from(b'a' + i as u8).to_string().repeat(1000)
                )
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        r#"{{"name":"old-copies","seed":{seed},"os":"smoltcp","isn":{isn},
        "hosts":[{{"name":"server","addr":"10.0.0.2"}},{{"name":"client","addr":"10.0.0.1"}}],
        "network":{{"routes":[{{"name":"fast","delay":"10ms"}},
                              {{"name":"slow","delay":{{"uniform":["11s","24s"]}}}}],
          "faults":[{{"match":{{"from":"client","has_payload":true,"probability":0.3}},
                      "action":{{"duplicate_via":"slow"}}}}]}},
        "steps":[
          {OPENING},
          {sends1},
          {{"at":"+100ms","host":"client","call":"close","sock":"C1"}},
          {{"at":"+50ms","host":"server","call":"recv","sock":"A1","bytes":20000}},
          {{"host":"server","call":"close","sock":"A1"}},
          {{"host":"client","call":"wait","until":"state","sock":"C1","state":"CLOSED","timeout":"30s"}},
          {{"host":"client","call":"socket","sock":"C2"}},
          {{"host":"client","call":"bind","sock":"C2","addr":"10.0.0.1:40000"}},
          {{"host":"client","call":"connect","sock":"C2","addr":"10.0.0.2:80"}},
          {{"host":"server","call":"accept","sock":"L","as":"A2","timeout":"2s"}},
          {sends2},
          {{"at":"+1s","host":"client","call":"close","sock":"C2"}}
        ]}}"#,
        sends1 = sends("C1", "100ms"),
        sends2 = sends("C2", "1s"),
    )
}

/// The acceptance of every stale arrival is what the predicates say, and with deterministic
/// ISNs the expectation is the count itself.
fn predicted_equals_observed(isn: &str, seeds: std::ops::Range<u64>) -> (u64, u64) {
    let (mut arrivals, mut accepted) = (0, 0);
    for seed in seeds {
        let h = hazards(&stream_with_old_copies(seed, isn));
        assert_eq!(
            h.stale_paws_ok, h.stale_written,
            "seed {seed}, isn {isn}: predicted {} accepted, observed {} ({h:?})",
            h.stale_paws_ok, h.stale_written
        );
        assert_eq!(
            h.expected_accepted, h.stale_paws_ok as f64,
            "seed {seed}, isn {isn}: a deterministic ISN makes the expectation the count"
        );
        arrivals += h.stale_arrivals;
        accepted += h.stale_written;
    }
    (arrivals, accepted)
}

#[test]
fn constant_isns_accept_exactly_the_predicted_old_segments() {
    let (arrivals, accepted) = predicted_equals_observed(r#"{"constant":1000}"#, 0..200);
    eprintln!("constant ISNs: {accepted} of {arrivals} stale arrivals accepted");
    // The experiment must see both outcomes, or it tests nothing.
    assert!(accepted >= 20, "{accepted} of {arrivals} accepted");
    assert!(
        arrivals - accepted >= 20,
        "{accepted} of {arrivals} accepted"
    );
}

#[test]
fn rfc793_clock_isns_accept_exactly_the_predicted_old_segments() {
    // Δ = 250 000/s × (t₂ − t₁) ≈ 2.9 MB ≫ W: the clock outruns 12 KB of data, so every old
    // copy lands outside the window (RFC 793 §3.3), as predicted.
    let (arrivals, accepted) = predicted_equals_observed(r#""rfc793-clock""#, 0..200);
    assert!(arrivals >= 200, "{arrivals} stale arrivals");
    assert_eq!(accepted, 0);
}

/// One old 100-byte request of incarnation 1 (stream offset 0) arrives while incarnation 2 is
/// idle (RCV.NXT at offset 0, W = 16 384). With Δ = ISS₂ − ISS₁ the copy is acceptable iff
/// −W < Δ < L (d = −Δ, Table 6): W + L − 1 of the 2³² values of a random Δ. Naive sampling
/// would need ~2³²/16 483 runs per acceptance; instead Δ is drawn from a proposal, uniform on
/// [−2W, 2W), and each run weighs 4W / 2³² (importance sampling).
#[test]
fn random_isn_acceptance_agrees_with_p_seq_ok_by_importance_sampling() {
    const W: i64 = 16_384;
    const L: i64 = 100;
    const N: u64 = 240;
    let mut accepted = 0u64;
    let mut rng_state = 0x2545_f491_4f6c_dd1du64;
    for seed in 0..N {
        // A proposal draw of Δ (xorshift: the test's own stream, independent of the run's).
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        let delta = (rng_state % (4 * W as u64)) as i64 - 2 * W;
        let iss1: i64 = 1_000_000;
        let iss2 = (iss1 + delta).rem_euclid(1 << 32);
        let src = format!(
            r#"{{"name":"one-old-request","seed":{seed},"os":"smoltcp",
            "hosts":[{{"name":"server","addr":"10.0.0.2","isn":{{"constant":7}}}},
                     {{"name":"client","addr":"10.0.0.1","isn":{{"scripted":[{iss1},{iss2}]}}}}],
            "network":{{"routes":[{{"name":"fast","delay":"10ms"}},{{"name":"slow","delay":"15s"}}],
              "faults":[{{"match":{{"from":"client","has_payload":true,"nth":1}},
                          "action":{{"duplicate_via":"slow"}}}}]}},
            "steps":[
              {OPENING},
              {{"host":"client","call":"send","sock":"C1","data":"{req}"}},
              {{"at":"+100ms","host":"server","call":"recv","sock":"A1"}},
              {{"host":"client","call":"close","sock":"C1"}},
              {{"at":"+50ms","host":"server","call":"recv","sock":"A1"}},
              {{"host":"server","call":"close","sock":"A1"}},
              {{"host":"client","call":"wait","until":"state","sock":"C1","state":"CLOSED","timeout":"30s"}},
              {{"host":"client","call":"socket","sock":"C2"}},
              {{"host":"client","call":"bind","sock":"C2","addr":"10.0.0.1:40000"}},
              {{"host":"client","call":"connect","sock":"C2","addr":"10.0.0.2:80"}},
              {{"host":"server","call":"accept","sock":"L","as":"A2"}},
              {{"at":"20s","host":"client","call":"close","sock":"C2"}}
            ]}}"#,
            req = "r".repeat(L as usize),
        );
        let h = hazards(&src);
        assert_eq!(h.stale_paws_ok, h.stale_written, "seed {seed}, Δ {delta}");
        let predicted = -W < delta && delta < L;
        assert_eq!(
            h.stale_written,
            u64::from(predicted),
            "seed {seed}, Δ {delta}"
        );
        accepted += h.stale_written;
    }
    // Under the proposal the acceptance probability is (W + L − 1) / 4W; a 99% bound on the
    // observed fraction (normal approximation to the binomial, z = 2.576).
    let pi = (W + L - 1) as f64 / (4 * W) as f64;
    eprintln!(
        "importance sampling: {accepted} of {N} accepted under the proposal (expected {pi:.4})"
    );
    let n = N as f64;
    let observed = accepted as f64 / n;
    let bound = 2.576 * (pi * (1.0 - pi) / n).sqrt();
    assert!(
        (observed - pi).abs() <= bound,
        "observed {observed:.4}, expected {pi:.4} ± {bound:.4}"
    );
    // Reweighted, the estimate of P(SEQ_OK) under random ISNs agrees with (W + L − 1) / 2³².
    let weight = (4 * W) as f64 / 4_294_967_296.0;
    let estimate = observed * weight;
    let analytic = (W + L - 1) as f64 / 4_294_967_296.0;
    assert!(
        (estimate - analytic).abs() <= bound * weight,
        "P(SEQ_OK) estimate {estimate:e}, analytic {analytic:e}"
    );
}

/// With smoltcp's own random ISNs each stale arrival adds P(SEQ_OK)·P(ACK_OK) to the
/// expectation: (W + L − 1)/2³² for its SEQ times (acceptable ACK values)/2³² for its ACK.
#[test]
fn random_isns_add_the_analytic_probability_to_the_expectation() {
    let h = hazards(&stream_with_old_copies(3, r#""random""#));
    assert!(h.stale_seq_ok <= h.stale_arrivals);
    let live = h.stale_arrivals;
    assert!(live > 0);
    // Both factors are below 2⁻¹⁷ (W + L ≤ 17 384 and an idle sender accepts one ACK value).
    let per_arrival_max = (17_384.0 / 4_294_967_296.0) * (1.0 / 4_294_967_296.0);
    assert!(h.expected_accepted > 0.0);
    assert!(h.expected_accepted <= live as f64 * per_arrival_max);
}
