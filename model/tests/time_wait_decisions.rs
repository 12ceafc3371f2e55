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
            let got = cell(&decide(&col.policy, row));
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
            let d = decide(&c.policy, &r);
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
