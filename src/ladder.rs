//! Ladder (sequence) diagrams of a run, read from its JSON Lines trace (`docs/trace-format.md`)
//! and drawn through the `svg` crate's element builder.
//!
//! One vertical lane per host, virtual time running down. A segment is an arrow from its
//! sender's lane at the time it was sent to its receiver's lane at the time it arrived, so a
//! late copy is a long slant; a dropped segment stops halfway and ends in a cross. State
//! changes are written on the lanes, TIME-WAIT is a shaded band on its host's lane labelled
//! with its length, and every socket call is written beside its host's lane with its result.
//! Time is not linear: instants with something to draw are spaced by at most a few rows, and
//! an idle gap of [`BREAK_AFTER_US`] or more is drawn as a break labelled with its length.

use serde_json::Value;
use std::collections::BTreeMap;
use svg::node::element::{Definitions, Group, Line, Marker, Path, Rectangle, Text, Title};
use svg::Document;

/// An idle gap at least this long (µs of virtual time) is drawn as a break.
pub const BREAK_AFTER_US: u64 = 2_000_000;

/// Height of one row of text (px).
const ROW: f64 = 14.0;
/// Distance between lanes (px).
const LANE_GAP: f64 = 420.0;
/// Room left of the first lane and right of the last, for calls and times (px).
const SIDE: f64 = 460.0;
/// Room above the first instant (px).
const TOP: f64 = 70.0;

/// Something drawn at an instant, on a host's lane.
enum Mark {
    /// A state change: socket, new state.
    State(String, String),
    /// A socket call and its result as shown.
    Call(String),
}

/// A segment: sender, receiver, when sent, when delivered (`None`: dropped), label, kind.
struct Seg {
    id: u64,
    from: usize,
    to: Option<usize>,
    sent: u64,
    arrived: Option<u64>,
    label: String,
    copy: bool,
    stale: bool,
    rst: bool,
    dropped: Option<String>,
}

/// A TIME-WAIT band: host, tuple, begin, end (µs), how it ended.
struct Band {
    host: usize,
    tuple: String,
    begin: u64,
    end: Option<u64>,
    how: String,
}

fn text(v: &Value, k: &str) -> String {
    match &v[k] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn secs(us: u64) -> String {
    format!("{}.{:03}s", us / 1_000_000, (us % 1_000_000) / 1000)
}

/// The ladder diagram of one run's trace (JSON Lines, as `--trace` writes it), as an SVG
/// document. Errors name the line of the trace that could not be read.
pub fn render(trace: &str) -> Result<String, String> {
    render_with_layout(trace).map(|(svg, _)| svg)
}

/// [`render`], and where each drawn instant is: (virtual time in µs, y in px of the SVG), in
/// time order (the viewer's cursor follows it).
pub fn render_with_layout(trace: &str) -> Result<(String, Vec<(u64, f64)>), String> {
    let mut hosts: Vec<(String, String, String, u64)> = Vec::new();
    let mut title = String::new();
    let mut marks: BTreeMap<(u64, usize), Vec<Mark>> = BTreeMap::new();
    let mut segs: Vec<Seg> = Vec::new();
    let mut bands: Vec<Band> = Vec::new();
    let mut end_t = 0u64;
    let host_ix =
        |hosts: &[(String, String, String, u64)], n: &str| hosts.iter().position(|h| h.0 == n);
    for (i, line) in trace.lines().enumerate() {
        let rec: Value =
            serde_json::from_str(line).map_err(|e| format!("trace line {}: {e}", i + 1))?;
        let t = rec["t_us"].as_u64().unwrap_or(0);
        end_t = end_t.max(t);
        let d = &rec["data"];
        let host = rec["host"].as_str().and_then(|h| host_ix(&hosts, h));
        match rec["type"].as_str().unwrap_or_default() {
            "run" => {
                title = format!(
                    "{}{} (seed {})",
                    text(d, "scenario"),
                    match d["variant"].as_str() {
                        Some(v) => format!(" [{v}]"),
                        None => String::new(),
                    },
                    text(d, "seed")
                );
                for h in d["hosts"].as_array().into_iter().flatten() {
                    hosts.push((
                        text(h, "name"),
                        text(h, "addr"),
                        text(h, "os"),
                        h["time_wait_us"].as_u64().unwrap_or(0),
                    ));
                }
            }
            "state" => {
                if let Some(h) = host {
                    marks
                        .entry((t, h))
                        .or_default()
                        .push(Mark::State(text(d, "sock"), text(d, "to")));
                }
            }
            "call" => {
                if let Some(h) = host {
                    let proc = match d["proc"].as_str() {
                        Some("main") | None => String::new(),
                        Some(p) => format!("[{p}] "),
                    };
                    marks.entry((t, h)).or_default().push(Mark::Call(format!(
                        "{proc}{} = {}",
                        text(d, "call"),
                        text(d, "shown")
                    )));
                }
            }
            "segment" => {
                let id = d["id"].as_u64().unwrap_or(0);
                let label = {
                    let ack = d["ack"]
                        .as_u64()
                        .map_or(String::new(), |a| format!(" ack={a}"));
                    format!(
                        "#{id} [{}] seq={}{ack} len={}",
                        text(d, "flags"),
                        text(d, "seq"),
                        text(d, "len")
                    )
                };
                match d["event"].as_str().unwrap_or_default() {
                    "sent" => segs.push(Seg {
                        id,
                        from: host_ix(&hosts, &text(d, "from")).unwrap_or(0),
                        to: host_ix(&hosts, &text(d, "to")),
                        sent: t,
                        arrived: None,
                        copy: !d["dup_of"].is_null(),
                        stale: false,
                        rst: text(d, "flags").contains('R'),
                        label: match d["dup_of"].as_u64() {
                            Some(o) => format!("{label} (copy of #{o} via {})", text(d, "route")),
                            None => label,
                        },
                        dropped: None,
                    }),
                    "dropped" => segs.push(Seg {
                        id,
                        from: host_ix(&hosts, &text(d, "from")).unwrap_or(0),
                        to: host_ix(&hosts, &text(d, "to")),
                        sent: t,
                        arrived: None,
                        copy: false,
                        stale: false,
                        rst: text(d, "flags").contains('R'),
                        label,
                        dropped: Some(match d["fault"].as_u64() {
                            Some(f) => format!("dropped by fault #{f}"),
                            None => format!("dropped ({})", text(d, "reason")),
                        }),
                    }),
                    "delivered" => {
                        if let Some(s) = segs
                            .iter_mut()
                            .rev()
                            .find(|s| s.id == id && s.dropped.is_none())
                        {
                            s.arrived = Some(t);
                            s.stale = d["stale"].as_bool() == Some(true);
                            if s.stale {
                                s.label.push_str(" OLD DUPLICATE");
                            }
                        }
                    }
                    _ => {}
                }
            }
            "time_wait" => {
                let Some(h) = host else { continue };
                match d["event"].as_str().unwrap_or_default() {
                    "created" => bands.push(Band {
                        host: h,
                        tuple: text(d, "tuple"),
                        begin: t,
                        end: None,
                        how: String::new(),
                    }),
                    "expired" | "assassinated" | "reused_by_syn" | "recycled_by_connect" => {
                        let tuple = text(d, "tuple");
                        if let Some(b) = bands
                            .iter_mut()
                            .rev()
                            .find(|b| b.host == h && b.tuple == tuple && b.end.is_none())
                        {
                            b.end = Some(t);
                            b.how = text(d, "event").replace('_', " ");
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    if hosts.is_empty() {
        return Err("the trace has no run record (the first line)".into());
    }

    // Vertical layout: every instant with something on it gets a slot tall enough for the
    // rows drawn there; gaps add a little room, long ones a break.
    let mut instants: BTreeMap<u64, usize> = BTreeMap::new();
    for ((t, _), v) in &marks {
        let e = instants.entry(*t).or_insert(1);
        *e = (*e).max(v.len());
    }
    // Segments leaving one lane at one instant (or reaching one) are drawn a row apart.
    let mut sent_row: BTreeMap<(u64, usize), usize> = BTreeMap::new();
    let mut arrived_row: BTreeMap<(u64, usize), usize> = BTreeMap::new();
    let mut rows_of: Vec<(usize, usize)> = Vec::new();
    for s in &segs {
        let k0 = sent_row.entry((s.sent, s.from)).or_insert(0);
        let r0 = *k0;
        *k0 += 1;
        let e = instants.entry(s.sent).or_insert(1);
        *e = (*e).max(r0 + 1);
        let mut r1 = 0;
        if let (Some(a), Some(to)) = (s.arrived, s.to) {
            let k1 = arrived_row.entry((a, to)).or_insert(0);
            r1 = *k1;
            *k1 += 1;
            let e = instants.entry(a).or_insert(1);
            *e = (*e).max(r1 + 1);
        }
        rows_of.push((r0, r1));
    }
    for b in &bands {
        instants.entry(b.begin).or_insert(1);
        instants.entry(b.end.unwrap_or(end_t)).or_insert(1);
    }
    let mut y_of: BTreeMap<u64, f64> = BTreeMap::new();
    let mut breaks: Vec<(f64, u64)> = Vec::new();
    let mut y = TOP;
    let mut prev: Option<(u64, usize)> = None;
    for (&t, &rows) in &instants {
        if let Some((pt, prows)) = prev {
            y += prows as f64 * ROW;
            let gap = t - pt;
            if gap >= BREAK_AFTER_US {
                breaks.push((y + 14.0, gap));
                y += 36.0;
            } else {
                // Up to three rows of room for a gap, growing with its length (10 ms per px).
                y += (gap as f64 / 10_000.0).min(3.0 * ROW);
            }
        }
        y_of.insert(t, y);
        prev = Some((t, rows));
    }
    let height = y + prev.map_or(0.0, |p| p.1 as f64 * ROW) + 40.0;
    let lane_x = |h: usize| SIDE + h as f64 * LANE_GAP;
    let width = 2.0 * SIDE + (hosts.len().saturating_sub(1)) as f64 * LANE_GAP;
    let at = |t: u64| y_of.get(&t).copied().unwrap_or(TOP);

    let arrow = Marker::new()
        .set("id", "arrow")
        .set("viewBox", "0 0 10 10")
        .set("refX", 10)
        .set("refY", 5)
        .set("markerWidth", 7)
        .set("markerHeight", 7)
        .set("orient", "auto-start-reverse")
        .add(
            Path::new()
                .set("d", "M 0 0 L 10 5 L 0 10 z")
                .set("fill", "context-stroke"),
        );
    let mut doc = Document::new()
        .set("xmlns", "http://www.w3.org/2000/svg")
        .set("width", width)
        .set("height", height)
        .set("viewBox", (0, 0, width, height))
        .set("font-family", "monospace")
        .set("font-size", 11)
        .add(Definitions::new().add(arrow))
        .add(
            Rectangle::new()
                .set("width", "100%")
                .set("height", "100%")
                .set("fill", "white"),
        )
        .add(
            Text::new(title)
                .set("x", 10)
                .set("y", 18)
                .set("font-size", 14)
                .set("font-weight", "bold"),
        );

    // TIME-WAIT bands, under everything else.
    let mut g = Group::new().set("class", "time-wait");
    for b in &bands {
        let (y0, y1) = (at(b.begin), at(b.end.unwrap_or(end_t)));
        let x = lane_x(b.host);
        let len = b.end.unwrap_or(end_t) - b.begin;
        let how = if b.end.is_some() {
            b.how.as_str()
        } else {
            "alive at the end"
        };
        g = g
            .add(
                Rectangle::new()
                    .set("x", x - 9.0)
                    .set("y", y0)
                    .set("width", 18)
                    .set("height", (y1 - y0).max(2.0))
                    .set("fill", "#f4c542")
                    .set("fill-opacity", 0.45)
                    .set("stroke", "#c79a00")
                    .add(Title::new(format!(
                        "TIME-WAIT {} {}",
                        hosts[b.host].0, b.tuple
                    ))),
            )
            .add(
                Text::new(format!("TIME-WAIT {} ({how})", secs(len)))
                    .set("x", x + 12.0)
                    .set("y", (y0 + y1) / 2.0)
                    .set("fill", "#8a6a00")
                    .set("font-weight", "bold"),
            );
    }
    doc = doc.add(g);

    // Lanes and their headings.
    let mut g = Group::new().set("class", "lanes");
    for (i, (name, addr, os, tw)) in hosts.iter().enumerate() {
        let x = lane_x(i);
        g = g
            .add(
                Line::new()
                    .set("x1", x)
                    .set("y1", TOP - 10.0)
                    .set("x2", x)
                    .set("y2", height - 20.0)
                    .set("stroke", "#888"),
            )
            .add(
                Text::new(format!("{name} {addr}"))
                    .set("x", x)
                    .set("y", 40)
                    .set("text-anchor", "middle")
                    .set("font-weight", "bold"),
            )
            .add(
                Text::new(format!("{os}, TIME-WAIT {}", secs(*tw)))
                    .set("x", x)
                    .set("y", 54)
                    .set("text-anchor", "middle"),
            );
    }
    doc = doc.add(g);

    // The time axis and its breaks.
    let mut g = Group::new().set("class", "axis");
    let mut last_label = f64::MIN;
    for (&t, &y) in &y_of {
        if y - last_label >= ROW {
            g = g.add(
                Text::new(secs(t))
                    .set("x", 8)
                    .set("y", y + 4.0)
                    .set("fill", "#555"),
            );
            last_label = y;
        }
    }
    for (y, gap) in &breaks {
        let mut d = format!("M 0 {y}");
        let mut x = 0.0;
        while x < width {
            x += 8.0;
            d.push_str(&format!(
                " L {x} {}",
                y + if (x / 8.0) as u64 % 2 == 1 { -4.0 } else { 4.0 }
            ));
        }
        g = g
            .add(
                Path::new()
                    .set("d", d)
                    .set("fill", "none")
                    .set("stroke", "#bbb"),
            )
            .add(
                Text::new(format!("{} later", secs(*gap)))
                    .set("x", 8)
                    .set("y", y - 6.0)
                    .set("fill", "#999")
                    .set("font-style", "italic"),
            );
    }
    doc = doc.add(g);

    // Segments.
    let mut g = Group::new().set("class", "segments");
    for (s, (r0, r1)) in segs.iter().zip(&rows_of) {
        let x0 = lane_x(s.from);
        let y0 = at(s.sent) + *r0 as f64 * ROW;
        let colour = if s.stale {
            "#d00000"
        } else if s.copy {
            "#e07000"
        } else if s.dropped.is_some() {
            "#777"
        } else if s.rst {
            "#7b1fa2"
        } else {
            "#1f4e9c"
        };
        let mut seg = Group::new().set(
            "class",
            if s.dropped.is_some() {
                "segment dropped"
            } else {
                "segment"
            },
        );
        let (x1, y1) = match (s.to, s.arrived, &s.dropped) {
            (Some(to), Some(a), _) => (lane_x(to), at(a) + *r1 as f64 * ROW),
            (to, _, _) => {
                let xt = to.map_or(x0 + LANE_GAP, lane_x);
                (x0 + (xt - x0) / 2.0, y0 + 2.0 * ROW)
            }
        };
        let mut line = Line::new()
            .set("x1", x0)
            .set("y1", y0)
            .set("x2", x1)
            .set("y2", y1)
            .set("stroke", colour)
            .set("stroke-width", 1.4);
        if s.copy {
            line = line.set("stroke-dasharray", "6 3");
        }
        if s.dropped.is_none() && s.arrived.is_some() {
            line = line.set("marker-end", "url(#arrow)");
        }
        seg = seg.add(line.add(Title::new(s.label.clone())));
        if let Some(why) = &s.dropped {
            for (dx, dy) in [(6.0, 6.0), (6.0, -6.0)] {
                seg = seg.add(
                    Line::new()
                        .set("class", "cross")
                        .set("x1", x1 - dx)
                        .set("y1", y1 - dy)
                        .set("x2", x1 + dx)
                        .set("y2", y1 + dy)
                        .set("stroke", "#d00000")
                        .set("stroke-width", 2.5),
                );
            }
            seg = seg.add(
                Text::new(format!("{} {why}", s.label))
                    .set("x", x1 + 10.0)
                    .set("y", y1 + 4.0)
                    .set("fill", "#d00000"),
            );
        } else if s.arrived.is_none() {
            seg = seg.add(
                Text::new(format!("{} (in flight at the end)", s.label))
                    .set("x", x1 + 6.0)
                    .set("y", y1)
                    .set("fill", colour),
            );
        } else {
            let (mx, my) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
            seg = seg.add(
                Text::new(s.label.clone())
                    .set("x", mx)
                    .set("y", my - 3.0)
                    .set("text-anchor", "middle")
                    .set("fill", colour),
            );
        }
        g = g.add(seg);
    }
    doc = doc.add(g);

    // States and calls beside the lanes: outside for the outer lanes, right of inner ones.
    let mut g = Group::new().set("class", "marks");
    for ((t, h), v) in &marks {
        let x = lane_x(*h);
        let left = *h == 0 && hosts.len() > 1;
        for (j, m) in v.iter().enumerate() {
            let y = at(*t) + j as f64 * ROW + 4.0;
            let (s, fill, weight) = match m {
                Mark::State(sock, st) => (format!("{sock}: {st}"), "#2e7d32", "bold"),
                Mark::Call(c) => (c.clone(), "#000", "normal"),
            };
            let (tx, anchor) = if left {
                (x - 8.0, "end")
            } else {
                (x + 8.0, "start")
            };
            g = g.add(
                Text::new(s)
                    .set(
                        "class",
                        match m {
                            Mark::State(..) => "state",
                            Mark::Call(..) => "call",
                        },
                    )
                    .set("x", tx)
                    .set("y", y)
                    .set("text-anchor", anchor)
                    .set("fill", fill)
                    .set("font-weight", weight),
            );
        }
    }
    doc = doc.add(g);
    Ok((doc.to_string(), y_of.into_iter().collect()))
}
