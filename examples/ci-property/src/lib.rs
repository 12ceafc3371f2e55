//! A user's helpers for stating properties over twsim scenarios: everything here is twsim's
//! public API (`twsim_sim::scenario` builders, `twsim_sim::engine::run`) and the strategies
//! of its `proptest` feature (`twsim_sim::strategies`). The properties are in `tests/`.

use twsim_model::Duration;
use twsim_sim::engine::{run, RunOptions, RunReport};
use twsim_sim::scenario::{ScenarioBuilder, TimeWaitBuilder};

/// TIME-WAIT length the properties give every host (µs): 4 s.
pub const TIME_WAIT: Duration = Duration::from_secs(4);

/// `b` under RFC 1337's fix ("TW1": RSTs never end TIME-WAIT) with a fixed TIME-WAIT length,
/// replacing whatever TIME-WAIT overrides the generator chose.
pub fn rfc1337(b: ScenarioBuilder, length: Duration) -> ScenarioBuilder {
    b.time_wait(TimeWaitBuilder::new().rst("ignore").length(length))
}

/// `b` with an honest MSL: no segment outlives TIME-WAIT (the network's maximum segment
/// lifetime is `time_wait`).
pub fn honest_msl(b: ScenarioBuilder, time_wait: Duration) -> ScenarioBuilder {
    b.max_lifetime(time_wait)
}

/// Builds and runs `b` without trace, capture or timeline.
///
/// # Panics
///
/// If `b` does not build: the strategies only generate valid scenarios, so that is a bug
/// in them (the message holds the scenario's JSON).
pub fn run_quiet(b: &ScenarioBuilder) -> RunReport {
    let sc = b.build().unwrap_or_else(|e| panic!("{e}\n{}", b.to_json()));
    run(
        &sc,
        RunOptions {
            quiet: true,
            ..RunOptions::default()
        },
    )
}
