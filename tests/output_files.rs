//! Output files of `twsim run` when writing fails in the middle of a run: no partial file.

use std::path::PathBuf;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_twsim");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const PREVIOUS_TRACE: &[u8] = b"{\"previous\": \"trace\"}\n";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The sorted names in `dir`.
fn entries(dir: &PathBuf) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// `twsim run EXAMPLE --json --trace TRACE` under `sh`, after `prelude`.
fn run_under_sh(prelude: &str, example: &str, trace: &std::path::Path) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!(r#"{prelude} exec "$0" "$@""#))
        .arg(BIN)
        .args(["run", example, "--json", "--trace"])
        .arg(trace)
        .current_dir(ROOT)
        .output()
        .expect("run twsim under sh")
}

/// A trace that cannot be written in full (a file-size limit makes every write past 50 KiB
/// fail with EFBIG, as a full disk would with ENOSPC) is an output error: exit 2, the file
/// named, nothing on stdout, and of the files streamed so far (several variants' traces)
/// no temporary or partial file left, the existing trace unchanged.
#[cfg(unix)]
#[test]
fn a_trace_that_cannot_be_written_leaves_no_partial_file() {
    let dir = std::env::temp_dir().join(format!("twsim-output-files-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let trace = dir.join("t.jsonl");
    std::fs::write(&trace, PREVIOUS_TRACE).expect("write the previous trace");
    let before = entries(&dir);
    let ex = "examples/slow-route-old-duplicate.json";
    // An ignored SIGXFSZ stays ignored across exec: the write fails instead.
    let o = run_under_sh(r#"trap "" XFSZ; ulimit -f 100;"#, ex, &trace);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let want = format!(
        "twsim: error: {}",
        dir.join("t.slow-route-old-duplicate.").display()
    );
    assert!(err.starts_with(&want), "{err}");
    assert!(
        err.contains(".jsonl: cannot write: File too large"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(o.stdout.is_empty(), "{}", text(&o.stdout));
    assert_eq!(entries(&dir), before);
    assert_eq!(std::fs::read(&trace).expect("read"), PREVIOUS_TRACE);
    // Without the limit the same run writes every variant's trace.
    let o = run_under_sh("", ex, &trace);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(entries(&dir).len() > 2, "{:?}", entries(&dir));
    std::fs::remove_dir_all(&dir).expect("clean up");
}
