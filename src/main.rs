//! `twsim`: the command-line front end.
//!
//! Parses and validates the command line first, then builds the run configuration
//! (ripgrep style). Exit status: 0 when every run met its expectations, 1 when a run did not,
//! 2 for bad input (command line or scenario file).

use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use twsim::{demos, output, replay_cmd};

mod run_cmd;
use run_cmd::{run_sources, DemoMode};
use twsim_model::Profile;
use twsim_sim::scenario::{self, Overrides};

/// mimalloc: a run allocates and frees many small blocks (names, step results, records), and
/// glibc's allocator costs more per block as the live state grows (docs/benchmarks.md,
/// "Allocator"). Allocation order does not reach any output, so the choice keeps every trace
/// and capture byte-identical. `twsim bench --model` reads its heap figure from it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Returns the memory freed so far to the system now (`mi_collect(true)`), rather than after
/// mimalloc's purge delay (1 s). Called once, between reading the scenarios and running (or
/// replaying) them, so that a large script's text, freed once resolved, does not stay
/// resident beside the run: for the 141 165-step port-exhaustion script of docs/benchmarks.md,
/// `run --json` peaked at 133 800–136 200 KiB before this call and 129 500 KiB with it. (A
/// shorter purge delay for the whole run, 10 ms, gave 110 000 KiB but made `twsim bench
/// --scale` about 1.8 times slower.)
fn release_freed_memory() {
    // SAFETY: mi_collect takes no pointers; it only frees the calling thread's and the
    // process's unused pages.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

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
pub(crate) struct Out {
    /// Seed for every random draw (overrides the scenario's).
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// Profile for every host, overriding the scenario and its variants: linux, rfc793,
    /// freebsd, macos, windows-nt4, windows-95, windows-2000, windows-2003, solaris, hpux,
    /// stratus-os-tcp, stratus-stcp, smoltcp. Under `demo`, the story's expectations become
    /// its reference profile's outcomes, and what differs is reported with its source.
    #[arg(long)]
    pub(crate) os: Option<String>,
    /// MSL the endpoints assume, e.g. 30s or 2min.
    #[arg(long)]
    pub(crate) msl: Option<String>,
    /// Run only this variant.
    #[arg(long)]
    pub(crate) variant: Option<String>,
    /// Write the JSON Lines trace here (FILE.VARIANT.EXT when several variants run).
    #[arg(long, value_name = "FILE")]
    pub(crate) trace: Option<PathBuf>,
    /// Write a capture here (FILE.VARIANT.EXT when several variants run): classic pcap
    /// (LINKTYPE_RAW, each segment at delivery), or pcapng when FILE ends in .pcapng (two
    /// interfaces, send and receive side, dropped segments included, a comment on every
    /// packet).
    #[arg(long, value_name = "FILE")]
    pub(crate) pcap: Option<PathBuf>,
    /// Write a ladder diagram (SVG) of each run here (FILE.VARIANT.EXT when several variants
    /// run): one lane per host, segments from send to arrival, TIME-WAIT shaded.
    #[arg(long, value_name = "FILE")]
    pub(crate) svg: Option<PathBuf>,
    /// Print a machine-readable JSON summary instead of the timeline.
    #[arg(long)]
    pub(crate) json: bool,
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
        /// Print every run's timeline (by default only the first run's; the others are rows
        /// of the closing comparison) and how each differs from the story's reference.
        #[arg(long)]
        details: bool,
        #[command(flatten)]
        out: Out,
    },
    /// Replay a scenario's socket calls against the address-table model alone (instant), under
    /// every profile (--all-os), or on this machine's kernel beside the linux profile (--kernel).
    Replay {
        /// Scenario JSON file.
        file: PathBuf,
        /// Profile for every host: linux, rfc793, freebsd, macos, windows-nt4, windows-95,
        /// windows-2000, windows-2003, solaris, hpux, stratus-os-tcp, stratus-stcp, smoltcp.
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
        /// With --kernel: move every host onto 127.0.0.0/8 first (host i to 127.0.0.(i+2),
        /// with every address that names it), so any scenario can be checked against the
        /// kernel without editing it.
        #[arg(long, requires = "kernel")]
        map_loopback: bool,
        /// Print a JSON summary instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run packetdrill scripts (a .pkt file, or every .pkt below a directory) against one
    /// simulated host in virtual time; exit status 1 if any fails (docs/packetdrill.md).
    Packetdrill {
        /// Script file or directory.
        path: PathBuf,
        /// Profile of the host under test.
        #[arg(long, default_value = "linux")]
        os: String,
        /// Define a preprocessor symbol for #ifdef (repeatable), e.g. -D FreeBSD.
        #[arg(short = 'D', value_name = "NAME")]
        define: Vec<String>,
        /// Tolerance on send times in µs, replacing the script's (default: the script's, else
        /// 4000). Real time under load (--kernel) may need more.
        #[arg(long = "tolerance_usecs", value_name = "USECS")]
        tolerance_usecs: Option<u64>,
        /// Only ipv4 is supported (the simulated endpoints are IPv4).
        #[arg(long = "ip_version", default_value = "ipv4")]
        ip_version: String,
        /// Run against this machine's kernel (Linux, root): a private network namespace, a TUN
        /// device, real sockets and real time; only `--os linux`.
        #[arg(long)]
        kernel: bool,
    },
    /// Write one self-contained HTML page for a run's trace: the ladder diagram, a scrubber
    /// over virtual time, filters by host and connection, the record under the cursor.
    View {
        /// A JSON Lines trace of one run (`--trace`).
        trace: PathBuf,
        /// The HTML file to write.
        #[arg(short = 'o', long = "output", value_name = "FILE.html")]
        output: PathBuf,
    },
    /// Run a sweep spec: every point × replication as one JSON line, optionally a summary CSV.
    /// Resumes: runs already in the output are skipped.
    Sweep {
        /// Sweep spec JSON file (docs/sweep-format.md).
        spec: PathBuf,
        /// Results, JSON Lines.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Worker threads (default: the number of cores).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1024))]
        jobs: Option<u64>,
        /// Run only the K-th of N slices of the runs (1 <= K <= N), for array jobs.
        #[arg(long, value_name = "K/N")]
        shard: Option<twsim::sweep::exec::Shard>,
        /// Write the summary CSV here (n, mean, standard error, 95% CI, analytic value).
        #[arg(long, value_name = "FILE")]
        summary: Option<PathBuf>,
    },
    /// Merge results files (shards) into one, sorted; optionally with its summary CSV.
    Merge {
        /// Results files.
        #[arg(required = true)]
        parts: Vec<PathBuf>,
        /// Merged results, JSON Lines.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Write the summary CSV here.
        #[arg(long, value_name = "FILE")]
        summary: Option<PathBuf>,
    },
    /// Plot a metric of a summary CSV against a parameter (SVG): the mean, its 95% confidence
    /// band and the analytic curve where the sweep has one.
    Plot {
        /// Summary CSV (from `twsim sweep --summary` or `twsim merge --summary`).
        summary: PathBuf,
        /// The parameter on the x axis (default: the sweep's first axis).
        #[arg(long)]
        x: Option<String>,
        /// The metric on the y axis (default: the sweep's first metric).
        #[arg(long)]
        y: Option<String>,
        /// The SVG file.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
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
pub(crate) struct Bad(pub(crate) String);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Run { file, out } => {
            read_scenario(&file).and_then(|(name, src)| run_sources(vec![(name, src)], &out, None))
        }
        Cmd::Demo { list: true, .. } => {
            for d in demos::DEMOS {
                println!("{:<34} {}", d.name, d.summary);
            }
            Ok(true)
        }
        Cmd::Demo {
            name, out, details, ..
        } => {
            let name = name.unwrap_or_else(|| demos::DEFAULT.to_string());
            match demos::find(&name) {
                Some(d) => {
                    let srcs: Vec<(String, String)> = d
                        .files
                        .iter()
                        .map(|(f, src)| (format!("<embedded {f}>"), src.to_string()))
                        .collect();
                    run_sources(srcs, &out, Some(DemoMode { details }))
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
            map_loopback,
            json,
        } => read_scenario(&file).and_then(|(name, src)| {
            let mode = ReplayMode {
                all_os,
                kernel,
                map_loopback,
                json,
            };
            replay(&name, src, os, variant, mode)
        }),
        Cmd::Packetdrill {
            path,
            os,
            define,
            tolerance_usecs,
            ip_version,
            kernel,
        } => packetdrill(&path, &os, define, tolerance_usecs, &ip_version, kernel),
        Cmd::View { trace, output } => view(&trace, &output),
        Cmd::Sweep {
            spec,
            output,
            jobs,
            shard,
            summary,
        } => sweep(&spec, &output, jobs, shard, summary.as_deref()),
        Cmd::Merge {
            parts,
            output,
            summary,
        } => twsim::sweep::exec::merge(&parts, &output, summary.as_deref())
            .map(|_| true)
            .map_err(Bad),
        Cmd::Plot {
            summary,
            x,
            y,
            output,
        } => plot(&summary, x.as_deref(), y.as_deref(), &output),
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
                    "  heap bytes per TIME-WAIT record: not measured (the allocator is not mimalloc); the record itself is {} bytes",
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

/// `twsim view`: the trace read (a regular UTF-8 file), the page written all or nothing.
fn view(trace: &Path, html: &Path) -> Result<bool, Bad> {
    let (name, text) = read_scenario(trace)?;
    output::check_all(&[html.to_path_buf()]).map_err(|e| Bad(e.to_string()))?;
    let page = twsim::viewer::page(&text).map_err(|e| Bad(format!("{name}: {e}")))?;
    output::write_all(&[(html.to_path_buf(), page.into_bytes())])
        .map_err(|e| Bad(e.to_string()))?;
    eprintln!("wrote {}", html.display());
    Ok(true)
}

/// `twsim sweep`.
fn sweep(
    spec: &Path,
    out: &Path,
    jobs: Option<u64>,
    shard: Option<twsim::sweep::exec::Shard>,
    summary: Option<&Path>,
) -> Result<bool, Bad> {
    let sw = twsim::sweep::spec::load(spec).map_err(|e| Bad(e.to_string()))?;
    let jobs = jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |j| j as usize,
    );
    let opts = twsim::sweep::exec::Options {
        jobs,
        shard,
        progress: true,
    };
    twsim::sweep::exec::sweep(&sw, out, summary, opts).map_err(Bad)?;
    Ok(true)
}

/// `twsim plot`.
fn plot(summary: &Path, x: Option<&str>, y: Option<&str>, out: &Path) -> Result<bool, Bad> {
    let name = summary.display().to_string();
    let text = std::fs::read_to_string(summary).map_err(|e| Bad(format!("{name}: {e}")))?;
    output::check_all(&[out.to_path_buf()]).map_err(|e| Bad(e.to_string()))?;
    let svg = twsim::sweep::plot::svg(&name, &text, x, y).map_err(Bad)?;
    output::write_all(&[(out.to_path_buf(), svg.into_bytes())]).map_err(|e| Bad(e.to_string()))?;
    Ok(true)
}

/// `twsim replay`.
/// How `twsim replay` runs.
struct ReplayMode {
    all_os: bool,
    kernel: bool,
    map_loopback: bool,
    json: bool,
}

fn replay(
    file: &str,
    text: String,
    os: Option<String>,
    variant: Option<String>,
    mode: ReplayMode,
) -> Result<bool, Bad> {
    let ReplayMode {
        all_os,
        kernel,
        map_loopback,
        json,
    } = mode;
    let src = text.as_str();
    let sc = scenario::parse(file, src).map_err(|e| Bad(e.to_string()))?;
    sc.refuse_workloads(file, src, "twsim replay")
        .map_err(|e| Bad(e.to_string()))?;
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
        emit(&out, json)?;
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
        let mut r = sc
            .resolve(file, src, v, &ov)
            .map_err(|e| Bad(e.to_string()))?;
        if map_loopback {
            r.map_loopback();
        }
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
    // Resolved: the scenario and its text (a large script's whole file) are not needed while
    // the replays run.
    drop(sc);
    drop(text);
    release_freed_memory();
    let mut all_ok = true;
    let mut outs = Vec::new();
    for r in &resolved {
        let out = if kernel {
            kernel_replay(r)?
        } else {
            replay_cmd::model(r, json)
        };
        all_ok &= out.ok;
        outs.push(out);
    }
    if json {
        // Streamed: a script of many steps is not also held as one string.
        to_stdout(|w| {
            match outs.as_slice() {
                [one] => serde_json::to_writer_pretty(&mut *w, &one.json),
                all => serde_json::to_writer_pretty(
                    &mut *w,
                    &all.iter().map(|o| &o.json).collect::<Vec<_>>(),
                ),
            }?;
            writeln!(w)
        })?;
    } else {
        for o in &outs {
            to_stdout(|w| writeln!(w, "{}", o.text))?;
        }
    }
    Ok(all_ok)
}

fn emit(out: &replay_cmd::Outcome, json: bool) -> Result<(), Bad> {
    to_stdout(|w| {
        if json {
            serde_json::to_writer_pretty(&mut *w, &out.json)?;
            writeln!(w)
        } else {
            w.write_all(out.text.as_bytes())
        }
    })
}

/// Writes to standard output through a buffer, flushed at the end. A reader that went away
/// (`twsim replay FILE | head`) is an error naming stdout (exit status 2), as it is for
/// `run`'s timeline, not a panic.
pub(crate) fn to_stdout(
    write: impl FnOnce(&mut std::io::BufWriter<std::io::StdoutLock<'static>>) -> std::io::Result<()>,
) -> Result<(), Bad> {
    let mut w = std::io::BufWriter::new(std::io::stdout().lock());
    write(&mut w)
        .and_then(|()| w.flush())
        .map_err(|e| Bad(format!("stdout: cannot write: {e}")))
}

#[cfg(target_os = "linux")]
fn kernel_replay(r: &scenario::Resolved) -> Result<replay_cmd::Outcome<'static>, Bad> {
    replay_cmd::kernel(r).map_err(Bad)
}

#[cfg(not(target_os = "linux"))]
fn kernel_replay(_r: &scenario::Resolved) -> Result<replay_cmd::Outcome<'static>, Bad> {
    Err(Bad("--kernel needs Linux".into()))
}

/// `twsim packetdrill`: one line per script, then the totals; Ok(false) if any failed.
fn packetdrill(
    path: &Path,
    os: &str,
    define: Vec<String>,
    tolerance_usecs: Option<u64>,
    ip_version: &str,
    kernel: bool,
) -> Result<bool, Bad> {
    use twsim::packetdrill::{report_line, run_source, scripts, Config, Verdict};
    let profile = parse_os(Some(os))?.expect("a name was given");
    if ip_version != "ipv4" {
        return Err(Bad(format!(
            "--ip_version {ip_version}: the simulated endpoints are IPv4 only"
        )));
    }
    let files = scripts(path).map_err(Bad)?;
    if files.is_empty() {
        return Err(Bad(format!("{}: no .pkt scripts", path.display())));
    }
    if kernel && profile != Profile::Linux {
        return Err(Bad(format!(
            "--kernel runs this machine's Linux kernel: --os linux, not {os}"
        )));
    }
    let config = Config {
        profile,
        tolerance_us: tolerance_usecs,
        kernel,
    };
    let defines = define.into_iter().collect();
    let (mut pass, mut fail, mut na) = (0, 0, 0);
    for f in &files {
        let src = std::fs::read_to_string(f).map_err(|e| Bad(format!("{}: {e}", f.display())))?;
        let v = run_source(&src, &defines, &config);
        match v {
            Verdict::Pass => pass += 1,
            Verdict::Fail(..) => fail += 1,
            Verdict::NotApplicable(..) => na += 1,
        }
        println!("{}", report_line(f, &v));
    }
    println!("{pass} passed, {fail} failed, {na} not applicable");
    Ok(fail == 0)
}

/// `--os NAME`, validated.
pub(crate) fn parse_os(name: Option<&str>) -> Result<Option<Profile>, Bad> {
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
