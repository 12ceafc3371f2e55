//! Integration tests of the `twsim` binary: exit statuses, printed results, output files and
//! error messages for malformed scenarios.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

const BIN: &str = env!("CARGO_BIN_EXE_twsim");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Runs `twsim ARGS` from the workspace root.
fn twsim<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(BIN)
        .args(args)
        .current_dir(ROOT)
        .output()
        .expect("twsim starts")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("stderr is UTF-8")
}

/// Fails with the captured output when the exit status is not `code`.
fn assert_status(o: &Output, code: i32, what: &str) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "{what}: expected exit {code}, got {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status,
        stdout(o),
        stderr(o)
    );
    assert_no_panic(o, what);
}

fn assert_no_panic(o: &Output, what: &str) {
    let all = format!("{}{}", stdout(o), stderr(o));
    assert!(!all.contains("panicked"), "{what}: panic in output:\n{all}");
    assert!(
        !all.contains("RUST_BACKTRACE"),
        "{what}: panic in output:\n{all}"
    );
}

/// A fresh, empty directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("twsim-cli-{}-{n}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn entries(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.0)
            .expect("read temp dir")
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        v.sort();
        v
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `dir/*.json`, sorted.
fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    v.sort();
    v
}

/// Lines with runs of whitespace collapsed to one space, so column alignment does not matter.
fn squeezed_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// The part of a text report from the header `== NAME [VARIANT]` up to the next header.
fn section<'a>(text: &'a str, header: &str) -> &'a str {
    let start = text
        .find(header)
        .unwrap_or_else(|| panic!("no section {header:?} in:\n{text}"));
    let rest = &text[start + header.len()..];
    let end = rest.find("\n== ").map_or(rest.len(), |i| i + 1);
    &text[start..start + header.len() + end]
}

fn has_line(text: &str, want: &str) -> bool {
    squeezed_lines(text).iter().any(|l| l.contains(want))
}

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
