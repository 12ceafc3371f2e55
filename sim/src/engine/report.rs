//! What a run produced: step results, TIME-WAIT records and the scenario's checks.

use super::{script::Cursor, Sim, StepResult};
use super::{Occupancy, WorkloadStats, Workloads};
use crate::event::{Event, RunEnd};
use crate::trace::Recorder;
use twsim_model::{Duration, Instant};

/// A TIME-WAIT record's life, for the summary.
#[derive(Debug, Clone)]
pub struct TimeWaitSummary {
    /// Host name.
    pub host: String,
    /// 4-tuple as text.
    pub tuple: String,
    /// Local port.
    pub port: u16,
    /// Incarnation of the 4-tuple.
    pub incarnation: u32,
    /// When it began.
    pub entered_at: Instant,
    /// When it ended (`None`: still alive when the run stopped).
    pub ended_at: Option<Instant>,
    /// End reason name.
    pub reason: &'static str,
    /// Timer restarts.
    pub restarts: u32,
}

/// A check's outcome.
#[derive(Debug, Clone)]
pub struct CheckResult {
    /// What was checked.
    pub what: String,
    /// Whether it held.
    pub ok: bool,
}

/// Everything a run produced.
pub struct RunReport {
    /// Scenario name.
    pub name: String,
    /// Variant name.
    pub variant: Option<String>,
    /// Seed.
    pub seed: u64,
    /// (name, address, profile name, TIME-WAIT length) per host.
    pub hosts: Vec<(String, String, &'static str, Duration)>,
    /// Step outcomes, in order.
    pub steps: Vec<StepResult>,
    /// Steps never reached (the run stopped first).
    pub unreached: usize,
    /// TIME-WAIT records.
    pub time_wait: Vec<TimeWaitSummary>,
    /// Checks.
    pub checks: Vec<CheckResult>,
    /// When the run stopped.
    pub ended_at: Instant,
    /// Segments put on the wire, counting copies.
    pub segments: u64,
    /// Recorded trace and capture.
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
        let hosts = self
            .sc
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
            .collect();
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

    /// Every TIME-WAIT record of the run, host by host: the ended ones in the order they
    /// ended, then the ones still alive.
    fn time_wait_lives(&self) -> Vec<TimeWaitSummary> {
        let mut tw = Vec::new();
        for h in &self.hosts {
            for l in &h.tw_log {
                tw.push(TimeWaitSummary {
                    host: h.name.clone(),
                    tuple: l.record.tuple.to_string(),
                    port: l.record.tuple.local.port(),
                    incarnation: l.record.incarnation,
                    entered_at: l.record.entered_at,
                    ended_at: Some(l.ended_at),
                    reason: l.reason.name(),
                    restarts: l.record.restarts(),
                });
            }
            for r in h.live_time_wait() {
                tw.push(TimeWaitSummary {
                    host: h.name.clone(),
                    tuple: r.tuple.to_string(),
                    port: r.tuple.local.port(),
                    incarnation: r.incarnation,
                    entered_at: r.entered_at,
                    ended_at: None,
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
                    let lived = t.ended_at.map(|e| e - t.entered_at);
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
