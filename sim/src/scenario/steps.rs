//! The socket-call script as read ([`Steps`]): each step's JSON text, kept rather than a
//! [`StepSpec`] per step, and the first read of a document in which every step is read in
//! place and dropped, for its errors ([`check_steps`]).

use super::format::StepSpec;
use serde::Deserialize;
use std::fmt;

/// The socket-call script as read: each step's JSON text, checked to be a [`StepSpec`] by
/// [`parse`](super::parse) (which reads the document once with every step read in place and
/// dropped, for its errors) and read into one again, a step at a time, where it is used
/// ([`Steps::get`], [`Steps::iter`]). A script of many steps is so held as its text, about
/// its size in the file, rather than as one [`StepSpec`] of about 500 bytes per step: a
/// 141 165-step port-exhaustion script read into `StepSpec`s took 130 MB at its peak.
#[derive(Debug, Clone, Default)]
pub struct Steps(Vec<Box<serde_json::value::RawValue>>);

impl Steps {
    /// How many steps the script has.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the script has no step.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Step `i`'s JSON text, as in the file.
    pub fn text(&self, i: usize) -> Option<&str> {
        self.0.get(i).map(|r| r.get())
    }

    /// Step `i` read into a [`StepSpec`]; `None` past the end.
    ///
    /// # Errors
    ///
    /// The step is not a valid step object (never for a scenario from [`parse`](super::parse),
    /// which checks every step; possible for one deserialized by other means): serde's error,
    /// with the path inside the step.
    pub fn get(
        &self,
        i: usize,
    ) -> Option<Result<StepSpec, serde_path_to_error::Error<serde_json::Error>>> {
        self.0.get(i).map(|r| read_step(r.get()))
    }

    /// Every step, in order, read as by [`Steps::get`].
    pub fn iter(
        &self,
    ) -> impl ExactSizeIterator<Item = Result<StepSpec, serde_path_to_error::Error<serde_json::Error>>>
           + '_ {
        self.0.iter().map(|r| read_step(r.get()))
    }
}

/// A step's JSON text read into a [`StepSpec`], with the path of what is wrong inside it.
fn read_step(text: &str) -> Result<StepSpec, serde_path_to_error::Error<serde_json::Error>> {
    serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(text))
}

impl<'de> Deserialize<'de> for Steps {
    /// Each step's text; while `parse` checks the steps, each step read into a [`StepSpec`]
    /// where it stands (so that an error in it has its full path and position) and dropped.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if CHECKING.with(std::cell::Cell::get) {
            d.deserialize_seq(CheckEach).map(|()| Steps::default())
        } else {
            Vec::deserialize(d).map(Steps)
        }
    }
}

/// Reads a list of steps, each into a [`StepSpec`] that is dropped at once.
struct CheckEach;

impl<'de> serde::de::Visitor<'de> for CheckEach {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // As `Vec<StepSpec>` says it.
        f.write_str("a sequence")
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<StepSpec>()?.is_some() {}
        Ok(())
    }
}

thread_local! {
    /// Whether [`Steps`] is being read for its errors only ([`check_steps`]).
    static CHECKING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with [`Steps`] read for their errors only: every step is read into a
/// [`StepSpec`] in place, in the same pass as the rest of the document, exactly as a
/// `Vec<StepSpec>` would be read (the same paths, positions and nesting limit), and dropped at
/// once; the scenario comes out with no steps. [`parse`](super::parse) reads every document
/// this way first.
pub(super) fn check_steps<T>(f: impl FnOnce() -> T) -> T {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            CHECKING.with(|s| s.set(false));
        }
    }
    CHECKING.with(|s| s.set(true));
    let _reset = Reset;
    f()
}
