//! [`ScenarioError`], and the context that gives validation errors their position.

use crate::locate::locate;
use std::fmt;

/// An error in a scenario file. Displays as `FILE:LINE:COL: PATH: MESSAGE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file name as given by the user (or `<embedded NAME>` for demos).
    pub file: String,
    /// JSON path of the offending value, e.g. `steps[3].addr`; empty for the whole document.
    pub path: String,
    /// 1-based line, if known.
    pub line: usize,
    /// 1-based column, if known.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    /// Long values in the path and the message are elided ([`elide`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", elide(&self.path))?;
        }
        f.write_str(&elide(&self.message))
    }
}

/// Longest quoted value shown whole in a message, in characters.
pub const SHOWN_CHARS: usize = 64;

/// Longest message shown whole, in characters.
const MESSAGE_CHARS: usize = 1000;

/// `msg` with every quoted value (`"…"` with its escapes, or `` `…` ``) longer than
/// [`SHOWN_CHARS`] characters cut to its first ones, `…` and the number of characters left
/// out, and the whole cut to 1000 characters, so that an error never echoes a huge value.
pub fn elide(msg: &str) -> String {
    let mut out = String::new();
    let mut rest = msg;
    while let Some(open) = rest.find(['"', '`']) {
        let quote = rest.as_bytes()[open];
        out.push_str(&rest[..=open]);
        let body = &rest[open + 1..];
        // The closing quote (a `"` value may hold escaped quotes).
        let mut close = None;
        let mut escaped = false;
        for (i, b) in body.bytes().enumerate() {
            match b {
                b'\\' if quote == b'"' && !escaped => escaped = true,
                b if b == quote && !escaped => {
                    close = Some(i);
                    break;
                }
                _ => escaped = false,
            }
        }
        let Some(close) = close else {
            rest = body;
            break;
        };
        let value = &body[..close];
        let n = value.chars().count();
        // Already elided (a message elided twice reads the same).
        let done = n == SHOWN_CHARS + 1 && value.ends_with('…');
        if n > SHOWN_CHARS && !done {
            let cut = value
                .char_indices()
                .nth(SHOWN_CHARS)
                .map_or(value.len(), |(i, _)| i);
            out.push_str(&value[..cut]);
            out.push('…');
            out.push(quote as char);
            out.push_str(&format!(" ({} more characters)", n - SHOWN_CHARS));
        } else {
            out.push_str(value);
            out.push(quote as char);
        }
        rest = &body[close + 1..];
    }
    out.push_str(rest);
    match out.char_indices().nth(MESSAGE_CHARS) {
        Some((i, _)) => format!("{}…", &out[..i]),
        None => out,
    }
}

impl std::error::Error for ScenarioError {}

/// The file being validated: its name and text, to give errors their position.
pub(super) struct Ctx<'a> {
    /// The file name, as given by the user.
    pub(super) file: &'a str,
    /// The file's text.
    pub(super) src: &'a str,
}

impl Ctx<'_> {
    /// An error at JSON path `path` (line:column 1:1 if the path is not in the text).
    pub(super) fn err(&self, path: &str, message: impl Into<String>) -> ScenarioError {
        let (line, column) = locate(self.src, path).unwrap_or((1, 1));
        ScenarioError {
            file: self.file.to_string(),
            path: path.to_string(),
            line,
            column,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_elided() {
        let long = "x".repeat(100);
        assert_eq!(
            elide(&format!("unknown host \"{long}\" (known: \"a\")")),
            format!(
                "unknown host \"{}…\" (36 more characters) (known: \"a\")",
                "x".repeat(64)
            )
        );
        assert_eq!(
            elide(&format!("unknown field `{long}`, expected `a`")),
            format!(
                "unknown field `{}…` (36 more characters), expected `a`",
                "x".repeat(64)
            )
        );
        assert_eq!(elide("a \"q\\\"\" b"), "a \"q\\\"\" b");
        assert_eq!(elide("open \"quote"), "open \"quote");
        assert_eq!(elide(&"y".repeat(2000)).chars().count(), 1001);
        let once = elide(&format!("\"{long}\""));
        assert_eq!(elide(&once), once);
    }

    #[test]
    fn display_names_file_position_path_and_message() {
        let src = "{\n  \"msl\": \"0s\"\n}";
        let e = Ctx {
            file: "a.json",
            src,
        }
        .err("msl", "msl must be greater than zero");
        assert_eq!(
            e.to_string(),
            "a.json:2:10: msl: msl must be greater than zero"
        );
        let whole = Ctx {
            file: "a.json",
            src,
        }
        .err("", "empty");
        assert_eq!(whole.to_string(), "a.json:1:1: empty");
    }
}
