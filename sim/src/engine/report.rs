//! What a run produced: step results, TIME-WAIT records and the scenario's checks.

use super::{script::Cursor, Sim, StepResult};
use super::{Occupancy, WorkloadStats, Workloads};
use crate::event::{Event, RunEnd};
use crate::trace::Recorder;
use twsim_model::{Duration, Instant};

/// One TIME-WAIT record's whole life, as [`RunReport::time_wait`] lists it. Times are
/// virtual, in µs since the start of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeWaitSummary {
    /// Name of the host that held the record.
    pub host: String,
    /// The 4-tuple as text, local first: `10.0.0.2:9099<->10.0.0.1:56714`.
    pub tuple: String,
    /// Local port of the 4-tuple.
    pub port: u16,
    /// Which incarnation of the 4-tuple on this host the record belongs to (1 = first).
    pub incarnation: u32,
    /// When TIME-WAIT began: the final ACK left (µs).
    pub entered_at: Instant,
    /// When the record ended (µs); `None`: still alive when the run stopped.
    pub ended_at: Option<Instant>,
    /// How long the record lived, `ended_at − entered_at` (µs); `None` while alive. Equal to
    /// the host's TIME-WAIT length for a record that expired without restarts.
    pub lived: Option<Duration>,
    /// The TIME-WAIT length the record started and restarted with (µs): the host's, or the
    /// socket's SO_LINGER time where the profile uses it (Stratus STCP).
    pub length: Duration,
    /// Why it ended, `twsim_model::EndReason::name`: `expired` (its timer ran out),
    /// `assassinated` (an RST killed it, RFC 1337; or an in-window SYN under RFC 793's rule,
    /// or data under XNU's), `reused_by_syn` (a new SYN reopened the 4-tuple, RFC 1122
    /// §4.2.2.13), `recycled_by_connect` (a local connect() took the 4-tuple, Linux
    /// `tcp_twsk_unique`); `alive` while it has not ended.
    pub reason: &'static str,
    /// How many times a segment restarted its timer.
    pub restarts: u32,
}

/// A check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// What was checked.
    pub what: String,
    /// Whether it held.
    pub ok: bool,
}

/// Everything a run produced, from [`super::run`]. Times are virtual, in µs since the start
/// of the run.
///
/// ```
/// use twsim_sim::engine::{run, RunOptions};
/// use twsim_sim::scenario::{HostBuilder, ScenarioBuilder, StepBuilder};
/// use twsim_model::Duration;
///
/// // One connection, closed by the server first.
/// let sc = ScenarioBuilder::new("one-connection")
///     .host(HostBuilder::new("server", "10.0.0.2"))
///     .host(HostBuilder::new("client", "10.0.0.1"))
///     .step(StepBuilder::socket("server", "L"))
///     .step(StepBuilder::bind("server", "L", "0.0.0.0:80"))
///     .step(StepBuilder::listen("server", "L"))
///     .step(StepBuilder::socket("client", "C"))
///     .step(StepBuilder::connect("client", "C", "10.0.0.2:80").expect_ok())
///     .step(StepBuilder::accept("server", "L", "A"))
///     .step(StepBuilder::close("server", "A"))
///     .step(StepBuilder::close("client", "C").after(Duration::from_millis(10)))
///     .build()
///     .unwrap();
/// let report = run(&sc, RunOptions::default());
/// assert!(report.ok(), "{report:?}");
/// // The server closed first, so it holds the TIME-WAIT: Linux's 60 s, then it expires.
/// let tw = &report.time_wait[0];
/// assert_eq!((tw.host.as_str(), tw.reason), ("server", "expired"));
/// assert_eq!(tw.lived, Some(Duration::from_secs(60)));
/// assert_eq!(tw.restarts, 0);
/// ```
#[derive(Debug)]
pub struct RunReport {
    /// Scenario name.
    pub name: String,
    /// Variant name (`None`: the base scenario).
    pub variant: Option<String>,
    /// Seed of the run.
    pub seed: u64,
    /// Per host, in scenario order: (name, address, profile name, TIME-WAIT length in µs
    /// after a plain close).
    pub hosts: Vec<(String, String, &'static str, Duration)>,
    /// Outcome of every step that completed, in order.
    pub steps: Vec<StepResult>,
    /// Steps never reached (the run stopped first).
    pub unreached: usize,
    /// Every TIME-WAIT record of the run, host by host: those that ended, in the order they
    /// ended, then those still alive at the end (lifetime, restarts and end reason each).
    pub time_wait: Vec<TimeWaitSummary>,
    /// The scenario's checks, evaluated after the run.
    pub checks: Vec<CheckResult>,
    /// When the run stopped (µs).
    pub ended_at: Instant,
    /// Segments put on the wire, counting copies.
    pub segments: u64,
    /// Recorded trace, capture and timeline (what [`super::RunOptions`] asked for).
    pub recorder: Recorder,
    /// Why the run stopped early, if it did.
    pub aborted: Option<String>,
    /// Stale-segment hazards, summed over the hosts.
    pub hazards: crate::host::Hazards,
    /// The reference profile whose outcomes the expectations are ([`Resolved::reference`]):
    /// when set, an unmet expectation is a difference from the story, not a failure.
    ///
    /// [`Resolved::reference`]: crate::scenario::Resolved::reference
    pub reference: Option<twsim_model::Profile>,
    /// The scenario's description.
    pub description: Option<String>,
    /// The scenario's source.
    pub source: Option<String>,
    /// What each workload did, in scenario order (empty without workloads).
    pub workloads: Vec<WorkloadStats>,
    /// TIME-WAIT occupancy per host (empty without workloads).
    pub occupancy: Vec<Occupancy>,
}

impl RunReport {
    /// Whether every expectation and check held and the script ran to its end. With a
    /// [`reference`](Self::reference), expectations and checks are the story's outcomes under
    /// that profile, not requirements: only a run that stopped early is not OK.
    pub fn ok(&self) -> bool {
        self.unreached == 0
            && self.aborted.is_none()
            && (self.reference.is_some()
                || (self.steps.iter().all(|s| s.met != Some(false))
                    && self.checks.iter().all(|c| c.ok)))
    }
}

impl Sim<'_> {
    /// The run's report; emits the `end` record.
    pub(super) fn report(
        mut self,
        cur: Cursor,
        wl: Workloads,
        aborted: Option<String>,
    ) -> RunReport {
        let steps = cur.results;
        let unreached = self.sc.steps.len() - cur.next;
        let time_wait = self.time_wait_lives();
        let checks = self.checks(&time_wait);
        let hosts = self.host_rows();
        let end = Event::End(RunEnd {
            steps: steps.len(),
            unreached,
            segments: self.segments,
            aborted: aborted.clone(),
        });
        self.rec.emit(self.now, None, &end);
        let mut hazards = crate::host::Hazards::default();
        for h in &self.hosts {
            hazards.add(&h.hazards);
        }
        let (workloads, mut occupancy) = if self.sc.workloads.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            wl.into_stats()
        };
        for (o, h) in occupancy.iter_mut().zip(&self.hosts) {
            o.records = h.tw_unlogged + h.live_time_wait_unlogged() as u64;
        }
        RunReport {
            workloads,
            occupancy,
            name: self.sc.name.clone(),
            variant: self.sc.variant.clone(),
            seed: self.sc.seed,
            hosts,
            steps,
            unreached,
            time_wait,
            checks,
            ended_at: self.now,
            segments: self.segments,
            recorder: self.rec,
            aborted,
            hazards,
            reference: self.sc.reference,
            description: self.sc.description.clone(),
            source: self.sc.source.clone(),
        }
    }

    /// Per host, in scenario order: (name, address, profile name, TIME-WAIT length in µs
    /// after a plain close), as [`RunReport::hosts`] lists them.
    fn host_rows(&self) -> Vec<(String, String, &'static str, Duration)> {
        self.sc
            .hosts
            .iter()
            .zip(&self.hosts)
            .map(|(s, h)| {
                (
                    s.name.clone(),
                    s.addr.to_string(),
                    s.profile.name(),
                    h.tw_len,
                )
            })
            .collect()
    }

    /// Writes the run's heading to a streamed timeline ([`crate::trace::heading`]; the text
    /// summary prints it before a timeline kept in memory).
    pub(super) fn timeline_heading(&mut self) {
        if self.rec.streams_timeline() {
            let sc = self.sc;
            let text =
                crate::trace::heading(&sc.name, sc.variant.as_deref(), sc.seed, &self.host_rows());
            self.rec.timeline_heading(&text);
        }
    }

    /// Every TIME-WAIT record of the run, host by host: the ended ones in the order they
    /// ended, then the ones still alive.
    fn time_wait_lives(&self) -> Vec<TimeWaitSummary> {
        let alive: Vec<_> = self.hosts.iter().map(|h| h.live_time_wait()).collect();
        let n = self.hosts.iter().map(|h| h.tw_log.len()).sum::<usize>()
            + alive.iter().map(Vec::len).sum::<usize>();
        // Sized once: one entry per record.
        let mut tw = Vec::with_capacity(n);
        for (h, alive) in self.hosts.iter().zip(alive) {
            for l in &h.tw_log {
                tw.push(TimeWaitSummary {
                    host: h.name.clone(),
                    tuple: l.record.tuple.to_string(),
                    port: l.record.tuple.local.port(),
                    incarnation: l.record.incarnation,
                    entered_at: l.record.entered_at,
                    ended_at: Some(l.ended_at),
                    lived: Some(l.ended_at - l.record.entered_at),
                    length: l.record.length,
                    reason: l.reason.name(),
                    restarts: l.record.restarts(),
                });
            }
            for r in alive {
                tw.push(TimeWaitSummary {
                    host: h.name.clone(),
                    tuple: r.tuple.to_string(),
                    port: r.tuple.local.port(),
                    incarnation: r.incarnation,
                    entered_at: r.entered_at,
                    ended_at: None,
                    lived: None,
                    length: r.length,
                    reason: "alive",
                    restarts: r.restarts(),
                });
            }
        }
        tw
    }

    /// The scenario's checks on TIME-WAIT records: count per host and port, then each
    /// record's lifetime and restarts where asked.
    fn checks(&self, tw: &[TimeWaitSummary]) -> Vec<CheckResult> {
        let mut checks = Vec::new();
        for c in &self.sc.checks {
            let h = &self.hosts[c.host];
            let mine: Vec<&TimeWaitSummary> = tw
                .iter()
                .filter(|t| t.host == h.name && c.port.is_none_or(|p| t.port == p))
                .collect();
            let port = c
                .port
                .map_or("any port".to_string(), |p| format!("port {p}"));
            let count_ok = c.count.map_or(!mine.is_empty(), |n| mine.len() == n);
            checks.push(CheckResult {
                what: format!(
                    "{}: TIME-WAIT records on {port}: {} (expected {})",
                    h.name,
                    mine.len(),
                    c.count.map_or("at least 1".into(), |n| n.to_string())
                ),
                ok: count_ok,
            });
            for t in &mine {
                if let Some(d) = c.duration {
                    let want = d.unwrap_or(h.tw_len);
                    let lived = t.lived;
                    checks.push(CheckResult {
                        what: format!(
                            "{}: TIME-WAIT {} lived {} (expected {want})",
                            h.name,
                            t.tuple,
                            lived.map_or("(still alive)".into(), |l| l.to_string())
                        ),
                        ok: lived == Some(want),
                    });
                }
                if let Some(n) = c.restarts {
                    checks.push(CheckResult {
                        what: format!(
                            "{}: TIME-WAIT {} restarted {} time(s) (expected {n})",
                            h.name, t.tuple, t.restarts
                        ),
                        ok: t.restarts == n,
                    });
                }
            }
        }
        checks
    }
}
