//! Scenario files: the JSON format shared by `twsim run` and the demos.
//!
//! The field-by-field reference is `docs/scenario-format.md`. Loading has two stages, ripgrep
//! style: [`parse`] deserialises the raw file (unknown fields are errors, so typos never pass
//! silently) and [`Scenario::resolve`] validates it into a [`Resolved`] scenario with names
//! turned into indices, durations into microseconds and step times made absolute. Every error
//! names the file, the JSON path (`steps[3].addr`) and the line:column of the offending value.
//!
//! The module is laid out along those stages:
//!
//! - `duplicates`: the walk that refuses a key repeated in an object, before the typed parse;
//! - `format`: the file format, serde structs with `deny_unknown_fields` ([`Scenario`],
//!   [`HostSpec`], [`StepSpec`] …);
//! - `values`: values written as text: durations ([`Dur`], [`parse_duration`]), step times
//!   ([`At`]), socket addresses, errno names, flags and `SO_LINGER`, ISN policies and their
//!   sequence numbers ([`Seq`]);
//! - `resolved`: the validated types ([`Resolved`], [`Host`], [`Step`], [`Call`] …);
//! - `resolve`: [`Scenario::resolve`], one named step per part of the document (settings and
//!   variants, hosts, network, script, checks);
//! - `error`: [`ScenarioError`] and the positions it carries;
//! - `builder`: [`ScenarioBuilder`] and its parts, which write the same document in Rust and
//!   load it through [`parse`] and [`Scenario::resolve`];
//! - `input`: [`read_input`], which reads a scenario or empirical-delay file (a regular file of
//!   at most [`MAX_INPUT_BYTES`], UTF-8).

mod builder;
mod duplicates;
mod error;
mod format;
mod input;
mod resolve;
mod resolved;
mod steps;
#[cfg(test)]
mod test_support;
mod values;

pub use builder::{
    CheckBuilder, Delay, FaultBuilder, HostBuilder, Isn, MatchBuilder, RouteBuilder,
    ScenarioBuilder, StepBuilder, TimeWaitBuilder, VariantBuilder, BUILDER_FILE,
};
pub use error::{elide, ScenarioError, SHOWN_CHARS};
pub use format::{
    ActionObject, ActionSpec, CheckSpec, DelaySpec, DistSpec, EmpiricalSpec, ExpSpec, FaultSpec,
    FromPortSpec, HostSpec, IsnObject, IsnSpec, MatchSpec, NetworkSpec, NormalSpec, NoteSpec,
    PoissonSpec, RateSpec, RouteSpec, Scenario, StepSpec, TimeWaitSpec, VariantSpec, WorkloadSpec,
};
pub use input::{read_input, InputError, MAX_INPUT_BYTES};
pub use resolve::{is_safe_name, MAX_CONNECTIONS, MAX_NAME_CHARS, MAX_VIRTUAL_TIME};
pub use resolved::{
    Action, Call, Check, Fault, Host, HostTiming, Ipv6Use, Note, Overrides, Resolved, Route,
    SockOpt, Step, TimeWaitOverride, WaitFor,
};
pub use resolved::{Arrivals, Rate, Workload, WorkloadEnd};
pub use steps::Steps;
pub use values::{parse_duration, At, Dur, Seq};

use crate::locate::{locate, locate_key, locate_nth_key};

/// Parses a scenario document. `file` is only used in error messages.
///
/// # Errors
///
/// A [`ScenarioError`] for text that is not JSON, a key repeated in an object, an array where
/// an object is expected, an unknown field, a missing field, a value
/// of the wrong type (a bad duration, an out-of-range number) or anything but white space
/// after the document; its position points at the offending key or value.
pub fn parse(file: &str, src: &str) -> Result<Scenario, ScenarioError> {
    // A key repeated in one object (a map would keep the last value) is refused first.
    if let Some(d) = duplicates::first_duplicate(src) {
        let segs = d.object_segs();
        let second = locate_nth_key(src, &segs, &d.key, 2);
        let first = locate_nth_key(src, &segs, &d.key, 1);
        let (line, column) = second.unwrap_or((1, 1));
        return Err(ScenarioError {
            file: file.to_string(),
            path: d.path(),
            line,
            column,
            message: match first {
                Some((l, c)) => format!(
                    "duplicate key {:?} (first at line {l}, column {c}); a key appears once per \
                     object",
                    d.key
                ),
                None => format!("duplicate key {:?}", d.key),
            },
        });
    }
    // Read twice: first with every step read into a `StepSpec` where it stands and dropped
    // (`steps::check_steps`), so that any error is the first in document order, with its
    // full path and serde's own position, as if the steps were kept as `StepSpec`s; then with
    // each step kept as its text (`Steps`), which cannot fail where the first read did not.
    steps::check_steps(|| read(file, src))?;
    read(file, src)
}

/// The document read into a [`Scenario`], and anything after it refused.
fn read(file: &str, src: &str) -> Result<Scenario, ScenarioError> {
    let de = &mut serde_json::Deserializer::from_str(src);
    let res: Result<Scenario, _> = serde_path_to_error::deserialize(&mut *de);
    let sc = res.map_err(|e| {
        let path = e.path().to_string();
        serde_error(file, src, path, e.into_inner())
    })?;
    // Anything but white space after the document is an error.
    de.end()
        .map_err(|e| serde_error(file, src, String::new(), e))?;
    Ok(sc)
}

/// The [`ScenarioError`] for serde's error `inner` at JSON `path` (serde_path_to_error's form:
/// `.` for the root, `?` for a position it could not name) in the document `src` read from
/// `file`. A value that is well-formed JSON but wrong for its field (a bad duration, an
/// out-of-range number) is reported by serde after the value; it is pointed at by its path
/// (an unknown field at its key); anything else at serde's own position. The message is
/// serde's, without the position serde_json appends to it.
pub fn serde_error(file: &str, src: &str, path: String, inner: serde_json::Error) -> ScenarioError {
    let msg = inner.to_string();
    // serde_json appends " at line L column C"; keep the message without it.
    let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
    let path = match path.as_str() {
        "." => String::new(),
        p => p.trim_end_matches(".?").trim_end_matches('?').to_string(),
    };
    let found = (inner.classify() == serde_json::error::Category::Data && !path.is_empty())
        .then(|| by_path(src, &path, &msg))
        .flatten();
    let (line, column) = found.unwrap_or((inner.line(), inner.column()));
    ScenarioError {
        file: file.to_string(),
        path,
        line: line.max(1),
        column: column.max(1),
        message: msg,
    }
}

/// Where serde's error `msg` about the value at JSON `path` points in `src`: an unknown field
/// at its key, anything else at the value.
fn by_path(src: &str, path: &str, msg: &str) -> Option<(usize, usize)> {
    if msg.starts_with("unknown field") {
        locate_key(src, path)
    } else {
        locate(src, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_reports_the_position_of_an_unknown_field() {
        let src = "{\"name\": \"x\", \"hosts\": [], \"steps\": [], \"bogus\": 1}";
        let e = parse("f.json", src).unwrap_err();
        assert_eq!((e.line, e.column), (1, 41));
        assert!(e.message.starts_with("unknown field `bogus`"), "{e}");
    }

    #[test]
    fn parse_refuses_trailing_text() {
        let src = "{\"name\": \"x\", \"hosts\": [], \"steps\": []} x";
        let e = parse("f.json", src).unwrap_err();
        assert_eq!(e.path, "");
        assert!(e.to_string().starts_with("f.json:1:"), "{e}");
    }

    #[test]
    fn parse_points_at_a_bad_sequence_number() {
        let src = "{\"name\": \"x\", \"hosts\": [\n  {\"name\": \"a\", \"addr\": \"10.0.0.1\", \
                   \"isn\": {\"scripted\": [1, 2, 4294967296]}}], \"steps\": []}";
        let e = parse("f.json", src).unwrap_err();
        assert_eq!(e.path, "hosts[0].isn.scripted[2]");
        assert_eq!((e.line, e.column), (2, 64));
        assert!(
            e.message
                .starts_with("invalid value: integer `4294967296`, expected a sequence number"),
            "{e}"
        );
        let src = "{\"name\": \"x\", \"isn\": {\"constant\": -1, \"x\": 1}, \"hosts\": [], \"steps\": []}";
        let e = parse("f.json", src).unwrap_err();
        assert_eq!(e.path, "isn.constant");
        assert_eq!((e.line, e.column), (1, 35));
        let src = "{\"name\": \"x\", \"isn\": true, \"hosts\": [], \"steps\": []}";
        let e = parse("f.json", src).unwrap_err();
        assert_eq!(e.path, "isn");
        assert_eq!((e.line, e.column), (1, 22));
        assert!(e
            .message
            .starts_with("invalid type: boolean `true`, expected an ISN policy"));
    }

    /// A step is kept as its text and read when resolved; its errors are still found by
    /// `parse`, at the same path and position as any other field's.
    #[test]
    fn a_bad_step_is_refused_by_parse_where_it_is() {
        let src = "{\"name\": \"x\", \"hosts\": [{\"name\": \"a\", \"addr\": \"10.0.0.1\"}],\n\
                   \"steps\": [{\"host\": \"a\", \"call\": \"socket\", \"sock\": \"s\"},\n\
                   {\"host\": \"a\", \"call\": \"bind\", \"sock\": \"s\", \"adr\": \"x\"}]}";
        let e = parse("f.json", src).unwrap_err();
        let line = src.lines().nth(2).unwrap();
        assert_eq!(
            (e.line, e.column),
            (3, line.find("\"adr\"").unwrap() + 1),
            "{e}"
        );
        assert!(e.path.starts_with("steps[1]"), "{e}");
        assert!(e.message.starts_with("unknown field `adr`"), "{e}");
        let e = parse("f.json", &src.replace("\"bind\"", "7")).unwrap_err();
        assert_eq!(e.path, "steps[1].call", "{e}");
        assert_eq!(
            (e.line, e.column),
            (3, line.find("\"bind\"").unwrap() + 1),
            "{e}"
        );
        let e = parse(
            "f.json",
            &src.replace(
                "{\"host\": \"a\", \"call\": \"bind\", \"sock\": \"s\", \"adr\": \"x\"}",
                "[1]",
            ),
        )
        .unwrap_err();
        assert_eq!(e.path, "steps[1]", "{e}");
        assert!(e.message.contains("expected a step object"), "{e}");
        // The first error in document order: a bad step before a bad field after the steps.
        let e = parse("f.json", &src.replace("]}", "], \"bogus\": 1}")).unwrap_err();
        assert!(e.message.starts_with("unknown field `adr`"), "{e}");
        assert_eq!(e.line, 3, "{e}");
        // A syntax error inside a step keeps the field in its path.
        let e = parse("f.json", &src.replace("\"adr\": \"x\"", "\"adr\": x")).unwrap_err();
        assert_eq!(e.path, "steps[1].adr", "{e}");
        let good = src.replace(", \"adr\": \"x\"", ", \"addr\": \"0.0.0.0:80\"");
        let sc = parse("f.json", &good).unwrap();
        assert_eq!(sc.steps.len(), 2);
        assert_eq!(
            sc.steps.get(1).unwrap().unwrap().addr.as_deref(),
            Some("0.0.0.0:80")
        );
        assert!(sc
            .steps
            .text(1)
            .unwrap()
            .starts_with("{\"host\": \"a\", \"call\": \"bind\""));
        // A scenario deserialized by other means than `parse` has its steps read by
        // `resolve`: a bad one is an error there, not a panic.
        let sc: Scenario = serde_json::from_str(src).unwrap();
        let e = sc
            .resolve("f.json", src, None, &Overrides::default())
            .unwrap_err();
        assert!(e.path.starts_with("steps[1]"), "{e}");
        assert!(e.message.starts_with("unknown field `adr`"), "{e}");
    }

    #[test]
    fn parse_points_at_a_bad_duration() {
        let src = "{\"name\": \"x\", \"msl\": \"ten\", \"hosts\": [], \"steps\": []}";
        let e = parse("f.json", src).unwrap_err();
        assert_eq!(e.path, "msl");
        assert_eq!((e.line, e.column), (1, 22));
        assert!(e.message.starts_with("bad duration \"ten\""), "{e}");
    }
}
