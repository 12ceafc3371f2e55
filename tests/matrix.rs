//! The address-table matrix (tests/matrix/*.json): scripted cases from bind-rules.md, each
//! with the results observed on a real Linux kernel as its `expect`s.
//!
//! - Model mode (always): the `linux` profile, with one address table for every host as one
//!   kernel plays them all, meets every expectation.
//! - Kernel mode: the same scripts on this machine's sockets, in a private network namespace;
//!   every call must agree with the model. It needs CAP_SYS_ADMIN (root); under CI (`CI` set)
//!   it is required, elsewhere it is skipped with a note when namespaces are unavailable.

use std::path::{Path, PathBuf};
use twsim_sim::replay::replay_model_with;
use twsim_sim::scenario::{parse, Overrides, Resolved};

fn cases() -> Vec<(PathBuf, Resolved)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/matrix");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/matrix exists")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.display().to_string();
            let src = std::fs::read_to_string(&p).expect("readable case");
            let sc = parse(&name, &src).unwrap_or_else(|e| panic!("{e}"));
            let r = sc
                .resolve(&name, &src, None, &Overrides::default())
                .unwrap_or_else(|e| panic!("{e}"));
            (p, r)
        })
        .collect()
}

fn describe(r: &Resolved, i: usize) -> String {
    twsim_sim::engine::describe(&r.steps[i].call)
}

#[test]
fn the_matrix_has_at_least_150_cases_with_expectations() {
    let cases = cases();
    assert!(cases.len() >= 150, "{} cases", cases.len());
    for (p, r) in &cases {
        assert!(
            r.steps.iter().any(|s| s.expect.is_some()),
            "{}: no expectation",
            p.display()
        );
        assert!(
            r.hosts.iter().all(|h| h.addr.is_loopback()),
            "{}: kernel cases use loopback hosts",
            p.display()
        );
    }
}

/// bind-rules.md "IPv6": dual-stack and IPV6_V6ONLY cases, each naming its source.
#[test]
fn the_matrix_covers_ipv6() {
    let ipv6: Vec<(PathBuf, Resolved)> = cases()
        .into_iter()
        .filter(|(p, _)| p.to_string_lossy().contains("-ipv6-"))
        .collect();
    assert!(ipv6.len() >= 14, "{} IPv6 cases", ipv6.len());
    for (p, r) in &ipv6 {
        assert!(r.uses_ipv6().is_some(), "{}: no IPv6 step", p.display());
        let source = r.source.as_deref().unwrap_or_default();
        assert!(
            source.contains("IPv6") || source.contains("rcv_saddr_equal"),
            "{}: the source should cite bind-rules.md \"IPv6\" or the kernel function",
            p.display()
        );
    }
}

#[test]
fn model_meets_every_expectation_of_the_matrix() {
    let mut failures = Vec::new();
    for (p, r) in cases() {
        for s in replay_model_with(&r, true) {
            if let Some(want) = r.steps[s.index].expect {
                if want != s.result.err() {
                    failures.push(format!(
                        "{} step {} {}: model {:?}, expected {:?}",
                        p.display(),
                        s.index,
                        describe(&r, s.index),
                        s.result,
                        want
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[cfg(target_os = "linux")]
#[test]
fn kernel_agrees_with_the_model_on_every_call() {
    use twsim_kernel::replay::{replay, KernelError};
    let cases = cases();
    let mut failures = Vec::new();
    let mut ran = 0;
    for (p, r) in &cases {
        let (kernel, in_ns) = match replay(r, std::env::var_os("CI").is_some()) {
            Ok(x) => x,
            Err(KernelError::Namespace(why)) if std::env::var_os("CI").is_none() => {
                eprintln!("kernel matrix skipped: no private network namespace here ({why})");
                return;
            }
            Err(e) => panic!("{}: {e}", p.display()),
        };
        assert!(in_ns || std::env::var_os("CI").is_none());
        ran += 1;
        let model = replay_model_with(r, true);
        for (k, m) in kernel.iter().zip(&model) {
            if k.result != m.result {
                failures.push(format!(
                    "{} step {} {}: kernel {:?}, model {:?}",
                    p.display(),
                    k.index,
                    describe(r, k.index),
                    k.result,
                    m.result
                ));
            }
            if let Some(want) = r.steps[k.index].expect {
                if want != k.result.err() {
                    failures.push(format!(
                        "{} step {} {}: kernel {:?}, expected {:?}",
                        p.display(),
                        k.index,
                        describe(r, k.index),
                        k.result,
                        want
                    ));
                }
            }
        }
    }
    assert_eq!(ran, cases.len());
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// `replay --kernel --map-loopback`: examples written for 10.0.0.0/8 hosts, moved onto
/// 127.0.0.0/8 (`Resolved::map_loopback`), give the kernel's results for every call the linux
/// model gives.
#[cfg(target_os = "linux")]
#[test]
fn examples_moved_onto_loopback_agree_with_the_kernel() {
    use twsim_kernel::replay::{replay, KernelError};
    let ci = std::env::var_os("CI").is_some();
    let mut failures = Vec::new();
    for ex in [
        "restart-time-wait-reuseaddr",
        "fork-server-restart",
        "lost-final-ack",
        "old-syn-returns-to-time-wait",
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("examples/{ex}.json"));
        let src = std::fs::read_to_string(&path).expect("example");
        let file = path.display().to_string();
        let sc = parse(&file, &src).unwrap_or_else(|e| panic!("{e}"));
        let ov = Overrides {
            os: Some(twsim_model::Profile::Linux),
            ..Overrides::default()
        };
        let mut r = sc
            .resolve(&file, &src, None, &ov)
            .unwrap_or_else(|e| panic!("{e}"));
        let moves = r.map_loopback();
        assert!(!moves.is_empty(), "{ex}: its hosts were not on loopback");
        assert!(r.hosts.iter().all(|h| h.addr.is_loopback()));
        let (kernel, _) = match replay(&r, ci) {
            Ok(x) => x,
            Err(KernelError::Namespace(why)) if !ci => {
                eprintln!("skipped: no private network namespace here ({why})");
                return;
            }
            Err(e) => panic!("{ex}: {e}"),
        };
        let model = replay_model_with(&r, true);
        assert_eq!(kernel.len(), model.len());
        for (k, m) in kernel.iter().zip(&model) {
            if k.result != m.result {
                failures.push(format!(
                    "{ex} step {} {}: kernel {:?}, model {:?}",
                    k.index,
                    describe(&r, k.index),
                    k.result,
                    m.result
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
