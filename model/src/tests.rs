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

use crate::addr::{overlaps, FourTuple};
use crate::errno::Errno;
use crate::process::Processes;
use crate::profile::{BindRules, ListenerChoice, PortRange, Profile, ProfileConfig};
use crate::seq::SeqNum;
use crate::table::{AddressTable, Entry, ListenerVerdict, SockOptions, SocketId, TableState};
use crate::time::{Duration, Instant};
use crate::time_wait::{EndReason, SegmentInfo, TimeWaitRecord, TwAction};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};

// ------------------------------------------------------------------------------------------
// Script runner
// ------------------------------------------------------------------------------------------

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or_else(|_| panic!("bad IP address {s:?}"))
}

fn sa(s: &str) -> SocketAddr {
    s.parse()
        .unwrap_or_else(|_| panic!("bad socket address {s:?}"))
}

/// Removes the common indentation and the blank lines around `text`.
fn trim_indent(text: &str) -> String {
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

fn parse_duration(s: &str) -> Duration {
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
struct Args<'a> {
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

fn show<T>(r: Result<T, Errno>, ok: impl FnOnce(T) -> String) -> String {
    match r {
        Ok(v) => ok(v),
        Err(e) => e.name().to_string(),
    }
}

fn flags(opts: SockOptions, uid: u32) -> String {
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

struct Runner {
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
fn run_script(script: &str) -> String {
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
fn check(script: &str, expected: &str) {
    let actual = run_script(script);
    let expected = trim_indent(expected);
    assert!(
        actual == expected,
        "\n--- script ---\n{}\n--- expected ---\n{expected}\n--- actual ---\n{actual}\n",
        trim_indent(script)
    );
}

fn tw_record(tuple: FourTuple, now: Instant, length: Duration) -> TimeWaitRecord {
    TimeWaitRecord::new(tuple, 1, SeqNum(5000), SeqNum(1000), 65535, now, length)
}

/// The 4-tuple a connected or TIME-WAIT socket holds.
fn connection_tuple(table: &AddressTable, id: SocketId) -> Option<FourTuple> {
    let e = table.get(id)?;
    match &e.state {
        TableState::Connected { remote } => Some(FourTuple::new(e.local?, *remote)),
        TableState::TimeWait(r) => Some(r.tuple),
        _ => None,
    }
}

/// `" ra"` when `on`: the script flag.
fn ra(on: bool) -> &'static str {
    if on {
        " ra"
    } else {
        ""
    }
}

fn outcome(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "EADDRINUSE"
    }
}

const RA_COMBOS: [(bool, bool); 4] = [(false, false), (false, true), (true, false), (true, true)];

// ------------------------------------------------------------------------------------------
// The runner itself
// ------------------------------------------------------------------------------------------

#[test]
fn runner_reports_mismatches() {
    let r = std::panic::catch_unwind(|| {
        check(
            "
            a = socket
            bind a 127.0.0.1:80
            ",
            "bind a 127.0.0.1:80 -> EADDRINUSE",
        )
    });
    assert!(r.is_err(), "a wrong expectation must fail the check");
    assert_eq!(trim_indent("\n    x\n      y\n\n"), "x\n  y");
}

// ------------------------------------------------------------------------------------------
// Linux: the observed cases
// ------------------------------------------------------------------------------------------

#[test]
fn linux_a11_listener_closed_child_established_both_ra() {
    check(
        "
        l = socket ra
        bind l 127.0.0.1:8080
        listen l
        c = accept l 127.0.0.1:8080 127.0.0.1:40000
        state c                         # the child inherits the listener's SO_REUSEADDR
        close l
        n = socket ra
        bind n 127.0.0.1:8080
        listen n
        listeners 127.0.0.1:8080
        c2 = accept n 127.0.0.1:8080 127.0.0.1:40001
        state c2
        ",
        "
        bind l 127.0.0.1:8080 -> ok
        listen l -> ok
        c = accept l 127.0.0.1:8080 127.0.0.1:40000 -> ok
        state c -> CONNECTED 127.0.0.1:8080<->127.0.0.1:40000 ra
        bind n 127.0.0.1:8080 -> ok
        listen n -> ok
        listeners 127.0.0.1:8080 -> n
        c2 = accept n 127.0.0.1:8080 127.0.0.1:40001 -> ok
        state c2 -> CONNECTED 127.0.0.1:8080<->127.0.0.1:40001 ra
        ",
    );
}

#[test]
fn linux_a_listener_closed_child_established_ra_combos() {
    for (l, n) in RA_COMBOS {
        let script = format!(
            "
            l = socket{}
            bind l 127.0.0.1:8080
            listen l
            c = accept l 127.0.0.1:8080 127.0.0.1:40000
            close l
            n = socket{}
            bind n 127.0.0.1:8080
            ",
            ra(l),
            ra(n)
        );
        let expected = format!(
            "
            bind l 127.0.0.1:8080 -> ok
            listen l -> ok
            c = accept l 127.0.0.1:8080 127.0.0.1:40000 -> ok
            bind n 127.0.0.1:8080 -> {}
            ",
            outcome(l && n)
        );
        check(&script, &expected);
    }
}

#[test]
fn linux_afl_worker_still_holds_the_listener() {
    // The listener is not closed (a forked worker inherited it): RA does not help.
    check(
        "
        l = socket ra
        bind l 127.0.0.1:8080
        listen l
        c = accept l 127.0.0.1:8080 127.0.0.1:40000
        n = socket ra
        bind n 127.0.0.1:8080
        ",
        "
        bind l 127.0.0.1:8080 -> ok
        listen l -> ok
        c = accept l 127.0.0.1:8080 127.0.0.1:40000 -> ok
        bind n 127.0.0.1:8080 -> EADDRINUSE
        ",
    );
}

#[test]
fn linux_b_server_side_time_wait_ra_combos() {
    for (l, n) in RA_COMBOS {
        let script = format!(
            "
            l = socket{}
            bind l 127.0.0.1:8080
            listen l
            c = accept l 127.0.0.1:8080 127.0.0.1:40000
            tw c
            close l
            state c
            n = socket{}
            bind n 127.0.0.1:8080
            ",
            ra(l),
            ra(n)
        );
        let expected = format!(
            "
            bind l 127.0.0.1:8080 -> ok
            listen l -> ok
            c = accept l 127.0.0.1:8080 127.0.0.1:40000 -> ok
            tw c -> expires 60.000s
            state c -> TIME-WAIT 127.0.0.1:8080<->127.0.0.1:40000 until 60.000s{}
            bind n 127.0.0.1:8080 -> {}
            ",
            ra(l),
            outcome(l && n)
        );
        check(&script, &expected);
        if l && n {
            continue;
        }
        // The port frees exactly when the TIME-WAIT record expires.
        let script = format!(
            "{script}
            time 59999ms
            bind n 127.0.0.1:8080
            poll
            time 60s
            state c
            bind n 127.0.0.1:8080
            "
        );
        let expected = trim_indent(&expected)
            + "\n"
            + &trim_indent(
                "
            time 59999ms -> nothing expired
            bind n 127.0.0.1:8080 -> EADDRINUSE
            poll -> 60.000s
            time 60s -> expired c
            state c -> gone
            bind n 127.0.0.1:8080 -> ok
            ",
            );
        check(&script, &expected);
    }
}

#[test]
fn linux_b_time_wait_without_ra_frees_the_port_for_a_plain_bind() {
    check(
        "
        l = socket
        bind l 127.0.0.1:8080
        listen l
        c = accept l 127.0.0.1:8080 127.0.0.1:40000
        tw c
        close l
        checkbind 127.0.0.1:8080
        checkbind 0.0.0.0:8080 ra
        time 60s
        checkbind 127.0.0.1:8080
        checkbind 0.0.0.0:8080
        poll
        ",
        "
        bind l 127.0.0.1:8080 -> ok
        listen l -> ok
        c = accept l 127.0.0.1:8080 127.0.0.1:40000 -> ok
        tw c -> expires 60.000s
        checkbind 127.0.0.1:8080 -> EADDRINUSE
        checkbind 0.0.0.0:8080 ra -> EADDRINUSE
        time 60s -> expired c
        checkbind 127.0.0.1:8080 -> ok
        checkbind 0.0.0.0:8080 -> ok
        poll -> none
        ",
    );
}

#[test]
fn linux_b_lis_time_wait_with_the_listener_still_listening() {
    check(
        "
        l = socket ra
        bind l 127.0.0.1:8080
        listen l
        c = accept l 127.0.0.1:8080 127.0.0.1:40000
        tw c
        n = socket ra
        bind n 127.0.0.1:8080
        time 60s
        bind n 127.0.0.1:8080          # the listener alone still blocks
        close l
        bind n 127.0.0.1:8080
        ",
        "
        bind l 127.0.0.1:8080 -> ok
        listen l -> ok
        c = accept l 127.0.0.1:8080 127.0.0.1:40000 -> ok
        tw c -> expires 60.000s
        bind n 127.0.0.1:8080 -> EADDRINUSE
        time 60s -> expired c
        bind n 127.0.0.1:8080 -> EADDRINUSE
        bind n 127.0.0.1:8080 -> ok
        ",
    );
}

#[test]
fn linux_c1_two_ra_sockets_bound_only_the_first_may_listen() {
    check(
        "
        s1 = socket ra
        s2 = socket ra
        bind s1 127.0.0.1:8080
        bind s2 127.0.0.1:8080
        listen s1
        listen s2
        state s2
        listeners 127.0.0.1:8080
        ",
        "
        bind s1 127.0.0.1:8080 -> ok
        bind s2 127.0.0.1:8080 -> ok
        listen s1 -> ok
        listen s2 -> EADDRINUSE
        state s2 -> BOUND 127.0.0.1:8080 ra
        listeners 127.0.0.1:8080 -> s1
        ",
    );
}

#[test]
fn linux_c2_listener_blocks_every_ra_combination() {
    for (r1, r2) in RA_COMBOS {
        check(
            &format!(
                "
                s1 = socket{}
                bind s1 127.0.0.1:8080
                listen s1
                s2 = socket{}
                bind s2 127.0.0.1:8080
                ",
                ra(r1),
                ra(r2)
            ),
            "
            bind s1 127.0.0.1:8080 -> ok
            listen s1 -> ok
            bind s2 127.0.0.1:8080 -> EADDRINUSE
            ",
        );
    }
}

#[test]
fn linux_c3_bound_socket_needs_ra_on_both() {
    for (r1, r2) in RA_COMBOS {
        check(
            &format!(
                "
                s1 = socket{}
                bind s1 127.0.0.1:8080
                s2 = socket{}
                bind s2 127.0.0.1:8080
                ",
                ra(r1),
                ra(r2)
            ),
            &format!(
                "
                bind s1 127.0.0.1:8080 -> ok
                bind s2 127.0.0.1:8080 -> {}
                ",
                outcome(r1 && r2)
            ),
        );
    }
}

#[test]
fn linux_d_wildcard_and_loopback_every_order() {
    let orders = [("0.0.0.0", "127.0.0.1"), ("127.0.0.1", "0.0.0.0")];
    for (a1, a2) in orders {
        for (r1, r2) in RA_COMBOS {
            for s1_listens_first in [false, true] {
                for s2_listens_first in [false, true] {
                    let mut script = format!("s1 = socket{}\ns2 = socket{}\n", ra(r1), ra(r2));
                    let mut expected = String::new();
                    let mut step = |cmd: String, result: &str| {
                        script.push_str(&cmd);
                        script.push('\n');
                        expected.push_str(&format!("{cmd} -> {result}\n"));
                    };
                    step(format!("bind s1 {a1}:8080"), "ok");
                    if s1_listens_first {
                        step("listen s1".into(), "ok");
                    }
                    let both = r1 && r2 && !s1_listens_first;
                    step(format!("bind s2 {a2}:8080"), outcome(both));
                    if both {
                        // Both bound, neither listening: whichever listens second fails.
                        let (first, second) = if s2_listens_first {
                            ("s2", "s1")
                        } else {
                            ("s1", "s2")
                        };
                        step(format!("listen {first}"), "ok");
                        step(format!("listen {second}"), "EADDRINUSE");
                    }
                    check(&script, &expected);
                }
            }
        }
    }
}

#[test]
fn linux_d_unrelated_addresses_do_not_overlap() {
    check(
        "
        s1 = socket
        s2 = socket
        bind s1 127.0.0.1:8080
        bind s2 10.0.0.1:8080
        listen s1
        listen s2
        listeners 10.0.0.1:8080
        ",
        "
        bind s1 127.0.0.1:8080 -> ok
        bind s2 10.0.0.1:8080 -> ok
        listen s1 -> ok
        listen s2 -> ok
        listeners 10.0.0.1:8080 -> s2
        ",
    );
}

#[test]
fn linux_e1_reuseport_listeners_same_uid() {
    check(
        "
        s1 = socket rp uid=1000
        s2 = socket rp uid=1000
        bind s1 127.0.0.1:8080
        listen s1
        bind s2 127.0.0.1:8080
        listen s2
        listeners 127.0.0.1:8080
        ",
        "
        bind s1 127.0.0.1:8080 -> ok
        listen s1 -> ok
        bind s2 127.0.0.1:8080 -> ok
        listen s2 -> ok
        listeners 127.0.0.1:8080 -> s1 s2
        ",
    );
}

#[test]
fn linux_e2_reuseport_needs_both_sockets_and_the_same_uid() {
    for (o1, o2) in [("rp", ""), ("", "rp"), ("rp ra", "ra")] {
        check(
            &format!(
                "
                s1 = socket {o1}
                bind s1 127.0.0.1:8080
                listen s1
                s2 = socket {o2}
                bind s2 127.0.0.1:8080
                "
            ),
            "
            bind s1 127.0.0.1:8080 -> ok
            listen s1 -> ok
            bind s2 127.0.0.1:8080 -> EADDRINUSE
            ",
        );
    }
    // Different uid, the other socket not in TIME-WAIT: EADDRINUSE, listening or not.
    check(
        "
        s1 = socket rp uid=1000
        s2 = socket rp uid=1001
        s3 = socket rp uid=1000
        bind s1 127.0.0.1:8080
        bind s2 127.0.0.1:8080
        checkbind 127.0.0.1:8080 rp uid=1001
        bind s3 127.0.0.1:8080
        ",
        "
        bind s1 127.0.0.1:8080 -> ok
        bind s2 127.0.0.1:8080 -> EADDRINUSE
        checkbind 127.0.0.1:8080 rp uid=1001 -> EADDRINUSE
        bind s3 127.0.0.1:8080 -> ok
        ",
    );
    // Different uid but the other socket is in TIME-WAIT: allowed.
    check(
        "
        l = socket rp uid=1000
        bind l 127.0.0.1:8080
        listen l
        c = accept l 127.0.0.1:8080 127.0.0.1:40000
        tw c
        close l
        checkbind 127.0.0.1:8080 rp uid=1001
        checkbind 127.0.0.1:8080 uid=1001
        ",
        "
        bind l 127.0.0.1:8080 -> ok
        listen l -> ok
        c = accept l 127.0.0.1:8080 127.0.0.1:40000 -> ok
        tw c -> expires 60.000s
        checkbind 127.0.0.1:8080 rp uid=1001 -> ok
        checkbind 127.0.0.1:8080 uid=1001 -> EADDRINUSE
        ",
    );
}

#[test]
fn linux_f1_client_side_time_wait_port() {
    for (old, new) in RA_COMBOS {
        let script = format!(
            "
            host 127.0.0.1
            c = socket{}
            connect c 127.0.0.1:80
            tw c
            n = socket{}
            bind n 127.0.0.1:32768
            ",
            ra(old),
            ra(new)
        );
        let expected = format!(
            "
            connect c 127.0.0.1:80 -> 127.0.0.1:32768
            tw c -> expires 60.000s
            bind n 127.0.0.1:32768 -> {}
            ",
            outcome(old && new)
        );
        check(&script, &expected);
    }
}

#[test]
fn linux_f11_bind_over_client_time_wait_then_recycle() {
    // The table refuses the busy 4-tuple; recycling the TIME-WAIT (tcp_twsk_unique) is the
    // caller's decision: it removes the record and connects again.
    check(
        "
        host 127.0.0.1
        c = socket ra
        connect c 127.0.0.1:80
        tw c
        n = socket ra
        bind n 127.0.0.1:32768
        connect n 127.0.0.1:80
        lookup 127.0.0.1:32768 127.0.0.1:80
        close c
        connect n 127.0.0.1:80
        lookup 127.0.0.1:32768 127.0.0.1:80
        poll
        ",
        "
        connect c 127.0.0.1:80 -> 127.0.0.1:32768
        tw c -> expires 60.000s
        bind n 127.0.0.1:32768 -> ok
        connect n 127.0.0.1:80 -> EADDRNOTAVAIL
        lookup 127.0.0.1:32768 127.0.0.1:80 -> c
        connect n 127.0.0.1:80 -> 127.0.0.1:32768
        lookup 127.0.0.1:32768 127.0.0.1:80 -> n
        poll -> none
        ",
    );
}

#[test]
fn linux_f4_two_ra_sockets_on_one_address_connect_to_one_server() {
    check(
        "
        a = socket ra
        b = socket ra
        bind a 127.0.0.1:40000
        bind b 127.0.0.1:40000
        connect a 127.0.0.1:80
        connect b 127.0.0.1:80
        state b
        connect b 127.0.0.1:81
        ",
        "
        bind a 127.0.0.1:40000 -> ok
        bind b 127.0.0.1:40000 -> ok
        connect a 127.0.0.1:80 -> 127.0.0.1:40000
        connect b 127.0.0.1:80 -> EADDRNOTAVAIL
        state b -> BOUND 127.0.0.1:40000 ra
        connect b 127.0.0.1:81 -> 127.0.0.1:40000
        ",
    );
}

#[test]
fn linux_wildcard_bound_socket_connects_from_the_source_address() {
    check(
        "
        a = socket
        bind a 0.0.0.0:40000
        connect a 10.0.0.2:80 src=10.0.0.1
        state a
        lookup 10.0.0.1:40000 10.0.0.2:80
        ",
        "
        bind a 0.0.0.0:40000 -> ok
        connect a 10.0.0.2:80 src=10.0.0.1 -> 10.0.0.1:40000
        state a -> CONNECTED 10.0.0.1:40000<->10.0.0.2:80
        lookup 10.0.0.1:40000 10.0.0.2:80 -> a
        ",
    );
}

#[test]
fn m2_bind_twice_and_other_state_errors() {
    for profile in ["linux", "rfc793"] {
        check(
            &format!(
                "
                profile {profile}
                a = socket
                bind a 127.0.0.1:8080
                bind a 127.0.0.1:8081
                listen a
                listen a
                connect a 127.0.0.1:80
                b = socket
                connect b 127.0.0.1:80 hint=7
                listen b
                bind b 127.0.0.1:9000
                connect b 127.0.0.1:81
                "
            ),
            &format!(
                "
                bind a 127.0.0.1:8080 -> ok
                bind a 127.0.0.1:8081 -> EINVAL
                listen a -> ok
                listen a -> ok
                connect a 127.0.0.1:80 -> {}
                connect b 127.0.0.1:80 hint=7 -> 127.0.0.1:{}
                listen b -> EINVAL
                bind b 127.0.0.1:9000 -> EINVAL
                connect b 127.0.0.1:81 -> EISCONN
                ",
                // connect() on a listener: Linux inet_stream_connect (not in CLOSE: EISCONN,
                // observed on a 6.18 kernel); FreeBSD soconnect (SO_ACCEPTCONN: EOPNOTSUPP).
                if profile == "linux" {
                    "EISCONN"
                } else {
                    "EOPNOTSUPP"
                },
                if profile == "linux" { 32774 } else { 49159 }
            ),
        );
    }
}

#[test]
fn m3_listen_without_bind_picks_an_ephemeral_port() {
    check(
        "
        l = socket
        listen l
        m = socket
        listen m hint=1
        state m
        ",
        "
        listen l -> 0.0.0.0:32769
        listen m hint=1 -> 0.0.0.0:32771
        state m -> LISTEN 0.0.0.0:32771
        ",
    );
    check(
        "
        profile rfc793
        l = socket
        listen l
        ",
        "
        listen l -> 0.0.0.0:49152
        ",
    );
    for hint in [0, 1, 2, 28_231, 28_232, 1 << 31, u32::MAX - 1, u32::MAX] {
        let mut t = AddressTable::new(Profile::Linux.config(), vec![ip("127.0.0.1")]);
        let s = t.socket(0);
        let a = t.listen(s, hint).unwrap();
        assert!((32768..=60999).contains(&a.port()), "hint {hint}: {a}");
        assert_eq!(a.port() % 2, 1, "linux bind(port 0) tries odd ports first");
        assert!(a.ip().is_unspecified());
        assert_eq!(
            t.listeners_for(SocketAddr::new(ip("127.0.0.1"), a.port())),
            vec![s]
        );
    }
}

#[test]
fn non_local_address_is_not_available() {
    for profile in ["linux", "rfc793"] {
        check(
            &format!(
                "
                profile {profile}
                a = socket ra
                bind a 10.9.9.9:8080
                checkbind 10.9.9.9:8080
                bind a [::1]:8080
                state a
                bind a 10.0.0.1:8080
                "
            ),
            "
            bind a 10.9.9.9:8080 -> EADDRNOTAVAIL
            checkbind 10.9.9.9:8080 -> EADDRNOTAVAIL
            bind a [::1]:8080 -> EADDRNOTAVAIL
            state a -> UNBOUND ra
            bind a 10.0.0.1:8080 -> ok
            ",
        );
    }
}

#[test]
fn ipv6_wildcard_overlaps_ipv4_unless_v6only() {
    check(
        "
        host 127.0.0.1 ::1
        a = socket
        bind a 0.0.0.0:8080
        b = socket
        bind b [::]:8080
        c = socket v6only
        bind c [::]:8080
        d = socket
        bind d [::1]:8080
        ",
        "
        bind a 0.0.0.0:8080 -> ok
        bind b [::]:8080 -> EADDRINUSE
        bind c [::]:8080 -> ok
        bind d [::1]:8080 -> EADDRINUSE
        ",
    );
}

/// Observed on Linux 6.18 (tests/matrix/*-ipv6-*): a v4-mapped address is its IPv4 address
/// (also for 4-tuples), a v6-only socket cannot bind one, and an IPv4 destination prefers an
/// IPv4 listener to an IPv6 one on the same address (`compute_score`), exact addresses first.
#[test]
fn ipv6_mapped_addresses_and_listener_families() {
    check(
        "
        host 127.0.0.1 ::1
        m = socket v6only
        bind m [::ffff:127.0.0.1]:8080
        w6 = socket rp
        bind w6 [::]:8080
        listen w6
        w4 = socket rp
        bind w4 0.0.0.0:8080
        listen w4
        listeners 127.0.0.1:8080
        listeners [::ffff:127.0.0.1]:8080
        listeners [::1]:8080
        x6 = socket rp
        bind x6 [::ffff:127.0.0.1]:8080
        listen x6
        x4 = socket rp
        bind x4 127.0.0.1:8080
        listen x4
        listeners 127.0.0.1:8080
        c = socket
        connect c [::ffff:127.0.0.1]:80 src=::ffff:127.0.0.1 hint=0
        lookup 127.0.0.1:32768 127.0.0.1:80
        ",
        "
        bind m [::ffff:127.0.0.1]:8080 -> EINVAL
        bind w6 [::]:8080 -> ok
        listen w6 -> ok
        bind w4 0.0.0.0:8080 -> ok
        listen w4 -> ok
        listeners 127.0.0.1:8080 -> w4 w6
        listeners [::ffff:127.0.0.1]:8080 -> w4 w6
        listeners [::1]:8080 -> w6
        bind x6 [::ffff:127.0.0.1]:8080 -> ok
        listen x6 -> ok
        bind x4 127.0.0.1:8080 -> ok
        listen x4 -> ok
        listeners 127.0.0.1:8080 -> x4 x6 w4 w6
        connect c [::ffff:127.0.0.1]:80 src=::ffff:127.0.0.1 hint=0 -> 127.0.0.1:32768
        lookup 127.0.0.1:32768 127.0.0.1:80 -> c
        ",
    );
}

#[test]
fn listeners_for_prefers_the_exact_address() {
    // Linux: only SO_REUSEPORT lets a wildcard and a specific listener coexist.
    check(
        "
        w = socket rp
        bind w 0.0.0.0:8080
        listen w
        s = socket rp
        bind s 127.0.0.1:8080
        listen s
        listeners 127.0.0.1:8080
        listeners 10.0.0.1:8080
        listeners 127.0.0.1:8081
        close s
        listeners 127.0.0.1:8080
        ",
        "
        bind w 0.0.0.0:8080 -> ok
        listen w -> ok
        bind s 127.0.0.1:8080 -> ok
        listen s -> ok
        listeners 127.0.0.1:8080 -> s w
        listeners 10.0.0.1:8080 -> w
        listeners 127.0.0.1:8081 -> none
        listeners 127.0.0.1:8080 -> w
        ",
    );
    // BSD: a wildcard and a specific listener may coexist with SO_REUSEADDR.
    check(
        "
        profile rfc793
        w = socket
        bind w 0.0.0.0:8080
        listen w
        s = socket ra
        bind s 127.0.0.1:8080
        listen s
        listeners 127.0.0.1:8080
        listeners 10.0.0.1:8080
        ",
        "
        bind w 0.0.0.0:8080 -> ok
        listen w -> ok
        bind s 127.0.0.1:8080 -> ok
        listen s -> ok
        listeners 127.0.0.1:8080 -> s w
        listeners 10.0.0.1:8080 -> w
        ",
    );
}

// ------------------------------------------------------------------------------------------
// BSD rule (rfc793 profile)
// ------------------------------------------------------------------------------------------

#[test]
fn bsd_ra_binds_over_established_and_time_wait_whatever_the_other_flag() {
    for (l, n) in RA_COMBOS {
        check(
            &format!(
                "
                profile rfc793
                l = socket{}
                bind l 127.0.0.1:8080
                listen l
                c = accept l 127.0.0.1:8080 127.0.0.1:40000
                d = accept l 127.0.0.1:8080 127.0.0.1:40001
                tw d
                close l
                n = socket{}
                bind n 127.0.0.1:8080
                ",
                ra(l),
                ra(n)
            ),
            &format!(
                "
                bind l 127.0.0.1:8080 -> ok
                listen l -> ok
                c = accept l 127.0.0.1:8080 127.0.0.1:40000 -> ok
                d = accept l 127.0.0.1:8080 127.0.0.1:40001 -> ok
                tw d -> expires 240.000s
                bind n 127.0.0.1:8080 -> {}
                ",
                // only the new socket's flag matters
                outcome(n)
            ),
        );
    }
}

#[test]
fn bsd_without_ra_any_overlap_fails() {
    check(
        "
        profile rfc793
        a = socket ra
        bind a 0.0.0.0:8080
        b = socket
        bind b 127.0.0.1:8080
        c = socket
        connect c 10.0.0.2:80 src=10.0.0.1 hint=3
        tw c
        checkbind 10.0.0.1:49155
        checkbind 0.0.0.0:49155
        checkbind 127.0.0.1:49155
        checkbind 0.0.0.0:49155 ra
        time 240s
        checkbind 0.0.0.0:49155
        ",
        "
        bind a 0.0.0.0:8080 -> ok
        bind b 127.0.0.1:8080 -> EADDRINUSE
        connect c 10.0.0.2:80 src=10.0.0.1 hint=3 -> 10.0.0.1:49155
        tw c -> expires 240.000s
        checkbind 10.0.0.1:49155 -> EADDRINUSE
        checkbind 0.0.0.0:49155 -> EADDRINUSE
        checkbind 127.0.0.1:49155 -> ok
        checkbind 0.0.0.0:49155 ra -> ok
        time 240s -> expired c
        checkbind 0.0.0.0:49155 -> ok
        ",
    );
}

#[test]
fn bsd_ra_against_unconnected_sockets_only_exact_address_conflicts() {
    check(
        "
        profile rfc793
        l = socket ra
        bind l 127.0.0.1:8080
        listen l
        checkbind 127.0.0.1:8080 ra
        checkbind 0.0.0.0:8080 ra
        checkbind 0.0.0.0:8080
        w = socket ra
        bind w 0.0.0.0:9090
        listen w
        checkbind 0.0.0.0:9090 ra
        checkbind 10.0.0.1:9090 ra
        b = socket
        bind b 10.0.0.1:7070
        checkbind 10.0.0.1:7070 ra   # bound, not listening: still unconnected
        checkbind 127.0.0.1:7070 ra
        ",
        "
        bind l 127.0.0.1:8080 -> ok
        listen l -> ok
        checkbind 127.0.0.1:8080 ra -> EADDRINUSE
        checkbind 0.0.0.0:8080 ra -> ok
        checkbind 0.0.0.0:8080 -> EADDRINUSE
        bind w 0.0.0.0:9090 -> ok
        listen w -> ok
        checkbind 0.0.0.0:9090 ra -> EADDRINUSE
        checkbind 10.0.0.1:9090 ra -> ok
        bind b 10.0.0.1:7070 -> ok
        checkbind 10.0.0.1:7070 ra -> EADDRINUSE
        checkbind 127.0.0.1:7070 ra -> ok
        ",
    );
}

#[test]
fn bsd_listen_does_not_recheck() {
    // Linux C1 / D contrast: BSD refuses the second bind of C1 already, and lets a wildcard
    // and a specific socket both listen.
    check(
        "
        profile rfc793
        s1 = socket ra
        s2 = socket ra
        bind s1 127.0.0.1:8080
        bind s2 127.0.0.1:8080
        w = socket ra
        bind w 0.0.0.0:8080
        listen w
        listen s1
        listeners 127.0.0.1:8080
        ",
        "
        bind s1 127.0.0.1:8080 -> ok
        bind s2 127.0.0.1:8080 -> EADDRINUSE
        bind w 0.0.0.0:8080 -> ok
        listen w -> ok
        listen s1 -> ok
        listeners 127.0.0.1:8080 -> s1 w
        ",
    );
}

#[test]
fn bsd_reuseport_alone_is_an_exact_lookup() {
    // bind-rules.md: only a socket "without RA/RP" does the wildcard lookup
    // (FreeBSD in_pcbbind_setup sets INPLOOKUP_WILDCARD only without both options).
    check(
        "
        profile rfc793
        l = socket
        bind l 127.0.0.1:8080
        listen l
        c = accept l 127.0.0.1:8080 127.0.0.1:40000
        close l
        checkbind 127.0.0.1:8080
        checkbind 127.0.0.1:8080 rp
        b = socket
        bind b 10.0.0.1:9090
        checkbind 0.0.0.0:9090 rp
        checkbind 10.0.0.1:9090 rp
        p = socket rp
        bind p 10.0.0.1:7070
        checkbind 10.0.0.1:7070 rp
        checkbind 10.0.0.1:7070 rp uid=5
        ",
        "
        bind l 127.0.0.1:8080 -> ok
        listen l -> ok
        c = accept l 127.0.0.1:8080 127.0.0.1:40000 -> ok
        checkbind 127.0.0.1:8080 -> EADDRINUSE
        checkbind 127.0.0.1:8080 rp -> ok
        bind b 10.0.0.1:9090 -> ok
        checkbind 0.0.0.0:9090 rp -> ok
        checkbind 10.0.0.1:9090 rp -> EADDRINUSE
        bind p 10.0.0.1:7070 -> ok
        checkbind 10.0.0.1:7070 rp -> ok
        checkbind 10.0.0.1:7070 rp uid=5 -> EADDRINUSE
        ",
    );
}

// ------------------------------------------------------------------------------------------
// Ports picked by connect() and bind(port 0)
// ------------------------------------------------------------------------------------------

fn host() -> Vec<IpAddr> {
    vec![ip("127.0.0.1"), ip("10.0.0.1")]
}

fn tiny(profile: Profile, first: u16, last: u16) -> AddressTable {
    let mut cfg: ProfileConfig = profile.config();
    cfg.ephemeral = PortRange { first, last };
    AddressTable::new(cfg, host())
}

/// A fixed pseudo-random sequence of hints (a 32-bit LCG).
fn hints(n: usize) -> impl Iterator<Item = u32> {
    let mut x: u32 = 12345;
    (0..n).map(move |_| {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        x
    })
}

#[test]
fn automatic_connect_ports_are_in_range_and_even_first_on_linux() {
    let server = sa("10.0.0.2:80");
    for hint in [0, 1, 2, 3, 28_231, 28_232, 1 << 31, u32::MAX - 1, u32::MAX]
        .into_iter()
        .chain(hints(50))
    {
        let mut t = AddressTable::new(Profile::Linux.config(), host());
        let s = t.socket(0);
        let l = t
            .connect(s, ip("10.0.0.1"), server, hint, Instant::ZERO)
            .unwrap();
        assert_eq!(l.ip(), ip("10.0.0.1"));
        assert!((32768..=60999).contains(&l.port()), "hint {hint}: {l}");
        assert_eq!(
            l.port() % 2,
            0,
            "hint {hint}: linux connect tries even ports first"
        );
        assert_eq!(
            t.get(s).unwrap().state,
            TableState::Connected { remote: server }
        );
        assert_eq!(t.lookup_tuple(&FourTuple::new(l, server)), Some(s));

        let mut t = AddressTable::new(Profile::Rfc793.config(), host());
        let s = t.socket(0);
        let l = t
            .connect(s, ip("10.0.0.1"), server, hint, Instant::ZERO)
            .unwrap();
        assert!((49152..=65535).contains(&l.port()), "hint {hint}: {l}");
        assert_eq!(u32::from(l.port()), 49152 + hint % 16384);
    }
}

#[test]
fn connects_to_one_remote_get_distinct_ports() {
    for profile in Profile::ALL {
        let mut t = AddressTable::new(profile.config(), host());
        let range = profile.config().ephemeral;
        let server = sa("10.0.0.2:80");
        let mut seen = BTreeSet::new();
        for (i, hint) in hints(500).enumerate() {
            // Linux: the same hash for every connect to one destination, as the kernel does.
            let hint = if profile == Profile::Linux { 777 } else { hint };
            let s = t.socket(0);
            let l = t
                .connect(s, ip("10.0.0.1"), server, hint, Instant::ZERO)
                .unwrap();
            assert!(range.contains(l.port()), "{profile:?}: {l}");
            assert!(seen.insert(l.port()), "{profile:?}: connect {i} reused {l}");
        }
        assert_eq!(t.len(), 500);
    }
}

#[test]
fn connects_to_different_remotes_may_share_a_port_on_linux_only() {
    for profile in Profile::ALL {
        let mut t = AddressTable::new(profile.config(), host());
        let (a, b) = (t.socket(0), t.socket(0));
        let la = t
            .connect(a, ip("10.0.0.1"), sa("10.0.0.2:80"), 100, Instant::ZERO)
            .unwrap();
        let lb = t
            .connect(b, ip("10.0.0.1"), sa("10.0.0.3:80"), 100, Instant::ZERO)
            .unwrap();
        assert_eq!(
            la == lb,
            profile == Profile::Linux,
            "{profile:?}: {la} {lb}"
        );
        assert_eq!(
            t.lookup_tuple(&FourTuple::new(la, sa("10.0.0.2:80"))),
            Some(a)
        );
        assert_eq!(
            t.lookup_tuple(&FourTuple::new(lb, sa("10.0.0.3:80"))),
            Some(b)
        );
    }
}

#[test]
fn linux_connect_skips_explicitly_bound_ports() {
    let mut t = tiny(Profile::Linux, 40000, 40009);
    let b = t.socket(0);
    t.bind(b, sa("10.0.0.1:40000"), 0).unwrap();
    let c = t.socket(0);
    let l = t
        .connect(c, ip("127.0.0.1"), sa("10.0.0.2:80"), 0, Instant::ZERO)
        .unwrap();
    assert_eq!(l, sa("127.0.0.1:40002"));
    // A port used only by connects is shared with a connect to another destination.
    let d = t.socket(0);
    let l = t
        .connect(d, ip("127.0.0.1"), sa("10.0.0.3:80"), 2, Instant::ZERO)
        .unwrap();
    assert_eq!(l, sa("127.0.0.1:40002"));
}

#[test]
fn connect_port_exhaustion() {
    for profile in Profile::ALL {
        let mut t = tiny(profile, 40000, 40009);
        let server = sa("10.0.0.2:80");
        let src = ip("10.0.0.1");
        let mut socks = Vec::new();
        let mut ports = BTreeSet::new();
        for hint in hints(10) {
            let s = t.socket(0);
            let l = t.connect(s, src, server, hint, Instant::ZERO).unwrap();
            ports.insert(l.port());
            socks.push(s);
        }
        assert_eq!(ports, (40000..=40009).collect(), "{profile:?}");
        let s = t.socket(0);
        assert_eq!(
            t.connect(s, src, server, 3, Instant::ZERO),
            Err(Errno::EADDRNOTAVAIL),
            "{profile:?}"
        );
        assert_eq!(t.get(s).unwrap().state, TableState::Unbound);

        // Another destination: Linux shares the ports, BSD has none left.
        let other = t.connect(s, src, sa("10.0.0.3:80"), 3, Instant::ZERO);
        match profile {
            Profile::Linux => assert!(other.is_ok(), "{other:?}"),
            _ => assert_eq!(other, Err(Errno::EADDRNOTAVAIL), "{profile:?}"),
        }

        // TIME-WAIT still holds the 4-tuple; removing the connection frees it.
        let victim = socks[4];
        let tuple = connection_tuple(&t, victim).unwrap();
        t.enter_time_wait(
            victim,
            tw_record(tuple, Instant::ZERO, Duration::from_secs(60)),
        )
        .unwrap();
        let n = t.socket(0);
        let later = Instant::ZERO + Duration::from_secs(60);
        assert_eq!(
            t.connect(n, src, server, 0, Instant::ZERO),
            Err(Errno::EADDRNOTAVAIL)
        );
        assert_eq!(t.handle_timeout(later).len(), 1);
        assert_eq!(
            t.connect(n, src, server, 0, later),
            Ok(tuple.local),
            "{profile:?}"
        );
        assert_eq!(t.connect(n, src, server, 0, later), Err(Errno::EISCONN));
        let m = t.socket(0);
        assert_eq!(
            t.connect(m, src, server, 0, later),
            Err(Errno::EADDRNOTAVAIL)
        );
        let freed = connection_tuple(&t, socks[7]).unwrap();
        t.remove(socks[7]);
        assert_eq!(
            t.connect(m, src, server, 9, later),
            Ok(freed.local),
            "{profile:?}"
        );
    }
}

#[test]
fn connect_finds_the_last_free_port_whatever_the_hint() {
    for profile in Profile::ALL {
        for free in 40000..=40009u16 {
            for hint in [0, 1, 5, 9, 1 << 31, u32::MAX - 2, u32::MAX - 1, u32::MAX] {
                let mut t = tiny(profile, 40000, 40009);
                for p in (40000..=40009).filter(|p| *p != free) {
                    let s = t.socket(0);
                    t.bind(s, SocketAddr::new(ip("0.0.0.0"), p), 0).unwrap();
                }
                let mut u = t.clone();
                let b = u.socket(0);
                let got = u.bind(b, sa("127.0.0.1:0"), hint);
                assert_eq!(got.map(|a| a.port()), Ok(free), "{profile:?} hint {hint}");
                let c = t.socket(0);
                let got = t.connect(c, ip("10.0.0.1"), sa("10.0.0.2:80"), hint, Instant::ZERO);
                assert_eq!(got.map(|l| l.port()), Ok(free), "{profile:?} hint {hint}");
                let b = t.socket(0);
                let got = t.bind(b, sa("0.0.0.0:0"), hint);
                assert_eq!(got, Err(Errno::EADDRINUSE), "{profile:?} hint {hint}");
            }
        }
    }
}

#[test]
fn bind_port_zero_exhaustion() {
    for profile in Profile::ALL {
        let mut t = tiny(profile, 40000, 40009);
        let mut bound = Vec::new();
        for hint in hints(10) {
            let s = t.socket(0);
            let a = t.bind(s, sa("0.0.0.0:0"), hint).unwrap();
            assert!(a.ip().is_unspecified());
            bound.push((s, a));
        }
        let ports: BTreeSet<u16> = bound.iter().map(|(_, a)| a.port()).collect();
        assert_eq!(ports, (40000..=40009).collect(), "{profile:?}");
        let s = t.socket(0);
        assert_eq!(t.bind(s, sa("0.0.0.0:0"), 1), Err(Errno::EADDRINUSE));
        assert_eq!(t.bind(s, sa("127.0.0.1:0"), 1), Err(Errno::EADDRINUSE));
        assert_eq!(t.listen(s, 1), Err(Errno::EADDRINUSE));
        assert_eq!(t.get(s).unwrap().local, None);
        let c = t.socket(0);
        assert_eq!(
            t.connect(c, ip("10.0.0.1"), sa("10.0.0.2:80"), 0, Instant::ZERO),
            Err(Errno::EADDRNOTAVAIL)
        );
        t.remove(bound[3].0);
        assert_eq!(t.bind(s, sa("0.0.0.0:0"), 0), Ok(bound[3].1), "{profile:?}");
    }
}

#[test]
fn bind_port_zero_tries_odd_ports_first_on_linux() {
    let mut t = tiny(Profile::Linux, 40000, 40009);
    let mut ports = Vec::new();
    for _ in 0..10 {
        let s = t.socket(0);
        ports.push(t.bind(s, sa("0.0.0.0:0"), 0).unwrap().port());
    }
    assert_eq!(
        ports,
        [40001, 40003, 40005, 40007, 40009, 40000, 40002, 40004, 40006, 40008]
    );
}

// ------------------------------------------------------------------------------------------
// Property tests: the address table
// ------------------------------------------------------------------------------------------

const BIND_ADDRS: [&str; 6] = ["0.0.0.0", "127.0.0.1", "10.0.0.1", "::", "::1", "10.9.9.9"];
const SRC_ADDRS: [&str; 2] = ["127.0.0.1", "10.0.0.1"];
const REMOTES: [&str; 4] = ["127.0.0.1:80", "10.0.0.2:80", "10.0.0.2:443", "10.0.0.3:80"];
const CHILD_LOCALS: [&str; 3] = ["127.0.0.1", "10.0.0.1", "::1"];
const PEERS: [&str; 5] = [
    "10.0.0.2:50000",
    "10.0.0.3:50000",
    "127.0.0.1:40001",
    "[::1]:50000",
    "[::1]:50001",
];
const TW_LENGTHS_MS: [u64; 4] = [0, 1_000, 60_000, 240_000];

#[derive(Clone, Debug)]
enum Op {
    /// socket() then setsockopt(), as programs do.
    Socket {
        uid: u32,
        ra: bool,
        rp: bool,
        ex: bool,
        v6only: bool,
    },
    SetOpts {
        sock: usize,
        ra: bool,
        rp: bool,
        ex: bool,
        v6only: bool,
    },
    Bind {
        sock: usize,
        addr: usize,
        port: usize,
        hint: u32,
    },
    Listen {
        sock: usize,
        hint: u32,
    },
    Connect {
        sock: usize,
        src: usize,
        remote: usize,
        hint: u32,
    },
    Accept {
        sock: usize,
        local: usize,
        peer: usize,
    },
    EnterTimeWait {
        sock: usize,
        len: usize,
    },
    RetransmitFin {
        sock: usize,
    },
    Remove {
        sock: usize,
    },
    /// The connection ended while the socket stays open (`disconnected`).
    Disconnect {
        sock: usize,
    },
    Advance {
        ms: u64,
    },
    /// Jump to the next TIME-WAIT deadline, as an event loop driven by `poll_timeout` does.
    AdvanceToDeadline,
}

fn hint_strategy() -> impl Strategy<Value = u32> {
    prop_oneof![0..64u32, any::<u32>(), (u32::MAX - 64)..=u32::MAX]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    // Mostly one of the four newest sockets, so that operations meet.
    let s = prop_oneof![3 => 0..4usize, 1 => any::<usize>()];
    // Mostly IPv4 and a few ports, so that sockets meet.
    let addr = prop_oneof![6 => 0..2usize, 1 => 2..3usize, 1 => 0..BIND_ADDRS.len()];
    let port = prop_oneof![4 => Just(2usize), 2 => Just(3usize), 2 => 0..5usize];
    prop_oneof![
        3 => (0..2u32, any::<bool>(), any::<bool>(), prop::bool::weighted(0.2), prop::bool::weighted(0.2))
            .prop_map(|(uid, ra, rp, ex, v6only)| Op::Socket { uid, ra, rp, ex, v6only }),
        1 => (s.clone(), any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>())
            .prop_map(|(sock, ra, rp, ex, v6only)| Op::SetOpts { sock, ra, rp, ex, v6only }),
        4 => (s.clone(), addr, port, hint_strategy())
            .prop_map(|(sock, addr, port, hint)| Op::Bind { sock, addr, port, hint }),
        3 => (s.clone(), hint_strategy()).prop_map(|(sock, hint)| Op::Listen { sock, hint }),
        2 => (s.clone(), 0..SRC_ADDRS.len(), 0..REMOTES.len(), hint_strategy())
            .prop_map(|(sock, src, remote, hint)| Op::Connect { sock, src, remote, hint }),
        2 => (s.clone(), any::<usize>(), any::<usize>())
            .prop_map(|(sock, local, peer)| Op::Accept { sock, local, peer }),
        2 => (s.clone(), 0..TW_LENGTHS_MS.len())
            .prop_map(|(sock, len)| Op::EnterTimeWait { sock, len }),
        1 => s.clone().prop_map(|sock| Op::RetransmitFin { sock }),
        1 => s.clone().prop_map(|sock| Op::Remove { sock }),
        1 => s.prop_map(|sock| Op::Disconnect { sock }),
        2 => prop_oneof![0..2_000u64, 0..300_000u64].prop_map(|ms| Op::Advance { ms }),
        1 => Just(Op::AdvanceToDeadline),
    ]
}

/// The free ports of an ephemeral range, given the blocked ones.
struct FreePorts {
    range: PortRange,
    blocked: BTreeSet<u16>,
}

impl FreePorts {
    fn new(range: PortRange, blocked: BTreeSet<u16>) -> Self {
        FreePorts { range, blocked }
    }
    fn contains(&self, port: u16) -> bool {
        self.range.contains(port) && !self.blocked.contains(&port)
    }
    /// How many free ports have `port % 2 == parity`.
    fn count(&self, parity: Option<u16>) -> usize {
        let fits = |p: u16| parity.is_none_or(|k| p % 2 == k);
        let all = (self.range.first..=self.range.last)
            .filter(|p| fits(*p))
            .count();
        let blocked = self
            .blocked
            .range(self.range.first..=self.range.last)
            .filter(|p| fits(**p))
            .count();
        all - blocked
    }
}

/// Drives one table through a sequence of operations, checking every result.
struct TableHarness {
    table: AddressTable,
    ids: Vec<SocketId>,
    now: Instant,
    /// When each socket last got its local address (an operation counter): which of two
    /// sockets bound first, as the Windows tables ask.
    bound_at: BTreeMap<SocketId, u64>,
    steps: u64,
}

impl TableHarness {
    fn new(profile: Profile, tiny_range: bool) -> Self {
        let mut cfg = profile.config();
        if tiny_range {
            cfg.ephemeral = PortRange {
                first: 40000,
                last: 40009,
            };
        }
        let host = vec![ip("127.0.0.1"), ip("10.0.0.1"), ip("::1")];
        TableHarness {
            table: AddressTable::new(cfg, host),
            ids: Vec::new(),
            now: Instant::ZERO,
            bound_at: BTreeMap::new(),
            steps: 0,
        }
    }

    fn pick(&self, sock: usize) -> Option<SocketId> {
        let n = self.ids.len();
        (n > 0).then(|| self.ids[n - 1 - sock % n])
    }

    fn range(&self) -> PortRange {
        self.table.config().ephemeral
    }

    fn linux(&self) -> bool {
        self.table.config().bind == BindRules::Linux
    }

    fn live(&self) -> Vec<(SocketId, &Entry)> {
        self.ids
            .iter()
            .filter_map(|id| self.table.get(*id).map(|e| (*id, e)))
            .collect()
    }

    /// The ports of the ephemeral range `bind(port 0)` may pick for a socket with `v6only` on
    /// `ip`: nothing overlapping is on them (Linux `inet_csk_find_open_port`, relax = false).
    fn bind_free_ports(&self, ip: IpAddr, v6only: bool) -> FreePorts {
        let blocked = self
            .live()
            .iter()
            .filter_map(|(_, e)| {
                e.local
                    .filter(|l| overlaps(ip, v6only, l.ip(), e.opts.v6only))
            })
            .map(|l| l.port())
            .collect();
        FreePorts::new(self.range(), blocked)
    }

    /// The ports an automatic connect from `src` to `remote` may use (Linux
    /// `__inet_hash_connect`: no bind owner and a free 4-tuple; BSD: nothing overlapping).
    fn connect_free_ports(&self, src: IpAddr, remote: SocketAddr) -> FreePorts {
        let linux = self.linux();
        let blocked = self
            .live()
            .iter()
            .filter_map(|(_, e)| {
                let l = e.local?;
                let same_tuple = matches!(e.state, TableState::Connected { remote: r } if r == remote)
                    || matches!(&e.state, TableState::TimeWait(tw) if tw.tuple.remote == remote);
                let blocks = if linux {
                    !e.port_by_connect || (same_tuple && l.ip() == src)
                } else {
                    overlaps(l.ip(), e.opts.v6only, src, false)
                };
                blocks.then_some(l.port())
            })
            .collect();
        FreePorts::new(self.range(), blocked)
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        self.steps += 1;
        let was_local: BTreeMap<SocketId, Option<SocketAddr>> =
            self.live().iter().map(|(id, e)| (*id, e.local)).collect();
        self.apply_op(op)?;
        // Record sockets that just got a local address.
        let fresh: Vec<SocketId> = self
            .live()
            .iter()
            .filter(|(id, e)| e.local.is_some() && was_local.get(id).copied().flatten().is_none())
            .map(|(id, _)| *id)
            .collect();
        for id in fresh {
            self.bound_at.insert(id, self.steps);
        }
        Ok(())
    }

    fn apply_op(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match *op {
            Op::Socket {
                uid,
                ra,
                rp,
                ex,
                v6only,
            } => {
                let id = self.table.socket(uid);
                prop_assert!(self.ids.iter().all(|i| *i < id), "ids are never reused");
                self.ids.push(id);
                prop_assert_eq!(
                    self.table.get(id).map(|e| &e.state),
                    Some(&TableState::Unbound)
                );
                let opts = SockOptions {
                    reuseaddr: ra,
                    reuseport: rp,
                    v6only,
                    linger_secs: None,
                    exclusiveaddruse: ex,
                };
                prop_assert_eq!(self.table.set_options(id, opts), Ok(()));
            }
            Op::SetOpts {
                sock,
                ra,
                rp,
                ex,
                v6only,
            } => {
                let Some(id) = self.pick(sock) else {
                    return Ok(());
                };
                // Options are set before bind, as programs do: the invariants compare
                // options as they were when the address was checked.
                if self
                    .table
                    .get(id)
                    .is_some_and(|e| e.state == TableState::Unbound)
                {
                    let opts = SockOptions {
                        reuseaddr: ra,
                        reuseport: rp,
                        v6only,
                        linger_secs: None,
                        exclusiveaddruse: ex,
                    };
                    prop_assert_eq!(self.table.set_options(id, opts), Ok(()));
                    prop_assert_eq!(self.table.get(id).unwrap().opts, opts);
                }
            }
            Op::Bind {
                sock,
                addr,
                port,
                hint,
            } => self.bind(sock, addr, port, hint)?,
            Op::Listen { sock, hint } => self.listen(sock, hint)?,
            Op::Connect {
                sock,
                src,
                remote,
                hint,
            } => self.connect(sock, src, remote, hint)?,
            Op::Accept { sock, local, peer } => self.accept(sock, local, peer)?,
            Op::EnterTimeWait { sock, len } => self.enter_time_wait(sock, len)?,
            Op::RetransmitFin { sock } => {
                let Some(id) = self.pick(sock) else {
                    return Ok(());
                };
                let before = self.table.time_wait(id).cloned();
                let fin = SegmentInfo {
                    seq: SeqNum(999),
                    ack: Some(SeqNum(5000)),
                    syn: false,
                    fin: true,
                    rst: false,
                    payload_len: 0,
                    tsval: None,
                };
                let d = self.table.time_wait_segment(id, &fin, self.now, false);
                match before {
                    None => prop_assert!(d.is_none()),
                    Some(r) => {
                        // Every profile restarts the timer on a retransmitted FIN.
                        prop_assert!(d.is_some_and(|d| d.restarted));
                        let after = self.table.time_wait(id).unwrap();
                        prop_assert_eq!(after.expires_at(), self.now + r.length);
                        prop_assert_eq!(after.restarts(), r.restarts() + 1);
                    }
                }
            }
            Op::Remove { sock } => {
                let Some(id) = self.pick(sock) else {
                    return Ok(());
                };
                let was_tw = self.table.time_wait(id).cloned();
                let tuple = connection_tuple(&self.table, id);
                let len = self.table.len();
                let existed = self.table.get(id).is_some();
                let r = self.table.remove(id);
                prop_assert_eq!(r, was_tw);
                prop_assert!(self.table.get(id).is_none());
                prop_assert_eq!(self.table.len(), len - usize::from(existed));
                if let Some(t) = tuple {
                    prop_assert_eq!(self.table.lookup_tuple(&t), None);
                }
            }
            Op::Disconnect { sock } => {
                let Some(id) = self.pick(sock) else {
                    return Ok(());
                };
                let before = self.table.get(id).cloned();
                let tuple = connection_tuple(&self.table, id);
                self.table.disconnected(id);
                let after = self.table.get(id);
                match before.as_ref().map(|e| &e.state) {
                    Some(TableState::Connected { .. }) => {
                        prop_assert_eq!(self.table.lookup_tuple(&tuple.unwrap()), None);
                        let e = after.unwrap();
                        // Only Linux releases a port that bind() did not lock.
                        let keeps = !self.linux() || before.as_ref().unwrap().port_locked;
                        prop_assert_eq!(e.local.is_some(), keeps);
                        prop_assert_eq!(
                            &e.state,
                            if keeps {
                                &TableState::Bound
                            } else {
                                &TableState::Unbound
                            }
                        );
                        prop_assert!(self
                            .table
                            .stale_address_objects()
                            .all(|(_, ids)| !ids.contains(&id)));
                    }
                    _ => prop_assert_eq!(after, before.as_ref()),
                }
            }
            Op::Advance { ms } => self.advance(Duration::from_millis(ms))?,
            Op::AdvanceToDeadline => {
                if let Some(t) = self.table.poll_timeout() {
                    self.advance(t.saturating_since(self.now))?;
                    prop_assert!(self.table.poll_timeout().is_none_or(|next| next > t));
                }
            }
        }
        Ok(())
    }

    fn bind(
        &mut self,
        sock: usize,
        addr: usize,
        port: usize,
        hint: u32,
    ) -> Result<(), TestCaseError> {
        let Some(id) = self.pick(sock) else {
            return Ok(());
        };
        let range = self.range();
        let port = [0, 80, 8080, range.first, range.first + 1][port];
        let addr = SocketAddr::new(ip(BIND_ADDRS[addr]), port);
        let Some(e) = self.table.get(id).cloned() else {
            prop_assert_eq!(self.table.bind(id, addr, hint), Err(Errno::EBADF));
            return Ok(());
        };
        let predicted = self.table.check_bind(addr, e.opts, e.uid);
        let free = self.bind_free_ports(addr.ip(), e.opts.v6only);
        let r = self.table.bind(id, addr, hint);
        if addr.ip() == ip("10.9.9.9") {
            // Linux `__inet_bind`: the address is checked before the socket's state.
            prop_assert_eq!(r, Err(Errno::EADDRNOTAVAIL));
        } else if e.local.is_some() {
            prop_assert_eq!(r, Err(Errno::EINVAL));
        } else if port != 0 {
            // check_bind answers exactly what bind then does.
            prop_assert_eq!(r.map(|_| ()), predicted);
            if let Ok(a) = r {
                prop_assert_eq!(a, addr);
            }
        } else {
            match r {
                Ok(a) => {
                    prop_assert_eq!(a.ip(), addr.ip());
                    prop_assert!(free.contains(a.port()), "{} was not free", a);
                    if self.linux() && free.count(Some(1)) > 0 {
                        prop_assert_eq!(a.port() % 2, 1, "odd ports first");
                    }
                }
                Err(err) => {
                    prop_assert_eq!(err, Errno::EADDRINUSE);
                    prop_assert_eq!(free.count(None), 0, "a port was free");
                }
            }
        }
        if let Ok(a) = r {
            let e = self.table.get(id).unwrap();
            prop_assert_eq!(e.local, Some(a));
            prop_assert_eq!(&e.state, &TableState::Bound);
        }
        Ok(())
    }

    fn listen(&mut self, sock: usize, hint: u32) -> Result<(), TestCaseError> {
        let Some(id) = self.pick(sock) else {
            return Ok(());
        };
        let before = self.table.get(id).cloned();
        let any_free = before.as_ref().is_some_and(|e| {
            self.bind_free_ports(ip("0.0.0.0"), e.opts.v6only)
                .count(None)
                > 0
        });
        let r = self.table.listen(id, hint);
        let accepted = before
            .as_ref()
            .is_some_and(|e| e.accepted_from.is_some() || (e.connected_before && !self.linux()));
        match before.as_ref().map(|e| &e.state) {
            None => prop_assert_eq!(r, Err(Errno::EBADF)),
            Some(_) if accepted => prop_assert_eq!(r, Err(Errno::EINVAL)),
            Some(TableState::Connected { .. } | TableState::TimeWait(_)) => {
                prop_assert_eq!(r, Err(Errno::EINVAL))
            }
            Some(TableState::Listen) => prop_assert_eq!(r, Ok(before.unwrap().local.unwrap())),
            Some(TableState::Unbound) => match r {
                Ok(a) => {
                    prop_assert!(self.range().contains(a.port()));
                    prop_assert!(a.ip().is_unspecified());
                }
                Err(err) => {
                    prop_assert_eq!(err, Errno::EADDRINUSE);
                    prop_assert!(!any_free, "listen failed with a free port");
                }
            },
            Some(TableState::Bound) => {
                if r.is_err() {
                    prop_assert_eq!(r, Err(Errno::EADDRINUSE));
                    prop_assert!(self.linux(), "BSD listen() does not re-check");
                    prop_assert_eq!(&self.table.get(id).unwrap().state, &TableState::Bound);
                }
            }
        }
        if let Ok(a) = r {
            let e = self.table.get(id).unwrap();
            prop_assert_eq!(e.local, Some(a));
            prop_assert_eq!(&e.state, &TableState::Listen);
        }
        Ok(())
    }

    fn connect(
        &mut self,
        sock: usize,
        src: usize,
        remote: usize,
        hint: u32,
    ) -> Result<(), TestCaseError> {
        let Some(id) = self.pick(sock) else {
            return Ok(());
        };
        let src = ip(SRC_ADDRS[src]);
        let remote = sa(REMOTES[remote]);
        let before = self.table.get(id).cloned();
        if let Some(l) = before.as_ref().and_then(|e| e.local) {
            // A socket bound to a specific IPv6 address does not connect to IPv4 peers.
            if l.is_ipv6() && !l.ip().is_unspecified() {
                return Ok(());
            }
        }
        let usable = self.connect_free_ports(src, remote);
        let r = self.table.connect(id, src, remote, hint, self.now);
        match before.as_ref().map(|e| &e.state) {
            None => prop_assert_eq!(r, Err(Errno::EBADF)),
            Some(TableState::Connected { .. } | TableState::TimeWait(_)) => {
                prop_assert_eq!(r, Err(Errno::EISCONN))
            }
            Some(TableState::Listen) => {
                let want = match self.table.config().bind {
                    BindRules::Linux => Errno::EISCONN,
                    BindRules::Bsd => Errno::EOPNOTSUPP,
                    _ => Errno::EINVAL,
                };
                prop_assert_eq!(r, Err(want))
            }
            Some(TableState::Bound) => {
                let l = before.unwrap().local.unwrap();
                let want = if l.ip().is_unspecified() {
                    SocketAddr::new(src, l.port())
                } else {
                    l
                };
                match r {
                    Ok(got) => prop_assert_eq!(got, want),
                    Err(e) => {
                        prop_assert_eq!(e, Errno::EADDRNOTAVAIL);
                        prop_assert!(self
                            .table
                            .lookup_tuple(&FourTuple::new(want, remote))
                            .is_some());
                    }
                }
            }
            Some(TableState::Unbound) => match r {
                Ok(got) => {
                    prop_assert_eq!(got.ip(), src);
                    prop_assert!(usable.contains(got.port()), "{} was not usable", got);
                    if self.linux() && usable.count(Some(0)) > 0 {
                        prop_assert_eq!(got.port() % 2, 0, "even ports first");
                    }
                    prop_assert!(self.table.get(id).unwrap().port_by_connect);
                }
                Err(e) => {
                    prop_assert_eq!(e, Errno::EADDRNOTAVAIL);
                    prop_assert_eq!(usable.count(None), 0, "a port was usable");
                }
            },
        }
        if let Ok(l) = r {
            let e = self.table.get(id).unwrap();
            prop_assert_eq!(e.local, Some(l));
            prop_assert_eq!(&e.state, &TableState::Connected { remote });
            prop_assert_eq!(
                self.table.lookup_tuple(&FourTuple::new(l, remote)),
                Some(id)
            );
        }
        Ok(())
    }

    fn accept(&mut self, sock: usize, local: usize, peer: usize) -> Result<(), TestCaseError> {
        let Some(id) = self.pick(sock) else {
            return Ok(());
        };
        let Some(parent) = self.table.get(id).cloned() else {
            return Ok(());
        };
        if parent.state != TableState::Listen {
            return Ok(());
        }
        let l = parent.local.unwrap();
        let locals: Vec<IpAddr> = if l.ip().is_unspecified() {
            CHILD_LOCALS
                .iter()
                .map(|s| ip(s))
                .filter(|c| overlaps(l.ip(), parent.opts.v6only, *c, false))
                .collect()
        } else {
            vec![l.ip()]
        };
        if locals.is_empty() {
            return Ok(());
        }
        let local = SocketAddr::new(locals[local % locals.len()], l.port());
        let peers: Vec<SocketAddr> = PEERS
            .iter()
            .map(|s| sa(s))
            .filter(|p| p.is_ipv4() == local.is_ipv4())
            .collect();
        let tuple = FourTuple::new(local, peers[peer % peers.len()]);
        let taken = self.table.lookup_tuple(&tuple).is_some();
        match self.table.accept_child(id, tuple) {
            Ok(child) => {
                prop_assert!(!taken);
                self.ids.push(child);
                let e = self.table.get(child).unwrap();
                prop_assert_eq!(e.opts, parent.opts, "the child inherits the options");
                prop_assert_eq!(e.uid, parent.uid);
                prop_assert_eq!(e.local, Some(local));
                prop_assert_eq!(self.table.lookup_tuple(&tuple), Some(child));
            }
            Err(e) => {
                prop_assert!(taken);
                prop_assert_eq!(e, Errno::EADDRNOTAVAIL);
            }
        }
        Ok(())
    }

    fn enter_time_wait(&mut self, sock: usize, len: usize) -> Result<(), TestCaseError> {
        let Some(id) = self.pick(sock) else {
            return Ok(());
        };
        let length = Duration::from_millis(TW_LENGTHS_MS[len]);
        let connected = self
            .table
            .get(id)
            .is_some_and(|e| matches!(e.state, TableState::Connected { .. }));
        let Some(tuple) = connection_tuple(&self.table, id).filter(|_| connected) else {
            let r = self.table.enter_time_wait(
                id,
                tw_record(
                    FourTuple::new(sa("127.0.0.1:1"), sa("127.0.0.1:2")),
                    self.now,
                    length,
                ),
            );
            let want = if self.table.get(id).is_some() {
                Errno::EINVAL
            } else {
                Errno::EBADF
            };
            prop_assert_eq!(r, Err(want));
            return Ok(());
        };
        let mut wrong = tuple;
        wrong.remote.set_port(wrong.remote.port() ^ 1);
        let r = self
            .table
            .enter_time_wait(id, tw_record(wrong, self.now, length));
        prop_assert_eq!(r, Err(Errno::EINVAL));
        let r = self
            .table
            .enter_time_wait(id, tw_record(tuple, self.now, length));
        prop_assert_eq!(r, Ok(()));
        let rec = self.table.time_wait(id).unwrap();
        prop_assert_eq!(rec.expires_at(), self.now + length);
        prop_assert_eq!(self.table.lookup_tuple(&tuple), Some(id));
        Ok(())
    }

    fn advance(&mut self, by: Duration) -> Result<(), TestCaseError> {
        let t = self.now + by;
        self.now = t;
        let live = self.live();
        let due: BTreeSet<SocketId> = self
            .table
            .time_wait_records()
            .filter(|(_, r)| r.expires_at() <= t)
            .map(|(id, _)| id)
            .collect();
        // Ports whose only holders are TIME-WAIT records about to expire.
        let mut holders: BTreeMap<u16, Vec<SocketId>> = BTreeMap::new();
        for (id, e) in &live {
            if let Some(l) = e.local {
                holders.entry(l.port()).or_default().push(*id);
            }
        }
        let freed: Vec<u16> = holders
            .iter()
            .filter(|(_, ids)| ids.iter().all(|id| due.contains(id)))
            .map(|(p, _)| *p)
            .collect();
        let ended = self.table.handle_timeout(t);
        let ended_ids: BTreeSet<SocketId> = ended.iter().map(|(id, _, _)| *id).collect();
        prop_assert_eq!(&ended_ids, &due);
        prop_assert_eq!(ended.len(), due.len());
        prop_assert!(ended
            .windows(2)
            .all(|w| w[0].1.expires_at() <= w[1].1.expires_at()));
        for (id, r, why) in &ended {
            prop_assert_eq!(*why, EndReason::Expired);
            prop_assert!(r.expires_at() <= t);
            prop_assert!(self.table.get(*id).is_none());
            prop_assert_eq!(self.table.lookup_tuple(&r.tuple), None);
        }
        // (3) nothing due remains, and freed ports are bindable without SO_REUSEADDR.
        prop_assert!(self
            .table
            .time_wait_records()
            .all(|(_, r)| r.expires_at() > t));
        for p in freed {
            for any in ["0.0.0.0", "::"] {
                let a = SocketAddr::new(ip(any), p);
                prop_assert_eq!(
                    self.table.check_bind(a, SockOptions::default(), 7),
                    Ok(()),
                    "{}",
                    a
                );
            }
        }
        // Calling again at the same time is harmless.
        prop_assert!(self.table.handle_timeout(t).is_empty());
        Ok(())
    }

    fn check_invariants(&self) -> Result<(), TestCaseError> {
        let live = self.live();
        prop_assert_eq!(live.len(), self.table.len());
        // (1) no two listeners on overlapping addresses, except a SO_REUSEPORT group of one
        // uid or where the profile's rules let them share: BSD and Solaris compare only equal
        // addresses (a wildcard and a specific listener may coexist); the Windows tables let
        // a SO_REUSEADDR socket bind over a listener (classic: the later one needs
        // SO_REUSEADDR and neither SO_EXCLUSIVEADDRUSE; Server 2003: on an equal address
        // both need SO_REUSEADDR); smoltcp shares anything.
        let rules = self.table.config().bind;
        let listeners: Vec<&(SocketId, &Entry)> = live
            .iter()
            .filter(|(_, e)| e.state == TableState::Listen)
            .collect();
        for (i, (a, ea)) in listeners.iter().enumerate() {
            for (b, eb) in &listeners[i + 1..] {
                let (la, lb) = (ea.local.unwrap(), eb.local.unwrap());
                if la.port() != lb.port() {
                    continue;
                }
                let overlap = overlaps(la.ip(), ea.opts.v6only, lb.ip(), eb.opts.v6only);
                let equal = la.ip() == lb.ip();
                let group = ea.opts.reuseport && eb.opts.reuseport && ea.uid == eb.uid;
                let (first, second) = if self.bound_at[a] <= self.bound_at[b] {
                    (ea.opts, eb.opts)
                } else {
                    (eb.opts, ea.opts)
                };
                let windows_shared = |both_ra: bool| {
                    second.reuseaddr
                        && !second.exclusiveaddruse
                        && !first.exclusiveaddruse
                        && (first.reuseaddr || !both_ra)
                };
                let allowed = match rules {
                    BindRules::Linux => !overlap || group,
                    BindRules::Bsd => !equal || group,
                    BindRules::Solaris => !equal,
                    BindRules::WindowsClassic => !overlap || windows_shared(false),
                    BindRules::Windows2003 => !equal || windows_shared(true),
                    BindRules::Smoltcp => true,
                };
                prop_assert!(
                    allowed,
                    "{:?} {} and {:?} {} both listen under {:?}",
                    a,
                    la,
                    b,
                    lb,
                    rules
                );
            }
        }
        // (2) every 4-tuple has one owner, and the index agrees.
        let mut tuples: BTreeMap<FourTuple, SocketId> = BTreeMap::new();
        for (id, e) in &live {
            let t = match &e.state {
                TableState::Connected { remote } => FourTuple::new(e.local.unwrap(), *remote),
                TableState::TimeWait(r) => {
                    prop_assert_eq!(Some(r.tuple.local), e.local);
                    r.tuple
                }
                _ => continue,
            };
            if let Some(prev) = tuples.insert(t, *id) {
                prop_assert!(false, "{} held by {:?} and {:?}", t, prev, id);
            }
            prop_assert_eq!(self.table.lookup_tuple(&t), Some(*id));
        }
        // (4) poll_timeout is the earliest TIME-WAIT deadline.
        let earliest = self
            .table
            .time_wait_records()
            .map(|(_, r)| r.expires_at())
            .min();
        prop_assert_eq!(self.table.poll_timeout(), earliest);
        // (5) KB Q177074 bookkeeping: only where the profile has the bug, and only live
        // accepted connections keep a stale address object.
        for (addr, ids) in self.table.stale_address_objects() {
            prop_assert!(self.table.config().stale_listener_refuses);
            prop_assert!(!ids.is_empty());
            for id in ids {
                let e = self.table.get(*id);
                prop_assert!(
                    e.is_some_and(|e| matches!(e.state, TableState::Connected { .. })
                        && e.accepted_from.is_some()
                        && e.bound_addr == Some(addr)),
                    "{:?} keeps {} stale",
                    id,
                    addr
                );
            }
        }
        // (6) the listener choice stays among the listeners the table reports.
        for local in CHILD_LOCALS.iter().map(|s| ip(s)) {
            for port in [80, 8080, self.range().first, self.range().first + 1] {
                self.check_choice(SocketAddr::new(local, port))?;
            }
        }
        Ok(())
    }

    fn check_choice(&self, local: SocketAddr) -> Result<(), TestCaseError> {
        let remote = if local.is_ipv4() {
            sa("10.0.0.2:50000")
        } else {
            sa("[::1]:50000")
        };
        let found = self.table.listeners_for(local);
        let stale = self
            .table
            .stale_address_objects()
            .any(|(a, _)| a.port() == local.port() && overlaps(a.ip(), false, local.ip(), false));
        let best_ip = found
            .first()
            .map(|id| self.table.get(*id).unwrap().local.unwrap().ip());
        let mut picked = BTreeSet::new();
        for rand in 0..4u32 {
            match self.table.clone().choose_listener(local, remote, rand) {
                ListenerVerdict::Refuse { .. } => prop_assert!(stale),
                ListenerVerdict::None => prop_assert!(!stale && found.is_empty()),
                ListenerVerdict::Listener(id) => {
                    prop_assert!(!stale);
                    prop_assert!(found.contains(&id), "{:?} does not listen on {}", id, local);
                    let e = self.table.get(id).unwrap();
                    match self.table.config().listener_choice {
                        ListenerChoice::Exact => prop_assert_eq!(id, found[0]),
                        ListenerChoice::FirstCreated => {
                            prop_assert_eq!(Some(&id), found.iter().min())
                        }
                        ListenerChoice::Random | ListenerChoice::ReuseportHash => {
                            prop_assert_eq!(Some(e.local.unwrap().ip()), best_ip)
                        }
                    }
                    picked.insert(id);
                }
            }
        }
        // Random: every best listener is reachable (four draws cover up to four).
        if self.table.config().listener_choice == ListenerChoice::Random && !stale {
            let tier = found
                .iter()
                .filter(|id| Some(self.table.get(**id).unwrap().local.unwrap().ip()) == best_ip)
                .count();
            prop_assert_eq!(picked.len(), tier.min(4));
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn table_operations_keep_the_invariants(
        profile in 0..Profile::ALL.len(),
        tiny_range in any::<bool>(),
        ops in proptest::collection::vec(op_strategy(), 1..120),
    ) {
        let profile = Profile::ALL[profile];
        let mut h = TableHarness::new(profile, tiny_range);
        for op in &ops {
            h.apply(op)?;
            h.check_invariants()?;
        }
    }
}

// ------------------------------------------------------------------------------------------
// Property tests: processes and handles
// ------------------------------------------------------------------------------------------

const PROCS: [&str; 4] = ["main", "w1", "w2", "w3"];

#[derive(Clone, Debug)]
enum ProcOp {
    /// socket()/accept(): a fresh socket in `proc`.
    Open {
        proc: usize,
    },
    /// Another handle to an open socket (as SCM_RIGHTS would give).
    Share {
        sock: usize,
        proc: usize,
    },
    Fork {
        parent: usize,
        child: usize,
    },
    Close {
        proc: usize,
        sock: usize,
    },
    Exit {
        proc: usize,
    },
}

fn proc_op_strategy() -> impl Strategy<Value = ProcOp> {
    let p = 0..PROCS.len();
    prop_oneof![
        3 => p.clone().prop_map(|proc| ProcOp::Open { proc }),
        1 => (any::<usize>(), p.clone()).prop_map(|(sock, proc)| ProcOp::Share { sock, proc }),
        2 => (p.clone(), p.clone()).prop_map(|(parent, child)| ProcOp::Fork { parent, child }),
        3 => (p.clone(), any::<usize>()).prop_map(|(proc, sock)| ProcOp::Close { proc, sock }),
        1 => p.prop_map(|proc| ProcOp::Exit { proc }),
    ]
}

fn report(ids: &[SocketId], last_closed: &mut BTreeMap<SocketId, u32>) {
    for id in ids {
        *last_closed.entry(*id).or_insert(0) += 1;
    }
}

/// The naive reference: which process holds which sockets.
#[derive(Default)]
struct ProcRef {
    procs: BTreeMap<&'static str, BTreeSet<SocketId>>,
}

impl ProcRef {
    fn count(&self, id: SocketId) -> u32 {
        self.procs.values().filter(|h| h.contains(&id)).count() as u32
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn processes_match_a_reference_model(ops in proptest::collection::vec(proc_op_strategy(), 1..60)) {
        let mut p = Processes::new();
        let mut r = ProcRef::default();
        r.procs.insert("main", BTreeSet::new());
        let mut opened: Vec<SocketId> = Vec::new();
        let mut last_closed: BTreeMap<SocketId, u32> = BTreeMap::new();
        for op in &ops {
            match *op {
                ProcOp::Open { proc } => {
                    let name = PROCS[proc];
                    let id = SocketId(opened.len() as u32 + 1);
                    let res = p.open(name, id);
                    if let Some(h) = r.procs.get_mut(name) {
                        prop_assert_eq!(res, Ok(()));
                        h.insert(id);
                        opened.push(id);
                    } else {
                        prop_assert_eq!(res, Err(Errno::EBADF));
                    }
                }
                ProcOp::Share { sock, proc } => {
                    if opened.is_empty() {
                        continue;
                    }
                    let id = opened[sock % opened.len()];
                    if r.count(id) == 0 {
                        continue; // closed sockets are never reopened
                    }
                    let name = PROCS[proc];
                    let res = p.open(name, id);
                    match r.procs.get_mut(name) {
                        Some(h) => {
                            prop_assert_eq!(res, Ok(()));
                            h.insert(id);
                        }
                        None => prop_assert_eq!(res, Err(Errno::EBADF)),
                    }
                }
                ProcOp::Fork { parent, child } => {
                    let (parent, child) = (PROCS[parent], PROCS[child]);
                    let res = p.fork(parent, child);
                    match r.procs.get(parent).cloned() {
                        None => prop_assert_eq!(res, Err(Errno::EBADF)),
                        Some(_) if r.procs.contains_key(child) => {
                            prop_assert_eq!(res, Err(Errno::EINVAL))
                        }
                        Some(h) => {
                            prop_assert_eq!(res, Ok(()));
                            r.procs.insert(child, h);
                        }
                    }
                }
                ProcOp::Close { proc, sock } => {
                    if opened.is_empty() {
                        continue;
                    }
                    let id = opened[sock % opened.len()];
                    let name = PROCS[proc];
                    let res = p.close(name, id);
                    let held = r.procs.get_mut(name).is_some_and(|h| h.remove(&id));
                    if held {
                        let last = r.count(id) == 0;
                        prop_assert_eq!(res, Ok(last));
                        if last {
                            report(&[id], &mut last_closed);
                        }
                    } else {
                        prop_assert_eq!(res, Err(Errno::EBADF));
                    }
                }
                ProcOp::Exit { proc } => {
                    let name = PROCS[proc];
                    let res = p.exit(name);
                    match r.procs.remove(name) {
                        None => prop_assert_eq!(res, Err(Errno::EBADF)),
                        Some(h) => {
                            let want: Vec<SocketId> =
                                h.into_iter().filter(|id| r.count(*id) == 0).collect();
                            prop_assert_eq!(&res, &Ok(want.clone()));
                            report(&want, &mut last_closed);
                        }
                    }
                }
            }
            for name in PROCS {
                prop_assert_eq!(p.is_alive(name), r.procs.contains_key(name));
                for id in &opened {
                    let held = r.procs.get(name).is_some_and(|h| h.contains(id));
                    prop_assert_eq!(p.holds(name, *id), held);
                }
            }
            for id in &opened {
                prop_assert_eq!(p.handle_count(*id), r.count(*id));
                let closed = last_closed.get(id).copied().unwrap_or(0);
                prop_assert_eq!(closed, u32::from(r.count(*id) == 0));
            }
        }
        // Every process exits: each socket has been reported last-closed exactly once.
        let alive: Vec<&str> = r.procs.keys().copied().collect();
        for name in alive {
            let h = r.procs.remove(name).unwrap();
            let want: Vec<SocketId> = h.into_iter().filter(|id| r.count(*id) == 0).collect();
            let got = p.exit(name);
            prop_assert_eq!(&got, &Ok(want.clone()));
            report(&want, &mut last_closed);
        }
        for id in &opened {
            prop_assert_eq!(p.handle_count(*id), 0);
            prop_assert_eq!(last_closed.get(id).copied(), Some(1), "{:?}", id);
        }
    }
}

// ------------------------------------------------------------------------------------------
// Every profile: names, numbers and spellings
// ------------------------------------------------------------------------------------------

/// One line per profile with everything `Profile::config` fixes that is a plain number or
/// name. A change to any profile shows up here as a diff.
#[test]
fn profile_table_snapshot() {
    let msl = |d: Duration| d.to_string();
    let lines: Vec<String> = Profile::ALL
        .iter()
        .map(|p| {
            let c = p.config();
            format!(
                "{} bind={:?} choice={:?} ephemeral={}-{} connect={} msl={} inuse={} access={} refused={}",
                p.name(),
                c.bind,
                c.listener_choice,
                c.ephemeral.first,
                c.ephemeral.last,
                c.connect_timeout,
                msl(c.default_msl),
                Errno::EADDRINUSE.display_for(c.errno_style),
                Errno::EACCES.display_for(c.errno_style),
                Errno::ECONNREFUSED.display_for(c.errno_style),
            )
        })
        .collect();
    let expected = trim_indent(
        "
        linux bind=Linux choice=ReuseportHash ephemeral=32768-60999 connect=127.000s msl=60.000s inuse=EADDRINUSE access=EACCES refused=ECONNREFUSED
        rfc793 bind=Bsd choice=Exact ephemeral=49152-65535 connect=180.000s msl=120.000s inuse=EADDRINUSE access=EACCES refused=ECONNREFUSED
        freebsd bind=Bsd choice=Exact ephemeral=10000-65535 connect=75.000s msl=30.000s inuse=EADDRINUSE access=EACCES refused=ECONNREFUSED
        macos bind=Bsd choice=Exact ephemeral=49152-65535 connect=75.000s msl=15.000s inuse=EADDRINUSE access=EACCES refused=ECONNREFUSED
        windows-nt4 bind=WindowsClassic choice=Random ephemeral=1025-5000 connect=21.000s msl=120.000s inuse=WSAEADDRINUSE (10048) access=WSAEACCES (10013) refused=WSAECONNREFUSED (10061)
        windows-2000 bind=WindowsClassic choice=Random ephemeral=1025-5000 connect=21.000s msl=120.000s inuse=WSAEADDRINUSE (10048) access=WSAEACCES (10013) refused=WSAECONNREFUSED (10061)
        windows-2003 bind=Windows2003 choice=Random ephemeral=1025-5000 connect=21.000s msl=60.000s inuse=WSAEADDRINUSE (10048) access=WSAEACCES (10013) refused=WSAECONNREFUSED (10061)
        solaris bind=Solaris choice=Exact ephemeral=32768-65535 connect=180.000s msl=30.000s inuse=EADDRINUSE access=EACCES refused=ECONNREFUSED
        hpux bind=Bsd choice=Exact ephemeral=49152-65535 connect=75.000s msl=30.000s inuse=EADDRINUSE (226) access=EACCES refused=ECONNREFUSED
        stratus-os-tcp bind=Bsd choice=Exact ephemeral=49152-65535 connect=75.000s msl=30.000s inuse=e$tcp_address_in_use (4932) access=EACCES refused=ECONNREFUSED
        stratus-stcp bind=Bsd choice=Exact ephemeral=49152-65535 connect=75.000s msl=1.000s inuse=e$streams_EADDRINUSE (6066) access=EACCES refused=ECONNREFUSED
        smoltcp bind=Smoltcp choice=FirstCreated ephemeral=49152-65535 connect=75.000s msl=5.000s inuse=EADDRINUSE access=EACCES refused=ECONNREFUSED
        ",
    );
    assert_eq!(lines.join("\n"), expected);
    assert_eq!(Profile::ALL.len(), 12);
    for name in [
        "freebsd",
        "macos",
        "windows-nt4",
        "windows-2000",
        "windows-2003",
        "solaris",
        "hpux",
        "stratus-os-tcp",
        "stratus-stcp",
        "smoltcp",
    ] {
        let p = Profile::from_name(name).unwrap_or_else(|| panic!("{name} is not a profile"));
        assert_eq!(p.name(), name);
        assert!(Profile::known_names().contains(name));
    }
    assert_eq!(
        Profile::known_names(),
        "linux, rfc793, freebsd, macos, windows-nt4, windows-2000, windows-2003, solaris, \
         hpux, stratus-os-tcp, stratus-stcp, smoltcp"
    );
}

#[test]
fn time_wait_length_per_profile_msl_and_linger() {
    // (profile, msl 30 s, msl 2 min, linger 0, linger 5 s) with msl 30 s for the linger columns.
    let expected = [
        ("linux", 60, 60, 60, 60),
        ("rfc793", 60, 240, 60, 60),
        ("freebsd", 60, 240, 60, 60),
        ("macos", 60, 240, 60, 60),
        ("windows-nt4", 240, 240, 240, 240),
        ("windows-2000", 240, 240, 240, 240),
        ("windows-2003", 120, 120, 120, 120),
        ("solaris", 60, 60, 60, 60),
        ("hpux", 60, 60, 60, 60),
        ("stratus-os-tcp", 60, 60, 60, 60),
        ("stratus-stcp", 2, 2, 0, 5),
        ("smoltcp", 10, 10, 10, 10),
    ];
    for (name, m30, m120, l0, l5) in expected {
        let c = Profile::from_name(name).unwrap().config();
        let s = Duration::from_secs;
        let got = (
            c.time_wait_duration(s(30)),
            c.time_wait_duration(s(120)),
            c.time_wait_for(s(30), Some(0)),
            c.time_wait_for(s(30), Some(5)),
            c.time_wait_for(s(30), None),
        );
        assert_eq!(got, (s(m30), s(m120), s(l0), s(l5), s(m30)), "{name}");
        assert_eq!(c.linger_zero_aborts(), name != "stratus-stcp", "{name}");
    }
    // The profile's own MSL gives the documented TIME-WAIT: FreeBSD 2 × 30 s, macOS 2 × 15 s,
    // the Stratus article's 2 × 30 s and 2 × 1 s.
    for (name, secs) in [
        ("freebsd", 60),
        ("macos", 30),
        ("rfc793", 240),
        ("stratus-os-tcp", 60),
        ("stratus-stcp", 2),
    ] {
        let c = Profile::from_name(name).unwrap().config();
        assert_eq!(
            c.time_wait_duration(c.default_msl),
            Duration::from_secs(secs),
            "{name}"
        );
    }
}

// ------------------------------------------------------------------------------------------
// TIME-WAIT segment policy per profile (a transition table, snapshotted)
// ------------------------------------------------------------------------------------------

/// What a fresh record (RCV.NXT 1000, window 65535, see [`tw_record`]) does with each probe
/// segment under `profile`: `action` plus `+R` when the timer restarted.
fn time_wait_row(profile: Profile) -> String {
    let policy = profile.config().time_wait;
    let tuple = FourTuple::new(sa("10.0.0.1:80"), sa("10.0.0.2:50000"));
    let seg = |seq: u32| SegmentInfo {
        seq: SeqNum(seq),
        ack: Some(SeqNum(5000)),
        syn: false,
        fin: false,
        rst: false,
        payload_len: 0,
        tsval: None,
    };
    let probes: [(&str, SegmentInfo, bool); 11] = [
        (
            "fin",
            SegmentInfo {
                fin: true,
                ..seg(999)
            },
            true,
        ),
        (
            "data",
            SegmentInfo {
                payload_len: 10,
                ..seg(1000)
            },
            true,
        ),
        ("ack-in", seg(1000), true),
        ("old", seg(100), true),
        (
            "rst=",
            SegmentInfo {
                rst: true,
                ack: None,
                ..seg(1000)
            },
            true,
        ),
        (
            "rst~",
            SegmentInfo {
                rst: true,
                ack: None,
                ..seg(1500)
            },
            true,
        ),
        (
            "rst-out",
            SegmentInfo {
                rst: true,
                ack: None,
                ..seg(100)
            },
            true,
        ),
        (
            "syn-in",
            SegmentInfo {
                syn: true,
                ack: None,
                ..seg(2000)
            },
            true,
        ),
        (
            "syn-in-nolisten",
            SegmentInfo {
                syn: true,
                ack: None,
                ..seg(2000)
            },
            false,
        ),
        (
            "syn-beyond",
            SegmentInfo {
                syn: true,
                ack: None,
                ..seg(900_000)
            },
            true,
        ),
        (
            "syn-old",
            SegmentInfo {
                syn: true,
                ack: None,
                ..seg(10)
            },
            true,
        ),
    ];
    let now = Instant::from_micros(5_000_000);
    let cells: Vec<String> = probes
        .iter()
        .map(|(name, s, listener)| {
            let mut r = tw_record(tuple, Instant::ZERO, Duration::from_secs(60));
            let d = r.on_segment(s, now, &policy, *listener);
            let action = match d.action {
                TwAction::Ack => "ack".to_string(),
                TwAction::Drop => "drop".to_string(),
                TwAction::Kill => "kill".to_string(),
                TwAction::RstAndKill => "rst+kill".to_string(),
                TwAction::AcceptSyn { iss: None } => "accept".to_string(),
                TwAction::AcceptSyn { iss: Some(i) } => format!("accept(iss={i})"),
            };
            assert_eq!(
                d.restarted,
                r.expires_at() == now + r.length,
                "{profile:?} {name}"
            );
            format!("{name}={action}{}", if d.restarted { "+R" } else { "" })
        })
        .collect();
    format!("{}: {}", profile.name(), cells.join(" "))
}

#[test]
fn time_wait_policy_per_profile() {
    let got: Vec<String> = Profile::ALL.iter().map(|p| time_wait_row(*p)).collect();
    // RFC 793 p.69–75 for the profiles without a source of their own; FreeBSD tcp_twcheck for
    // the BSDs; tcp_timewait_state_process for Linux; smoltcp 0.14 as measured.
    let rfc793 = "fin=ack+R data=ack+R ack-in=ack old=ack rst==kill rst~=kill rst-out=drop \
                  syn-in=rst+kill syn-in-nolisten=rst+kill syn-beyond=ack syn-old=ack";
    let bsd = "fin=ack+R data=ack ack-in=ack old=ack rst==drop rst~=drop rst-out=drop \
               syn-in=accept syn-in-nolisten=accept syn-beyond=accept syn-old=drop";
    let expected: Vec<String> = [
        (
            "linux",
            "fin=ack+R data=ack+R ack-in=ack+R old=ack+R rst==kill rst~=drop rst-out=drop \
             syn-in=accept(iss=70537) syn-in-nolisten=ack syn-beyond=accept(iss=70537) syn-old=ack",
        ),
        ("rfc793", rfc793),
        ("freebsd", bsd),
        ("macos", bsd),
        ("windows-nt4", rfc793),
        ("windows-2000", rfc793),
        ("windows-2003", rfc793),
        ("solaris", rfc793),
        ("hpux", rfc793),
        ("stratus-os-tcp", rfc793),
        ("stratus-stcp", rfc793),
        (
            "smoltcp",
            "fin=ack+R data=ack ack-in=ack old=ack+R rst==kill rst~=kill rst-out=drop \
             syn-in=drop syn-in-nolisten=drop syn-beyond=drop syn-old=drop",
        ),
    ]
    .iter()
    .map(|(n, row)| format!("{n}: {row}"))
    .collect();
    assert_eq!(got.join("\n"), expected.join("\n"));
}

#[test]
fn smoltcp_rate_limits_fin_reacks_but_still_restarts() {
    let tuple = FourTuple::new(sa("10.0.0.1:80"), sa("10.0.0.2:50000"));
    let fin = SegmentInfo {
        seq: SeqNum(999),
        ack: Some(SeqNum(5000)),
        syn: false,
        fin: true,
        rst: false,
        payload_len: 0,
        tsval: None,
    };
    let data = SegmentInfo {
        fin: false,
        payload_len: 5,
        seq: SeqNum(900),
        ..fin
    };
    for (profile, second_fin) in [
        (Profile::Smoltcp, TwAction::Drop),
        (Profile::Linux, TwAction::Ack),
    ] {
        let policy = profile.config().time_wait;
        let mut r = tw_record(tuple, Instant::ZERO, Duration::from_secs(10));
        let t = |ms: u64| Instant::from_micros(ms * 1000);
        assert_eq!(
            r.on_segment(&fin, t(100), &policy, false).action,
            TwAction::Ack
        );
        let d = r.on_segment(&fin, t(600), &policy, false);
        assert_eq!(d.action, second_fin, "{profile:?}");
        assert!(
            d.restarted,
            "{profile:?}: the timer restarts whether or not the ACK goes out"
        );
        assert_eq!(r.expires_at(), t(600) + Duration::from_secs(10));
        // Out-of-window data is never rate-limited.
        assert_eq!(
            r.on_segment(&data, t(700), &policy, false).action,
            TwAction::Ack
        );
        assert_eq!(
            r.on_segment(&fin, t(1_700), &policy, false).action,
            TwAction::Ack
        );
    }
}

// ------------------------------------------------------------------------------------------
// Windows bind tables: every cell, from the tables in bind-rules.md
// ------------------------------------------------------------------------------------------

/// bind-rules.md, "Windows XP and earlier", verbatim.
const CLASSIC_MD: &str = "
| first ↓ / second → | D-W | D-S | RA-W | RA-S | EX-W | EX-S |
| --- | --- | --- | --- | --- | --- | --- |
| D or RA, W or S | INUSE | INUSE | OK | OK | INUSE | INUSE |
| EX, W or S | INUSE | INUSE | ACCESS | ACCESS | INUSE | INUSE |
";

/// bind-rules.md, "Server 2003 and later, same user", verbatim.
const SERVER_2003_MD: &str = "
| first ↓ / second → | D-W | D-S | RA-W | RA-S | EX-W | EX-S |
| --- | --- | --- | --- | --- | --- | --- |
| D-W | INUSE | OK | ACCESS | OK | INUSE | OK |
| D-S | OK | INUSE | OK | ACCESS | INUSE | INUSE |
| RA-W | INUSE | OK | OK | OK | INUSE | OK |
| RA-S | OK | INUSE | OK | OK | INUSE | INUSE |
| EX-W | INUSE | ACCESS | ACCESS | ACCESS | INUSE | ACCESS |
| EX-S | OK | INUSE | OK | ACCESS | INUSE | INUSE |
";

/// bind-rules.md: "Different user: as above except row D-W columns D-S, RA-S, EX-S → ACCESS;
/// row RA-W columns D-S, EX-S → ACCESS."
const OTHER_USER_CHANGES: [(&str, &str); 5] = [
    ("D-W", "D-S"),
    ("D-W", "RA-S"),
    ("D-W", "EX-S"),
    ("RA-W", "D-S"),
    ("RA-W", "EX-S"),
];

/// Parses a bind-rules.md table into (row, column) → expected result, the row labels
/// "D or RA, W or S" and "EX, W or S" standing for several rows.
fn parse_windows_table(md: &str) -> BTreeMap<(String, String), &'static str> {
    let rows: Vec<Vec<String>> = md
        .lines()
        .filter(|l| l.starts_with('|') && !l.contains("---"))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect();
    let cols = &rows[0][1..];
    assert_eq!(cols, ["D-W", "D-S", "RA-W", "RA-S", "EX-W", "EX-S"]);
    let mut cells = BTreeMap::new();
    for row in &rows[1..] {
        let labels: Vec<&str> = match row[0].as_str() {
            "D or RA, W or S" => vec!["D-W", "D-S", "RA-W", "RA-S"],
            "EX, W or S" => vec!["EX-W", "EX-S"],
            one => vec![one],
        };
        for label in labels {
            for (col, cell) in cols.iter().zip(&row[1..]) {
                let want = match cell.as_str() {
                    "OK" => "ok",
                    "INUSE" => "EADDRINUSE",
                    "ACCESS" => "EACCES",
                    other => panic!("unknown cell {other:?}"),
                };
                cells.insert((label.to_string(), col.clone()), want);
            }
        }
    }
    assert_eq!(cells.len(), 36);
    cells
}

/// Options and address of a table category (`"RA-S"`): W = 0.0.0.0, S = 10.0.0.1.
fn category(cat: &str) -> (SockOptions, SocketAddr) {
    let (opt, addr) = cat.split_once('-').expect("category");
    let opts = SockOptions {
        reuseaddr: opt == "RA",
        exclusiveaddruse: opt == "EX",
        ..SockOptions::default()
    };
    let ip = if addr == "W" { "0.0.0.0" } else { "10.0.0.1" };
    (opts, SocketAddr::new(self::ip(ip), 8080))
}

/// bind() of a second socket (`second`, `uid2`) after a first one (`first`, uid 1), bound
/// and, if `listening`, listening: `"ok"` or the errno name.
fn second_bind(
    profile: Profile,
    first: &str,
    second: &str,
    uid2: u32,
    listening: bool,
) -> &'static str {
    let mut t = AddressTable::new(profile.config(), host());
    let (o1, a1) = category(first);
    let (o2, a2) = category(second);
    let s1 = t.socket(1);
    t.set_options(s1, o1).unwrap();
    t.bind(s1, a1, 0).unwrap();
    if listening {
        t.listen(s1, 0).unwrap();
    }
    let s2 = t.socket(uid2);
    t.set_options(s2, o2).unwrap();
    let checked = t.check_bind(a2, o2, uid2);
    let r = t.bind(s2, a2, 0);
    assert_eq!(r.map(|_| ()), checked, "check_bind agrees with bind");
    match r {
        Ok(_) => "ok",
        Err(e) => e.name(),
    }
}

/// Runs every cell of `cells` and returns the mismatches, one line each.
fn table_mismatches(
    profile: Profile,
    cells: &BTreeMap<(String, String), &'static str>,
    uid2: u32,
) -> Vec<String> {
    let mut bad = Vec::new();
    for ((row, col), want) in cells {
        for listening in [false, true] {
            let got = second_bind(profile, row, col, uid2, listening);
            if got != *want {
                bad.push(format!(
                    "{} uid2={uid2} first {row}{} then {col}: got {got}, want {want}",
                    profile.name(),
                    if listening { " (listening)" } else { "" }
                ));
            }
        }
    }
    bad
}

#[test]
fn windows_classic_table_every_cell() {
    let cells = parse_windows_table(CLASSIC_MD);
    // NT4 and 2000 share the table; it knows no users.
    let mut bad = Vec::new();
    for profile in [Profile::WindowsNt4, Profile::Windows2000] {
        for uid2 in [1, 2] {
            bad.extend(table_mismatches(profile, &cells, uid2));
        }
    }
    assert!(bad.is_empty(), "\n{}", bad.join("\n"));
}

#[test]
fn windows_2003_table_same_user_every_cell() {
    let cells = parse_windows_table(SERVER_2003_MD);
    let bad = table_mismatches(Profile::Windows2003, &cells, 1);
    assert!(bad.is_empty(), "\n{}", bad.join("\n"));
}

#[test]
fn windows_2003_table_other_user_every_cell() {
    let mut cells = parse_windows_table(SERVER_2003_MD);
    for (row, col) in OTHER_USER_CHANGES {
        let cell = cells.get_mut(&(row.to_string(), col.to_string())).unwrap();
        assert_ne!(*cell, "EACCES", "the change must change something");
        *cell = "EACCES";
    }
    let bad = table_mismatches(Profile::Windows2003, &cells, 2);
    assert!(bad.is_empty(), "\n{}", bad.join("\n"));
}

#[test]
fn windows_tables_apply_only_to_overlapping_addresses() {
    for profile in [
        Profile::WindowsNt4,
        Profile::Windows2000,
        Profile::Windows2003,
    ] {
        for (o1, o2) in [("", ""), ("ex", "ra"), ("ex", "ex"), ("ra", "")] {
            check(
                &format!(
                    "
                    profile {}
                    a = socket {o1}
                    bind a 10.0.0.1:8080
                    b = socket {o2} uid=5
                    bind b 127.0.0.1:8080
                    listen a
                    listen b
                    choose 127.0.0.1:8080 10.0.0.2:1
                    choose 10.0.0.1:8080 10.0.0.2:1
                    ",
                    profile.name()
                ),
                "
                    bind a 10.0.0.1:8080 -> ok
                    bind b 127.0.0.1:8080 -> ok
                    listen a -> ok
                    listen b -> ok
                    choose 127.0.0.1:8080 10.0.0.2:1 -> b
                    choose 10.0.0.1:8080 10.0.0.2:1 -> a
                    ",
            );
        }
    }
}

#[test]
fn windows_ignores_reuseport() {
    for profile in ["windows-nt4", "windows-2003"] {
        check(
            &format!(
                "
                profile {profile}
                a = socket rp
                bind a 10.0.0.1:8080
                b = socket rp
                bind b 10.0.0.1:8080
                "
            ),
            "
            bind a 10.0.0.1:8080 -> ok
            bind b 10.0.0.1:8080 -> EADDRINUSE
            ",
        );
    }
}

#[test]
fn windows_classic_port_hijacking_and_specific_listener_wins() {
    // "Using SO_REUSEADDR and SO_EXCLUSIVEADDRUSE": a SO_REUSEADDR socket may bind a specific
    // address over an active wildcard listener and then gets that address's connections.
    // Server 2003 without SO_REUSEADDR on the first socket: WSAEACCES for the same attempt.
    check(
        "
        profile windows-2000
        victim = socket
        bind victim 0.0.0.0:80
        listen victim
        thief = socket ra uid=666
        bind thief 10.0.0.1:80
        listen thief
        choose 10.0.0.1:80 10.0.0.2:40000 rand=0
        choose 10.0.0.1:80 10.0.0.2:40000 rand=1
        choose 127.0.0.1:80 10.0.0.2:40000 rand=1
        ",
        "
        bind victim 0.0.0.0:80 -> ok
        listen victim -> ok
        bind thief 10.0.0.1:80 -> ok
        listen thief -> ok
        choose 10.0.0.1:80 10.0.0.2:40000 rand=0 -> thief
        choose 10.0.0.1:80 10.0.0.2:40000 rand=1 -> thief
        choose 127.0.0.1:80 10.0.0.2:40000 rand=1 -> victim
        ",
    );
    check(
        "
        profile windows-2003
        victim = socket
        bind victim 0.0.0.0:80
        listen victim
        thief = socket ra uid=666
        bind thief 10.0.0.1:80
        guarded = socket ex
        bind guarded 0.0.0.0:81
        thief2 = socket ra
        bind thief2 10.0.0.1:81
        ",
        "
        bind victim 0.0.0.0:80 -> ok
        listen victim -> ok
        bind thief 10.0.0.1:80 -> EACCES
        bind guarded 0.0.0.0:81 -> ok
        bind thief2 10.0.0.1:81 -> EACCES
        ",
    );
}

// ------------------------------------------------------------------------------------------
// KB 307175: listener reuse on NT4 and Windows 2000
// ------------------------------------------------------------------------------------------

/// The listener (with `lopt`) accepted a connection and closed; the connection is `state`
/// ("established" or "time-wait"); a new socket with `nopt` binds the port.
fn kb307175_rebind(profile: &str, lopt: &str, state: &str, nopt: &str) -> String {
    let tw = if state == "time-wait" { "tw c" } else { "" };
    run_script(&format!(
        "
        profile {profile}
        l = socket {lopt}
        bind l 0.0.0.0:8080
        listen l
        c = accept l 10.0.0.1:8080 10.0.0.2:50000
        {tw}
        close l
        n = socket {nopt}
        bind n 0.0.0.0:8080
        "
    ))
    .lines()
    .last()
    .unwrap()
    .rsplit(" -> ")
    .next()
    .unwrap()
    .to_string()
}

#[test]
fn kb307175_nt4_rebind_needs_reuseaddr_2000_does_not() {
    // (profile, listener option, connection state, new option) → bind result.
    let cases = [
        // NT4: "error 10048" unless SO_REUSEADDR, whatever the listener had.
        ("windows-nt4", "", "established", "", "EADDRINUSE"),
        ("windows-nt4", "ra", "established", "", "EADDRINUSE"),
        ("windows-nt4", "", "established", "ra", "ok"),
        ("windows-nt4", "ra", "established", "ra", "ok"),
        ("windows-nt4", "", "established", "ex", "EADDRINUSE"),
        // Assumed: a TIME-WAIT connection keeps the address object as well.
        ("windows-nt4", "", "time-wait", "", "EADDRINUSE"),
        ("windows-nt4", "", "time-wait", "ra", "ok"),
        // Windows 2000: "If you set SO_REUSADDR to False, the bind() function is still
        // returned successfully."
        ("windows-2000", "", "established", "", "ok"),
        ("windows-2000", "ra", "established", "", "ok"),
        ("windows-2000", "", "established", "ra", "ok"),
        ("windows-2000", "", "established", "ex", "ok"),
        ("windows-2000", "", "time-wait", "", "ok"),
        ("windows-2003", "", "established", "", "ok"),
        ("windows-2003", "", "time-wait", "", "ok"),
        // An exclusive listener's accepted connection blocks everybody while it is active
        // ("Using SO_REUSEADDR and SO_EXCLUSIVEADDRUSE"), on every version.
        ("windows-nt4", "ex", "established", "", "EADDRINUSE"),
        ("windows-nt4", "ex", "established", "ra", "EACCES"),
        ("windows-2000", "ex", "established", "", "EADDRINUSE"),
        ("windows-2000", "ex", "established", "ra", "EACCES"),
        ("windows-2000", "ex", "established", "ex", "EADDRINUSE"),
        ("windows-2003", "ex", "established", "ra", "EACCES"),
        // ... until it is no longer active (assumed: TIME-WAIT is not active) — except on
        // NT4, where TIME-WAIT keeps the object.
        ("windows-2000", "ex", "time-wait", "", "ok"),
        ("windows-2003", "ex", "time-wait", "ra", "ok"),
        ("windows-nt4", "ex", "time-wait", "ra", "EACCES"),
    ];
    let mut bad = Vec::new();
    for (profile, lopt, state, nopt, want) in cases {
        let got = kb307175_rebind(profile, lopt, state, nopt);
        if got != want {
            bad.push(format!(
                "{profile} listener[{lopt}] {state} new[{nopt}]: got {got}, want {want}"
            ));
        }
    }
    assert!(bad.is_empty(), "\n{}", bad.join("\n"));
}

#[test]
fn kb307175_listener_not_closed_needs_reuseaddr_on_both_versions() {
    // "If a listening socket is not closed, if you call the bind() function on the same
    // port, you receive an "error 10048" message in both Windows NT 4.0 and Windows 2000
    // unless you use SO_REUSADDR."
    for profile in ["windows-nt4", "windows-2000"] {
        check(
            &format!(
                "
                profile {profile}
                l = socket
                bind l 0.0.0.0:8080
                listen l
                c = accept l 10.0.0.1:8080 10.0.0.2:50000
                n = socket
                bind n 0.0.0.0:8080
                m = socket ra
                bind m 0.0.0.0:8080
                "
            ),
            "
            bind l 0.0.0.0:8080 -> ok
            listen l -> ok
            c = accept l 10.0.0.1:8080 10.0.0.2:50000 -> ok
            bind n 0.0.0.0:8080 -> EADDRINUSE
            bind m 0.0.0.0:8080 -> ok
            ",
        );
    }
}

#[test]
fn kb307175_accepted_connection_belongs_to_the_listeners_wildcard_address_object() {
    // NT4: the connection (local 10.0.0.1) still holds the wildcard address object, so a
    // bind of another specific address of the host conflicts with it.
    check(
        "
        profile windows-nt4
        l = socket
        bind l 0.0.0.0:8080
        listen l
        c = accept l 10.0.0.1:8080 10.0.0.2:50000
        close l
        checkbind 127.0.0.1:8080
        checkbind 127.0.0.1:8080 ra
        close c
        checkbind 127.0.0.1:8080
        ",
        "
        bind l 0.0.0.0:8080 -> ok
        listen l -> ok
        c = accept l 10.0.0.1:8080 10.0.0.2:50000 -> ok
        checkbind 127.0.0.1:8080 -> EADDRINUSE
        checkbind 127.0.0.1:8080 ra -> ok
        checkbind 127.0.0.1:8080 -> ok
        ",
    );
}

#[test]
fn kb307175_several_servers_listen_one_random_listener_accepts() {
    // "If you use SO_REUSADDR to bind multiple servers to the same port at the same time,
    // only one random listening socket accepts a connection request." listen() does not
    // re-check, unlike Linux.
    for profile in ["windows-nt4", "windows-2000"] {
        check(
            &format!(
                "
                profile {profile}
                a = socket ra
                b = socket ra
                c = socket ra
                bind a 0.0.0.0:8080
                bind b 0.0.0.0:8080
                bind c 0.0.0.0:8080
                listen a
                listen b
                listen c
                listeners 10.0.0.1:8080
                choose 10.0.0.1:8080 10.0.0.2:50000 rand=1
                choose 10.0.0.1:8080 10.0.0.2:50000 rand=0
                choose 10.0.0.1:8080 10.0.0.2:50001 rand=2
                choose 10.0.0.1:8080 10.0.0.2:50002 rand=4294967295
                close b
                choose 10.0.0.1:8080 10.0.0.2:50000 rand=2
                choose 10.0.0.1:8080 10.0.0.2:50000 rand=1
                "
            ),
            "
            bind a 0.0.0.0:8080 -> ok
            bind b 0.0.0.0:8080 -> ok
            bind c 0.0.0.0:8080 -> ok
            listen a -> ok
            listen b -> ok
            listen c -> ok
            listeners 10.0.0.1:8080 -> a b c
            choose 10.0.0.1:8080 10.0.0.2:50000 rand=1 -> b
            choose 10.0.0.1:8080 10.0.0.2:50000 rand=0 -> b
            choose 10.0.0.1:8080 10.0.0.2:50001 rand=2 -> b
            choose 10.0.0.1:8080 10.0.0.2:50002 rand=4294967295 -> b
            choose 10.0.0.1:8080 10.0.0.2:50000 rand=2 -> a
            choose 10.0.0.1:8080 10.0.0.2:50000 rand=1 -> a
            ",
        );
    }
    // Linux: the second listen() fails, so there is never a choice to make.
    check(
        "
        a = socket ra
        b = socket ra
        bind a 0.0.0.0:8080
        bind b 0.0.0.0:8080
        listen a
        listen b
        choose 10.0.0.1:8080 10.0.0.2:50000 rand=1
        ",
        "
        bind a 0.0.0.0:8080 -> ok
        bind b 0.0.0.0:8080 -> ok
        listen a -> ok
        listen b -> EADDRINUSE
        choose 10.0.0.1:8080 10.0.0.2:50000 rand=1 -> a
        ",
    );
}

// ------------------------------------------------------------------------------------------
// KB Q177074: NT4 refuses every connect while the old listener's children live
// ------------------------------------------------------------------------------------------

#[test]
fn q177074_rebind_succeeds_but_connects_are_refused_until_the_child_closes() {
    let rule = crate::table::Q177074_RULE;
    check(
        "
        profile windows-nt4
        l = socket ra
        bind l 0.0.0.0:8080
        listen l
        c = accept l 10.0.0.1:8080 10.0.0.2:50000
        choose 10.0.0.1:8080 10.0.0.3:1
        close l                              # the server exits; the child keeps c
        stale
        choose 10.0.0.1:8080 10.0.0.3:1
        n = socket
        bind n 0.0.0.0:8080
        n2 = socket ra
        bind n2 0.0.0.0:8080
        listen n2
        choose 10.0.0.1:8080 10.0.0.3:1
        choose 127.0.0.1:8080 10.0.0.3:1
        o = socket
        bind o 0.0.0.0:9090
        listen o
        choose 10.0.0.1:9090 10.0.0.3:1      # other ports are not affected
        tw c                                 # the child's connection closes
        stale
        choose 10.0.0.1:8080 10.0.0.3:1
        ",
        &format!(
            "
            bind l 0.0.0.0:8080 -> ok
            listen l -> ok
            c = accept l 10.0.0.1:8080 10.0.0.2:50000 -> ok
            choose 10.0.0.1:8080 10.0.0.3:1 -> l
            stale -> 0.0.0.0:8080: c
            choose 10.0.0.1:8080 10.0.0.3:1 -> refuse: {rule}
            bind n 0.0.0.0:8080 -> EADDRINUSE
            bind n2 0.0.0.0:8080 -> ok
            listen n2 -> ok
            choose 10.0.0.1:8080 10.0.0.3:1 -> refuse: {rule}
            choose 127.0.0.1:8080 10.0.0.3:1 -> refuse: {rule}
            bind o 0.0.0.0:9090 -> ok
            listen o -> ok
            choose 10.0.0.1:9090 10.0.0.3:1 -> o
            tw c -> expires 240.000s
            stale -> none
            choose 10.0.0.1:8080 10.0.0.3:1 -> n2
            "
        ),
    );
}

#[test]
fn q177074_every_child_must_be_gone() {
    let rule = crate::table::Q177074_RULE;
    for how in ["close", "tw", "disconnect"] {
        check(
            &format!(
                "
                profile windows-nt4
                l = socket ra
                bind l 10.0.0.1:8080
                listen l
                a = accept l 10.0.0.1:8080 10.0.0.2:50000
                b = accept l 10.0.0.1:8080 10.0.0.2:50001
                t = accept l 10.0.0.1:8080 10.0.0.2:50002
                tw t                       # already closing: not counted
                close l
                stale
                n = socket ra
                bind n 10.0.0.1:8080
                listen n
                {how} a
                stale
                choose 10.0.0.1:8080 10.0.0.3:1
                {how} b
                stale
                choose 10.0.0.1:8080 10.0.0.3:1
                "
            ),
            &format!(
                "
                bind l 10.0.0.1:8080 -> ok
                listen l -> ok
                a = accept l 10.0.0.1:8080 10.0.0.2:50000 -> ok
                b = accept l 10.0.0.1:8080 10.0.0.2:50001 -> ok
                t = accept l 10.0.0.1:8080 10.0.0.2:50002 -> ok
                tw t -> expires 240.000s
                stale -> 10.0.0.1:8080: a b
                bind n 10.0.0.1:8080 -> ok
                listen n -> ok{}
                stale -> 10.0.0.1:8080: b
                choose 10.0.0.1:8080 10.0.0.3:1 -> refuse: {rule}{}
                stale -> none
                choose 10.0.0.1:8080 10.0.0.3:1 -> n
                ",
                if how == "tw" {
                    "\n                tw a -> expires 240.000s"
                } else {
                    ""
                },
                if how == "tw" {
                    "\n                tw b -> expires 240.000s"
                } else {
                    ""
                },
            ),
        );
    }
}

#[test]
fn q177074_specific_old_listener_does_not_shadow_other_addresses() {
    check(
        "
        profile windows-nt4
        l = socket ra
        bind l 127.0.0.1:8080
        listen l
        c = accept l 127.0.0.1:8080 127.0.0.1:50000
        close l
        n = socket ra
        bind n 0.0.0.0:8080
        listen n
        choose 10.0.0.1:8080 10.0.0.3:1
        ",
        "
        bind l 127.0.0.1:8080 -> ok
        listen l -> ok
        c = accept l 127.0.0.1:8080 127.0.0.1:50000 -> ok
        bind n 0.0.0.0:8080 -> ok
        listen n -> ok
        choose 10.0.0.1:8080 10.0.0.3:1 -> n
        ",
    );
}

#[test]
fn q177074_is_nt4_only() {
    // The same story on every other profile: a new listener gets the connection (Linux
    // and BSD need SO_REUSEADDR as their rules say; smoltcp has no rules).
    for profile in Profile::ALL {
        let nt4 = profile == Profile::WindowsNt4;
        let r = run_script(&format!(
            "
            profile {}
            l = socket ra
            bind l 0.0.0.0:8080
            listen l
            c = accept l 10.0.0.1:8080 10.0.0.2:50000
            close l
            stale
            n = socket ra
            bind n 0.0.0.0:8080
            listen n
            choose 10.0.0.1:8080 10.0.0.3:1
            ",
            profile.name()
        ));
        let last = r.lines().last().unwrap();
        assert_eq!(last.ends_with(" -> n"), !nt4, "{profile:?}: {r}");
        assert_eq!(r.contains("stale -> none"), !nt4, "{profile:?}: {r}");
    }
}

// ------------------------------------------------------------------------------------------
// Listener choice on the other profiles
// ------------------------------------------------------------------------------------------

#[test]
fn exact_choice_prefers_the_specific_address_then_the_oldest() {
    for profile in [
        "freebsd",
        "macos",
        "rfc793",
        "solaris",
        "hpux",
        "stratus-stcp",
    ] {
        check(
            &format!(
                "
                profile {profile}
                w = socket ra
                bind w 0.0.0.0:8080
                listen w
                s = socket ra
                bind s 10.0.0.1:8080
                listen s
                choose 10.0.0.1:8080 10.0.0.2:1 rand=7
                choose 127.0.0.1:8080 10.0.0.2:1 rand=7
                close s
                choose 10.0.0.1:8080 10.0.0.2:1
                "
            ),
            "
            bind w 0.0.0.0:8080 -> ok
            listen w -> ok
            bind s 10.0.0.1:8080 -> ok
            listen s -> ok
            choose 10.0.0.1:8080 10.0.0.2:1 rand=7 -> s
            choose 127.0.0.1:8080 10.0.0.2:1 rand=7 -> w
            choose 10.0.0.1:8080 10.0.0.2:1 -> w
            ",
        );
    }
    // BSD SO_REUSEPORT duplicates: the oldest takes every connection.
    check(
        "
        profile freebsd
        a = socket rp
        b = socket rp
        bind a 10.0.0.1:8080
        bind b 10.0.0.1:8080
        listen b
        listen a
        choose 10.0.0.1:8080 10.0.0.2:1
        choose 10.0.0.1:8080 10.0.0.2:2
        ",
        "
        bind a 10.0.0.1:8080 -> ok
        bind b 10.0.0.1:8080 -> ok
        listen b -> ok
        listen a -> ok
        choose 10.0.0.1:8080 10.0.0.2:1 -> a
        choose 10.0.0.1:8080 10.0.0.2:2 -> a
        ",
    );
}

#[test]
fn smoltcp_first_created_listener_wins_whatever_its_address() {
    check(
        "
        profile smoltcp
        w = socket
        bind w 0.0.0.0:8080
        s = socket
        bind s 10.0.0.1:8080
        t = socket
        bind t 10.0.0.1:8080
        listen t
        listen s
        listen w
        choose 10.0.0.1:8080 10.0.0.2:1
        close w
        choose 10.0.0.1:8080 10.0.0.2:1
        choose 127.0.0.1:8080 10.0.0.2:1
        choose 127.0.0.1:9999 10.0.0.2:1
        ",
        "
        bind w 0.0.0.0:8080 -> ok
        bind s 10.0.0.1:8080 -> ok
        bind t 10.0.0.1:8080 -> ok
        listen t -> ok
        listen s -> ok
        listen w -> ok
        choose 10.0.0.1:8080 10.0.0.2:1 -> w
        choose 10.0.0.1:8080 10.0.0.2:1 -> s
        choose 127.0.0.1:8080 10.0.0.2:1 -> none
        choose 127.0.0.1:9999 10.0.0.2:1 -> none
        ",
    );
}

#[test]
fn linux_reuseport_group_is_chosen_by_a_hash_of_the_4_tuple() {
    let mut t = AddressTable::new(Profile::Linux.config(), host());
    let rp = SockOptions {
        reuseport: true,
        ..SockOptions::default()
    };
    let group: Vec<SocketId> = (0..4)
        .map(|_| {
            let s = t.socket(1000);
            t.set_options(s, rp).unwrap();
            t.bind(s, sa("0.0.0.0:8080"), 0).unwrap();
            t.listen(s, 0).unwrap();
            s
        })
        .collect();
    let local = sa("10.0.0.1:8080");
    let mut hits: BTreeMap<SocketId, u32> = BTreeMap::new();
    for port in 40000..40400u16 {
        let remote = SocketAddr::new(ip("10.0.0.2"), port);
        let v = t.choose_listener(local, remote, 0);
        // rand is not used: the same 4-tuple always goes to the same listener.
        assert_eq!(v, t.choose_listener(local, remote, 12345));
        let ListenerVerdict::Listener(id) = v else {
            panic!("{v:?}");
        };
        let h = crate::table::tuple_hash(local, remote);
        assert_eq!(
            id,
            group[((u64::from(h) * 4) >> 32) as usize],
            "reciprocal_scale"
        );
        *hits.entry(id).or_default() += 1;
    }
    assert_eq!(hits.len(), 4, "every member gets connections: {hits:?}");
    assert!(hits.values().all(|n| (50..=150).contains(n)), "{hits:?}");
    // A listener on the exact address beats the wildcard group. Linux lets it bind beside the
    // group only with SO_REUSEPORT and the same uid; it forms a group of its own.
    let s = t.socket(1000);
    t.set_options(s, rp).unwrap();
    t.bind(s, local, 0).unwrap();
    t.listen(s, 0).unwrap();
    for port in 40000..40050u16 {
        let remote = SocketAddr::new(ip("10.0.0.2"), port);
        assert_eq!(
            t.choose_listener(local, remote, 0),
            ListenerVerdict::Listener(s)
        );
    }
    // Without SO_REUSEPORT on the best listener: the best listener, as Exact.
    let mut t = AddressTable::new(Profile::Linux.config(), host());
    let a = t.socket(0);
    t.listen(a, 0).unwrap();
    let port = t.get(a).unwrap().local.unwrap().port();
    let local = SocketAddr::new(ip("10.0.0.1"), port);
    assert_eq!(
        t.choose_listener(local, sa("10.0.0.2:1"), 9),
        ListenerVerdict::Listener(a)
    );
    assert_eq!(
        t.choose_listener(
            SocketAddr::new(ip("10.0.0.1"), port + 1),
            sa("10.0.0.2:1"),
            9
        ),
        ListenerVerdict::None
    );
}

#[test]
fn tuple_hash_depends_on_every_field() {
    let base = crate::table::tuple_hash(sa("10.0.0.1:80"), sa("10.0.0.2:40000"));
    for (l, r) in [
        ("10.0.0.3:80", "10.0.0.2:40000"),
        ("10.0.0.1:81", "10.0.0.2:40000"),
        ("10.0.0.1:80", "10.0.0.4:40000"),
        ("10.0.0.1:80", "10.0.0.2:40001"),
        ("10.0.0.2:40000", "10.0.0.1:80"),
    ] {
        assert_ne!(crate::table::tuple_hash(sa(l), sa(r)), base, "{l} {r}");
    }
}

// ------------------------------------------------------------------------------------------
// Solaris (tcp_bindi)
// ------------------------------------------------------------------------------------------

#[test]
fn solaris_without_reuseaddr_any_overlap_conflicts_time_wait_included() {
    check(
        "
        profile solaris
        l = socket ra
        bind l 0.0.0.0:8080
        listen l
        c = accept l 10.0.0.1:8080 10.0.0.2:50000
        d = accept l 10.0.0.1:8080 10.0.0.2:50001
        tw d
        checkbind 10.0.0.1:8080
        close l
        checkbind 10.0.0.1:8080          # the ESTABLISHED child
        checkbind 127.0.0.1:8080         # no overlap with 10.0.0.1
        close c
        checkbind 10.0.0.1:8080          # TIME-WAIT alone
        checkbind 0.0.0.0:8080
        time 60s
        checkbind 10.0.0.1:8080
        ",
        "
        bind l 0.0.0.0:8080 -> ok
        listen l -> ok
        c = accept l 10.0.0.1:8080 10.0.0.2:50000 -> ok
        d = accept l 10.0.0.1:8080 10.0.0.2:50001 -> ok
        tw d -> expires 60.000s
        checkbind 10.0.0.1:8080 -> EADDRINUSE
        checkbind 10.0.0.1:8080 -> EADDRINUSE
        checkbind 127.0.0.1:8080 -> ok
        checkbind 10.0.0.1:8080 -> EADDRINUSE
        checkbind 0.0.0.0:8080 -> EADDRINUSE
        time 60s -> expired d
        checkbind 10.0.0.1:8080 -> ok
        ",
    );
}

#[test]
fn solaris_with_reuseaddr_only_the_same_address_in_listen_or_bound() {
    check(
        "
        profile solaris
        l = socket
        bind l 10.0.0.1:8080
        listen l
        checkbind 10.0.0.1:8080 ra       # same address, LISTEN
        checkbind 0.0.0.0:8080 ra        # overlapping, not the same address
        b = socket
        bind b 10.0.0.1:9090
        checkbind 10.0.0.1:9090 ra       # same address, BOUND
        c = accept l 10.0.0.1:8080 10.0.0.2:50000
        d = accept l 10.0.0.1:8080 10.0.0.2:50001
        tw d
        close l
        checkbind 10.0.0.1:8080 ra       # ESTABLISHED and TIME-WAIT do not conflict
        checkbind 10.0.0.1:8080          # ... without SO_REUSEADDR they do
        w = socket ra
        bind w 0.0.0.0:8080
        s = socket ra
        bind s 10.0.0.1:8080
        listen w
        listen s                         # listen() does not re-check
        choose 10.0.0.1:8080 10.0.0.3:1
        ",
        "
        bind l 10.0.0.1:8080 -> ok
        listen l -> ok
        checkbind 10.0.0.1:8080 ra -> EADDRINUSE
        checkbind 0.0.0.0:8080 ra -> ok
        bind b 10.0.0.1:9090 -> ok
        checkbind 10.0.0.1:9090 ra -> EADDRINUSE
        c = accept l 10.0.0.1:8080 10.0.0.2:50000 -> ok
        d = accept l 10.0.0.1:8080 10.0.0.2:50001 -> ok
        tw d -> expires 60.000s
        checkbind 10.0.0.1:8080 ra -> ok
        checkbind 10.0.0.1:8080 -> EADDRINUSE
        bind w 0.0.0.0:8080 -> ok
        bind s 10.0.0.1:8080 -> ok
        listen w -> ok
        listen s -> ok
        choose 10.0.0.1:8080 10.0.0.3:1 -> s
        ",
    );
}

#[test]
fn solaris_exclbind_conflicts_up_to_established_and_reuseport_is_ignored() {
    check(
        "
        profile solaris
        l = socket ra ex
        bind l 0.0.0.0:8080
        listen l
        checkbind 10.0.0.1:8080 ra        # SO_EXCLBIND on the listener
        c = accept l 10.0.0.1:8080 10.0.0.2:50000
        d = accept l 10.0.0.1:8080 10.0.0.2:50001
        tw d
        close l
        checkbind 10.0.0.1:8080 ra        # the ESTABLISHED child still has it
        close c
        checkbind 10.0.0.1:8080 ra        # TIME-WAIT does not
        checkbind 10.0.0.1:8080 ra ex
        m = socket ra
        bind m 0.0.0.0:7070
        checkbind 10.0.0.1:7070 ra        # plain SO_REUSEADDR: other address, ok
        checkbind 10.0.0.1:7070 ra ex     # SO_EXCLBIND on the new socket
        p = socket rp
        bind p 10.0.0.1:6060
        checkbind 10.0.0.1:6060 rp
        ",
        "
        bind l 0.0.0.0:8080 -> ok
        listen l -> ok
        checkbind 10.0.0.1:8080 ra -> EADDRINUSE
        c = accept l 10.0.0.1:8080 10.0.0.2:50000 -> ok
        d = accept l 10.0.0.1:8080 10.0.0.2:50001 -> ok
        tw d -> expires 60.000s
        checkbind 10.0.0.1:8080 ra -> EADDRINUSE
        checkbind 10.0.0.1:8080 ra -> ok
        checkbind 10.0.0.1:8080 ra ex -> ok
        bind m 0.0.0.0:7070 -> ok
        checkbind 10.0.0.1:7070 ra -> ok
        checkbind 10.0.0.1:7070 ra ex -> EADDRINUSE
        bind p 10.0.0.1:6060 -> ok
        checkbind 10.0.0.1:6060 rp -> EADDRINUSE
        ",
    );
}

// ------------------------------------------------------------------------------------------
// BSD-derived profiles and smoltcp
// ------------------------------------------------------------------------------------------

#[test]
fn bsd_derived_profiles_follow_the_bsd_rule() {
    // FreeBSD and macOS from their sources; HP-UX and Stratus by assumption.
    for profile in ["freebsd", "macos", "hpux", "stratus-os-tcp", "stratus-stcp"] {
        check(
            &format!(
                "
                profile {profile}
                l = socket
                bind l 0.0.0.0:8080
                listen l
                c = accept l 10.0.0.1:8080 10.0.0.2:50000
                checkbind 10.0.0.1:8080           # the listener: wildcard lookup
                checkbind 10.0.0.1:8080 ra        # only the new socket's flag matters
                checkbind 0.0.0.0:8080 ra         # same address as the listener
                close l
                checkbind 10.0.0.1:8080           # the connected child, wildcard lookup
                checkbind 0.0.0.0:8080 ra         # connected sockets never conflict
                s1 = socket ra
                bind s1 10.0.0.1:9090
                s2 = socket ra
                bind s2 10.0.0.1:9090             # unconnected, same address
                w = socket ra
                bind w 0.0.0.0:9090
                listen w
                listen s1
                choose 10.0.0.1:9090 10.0.0.2:1
                "
            ),
            "
            bind l 0.0.0.0:8080 -> ok
            listen l -> ok
            c = accept l 10.0.0.1:8080 10.0.0.2:50000 -> ok
            checkbind 10.0.0.1:8080 -> EADDRINUSE
            checkbind 10.0.0.1:8080 ra -> ok
            checkbind 0.0.0.0:8080 ra -> EADDRINUSE
            checkbind 10.0.0.1:8080 -> EADDRINUSE
            checkbind 0.0.0.0:8080 ra -> ok
            bind s1 10.0.0.1:9090 -> ok
            bind s2 10.0.0.1:9090 -> EADDRINUSE
            bind w 0.0.0.0:9090 -> ok
            listen w -> ok
            listen s1 -> ok
            choose 10.0.0.1:9090 10.0.0.2:1 -> s1
            ",
        );
    }
}

#[test]
fn smoltcp_bind_and_listen_never_conflict() {
    check(
        "
        profile smoltcp
        a = socket
        b = socket
        bind a 10.0.0.1:8080
        bind b 10.0.0.1:8080
        listen a
        listen b
        c = accept a 10.0.0.1:8080 10.0.0.2:50000
        tw c
        d = socket
        bind d 0.0.0.0:8080
        listeners 10.0.0.1:8080
        e = socket
        bind e 10.0.0.1:40000
        connect e 10.0.0.2:50000 src=10.0.0.1
        f = socket
        bind f 10.0.0.1:8080
        connect f 10.0.0.2:50000        # the 4-tuple still has one owner
        ",
        "
        bind a 10.0.0.1:8080 -> ok
        bind b 10.0.0.1:8080 -> ok
        listen a -> ok
        listen b -> ok
        c = accept a 10.0.0.1:8080 10.0.0.2:50000 -> ok
        tw c -> expires 10.000s
        bind d 0.0.0.0:8080 -> ok
        listeners 10.0.0.1:8080 -> a b
        bind e 10.0.0.1:40000 -> ok
        connect e 10.0.0.2:50000 src=10.0.0.1 -> 10.0.0.1:40000
        bind f 10.0.0.1:8080 -> ok
        connect f 10.0.0.2:50000 -> EADDRNOTAVAIL
        ",
    );
}

#[test]
fn accepted_sockets_cannot_listen() {
    for profile in Profile::ALL {
        let mut t = AddressTable::new(profile.config(), host());
        let l = t.socket(0);
        t.bind(l, sa("10.0.0.1:8080"), 0).unwrap();
        t.listen(l, 0).unwrap();
        let c = t
            .accept_child(l, FourTuple::new(sa("10.0.0.1:8080"), sa("10.0.0.2:1")))
            .unwrap();
        let e = t.get(c).unwrap();
        assert_eq!(
            (e.accepted_from, e.bound_addr),
            (Some(l), Some(sa("10.0.0.1:8080")))
        );
        t.disconnected(c);
        assert_eq!(t.listen(c, 0), Err(Errno::EINVAL), "{profile:?}");
    }
}

// ------------------------------------------------------------------------------------------
// The teaching story "restart-time-wait" on every profile
// ------------------------------------------------------------------------------------------

#[test]
fn restart_after_server_side_time_wait_on_every_profile() {
    // The server closed first (its side holds TIME-WAIT) and exited. Restart without
    // SO_REUSEADDR, and with it on both the old and the new socket (Linux needs both).
    // (profile, restart without RA, restart with RA, seconds until the port is free)
    let expected = [
        ("linux", "EADDRINUSE", "ok", 60),
        ("rfc793", "EADDRINUSE", "ok", 240),
        ("freebsd", "EADDRINUSE", "ok", 60),
        ("macos", "EADDRINUSE", "ok", 30),
        ("windows-nt4", "EADDRINUSE", "ok", 240),
        ("windows-2000", "ok", "ok", 0),
        ("windows-2003", "ok", "ok", 0),
        ("solaris", "EADDRINUSE", "ok", 60),
        ("hpux", "EADDRINUSE", "ok", 60),
        ("stratus-os-tcp", "EADDRINUSE", "ok", 60),
        ("stratus-stcp", "EADDRINUSE", "ok", 2),
        ("smoltcp", "ok", "ok", 0),
    ];
    assert_eq!(expected.len(), Profile::ALL.len());
    for (name, plain, with_ra, free_after) in expected {
        for (opt, want) in [("", plain), ("ra", with_ra)] {
            let mut script = format!(
                "
                profile {name}
                l = socket {opt}
                bind l 0.0.0.0:8080
                listen l
                c = accept l 10.0.0.1:8080 10.0.0.2:50000
                tw c
                close l
                n = socket {opt}
                bind n 0.0.0.0:8080
                "
            );
            let tw = Profile::from_name(name).unwrap().config();
            let tw = tw.time_wait_duration(tw.default_msl);
            let mut expect = format!(
                "
                bind l 0.0.0.0:8080 -> ok
                listen l -> ok
                c = accept l 10.0.0.1:8080 10.0.0.2:50000 -> ok
                tw c -> expires {tw}
                bind n 0.0.0.0:8080 -> {want}
                "
            );
            if want != "ok" {
                assert_eq!(tw, Duration::from_secs(free_after), "{name}");
                let before = tw.micros() / 1000 - 1;
                script = trim_indent(&script) + "\n";
                expect = trim_indent(&expect) + "\n";
                script.push_str(&format!(
                    "time {before}ms\nbind n 0.0.0.0:8080\ntime {free_after}s\nbind n 0.0.0.0:8080\n"
                ));
                expect.push_str(&format!(
                    "time {before}ms -> nothing expired\nbind n 0.0.0.0:8080 -> EADDRINUSE\n\
                     time {free_after}s -> expired c\nbind n 0.0.0.0:8080 -> ok\n"
                ));
            }
            check(&script, &expect);
        }
    }
}
