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
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
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
