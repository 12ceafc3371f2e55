//! The TCP connection states of RFC 9293 §3.3.2, with the one spelling the traces, the
//! timelines and the scenario format use.

use std::fmt;
use std::str::FromStr;

/// A TCP connection state (RFC 9293 §3.3.2, Figure 5). [`TcpState::name`] is the RFC's
/// spelling (`SYN-SENT`, `TIME-WAIT` …), which traces, timelines and `wait until state`
/// use; [`FromStr`] accepts exactly those names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TcpState {
    /// No connection (a fictional state: no TCB).
    Closed,
    /// Waiting for a connection request.
    Listen,
    /// SYN sent, waiting for a matching connection request.
    SynSent,
    /// SYN received and sent, waiting for the acknowledgement of our SYN.
    SynReceived,
    /// Open: data flows both ways.
    Established,
    /// We closed; waiting for the peer's FIN or the ACK of ours.
    FinWait1,
    /// Our FIN was acknowledged; waiting for the peer's FIN.
    FinWait2,
    /// The peer closed; waiting for the local close.
    CloseWait,
    /// Both closed at once; waiting for the ACK of our FIN.
    Closing,
    /// The peer closed first, then we did; waiting for the ACK of our FIN.
    LastAck,
    /// Waiting 2·MSL (or the profile's length) after the active close so that the peer got
    /// our final ACK and old duplicates die out (RFC 9293 §3.6.1).
    TimeWait,
}

impl TcpState {
    /// Every state, in RFC 9293 §3.3.2 order.
    pub const ALL: [TcpState; 11] = [
        TcpState::Closed,
        TcpState::Listen,
        TcpState::SynSent,
        TcpState::SynReceived,
        TcpState::Established,
        TcpState::FinWait1,
        TcpState::FinWait2,
        TcpState::CloseWait,
        TcpState::Closing,
        TcpState::LastAck,
        TcpState::TimeWait,
    ];

    /// The RFC 9293 §3.3.2 name: `CLOSED`, `LISTEN`, `SYN-SENT`, `SYN-RECEIVED`,
    /// `ESTABLISHED`, `FIN-WAIT-1`, `FIN-WAIT-2`, `CLOSE-WAIT`, `CLOSING`, `LAST-ACK`,
    /// `TIME-WAIT`.
    pub fn name(self) -> &'static str {
        match self {
            TcpState::Closed => "CLOSED",
            TcpState::Listen => "LISTEN",
            TcpState::SynSent => "SYN-SENT",
            TcpState::SynReceived => "SYN-RECEIVED",
            TcpState::Established => "ESTABLISHED",
            TcpState::FinWait1 => "FIN-WAIT-1",
            TcpState::FinWait2 => "FIN-WAIT-2",
            TcpState::CloseWait => "CLOSE-WAIT",
            TcpState::Closing => "CLOSING",
            TcpState::LastAck => "LAST-ACK",
            TcpState::TimeWait => "TIME-WAIT",
        }
    }

    /// Every name, comma-separated (for error messages).
    pub fn known_names() -> String {
        TcpState::ALL.map(TcpState::name).join(", ")
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A string that is not one of the RFC 9293 state names ([`TcpState::name`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown TCP state {0:?} (RFC 9293 names: {names})", names = TcpState::known_names())]
pub struct UnknownState(pub String);

impl FromStr for TcpState {
    type Err = UnknownState;

    /// Parses exactly a name [`TcpState::name`] gives (upper case, hyphens).
    fn from_str(s: &str) -> Result<TcpState, UnknownState> {
        TcpState::ALL
            .into_iter()
            .find(|st| st.name() == s)
            .ok_or_else(|| UnknownState(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in TcpState::ALL {
            assert_eq!(s.name().parse::<TcpState>(), Ok(s));
            assert_eq!(s.to_string(), s.name());
        }
        assert_eq!(
            "time_wait".parse::<TcpState>(),
            Err(UnknownState("time_wait".into()))
        );
        assert!(TcpState::known_names().starts_with("CLOSED, LISTEN, SYN-SENT"));
    }
}
