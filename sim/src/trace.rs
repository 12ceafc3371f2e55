//! The JSON Lines trace and the pcap capture.
//!
//! Each trace line is `{"t_us":…,"type":…,"host":…,"data":{…}}`, rendered from an
//! [`Event`] (host omitted for run-level
//! records); `docs/trace-format.md` documents every type field by field. The format only
//! grows. Keys inside `data` are sorted, so lines are byte-stable.
//!
//! The classic pcap has one capture point: the wire at the receiving end, at the virtual time
//! a segment is delivered (dropped segments never appear; the trace has them). LINKTYPE_RAW
//! (101), written through smoltcp's `PcapSink` with little-endian headers on every machine.
//!
//! The pcapng ([`Recorder::take_pcapng`], through the `pcap-file` crate, little-endian) has two
//! capture points as two interfaces, both LINKTYPE_RAW, timestamps (virtual time) in nanosecond
//! units: interface 0 `send` sees every segment as it leaves its sender (direction outbound),
//! dropped ones and network copies included; interface 1 `receive` sees it as it reaches its
//! receiver (inbound). Every packet carries a comment naming its segment id (`#4`, as in the
//! timeline and trace), and what the network did to it: `dropped by fault #0: …`,
//! `copy of #4 via slow (fault #1), arrives t=45.030s`, `old duplicate of incarnation 1, sent
//! 45.000s ago`.

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

/// A packet of the pcapng capture: when (virtual time), at which capture point, its bytes
/// and its comment.
struct NgPacket {
    t: Instant,
    point: CapturePoint,
    bytes: Vec<u8>,
    comment: String,
}

/// Where a pcapng packet was seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapturePoint {
    /// As it leaves its sender (interface 0).
    Send,
    /// As it reaches its receiver (interface 1).
    Receive,
}

/// Everything a run records.
pub struct Recorder {
    jsonl: Option<Vec<u8>>,
    pcap: Option<LePcap>,
    ng: Option<Vec<NgPacket>>,
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
            ng: pcap.is_some().then(Vec::new),
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

    /// Whether captures are kept (callers skip building comments otherwise).
    pub fn wants_capture(&self) -> bool {
        self.ng.is_some()
    }

    /// Records a packet for the pcapng capture at `t`, seen at `point`, with `comment`.
    pub fn capture_at(&mut self, t: Instant, point: CapturePoint, bytes: &[u8], comment: String) {
        if let Some(ng) = &mut self.ng {
            ng.push(NgPacket {
                t,
                point,
                bytes: bytes.to_vec(),
                comment,
            });
        }
    }

    /// The pcapng bytes, if captures were kept: a section header, the two interfaces (`send`,
    /// `receive`), and every packet in the order recorded (virtual time order), with its
    /// direction flag and comment.
    pub fn take_pcapng(&mut self) -> Option<Vec<u8>> {
        use pcap_file::pcapng::blocks::enhanced_packet::{
            EnhancedPacketBlock, EnhancedPacketOption,
        };
        use pcap_file::pcapng::blocks::interface_description::{
            InterfaceDescriptionBlock, InterfaceDescriptionOption,
        };
        use pcap_file::pcapng::PcapNgWriter;
        use pcap_file::{DataLink, Endianness};
        use std::borrow::Cow;
        let packets = self.ng.take()?;
        let mut w = PcapNgWriter::with_endianness(Vec::new(), Endianness::Little)
            .expect("writing to a Vec cannot fail");
        for (name, what) in [
            (
                "send",
                "each segment as it leaves its sender, dropped ones and copies included",
            ),
            ("receive", "each segment as it reaches its receiver"),
        ] {
            let idb = InterfaceDescriptionBlock {
                linktype: DataLink::RAW,
                snaplen: 0,
                options: vec![
                    InterfaceDescriptionOption::IfName(Cow::Borrowed(name)),
                    InterfaceDescriptionOption::IfDescription(Cow::Borrowed(what)),
                    // pcap-file writes timestamps in nanoseconds (10^-9).
                    InterfaceDescriptionOption::IfTsResol(9),
                ],
            };
            w.write_pcapng_block(idb)
                .expect("writing to a Vec cannot fail");
        }
        for p in &packets {
            let (iface, direction) = match p.point {
                CapturePoint::Send => (0, 0b10),
                CapturePoint::Receive => (1, 0b01),
            };
            let epb = EnhancedPacketBlock {
                interface_id: iface,
                timestamp: std::time::Duration::from_micros(p.t.micros()),
                original_len: u32::try_from(p.bytes.len()).expect("a segment fits in u32"),
                data: Cow::Borrowed(&p.bytes),
                options: vec![
                    EnhancedPacketOption::Flags(direction),
                    EnhancedPacketOption::Comment(Cow::Borrowed(&p.comment)),
                ],
            };
            w.write_pcapng_block(epb)
                .expect("writing to a Vec cannot fail");
        }
        Some(w.into_inner())
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
