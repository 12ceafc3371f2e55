//! The TIME-WAIT decision table, row by row, against time-wait.md; and a snapshot of the whole
//! table (every policy × every segment kind) so any behaviour change shows up as a diff.
//! Regenerate the snapshot with `TWSIM_BLESS=1 cargo test -p twsim-model --test time_wait_decisions`.

use twsim_model::decision_table::{cell, columns, decide, render, rows};

/// time-wait.md's table, transcribed by hand (not from the code): for each spec column, the
/// expected cell per row id. `ACK?` means "ACK" with or without a timer restart is what the
/// spec leaves open for that column.
const SPEC: &[(&str, &[(&str, &str)])] = &[
    (
        "rfc793",
        &[
            ("1", "ACK +R"),
            ("2", "ACK +R"),
            ("3", "ACK"),
            ("3b", "ACK"),
            ("4a", "KILL"),
            ("4b", "KILL"),
            ("4c", "drop"),
            ("5", "RST+KILL"),
            ("5'", "ACK"),
            ("6", "ACK"),
            ("7", "ACK"),
            ("8", "RST+KILL"),
            ("8'", "ACK"),
            ("9", "RST+KILL"),
            // RFC 793 p.69 first (unacceptable: ACK; a retransmitted FIN restarts, as in row
            // 2), p.72 fifth (ACK bit off: drop); a bare ACK is acknowledged (the storm between
            // two such hosts is this reading's)
            ("3c", "ACK"),
            ("3d", "ACK"),
            ("1n", "drop"),
            ("2n", "ACK +R"),
            ("3n", "drop"),
            ("10", "RST+KILL"),
            ("10'", "ACK"),
        ],
    ),
    (
        "rfc1337",
        &[
            ("1", "ACK +R"),
            ("2", "ACK +R"),
            ("3", "ACK"),
            ("4a", "drop"),
            ("4b", "drop"),
            ("4c", "drop"),
            ("5'", "ACK"),
            ("6", "ACK"),
        ],
    ),
    (
        "rfc1122",
        &[
            ("1", "ACK +R"),
            ("2", "ACK +R"),
            ("3", "ACK"),
            ("4a", "KILL"),
            ("4b", "KILL"),
            ("4c", "drop"),
            ("5", "ACCEPT"),
            ("5'", "ACCEPT"),
            ("6", "ACK"),
            ("5-nl", "ACCEPT"),
        ],
    ),
    (
        "rfc6191",
        &[
            ("4a", "KILL"),
            ("4c", "drop"),
            ("5", "ACCEPT"),
            ("6", "drop"),
            ("7", "ACCEPT"),
            ("8", "ACCEPT"),
            ("8'", "drop"),
            ("9", "drop"),
        ],
    ),
    (
        "linux",
        &[
            ("1", "ACK +R"),
            ("2", "ACK +R"),
            ("3", "ACK +R"),
            ("3b", "ACK +R"),
            ("4a", "KILL"),
            ("4b", "drop"),
            ("4c", "drop"),
            ("5", "ACCEPT iss=66537"),
            ("5-nl", "ACK"),
            ("6", "ACK"),
            ("6-nl", "ACK"),
            ("7", "ACCEPT iss=66537"),
            ("8", "ACCEPT iss=66537"),
            ("8'", "ACK"),
            ("9", "ACK +R"),
            // From tcp_timewait_state_process (time-wait.md's corrections): a segment with
            // SEQ = RCV.NXT and no sequence space reschedules and gets no reply
            // (TCP_TW_SUCCESS); anything else takes the out-of-window branch, which
            // reschedules only with ACK set.
            ("3c", "drop +R"),
            ("3d", "ACK +R"),
            ("1n", "ACK"),
            ("2n", "ACK"),
            ("3n", "drop +R"),
            // TCP_TW_SYN deschedules the record, the listener discards a SYN with FIN
            ("10", "KILL"),
            ("10'", "KILL"),
        ],
    ),
    (
        "linux-rfc1337",
        &[
            ("4a", "drop"),
            ("4b", "drop"),
            ("5", "ACCEPT iss=66537"),
            ("5-nl", "ACK"),
        ],
    ),
    (
        "freebsd",
        &[
            ("1", "ACK"),
            ("2", "ACK +R"),
            ("3", "ACK"),
            ("4a", "drop"),
            ("4b", "drop"),
            ("4c", "drop"),
            ("5", "ACCEPT"),
            ("6", "drop"),
            ("7", "drop"),
            ("9", "ACCEPT"),
            // From the source, not time-wait.md's table (its "Corrections from the
            // sources"): tcp_twcheck drops an exact duplicate ACK ("Acknowledge the segment if
            // it has data or is not a duplicate ACK") and every segment without ACK ("Drop the
            // segment if it does not contain an ACK"); a SYN+FIN is a SYN (drop_synfin = 0).
            ("3c", "drop"),
            ("3d", "ACK"),
            ("1n", "drop"),
            ("2n", "drop"),
            ("3n", "drop"),
            ("10", "ACCEPT"),
            ("10'", "ACCEPT"),
        ],
    ),
    (
        // XNU xnu-11417.101.15 bsd/netinet/tcp_input.c, row by row (time-wait.md's
        // corrections): no tcp_twcheck, the whole of tcp_input.
        "macos",
        &[
            ("1", "RST+KILL"), // 4478: SS_CANTRCVMORE, dropwithreset
            ("2", "ACK"),      // 4390: FIN trimmed as old, TF_ACKNOW; never restarted
            ("3", "ACK"),      // 4384–4405: all old, TF_ACKNOW
            ("3b", "ACK"),
            ("3c", "drop"), // 4956 duplicate ACK, nothing sets TF_ACKNOW
            ("3d", "drop"),
            ("1n", "RST+KILL"), // the data test (4466) comes before the ACK bit (4600)
            ("2n", "ACK"),      // trimmed, TF_ACKNOW, then 4600: dropafterack
            ("3n", "drop"),
            ("4a", "drop"), // 4265: TIME_WAIT, break
            ("4b", "ACK"),  // 4276: challenge ACK
            ("4c", "drop"),
            ("5", "ACK"),     // 4570: SYN in window, challenge ACK
            ("5'", "ACCEPT"), // 4506: beyond the window, tcp_close, findpcb
            ("5'-nl", "ACCEPT"),
            ("6", "ACK"), // 4367: SYN before RCV.NXT trimmed, ACK
            ("7", "ACK"),
            ("8", "ACK"),
            ("8'", "ACK"),
            ("9", "drop"),  // 4291: PAWS, no data
            ("10", "drop"), // 2237: SYN+FIN dropped before lookup
            ("10'", "drop"),
        ],
    ),
    (
        "smoltcp",
        &[
            ("2", "ACK +R"),
            ("3", "ACK +R"),
            ("4a", "KILL"),
            ("4b", "KILL"),
            ("5", "drop"),
            ("6", "drop"),
        ],
    ),
];

#[test]
fn every_spec_cell_holds() {
    let cols = columns();
    let rows = rows();
    let mut bad = Vec::new();
    let mut checked = 0;
    for (name, cells) in SPEC {
        let col = cols
            .iter()
            .find(|c| c.name == *name)
            .unwrap_or_else(|| panic!("no column {name}"));
        for (id, want) in *cells {
            let row = rows
                .iter()
                .find(|r| r.id == *id)
                .unwrap_or_else(|| panic!("no row {id}"));
            let got = cell(&decide(col, row));
            checked += 1;
            if got != *want {
                bad.push(format!(
                    "{name} row {id} ({}): got {got}, time-wait.md says {want}",
                    row.what
                ));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    assert!(checked >= 70, "{checked}");
}

#[test]
fn every_row_of_the_table_is_covered_by_a_spec_cell() {
    let covered: std::collections::BTreeSet<&str> = SPEC
        .iter()
        .flat_map(|(_, cells)| cells.iter().map(|(id, _)| *id))
        .collect();
    for r in rows() {
        let base = r.id.trim_end_matches("-nl");
        assert!(
            covered.contains(r.id) || covered.contains(base),
            "row {} has no test",
            r.id
        );
    }
}

#[test]
fn every_decision_names_its_rule() {
    for c in columns() {
        for r in rows() {
            let d = decide(&c, &r);
            assert!(
                ["RFC", "tcp_", "smoltcp", "inet_", "KB"]
                    .iter()
                    .any(|k| d.rule.contains(k)),
                "{} row {}: rule {:?} cites no source",
                c.name,
                r.id,
                d.rule
            );
        }
    }
}

#[test]
fn snapshot_of_the_whole_table() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/snapshots/time_wait_decisions.md"
    );
    let now = render();
    if std::env::var_os("TWSIM_BLESS").is_some() {
        std::fs::write(path, &now).expect("write the snapshot");
        return;
    }
    let kept = std::fs::read_to_string(path).expect("the snapshot is in the repository");
    if kept != now {
        let diff: Vec<String> = kept
            .lines()
            .zip(now.lines())
            .filter(|(a, b)| a != b)
            .take(10)
            .map(|(a, b)| format!("- {a}\n+ {b}"))
            .collect();
        panic!(
            "the TIME-WAIT decision table changed (rerun with TWSIM_BLESS=1 if intended):\n{}",
            diff.join("\n")
        );
    }
}
