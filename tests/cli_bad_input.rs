//! Integration tests of the `twsim` binary: error messages, exit status 2 and no output for
//! malformed scenarios, bad output paths and unreadable inputs.

mod cli_support;

use cli_support::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

// ---------------------------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------------------------

/// What an output file held before a run that must not touch it.
const PREVIOUS_TRACE: &[u8] = b"{\"previous\": \"trace\"}\n";

/// Runs `twsim run tests/malformed/FILE` with `--trace` pointing at an existing file and
/// `--pcap` at a new one in a fresh directory and checks the error: exit 2,
/// `twsim: error: FILE:LINE:COL: ` followed by `then` (the JSON path and `: `, or the message
/// when the error concerns the whole document), a message containing `msg`, no panic, no
/// output, no file written and the existing trace unchanged.
fn check_malformed(file: &str, line: usize, col: usize, then: &str, msg: &str) {
    let rel = format!("tests/malformed/{file}");
    let dir = TempDir::new("malformed");
    let (trace, pcap) = (dir.path("t.jsonl"), dir.path("p.pcap"));
    std::fs::write(&trace, PREVIOUS_TRACE).expect("write the previous trace");
    let o = twsim([
        "run".as_ref(),
        rel.as_ref(),
        "--trace".as_ref(),
        trace.as_os_str(),
        "--pcap".as_ref(),
        pcap.as_os_str(),
    ]);
    assert_status(&o, 2, &rel);
    let err = stderr(&o);
    let prefix = format!("twsim: error: {rel}:{line}:{col}: {then}");
    assert!(
        err.starts_with(&prefix),
        "{rel}: expected stderr to start with\n  {prefix}\ngot\n  {err}"
    );
    assert!(err.contains(msg), "{rel}: expected {msg:?} in\n  {err}");
    assert_eq!(
        err.lines().count(),
        1,
        "{rel}: one error line expected:\n{err}"
    );
    assert!(
        stdout(&o).is_empty(),
        "{rel}: printed output for a bad scenario:\n{}",
        stdout(&o)
    );
    assert_eq!(
        dir.entries(),
        ["t.jsonl"],
        "{rel}: files written for a bad scenario"
    );
    assert_eq!(
        std::fs::read(&trace).expect("read the previous trace"),
        PREVIOUS_TRACE,
        "{rel}: the existing trace changed"
    );
}

macro_rules! malformed {
    ($($test:ident: $file:literal, $line:literal, $col:literal, $then:literal, $msg:literal;)*) => {
        $(
            #[test]
            fn $test() {
                check_malformed($file, $line, $col, $then, $msg);
            }
        )*

        /// Every file tested above.
        const MALFORMED: &[&str] = &[$($file),*];
    };
}

// Positions: syntax errors are where serde stopped reading (the `]` after a trailing comma);
// a well-formed value that is wrong for its field points at the first character of the value,
// and an unknown field at its key.
malformed! {
    malformed_syntax_error: "syntax_error.json", 4, 28, "steps[0]", "expected `,` or `}`";
    malformed_trailing_comma: "trailing_comma.json", 6, 3, "steps: ", "trailing comma";
    malformed_unknown_top_level_field: "unknown_top_field.json", 3, 3, "colour: ", "unknown field `colour`";
    malformed_unknown_step_field: "unknown_step_field.json", 6, 37, "steps[1].sokc: ", "unknown field `sokc`";
    malformed_bad_duration: "bad_duration.json", 3, 10, "msl: ", "bad duration \"10 parsecs\"";
    malformed_negative_delay: "negative_delay.json", 5, 28, "network.routes[0].delay: ", "\"-5ms\" is negative";
    malformed_bad_relative_at: "bad_relative_at.json", 6, 13, "steps[1].at: ", "bad duration \"soon\"";
    malformed_unknown_host_in_step: "unknown_host_in_step.json", 9, 15, "steps[1].host: ", "unknown host \"clinet\"";
    malformed_unknown_profile: "unknown_profile.json", 5, 46, "hosts[1].os: ", "unknown profile \"plan9\"";
    malformed_duplicate_socket: "duplicate_socket.json", 6, 46, "steps[1].sock: ", "duplicate socket name \"S\"";
    malformed_call_on_unknown_socket: "unknown_socket.json", 6, 44, "steps[1].sock: ", "unknown socket \"T\"";
    malformed_process_after_exit: "process_after_exit.json", 7, 28, "steps[2].proc: ", "exited at steps[1]";
    malformed_workload_bad_rate: "workload_bad_rate.json", 5, 100, "workloads[0].rate: ", "is not a rate";
    malformed_workload_unknown_field: "workload_unknown_field.json", 6, 7, "workloads[0].think_time: ", "unknown field `think_time`";
    malformed_unknown_call: "unknown_call.json", 6, 28, "steps[1].call: ", "unknown call \"frobnicate\"";
    malformed_bad_address: "bad_address.json", 6, 57, "steps[1].addr: ", "\"10.0.0.300:80\" is not an IPv4 address";
    malformed_probability_out_of_range: "probability_out_of_range.json", 6, 51,
        "network.faults[0].match.probability: ", "probability 1.5 is outside [0, 1]";
    malformed_unknown_route_in_fault: "unknown_route_in_fault.json", 7, 67,
        "network.faults[0].action.duplicate_via: ", "unknown route \"slow\"";
    malformed_bad_flag_in_fault: "bad_flag_in_fault.json", 5, 39, "network.faults[0].match.flags: ", "unknown TCP flag \"URG\"";
    malformed_duplicate_host_address: "duplicate_host_address.json", 5, 33, "hosts[1].addr: ", "address 10.0.0.2 is already host \"server\"'s";
    malformed_empty_steps: "empty_steps.json", 4, 12, "steps: ", "at least one step";
    malformed_missing_steps: "missing_steps.json", 1, 1, "steps: ", "at least one step or workload";
    malformed_unknown_errno: "unknown_errno.json", 6, 81, "steps[1].expect: ", "unknown expectation \"EWHATEVER\"";
    malformed_wrong_type_seed: "wrong_type_seed.json", 3, 11, "seed: ", "invalid type: string \"one\", expected u64";
    malformed_trailing_garbage: "trailing_garbage.json", 5, 3, "", "trailing characters";
    malformed_ipv6_in_run: "ipv6_in_run.json", 6, 61, "steps[1].family: ", "the full simulation is IPv4-only";
    malformed_isn_unknown_policy: "isn_unknown_policy.json", 5, 47, "hosts[1].isn: ", "unknown ISN policy \"rfc1948\"";
    malformed_isn_out_of_range: "isn_out_of_range.json", 3, 32, "isn.scripted[1]: ",
        "invalid value: integer `4294967296`, expected a sequence number (an integer from 0 to 4294967295)";
    malformed_isn_negative_constant: "isn_negative_constant.json", 5, 24, "isn.constant: ", "invalid value: integer `-1`";
    malformed_isn_two_keys: "isn_two_keys.json", 4, 47, "hosts[0].isn: ", "an ISN object needs exactly one key";
    malformed_isn_empty_scripted: "isn_empty_scripted.json", 7, 46, "variants[1].isn.scripted: ",
        "a scripted ISN list needs at least one sequence number";
    malformed_bad_utf8: "bad_utf8.json", 3, 24, "invalid UTF-8 at byte offset 48", "input files are UTF-8 text";
    malformed_empirical_outside_folder: "empirical_outside_folder.json", 4, 69,
        "network.routes[0].delay.empirical: ", "must be a relative path inside the scenario's folder";
    malformed_duplicate_key_in_variant_expect: "duplicate_key_in_variant_expect.json", 6, 44,
        "variants[0].expect.1: ", "duplicate key \"1\" (first at line 5, column 44)";
    malformed_duplicate_key_in_linger: "duplicate_key_in_linger.json", 6, 95, "steps[1].value.on: ",
        "duplicate key \"on\" (first at line 6, column 86)";
    malformed_duplicate_field: "duplicate_field.json", 3, 49, "hosts[0].addr: ", "duplicate key \"addr\"";
    malformed_array_as_host: "array_as_host.json", 3, 56, "hosts[1]: ", "invalid type: sequence, expected a host object";
    malformed_array_as_scenario: "array_as_scenario.json", 1, 1, "invalid type: sequence",
        "expected a scenario object";
    malformed_array_as_match: "array_as_match.json", 4, 39, "network.faults[0].match: ",
        "invalid type: sequence, expected a match object";
    malformed_variant_zero_msl: "variant_zero_msl.json", 6, 60, "variants[1].msl: ", "msl must be greater than zero";
    malformed_unsafe_variant_name: "unsafe_variant_name.json", 5, 48, "variants[1].name: ",
        "name \"../../x\" is used in output file names: write 1 to 64 letters, digits, '.', '_', '+' or '-'";
    malformed_long_value: "long_value.json", 4, 24, "steps[0].host: ", "…\" (4936 more characters)";
    malformed_virtual_time_past_limit: "virtual_time_past_limit.json", 104, 43, "steps[99].for: ",
        "the run could pass 100 years of virtual time here";
    malformed_variant_expect_unknown_step: "variant_expect_unknown_step.json", 5, 68, "variants[0].expect.7: ",
        "\"7\" is not a step index (0..1)";
    malformed_note_unknown_outcome: "note_unknown_outcome.json", 6, 110, "steps[1].note.EWHATEVER: ",
        "unknown expectation \"EWHATEVER\"";
    malformed_note_wrong_type: "note_wrong_type.json", 6, 80, "steps[1].note: ",
        "expected a sentence, or an object from outcome";
}

/// `replay --all-os` validates the variants as `run` and `replay` do.
#[test]
fn replay_all_os_validates_like_replay() {
    let rel = "tests/malformed/variant_expect_unknown_step.json";
    for args in [&["replay", rel][..], &["replay", "--all-os", rel]] {
        let o = twsim(args);
        assert_status(&o, 2, &format!("{args:?}"));
        let want = format!("twsim: error: {rel}:5:68: variants[0].expect.7: ");
        assert!(stderr(&o).starts_with(&want), "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).is_empty(), "{args:?}: {}", stdout(&o));
    }
}

/// Every output path is checked before the run: a directory, a missing folder or one path
/// named twice is bad input, nothing runs and the existing trace is unchanged.
#[test]
fn bad_output_paths_are_refused_before_the_run() {
    let dir = TempDir::new("outputs");
    let sub = dir.path("sub");
    std::fs::create_dir(&sub).expect("mkdir");
    let trace = dir.path("t.jsonl");
    let ex = "examples/restart-time-wait.json";
    let missing = dir.path("missing").join("p.pcap");
    for (pcap, why) in [
        (sub.clone(), "it is a directory"),
        (missing.clone(), "folder "),
        (trace.clone(), "named for two outputs"),
    ] {
        check_bad_input(
            &dir,
            &[
                "run".as_ref(),
                ex.as_ref(),
                "--variant".as_ref(),
                "linux".as_ref(),
                "--pcap".as_ref(),
                pcap.as_os_str(),
            ],
            "",
            why,
        );
    }
    // With several runs, each run's file is checked (the first would have been replaced).
    check_bad_input(
        &dir,
        &[
            "run".as_ref(),
            ex.as_ref(),
            "--pcap".as_ref(),
            missing.as_os_str(),
        ],
        &format!(
            "{}: cannot write: folder ",
            dir.path("missing")
                .join("p.restart-time-wait.linux.pcap")
                .display()
        ),
        "",
    );
}

/// A 5000-character value is not echoed whole.
#[test]
fn long_values_are_elided_in_errors() {
    let o = twsim(["run", "tests/malformed/long_value.json"]);
    assert_status(&o, 2, "long_value.json");
    let err = stderr(&o);
    assert!(err.len() < 300, "{} bytes: {err}", err.len());
    let o = twsim([
        "run",
        "examples/restart-time-wait.json",
        "--variant",
        &"v".repeat(5000),
    ]);
    assert_status(&o, 2, "long --variant");
    let err = stderr(&o);
    assert!(
        err.len() < 300 && err.contains("(4936 more characters)"),
        "{err}"
    );
}

/// Runs `twsim ARGS --trace DIR/t.jsonl` where `t.jsonl` already exists, and checks the
/// error: exit 2, one line on stderr starting `twsim: error: ` + `start` and containing
/// `msg`, nothing on stdout, and the existing trace unchanged and alone in `dir`.
fn check_bad_input(dir: &TempDir, args: &[&std::ffi::OsStr], start: &str, msg: &str) {
    let trace = dir.path("t.jsonl");
    std::fs::write(&trace, PREVIOUS_TRACE).expect("write the previous trace");
    let before = dir.entries();
    let mut all: Vec<&std::ffi::OsStr> = args.to_vec();
    all.extend(["--trace".as_ref(), trace.as_os_str()]);
    let o = twsim(all);
    let what = format!("{args:?}");
    assert_status(&o, 2, &what);
    let err = stderr(&o);
    let want = format!("twsim: error: {start}");
    assert!(
        err.starts_with(&want),
        "{what}: expected {want:?}, got {err:?}"
    );
    assert!(err.contains(msg), "{what}: expected {msg:?} in {err:?}");
    assert_eq!(
        err.lines().count(),
        1,
        "{what}: one error line expected:\n{err}"
    );
    assert!(stdout(&o).is_empty(), "{what}: ran:\n{}", stdout(&o));
    assert_eq!(dir.entries(), before, "{what}: files written");
    assert_eq!(
        std::fs::read(&trace).expect("read the previous trace"),
        PREVIOUS_TRACE,
        "{what}: the existing trace changed"
    );
}

/// A scenario with one route whose delays come from `delays` (a path as written in the file).
fn empirical_scenario(delays: &str) -> String {
    format!(
        r#"{{ "name": "emp", "hosts": [ {{ "name": "a", "addr": "10.0.0.1" }} ],
  "network": {{ "routes": [ {{ "name": "lan", "delay": {{ "empirical": "{delays}" }} }} ] }},
  "steps": [ {{ "host": "a", "call": "socket", "sock": "S" }} ] }}"#
    )
}

/// Only regular files under the size cap are read: a device, a FIFO (which would block), a
/// directory or an oversized file as the scenario or as an empirical-delay file is bad input,
/// and a delay file reached through a symbolic link out of the scenario's folder is refused
/// without quoting it.
#[cfg(unix)]
#[test]
fn inputs_are_regular_files_under_the_size_cap_inside_the_scenarios_folder() {
    let dir = TempDir::new("inputs");
    fn run(p: &Path) -> [&std::ffi::OsStr; 2] {
        ["run".as_ref(), p.as_os_str()]
    }
    check_bad_input(
        &dir,
        &run(Path::new("/dev/zero")),
        "/dev/zero: cannot read: a device, not a regular file",
        "",
    );
    let fifo = dir.path("fifo.json");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let fifo_name = fifo.display().to_string();
    check_bad_input(
        &dir,
        &run(&fifo),
        &format!("{fifo_name}: cannot read: a FIFO, not a regular file"),
        "",
    );
    let o = twsim(["replay".as_ref(), fifo.as_os_str()]);
    assert_status(&o, 2, "replay of a FIFO");
    assert!(
        stderr(&o).starts_with(&format!("twsim: error: {fifo_name}: cannot read: a FIFO")),
        "{}",
        stderr(&o)
    );
    let big = dir.path("big.json");
    std::fs::File::create(&big)
        .and_then(|f| f.set_len(16 * 1024 * 1024 + 1))
        .expect("sparse file");
    check_bad_input(
        &dir,
        &run(&big),
        &format!("{}: cannot read: larger than 16 MiB", big.display()),
        "the limit for an input file",
    );
    std::fs::remove_file(&big).expect("remove the big file");

    // Empirical-delay files: a FIFO in the folder, a link out of it, a directory.
    let sc = |name: &str, delays: &str| {
        let p = dir.path(name);
        std::fs::write(&p, empirical_scenario(delays)).expect("write scenario");
        p
    };
    let at = |p: &Path| format!("{}:2:69: network.routes[0].delay.empirical: ", p.display());
    let f = sc("fifo-delays.json", "fifo.json");
    check_bad_input(&dir, &run(&f), &at(&f), "fifo.json: cannot read: a FIFO");
    std::os::unix::fs::symlink("/etc/hostname", dir.path("link.txt")).expect("symlink");
    let f = sc("link-delays.json", "link.txt");
    check_bad_input(
        &dir,
        &run(&f),
        &at(&f),
        "resolves outside the scenario's folder",
    );
    let f = sc("abs-delays.json", "/etc/hostname");
    check_bad_input(&dir, &run(&f), &at(&f), "must be a relative path");
    std::fs::create_dir(dir.path("sub")).expect("mkdir");
    let f = sc("dir-delays.json", "sub");
    check_bad_input(&dir, &run(&f), &at(&f), "sub: cannot read: a directory");
}

#[test]
fn every_malformed_file_is_tested() {
    let files = json_files(&Path::new(ROOT).join("tests/malformed"));
    assert!(files.len() >= 12, "too few malformed scenarios");
    for f in files {
        let name = f
            .file_name()
            .expect("file name")
            .to_string_lossy()
            .into_owned();
        assert!(
            MALFORMED.contains(&name.as_str()),
            "tests/malformed/{name} has no test in tests/cli.rs"
        );
    }
}

#[test]
fn duration_error_on_an_objects_last_value_points_at_the_value() {
    let dir = TempDir::new("last-value");
    let file = dir.path("last-value.json");
    std::fs::write(
        &file,
        "{\n  \"name\": \"last-value\",\n  \"hosts\": [ { \"name\": \"a\", \"addr\": \"10.0.0.1\" } ],\n  \
         \"steps\": [ { \"host\": \"a\", \"call\": \"socket\", \"sock\": \"S\" } ],\n  \"msl\": \"10 parsecs\"\n}\n",
    )
    .expect("write scenario");
    let o = twsim([Path::new("run"), file.as_path()]);
    assert_status(&o, 2, "last-value.json");
    let err = stderr(&o);
    // The value is on line 5; serde's position after the value is line 6, column 1 (the `}`).
    let want = format!("twsim: error: {}:5:", file.display());
    assert!(err.starts_with(&want), "expected {want:?}, got {err:?}");
}

#[test]
fn missing_or_unreadable_file_is_bad_input() {
    let dir = TempDir::new("missing");
    let missing = dir.path("no-such-scenario.json");
    let o = twsim([Path::new("run"), missing.as_path()]);
    assert_status(&o, 2, "missing file");
    let err = stderr(&o);
    assert!(err.starts_with("twsim: error: "), "{err}");
    assert!(err.contains(&missing.display().to_string()), "{err}");
    assert!(err.contains("cannot read"), "{err}");

    // A directory cannot be read as a file (permissions do not stop root, this does).
    let o = twsim([Path::new("run"), dir.0.as_path()]);
    assert_status(&o, 2, "directory as scenario");
    assert!(stderr(&o).starts_with("twsim: error: "), "{}", stderr(&o));

    // Not UTF-8.
    let bin = dir.path("binary.json");
    std::fs::write(&bin, [0xff, 0xfe, b'{', b'}']).expect("write file");
    let o = twsim([Path::new("run"), bin.as_path()]);
    assert_status(&o, 2, "non-UTF-8 scenario");
    assert!(stderr(&o).starts_with("twsim: error: "), "{}", stderr(&o));
}

#[test]
fn bad_command_line_values_are_bad_input() {
    let o = twsim(["run", "examples/fork-server-restart.json", "--os", "plan9"]);
    assert_status(&o, 2, "--os plan9");
    let err = stderr(&o);
    assert!(err.starts_with("twsim: error: --os: "), "{err}");
    assert!(err.contains("plan9"), "{err}");
    assert!(stdout(&o).is_empty(), "ran despite a bad --os");

    let o = twsim([
        "run",
        "examples/fork-server-restart.json",
        "--msl",
        "10 parsecs",
    ]);
    assert_status(&o, 2, "--msl 10 parsecs");
    assert!(
        stderr(&o).starts_with("twsim: error: --msl: "),
        "{}",
        stderr(&o)
    );

    // A zero MSL on the command line is the flag's error, not the file's.
    let dir = TempDir::new("msl0");
    check_bad_input(
        &dir,
        &[
            "run".as_ref(),
            "examples/restart-time-wait.json".as_ref(),
            "--msl".as_ref(),
            "0s".as_ref(),
        ],
        "--msl: \"0s\": the MSL must be greater than zero",
        "",
    );

    let o = twsim([
        "run",
        "examples/restart-time-wait.json",
        "--variant",
        "no-such-variant",
    ]);
    assert_status(&o, 2, "--variant no-such-variant");
    assert!(stderr(&o).starts_with("twsim: error: "), "{}", stderr(&o));

    let o = twsim(["run", "examples/fork-server-restart.json", "--seed", "one"]);
    assert_status(&o, 2, "--seed one");
}

/// IPv6 scripts: `twsim run` refuses them (exit 2, the position of the first IPv6 value, no
/// output), `twsim replay` runs them against the model.
#[test]
fn ipv6_scripts_replay_but_do_not_run() {
    let dir = TempDir::new("ipv6");
    let file = dir.path("ipv6.json");
    std::fs::write(
        &file,
        r#"{
  "name": "ipv6-replay",
  "hosts": [ { "name": "a", "addr": "10.0.0.1" } ],
  "steps": [
    { "host": "a", "call": "socket", "sock": "S" },
    { "host": "a", "call": "bind", "sock": "S", "addr": "0.0.0.0:80", "expect": "ok" },
    { "host": "a", "call": "setsockopt", "sock": "S", "opt": "IPV6_V6ONLY", "value": 1, "expect": "ENOPROTOOPT" },
    { "host": "a", "call": "socket", "sock": "T", "family": "inet6" },
    { "host": "a", "call": "bind", "sock": "T", "addr": "[::]:80", "expect": "EADDRINUSE" },
    { "host": "a", "call": "setsockopt", "sock": "T", "opt": "IPV6_V6ONLY", "value": 1, "expect": "ok" },
    { "host": "a", "call": "bind", "sock": "T", "addr": "[::]:80", "expect": "ok" },
    { "host": "a", "call": "socket", "sock": "U" },
    { "host": "a", "call": "connect", "sock": "U", "addr": "[::1]:80", "expect": "EAFNOSUPPORT" }
  ]
}
"#,
    )
    .expect("write scenario");
    let o = twsim([Path::new("run"), file.as_path()]);
    assert_status(&o, 2, "twsim run of an IPv6 script");
    let err = stderr(&o);
    let want = format!("twsim: error: {}:8:61: steps[3].family: ", file.display());
    assert!(err.starts_with(&want), "expected {want:?}, got {err:?}");
    assert!(err.contains("IPv4-only"), "{err}");
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));

    let o = twsim([Path::new("replay"), file.as_path()]);
    assert_status(&o, 0, "twsim replay of an IPv6 script");
    let out = stdout(&o);
    assert!(
        has_line(
            &out,
            "bind(T, [::]:80) = EADDRINUSE (expected EADDRINUSE) \u{2713}"
        ),
        "{out}"
    );
    assert!(
        has_line(
            &out,
            "setsockopt(T, IPV6_V6ONLY, 1) = ok (expected ok) \u{2713}"
        ),
        "{out}"
    );
}

/// Resolve errors of the IPv6 fields name the value's path.
#[test]
fn bad_ipv6_fields_are_bad_input() {
    let dir = TempDir::new("ipv6-bad");
    for (i, (step, path, msg)) in [
        (
            r#"{ "host": "a", "call": "socket", "sock": "T", "family": "inet7" }"#,
            "steps[1].family: ",
            "unknown address family \"inet7\"",
        ),
        (
            r#"{ "host": "a", "call": "bind", "sock": "S", "addr": "[::1]:80", "family": "inet6" }"#,
            "steps[1].family: ",
            "belongs to socket",
        ),
        (
            r#"{ "host": "a", "call": "bind", "sock": "S", "addr": "::1:80" }"#,
            "steps[1].addr: ",
            "([::1]:port)",
        ),
        (
            r#"{ "host": "a", "call": "setsockopt", "sock": "S", "opt": "IPV6_V6ONLY", "value": 2 }"#,
            "steps[1].value: ",
            "IPV6_V6ONLY takes 0 or 1",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let file = dir.path(&format!("bad{i}.json"));
        std::fs::write(
            &file,
            format!(
                r#"{{ "name": "bad", "hosts": [ {{ "name": "a", "addr": "10.0.0.1" }} ],
  "steps": [ {{ "host": "a", "call": "socket", "sock": "S" }}, {step} ] }}"#
            ),
        )
        .expect("write scenario");
        let o = twsim([Path::new("replay"), file.as_path()]);
        assert_status(&o, 2, step);
        let err = stderr(&o);
        let want = format!("twsim: error: {}:2:", file.display());
        assert!(err.starts_with(&want), "{want:?} in {err:?}");
        assert!(err.contains(path) && err.contains(msg), "{path} {msg} in {err}");
    }
}

#[test]
fn unmet_expectation_exits_1() {
    let dir = TempDir::new("unmet");
    let file = dir.path("unmet.json");
    std::fs::write(
        &file,
        r#"{
  "name": "unmet-expect",
  "hosts": [ { "name": "a", "addr": "10.0.0.1" } ],
  "steps": [
    { "host": "a", "call": "socket", "sock": "S" },
    { "host": "a", "call": "bind", "sock": "S", "addr": "0.0.0.0:80", "expect": "ok" },
    { "host": "a", "call": "socket", "sock": "T" },
    { "host": "a", "call": "bind", "sock": "T", "addr": "0.0.0.0:80", "expect": "ok" }
  ]
}
"#,
    )
    .expect("write scenario");
    let o = twsim([Path::new("run"), file.as_path()]);
    assert_status(&o, 1, "unmet expect");
    let out = stdout(&o);
    assert!(out.contains("UNEXPECTED"), "{out}");
    assert!(
        has_line(&out, "bind(T, 0.0.0.0:80) = EADDRINUSE (expected ok)"),
        "{out}"
    );

    let o = twsim([Path::new("run"), file.as_path(), Path::new("--json")]);
    assert_status(&o, 1, "unmet expect --json");
    let v: Value = serde_json::from_str(&stdout(&o)).expect("--json prints one JSON document");
    assert_eq!(v["ok"], Value::Bool(false), "{v}");
}

/// The last `k` non-empty lines of `text`.
fn last_lines(text: &str, k: usize) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(k)..].to_vec()
}

#[test]
fn bench_prints_both_ratios_last() {
    let o = twsim(["bench", "--lifecycles", "200"]);
    assert_status(&o, 0, "twsim bench --lifecycles 200");
    let out = stdout(&o);
    assert!(out.contains("bare smoltcp harness"), "{out}");
    assert!(out.contains("twsim simulator"), "{out}");
    assert!(out.contains("kernel loopback"), "{out}");
    let last = last_lines(&out, 2);
    assert_eq!(last.len(), 2, "{out}");
    let bare = last[0]
        .strip_prefix("simulator / bare = ")
        .and_then(|r| r.strip_suffix('%'))
        .unwrap_or_else(|| panic!("second-to-last line is not the bare ratio:\n{out}"));
    assert!(bare.parse::<f64>().is_ok_and(|x| x > 0.0), "{out}");
    let kernel = last[1]
        .strip_prefix("simulator / kernel = ")
        .unwrap_or_else(|| panic!("last line is not the kernel ratio:\n{out}"));
    // a figure, or n/a where this machine has no sockets for the baseline
    assert!(
        kernel
            .strip_suffix('×')
            .is_some_and(|y| y.parse::<f64>().is_ok_and(|y| y > 0.0))
            || kernel.starts_with("n/a"),
        "{out}"
    );
}

#[test]
fn bench_scale_prints_the_ratio() {
    let o = twsim(["bench", "--scale", "200"]);
    assert_status(&o, 0, "twsim bench --scale 200");
    let out = stdout(&o);
    assert!(out.contains("    200 connections"), "{out}");
    assert!(out.contains("    800 connections"), "{out}");
    let last = last_lines(&out, 1);
    let r = last[0]
        .strip_prefix("time(4N) / time(N) = ")
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("last line is not the scale ratio:\n{out}"));
    assert!(r.parse::<f64>().is_ok_and(|r| r > 0.0), "{out}");
}

/// `bench --model` reads the heap from the binary's allocator: the figure is measured, and a
/// record costs at least its 88-byte slot in the TIME-WAIT store.
#[test]
fn bench_model_measures_heap_bytes_per_record() {
    let o = twsim(["bench", "--model", "5000"]);
    assert_status(&o, 0, "twsim bench --model 5000");
    let out = stdout(&o);
    let line = out
        .lines()
        .find(|l| l.contains("heap bytes per TIME-WAIT record"))
        .unwrap_or_else(|| panic!("no heap line:\n{out}"));
    let bytes = line
        .split_whitespace()
        .next()
        .and_then(|b| b.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("heap figure not measured:\n{out}"));
    assert!(
        bytes >= 88.0,
        "{bytes} bytes per record, below the slot size:\n{out}"
    );
}

/// The replays play steps only: a scenario with workloads is refused, exit 2, at the workload.
#[test]
fn replay_refuses_workloads() {
    for extra in [&[][..], &["--all-os"][..]] {
        let o = twsim(
            ["replay", "examples/time-wait-occupancy.json"]
                .iter()
                .chain(extra),
        );
        assert_eq!(o.status.code(), Some(2));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(
                "time-wait-occupancy.json:10:5: workloads[0]: twsim replay plays the steps only"
            ),
            "{err}"
        );
        assert!(o.stdout.is_empty());
    }
}

/// A workload scenario's `--json` summary is the same on every run and carries the workload
/// figures.
#[test]
fn workload_summary_is_deterministic() {
    let a = twsim([
        "run",
        "examples/time-wait-occupancy.json",
        "--json",
        "--seed",
        "9",
    ]);
    let b = twsim([
        "run",
        "examples/time-wait-occupancy.json",
        "--json",
        "--seed",
        "9",
    ]);
    assert!(a.status.success());
    assert_eq!(a.stdout, b.stdout);
    let v: serde_json::Value = serde_json::from_slice(&a.stdout).expect("JSON");
    assert_eq!(v["workloads"][0]["name"], "api");
    assert!(v["workloads"][0]["attempted"].as_u64().unwrap() > 7000);
    assert_eq!(v["time_wait_occupancy"][1]["host"], "client");
}

/// `twsim replay --json` has no empty field either: a step with nothing to report has a null
/// `detail`, as in the run summary.
#[test]
fn replay_json_has_no_empty_string() {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_twsim"))
        .args(["replay", "examples/restart-time-wait.json", "--json"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("twsim starts");
    let out = String::from_utf8(o.stdout).expect("UTF-8");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    fn walk(v: &serde_json::Value, at: &str, bad: &mut Vec<String>) {
        match v {
            serde_json::Value::String(s) if s.is_empty() => bad.push(at.to_string()),
            serde_json::Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    walk(x, &format!("{at}/{i}"), bad);
                }
            }
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    walk(x, &format!("{at}/{k}"), bad);
                }
            }
            _ => {}
        }
    }
    let mut bad = Vec::new();
    walk(&v, "", &mut bad);
    assert!(bad.is_empty(), "empty strings at {bad:?}");
    assert!(out.contains("\"detail\": null"), "{out}");
}
