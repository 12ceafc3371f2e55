//! The `twsim` package: command-line glue around `twsim-sim` (embedded demos, atomic output
//! files, the benchmark, the packetdrill runner). Reusable logic lives in the library crates.

pub mod bench;
pub mod demos;
pub mod ladder;
pub mod lesson;
pub mod output;
pub mod packetdrill;
pub mod replay_cmd;
pub mod sweep;
pub mod viewer;
