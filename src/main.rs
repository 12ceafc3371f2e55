//! `twsim`: the command-line front end.
//!
//! Parses and validates the command line first, then builds the run configuration
//! (ripgrep style). Exit status: 0 when every run met its expectations, 1 when a run did not,
//! 2 for bad input (command line or scenario file).

use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use twsim::{demos, output, replay_cmd};
use twsim_model::Profile;
use twsim_sim::engine::{run, RunOptions, RunReport};
use twsim_sim::report;
use twsim_sim::scenario::{self, parse_duration, Overrides};

#[derive(Parser)]
#[command(
    name = "twsim",
    version,
    about = "Deterministic userspace TCP simulator for TIME-WAIT and port reuse"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args, Clone, Default)]
struct Out {
    /// Seed for every random draw (overrides the scenario's).
    #[arg(long)]
    seed: Option<u64>,
    /// Profile for every host (linux, rfc793), overriding the scenario and its variants.
    #[arg(long)]
    os: Option<String>,
    /// MSL the endpoints assume, e.g. 30s or 2min.
    #[arg(long)]
    msl: Option<String>,
    /// Run only this variant.
    #[arg(long)]
    variant: Option<String>,
    /// Write the JSON Lines trace here (FILE.VARIANT.EXT when several variants run).
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Write a pcap (LINKTYPE_RAW) here (FILE.VARIANT.EXT when several variants run).
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
    /// Print a machine-readable JSON summary instead of the timeline.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Simulate a scenario file.
    Run {
        /// Scenario JSON file.
        file: PathBuf,
        #[command(flatten)]
        out: Out,
    },
    /// Run a scenario embedded in the binary (default: restart-time-wait).
    Demo {
        /// Demo name (see --list).
        name: Option<String>,
        /// List the demos.
        #[arg(long)]
        list: bool,
        #[command(flatten)]
        out: Out,
    },
    /// Replay a scenario's socket calls against the address-table model alone (instant), under
    /// every profile (--all-os), or on this machine's kernel beside the linux profile (--kernel).
    Replay {
        /// Scenario JSON file.
        file: PathBuf,
        /// Profile for every host.
        #[arg(long)]
        os: Option<String>,
        /// Run only this variant.
        #[arg(long)]
        variant: Option<String>,
        /// One table: the script's results under every profile.
        #[arg(long, conflicts_with_all = ["kernel", "os"])]
        all_os: bool,
        /// Run the calls on real sockets (loopback only, private network namespace when
        /// possible) and compare with the linux profile.
        #[arg(long)]
        kernel: bool,
        /// Print a JSON summary instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Measure connection lifecycles per wall-clock second: the simulator beside a bare
    /// two-interface smoltcp harness and the real kernel on loopback.
    Bench {
        /// Lifecycles per measurement.
        #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..))]
        lifecycles: u64,
        /// Measure the address-table model instead: calls per second with this many sockets
        /// in the table (default 10000), and heap bytes per TIME-WAIT record.
        #[arg(long, value_name = "SOCKETS", num_args = 0..=1, default_missing_value = "10000",
              conflicts_with_all = ["scale", "lifecycles"])]
        model: Option<usize>,
        /// Time the simulator on N and 4N connections 1 ms apart whose TIME-WAIT records stay
        /// alive, and print time(4N) / time(N) (default N: 2000).
        #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "2000",
              conflicts_with = "lifecycles",
              value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        scale: Option<u64>,
    },
}

/// A user error: printed, exit status 2.
struct Bad(String);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Run { file, out } => {
            read_scenario(&file).and_then(|(name, src)| run_sources(&[(name, src)], &out))
        }
        Cmd::Demo { list: true, .. } => {
            for d in demos::DEMOS {
                println!("{:<34} {}", d.name, d.summary);
            }
            Ok(true)
        }
        Cmd::Demo { name, out, .. } => {
            let name = name.unwrap_or_else(|| demos::DEFAULT.to_string());
            match demos::find(&name) {
                Some(d) => {
                    let srcs: Vec<(String, String)> = d
                        .files
                        .iter()
                        .map(|(f, src)| (format!("<embedded {f}>"), src.to_string()))
                        .collect();
                    run_sources(&srcs, &out)
                }
                None => Err(Bad(format!(
                    "unknown demo {name:?}; `twsim demo --list` shows them"
                ))),
            }
        }
        Cmd::Replay {
            file,
            os,
            variant,
            all_os,
            kernel,
            json,
        } => read_scenario(&file)
            .and_then(|(name, src)| replay(&name, &src, os, variant, all_os, kernel, json)),
        Cmd::Bench { model: Some(n), .. } => {
            let f = twsim::bench::model::measure(n, 200_000);
            println!(
                "address-table model, linux profile, {} sockets in the table",
                f.sockets
            );
            println!(
                "  {:>12.0} calls/s  ({} calls in {:.3} s: socket, bind conflict, bind, socket, connect, close)",
                f.calls as f64 / f.seconds,
                f.calls,
                f.seconds
            );
            match f.bytes_per_time_wait {
                Some(b) => println!(
                    "  {b:>12.1} heap bytes per TIME-WAIT record (table entry and indexes; the record itself is {} bytes)",
                    f.record_size
                ),
                None => println!(
                    "  heap bytes per TIME-WAIT record: not measured here (needs glibc's mallinfo2, Linux); the record itself is {} bytes",
                    f.record_size
                ),
            }
            Ok(true)
        }
        Cmd::Bench { scale: Some(n), .. } => {
            twsim::bench::run_scale(n as usize);
            Ok(true)
        }
        Cmd::Bench { lifecycles, .. } => {
            twsim::bench::run(lifecycles);
            Ok(true)
        }
    };
    match r {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(Bad(msg)) => {
            // Long values (a 10 MB name) are never echoed whole.
            eprintln!("twsim: error: {}", scenario::elide(&msg));
            ExitCode::from(2)
        }
    }
}

/// The name and text of the scenario file `file` (a regular UTF-8 file of at most
/// [`scenario::MAX_INPUT_BYTES`]).
fn read_scenario(file: &Path) -> Result<(String, String), Bad> {
    let name = file.display().to_string();
    match scenario::read_input(file) {
        Ok(src) => Ok((name, src)),
        // An encoding error has a position: FILE:LINE:COL: ….
        Err(e @ scenario::InputError::Utf8 { .. }) => Err(Bad(format!("{name}:{e}"))),
        Err(e) => Err(Bad(format!("{name}: {e}"))),
    }
}

/// Loads and validates every scenario and variant before running any, runs them, then writes
/// the output files (all or none). Returns whether every run was OK.
fn run_sources(srcs: &[(String, String)], out: &Out) -> Result<bool, Bad> {
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
    for (file, src) in srcs {
        let sc = scenario::parse(file, src).map_err(|e| Bad(e.to_string()))?;
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
            let r = sc
                .resolve(file, src, v, &ov)
                .map_err(|e| Bad(e.to_string()))?;
            // The full simulation's endpoints are IPv4-only; the replays take IPv6.
            r.require_ipv4(file, src).map_err(|e| Bad(e.to_string()))?;
            runs.push(r);
        }
    }
    if runs.is_empty() {
        return Err(Bad(format!(
            "no variant named {:?}",
            out.variant.clone().unwrap_or_default()
        )));
    }
    let opts = RunOptions {
        trace: out.trace.is_some(),
        pcap: out.pcap.is_some(),
        quiet: out.json,
    };
    let several = runs.len() > 1;
    // Every output path, per run, checked before anything runs.
    let paths: Vec<(Option<PathBuf>, Option<PathBuf>)> = runs
        .iter()
        .map(|sc| {
            let tag = if several { Some(tag_of(sc)) } else { None };
            let path =
                |p: &Option<PathBuf>| p.as_ref().map(|p| output::with_tag(p, tag.as_deref()));
            (path(&out.trace), path(&out.pcap))
        })
        .collect();
    let all_paths: Vec<PathBuf> = paths
        .iter()
        .flat_map(|(t, p)| t.iter().chain(p.iter()).cloned())
        .collect();
    output::check_all(&all_paths).map_err(|e| Bad(e.to_string()))?;
    let mut files: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    let mut all_ok = true;
    let mut summaries = Vec::new();
    let mut rows = Vec::new();
    for (sc, (trace_path, pcap_path)) in runs.iter().zip(paths) {
        let mut rep: RunReport = run(sc, opts);
        all_ok &= rep.ok();
        if out.json {
            summaries.push(report::json(&rep));
        } else {
            print!("{}", report::text(&rep));
            println!();
            rows.push(report::CompareRow::of(&rep));
        }
        if let (Some(p), Some(bytes)) = (trace_path, rep.recorder.take_trace()) {
            files.push((p, bytes));
        }
        if let (Some(p), Some(bytes)) = (pcap_path, rep.recorder.take_pcap()) {
            files.push((p, bytes));
        }
    }
    // Hazards and their controls, side by side.
    if rows.len() > 1 && rows.iter().any(report::CompareRow::has_hazards) {
        println!("{}", report::compare(&rows));
    }
    if out.json {
        let v = if summaries.len() == 1 {
            summaries.pop().expect("one")
        } else {
            serde_json::Value::Array(summaries)
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&v).expect("values serialise")
        );
    }
    output::write_all(&files).map_err(|e| Bad(e.to_string()))?;
    for (p, _) in &files {
        if !out.json {
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

/// `twsim replay`.
fn replay(
    file: &str,
    src: &str,
    os: Option<String>,
    variant: Option<String>,
    all_os: bool,
    kernel: bool,
    json: bool,
) -> Result<bool, Bad> {
    let sc = scenario::parse(file, src).map_err(|e| Bad(e.to_string()))?;
    let os = parse_os(os.as_deref())?;
    let vidx = match &variant {
        Some(v) => Some(
            sc.variants
                .iter()
                .position(|x| &x.name == v)
                .ok_or_else(|| Bad(format!("{file}: --variant: no variant named {v:?}")))?,
        ),
        None => None,
    };
    if all_os {
        // Validated as `replay` validates: the chosen variant, or every one.
        let check: Vec<Option<usize>> = match vidx {
            Some(i) => vec![Some(i)],
            None => (0..sc.variants.len()).map(Some).collect(),
        };
        for v in check {
            sc.resolve(file, src, v, &Overrides::default())
                .map_err(|e| Bad(e.to_string()))?;
        }
        let resolve = |ov: &Overrides| sc.resolve(file, src, vidx, ov).map_err(|e| e.to_string());
        let out = replay_cmd::all_os(&resolve).map_err(Bad)?;
        emit(&out, json);
        return Ok(true);
    }
    let variants: Vec<Option<usize>> = match vidx {
        Some(i) => vec![Some(i)],
        None if sc.variants.is_empty() || os.is_some() => vec![None],
        None => (0..sc.variants.len()).map(Some).collect(),
    };
    let ov = Overrides {
        os,
        ..Overrides::default()
    };
    let mut resolved = Vec::new();
    for v in variants {
        let r = sc
            .resolve(file, src, v, &ov)
            .map_err(|e| Bad(e.to_string()))?;
        if kernel && r.hosts.iter().any(|h| h.profile != Profile::Linux) {
            continue; // kernel replay checks the linux profile; other variants do not apply
        }
        resolved.push(r);
    }
    if resolved.is_empty() {
        return Err(Bad(format!(
            "{file}: --kernel needs the linux profile (no linux variant; use --os linux)"
        )));
    }
    let mut all_ok = true;
    let mut outs = Vec::new();
    for r in &resolved {
        let out = if kernel {
            kernel_replay(r)?
        } else {
            replay_cmd::model(r)
        };
        all_ok &= out.ok;
        outs.push(out);
    }
    if json {
        let v: Vec<serde_json::Value> = outs.iter().map(|o| o.json.clone()).collect();
        let v = if v.len() == 1 {
            v.into_iter().next().expect("one")
        } else {
            serde_json::Value::Array(v)
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&v).expect("values serialise")
        );
    } else {
        for o in &outs {
            println!("{}", o.text);
        }
    }
    Ok(all_ok)
}

fn emit(out: &replay_cmd::Outcome, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&out.json).expect("values serialise")
        );
    } else {
        print!("{}", out.text);
    }
}

#[cfg(target_os = "linux")]
fn kernel_replay(r: &scenario::Resolved) -> Result<replay_cmd::Outcome, Bad> {
    replay_cmd::kernel(r).map_err(Bad)
}

#[cfg(not(target_os = "linux"))]
fn kernel_replay(_r: &scenario::Resolved) -> Result<replay_cmd::Outcome, Bad> {
    Err(Bad("--kernel needs Linux".into()))
}

/// `--os NAME`, validated.
fn parse_os(name: Option<&str>) -> Result<Option<Profile>, Bad> {
    name.map(|n| {
        Profile::from_name(n).ok_or_else(|| {
            Bad(format!(
                "--os: unknown profile {n:?} (known: {})",
                Profile::known_names()
            ))
        })
    })
    .transpose()
}
