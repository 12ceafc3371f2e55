//! The hazards summary counts what happened, from ground truth: TIME-WAIT assassinations
//! (RFC 1337) and LAST-ACK resets (a lost final ACK without TIME-WAIT, RFC 9293 §3.6.1).

use twsim_sim::engine::{run, RunOptions};
use twsim_sim::host::Hazards;
use twsim_sim::scenario::{parse, Overrides};

/// Every variant of an example (or the scenario itself) with its hazards.
fn hazards_of(example: &str) -> Vec<(String, Hazards)> {
    let path = format!("{}/../examples/{example}.json", env!("CARGO_MANIFEST_DIR"));
    let src = std::fs::read_to_string(&path).expect("example");
    let sc = parse(&path, &src).unwrap_or_else(|e| panic!("{e}"));
    let n = sc.variant_names().len();
    let runs: Vec<Option<usize>> = if n == 0 {
        vec![None]
    } else {
        (0..n).map(Some).collect()
    };
    runs.into_iter()
        .map(|v| {
            let r = sc
                .resolve(&path, &src, v, &Overrides::default())
                .unwrap_or_else(|e| panic!("{e}"));
            let rep = run(&r, RunOptions::default());
            assert!(rep.ok(), "{}", twsim_sim::report::text(&rep));
            (rep.variant.clone().unwrap_or_default(), rep.hazards)
        })
        .collect()
}

#[test]
fn assassination_is_counted_where_the_policy_lets_the_rst_kill() {
    for (variant, h) in hazards_of("time-wait-assassination") {
        let killed = matches!(variant.as_str(), "rfc793" | "linux");
        assert_eq!(h.assassinations, u64::from(killed), "{variant}");
        assert_eq!(h.corrupted_bytes, 0, "{variant}");
    }
}

#[test]
fn a_lost_final_ack_without_time_wait_ends_in_a_last_ack_reset() {
    let with = hazards_of("lost-final-ack");
    assert!(with.iter().all(|(_, h)| h.lastack_resets == 0));
    let without = hazards_of("lost-final-ack-no-time-wait");
    assert!(without.iter().all(|(_, h)| h.lastack_resets == 1));
    assert!(!without.is_empty());
}
