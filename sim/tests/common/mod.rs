//! Helpers shared by the sim crate's integration tests.

use std::path::Path;
use twsim_sim::scenario::{parse, read_input, Overrides, Resolved};

/// Every example's runs (the base scenario, or each variant), resolved, labelled
/// `"<file> <variant index>"`, in file order.
pub fn example_runs() -> Vec<(String, Resolved)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "examples found: {}", files.len());
    let mut out = Vec::new();
    for f in files {
        let name = f.display().to_string();
        let src = read_input(&f).unwrap();
        let sc = parse(&name, &src).unwrap();
        let variants: Vec<Option<usize>> = if sc.variants.is_empty() {
            vec![None]
        } else {
            (0..sc.variants.len()).map(Some).collect()
        };
        for v in variants {
            let r = sc.resolve(&name, &src, v, &Overrides::default()).unwrap();
            out.push((format!("{name} {v:?}"), r));
        }
    }
    out
}
