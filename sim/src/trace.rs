//! The JSON Lines trace and the pcap capture.
//!
//! Each trace line is `{"t_us":…,"type":…,"host":…,"data":{…}}` (host omitted for run-level
//! records); `docs/trace-format.md` documents every type field by field. The format only
//! grows. Keys inside `data` are sorted, so lines are byte-stable.
//!
//! The pcap has one capture point: the wire at the receiving end, at the virtual time a
//! segment is delivered (dropped segments never appear; the trace has them). LINKTYPE_RAW
//! (101), written through smoltcp's `PcapSink` with little-endian headers on every machine.

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
    /// Whether to keep per-segment lines in the timeline.
    pub segments_in_timeline: bool,
    /// Whether to keep the timeline at all.
    pub timeline_on: bool,
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
            segments_in_timeline: true,
            timeline_on: true,
        }
    }

    /// Appends a trace record.
    pub fn record(&mut self, t: Instant, kind: &str, host: Option<&str>, data: &serde_json::Value) {
        if let Some(buf) = &mut self.jsonl {
            let line = Line {
                t_us: t.micros(),
                kind,
                host,
                data,
            };
            serde_json::to_writer(&mut *buf, &line).expect("serialising to a Vec cannot fail");
            buf.push(b'\n');
        }
    }

    /// Appends a timeline line.
    pub fn say(&mut self, t: Instant, host: &str, text: String) {
        if self.timeline_on {
            self.timeline.push((t, host.to_string(), text));
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
