//! Everything a run can report, as one typed enum.
//!
//! The JSON Lines trace (`docs/trace-format.md`) and the text timeline are two renderings of
//! the same [`Event`] values: [`Event::kind`] and [`Event::data`] give a trace record's `type`
//! and `data`, [`Event::text`] the timeline lines. Hosts and the engine build events only when
//! a run keeps them (`RunOptions::quiet` builds none).
//!
//! Compatibility rule of the trace: fields only grow. A field that does not apply is `null`,
//! except in `close` and `drop` records, which omit it (as they always have).

mod records;

pub use records::*;

/// One record of a run: a trace line (`type` + `data`) and its timeline lines.
#[derive(Debug, Clone)]
pub enum Event {
    /// `run`: the first trace line.
    Run(RunStart),
    /// `segment`: sent, dropped or delivered.
    Segment(SegmentEvent),
    /// `state`: a connection changed state.
    State(StateChange),
    /// `time_wait`: a TIME-WAIT record was created, met a segment, or ended.
    TimeWait(TimeWaitEvent),
    /// `no_socket`: a segment matched nothing.
    NoSocket(NoSocket),
    /// `close`: a socket's last handle closed.
    Close(Close),
    /// `drop`: the host layer discarded a segment.
    Drop(HostDrop),
    /// `call`: a step completed.
    Call(CallDone),
    /// `end`: the last trace line.
    End(RunEnd),
    /// `error`: an internal inconsistency the run survived.
    Error(Internal),
    /// `hazard`: a stale-segment hazard happened (ground truth, not a guess).
    Hazard(Hazard),
    /// Timeline only: the run stopped while a call was blocked.
    Stopped {
        /// The blocked call as text.
        call: String,
    },
}

/// Every trace record type, in the order `docs/trace-format.md` documents them.
pub const TRACE_TYPES: [&str; 11] = [
    "run",
    "segment",
    "state",
    "time_wait",
    "no_socket",
    "close",
    "drop",
    "call",
    "end",
    "error",
    "hazard",
];

impl Event {
    /// The trace record type, or `None` for a timeline-only event.
    pub fn kind(&self) -> Option<&'static str> {
        Some(match self {
            Event::Run(_) => "run",
            Event::Segment(_) => "segment",
            Event::State(_) => "state",
            Event::TimeWait(_) => "time_wait",
            Event::NoSocket(_) => "no_socket",
            Event::Close(_) => "close",
            Event::Drop(_) => "drop",
            Event::Call(_) => "call",
            Event::End(_) => "end",
            Event::Error(_) => "error",
            Event::Hazard(_) => "hazard",
            Event::Stopped { .. } => return None,
        })
    }

    /// The trace record's `data` object (keys sorted), or `None` for a timeline-only event.
    pub fn data(&self) -> Option<serde_json::Value> {
        let v = match self {
            Event::Run(e) => serde_json::to_value(e),
            Event::Segment(e) => serde_json::to_value(e),
            Event::State(e) => serde_json::to_value(e),
            Event::TimeWait(e) => serde_json::to_value(e),
            Event::NoSocket(e) => serde_json::to_value(e),
            Event::Close(e) => serde_json::to_value(e),
            Event::Drop(e) => serde_json::to_value(e),
            Event::Call(e) => serde_json::to_value(e),
            Event::End(e) => serde_json::to_value(e),
            Event::Error(e) => serde_json::to_value(e),
            Event::Hazard(e) => serde_json::to_value(e),
            Event::Stopped { .. } => return None,
        };
        Some(v.expect("events serialise to JSON"))
    }

    /// The timeline lines of this event (often one, none for records the timeline skips).
    pub fn text(&self) -> Vec<String> {
        match self {
            Event::Run(_) | Event::End(_) => vec![],
            Event::Segment(e) => e.text().into_iter().collect(),
            Event::State(e) => vec![e.text()],
            Event::TimeWait(e) => vec![e.text()],
            Event::NoSocket(e) => vec![format!(
                "{}:{} <- [{}] matches nothing: {}",
                e.local.ip(),
                e.local.port(),
                e.flags,
                e.rule
            )],
            Event::Close(e) => vec![e.text()],
            Event::Drop(e) => vec![match &e.tuple {
                Some(t) => format!("SYN for {t} dropped: {}", e.reason),
                None => "dropped a non-TCP packet".into(),
            }],
            Event::Call(e) => e.text(),
            Event::Error(e) => vec![format!("internal: no table entry for {}", e.tuple)],
            Event::Hazard(h) => vec![match &h.what {
                HazardKind::OldDuplicateDelivered {
                    from_incarnation,
                    bytes,
                    offset,
                } => format!(
                    "HAZARD H1 {}: {bytes} byte(s) of incarnation {from_incarnation} read as incarnation {}'s, from stream offset {offset} (old duplicate delivered)",
                    h.tuple, h.incarnation
                ),
                HazardKind::AckWar { acks, since } => format!(
                    "HAZARD H2 {} (incarnation {}): {acks} ACKs of data never sent since {since}, each answered: an ACK war",
                    h.tuple, h.incarnation
                ),
                HazardKind::AckWarEnd { acks, duration } => format!(
                    "ACK war on {} (incarnation {}) over: {acks} ACKs of unsent data in {duration}",
                    h.tuple, h.incarnation
                ),
                HazardKind::H3Reset => format!(
                    "HAZARD H3 {} (incarnation {}): reset after connect() succeeded, before any byte arrived, by a peer with no connection",
                    h.tuple, h.incarnation
                ),
            }],
            Event::Stopped { call } => vec![format!("run stopped while {call} was blocked")],
        }
    }
}

#[cfg(test)]
mod tests;
