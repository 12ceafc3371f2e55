//! Helpers of the `twsim` binary's integration tests (`cli`, `cli_outputs`, `cli_bad_input`):
//! running it, reading its output, a scratch directory.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

pub const BIN: &str = env!("CARGO_BIN_EXE_twsim");
pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Runs `twsim ARGS` from the workspace root.
pub fn twsim<I, S>(args: I) -> Output
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

pub fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("stdout is UTF-8")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("stderr is UTF-8")
}

/// Fails with the captured output when the exit status is not `code`.
pub fn assert_status(o: &Output, code: i32, what: &str) {
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

pub fn assert_no_panic(o: &Output, what: &str) {
    let all = format!("{}{}", stdout(o), stderr(o));
    assert!(!all.contains("panicked"), "{what}: panic in output:\n{all}");
    assert!(
        !all.contains("RUST_BACKTRACE"),
        "{what}: panic in output:\n{all}"
    );
}

/// A fresh, empty directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("twsim-cli-{}-{n}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    pub fn entries(&self) -> Vec<String> {
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
pub fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    v.sort();
    v
}

/// Lines with runs of whitespace collapsed to one space, so column alignment does not matter.
pub fn squeezed_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// The part of a text report from the header `== NAME [VARIANT]` up to the next header.
pub fn section<'a>(text: &'a str, header: &str) -> &'a str {
    let start = text
        .find(header)
        .unwrap_or_else(|| panic!("no section {header:?} in:\n{text}"));
    let rest = &text[start + header.len()..];
    let end = rest.find("\n== ").map_or(rest.len(), |i| i + 1);
    &text[start..start + header.len() + end]
}

pub fn has_line(text: &str, want: &str) -> bool {
    squeezed_lines(text).iter().any(|l| l.contains(want))
}
