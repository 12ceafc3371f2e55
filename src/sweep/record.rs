//! One run's result: a line of the results file (JSON Lines, `docs/sweep-format.md`).
//!
//! `{"point":P,"replication":R,"seed":S,"params":{AXIS:VALUE…},"metrics":{NAME:NUMBER…},
//! "analytic":{METRIC:NUMBER…}}`, keys in that order and the axes and metrics in the spec's
//! order (kept when a file is read back, so `merge` and `plot` know the first axis and metric).

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::fmt;

/// A JSON object whose members keep their order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ordered(pub Vec<(String, Value)>);

impl Serialize for Ordered {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Ordered, A::Error> {
                let mut out: Vec<(String, Value)> = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, Value>()? {
                    if out.iter().any(|(x, _)| *x == k) {
                        return Err(serde::de::Error::custom(format!("duplicate key {k:?}")));
                    }
                    out.push((k, v));
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl Ordered {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The keys, in order.
    pub fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_str()).collect()
    }
}

/// One run of one point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// The point's index in the sweep.
    pub point: u64,
    /// The replication's index at the point.
    pub replication: u64,
    /// The run's seed ([`super::run_seed`]).
    pub seed: u64,
    /// The value of each axis.
    pub params: Ordered,
    /// The value of each metric (a number).
    pub metrics: Ordered,
    /// The analytic value of each metric that has one.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub analytic: Ordered,
}

fn is_empty(o: &Ordered) -> bool {
    o.0.is_empty()
}

impl Record {
    /// The record's sort key: point, then replication.
    pub fn key(&self) -> (u64, u64) {
        (self.point, self.replication)
    }

    /// The line (without its newline).
    pub fn line(&self) -> String {
        serde_json::to_string(self).expect("records serialise")
    }
}

/// Every record of a results file's text, or the error naming `file:line:column`.
/// A last line without its newline (a run killed while writing) is `Some(byte offset)` of
/// that line's start in the second element and not read.
pub fn parse_all(file: &str, text: &str) -> Result<(Vec<Record>, Option<usize>), String> {
    let mut out = Vec::new();
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if !line.ends_with('\n') {
            // An unfinished last line.
            return Ok((out, Some(offset)));
        }
        let l = line.trim_end_matches('\n');
        if !l.trim().is_empty() {
            let r: Record = serde_json::from_str(l).map_err(|e| {
                let msg = e.to_string();
                let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
                format!(
                    "{file}:{}:{}: not a sweep result: {msg}",
                    i + 1,
                    e.column().max(1)
                )
            })?;
            out.push(r);
        }
        offset += line.len();
    }
    Ok((out, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_survives_a_round_trip() {
        let r = Record {
            point: 3,
            replication: 1,
            seed: 42,
            params: Ordered(vec![("z".into(), "5s".into()), ("a".into(), 1.into())]),
            metrics: Ordered(vec![("m".into(), 1.into()), ("b".into(), 0.5.into())]),
            analytic: Ordered::default(),
        };
        let l = r.line();
        assert_eq!(
            l,
            r#"{"point":3,"replication":1,"seed":42,"params":{"z":"5s","a":1},"metrics":{"m":1,"b":0.5}}"#
        );
        let (back, tail) = parse_all("f", &format!("{l}\n{l}")).unwrap();
        assert_eq!(back, vec![r]);
        assert_eq!(tail, Some(l.len() + 1));
    }

    #[test]
    fn a_bad_line_is_named() {
        let e = parse_all("res.jsonl", "{\"point\":1}\n").unwrap_err();
        assert!(e.starts_with("res.jsonl:1:"), "{e}");
        let e = parse_all("res.jsonl", "\n{\"point\":1,\"x\":2}\n").unwrap_err();
        assert!(
            e.starts_with("res.jsonl:2:") && e.contains("unknown field"),
            "{e}"
        );
    }
}
