//! twsim-sim: the discrete-event network of smoltcp hosts with twsim's host layer.
//!
//! Entry points: [`scenario::parse`] and [`scenario::Scenario::resolve`] load a scenario,
//! [`engine::run`] simulates it, [`report`] renders the result.
//!
//! Determinism: no wall clock and no ambient randomness; every random draw comes from a
//! ChaCha8 sub-stream of the run seed ([`rng`]); only ordered collections are iterated. Safe
//! code only, no system calls, no sleeps: the real-kernel checks (kernel replay, TIME-WAIT
//! probes) live in the `twsim-kernel` crate; [`predict`] is their portable half.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

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
pub mod trace;
pub mod wire;
