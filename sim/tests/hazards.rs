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

/// RFC 1337 H1 and H2 (time-wait-assassination-old-data): under RFC 793 the assassinated
/// record lets incarnation 2 start at once, 40 bytes of incarnation 1 are read as incarnation
/// 2's (the later writer wins over segment 5's first 40 bytes), and B's ACK beyond A's SND.NXT
/// starts an ACK war; RFC 1337's fix keeps the record, and Linux's PAWS drops the old segment.
#[test]
fn old_data_after_assassination_is_read_as_new_and_starts_an_ack_war() {
    let runs = hazards_of("time-wait-assassination-old-data");
    assert_eq!(runs.len(), 3);
    for (variant, h) in runs {
        match variant.as_str() {
            "rfc793" => {
                assert_eq!(h.assassinations, 1);
                assert_eq!((h.corruption_events, h.corrupted_bytes), (1, 40));
                assert_eq!(h.first_corrupt_offset, Some(200));
                assert_eq!((h.stale_paws_ok, h.stale_written), (1, 1));
                assert_eq!(h.ack_wars, 1);
            }
            "rfc793+rfc1337" => {
                assert_eq!((h.assassinations, h.corrupted_bytes, h.ack_wars), (0, 0, 0));
                assert_eq!(h.stale_written, 0);
            }
            "linux" => {
                // Assassinated (tcp_rfc1337 = 0), but PAWS rejects the old segment.
                assert_eq!(h.assassinations, 1);
                assert_eq!((h.stale_seq_ok, h.stale_ack_ok), (1, 1));
                assert_eq!((h.stale_paws_ok, h.stale_written), (0, 0));
                assert_eq!((h.corrupted_bytes, h.ack_wars), (0, 0));
            }
            other => panic!("unexpected variant {other}"),
        }
    }
}

/// RFC 1337 H3 (time-wait-assassination-new-connection): an old ACK in SYN-SENT makes A reset
/// B's half-open connection; A's connect() then succeeds and B's listener resets it.
#[test]
fn an_old_ack_in_syn_sent_resets_the_new_connection() {
    for (variant, h) in hazards_of("time-wait-assassination-new-connection") {
        let killed = variant != "rfc793+rfc1337";
        assert_eq!(h.assassinations, u64::from(killed), "{variant}");
        assert_eq!(h.h3_resets, u64::from(killed), "{variant}");
        assert_eq!(h.corrupted_bytes, 0, "{variant}");
    }
}
