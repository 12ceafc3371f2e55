//! Processes and the socket handles they own.
//!
//! A socket is referenced by handles held by processes; `fork` copies every handle of the
//! parent into the child, `exit` closes all handles of a process, and a socket is closed
//! (FIN or RST) only when its last handle closes — POSIX `close(2)` on a shared open file
//! description. The Gay fork-server and KB Q177074 stories depend on this. A process that was
//! never seen before can also be started afresh ([`Processes::start`]: a newly executed
//! program, holding no handles); a process that exited stays ended.
//!
//! A caller that makes many calls for one process can look its name up once
//! ([`Processes::pid`]) and make the calls by [`Pid`] (`*_pid`), which compare numbers
//! rather than names; each answers exactly as the call by name would.

use crate::errno::Errno;
use crate::id_map::IdMap;
use crate::table::SocketId;
use std::collections::{BTreeMap, BTreeSet};

/// A process of one [`Processes`], by number ([`Processes::pid`]): it names the same process for
/// as long as the `Processes` lives (names are never reused), and means nothing to another
/// `Processes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pid(u32);

impl Pid {
    /// The number of no process: every call by number refuses it (EBADF), as the calls by name
    /// refuse a name that is not alive.
    pub const NONE: Pid = Pid(u32::MAX);
}

/// The processes of one host and their handles.
///
/// Handles are kept per socket (the processes holding one, usually a single one), so that
/// the calls made on every socket operation ([`Processes::holds`], [`Processes::open`],
/// [`Processes::close`]) cost a lookup by socket id; `fork` and `exit`, which need every
/// handle of one process, walk the sockets in id order.
#[derive(Clone, Debug, Default)]
pub struct Processes {
    /// Live processes by name: their number (an index into `names`).
    procs: BTreeMap<String, u32>,
    /// Every process ever started, by number (a name is never reused: see `exited`).
    names: Vec<String>,
    /// Whether each process (by number) exited.
    ended: Vec<bool>,
    /// Socket → the numbers of the processes holding a handle to it (each once; the count is
    /// the socket's handle count).
    holders: IdMap<Holders>,
    /// Processes that exited (their names are never reused).
    exited: BTreeSet<String>,
}

/// The processes holding handles to one socket: one in place, more in a list.
#[derive(Clone, Debug)]
enum Holders {
    One(u32),
    Many(Vec<u32>),
}

impl Holders {
    fn as_slice(&self) -> &[u32] {
        match self {
            Holders::One(p) => std::slice::from_ref(p),
            Holders::Many(v) => v,
        }
    }

    fn contains(&self, p: u32) -> bool {
        match self {
            Holders::One(q) => *q == p,
            Holders::Many(v) => v.contains(&p),
        }
    }

    /// Adds `p`; returns whether it was absent.
    fn add(&mut self, p: u32) -> bool {
        if self.contains(p) {
            return false;
        }
        match self {
            Holders::One(q) => *self = Holders::Many(vec![*q, p]),
            Holders::Many(v) => v.push(p),
        }
        true
    }
}

/// Up to this many processes ever started, a name is looked up by a scan of their names.
const SCAN_MAX: usize = 8;

/// `a == b`. Process names are short: up to 16 bytes they are compared in place as the first
/// and the last 2, 4 or 8 bytes (overlapping, so every byte is compared), with no library call.
fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len();
    if n != b.len() {
        return false;
    }
    fn ends<const W: usize>(a: &[u8], b: &[u8]) -> bool {
        let head = |x: &[u8]| <[u8; W]>::try_from(&x[..W]).expect("W bytes");
        let tail = |x: &[u8]| <[u8; W]>::try_from(&x[x.len() - W..]).expect("W bytes");
        head(a) == head(b) && tail(a) == tail(b)
    }
    match n {
        0 => true,
        1 => a[0] == b[0],
        2..=3 => ends::<2>(a, b),
        4..=7 => ends::<4>(a, b),
        8..=16 => ends::<8>(a, b),
        _ => a == b,
    }
}

impl Processes {
    /// A host whose only process is `main`.
    pub fn new() -> Self {
        let mut p = Processes::default();
        p.add_process("main");
        p
    }

    fn add_process(&mut self, name: &str) -> u32 {
        let n = self.names.len() as u32;
        self.names.push(name.to_string());
        self.ended.push(false);
        self.procs.insert(name.to_string(), n);
        n
    }

    /// The number of the live process `name`.
    #[inline]
    fn live(&self, name: &str) -> Option<u32> {
        if self.names.len() > SCAN_MAX {
            return self.live_in_tree(name);
        }
        // Few processes ever started: a scan of their names (each appears once) costs less
        // than the tree.
        let p = self.names.iter().position(|n| same_name(n, name))?;
        (!self.ended[p]).then_some(p as u32)
    }

    /// [`Processes::live`] by the tree of live names.
    #[inline(never)]
    fn live_in_tree(&self, name: &str) -> Option<u32> {
        self.procs.get(name).copied()
    }

    /// The number of the live process `name`; `None` if no process of that name is alive (it
    /// never started, or it exited: an exited name stays ended, so a process found here that
    /// later exits stays refused by every `*_pid` call).
    pub fn pid(&self, name: &str) -> Option<Pid> {
        self.live(name).map(Pid)
    }

    /// Whether process `p` is alive (it has not exited).
    fn alive(&self, p: Pid) -> bool {
        self.ended.get(p.0 as usize).is_some_and(|&e| !e)
    }

    /// Whether `proc` is alive.
    pub fn is_alive(&self, proc: &str) -> bool {
        self.live(proc).is_some()
    }

    /// Whether process `p` is alive ([`Processes::is_alive`] by number).
    pub fn is_alive_pid(&self, p: Pid) -> bool {
        self.alive(p)
    }

    /// Whether `proc` exited.
    pub fn has_exited(&self, proc: &str) -> bool {
        self.exited.contains(proc)
    }

    /// Starts `proc` as a freshly executed program with no handles (`fork` + `exec` of another
    /// program by someone outside the scenario: the operator restarting a server). Starting a
    /// process that is alive does nothing. Errors: EBADF if `proc` exited (an ended process
    /// does not come back under its name).
    pub fn start(&mut self, proc: &str) -> Result<(), Errno> {
        if self.exited.contains(proc) {
            return Err(Errno::EBADF);
        }
        if self.live(proc).is_none() {
            self.add_process(proc);
        }
        Ok(())
    }

    /// Whether `proc` holds a handle to `id`.
    #[inline]
    pub fn holds(&self, proc: &str, id: SocketId) -> bool {
        // A handle is only ever held by a live process (exit drops them all).
        self.holders.get(id).is_some_and(|h| {
            h.as_slice()
                .iter()
                .any(|&p| same_name(&self.names[p as usize], proc))
        })
    }

    /// Whether process `p` holds a handle to `id` ([`Processes::holds`] by number).
    #[inline]
    pub fn holds_pid(&self, p: Pid, id: SocketId) -> bool {
        // A handle is only ever held by a live process (exit drops them all).
        self.holders.get(id).is_some_and(|h| h.contains(p.0))
    }

    /// Number of handles to `id`, across all processes.
    pub fn handle_count(&self, id: SocketId) -> u32 {
        self.holders
            .get(id)
            .map_or(0, |h| h.as_slice().len() as u32)
    }

    /// Gives `proc` a new handle to `id` (socket() or accept()).
    /// Errors: EBADF if `proc` is not alive.
    pub fn open(&mut self, proc: &str, id: SocketId) -> Result<(), Errno> {
        let p = self.live(proc).ok_or(Errno::EBADF)?;
        self.add_handle(p, id);
        Ok(())
    }

    /// Gives process `p` a new handle to `id` ([`Processes::open`] by number).
    /// Errors: EBADF if `p` is not alive.
    pub fn open_pid(&mut self, p: Pid, id: SocketId) -> Result<(), Errno> {
        if !self.alive(p) {
            return Err(Errno::EBADF);
        }
        self.add_handle(p.0, id);
        Ok(())
    }

    fn add_handle(&mut self, p: u32, id: SocketId) {
        match self.holders.get_mut(id) {
            Some(h) => {
                h.add(p);
            }
            None => {
                self.holders.insert(id, Holders::One(p));
            }
        }
    }

    /// The sockets `p` holds handles to, in id order.
    fn handles_of(&self, p: u32) -> Vec<SocketId> {
        self.holders
            .iter()
            .filter(|(_, h)| h.contains(p))
            .map(|(id, _)| id)
            .collect()
    }

    /// `fork()`: `child` starts with a copy of every handle of `parent`.
    /// Errors: EBADF if `parent` is not alive, EINVAL if `child` already exists or exited.
    pub fn fork(&mut self, parent: &str, child: &str) -> Result<(), Errno> {
        let p = self.live(parent).ok_or(Errno::EBADF)?;
        if self.live(child).is_some() || self.exited.contains(child) {
            return Err(Errno::EINVAL);
        }
        let c = self.add_process(child);
        for id in self.handles_of(p) {
            self.holders.get_mut(id).expect("held").add(c);
        }
        Ok(())
    }

    /// `close()`: drops `proc`'s handle to `id`. Returns whether it was the last handle
    /// (the socket itself closes). Errors: EBADF if `proc` holds no such handle.
    pub fn close(&mut self, proc: &str, id: SocketId) -> Result<bool, Errno> {
        let p = self.live(proc).ok_or(Errno::EBADF)?;
        self.drop_handle(p, id).ok_or(Errno::EBADF)
    }

    /// `close()` of process `p`'s handle to `id` ([`Processes::close`] by number).
    /// Errors: EBADF if `p` is not alive or holds no such handle.
    pub fn close_pid(&mut self, p: Pid, id: SocketId) -> Result<bool, Errno> {
        if !self.alive(p) {
            return Err(Errno::EBADF);
        }
        self.drop_handle(p.0, id).ok_or(Errno::EBADF)
    }

    /// Drops `p`'s handle to `id`: `None` if it holds none, else whether it was the last.
    fn drop_handle(&mut self, p: u32, id: SocketId) -> Option<bool> {
        let last = match self.holders.get_mut(id)? {
            Holders::One(q) if *q == p => true,
            Holders::One(_) => return None,
            Holders::Many(v) => {
                let i = v.iter().position(|&q| q == p)?;
                v.remove(i);
                v.is_empty()
            }
        };
        if last {
            self.holders.discard(id);
        }
        Some(last)
    }

    /// `exit()`: closes every handle of `proc` and ends it. Returns the sockets whose last
    /// handle this closed, in id order. Errors: EBADF if `proc` is not alive.
    pub fn exit(&mut self, proc: &str) -> Result<Vec<SocketId>, Errno> {
        let p = self.live(proc).ok_or(Errno::EBADF)?;
        self.procs.remove(proc);
        self.ended[p as usize] = true;
        self.exited.insert(proc.to_string());
        Ok(self
            .handles_of(p)
            .into_iter()
            .filter(|&id| self.drop_handle(p, id) == Some(true))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_can_be_shared_between_threads() {
        // Sweeps and users' property tests move and share tables across threads: no
        // interior mutability in the model.
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Processes>();
        send_sync::<crate::table::AddressTable>();
    }

    #[test]
    fn same_name_agrees_with_string_equality() {
        let names: Vec<String> = (0..=20)
            .flat_map(|n| {
                let base: String = (0..n).map(|i| char::from(b'a' + i % 26)).collect();
                // The same length differing at each position, and one byte shorter.
                let mut v = vec![base.clone(), base.chars().skip(1).collect()];
                for i in 0..n as usize {
                    let mut b = base.clone().into_bytes();
                    b[i] = b'Z';
                    v.push(String::from_utf8(b).unwrap());
                }
                v
            })
            .collect();
        for a in &names {
            for b in &names {
                assert_eq!(same_name(a, b), a == b, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn live_scan_agrees_with_the_tree() {
        let mut p = Processes::new();
        let probe = |p: &Processes| {
            for k in 0..2 * SCAN_MAX {
                for name in [format!("w{k}"), format!("x{k}"), "main".to_string()] {
                    assert_eq!(p.live(&name), p.procs.get(&name).copied(), "{name}");
                }
            }
        };
        for k in 0..2 * SCAN_MAX {
            probe(&p);
            p.fork("main", &format!("w{k}")).unwrap();
            if k % 3 == 0 {
                p.exit(&format!("w{k}")).unwrap();
            }
        }
        probe(&p);
    }

    #[test]
    fn last_handle_closes_after_fork() {
        let mut p = Processes::new();
        let a = SocketId(7);
        p.open("main", a).unwrap();
        p.fork("main", "worker").unwrap();
        assert_eq!(p.handle_count(a), 2);
        assert_eq!(p.close("main", a), Ok(false));
        assert_eq!(p.close("main", a), Err(Errno::EBADF));
        assert_eq!(p.exit("worker"), Ok(vec![a]));
        assert_eq!(p.handle_count(a), 0);
        assert!(!p.is_alive("worker"));
    }

    #[test]
    fn started_process_has_no_handles_and_does_not_return_after_exit() {
        let mut p = Processes::new();
        p.open("main", SocketId(1)).unwrap();
        assert!(!p.is_alive("srv2"));
        assert_eq!(p.start("srv2"), Ok(()));
        assert!(p.is_alive("srv2"));
        assert!(!p.holds("srv2", SocketId(1)));
        assert_eq!(p.handle_count(SocketId(1)), 1);
        p.open("srv2", SocketId(2)).unwrap();
        // Starting a live process again changes nothing.
        assert_eq!(p.start("srv2"), Ok(()));
        assert!(p.holds("srv2", SocketId(2)));
        assert_eq!(p.exit("srv2"), Ok(vec![SocketId(2)]));
        assert!(p.has_exited("srv2"));
        assert_eq!(p.start("srv2"), Err(Errno::EBADF));
        assert_eq!(p.fork("main", "srv2"), Err(Errno::EINVAL));
        assert!(!p.is_alive("srv2"));
    }

    #[test]
    fn holds_forgets_a_dropped_handle() {
        let mut p = Processes::new();
        let a = SocketId(3);
        p.open("main", a).unwrap();
        assert!(p.holds("main", a) && p.holds("main", a));
        p.fork("main", "w").unwrap();
        assert!(p.holds("w", a) && p.holds("main", a));
        assert_eq!(p.close("w", a), Ok(false));
        assert!(!p.holds("w", a) && p.holds("main", a));
        assert_eq!(p.close("main", a), Ok(true));
        assert!(!p.holds("main", a));
        p.open("w", a).unwrap();
        assert!(p.holds("w", a));
        assert_eq!(p.exit("w"), Ok(vec![a]));
        assert!(!p.holds("w", a));
    }

    #[test]
    fn many_processes_are_found_by_name() {
        let mut p = Processes::new();
        p.open("main", SocketId(1)).unwrap();
        for k in 0..20 {
            p.fork("main", &format!("w{k}")).unwrap();
        }
        assert_eq!(p.handle_count(SocketId(1)), 21);
        assert!(p.holds("w19", SocketId(1)) && p.is_alive("w7"));
        assert_eq!(p.fork("main", "w3"), Err(Errno::EINVAL));
        for k in 0..20 {
            assert_eq!(p.exit(&format!("w{k}")), Ok(vec![]));
        }
        assert!(!p.is_alive("w7") && p.has_exited("w7"));
        assert_eq!(p.open("w7", SocketId(2)), Err(Errno::EBADF));
        assert_eq!(p.close("main", SocketId(1)), Ok(true));
    }

    #[test]
    fn calls_by_pid_answer_as_calls_by_name() {
        // Two copies driven by the same script, one by name and one by number: every answer
        // and the handles left agree, through forks and exits (past the scan's limit too).
        let mut by_name = Processes::new();
        let mut by_pid = Processes::new();
        let names: Vec<String> = (0..2 * SCAN_MAX).map(|k| format!("w{k}")).collect();
        let mut all = vec!["main".to_string(), "never".to_string()];
        all.extend(names.iter().cloned());
        for (k, child) in names.iter().enumerate() {
            assert_eq!(by_name.fork("main", child), by_pid.fork("main", child));
            for (j, proc) in all.iter().enumerate() {
                let id = SocketId((k * all.len() + j + 1) as u32);
                let pid = by_pid.pid(proc);
                assert_eq!(pid.is_some(), by_name.is_alive(proc), "{proc}");
                let open_pid = pid.map_or(Err(Errno::EBADF), |p| by_pid.open_pid(p, id));
                assert_eq!(by_name.open(proc, id), open_pid, "{proc}");
                let other = SocketId(id.0.saturating_sub(3));
                for s in [id, other] {
                    let held = pid.is_some_and(|p| by_pid.holds_pid(p, s));
                    assert_eq!(by_name.holds(proc, s), held, "{proc} {s:?}");
                }
                if j % 2 == 0 {
                    let close_pid = pid.map_or(Err(Errno::EBADF), |p| by_pid.close_pid(p, other));
                    assert_eq!(by_name.close(proc, other), close_pid, "{proc}");
                }
            }
            if k % 3 == 1 {
                // A pid found before the exit is refused after it.
                let pid = by_pid.pid(child).expect("alive");
                assert_eq!(by_name.exit(child), by_pid.exit(child));
                assert!(!by_pid.is_alive_pid(pid));
                assert_eq!(by_pid.open_pid(pid, SocketId(1)), Err(Errno::EBADF));
                assert_eq!(by_pid.close_pid(pid, SocketId(1)), Err(Errno::EBADF));
                assert!(!by_pid.holds_pid(pid, SocketId(1)));
            }
        }
        for id in (1..200).map(SocketId) {
            assert_eq!(by_name.handle_count(id), by_pid.handle_count(id), "{id:?}");
        }
    }

    #[test]
    fn exit_returns_only_last_handles() {
        let mut p = Processes::new();
        p.open("main", SocketId(1)).unwrap();
        p.open("main", SocketId(2)).unwrap();
        p.fork("main", "child").unwrap();
        p.close("child", SocketId(2)).unwrap();
        assert_eq!(p.exit("main"), Ok(vec![SocketId(2)]));
        assert_eq!(p.fork("main", "x"), Err(Errno::EBADF));
    }
}
