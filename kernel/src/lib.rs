//! twsim-kernel: holds the model against the real kernel.
//!
//! Everything here runs on this machine's Linux kernel: [`replay`] plays a scenario's socket
//! calls on real sockets (`twsim replay --kernel`, the kernel matrix in `tests/matrix.rs`), and
//! [`time_wait`] builds real TIME-WAITs and probes them with SYNs and raw RSTs, next to the
//! `linux` profile's prediction (`twsim_sim::predict`). Both run on a thread of their own in a
//! private network namespace (`unshare(CLONE_NEWNET)`), on loopback addresses only.
//!
//! **Crate invariant:** this is the one crate of the workspace that may touch the real world:
//! `unsafe` calls into `libc`, network namespaces, `/proc` and per-namespace sysctls, real
//! sleeps and polls with timeouts. It exists only to check `twsim-model` (through
//! `twsim-sim`'s scenario format and model replay) against the kernel it describes, so it
//! depends on them and nothing depends on it except the CLI and the tests; `twsim-sim` and
//! `twsim-model` stay pure (`#![forbid(unsafe_code)]`, no clock, no sleeps). Even here no
//! clock is read (deadlines are counted in the poll and sleep slices asked for), except by
//! [`tun`], the real host of `twsim packetdrill --kernel`, whose scripts check when segments
//! leave. Every `unsafe`
//! block is a single system call with its `SAFETY` argument.
//!
//! On other operating systems the crate is empty: the Linux code is behind
//! `#[cfg(target_os = "linux")]`, so the workspace builds everywhere.
#![warn(missing_docs)]

#[cfg(target_os = "linux")]
mod netns;
#[cfg(target_os = "linux")]
mod proc_net;
#[cfg(target_os = "linux")]
pub use proc_net::time_wait_sockets;
#[cfg(target_os = "linux")]
pub mod replay;
#[cfg(target_os = "linux")]
mod sys;
#[cfg(target_os = "linux")]
pub mod time_wait;
#[cfg(target_os = "linux")]
pub mod tun;
