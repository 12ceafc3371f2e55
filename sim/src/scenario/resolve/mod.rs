//! [`Scenario::resolve`]: validation of a parsed scenario into a [`Resolved`] one, in named
//! steps that follow the document: settings and variants (`variants`), hosts (`hosts`),
//! routes and faults (`network`), the socket-call script (`script`) and checks (`checks`).
//!
//! The steps run in document order and each stops at its first error, so a file with several
//! mistakes reports the same one every time.

mod checks;
mod hosts;
mod isn;
mod network;
mod script;
mod time;
mod variants;
mod workloads;

pub use time::MAX_VIRTUAL_TIME;
pub use variants::{is_safe_name, MAX_NAME_CHARS};
pub use workloads::MAX_CONNECTIONS;

use super::error::{Ctx, ScenarioError};
use super::format::Scenario;
use super::resolved::{Overrides, Resolved};
use twsim_model::Duration;

impl Scenario {
    /// The variant names, in file order (empty if the scenario has none).
    pub fn variant_names(&self) -> Vec<String> {
        self.variants.iter().map(|v| v.name.clone()).collect()
    }

    /// Refuses a scenario with workloads where only the script can run (`twsim replay`: the
    /// replays play steps, not generated connections).
    ///
    /// # Errors
    ///
    /// A [`ScenarioError`] positioned at `workloads[0]`.
    pub fn refuse_workloads(&self, file: &str, src: &str, what: &str) -> Result<(), ScenarioError> {
        if self.workloads.is_empty() {
            return Ok(());
        }
        Err(Ctx { file, src }.err(
            "workloads[0]",
            format!("{what} plays the steps only; workloads run in `twsim run`"),
        ))
    }

    /// Validates the scenario for one variant (`None` = the base scenario) with `ov` applied
    /// last. `src` is the file text, for error positions.
    ///
    /// Refuses a script that could run past [`MAX_VIRTUAL_TIME`].
    ///
    /// Defaults filled in: seed 1, profile `linux`, one 1 ms route named `default` when there
    /// are none, a network lifetime of 2 min, 1 h of lingering after the last step.
    ///
    /// # Errors
    ///
    /// The first invalid value in document order, as a [`ScenarioError`] naming `file`, the
    /// JSON path of the value and its line:column in `src`.
    ///
    /// # Panics
    ///
    /// If `variant` is `Some(i)` with `i` not below `self.variants.len()`.
    pub fn resolve(
        &self,
        file: &str,
        src: &str,
        variant: Option<usize>,
        ov: &Overrides,
    ) -> Result<Resolved, ScenarioError> {
        let ctx = Ctx { file, src };
        let settings = variants::settings(&ctx, self, variant, ov)?;
        let hosts = hosts::hosts(&ctx, self, &settings)?;
        let routes = network::routes(&ctx, &self.network, &hosts)?;
        let faults = network::faults(&ctx, &self.network, &hosts, &routes)?;
        let mut steps = script::steps(&ctx, &self.steps, &hosts)?;
        if let Some(vi) = variant {
            variants::expectations(&ctx, vi, &self.variants[vi], &mut steps)?;
        }
        let checks = checks::checks(&ctx, &self.checks, &hosts)?;
        let linger_after_steps = self
            .linger_after_steps
            .map_or(Duration::from_secs(3600), |d| d.0);
        time::bounded(&ctx, &self.steps, &steps, linger_after_steps)?;
        let workloads = workloads::workloads(&ctx, &self.workloads, &hosts, linger_after_steps)?;
        if steps.is_empty() && workloads.is_empty() {
            return Err(ctx.err("steps", "a scenario needs at least one step or workload"));
        }
        Ok(Resolved {
            name: self.name.clone(),
            variant: settings.variant,
            description: self.description.clone(),
            source: self.source.clone(),
            seed: settings.seed,
            msl: settings.msl,
            hosts,
            max_lifetime: self
                .network
                .max_lifetime
                .map_or(Duration::from_secs(120), |d| d.0),
            routes,
            faults,
            steps,
            checks,
            linger_after_steps,
            reference: None,
            workloads,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{parse, Call, Overrides, Resolved, ScenarioError};
    use twsim_model::{Duration, Profile};

    /// Parses and resolves `src` (base scenario, no overrides).
    pub(super) fn resolve(src: &str) -> Result<Resolved, ScenarioError> {
        resolve_with(src, None, &Overrides::default())
    }

    /// Parses and resolves `src` for `variant` with `ov`.
    pub(super) fn resolve_with(
        src: &str,
        variant: Option<usize>,
        ov: &Overrides,
    ) -> Result<Resolved, ScenarioError> {
        parse("t.json", src)
            .expect("the test scenario parses")
            .resolve("t.json", src, variant, ov)
    }

    /// The error of resolving `src`, as `PATH: MESSAGE`.
    pub(super) fn error(src: &str) -> String {
        let e = resolve(src).expect_err("the test scenario is invalid");
        format!("{}: {}", e.path, e.message)
    }

    const MINIMAL: &str = r#"{"name": "m",
        "hosts": [{"name": "a", "addr": "10.0.0.1"}],
        "steps": [{"host": "a", "call": "socket", "sock": "s"}]}"#;

    #[test]
    fn defaults_fill_what_the_file_leaves_out() {
        let r = resolve(MINIMAL).unwrap();
        assert_eq!(r.seed, 1);
        assert_eq!(r.msl, None);
        assert_eq!(r.hosts[0].profile, Profile::Linux);
        assert_eq!(r.routes.len(), 1);
        assert_eq!(r.routes[0].name, "default");
        assert_eq!(r.max_lifetime, Duration::from_secs(120));
        assert_eq!(r.linger_after_steps, Duration::from_secs(3600));
        assert!(matches!(r.steps[0].call, Call::Socket(..)));
        assert!(r.variant.is_none() && r.faults.is_empty() && r.checks.is_empty());
    }

    #[test]
    fn errors_name_the_first_invalid_value() {
        let src = r#"{"name": "m",
            "hosts": [{"name": "a", "addr": "10.0.0.1"}, {"name": "a", "addr": "x"}],
            "steps": []}"#;
        let e = resolve(src).unwrap_err();
        assert_eq!(e.path, "hosts[1].name");
        assert_eq!((e.line, e.column), (2, 67));
        assert_eq!(e.message, "duplicate host name \"a\"");
    }
}
