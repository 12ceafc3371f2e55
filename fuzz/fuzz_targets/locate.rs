//! `locate(src, path)` on arbitrary text. The input's first line is the JSON path
//! (`steps[3].addr`), the rest is the document. `locate` must never panic and, when it finds
//! the value, must return a 1-based position inside the text.

#![no_main]

use libfuzzer_sys::fuzz_target;
use twsim_sim::locate::locate;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let (path, src) = input.split_once('\n').unwrap_or((input, ""));
    if let Some((line, col)) = locate(src, path) {
        assert!(line >= 1 && col >= 1, "positions are 1-based: {line}:{col}");
        let lines = src.split('\n').count();
        assert!(line <= lines, "line {line} past the end ({lines} lines)");
        let width = src
            .split('\n')
            .nth(line - 1)
            .map_or(0, |l| l.chars().count());
        assert!(
            col <= width + 1,
            "column {col} past the end of line {line} ({width} chars)"
        );
    }
});
