//! Windows bind tables: every cell, from the tables in bind-rules.md.

mod common;

use common::*;

// ------------------------------------------------------------------------------------------
// Windows bind tables: every cell, from the tables in bind-rules.md
// ------------------------------------------------------------------------------------------

/// bind-rules.md, "Windows XP and earlier", verbatim.
const CLASSIC_MD: &str = "
| first ↓ / second → | D-W | D-S | RA-W | RA-S | EX-W | EX-S |
| --- | --- | --- | --- | --- | --- | --- |
| D or RA, W or S | INUSE | INUSE | OK | OK | INUSE | INUSE |
| EX, W or S | INUSE | INUSE | ACCESS | ACCESS | INUSE | INUSE |
";

/// bind-rules.md, "Server 2003 and later, same user", verbatim.
const SERVER_2003_MD: &str = "
| first ↓ / second → | D-W | D-S | RA-W | RA-S | EX-W | EX-S |
| --- | --- | --- | --- | --- | --- | --- |
| D-W | INUSE | OK | ACCESS | OK | INUSE | OK |
| D-S | OK | INUSE | OK | ACCESS | INUSE | INUSE |
| RA-W | INUSE | OK | OK | OK | INUSE | OK |
| RA-S | OK | INUSE | OK | OK | INUSE | INUSE |
| EX-W | INUSE | ACCESS | ACCESS | ACCESS | INUSE | ACCESS |
| EX-S | OK | INUSE | OK | ACCESS | INUSE | INUSE |
";

/// bind-rules.md: "Different user: as above except row D-W columns D-S, RA-S, EX-S → ACCESS;
/// row RA-W columns D-S, EX-S → ACCESS."
const OTHER_USER_CHANGES: [(&str, &str); 5] = [
    ("D-W", "D-S"),
    ("D-W", "RA-S"),
    ("D-W", "EX-S"),
    ("RA-W", "D-S"),
    ("RA-W", "EX-S"),
];

/// Parses a bind-rules.md table into (row, column) → expected result, the row labels
/// "D or RA, W or S" and "EX, W or S" standing for several rows.
fn parse_windows_table(md: &str) -> BTreeMap<(String, String), &'static str> {
    let rows: Vec<Vec<String>> = md
        .lines()
        .filter(|l| l.starts_with('|') && !l.contains("---"))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect();
    let cols = &rows[0][1..];
    assert_eq!(cols, ["D-W", "D-S", "RA-W", "RA-S", "EX-W", "EX-S"]);
    let mut cells = BTreeMap::new();
    for row in &rows[1..] {
        let labels: Vec<&str> = match row[0].as_str() {
            "D or RA, W or S" => vec!["D-W", "D-S", "RA-W", "RA-S"],
            "EX, W or S" => vec!["EX-W", "EX-S"],
            one => vec![one],
        };
        for label in labels {
            for (col, cell) in cols.iter().zip(&row[1..]) {
                let want = match cell.as_str() {
                    "OK" => "ok",
                    "INUSE" => "EADDRINUSE",
                    "ACCESS" => "EACCES",
                    other => panic!("unknown cell {other:?}"),
                };
                cells.insert((label.to_string(), col.clone()), want);
            }
        }
    }
    assert_eq!(cells.len(), 36);
    cells
}

/// Options and address of a table category (`"RA-S"`): W = 0.0.0.0, S = 10.0.0.1.
fn category(cat: &str) -> (SockOptions, SocketAddr) {
    let (opt, addr) = cat.split_once('-').expect("category");
    let opts = SockOptions {
        reuseaddr: opt == "RA",
        exclusiveaddruse: opt == "EX",
        ..SockOptions::default()
    };
    let ip = if addr == "W" { "0.0.0.0" } else { "10.0.0.1" };
    (opts, SocketAddr::new(self::ip(ip), 8080))
}

/// bind() of a second socket (`second`, `uid2`) after a first one (`first`, uid 1), bound
/// and, if `listening`, listening: `"ok"` or the errno name.
fn second_bind(
    profile: Profile,
    first: &str,
    second: &str,
    uid2: u32,
    listening: bool,
) -> &'static str {
    let mut t = AddressTable::new(profile.config(), host());
    let (o1, a1) = category(first);
    let (o2, a2) = category(second);
    let s1 = t.socket(1);
    t.set_options(s1, o1).unwrap();
    t.bind(s1, a1, 0).unwrap();
    if listening {
        t.listen(s1, 0).unwrap();
    }
    let s2 = t.socket(uid2);
    t.set_options(s2, o2).unwrap();
    let checked = t.check_bind(a2, o2, uid2);
    let r = t.bind(s2, a2, 0);
    assert_eq!(r.map(|_| ()), checked, "check_bind agrees with bind");
    match r {
        Ok(_) => "ok",
        Err(e) => e.name(),
    }
}

/// Runs every cell of `cells` and returns the mismatches, one line each.
fn table_mismatches(
    profile: Profile,
    cells: &BTreeMap<(String, String), &'static str>,
    uid2: u32,
) -> Vec<String> {
    let mut bad = Vec::new();
    for ((row, col), want) in cells {
        for listening in [false, true] {
            let got = second_bind(profile, row, col, uid2, listening);
            if got != *want {
                bad.push(format!(
                    "{} uid2={uid2} first {row}{} then {col}: got {got}, want {want}",
                    profile.name(),
                    if listening { " (listening)" } else { "" }
                ));
            }
        }
    }
    bad
}

#[test]
fn windows_classic_table_every_cell() {
    let cells = parse_windows_table(CLASSIC_MD);
    // NT4 and 2000 share the table; it knows no users.
    let mut bad = Vec::new();
    for profile in [Profile::WindowsNt4, Profile::Windows2000] {
        for uid2 in [1, 2] {
            bad.extend(table_mismatches(profile, &cells, uid2));
        }
    }
    assert!(bad.is_empty(), "\n{}", bad.join("\n"));
}

#[test]
fn windows_2003_table_same_user_every_cell() {
    let cells = parse_windows_table(SERVER_2003_MD);
    let bad = table_mismatches(Profile::Windows2003, &cells, 1);
    assert!(bad.is_empty(), "\n{}", bad.join("\n"));
}

#[test]
fn windows_2003_table_other_user_every_cell() {
    let mut cells = parse_windows_table(SERVER_2003_MD);
    for (row, col) in OTHER_USER_CHANGES {
        let cell = cells.get_mut(&(row.to_string(), col.to_string())).unwrap();
        assert_ne!(*cell, "EACCES", "the change must change something");
        *cell = "EACCES";
    }
    let bad = table_mismatches(Profile::Windows2003, &cells, 2);
    assert!(bad.is_empty(), "\n{}", bad.join("\n"));
}

#[test]
fn windows_tables_apply_only_to_overlapping_addresses() {
    for profile in [
        Profile::WindowsNt4,
        Profile::Windows2000,
        Profile::Windows2003,
    ] {
        for (o1, o2) in [("", ""), ("ex", "ra"), ("ex", "ex"), ("ra", "")] {
            check(
                &format!(
                    "
                    profile {}
                    a = socket {o1}
                    bind a 10.0.0.1:8080
                    b = socket {o2} uid=5
                    bind b 127.0.0.1:8080
                    listen a
                    listen b
                    choose 127.0.0.1:8080 10.0.0.2:1
                    choose 10.0.0.1:8080 10.0.0.2:1
                    ",
                    profile.name()
                ),
                "
                    bind a 10.0.0.1:8080 -> ok
                    bind b 127.0.0.1:8080 -> ok
                    listen a -> ok
                    listen b -> ok
                    choose 127.0.0.1:8080 10.0.0.2:1 -> b
                    choose 10.0.0.1:8080 10.0.0.2:1 -> a
                    ",
            );
        }
    }
}

#[test]
fn windows_ignores_reuseport() {
    for profile in ["windows-nt4", "windows-2003"] {
        check(
            &format!(
                "
                profile {profile}
                a = socket rp
                bind a 10.0.0.1:8080
                b = socket rp
                bind b 10.0.0.1:8080
                "
            ),
            "
            bind a 10.0.0.1:8080 -> ok
            bind b 10.0.0.1:8080 -> EADDRINUSE
            ",
        );
    }
}

#[test]
fn windows_classic_port_hijacking_and_specific_listener_wins() {
    // "Using SO_REUSEADDR and SO_EXCLUSIVEADDRUSE": a SO_REUSEADDR socket may bind a specific
    // address over an active wildcard listener and then gets that address's connections.
    // Server 2003 without SO_REUSEADDR on the first socket: WSAEACCES for the same attempt.
    check(
        "
        profile windows-2000
        victim = socket
        bind victim 0.0.0.0:80
        listen victim
        thief = socket ra uid=666
        bind thief 10.0.0.1:80
        listen thief
        choose 10.0.0.1:80 10.0.0.2:40000 rand=0
        choose 10.0.0.1:80 10.0.0.2:40000 rand=1
        choose 127.0.0.1:80 10.0.0.2:40000 rand=1
        ",
        "
        bind victim 0.0.0.0:80 -> ok
        listen victim -> ok
        bind thief 10.0.0.1:80 -> ok
        listen thief -> ok
        choose 10.0.0.1:80 10.0.0.2:40000 rand=0 -> thief
        choose 10.0.0.1:80 10.0.0.2:40000 rand=1 -> thief
        choose 127.0.0.1:80 10.0.0.2:40000 rand=1 -> victim
        ",
    );
    check(
        "
        profile windows-2003
        victim = socket
        bind victim 0.0.0.0:80
        listen victim
        thief = socket ra uid=666
        bind thief 10.0.0.1:80
        guarded = socket ex
        bind guarded 0.0.0.0:81
        thief2 = socket ra
        bind thief2 10.0.0.1:81
        ",
        "
        bind victim 0.0.0.0:80 -> ok
        listen victim -> ok
        bind thief 10.0.0.1:80 -> EACCES
        bind guarded 0.0.0.0:81 -> ok
        bind thief2 10.0.0.1:81 -> EACCES
        ",
    );
}
