//! The JSON Lines trace, the pcap and pcapng captures and the human timeline.
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
//! The pcapng (through the `pcap-file` crate, little-endian) has two
//! capture points as two interfaces, both LINKTYPE_RAW, timestamps (virtual time) in nanosecond
//! units: interface 0 `send` sees every segment as it leaves its sender (direction outbound),
//! dropped ones and network copies included; interface 1 `receive` sees it as it reaches its
//! receiver (inbound). Every packet carries a comment naming its segment id (`#4`, as in the
//! timeline and trace), and what the network did to it: `dropped by fault #0: …`,
//! `copy of #4 via slow (fault #1), arrives t=45.030s`, `old duplicate of incarnation 1, sent
//! 45.000s ago`.
//!
//! Every output goes to a [`Sink`] as the run produces it: kept in memory ([`Recorder::new`],
//! read back with the `take_*` methods), or streamed through a buffer to a writer the caller
//! opened ([`Recorder::with_sinks`]; the CLI passes temporary files beside its targets), so a
//! run's memory does not grow with what it records. The bytes are the same either way. This
//! module never opens a file itself.

use crate::event::Event;
use serde::Serialize;
use smoltcp::phy::{PcapLinkType, PcapSink};
use smoltcp::time::Instant as SInstant;
use std::io::{self, BufWriter, Write};
use twsim_model::{Duration, Instant};

#[derive(Serialize)]
struct Line<'a> {
    t_us: u64,
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<&'a str>,
    data: &'a serde_json::Value,
}

/// Buffer size of a streamed sink, bytes.
const STREAM_BUFFER: usize = 64 * 1024;

/// Where one recorded output goes.
pub enum Sink {
    /// Kept in memory until the run ends (tests; the ladder diagram without a trace file).
    Memory(Vec<u8>),
    /// Written as the run goes, through a buffer of 64 KiB.
    Stream(BufWriter<Box<dyn Write + Send>>),
}

impl Sink {
    /// An empty in-memory sink.
    pub fn memory() -> Sink {
        Sink::Memory(Vec::new())
    }

    /// A sink streaming to `w` (buffered here; `w` need not be).
    pub fn stream(w: Box<dyn Write + Send>) -> Sink {
        Sink::Stream(BufWriter::with_capacity(STREAM_BUFFER, w))
    }
}

/// A sink, the bytes written to it and the first error writing them. Writes after an error
/// are dropped, so recording never fails in the middle of a run; [`Out::finish`] reports it.
struct Out {
    sink: Sink,
    written: u64,
    error: Option<io::Error>,
}

impl Out {
    fn new(sink: Sink) -> Out {
        Out {
            sink,
            written: 0,
            error: None,
        }
    }

    /// Flushes a streamed sink; the first error of the run, if any.
    fn finish(&mut self) -> io::Result<()> {
        if let (Sink::Stream(w), None) = (&mut self.sink, &self.error) {
            if let Err(e) = Write::flush(w) {
                self.error = Some(e);
            }
        }
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The bytes of an in-memory sink.
    fn into_memory(self) -> Option<Vec<u8>> {
        match self.sink {
            Sink::Memory(v) => Some(v),
            Sink::Stream(_) => None,
        }
    }
}

impl Write for Out {
    /// Never fails: an error is kept for [`Out::finish`] and later bytes are dropped.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.error.is_none() {
            match &mut self.sink {
                Sink::Memory(v) => v.extend_from_slice(buf),
                Sink::Stream(w) => {
                    if let Err(e) = w.write_all(buf) {
                        self.error = Some(e);
                    }
                }
            }
            self.written += buf.len() as u64;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A pcap byte sink with little-endian headers whatever the host byte order, so captures are
/// byte-identical across machines. (Not a `Write`: smoltcp's `PcapSink` for writers is
/// native-endian.)
struct LePcap(Out);

impl PcapSink for LePcap {
    fn write(&mut self, data: &[u8]) {
        self.0.write_all(data).expect("an Out never fails");
    }
    fn write_u16(&mut self, v: u16) {
        self.write(&v.to_le_bytes());
    }
    fn write_u32(&mut self, v: u32) {
        self.write(&v.to_le_bytes());
    }
}

type NgWriter = pcap_file::pcapng::PcapNgWriter<Out>;

/// Where a pcapng packet was seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapturePoint {
    /// As it leaves its sender (interface 0).
    Send,
    /// As it reaches its receiver (interface 1).
    Receive,
}

/// The sinks of a run's outputs; `None` records nothing of that output.
#[derive(Default)]
pub struct Sinks {
    /// The JSON Lines trace.
    pub trace: Option<Sink>,
    /// The classic pcap (each segment at delivery).
    pub pcap: Option<Sink>,
    /// The pcapng (send and receive capture points, comments).
    pub pcapng: Option<Sink>,
    /// The human timeline, streamed as text: the run's heading ([`heading`]) first, then one
    /// [`timeline_line`] per line. `None` keeps the timeline in [`Recorder::timeline`].
    pub timeline: Option<Sink>,
}

/// Which output failed, in a [`RecordError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// The JSON Lines trace.
    Trace,
    /// The classic pcap.
    Pcap,
    /// The pcapng.
    PcapNg,
    /// The streamed timeline.
    Timeline,
}

/// The first error writing one of a run's streamed outputs.
#[derive(Debug)]
pub struct RecordError {
    /// Which output.
    pub output: Output,
    /// The I/O error.
    pub error: io::Error,
}

/// Everything a run records.
pub struct Recorder {
    jsonl: Option<Out>,
    pcap: Option<LePcap>,
    ng: Option<NgWriter>,
    /// Human-readable timeline: (time, host, text); empty when the timeline is streamed.
    pub timeline: Vec<(Instant, String, String)>,
    /// Whether to keep the timeline at all.
    pub timeline_on: bool,
    timeline_out: Option<Out>,
    /// The streamed timeline's line being written, kept between lines.
    line: String,
}

impl std::fmt::Debug for Recorder {
    /// The sizes of what was recorded, not the bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("jsonl_bytes", &self.jsonl.as_ref().map(|o| o.written))
            .field("pcap_bytes", &self.pcap.as_ref().map(|p| p.0.written))
            .field("timeline_lines", &self.timeline.len())
            .field("timeline_on", &self.timeline_on)
            .finish()
    }
}

/// The run's heading as the timeline shows it: `== NAME [VARIANT] (seed N)`, then one line
/// per host (`hosts`: name, address, profile name, TIME-WAIT length in µs after a plain
/// close), each line ending in a newline.
pub fn heading(
    name: &str,
    variant: Option<&str>,
    seed: u64,
    hosts: &[(String, String, &'static str, Duration)],
) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = match variant {
        Some(v) => writeln!(s, "== {name} [{v}] (seed {seed})"),
        None => writeln!(s, "== {name} (seed {seed})"),
    };
    for (name, addr, os, tw) in hosts {
        let _ = writeln!(s, "   host {name} {addr} os={os} TIME-WAIT={tw}");
    }
    s
}

/// One timeline line without its newline: virtual time right-aligned in 12 columns, the host
/// name in 8, the text.
pub fn timeline_line(t: Instant, host: &str, text: &str) -> String {
    let mut line = String::new();
    push_timeline_line(&mut line, t, host, text);
    line
}

/// Appends [`timeline_line`]'s text to `line`: the time right-aligned in 12 characters, the
/// host left-aligned in 8, as `format!("{:>12}  {host:<8} {text}", t.to_string())` would,
/// without a string per field.
fn push_timeline_line(line: &mut String, t: Instant, host: &str, text: &str) {
    use std::fmt::Write as _;
    const SPACES: &str = "            ";
    let start = line.len();
    write!(line, "{t}").expect("a String takes any text");
    let width = line.len() - start; // ASCII: digits, a point and `s`
    if width < 12 {
        line.insert_str(start, &SPACES[..12 - width]);
    }
    line.push_str("  ");
    line.push_str(host);
    let width = host.chars().count();
    if width < 8 {
        line.push_str(&SPACES[..8 - width]);
    }
    line.push(' ');
    line.push_str(text);
}

impl Recorder {
    /// A recorder keeping a JSON Lines trace and/or both captures (pcap and pcapng) in memory,
    /// and the timeline in [`Recorder::timeline`].
    pub fn new(trace: bool, pcap: bool) -> Self {
        Recorder::with_sinks(Sinks {
            trace: trace.then(Sink::memory),
            pcap: pcap.then(Sink::memory),
            pcapng: pcap.then(Sink::memory),
            timeline: None,
        })
    }

    /// A recorder writing each output to its sink as the run goes. The pcap's global header
    /// and the pcapng's section header and two interface descriptions are written at once.
    pub fn with_sinks(sinks: Sinks) -> Self {
        let pcap = sinks.pcap.map(|s| {
            let mut p = LePcap(Out::new(s));
            p.global_header(PcapLinkType::Ip);
            p
        });
        Recorder {
            jsonl: sinks.trace.map(Out::new),
            ng: sinks.pcapng.map(|s| pcapng_writer(Out::new(s))),
            pcap,
            timeline: Vec::new(),
            timeline_on: true,
            timeline_out: sinks.timeline.map(Out::new),
            line: String::new(),
        }
    }

    /// Whether the timeline is streamed (the caller then writes the [`heading`] through
    /// [`Recorder::timeline_heading`] before the first event).
    pub fn streams_timeline(&self) -> bool {
        self.timeline_on && self.timeline_out.is_some()
    }

    /// Writes the run's heading to a streamed timeline (nothing otherwise).
    pub fn timeline_heading(&mut self, text: &str) {
        if let (true, Some(out)) = (self.timeline_on, &mut self.timeline_out) {
            out.write_all(text.as_bytes()).expect("an Out never fails");
        }
    }

    /// Records an event at `t` on `host` (`None` for run-level records): a trace line if the
    /// trace is kept and the event is a trace record, its timeline lines if the timeline is.
    pub fn emit(&mut self, t: Instant, host: Option<&str>, event: &Event) {
        if let Some(out) = &mut self.jsonl {
            if let (Some(kind), Some(data)) = (event.kind(), event.data()) {
                let line = Line {
                    t_us: t.micros(),
                    kind,
                    host,
                    data: &data,
                };
                serde_json::to_writer(&mut *out, &line).expect("an Out never fails");
                out.write_all(b"\n").expect("an Out never fails");
            }
        }
        if self.timeline_on {
            let host = host.unwrap_or_default();
            for text in event.text() {
                match &mut self.timeline_out {
                    Some(out) => {
                        let line = &mut self.line;
                        line.clear();
                        push_timeline_line(line, t, host, &text);
                        line.push('\n');
                        out.write_all(line.as_bytes()).expect("an Out never fails");
                    }
                    None => self.timeline.push((t, host.to_string(), text)),
                }
            }
        }
    }

    /// Whether anything keeps per-event records (trace or timeline).
    pub fn wants_events(&self) -> bool {
        self.jsonl.is_some() || self.timeline_on
    }

    /// Captures a packet at `t` (the classic pcap).
    #[inline]
    pub fn capture(&mut self, t: Instant, bytes: &[u8]) {
        if let Some(p) = &mut self.pcap {
            p.packet(SInstant::from_micros(t.micros() as i64), bytes);
        }
    }

    /// Whether the pcapng is kept (callers skip building comments otherwise).
    pub fn wants_capture(&self) -> bool {
        self.ng.is_some()
    }

    /// Records a packet for the pcapng capture at `t`, seen at `point`, with `comment`: an
    /// enhanced packet block with its direction flag, in the order recorded (virtual time
    /// order).
    pub fn capture_at(&mut self, t: Instant, point: CapturePoint, bytes: &[u8], comment: String) {
        use pcap_file::pcapng::blocks::enhanced_packet::{
            EnhancedPacketBlock, EnhancedPacketOption,
        };
        use std::borrow::Cow;
        let Some(w) = &mut self.ng else {
            return;
        };
        let (iface, direction) = match point {
            CapturePoint::Send => (0, 0b10),
            CapturePoint::Receive => (1, 0b01),
        };
        let epb = EnhancedPacketBlock {
            interface_id: iface,
            timestamp: std::time::Duration::from_micros(t.micros()),
            original_len: u32::try_from(bytes.len()).expect("a segment fits in u32"),
            data: Cow::Borrowed(bytes),
            options: vec![
                EnhancedPacketOption::Flags(direction),
                EnhancedPacketOption::Comment(Cow::Owned(comment)),
            ],
        };
        w.write_pcapng_block(epb).expect("an Out never fails");
    }

    /// Flushes and closes (drops the writers of) every streamed output; outputs kept in
    /// memory stay for the `take_*` methods. The first error writing each output is
    /// reported, trace first, then pcap, pcapng and timeline; a streamed output is unusable
    /// after an error.
    ///
    /// # Errors
    ///
    /// A [`RecordError`] naming the output that failed.
    pub fn finish(&mut self) -> Result<(), RecordError> {
        let fail = |output| move |error| RecordError { output, error };
        let mut result = Ok(());
        let mut done = |out: &mut Out, output| {
            let r = out.finish().map_err(fail(output));
            if result.is_ok() {
                result = r;
            }
            matches!(out.sink, Sink::Stream(_))
        };
        if self.jsonl.as_mut().is_some_and(|o| done(o, Output::Trace)) {
            self.jsonl = None;
        }
        if self
            .pcap
            .as_mut()
            .is_some_and(|p| done(&mut p.0, Output::Pcap))
        {
            self.pcap = None;
        }
        if self
            .ng
            .as_mut()
            .is_some_and(|w| done(w.get_mut(), Output::PcapNg))
        {
            self.ng = None;
        }
        if self
            .timeline_out
            .as_mut()
            .is_some_and(|o| done(o, Output::Timeline))
        {
            self.timeline_out = None;
        }
        result
    }

    /// The pcapng bytes, if kept in memory: a section header, the two interfaces (`send`,
    /// `receive`), and every packet in the order recorded (virtual time order), with its
    /// direction flag and comment.
    pub fn take_pcapng(&mut self) -> Option<Vec<u8>> {
        self.ng.take()?.into_inner().into_memory()
    }

    /// The trace bytes, if kept in memory.
    pub fn take_trace(&mut self) -> Option<Vec<u8>> {
        self.jsonl.take()?.into_memory()
    }

    /// The pcap bytes, if kept in memory.
    pub fn take_pcap(&mut self) -> Option<Vec<u8>> {
        self.pcap.take()?.0.into_memory()
    }
}

/// A pcapng writer on `out` with the section header and both interface descriptions written.
fn pcapng_writer(out: Out) -> NgWriter {
    use pcap_file::pcapng::blocks::interface_description::{
        InterfaceDescriptionBlock, InterfaceDescriptionOption,
    };
    use pcap_file::{DataLink, Endianness};
    use std::borrow::Cow;
    let mut w = NgWriter::with_endianness(out, Endianness::Little).expect("an Out never fails");
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
        w.write_pcapng_block(idb).expect("an Out never fails");
    }
    w
}

#[cfg(test)]
mod tests {
    use super::{push_timeline_line, timeline_line};
    use twsim_model::Instant;

    #[test]
    fn a_timeline_line_pads_as_the_format_string_does() {
        let times = [0, 1_250_000, 10_500, 123_456_789_012, 99_999_999_999_999];
        let hosts = [
            "",
            "a",
            "client",
            "exactly8",
            "longer-than-8",
            "sérveur",
            "日本",
        ];
        let mut line = String::from("kept ");
        for us in times {
            for host in hosts {
                let t = Instant::from_micros(us);
                let want = format!("{:>12}  {host:<8} {}", t.to_string(), "text");
                assert_eq!(timeline_line(t, host, "text"), want);
                line.truncate(5);
                push_timeline_line(&mut line, t, host, "text");
                assert_eq!(line, format!("kept {want}"));
            }
        }
    }
}
