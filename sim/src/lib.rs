//! twsim-sim: the discrete-event network of smoltcp hosts with twsim's host layer.
//!
//! Entry points: [`scenario::parse`] and [`scenario::Scenario::resolve`] load a scenario file,
//! [`scenario::ScenarioBuilder`] builds the same validated [`scenario::Resolved`] value in
//! Rust, [`engine::run`] simulates it into an [`engine::RunReport`], [`report`] renders the
//! result. With the `proptest` feature, `strategies` generates valid scenarios for property
//! tests.
//!
//! ```
//! use twsim_sim::engine::{run, RunOptions};
//! use twsim_sim::scenario::{HostBuilder, ScenarioBuilder, StepBuilder};
//!
//! let sc = ScenarioBuilder::new("bind-twice")
//!     .host(HostBuilder::new("a", "10.0.0.1"))
//!     .step(StepBuilder::socket("a", "s1"))
//!     .step(StepBuilder::bind("a", "s1", "0.0.0.0:80").expect_ok())
//!     .step(StepBuilder::socket("a", "s2"))
//!     .step(StepBuilder::bind("a", "s2", "0.0.0.0:80").expect_err("EADDRINUSE"))
//!     .build()?;
//! let report = run(&sc, RunOptions::default());
//! assert!(report.ok());
//! # Ok::<(), twsim_sim::scenario::ScenarioError>(())
//! ```
//!
//! Determinism: no wall clock and no ambient randomness; every random draw comes from a
//! ChaCha8 sub-stream of the run seed ([`rng`]); only ordered collections are iterated. Safe
//! code only, no system calls, no sleeps: the real-kernel checks (kernel replay, TIME-WAIT
//! probes) live in the `twsim-kernel` crate; [`predict`] is their portable half.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

/// A hash map with a fixed hasher (foldhash, fixed seed): no ambient randomness. Only looked
/// up, or walked into something sorted before use, never iterated for anything whose order
/// shows.
pub(crate) type FixedMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;

pub mod delay;
pub mod engine;
pub mod event;
pub mod host;
pub mod locate;
pub mod net;
pub mod predict;
pub mod replay;
pub mod report;
pub mod rng;
pub mod scenario;
#[cfg(feature = "proptest")]
pub mod strategies;
pub mod trace;
pub mod wire;
