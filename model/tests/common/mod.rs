//! Data-driven tests of the address table, and property tests of the table and of processes.
//!
//! Most table tests are scripts run by [`check`]: one command per line; the expected text is
//! the transcript of every command that returns something, `command -> result`. Case names
//! (A, B, C1, …) follow the table "Observed on a real Linux 6.18 kernel" in
//! `shared/spec/bind-rules.md`; the BSD cases follow its BSD section (the rfc793 profile).
//!
//! Script commands (`S`, `L`, `C` are socket names given by `name = ...`):
//!
//! | command | result printed |
//! | --- | --- |
//! | `profile NAME`, `ephemeral FIRST LAST`, `host IP...` (header lines) | — |
//! | `S = socket [ra] [rp] [ex] [v6only] [uid=N]` | — |
//! | `opt S [ra] [rp] [ex] [v6only]` | only errors |
//! | `bind S ADDR [hint=N]` | `ok`, the chosen address for port 0, or the error |
//! | `listen S [hint=N]` | `ok`, the automatic address if unbound, or the error |
//! | `connect S REMOTE [src=IP] [hint=N]` | the local address, or the error |
//! | `C = accept L LOCAL REMOTE` | `ok` or the error (`accept_child`) |
//! | `tw S [len=DUR]` | `expires T` or the error (`enter_time_wait`) |
//! | `close S` | — (`remove`) |
//! | `time T` | expired sockets (`handle_timeout`) |
//! | `checkbind ADDR [ra] [rp] [uid=N]` | `ok` or the error |
//! | `listeners ADDR`, `lookup LOCAL REMOTE`, `state S`, `poll` | what the table says |
//! | `choose LOCAL REMOTE [rand=N]` | the chosen listener, `refuse: RULE` or `none` |
//! | `disconnect S` | — (`disconnected`) |
//! | `stale` | the stale address objects (KB Q177074) |
//!
//! `ex` is SO_EXCLUSIVEADDRUSE (SO_EXCLBIND under the Solaris rules).

#![allow(dead_code, unused_imports)]

pub use std::collections::{BTreeMap, BTreeSet};
pub use std::net::{IpAddr, SocketAddr};
pub use twsim_model::addr::{overlaps, FourTuple};
pub use twsim_model::profile::{BindRules, ListenerChoice, PortRange, Profile, ProfileConfig};
pub use twsim_model::table::{
    AddressTable, Entry, ListenerVerdict, SockOptions, SocketId, TableState,
};
pub use twsim_model::time_wait::{EndReason, SegmentInfo, TimeWaitRecord, TwAction};
pub use twsim_model::{Duration, Errno, Instant, Processes, SeqNum};

// ------------------------------------------------------------------------------------------
// Script runner
// ------------------------------------------------------------------------------------------

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or_else(|_| panic!("bad IP address {s:?}"))
}

pub fn sa(s: &str) -> SocketAddr {
    s.parse()
        .unwrap_or_else(|_| panic!("bad socket address {s:?}"))
}

/// Removes the common indentation and the blank lines around `text`.
pub fn trim_indent(text: &str) -> String {
    let indent = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let lines: Vec<&str> = text
        .lines()
        .map(|l| {
            if l.trim().is_empty() {
                ""
            } else {
                l[indent..].trim_end()
            }
        })
        .collect();
    lines.join("\n").trim_matches('\n').to_string()
}

pub fn parse_duration(s: &str) -> Duration {
    if let Some(ms) = s.strip_suffix("ms") {
        Duration::from_millis(ms.parse().expect("milliseconds"))
    } else if let Some(secs) = s.strip_suffix('s') {
        Duration::from_secs(secs.parse().expect("seconds"))
    } else {
        panic!("duration needs a unit (s or ms): {s:?}")
    }
}

/// The words of a command after its name: positional words, flags and `key=value` pairs.
#[derive(Default)]
pub struct Args<'a> {
    pos: Vec<&'a str>,
    opts: SockOptions,
    uid: u32,
    hint: u32,
    rand: u32,
    src: Option<IpAddr>,
    len: Option<Duration>,
}

impl<'a> Args<'a> {
    fn parse(words: &[&'a str]) -> Self {
        let mut a = Args::default();
        for &w in words {
            match w {
                "ra" => a.opts.reuseaddr = true,
                "rp" => a.opts.reuseport = true,
                "ex" => a.opts.exclusiveaddruse = true,
                "v6only" => a.opts.v6only = true,
                _ => match w.split_once('=') {
                    Some(("uid", v)) => a.uid = v.parse().expect("uid"),
                    Some(("hint", v)) => a.hint = v.parse().expect("hint"),
                    Some(("rand", v)) => a.rand = v.parse().expect("rand"),
                    Some(("src", v)) => a.src = Some(ip(v)),
                    Some(("len", v)) => a.len = Some(parse_duration(v)),
                    Some((k, _)) => panic!("unknown key {k:?}"),
                    None => a.pos.push(w),
                },
            }
        }
        a
    }

    fn addr(&self, i: usize) -> SocketAddr {
        sa(self.pos.get(i).expect("missing address"))
    }
}

pub fn show<T>(r: Result<T, Errno>, ok: impl FnOnce(T) -> String) -> String {
    match r {
        Ok(v) => ok(v),
        Err(e) => e.name().to_string(),
    }
}

pub fn flags(opts: SockOptions, uid: u32) -> String {
    let mut s = String::new();
    for (on, name) in [
        (opts.reuseaddr, " ra"),
        (opts.reuseport, " rp"),
        (opts.exclusiveaddruse, " ex"),
        (opts.v6only, " v6only"),
    ] {
        if on {
            s.push_str(name);
        }
    }
    if uid != 0 {
        s.push_str(&format!(" uid={uid}"));
    }
    s
}

pub struct Runner {
    table: AddressTable,
    now: Instant,
    names: BTreeMap<String, SocketId>,
    out: Vec<String>,
}

impl Runner {
    fn id(&self, name: &str) -> SocketId {
        *self
            .names
            .get(name)
            .unwrap_or_else(|| panic!("unknown socket {name:?}"))
    }

    fn name(&self, id: SocketId) -> String {
        self.names
            .iter()
            .find(|(_, v)| **v == id)
            .map_or_else(|| format!("#{}", id.0), |(k, _)| k.clone())
    }

    fn names(&self, ids: impl IntoIterator<Item = SocketId>) -> String {
        let v: Vec<String> = ids.into_iter().map(|id| self.name(id)).collect();
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(" ")
        }
    }

    fn define(&mut self, assign: Option<&str>, id: SocketId) {
        let name = assign.expect("this command needs `name = ...`");
        assert!(
            self.names.insert(name.to_string(), id).is_none(),
            "socket name {name:?} used twice"
        );
    }

    fn describe(&self, id: SocketId) -> String {
        let Some(e) = self.table.get(id) else {
            return "gone".to_string();
        };
        let place = match &e.state {
            TableState::Connected { remote } => {
                format!(" {}", FourTuple::new(e.local.expect("connected"), *remote))
            }
            TableState::TimeWait(r) => format!(" {} until {}", r.tuple, r.expires_at()),
            _ => e.local.map(|l| format!(" {l}")).unwrap_or_default(),
        };
        format!("{}{place}{}", e.state.name(), flags(e.opts, e.uid))
    }

    fn exec(&mut self, line: &str) {
        let (assign, rest) = match line.split_once(" = ") {
            Some((name, rest)) => (Some(name.trim()), rest),
            None => (None, line),
        };
        let words: Vec<&str> = rest.split_whitespace().collect();
        let a = Args::parse(&words[1..]);
        let result = match words[0] {
            "socket" => {
                let id = self.table.socket(a.uid);
                if a.opts != SockOptions::default() {
                    self.table.set_options(id, a.opts).expect("fresh socket");
                }
                self.define(assign, id);
                None
            }
            "opt" => {
                let r = self.table.set_options(self.id(a.pos[0]), a.opts);
                r.err().map(|e| e.name().to_string())
            }
            "bind" => {
                let want = a.addr(1);
                let r = self.table.bind(self.id(a.pos[0]), want, a.hint);
                Some(show(r, |got| {
                    if got == want {
                        "ok".to_string()
                    } else {
                        got.to_string()
                    }
                }))
            }
            "listen" => {
                let id = self.id(a.pos[0]);
                let was_bound = self.table.get(id).and_then(|e| e.local).is_some();
                let r = self.table.listen(id, a.hint);
                Some(show(r, |got| {
                    if was_bound {
                        "ok".to_string()
                    } else {
                        got.to_string()
                    }
                }))
            }
            "connect" => {
                let src = a.src.unwrap_or_else(|| ip("127.0.0.1"));
                let r = self
                    .table
                    .connect(self.id(a.pos[0]), src, a.addr(1), a.hint, self.now);
                Some(show(r, |l| l.to_string()))
            }
            "accept" => {
                let tuple = FourTuple::new(a.addr(1), a.addr(2));
                match self.table.accept_child(self.id(a.pos[0]), tuple) {
                    Ok(id) => {
                        self.define(assign, id);
                        Some("ok".to_string())
                    }
                    Err(e) => Some(e.name().to_string()),
                }
            }
            "tw" => {
                let id = self.id(a.pos[0]);
                let cfg = *self.table.config();
                let len = a
                    .len
                    .unwrap_or_else(|| cfg.time_wait_duration(cfg.default_msl));
                let Some(tuple) = connection_tuple(&self.table, id) else {
                    panic!("tw: {} is not connected", a.pos[0]);
                };
                let r = self
                    .table
                    .enter_time_wait(id, tw_record(tuple, self.now, len));
                Some(show(r, |()| format!("expires {}", self.now + len)))
            }
            "close" => {
                self.table.remove(self.id(a.pos[0]));
                None
            }
            "time" => {
                let t = Instant::ZERO + parse_duration(a.pos[0]);
                assert!(t >= self.now, "time goes forward");
                self.now = t;
                let ended = self.table.handle_timeout(t);
                assert!(ended.iter().all(|(_, _, why)| *why == EndReason::Expired));
                let ended: Vec<SocketId> = ended.into_iter().map(|(id, _, _)| id).collect();
                Some(if ended.is_empty() {
                    "nothing expired".to_string()
                } else {
                    format!("expired {}", self.names(ended))
                })
            }
            "checkbind" => {
                let r = self.table.check_bind(a.addr(0), a.opts, a.uid);
                Some(show(r, |()| "ok".to_string()))
            }
            "listeners" => Some(self.names(self.table.listeners_for(a.addr(0)))),
            "choose" => Some(
                match self.table.choose_listener(a.addr(0), a.addr(1), a.rand) {
                    ListenerVerdict::Listener(id) => self.name(id),
                    ListenerVerdict::Refuse { rule } => format!("refuse: {rule}"),
                    ListenerVerdict::None => "none".to_string(),
                },
            ),
            "disconnect" => {
                self.table.disconnected(self.id(a.pos[0]));
                None
            }
            "stale" => {
                let v: Vec<String> = self
                    .table
                    .stale_address_objects()
                    .map(|(addr, ids)| format!("{addr}: {}", self.names(ids.iter().copied())))
                    .collect();
                Some(if v.is_empty() {
                    "none".to_string()
                } else {
                    v.join(", ")
                })
            }
            "lookup" => {
                let t = FourTuple::new(a.addr(0), a.addr(1));
                Some(self.names(self.table.lookup_tuple(&t)))
            }
            "state" => Some(self.describe(self.id(a.pos[0]))),
            "poll" => Some(
                self.table
                    .poll_timeout()
                    .map_or_else(|| "none".to_string(), |t| t.to_string()),
            ),
            other => panic!("unknown command {other:?}"),
        };
        if let Some(r) = result {
            self.out.push(format!("{line} -> {r}"));
        }
    }
}

/// Runs `script` and returns its transcript.
pub fn run_script(script: &str) -> String {
    let script = trim_indent(script);
    let mut lines = script
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .peekable();
    let mut cfg = Profile::Linux.config();
    let mut host = vec![ip("127.0.0.1"), ip("10.0.0.1")];
    while let Some(line) = lines.peek() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w[0] {
            "profile" => {
                let ephemeral = cfg.ephemeral;
                let custom = ephemeral != Profile::Linux.config().ephemeral;
                cfg = Profile::from_name(w[1]).expect("profile").config();
                if custom {
                    cfg.ephemeral = ephemeral;
                }
            }
            "ephemeral" => {
                cfg.ephemeral = PortRange {
                    first: w[1].parse().expect("port"),
                    last: w[2].parse().expect("port"),
                }
            }
            "host" => host = w[1..].iter().map(|s| ip(s)).collect(),
            _ => break,
        }
        lines.next();
    }
    let mut r = Runner {
        table: AddressTable::new(cfg, host),
        now: Instant::ZERO,
        names: BTreeMap::new(),
        out: Vec::new(),
    };
    for line in lines {
        r.exec(line);
    }
    r.out.join("\n")
}

/// Runs `script` and compares its transcript with `expected` (indentation ignored).
#[track_caller]
pub fn check(script: &str, expected: &str) {
    let actual = run_script(script);
    let expected = trim_indent(expected);
    assert!(
        actual == expected,
        "\n--- script ---\n{}\n--- expected ---\n{expected}\n--- actual ---\n{actual}\n",
        trim_indent(script)
    );
}

pub fn tw_record(tuple: FourTuple, now: Instant, length: Duration) -> TimeWaitRecord {
    TimeWaitRecord::new(tuple, 1, SeqNum(5000), SeqNum(1000), 65535, now, length)
}

/// The 4-tuple a connected or TIME-WAIT socket holds.
pub fn connection_tuple(table: &AddressTable, id: SocketId) -> Option<FourTuple> {
    let e = table.get(id)?;
    match &e.state {
        TableState::Connected { remote } => Some(FourTuple::new(e.local?, *remote)),
        TableState::TimeWait(r) => Some(r.tuple),
        _ => None,
    }
}

/// `" ra"` when `on`: the script flag.
pub fn ra(on: bool) -> &'static str {
    if on {
        " ra"
    } else {
        ""
    }
}

pub fn outcome(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "EADDRINUSE"
    }
}

pub const RA_COMBOS: [(bool, bool); 4] =
    [(false, false), (false, true), (true, false), (true, true)];

pub fn host() -> Vec<IpAddr> {
    vec![ip("127.0.0.1"), ip("10.0.0.1")]
}

pub fn tiny(profile: Profile, first: u16, last: u16) -> AddressTable {
    let mut cfg: ProfileConfig = profile.config();
    cfg.ephemeral = PortRange { first, last };
    AddressTable::new(cfg, host())
}

/// A fixed pseudo-random sequence of hints (a 32-bit LCG).
pub fn hints(n: usize) -> impl Iterator<Item = u32> {
    let mut x: u32 = 12345;
    (0..n).map(move |_| {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        x
    })
}
