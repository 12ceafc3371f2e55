//! Finds the line and column of a value in JSON text from its path (`steps[3].addr`).
//!
//! Serde reports positions only for syntax and type errors; validation errors found after
//! deserialisation (an unknown host, a duplicate socket name) are located here by walking the
//! text. The walker is tolerant: on text it cannot follow it returns `None`.

/// One step of a JSON path: an object member or an array element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seg<'a> {
    /// The member with this key.
    Key(&'a str),
    /// The element at this index.
    Index(usize),
}

fn segments(path: &str) -> Option<Vec<Seg<'_>>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Seg::Key(key));
        }
        while let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            out.push(Seg::Index(r[..end].parse().ok()?));
            rest = &r[end + 1..];
        }
    }
    Some(out)
}

struct Walker<'a> {
    b: &'a [u8],
    i: usize,
}

impl Walker<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && self.b[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn string(&mut self) -> Option<(usize, usize)> {
        if self.b.get(self.i) != Some(&b'"') {
            return None;
        }
        let start = self.i + 1;
        self.i += 1;
        while self.i < self.b.len() {
            match self.b[self.i] {
                b'\\' => self.i += 2,
                b'"' => {
                    self.i += 1;
                    return Some((start, self.i - 1));
                }
                _ => self.i += 1,
            }
        }
        None
    }
    /// Skips one value; returns false on malformed text.
    fn skip(&mut self) -> bool {
        self.ws();
        match self.b.get(self.i) {
            Some(b'"') => self.string().is_some(),
            Some(b'{') | Some(b'[') => {
                let mut depth = 0usize;
                while self.i < self.b.len() {
                    match self.b[self.i] {
                        b'"' => {
                            if self.string().is_none() {
                                return false;
                            }
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                return true;
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
                false
            }
            Some(_) => {
                while self.i < self.b.len() && !matches!(self.b[self.i], b',' | b'}' | b']') {
                    self.i += 1;
                }
                true
            }
            None => false,
        }
    }
    /// Moves to the value of `key` in the object here; returns where the key's opening quote is.
    fn find_key_at(&mut self, key: &str) -> Option<usize> {
        self.ws();
        if self.b.get(self.i) != Some(&b'{') {
            return None;
        }
        self.i += 1;
        loop {
            self.ws();
            let (s, e) = self.string()?;
            self.ws();
            if self.b.get(self.i) != Some(&b':') {
                return None;
            }
            self.i += 1;
            self.ws();
            if key_is(&self.b[s..e], key) {
                return Some(s - 1);
            }
            self.past_member()?;
        }
    }

    /// In the object here, the opening quote of the `nth` (1-based) key equal to `key`.
    fn nth_key_at(&mut self, key: &str, nth: usize) -> Option<usize> {
        self.ws();
        if self.b.get(self.i) != Some(&b'{') {
            return None;
        }
        self.i += 1;
        let mut seen = 0;
        loop {
            self.ws();
            let (s, e) = self.string()?;
            if key_is(&self.b[s..e], key) {
                seen += 1;
                if seen == nth {
                    return Some(s - 1);
                }
            }
            self.ws();
            if self.b.get(self.i) != Some(&b':') {
                return None;
            }
            self.i += 1;
            self.past_member()?;
        }
    }

    /// Skips the value here and the `,` after it (a member of an object or an array).
    fn past_member(&mut self) -> Option<()> {
        if !self.skip() {
            return None;
        }
        self.ws();
        if self.b.get(self.i) != Some(&b',') {
            return None;
        }
        self.i += 1;
        Some(())
    }
    fn find_index(&mut self, n: usize) -> Option<()> {
        self.ws();
        if self.b.get(self.i) != Some(&b'[') {
            return None;
        }
        self.i += 1;
        for _ in 0..n {
            self.past_member()?;
        }
        self.ws();
        Some(())
    }
}

/// Whether the raw text of a JSON string (between its quotes) spells `key`, escapes decoded.
fn key_is(raw: &[u8], key: &str) -> bool {
    if !raw.contains(&b'\\') {
        return raw == key.as_bytes();
    }
    let Ok(raw) = std::str::from_utf8(raw) else {
        return false;
    };
    serde_json::from_str::<String>(&format!("\"{raw}\"")).is_ok_and(|k| k == key)
}

/// The 1-based (line, column) of the character at byte `pos` of `src`.
fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let mut pos = pos.min(src.len());
    while !src.is_char_boundary(pos) {
        pos -= 1;
    }
    let before = &src[..pos];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The 1-based (line, column) of the opening quote of the `nth` (1-based) occurrence of `key`
/// in the object at `object` (a path given as steps, so keys may hold any character), or
/// `None`. Used to point at a duplicate key.
pub fn locate_nth_key(
    src: &str,
    object: &[Seg<'_>],
    key: &str,
    nth: usize,
) -> Option<(usize, usize)> {
    let mut w = Walker {
        b: src.as_bytes(),
        i: 0,
    };
    for seg in object {
        match *seg {
            Seg::Key(k) => {
                w.find_key_at(k)?;
            }
            Seg::Index(ix) => w.find_index(ix)?,
        }
    }
    let at = w.nth_key_at(key, nth)?;
    Some(line_col(src, at))
}

/// The 1-based (line, column) where the value at `path` starts in `src`, or `None`.
/// Columns count characters, as editors do.
pub fn locate(src: &str, path: &str) -> Option<(usize, usize)> {
    walk(src, path, false)
}

/// The 1-based (line, column) of the key of the last member of `path` (for an unknown field,
/// the key is what is wrong), or `None` when the path does not end in a key.
pub fn locate_key(src: &str, path: &str) -> Option<(usize, usize)> {
    walk(src, path, true)
}

fn walk(src: &str, path: &str, key: bool) -> Option<(usize, usize)> {
    let mut w = Walker {
        b: src.as_bytes(),
        i: 0,
    };
    let segs = segments(path)?;
    let n = segs.len();
    let mut at = None;
    for (i, seg) in segs.into_iter().enumerate() {
        match seg {
            Seg::Key(k) => {
                let k_at = w.find_key_at(k)?;
                if key && i + 1 == n {
                    at = Some(k_at);
                }
            }
            Seg::Index(ix) => w.find_index(ix)?,
        }
    }
    if key && at.is_none() {
        return None;
    }
    w.ws();
    Some(line_col(src, at.unwrap_or(w.i)))
}

#[cfg(test)]
mod tests {
    use super::locate;

    #[test]
    fn finds_nested_values() {
        let src = "{\n  \"a\": 1,\n  \"steps\": [\n    {\"x\": [1, {\"y\": 2}]},\n    {\"addr\": \"q\"}\n  ]\n}";
        assert_eq!(locate(src, "a"), Some((2, 8)));
        assert_eq!(locate(src, "steps[1].addr"), Some((5, 14)));
        assert_eq!(locate(src, "steps[0].x[1].y"), Some((4, 21)));
        assert_eq!(locate(src, "steps[2]"), None);
        assert_eq!(locate(src, ""), Some((1, 1)));
        assert_eq!(super::locate_key(src, "steps[1].addr"), Some((5, 6)));
        assert_eq!(super::locate_key(src, "steps[1]"), None);
    }

    #[test]
    fn finds_the_nth_occurrence_of_a_key() {
        use super::{locate_nth_key, Seg};
        let src = "{\"v\": [{\"e\": {\"1\": 1,\n \"1\": 2, \"a.b\": 3, \"a\\u002eb\": 4}}]}";
        let obj = [Seg::Key("v"), Seg::Index(0), Seg::Key("e")];
        assert_eq!(locate_nth_key(src, &obj, "1", 1), Some((1, 15)));
        assert_eq!(locate_nth_key(src, &obj, "1", 2), Some((2, 2)));
        assert_eq!(locate_nth_key(src, &obj, "a.b", 2), Some((2, 20)));
        assert_eq!(locate_nth_key(src, &obj, "1", 3), None);
    }

    #[test]
    fn skips_strings_with_brackets_and_escapes() {
        let src = r#"{"n": "a]\"}", "k": [ "[", 5 ]}"#;
        assert_eq!(locate(src, "k[1]"), Some((1, 28)));
    }
}
