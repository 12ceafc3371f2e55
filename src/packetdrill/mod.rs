//! `twsim packetdrill`: packetdrill scripts against one simulated host in virtual time
//! (docs/packetdrill.md). `parse` reads the script language; `run` plays the remote end
//! against a `twsim_sim::host::Host` and checks what the host sends.

pub mod parse;
pub mod run;
pub mod sut;

pub use run::{Config, Verdict};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The `.pkt` files of `path`: the file itself, or every `.pkt` below a directory, sorted.
/// Errors: the path cannot be read.
pub fn scripts(path: &Path) -> Result<Vec<PathBuf>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut dirs = vec![path.to_path_buf()];
    while let Some(d) = dirs.pop() {
        let rd = std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        for e in rd {
            let p = e.map_err(|e| format!("{}: {e}", d.display()))?.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "pkt") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Runs the script text `src` (a parse error makes it not applicable: the language feature is
/// not supported).
pub fn run_source(src: &str, defines: &BTreeSet<String>, config: &Config) -> Verdict {
    match parse::parse(src, defines) {
        Ok(s) => run::run(&s, config),
        Err(e) => Verdict::NotApplicable(e.line, format!("cannot read the script: {}", e.msg)),
    }
}

/// One line of the report for `path`.
pub fn report_line(path: &Path, v: &Verdict) -> String {
    let p = path.display();
    match v {
        Verdict::Pass => format!("pass  {p}"),
        Verdict::Fail(l, m) => format!("FAIL  {p}:{l}: {m}"),
        Verdict::NotApplicable(l, m) => format!("n/a   {p}:{l}: {m}"),
    }
}
