//! The model never branches on a profile's name, only on rule values (ARCHITECTURE.md,
//! "Profiles are data"): every behaviour that differs between profiles is a named field of
//! `ProfileConfig` with its source. This test reads the non-test sources of the model, the
//! simulator and the kernel crate and fails on a condition that names a profile:
//!
//! - `== Profile::`, `!= Profile::`, `== BindRules::`, `!= BindRules::`, reading
//!   `cfg.profile` / `.profile ==`, `matches!(…, Profile::…)` or `matches!(…, BindRules::…)`;
//! - a `match` on `cfg.bind`, or an arm or guard naming a `BindRules` value, outside the
//!   bind-conflict rule (functions whose name contains `verdict`), since `BindRules` *is* the
//!   bind rule set and nothing else;
//! - an arm naming a `Profile` value outside `profile.rs` (where the profiles are defined).

use std::fs;
use std::path::{Path, PathBuf};

/// The one `matches!` on `BindRules` allowed: which bind tables are Windows ones, a property
/// of the bind rule set itself (`BindRules::is_windows`).
const ALLOWED_MATCHES: &[&str] =
    &["matches!(self, BindRules::WindowsClassic | BindRules::Windows2003)"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .expect("readable source directory")
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            // Unit-test folders hold test code only.
            if p.file_name().is_some_and(|n| n != "tests") {
                rust_files(&p, out);
            }
        } else if p.extension().is_some_and(|e| e == "rs")
            && p.file_name().is_some_and(|n| n != "tests.rs")
        {
            out.push(p);
        }
    }
}

/// The lines of `src` outside `#[cfg(test)]` items, with `//` comments removed.
fn non_test_lines(src: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut lines = src.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        if line.trim() == "#[cfg(test)]" {
            // Skip the next item: `mod x;` or a braced block.
            let mut depth = 0i32;
            let mut opened = false;
            for (_, l) in lines.by_ref() {
                depth += l.matches('{').count() as i32 - l.matches('}').count() as i32;
                opened |= l.contains('{');
                if (opened && depth <= 0) || (!opened && l.trim_end().ends_with(';')) {
                    break;
                }
            }
            continue;
        }
        let code = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        out.push((n + 1, code.to_string()));
    }
    out
}

/// Every condition in `src` (a file called `name`) that names a profile.
fn violations(name: &str, src: &str) -> Vec<String> {
    let in_profile_rs = name.ends_with("profile.rs");
    let lines = non_test_lines(src);
    let mut bad = Vec::new();
    let mut current_fn = String::new();
    for (n, line) in &lines {
        if let Some(i) = line.find("fn ") {
            let rest = &line[i + 3..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            if end > 0 {
                current_fn = rest[..end].to_string();
            }
        }
        let mut flag = |why: &str| bad.push(format!("{name}:{n}: {why}: {}", line.trim()));
        for pat in [
            "== Profile::",
            "!= Profile::",
            "== BindRules::",
            "!= BindRules::",
            ".profile ==",
            ".profile !=",
            "cfg.profile",
        ] {
            if line.contains(pat) {
                flag(pat);
            }
        }
        let bind_rule = current_fn.contains("verdict");
        let arm = line.contains("=>") || line.contains(" if ");
        if !bind_rule && (line.contains("match self.cfg.bind") || line.contains("cfg.bind {")) {
            flag("match on the bind rule set outside the bind-conflict rule");
        }
        if !bind_rule && arm && line.contains("BindRules::") {
            flag("arm naming a BindRules value outside the bind-conflict rule");
        }
        if !in_profile_rs && arm && line.contains("Profile::") {
            flag("arm naming a Profile");
        }
    }
    // `matches!` may span lines: look at the joined code.
    let joined: String = lines
        .iter()
        .map(|(_, l)| l.trim())
        .collect::<Vec<_>>()
        .join(" ");
    let mut rest = joined.as_str();
    while let Some(i) = rest.find("matches!(") {
        let tail = &rest[i..];
        let mut depth = 0;
        let mut end = tail.len();
        for (k, c) in tail.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = k + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        let call = &tail[..end];
        if (call.contains("Profile::") || call.contains("BindRules::"))
            && !ALLOWED_MATCHES.contains(&call)
        {
            bad.push(format!("{name}: matches! naming a profile: {call}"));
        }
        rest = &tail[end.min(tail.len())..];
    }
    bad
}

#[test]
fn no_crate_branches_on_a_profile_name() {
    // The model, and the crates that use it: the simulator and the kernel backends must not
    // bring the branching back either.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut bad = Vec::new();
    for dir in ["src", "../sim/src", "../kernel/src"] {
        let src = root.join(dir);
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        assert!(
            files.len() >= 8,
            "scanned too few files in {dir}: {files:?}"
        );
        bad.extend(files.iter().flat_map(|p| {
            let text = fs::read_to_string(p).expect("readable source");
            let name = format!("{dir}/{}", p.strip_prefix(&src).unwrap_or(p).display());
            violations(&name, &text)
        }));
    }
    assert!(
        bad.is_empty(),
        "conditions on a profile name; make the rule a ProfileConfig field instead:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_scanner_catches_what_it_should() {
    let src = r#"
fn connect_port(&self) {
    let odd = matches!(self.cfg.bind, BindRules::Linux);
    if self.cfg.bind == BindRules::Linux {}
    let e = match self.cfg.bind {
        BindRules::Linux => 1,
        _ => 2,
    };
    if cfg.profile == Profile::Linux {}
    let x = matches!(
        self.cfg.profile,
        Profile::Linux | Profile::FreeBsd
    );
}
fn verdict(&self) {
    let conflict = match self.cfg.bind {
        BindRules::Linux => true, // the bind-conflict rule itself: allowed
        _ => false,
    };
}
#[cfg(test)]
mod tests {
    fn t() { assert!(cfg.profile == Profile::Linux); }
}
"#;
    let bad = violations("table.rs", src);
    let lines: Vec<&str> = bad.iter().map(String::as_str).collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("matches!(self.cfg.bind, BindRules::Linux)")),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("table.rs:4:")),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("table.rs:5:")),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("table.rs:6:")),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("table.rs:9:")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("Profile::Linux | Profile::FreeBsd")),
        "{lines:#?}"
    );
    assert!(!lines.iter().any(|l| l.contains(":17:")), "{lines:#?}");
    assert!(!lines.iter().any(|l| l.contains(":23:")), "{lines:#?}");
    assert!(
        violations(
            "profile.rs",
            "fn is_windows(self) -> bool {\n    matches!(self, BindRules::WindowsClassic | BindRules::Windows2003)\n}\n"
        )
        .is_empty()
    );
}
