//! The `twsim` package: command-line glue around `twsim-sim` (embedded demos, atomic output
//! files, the benchmark). Reusable logic lives in the library crates.

pub mod bench;
pub mod demos;
pub mod output;
pub mod replay_cmd;
pub mod sweep;
