//! Helpers of the scenario module's unit tests.

use super::error::Ctx;

/// A JSON value from its text.
pub(super) fn v(text: &str) -> serde_json::Value {
    serde_json::from_str(text).expect("valid JSON")
}

/// An error context for a file `t.json` holding `{}`.
pub(super) const CTX: Ctx = Ctx {
    file: "t.json",
    src: "{}",
};
