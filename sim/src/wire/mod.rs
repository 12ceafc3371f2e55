//! The wire layer, below everything else in the simulator: TCP flags, the parsed view of a
//! segment, and segments the host layer crafts itself. Everything here is built on
//! `smoltcp::wire`; nothing here knows the scenario format.

mod flags;
mod segment;

pub use flags::TcpFlags;
pub use segment::{craft, emit, reset_for, ConnUid, Ctl, Packet, Provenance, SegMeta, TcpOptions};
