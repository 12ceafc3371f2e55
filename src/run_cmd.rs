//! `twsim run` and `twsim demo`: every scenario and variant loaded and validated first, every
//! output path checked, then the runs, each streaming its trace and capture to temporary files
//! beside their targets and its timeline to stdout, and the files renamed into place at the
//! end (all or none, `output::Staged`).

use crate::{parse_os, Bad, Out};
use std::io::Write;
use std::path::{Path, PathBuf};
use twsim::output;
use twsim_sim::engine::{run, run_with, RunOptions, RunReport};
use twsim_sim::report;
use twsim_sim::scenario::{self, parse_duration, Overrides};
use twsim_sim::trace::{Output, Recorder, Sink, Sinks};

/// How `twsim demo` differs from `twsim run`.
#[derive(Clone, Copy)]
pub(crate) struct DemoMode {
    /// Every run's timeline and lessons, not only the first run's.
    pub(crate) details: bool,
}

/// A scenario's description and source, as printed before its runs: `== NAME`, the
/// description wrapped at 96 columns, then `source: …`.
fn header(sc: &scenario::Resolved) -> String {
    let mut s = format!("== {}\n", sc.name);
    let mut wrap = |prefix: &str, text: &str| {
        let mut line = String::from(prefix);
        for w in text.split_whitespace() {
            if line.chars().count() + w.chars().count() + 1 > 96 && !line.trim().is_empty() {
                s.push_str(line.trim_end());
                s.push('\n');
                line = " ".repeat(prefix.len());
            }
            line.push_str(w);
            line.push(' ');
        }
        s.push_str(line.trim_end());
        s.push('\n');
    };
    if let Some(d) = &sc.description {
        wrap("   ", d);
    }
    if let Some(src) = &sc.source {
        wrap("   source: ", src);
    }
    s
}

/// Loads and validates every scenario and variant before running any, runs them, then renames
/// the output files into place (all or none). Returns whether every run was OK.
///
/// A demo (`demo` is `Some`) prints every scenario's description and source first, then the
/// first run's timeline (every run's with `details`), and always ends with the comparison of
/// all runs. Under `--os` a demo's expectations are the story's outcomes under the scenario's
/// own profile (its reference): the script also runs there, quietly, and each run is followed
/// by how it differs, with the source of the rule, instead of failing.
pub(crate) fn run_sources(
    srcs: Vec<(String, String)>,
    out: &Out,
    demo: Option<DemoMode>,
) -> Result<bool, Bad> {
    let ov = Overrides {
        seed: out.seed,
        os: parse_os(out.os.as_deref())?,
        msl: out
            .msl
            .as_deref()
            .map(|m| match parse_duration(m) {
                Ok(d) if d == twsim_model::Duration::ZERO => Err(Bad(format!(
                    "--msl: {m:?}: the MSL must be greater than zero"
                ))),
                Ok(d) => Ok(d),
                Err(e) => Err(Bad(format!("--msl: {e}"))),
            })
            .transpose()?,
    };
    let mut runs = Vec::new();
    // Per run: the index of its reference in `references` (demos only).
    let mut reference_of: Vec<Option<usize>> = Vec::new();
    let mut references: Vec<scenario::Resolved> = Vec::new();
    for (file, src) in &srcs {
        let sc = scenario::parse(file, src).map_err(|e| Bad(e.to_string()))?;
        let reference = if demo.is_some() && (ov.os.is_some() || out.variant.is_some()) {
            // The story as written: its own profile, no variant, the same seed and MSL.
            let base = Overrides {
                os: None,
                ..ov.clone()
            };
            let r = sc
                .resolve(file, src, None, &base)
                .map_err(|e| Bad(e.to_string()))?;
            references.push(r);
            Some(references.len() - 1)
        } else {
            None
        };
        if let Some(want) = &out.variant {
            if !sc.variants.iter().any(|v| &v.name == want) {
                let known = sc.variant_names();
                return Err(Bad(format!(
                    "{file}: --variant: no variant named {want:?} (the scenario has {})",
                    if known.is_empty() {
                        "no variants".to_string()
                    } else {
                        known.join(", ")
                    }
                )));
            }
            if ov.os.is_some() {
                return Err(Bad(
                    "--variant and --os exclude each other: a variant sets the profile".into(),
                ));
            }
        }
        let variants: Vec<Option<usize>> = if sc.variants.is_empty() || ov.os.is_some() {
            vec![None]
        } else {
            (0..sc.variants.len()).map(Some).collect()
        };
        for v in variants {
            if let (Some(want), Some(i)) = (&out.variant, v) {
                if &sc.variants[i].name != want {
                    continue;
                }
            }
            let mut r = sc
                .resolve(file, src, v, &ov)
                .map_err(|e| Bad(e.to_string()))?;
            // The full simulation's endpoints are IPv4-only; the replays take IPv6.
            r.require_ipv4(file, src).map_err(|e| Bad(e.to_string()))?;
            if let (Some(i), Some(_)) = (reference, ov.os) {
                r.reference = references[i].hosts.first().map(|h| h.profile);
            }
            runs.push(r);
            reference_of.push(reference);
        }
    }
    // The runs are resolved: the scenario texts (a large script's whole file) are not needed
    // while they run.
    drop(srcs);
    crate::release_freed_memory();
    if runs.is_empty() {
        return Err(Bad(format!(
            "no variant named {:?}",
            out.variant.clone().unwrap_or_default()
        )));
    }
    // What is recorded is chosen by the sinks below.
    let opts = RunOptions {
        quiet: out.json,
        ..RunOptions::default()
    };
    let several = runs.len() > 1;
    // Every output path, per run, checked before anything runs.
    type Paths = (Option<PathBuf>, Option<PathBuf>, Option<PathBuf>);
    let paths: Vec<Paths> = runs
        .iter()
        .map(|sc| {
            let tag = if several { Some(tag_of(sc)) } else { None };
            let path =
                |p: &Option<PathBuf>| p.as_ref().map(|p| output::with_tag(p, tag.as_deref()));
            (path(&out.trace), path(&out.pcap), path(&out.svg))
        })
        .collect();
    let all_paths: Vec<PathBuf> = paths
        .iter()
        .flat_map(|(t, p, g)| t.iter().chain(p.iter()).chain(g.iter()).cloned())
        .collect();
    output::check_all(&all_paths).map_err(|e| Bad(e.to_string()))?;
    // Every file streams to a temporary sibling and is renamed into place at the end; an
    // early return drops `staged`, which removes them.
    let mut staged = output::Staged::new();
    let mut wrote: Vec<PathBuf> = Vec::new();
    let mut all_ok = true;
    let mut reports = Vec::new();
    let mut rows = Vec::new();
    if let (Some(_), false) = (demo, out.json) {
        let mut seen: Vec<&str> = Vec::new();
        for sc in &runs {
            if !seen.contains(&sc.name.as_str()) {
                seen.push(&sc.name);
                println!("{}", header(sc));
            }
        }
    }
    for (i, (sc, (trace_path, pcap_path, svg_path))) in runs.iter().zip(paths).enumerate() {
        let shown = match demo {
            Some(d) => d.details || i == 0,
            None => true,
        };
        let mut stream = |p: &Path| -> Result<Sink, Bad> {
            let f = staged.create(p).map_err(|e| Bad(e.to_string()))?;
            Ok(Sink::stream(Box::new(f)))
        };
        let mut sinks = Sinks::default();
        match &trace_path {
            Some(p) => sinks.trace = Some(stream(p)?),
            // The ladder diagram is drawn from the trace.
            None if svg_path.is_some() => sinks.trace = Some(Sink::memory()),
            None => {}
        }
        if let Some(p) = &pcap_path {
            // pcapng (two capture points, comments) when the name ends in .pcapng.
            if p.extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("pcapng"))
            {
                sinks.pcapng = Some(stream(p)?);
            } else {
                sinks.pcap = Some(stream(p)?);
            }
        }
        if !out.json {
            // The timeline goes to stdout as the run goes (a hidden run's nowhere).
            let to: Box<dyn Write + Send> = if shown {
                Box::new(std::io::stdout())
            } else {
                Box::new(std::io::sink())
            };
            sinks.timeline = Some(Sink::stream(to));
        }
        let mut rep: RunReport = run_with(sc, opts, Recorder::with_sinks(sinks));
        rep.recorder.finish().map_err(|e| {
            let file = match e.output {
                Output::Trace => trace_path.as_deref(),
                Output::Pcap | Output::PcapNg => pcap_path.as_deref(),
                Output::Timeline => None,
            };
            let name = file.map_or("stdout".to_string(), |p| p.display().to_string());
            Bad(format!("{name}: cannot write: {}", e.error))
        })?;
        all_ok &= rep.ok();
        if !out.json {
            if shown {
                print!("{}", report::summary_text(&rep));
                println!();
            }
            if let Some(Some(j)) = reference_of.get(i) {
                let reference = &references[*j];
                let there = run(
                    reference,
                    RunOptions {
                        quiet: true,
                        ..RunOptions::default()
                    },
                );
                println!("{}", twsim::lesson::block(&rep, &there));
            }
            rows.push(report::CompareRow::of(&rep));
        }
        if let Some(p) = svg_path {
            let trace = match &trace_path {
                Some(t) => std::fs::read(output::Staged::temporary(t))
                    .map_err(|e| Bad(format!("{}: cannot read back: {e}", t.display())))?,
                None => rep.recorder.take_trace().unwrap_or_default(),
            };
            let svg = twsim::ladder::render(&String::from_utf8_lossy(&trace))
                .map_err(|e| Bad(format!("--svg: {e}")))?;
            staged
                .write(&p, svg.as_bytes())
                .map_err(|e| Bad(e.to_string()))?;
            wrote.push(p);
        }
        wrote.extend(trace_path);
        wrote.extend(pcap_path);
        if out.json {
            // Kept for the summary: the report of a run without a timeline, whose
            // outputs went to their files.
            reports.push(rep);
        }
    }
    // Every run side by side: always after a demo; after `run`, when hazards and their
    // controls are to be compared.
    let table = match demo {
        Some(_) => !rows.is_empty(),
        None => rows.len() > 1 && rows.iter().any(report::CompareRow::has_hazards),
    };
    if table {
        println!("{}", report::compare(&rows));
    }
    if out.json {
        let refs: Vec<&RunReport> = reports.iter().collect();
        crate::to_stdout(|w| {
            report::write_json(&mut *w, &refs)?;
            writeln!(w)
        })?;
    }
    staged.commit().map_err(|e| Bad(e.to_string()))?;
    if !out.json {
        for p in &wrote {
            eprintln!("wrote {}", p.display());
        }
    }
    Ok(all_ok)
}

fn tag_of(sc: &scenario::Resolved) -> String {
    let base = sc.variant.clone().unwrap_or_else(|| "base".into());
    if Path::new(&sc.name).file_name().is_some() && sc.name != base {
        format!("{}.{base}", sc.name)
    } else {
        base
    }
}
