//! Duplicate keys. JSON allows an object to repeat a key and serde keeps the last value of a map
//! (`"expect": {"1": "ok", "1": "EADDRINUSE"}`), so [`super::parse`] first walks the whole
//! document with a visitor that refuses the second occurrence of any key, in any object.

use crate::locate::Seg;
use serde::de::{DeserializeSeed, Deserializer, Error, MapAccess, SeqAccess, Visitor};
use std::collections::BTreeSet;
use std::fmt;

/// One step of the path to where the walk is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    /// An object member.
    Key(String),
    /// An array element.
    Index(usize),
}

/// A key found twice in one object: the path of the object and the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Duplicate {
    /// Where the object is.
    pub(super) object: Vec<Step>,
    /// The repeated key.
    pub(super) key: String,
}

impl Duplicate {
    /// The object's path as [`crate::locate`] takes it.
    pub(super) fn object_segs(&self) -> Vec<Seg<'_>> {
        self.object
            .iter()
            .map(|s| match s {
                Step::Key(k) => Seg::Key(k),
                Step::Index(i) => Seg::Index(*i),
            })
            .collect()
    }

    /// The JSON path of the repeated member (`variants[0].expect.1`).
    pub(super) fn path(&self) -> String {
        let mut p = String::new();
        for s in self.object.iter().chain([&Step::Key(self.key.clone())]) {
            match s {
                Step::Key(k) => {
                    if !p.is_empty() {
                        p.push('.');
                    }
                    p.push_str(k);
                }
                Step::Index(i) => p.push_str(&format!("[{i}]")),
            }
        }
        p
    }
}

/// The first key repeated in an object of `src`, in document order; `None` when there is none
/// or the text is not JSON (the typed parse then reports the syntax error).
pub(super) fn first_duplicate(src: &str) -> Option<Duplicate> {
    let mut path = Vec::new();
    let mut found = None;
    let mut de = serde_json::Deserializer::from_str(src);
    let _ = Walk {
        path: &mut path,
        found: &mut found,
    }
    .deserialize(&mut de);
    found
}

/// A visitor of any JSON value that records the first duplicate key it meets.
struct Walk<'a> {
    path: &'a mut Vec<Step>,
    found: &'a mut Option<Duplicate>,
}

impl Walk<'_> {
    fn child(&mut self) -> Walk<'_> {
        Walk {
            path: self.path,
            found: self.found,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        loop {
            self.path.push(Step::Index(i));
            let more = seq.next_element_seed(self.child())?;
            self.path.pop();
            if more.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }
    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        let mut seen = BTreeSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if seen.contains(&key) {
                *self.found = Some(Duplicate {
                    object: self.path.clone(),
                    key,
                });
                return Err(A::Error::custom("duplicate key"));
            }
            self.path.push(Step::Key(key.clone()));
            map.next_value_seed(self.child())?;
            self.path.pop();
            seen.insert(key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_repeated_key_is_found_with_its_path() {
        let d = first_duplicate(r#"{"a": [1, {"b": {"x": 1}, "c": {"on": 1, "on": 0}}], "a": 2}"#)
            .unwrap();
        assert_eq!(d.path(), "a[1].c.on");
        assert_eq!(d.key, "on");
        // Keys are compared decoded.
        let d = first_duplicate(r#"{"k": 1, "\u006b": 2}"#).unwrap();
        assert_eq!(d.path(), "k");
        assert!(first_duplicate(r#"{"a": {"x": 1}, "b": {"x": 1}}"#).is_none());
        assert!(first_duplicate(r#"{"a": "#).is_none());
    }
}
