//! Integration tests of the `twsim` binary: the examples and the demos (exit statuses and
//! printed results). Output files: `cli_outputs.rs`; bad input: `cli_bad_input.rs`.

mod cli_support;

use cli_support::*;
use std::path::Path;

// ---------------------------------------------------------------------------------------------
// Examples and demos
// ---------------------------------------------------------------------------------------------

#[test]
fn every_example_runs_and_meets_its_expectations() {
    let files = json_files(&Path::new(ROOT).join("examples"));
    assert!(!files.is_empty(), "no examples found");
    for f in files {
        let o = twsim([Path::new("run"), f.as_path()]);
        assert_status(&o, 0, &f.display().to_string());
        assert!(!stdout(&o).is_empty(), "{}: nothing printed", f.display());
    }
}

#[test]
fn default_demo_shows_time_wait_lengths() {
    let o = twsim(["demo", "--details"]);
    assert_status(&o, 0, "twsim demo --details");
    let out = stdout(&o);

    // Linux: TIME-WAIT is 60 s whatever the MSL; the restarted server binds when it ends.
    let linux = section(&out, "== restart-time-wait [linux]");
    assert!(
        has_line(linux, "host server 10.0.0.2 os=linux TIME-WAIT=60.000s"),
        "{linux}"
    );
    assert!(
        has_line(
            linux,
            "bind(L2, 0.0.0.0:9099) = EADDRINUSE (expected EADDRINUSE)"
        ),
        "{linux}"
    );
    assert!(
        has_line(linux, "61.060s server bind(L2, 0.0.0.0:9099) = ok"),
        "linux rebind at 61.060s:\n{linux}"
    );
    assert!(
        has_line(
            linux,
            "began t=1.060s, ended t=61.060s (expired, lived 60.000s)"
        ),
        "{linux}"
    );
    assert!(has_line(linux, "-> OK"), "{linux}");

    // RFC 793: T_TW = 2 * MSL.
    let msl30 = section(&out, "== restart-time-wait [rfc793-msl-30s]");
    assert!(
        has_line(msl30, "host server 10.0.0.2 os=rfc793 TIME-WAIT=60.000s"),
        "{msl30}"
    );
    assert!(
        has_line(msl30, "61.060s server bind(L2, 0.0.0.0:9099) = ok"),
        "{msl30}"
    );
    assert!(has_line(msl30, "(expired, lived 60.000s)"), "{msl30}");

    let msl2 = section(&out, "== restart-time-wait [rfc793-msl-2min]");
    assert!(
        has_line(msl2, "host server 10.0.0.2 os=rfc793 TIME-WAIT=240.000s"),
        "{msl2}"
    );
    assert!(
        has_line(msl2, "241.060s server bind(L2, 0.0.0.0:9099) = ok"),
        "{msl2}"
    );
    assert!(
        has_line(
            msl2,
            "began t=1.060s, ended t=241.060s (expired, lived 240.000s)"
        ),
        "{msl2}"
    );

    // The SO_REUSEADDR version restarts at once under every profile.
    let reuse = section(&out, "== restart-time-wait-reuseaddr [linux]");
    assert!(
        has_line(reuse, "2.050s server bind(L2, 0.0.0.0:9099) = ok"),
        "{reuse}"
    );
    assert!(!out.contains("FAILED"), "{out}");
}

/// The default demo fits on two screens: the sources first, the first run's timeline, and one
/// comparison of every run with its TIME-WAIT length and key call.
#[test]
fn default_demo_is_two_screens_with_sources_and_a_comparison() {
    let o = twsim(["demo"]);
    assert_status(&o, 0, "twsim demo");
    let out = stdout(&o);
    let lines = out.lines().count();
    assert!(lines <= 100, "{lines} lines:\n{out}");
    let first = out.lines().next().unwrap_or_default();
    assert_eq!(first, "== restart-time-wait", "{out}");
    assert!(has_line(&out, "source: Stratus VOS article"), "{out}");
    // Only the first run's timeline; the rest are rows.
    assert_eq!(out.matches("-- summary").count(), 1, "{out}");
    let table = section(&out, "== compared");
    assert_eq!(table.matches(" OK").count(), 12, "{table}");
    for want in [
        "restart-time-wait [linux] linux 60.000s ok at 61.060s OK",
        "restart-time-wait [rfc793-msl-2min] rfc793 240.000s ok at 241.060s OK",
        "restart-time-wait [stratus-stcp] stratus-stcp 2.000s ok at 3.060s OK",
        "restart-time-wait-reuseaddr [rfc793-msl-2min] rfc793 240.000s ok at 2.050s OK",
        "key call of restart-time-wait: wait until L2 can bind 0.0.0.0:9099",
    ] {
        assert!(has_line(table, want), "{want:?} missing:\n{table}");
    }
}

/// A demo under any profile is a lesson, not a failure: exit 0, no FAILED, and the
/// differences from the story's reference (linux) with the source of the rule; `run` keeps
/// the expectations strict.
#[test]
fn restart_demo_under_every_profile_says_how_it_differs() {
    let names = [
        "linux",
        "rfc793",
        "freebsd",
        "macos",
        "windows-nt4",
        "windows-95",
        "windows-2000",
        "windows-2003",
        "solaris",
        "hpux",
        "stratus-os-tcp",
        "stratus-stcp",
        "smoltcp",
    ];
    for p in names {
        let o = twsim(["demo", "restart-time-wait", "--os", p]);
        assert_status(&o, 0, &format!("demo restart-time-wait --os {p}"));
        let out = stdout(&o);
        assert!(
            !out.contains("FAILED") && !out.contains("UNEXPECTED"),
            "{p}:\n{out}"
        );
        let lesson = section(
            &out,
            &format!("-- restart-time-wait: {p} beside the story's linux"),
        );
        match p {
            "linux" | "freebsd" | "solaris" | "hpux" | "stratus-os-tcp" => assert!(
                has_line(lesson, "every call returns what it returns under linux"),
                "{p}:\n{lesson}"
            ),
            _ => assert!(
                has_line(lesson, &format!("source ({p}):")),
                "{p}:\n{lesson}"
            ),
        }
    }
    let o = twsim(["demo", "restart-time-wait", "--os", "windows-2000"]);
    let out = stdout(&o);
    for want in [
        "bind(L2, 0.0.0.0:9099) = ok: bound 0.0.0.0:9099 (linux: EADDRINUSE) \u{2260} the story",
        "step 13 bind(L2, 0.0.0.0:9099): ok at t=2.050s, where linux gives EADDRINUSE at t=2.050s",
        "every host: TIME-WAIT lasts 240.000s, not 60.000s as under linux",
        "source (windows-2000): KB 307175",
        "-- nothing to wait for: the bind above succeeded at once",
    ] {
        assert!(has_line(&out, want), "{want:?} missing:\n{out}");
    }
    // The Linux narration of the wait does not appear beside the Windows 2000 outcome.
    assert!(!out.contains("retrying until the port is free"), "{out}");
    let o = twsim(["demo", "restart-time-wait", "--os", "stratus-stcp"]);
    assert!(
        has_line(
            &stdout(&o),
            "step 14 wait until L2 can bind 0.0.0.0:9099: ok at t=3.060s, where linux completes it at t=61.060s"
        ),
        "{}",
        stdout(&o)
    );
    // `run` keeps the story's expectations as requirements.
    let o = twsim([
        "run",
        "examples/restart-time-wait.json",
        "--os",
        "windows-2000",
    ]);
    assert_status(&o, 1, "run --os windows-2000");
    assert!(stdout(&o).contains("UNEXPECTED"), "{}", stdout(&o));
}

/// Narration follows the outcome: under RFC 1337 the assassination demo does not say B's RST
/// kills TIME-WAIT.
#[test]
fn notes_follow_the_outcome() {
    let o = twsim(["demo", "time-wait-assassination", "--details"]);
    assert_status(&o, 0, "demo time-wait-assassination --details");
    let out = stdout(&o);
    let fixed = section(&out, "== time-wait-assassination [rfc793+rfc1337]");
    assert!(
        has_line(fixed, "which this TIME-WAIT ignores")
            || has_line(fixed, "but this TIME-WAIT ignores an RST"),
        "{fixed}"
    );
    assert!(!fixed.contains("answers RST with SEQ"), "{fixed}");
    let plain = section(&out, "== time-wait-assassination [rfc793]");
    assert!(
        plain.contains("answers RST with SEQ = A's RCV.NXT"),
        "{plain}"
    );
    let o = twsim(["demo", "nt4-refused-after-rebind", "--details"]);
    let out = stdout(&o);
    let w2k = section(&out, "== nt4-refused-after-rebind [windows-2000]");
    assert!(!w2k.contains("connect handler is NULL"), "{w2k}");
    assert!(has_line(w2k, "no stale address object here"), "{w2k}");
}

/// The README's first scenario is a story that shows TIME-WAIT, and it runs as the README
/// says: the restart fails with EADDRINUSE, then binds when TIME-WAIT ends (61.050 s on Linux,
/// 241.050 s under RFC 793 with MSL 2 min).
#[test]
fn readme_scenario_runs_and_shows_time_wait() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).expect("README");
    let start = readme.find("```json\n").expect("a JSON example") + "```json\n".len();
    let end = start + readme[start..].find("```").expect("its end");
    let dir = TempDir::new("readme");
    let f = dir.path("restart.json");
    std::fs::write(&f, &readme[start..end]).expect("write");
    let o = twsim(["run".as_ref(), f.as_os_str()]);
    assert_status(&o, 0, "the README's scenario");
    let out = stdout(&o);
    for want in [
        "bind(L2, 0.0.0.0:9099) = EADDRINUSE (expected EADDRINUSE)",
        "lasts 60.000s (until t=61.050s)",
        "61.050s server bind(L2, 0.0.0.0:9099) = ok",
        "241.050s server bind(L2, 0.0.0.0:9099) = ok",
    ] {
        assert!(has_line(&out, want), "{want:?} missing:\n{out}");
    }
}

#[test]
fn demo_list_names_every_demo() {
    let o = twsim(["demo", "--list"]);
    assert_status(&o, 0, "twsim demo --list");
    let names: Vec<String> = stdout(&o)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    for want in ["restart-time-wait", "fork-server-restart"] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} not listed: {names:?}"
        );
    }
}

#[test]
fn fork_server_restart_demo_runs() {
    let o = twsim(["demo", "fork-server-restart"]);
    assert_status(&o, 0, "twsim demo fork-server-restart");
    let out = stdout(&o);
    assert!(out.contains("== fork-server-restart"), "{out}");
    assert!(out.contains("== fork-server-restart-reuseaddr"), "{out}");
}

#[test]
fn unknown_demo_is_bad_input() {
    let o = twsim(["demo", "no-such-demo"]);
    assert_status(&o, 2, "twsim demo no-such-demo");
    let err = stderr(&o);
    assert!(err.starts_with("twsim: error: "), "{err}");
    assert!(err.contains("no-such-demo"), "{err}");
}

/// A reader that stops early (`twsim replay FILE | head -1`) ends the command with an error
/// naming stdout and exit status 2, for `run`'s streamed timeline and `replay`'s text alike,
/// never with a panic.
#[test]
fn a_closed_stdout_is_an_error_not_a_panic() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    // Enough steps that the output outgrows any pipe buffer (about 200 KB).
    let mut steps = vec![r#"{"host": "a", "call": "socket", "sock": "L"}"#.to_string()];
    for i in 0..3000 {
        steps.push(format!(
            r#"{{"host": "a", "call": "setsockopt", "sock": "L", "opt": "SO_REUSEADDR", "value": {}}}"#,
            i % 2
        ));
    }
    let dir = TempDir::new("pipe");
    let file = dir.path("many-steps.json");
    std::fs::write(
        &file,
        format!(
            r#"{{"name": "many-steps", "hosts": [{{"name": "a", "addr": "10.0.0.1"}}], "steps": [{}]}}"#,
            steps.join(",")
        ),
    )
    .unwrap();
    for cmd in ["run", "replay"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_twsim"))
            .arg(cmd)
            .arg(&file)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(first.starts_with("=="), "{cmd}: {first}");
        // The reader is gone: the rest of the output has nowhere to go.
        let o = child.wait_with_output().unwrap();
        assert_status(&o, 2, &format!("twsim {cmd} | head -1"));
        assert!(
            stderr(&o).contains("stdout: cannot write"),
            "{cmd}: {}",
            stderr(&o)
        );
    }
}
