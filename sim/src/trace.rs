//! The JSON Lines trace and the pcap capture.
//!
//! Each trace line is `{"t_us":…,"type":…,"host":…,"data":{…}}`, rendered from an
//! [`Event`] (host omitted for run-level
//! records); `docs/trace-format.md` documents every type field by field. The format only
//! grows. Keys inside `data` are sorted, so lines are byte-stable.
//!
//! The pcap has one capture point: the wire at the receiving end, at the virtual time a
//! segment is delivered (dropped segments never appear; the trace has them). LINKTYPE_RAW
//! (101), written through smoltcp's `PcapSink` with little-endian headers on every machine.

use crate::event::Event;
use serde::Serialize;
use smoltcp::phy::{PcapLinkType, PcapSink};
use smoltcp::time::Instant as SInstant;
use twsim_model::Instant;

#[derive(Serialize)]
struct Line<'a> {
    t_us: u64,
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<&'a str>,
    data: &'a serde_json::Value,
}

/// A pcap byte sink with little-endian headers whatever the host byte order, so captures are
/// byte-identical across machines.
#[derive(Default)]
pub struct LePcap(pub Vec<u8>);

impl PcapSink for LePcap {
    fn write(&mut self, data: &[u8]) {
        self.0.extend_from_slice(data);
    }
    fn write_u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn write_u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
}

/// Everything a run records.
pub struct Recorder {
    jsonl: Option<Vec<u8>>,
    pcap: Option<LePcap>,
    /// Human-readable timeline: (time, host, text).
    pub timeline: Vec<(Instant, String, String)>,
    /// Whether to keep the timeline at all.
    pub timeline_on: bool,
}

impl std::fmt::Debug for Recorder {
    /// The sizes of what was recorded, not the bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("jsonl_bytes", &self.jsonl.as_ref().map(Vec::len))
            .field("pcap_bytes", &self.pcap.as_ref().map(|p| p.0.len()))
            .field("timeline_lines", &self.timeline.len())
            .field("timeline_on", &self.timeline_on)
            .finish()
    }
}

impl Recorder {
    /// A recorder keeping a JSON Lines trace and/or a pcap.
    pub fn new(trace: bool, pcap: bool) -> Self {
        let pcap = pcap.then(|| {
            let mut p = LePcap::default();
            p.global_header(PcapLinkType::Ip);
            p
        });
        Recorder {
            jsonl: trace.then(Vec::new),
            pcap,
            timeline: Vec::new(),
            timeline_on: true,
        }
    }

    /// Records an event at `t` on `host` (`None` for run-level records): a trace line if the
    /// trace is kept and the event is a trace record, its timeline lines if the timeline is.
    pub fn emit(&mut self, t: Instant, host: Option<&str>, event: &Event) {
        if let Some(buf) = &mut self.jsonl {
            if let (Some(kind), Some(data)) = (event.kind(), event.data()) {
                let line = Line {
                    t_us: t.micros(),
                    kind,
                    host,
                    data: &data,
                };
                serde_json::to_writer(&mut *buf, &line).expect("serialising to a Vec cannot fail");
                buf.push(b'\n');
            }
        }
        if self.timeline_on {
            for text in event.text() {
                self.timeline
                    .push((t, host.unwrap_or_default().to_string(), text));
            }
        }
    }

    /// Whether anything keeps per-event records (trace or timeline).
    pub fn wants_events(&self) -> bool {
        self.jsonl.is_some() || self.timeline_on
    }

    /// Captures a packet at `t`.
    pub fn capture(&mut self, t: Instant, bytes: &[u8]) {
        if let Some(p) = &mut self.pcap {
            p.packet(SInstant::from_micros(t.micros() as i64), bytes);
        }
    }

    /// The trace bytes, if kept.
    pub fn take_trace(&mut self) -> Option<Vec<u8>> {
        self.jsonl.take()
    }

    /// The pcap bytes, if kept.
    pub fn take_pcap(&mut self) -> Option<Vec<u8>> {
        self.pcap.take().map(|p| p.0)
    }
}
