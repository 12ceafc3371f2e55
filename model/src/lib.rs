//! twsim-model: the sans-IO core of twsim.
//!
//! Address tables with each profile's bind/listen/connect rules, processes and handles,
//! TIME-WAIT records and their segment policies, and virtual time. No I/O, no clock, no
//! randomness: every time-dependent call takes `now`, randomness comes in as `hint`
//! arguments drawn by the caller, results come back as values.
//!
//! Read first: RFC 9293 §3.3.2 (states), §3.6.1 (TIME-WAIT), RFC 1337, and
//! `shared/spec/bind-rules.md` for the per-OS sources.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod addr;
pub mod decision_table;
pub mod errno;
mod fixed_hash;
pub mod id_map;
pub mod isn;
pub mod process;
pub mod profile;
pub mod seq;
pub mod socket;
pub mod state;
pub mod table;
pub mod time;
pub mod time_wait;

pub use addr::{Family, FourTuple};
pub use errno::{Errno, ErrnoStyle};
pub use isn::{IsnGenerator, IsnPolicy};
pub use process::{Pid, Processes};
pub use profile::{BindRules, ListenerChoice, Profile, ProfileConfig, SynFinRule, TimeWaitLen};
pub use seq::{seq_acceptable, SeqNum, TsVal};
pub use socket::{AppSocket, ConnEnd, ConnView, RecvOutcome, DEFAULT_WAIT_TIMEOUT};
pub use state::TcpState;
pub use table::{AddressTable, ListenerVerdict, SockOptions, SocketId, TableState};
pub use time::{Duration, Instant};
pub use time_wait::{EndReason, SegmentInfo, TimeWaitRecord, TwAction, TwDecision};
