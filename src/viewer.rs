//! `twsim view TRACE.jsonl -o FILE.html`: one self-contained HTML page for a run's trace — the
//! ladder diagram ([`crate::ladder`]), a scrubber over virtual time, filters by host and by
//! connection, and the trace record under the cursor. No network access: the trace, the SVG,
//! the style and the script are all inside the file. The page is a pure function of the trace.

use crate::ladder;
use serde_json::Value;
use std::collections::BTreeSet;

/// The page around the data; `@TITLE@`, `@SVG@`, `@TRACE@`, `@LAYOUT@`, `@HOSTS@` and
/// `@CONNS@` are filled in by [`page`].
const TEMPLATE: &str = include_str!("viewer.html");

/// JSON for embedding in a `<script type="application/json">`: `<` only occurs inside JSON
/// strings, where `\u003c` means the same, so no `</script>` can end the element early.
fn embed(v: &Value) -> String {
    serde_json::to_string(v)
        .expect("values serialise")
        .replace('<', "\\u003c")
}

/// Text for HTML element content.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The viewer page for `trace` (JSON Lines, one run). Errors name the trace line that could
/// not be read.
pub fn page(trace: &str) -> Result<String, String> {
    let (svg, layout) = ladder::render_with_layout(trace)?;
    let records: Vec<Value> = trace
        .lines()
        .enumerate()
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("trace line {}: {e}", i + 1)))
        .collect::<Result<_, _>>()?;
    let run = records.first().map(|r| &r["data"]);
    let title = run.map_or(String::from("twsim trace"), |d| {
        let v = d["variant"]
            .as_str()
            .map_or(String::new(), |v| format!(" [{v}]"));
        format!(
            "{}{v} (seed {})",
            d["scenario"].as_str().unwrap_or("?"),
            d["seed"]
        )
    });
    let hosts: Vec<Value> = run
        .and_then(|d| d["hosts"].as_array())
        .into_iter()
        .flatten()
        .map(|h| h["name"].clone())
        .collect();
    // Connections: every 4-tuple a record names, in the first host's orientation seen.
    let mut conns: BTreeSet<String> = BTreeSet::new();
    for r in &records {
        if let Some(t) = r["data"]["tuple"].as_str() {
            let (a, b) = t.split_once("<->").unwrap_or((t, ""));
            let flipped = format!("{b}<->{a}");
            if !conns.contains(&flipped) {
                conns.insert(t.to_string());
            }
        }
    }
    let layout: Vec<Value> = layout
        .iter()
        .map(|(t, y)| serde_json::json!([t, y]))
        .collect();
    let conns = Value::Array(conns.into_iter().map(Value::String).collect());
    Ok(fill(
        TEMPLATE,
        &[
            ("@TITLE@", escape(&title)),
            ("@SVG@", svg),
            ("@TRACE@", embed(&Value::Array(records))),
            ("@LAYOUT@", embed(&Value::Array(layout))),
            ("@HOSTS@", embed(&Value::Array(hosts))),
            ("@CONNS@", embed(&conns)),
        ],
    ))
}

/// `template` with each placeholder replaced by its value, in one pass over the template, so
/// a value that happens to contain a placeholder's name is left as it is.
fn fill(template: &str, values: &[(&str, String)]) -> String {
    let mut out =
        String::with_capacity(template.len() + values.iter().map(|v| v.1.len()).sum::<usize>());
    let mut rest = template;
    while let Some(i) = rest.find('@') {
        let hit = values.iter().find(|(k, _)| rest[i..].starts_with(k));
        match hit {
            Some((k, v)) => {
                out.push_str(&rest[..i]);
                out.push_str(v);
                rest = &rest[i + k.len()..];
            }
            None => {
                out.push_str(&rest[..=i]);
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn fill_replaces_each_placeholder_once_and_never_inside_values() {
        let got = super::fill(
            "a @X@ b @Y@ @ c",
            &[("@X@", "@Y@".into()), ("@Y@", "y".into())],
        );
        assert_eq!(got, "a @Y@ b y @ c");
    }

    #[test]
    fn embedded_json_cannot_close_its_script_element() {
        let v = serde_json::json!({"call": "</script><b>"});
        let e = super::embed(&v);
        assert!(!e.contains('<'), "{e}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&e).unwrap(), v);
    }
}
