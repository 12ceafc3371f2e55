//! Arbitrary bytes through the whole loading path: `parse`, `resolve` for the base scenario and
//! every variant, and, for small scenarios, a full simulation with trace and pcap. Bad input
//! must come back as a `ScenarioError`, never as a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use twsim_sim::engine::{run, RunOptions};
use twsim_sim::scenario::{parse, Overrides, Resolved, WorkloadEnd};

/// Scenarios larger than this are loaded and validated but not simulated, to keep each
/// execution fast.
const MAX_HOSTS: usize = 4;
const MAX_STEPS: usize = 30;
const MAX_VARIANTS: usize = 4;
/// Workload connections, all workloads together; a workload that ends after a duration
/// rather than a count is not simulated (its connection count is not bounded in advance).
const MAX_CONNECTIONS: u64 = 64;

const FILE: &str = "fuzz.json";

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let sc = match parse(FILE, src) {
        Ok(sc) => sc,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let _ = sc.variant_names();
    let variants = std::iter::once(None).chain((0..sc.variants.len()).map(Some));
    for v in variants.take(1 + MAX_VARIANTS) {
        let resolved = match sc.resolve(FILE, src, v, &Overrides::default()) {
            Ok(r) => r,
            Err(e) => {
                let _ = e.to_string();
                continue;
            }
        };
        if is_small(&resolved) {
            let report = run(
                &resolved,
                RunOptions {
                    trace: true,
                    pcap: true,
                    ..RunOptions::default()
                },
            );
            let _ = report.ok();
        }
    }
});

/// Whether a resolved scenario is small enough to simulate in every execution.
fn is_small(r: &Resolved) -> bool {
    let connections = r.workloads.iter().try_fold(0u64, |n, w| match w.end {
        WorkloadEnd::Count(c) => Some(n.saturating_add(c)),
        WorkloadEnd::Duration(_) => None,
    });
    r.hosts.len() <= MAX_HOSTS
        && r.steps.len() <= MAX_STEPS
        && connections.is_some_and(|n| n <= MAX_CONNECTIONS)
}
