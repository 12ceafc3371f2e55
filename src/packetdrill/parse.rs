//! The packetdrill script language (google/packetdrill, with the FreeBSD/nplab tcp-testsuite's
//! extensions): lines with a time, then an inbound packet (`<`), an expected outbound packet
//! (`>`), a system call or a shell command in backquotes. Comments (`//`, `/* */`), option
//! lines (`--name=value`) and `#ifdef NAME` / `#ifndef NAME` / `#else` / `#endif` blocks are
//! handled here; anything else is an error naming the line.

use std::collections::BTreeSet;

/// When an event happens, in µs: relative to the previous event (`+0.1`), absolute (`0.1`),
/// any time (`*`), or a range for a blocking call (`0.1...0.2`, `+0...0.1`: the end is
/// relative to the start when written with `+`, else absolute).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct When {
    /// The start, µs.
    pub start: Time,
    /// The end of a blocking call's range.
    pub end: Option<Time>,
}

/// One time value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Time {
    /// Since the start of the script, µs.
    Absolute(u64),
    /// Since the previous event, µs.
    Relative(u64),
    /// Whenever (`*`).
    Any,
}

/// A TCP segment of the script, numbers as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Flag letters as written: `S`, `F`, `R`, `P`, `.` (ACK), `E`, `W`, `U`.
    pub flags: String,
    /// `start:end(len)`; `None` for `...(len)` (any SEQ).
    pub seq: Option<u32>,
    /// Payload length.
    pub len: u32,
    /// Whether the numbers are absolute (`!`, the tcp-testsuite's extension), not relative to
    /// the ISNs.
    pub absolute: bool,
    /// `ack N`.
    pub ack: Option<u32>,
    /// `win N`.
    pub win: Option<u32>,
    /// The TCP options text between `<` and `>`, unparsed (options are not compared).
    pub options: Option<String>,
}

impl Segment {
    /// Whether the flags contain `c`.
    pub fn has(&self, c: char) -> bool {
        self.flags.contains(c)
    }
}

/// What a line does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// `<`: the remote end sends this segment to the system under test.
    Inject(Segment),
    /// `>`: the system under test must send this segment.
    Expect(Segment),
    /// A system call: name, arguments as written, and the expected return value, errno name.
    Call {
        /// `socket`, `bind`, …
        name: String,
        /// Arguments, split at top-level commas, trimmed.
        args: Vec<String>,
        /// The expected return value.
        ret: i64,
        /// The expected errno name (`EINPROGRESS`), when the return is -1.
        errno: Option<String>,
    },
    /// A shell command in backquotes.
    Shell(String),
}

/// One event of a script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// 1-based line number in the script.
    pub line: usize,
    /// When.
    pub when: When,
    /// What.
    pub action: Action,
}

/// A parsed script.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Script {
    /// Option lines (`--tolerance_usecs=75000` → ("tolerance_usecs", "75000")).
    pub options: Vec<(String, String)>,
    /// The events in order.
    pub events: Vec<Event>,
}

/// A parse error: line and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub msg: String,
}

/// Parses `src` with the preprocessor symbols `defines` (`-D NAME`).
pub fn parse(src: &str, defines: &BTreeSet<String>) -> Result<Script, ParseError> {
    let mut script = Script::default();
    // Stack of (this block is active, some branch was taken).
    let mut conds: Vec<(bool, bool)> = Vec::new();
    let mut in_comment = false;
    for (i, raw) in src.lines().enumerate() {
        let line_no = i + 1;
        let err = |msg: String| ParseError { line: line_no, msg };
        let mut line = String::new();
        let mut rest = raw;
        // Block comments may span lines.
        loop {
            if in_comment {
                match rest.find("*/") {
                    Some(p) => {
                        rest = &rest[p + 2..];
                        in_comment = false;
                    }
                    None => break,
                }
            } else {
                match (rest.find("/*"), rest.find("//")) {
                    (Some(b), l) if l.is_none_or(|l| b < l) => {
                        line.push_str(&rest[..b]);
                        rest = &rest[b + 2..];
                        in_comment = true;
                    }
                    (_, Some(l)) => {
                        line.push_str(&rest[..l]);
                        break;
                    }
                    _ => {
                        line.push_str(rest);
                        break;
                    }
                }
            }
        }
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(d) = line.strip_prefix('#') {
            let mut words = d.split_whitespace();
            let active = conds.iter().all(|c| c.0);
            match (words.next(), words.next()) {
                (Some("ifdef"), Some(n)) => {
                    let on = defines.contains(n);
                    conds.push((on, on));
                }
                (Some("ifndef"), Some(n)) => {
                    let on = !defines.contains(n);
                    conds.push((on, on));
                }
                (Some("else"), None) => {
                    let c = conds
                        .last_mut()
                        .ok_or_else(|| err("#else without #ifdef".into()))?;
                    *c = (!c.1, true);
                }
                (Some("endif"), None) => {
                    conds
                        .pop()
                        .ok_or_else(|| err("#endif without #ifdef".into()))?;
                }
                _ if !active => {}
                _ => return Err(err(format!("unknown directive `{line}`"))),
            }
            continue;
        }
        if !conds.iter().all(|c| c.0) {
            continue;
        }
        if let Some(opt) = line.strip_prefix("--") {
            let (k, v) = opt.split_once('=').unwrap_or((opt, ""));
            script
                .options
                .push((k.trim().to_string(), v.trim().to_string()));
            continue;
        }
        let (when, rest) = parse_when(line).map_err(err)?;
        let rest = rest.trim();
        let action = if let Some(p) = rest.strip_prefix('<') {
            Action::Inject(parse_segment(p).map_err(err)?)
        } else if let Some(p) = rest.strip_prefix('>') {
            Action::Expect(parse_segment(p).map_err(err)?)
        } else if let Some(cmd) = rest.strip_prefix('`') {
            let cmd = cmd
                .strip_suffix('`')
                .ok_or_else(|| err("unterminated shell command".into()))?;
            Action::Shell(cmd.trim().to_string())
        } else {
            parse_call(rest).map_err(err)?
        };
        script.events.push(Event {
            line: line_no,
            when,
            action,
        });
    }
    if in_comment {
        return Err(ParseError {
            line: src.lines().count(),
            msg: "unterminated /* comment".into(),
        });
    }
    if !conds.is_empty() {
        return Err(ParseError {
            line: src.lines().count(),
            msg: "#ifdef without #endif".into(),
        });
    }
    Ok(script)
}

/// Seconds as written (`0.1`, `.1`, `2`) to µs.
fn seconds(s: &str) -> Result<u64, String> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() && frac.is_empty() {
        return Err(format!("bad time `{s}`"));
    }
    let int: u64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| format!("bad time `{s}`"))?
    };
    if frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("bad time `{s}`"));
    }
    let frac_us: u64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<6}")
            .parse()
            .map_err(|_| format!("bad time `{s}`"))?
    };
    int.checked_mul(1_000_000)
        .and_then(|v| v.checked_add(frac_us))
        .ok_or_else(|| format!("time `{s}` too large"))
}

fn one_time(s: &str) -> Result<Time, String> {
    if s == "*" {
        Ok(Time::Any)
    } else if let Some(r) = s.strip_prefix('+') {
        Ok(Time::Relative(seconds(r)?))
    } else {
        Ok(Time::Absolute(seconds(s)?))
    }
}

/// The time at the start of a line, and the rest.
fn parse_when(line: &str) -> Result<(When, &str), String> {
    let end = line
        .find(|c: char| c.is_whitespace())
        .ok_or_else(|| format!("a line needs a time and an event: `{line}`"))?;
    let (t, rest) = line.split_at(end);
    let when = match t.split_once("...") {
        Some((a, b)) => When {
            start: one_time(a)?,
            end: Some(one_time(b)?),
        },
        None => When {
            start: one_time(t)?,
            end: None,
        },
    };
    Ok((when, rest))
}

fn number(s: &str) -> Result<u32, String> {
    let v: u64 = s.parse().map_err(|_| format!("bad number `{s}`"))?;
    u32::try_from(v).map_err(|_| format!("number `{s}` out of range"))
}

/// `S. 0:0(0) ack 1 win 65535 <mss 1460,...>`.
fn parse_segment(s: &str) -> Result<Segment, String> {
    let (head, options) = match s.find('<') {
        Some(p) => {
            let o = s[p + 1..]
                .trim_end()
                .strip_suffix('>')
                .ok_or("unterminated TCP options")?;
            (&s[..p], Some(o.trim().to_string()))
        }
        None => (s, None),
    };
    let mut words = head.split_whitespace();
    let flags = words.next().ok_or("a segment needs flags")?.to_string();
    if !flags.chars().all(|c| "SFRP.EWU".contains(c)) {
        return Err(format!("unknown TCP flags `{flags}`"));
    }
    let seq_text = words.next().ok_or("a segment needs start:end(len)")?;
    let (seq_text, absolute) = match seq_text.strip_suffix('!') {
        Some(t) => (t, true),
        None => (seq_text, false),
    };
    let open = seq_text.find('(').ok_or("a segment needs (len)")?;
    let len = number(
        seq_text[open + 1..]
            .strip_suffix(')')
            .ok_or("a segment needs (len)")?,
    )?;
    let range = &seq_text[..open];
    let seq = if range == "..." {
        None
    } else {
        let (a, b) = range
            .split_once(':')
            .ok_or_else(|| format!("bad sequence range `{range}`"))?;
        let (a, b) = (number(a)?, number(b)?);
        if b.wrapping_sub(a) != len {
            return Err(format!("sequence range `{range}` is not {len} bytes"));
        }
        Some(a)
    };
    let (mut ack, mut win) = (None, None);
    while let Some(w) = words.next() {
        let v = words.next().ok_or_else(|| format!("`{w}` needs a value"))?;
        match w {
            "ack" => ack = Some(number(v)?),
            "win" => win = Some(number(v)?),
            _ => return Err(format!("unknown segment field `{w}`")),
        }
    }
    Ok(Segment {
        flags,
        seq,
        len,
        absolute,
        ack,
        win,
        options,
    })
}

/// Splits at commas outside brackets and braces.
fn split_args(s: &str) -> Vec<String> {
    let (mut out, mut depth, mut cur) = (Vec::new(), 0i32, String::new());
    for c in s.chars() {
        match c {
            '[' | '{' | '(' => depth += 1,
            ']' | '}' | ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(cur.trim().to_string());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() || !out.is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// `name(args) = ret [ERRNO (text)]`.
fn parse_call(s: &str) -> Result<Action, String> {
    let open = s
        .find('(')
        .ok_or_else(|| format!("not a packet, a system call or a shell command: `{s}`"))?;
    let name = s[..open].trim();
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(format!("bad system call name `{name}`"));
    }
    // The closing parenthesis of the call: the last one before " = ".
    let eq = s
        .rfind(" = ")
        .or_else(|| s.rfind("="))
        .ok_or("a system call needs `= value`")?;
    let close = s[..eq].rfind(')').ok_or("unbalanced parentheses")?;
    let args = split_args(&s[open + 1..close]);
    let mut rhs = s[eq..].trim_start_matches([' ', '=']).split_whitespace();
    let ret_text = rhs.next().ok_or("a system call needs a return value")?;
    let ret = if let Some(h) = ret_text.strip_prefix("0x") {
        i64::from_str_radix(h, 16).map_err(|_| format!("bad return value `{ret_text}`"))?
    } else {
        ret_text
            .parse()
            .map_err(|_| format!("bad return value `{ret_text}`"))?
    };
    let errno = rhs
        .next()
        .filter(|e| e.starts_with('E'))
        .map(str::to_string);
    Ok(Action::Call {
        name: name.to_string(),
        args,
        ret,
        errno,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str) -> Event {
        let s = parse(line, &BTreeSet::new()).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(s.events.len(), 1);
        s.events[0].clone()
    }

    #[test]
    fn packets_calls_and_shell_lines() {
        let e = one("+0.10 < S. 0:0(0) ack 1 win 32767 <mss 1460,sackOK,eol,eol>");
        assert_eq!(e.when.start, Time::Relative(100_000));
        let Action::Inject(s) = e.action else {
            panic!()
        };
        assert_eq!((s.flags.as_str(), s.seq, s.len), ("S.", Some(0), 0));
        assert_eq!((s.ack, s.win), (Some(1), Some(32767)));
        assert_eq!(s.options.as_deref(), Some("mss 1460,sackOK,eol,eol"));
        let e = one(" 0.00 > S.     ...(0)     ack 65538 win 65535");
        let Action::Expect(s) = e.action else {
            panic!()
        };
        assert_eq!((s.seq, s.ack), (None, Some(65538)));
        let e = one("+0.00 fcntl(3, F_GETFL) = 0x02 (flags O_RDWR)");
        assert_eq!(
            e.action,
            Action::Call {
                name: "fcntl".into(),
                args: vec!["3".into(), "F_GETFL".into()],
                ret: 2,
                errno: None
            }
        );
        let e = one("+0.00 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)");
        let Action::Call { ret, errno, .. } = e.action else {
            panic!()
        };
        assert_eq!((ret, errno.as_deref()), (-1, Some("EINPROGRESS")));
        let e = one("+0.00 getsockopt(3, SOL_SOCKET, SO_RCVBUF, [65536], [4]) = 0");
        let Action::Call { args, .. } = e.action else {
            panic!()
        };
        assert_eq!(args[3], "[65536]");
        let e = one("+0.00 `tcpdrop -s TIME_WAIT`");
        assert_eq!(e.action, Action::Shell("tcpdrop -s TIME_WAIT".into()));
        let e = one("0.1...0.25 accept(3, ..., ...) = 4");
        assert_eq!(
            e.when,
            When {
                start: Time::Absolute(100_000),
                end: Some(Time::Absolute(250_000))
            }
        );
    }

    #[test]
    fn preprocessor_and_comments() {
        let src = "--tolerance_usecs=75000\n/* a\n b */ 0 `x`\n#ifdef FreeBSD\n+0 `y` // c\n#else\n+0 `z`\n#endif\n";
        let on: BTreeSet<String> = ["FreeBSD".to_string()].into();
        let s = parse(src, &on).expect("parses");
        assert_eq!(s.options, vec![("tolerance_usecs".into(), "75000".into())]);
        let shells: Vec<_> = s.events.iter().map(|e| e.action.clone()).collect();
        assert_eq!(
            shells,
            vec![Action::Shell("x".into()), Action::Shell("y".into())]
        );
        let s = parse(src, &BTreeSet::new()).expect("parses");
        assert_eq!(s.events[1].action, Action::Shell("z".into()));
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("0 `x`\n+0 < Q 0:0(0)\n", &BTreeSet::new()).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.msg.contains("flags"), "{}", e.msg);
        let e = parse("0 > S 0:5(0)\n", &BTreeSet::new()).unwrap_err();
        assert!(e.msg.contains("not 0 bytes"), "{}", e.msg);
    }
}
