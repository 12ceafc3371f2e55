//! Golden traces: every example under `examples/`, run with its own seed, must give exactly the
//! timeline, `--json` summary, JSON Lines trace and pcap digest stored under `tests/golden/`.
//!
//! Outputs larger than [`MAX_STORED`] (the workload examples' timelines and traces, megabytes
//! each) are kept as SHA-256 digests in `digests.sha256`, as pcaps are.
//! A change to any of them shows as a diff of the stored files. After an intended change,
//! regenerate them with
//!
//! ```text
//! TWSIM_BLESS=1 cargo test --release --test golden
//! ```
//!
//! and commit the diff with the reason in the message.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_twsim");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// Largest output stored verbatim, bytes.
const MAX_STORED: usize = 1 << 20;

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What one example produces: (file name under its golden folder, contents).
fn outputs(example: &Path, work: &Path) -> Vec<(String, Vec<u8>)> {
    let _ = std::fs::remove_dir_all(work);
    std::fs::create_dir_all(work).expect("create work dir");
    let run = |extra: &[&str]| {
        let o = Command::new(BIN)
            .arg("run")
            .arg(example)
            .args(extra)
            .current_dir(ROOT)
            .output()
            .expect("twsim starts");
        assert!(
            o.status.success(),
            "{}: exit {:?}\n{}",
            example.display(),
            o.status,
            String::from_utf8_lossy(&o.stderr)
        );
        o.stdout
    };
    let trace = work.join("trace.jsonl");
    let pcap = work.join("capture.pcap");
    let timeline = run(&[
        "--trace",
        trace.to_str().expect("utf-8 path"),
        "--pcap",
        pcap.to_str().expect("utf-8 path"),
    ]);
    let summary = run(&["--json"]);
    let mut out = vec![
        ("timeline.txt".to_string(), timeline),
        ("summary.json".to_string(), summary),
    ];
    let mut digests = String::new();
    let mut large = String::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(work)
        .expect("read work dir")
        .map(|e| e.expect("dir entry").path())
        .collect();
    files.sort();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&f).expect("read output");
        if name.ends_with(".pcap") {
            digests.push_str(&format!("{}  {name}\n", sha256_hex(&bytes)));
        } else {
            out.push((name, bytes));
        }
    }
    out.push(("pcap.sha256".to_string(), digests.into_bytes()));
    out.retain(|(name, bytes)| {
        if bytes.len() <= MAX_STORED {
            return true;
        }
        large.push_str(&format!("{}  {name}\n", sha256_hex(bytes)));
        false
    });
    if !large.is_empty() {
        out.push(("digests.sha256".to_string(), large.into_bytes()));
    }
    let _ = std::fs::remove_dir_all(work);
    out
}

#[test]
fn every_example_matches_its_golden_outputs() {
    let bless = std::env::var_os("TWSIM_BLESS").is_some();
    let root = Path::new(ROOT);
    let mut examples: Vec<PathBuf> = std::fs::read_dir(root.join("examples"))
        .expect("examples/")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    examples.sort();
    assert!(!examples.is_empty());
    let mut failures = Vec::new();
    for ex in &examples {
        let stem = ex.file_stem().unwrap().to_string_lossy().into_owned();
        let golden = root.join("tests/golden").join(&stem);
        let work = std::env::temp_dir().join(format!("twsim-golden-{}-{stem}", std::process::id()));
        let got = outputs(ex, &work);
        if bless {
            let _ = std::fs::remove_dir_all(&golden);
            std::fs::create_dir_all(&golden).expect("create golden dir");
            for (name, bytes) in &got {
                std::fs::write(golden.join(name), bytes).expect("write golden file");
            }
            continue;
        }
        let mut want_names: Vec<String> = std::fs::read_dir(&golden)
            .map(|d| {
                d.map(|e| {
                    e.expect("dir entry")
                        .file_name()
                        .to_string_lossy()
                        .into_owned()
                })
                .collect()
            })
            .unwrap_or_default();
        want_names.sort();
        let mut got_names: Vec<String> = got.iter().map(|(n, _)| n.clone()).collect();
        got_names.sort();
        if want_names != got_names {
            failures.push(format!(
                "{stem}: files differ: golden {want_names:?}, run {got_names:?}"
            ));
            continue;
        }
        for (name, bytes) in &got {
            let want = std::fs::read(golden.join(name)).expect("read golden file");
            if &want != bytes {
                let (w, g) = (
                    String::from_utf8_lossy(&want),
                    String::from_utf8_lossy(bytes),
                );
                let line = w
                    .lines()
                    .zip(g.lines())
                    .position(|(a, b)| a != b)
                    .unwrap_or_else(|| w.lines().count().min(g.lines().count()));
                failures.push(format!(
                    "{stem}/{name}: first difference at line {}:\n  golden: {}\n  run:    {}",
                    line + 1,
                    w.lines().nth(line).unwrap_or("<end>"),
                    g.lines().nth(line).unwrap_or("<end>")
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden mismatch(es); if intended, regenerate with \
         `TWSIM_BLESS=1 cargo test --release --test golden`:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
