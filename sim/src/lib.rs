//! twsim-sim: the discrete-event network of smoltcp hosts with twsim's host layer.
//!
//! Entry points: [`scenario::parse`] and [`scenario::Scenario::resolve`] load a scenario,
//! [`engine::run`] simulates it, [`report`] renders the result. [`bare`] is the baseline
//! harness the benchmark compares against.
//!
//! Determinism: no wall clock and no ambient randomness; every random draw comes from a
//! ChaCha8 sub-stream of the run seed ([`rng`]); only ordered collections are iterated.
#![warn(missing_docs)]

pub mod bare;
pub mod delay;
pub mod engine;
pub mod event;
pub mod host;
#[cfg(target_os = "linux")]
pub mod kernel;
#[cfg(target_os = "linux")]
pub mod kernel_tw;
pub mod locate;
pub mod net;
pub mod replay;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod trace;
pub mod wire;
