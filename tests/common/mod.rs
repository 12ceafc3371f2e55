//! Helpers shared by the CLI-level test files: running the binary, checking its exit, and a
//! scratch directory. Each test file uses part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_twsim");
pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Runs twsim with `args` from the repository root.
pub fn twsim(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(ROOT)
        .output()
        .expect("runs twsim")
}

/// Asserts a successful exit, showing stderr otherwise.
pub fn ok(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what}: status {:?}\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Exit status 2, one error line, no panic; returns stderr.
pub fn bad(o: &Output, what: &str) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "{what}: {err}");
    assert!(!err.contains("panicked"), "{what}: {err}");
    assert!(err.starts_with("twsim: error: "), "{what}: {err}");
    err
}

/// A fresh directory under the system temp dir (named after the test file's `kind` and a
/// `tag`), removed on drop.
pub struct Tmp(pub PathBuf);

impl Tmp {
    pub fn new(kind: &str, tag: &str) -> Tmp {
        let d = std::env::temp_dir().join(format!("twsim-{kind}-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("temp dir");
        Tmp(d)
    }
    pub fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Asserts that `twsim plot SUMMARY` draws exactly `docs/figures/FIGURE.svg` (the figure a
/// study's README shows); with `TWSIM_BLESS` set, rewrites that file first. `t` holds the
/// drawing.
pub fn plot_is_kept_figure(t: &Tmp, summary: &str, figure: &str) {
    let fig = t.path("f.svg");
    ok(&twsim(&["plot", summary, "-o", &fig]), "plot");
    let kept = Path::new(ROOT)
        .join("docs/figures")
        .join(format!("{figure}.svg"));
    if std::env::var_os("TWSIM_BLESS").is_some() {
        std::fs::copy(&fig, &kept).unwrap();
    }
    assert!(
        std::fs::read(&kept).ok() == std::fs::read(&fig).ok(),
        "{} differs from the plot of {summary} (TWSIM_BLESS=1 rewrites it)",
        kept.display()
    );
}
