//! Processes and the socket handles they own.
//!
//! A socket is referenced by handles held by processes; `fork` copies every handle of the
//! parent into the child, `exit` closes all handles of a process, and a socket is closed
//! (FIN or RST) only when its last handle closes — POSIX `close(2)` on a shared open file
//! description. The Gay fork-server and KB Q177074 stories depend on this. A process that was
//! never seen before can also be started afresh ([`Processes::start`]: a newly executed
//! program, holding no handles); a process that exited stays ended.

use crate::errno::Errno;
use crate::table::SocketId;
use std::collections::{BTreeMap, BTreeSet};

/// The processes of one host and their handles.
#[derive(Clone, Debug, Default)]
pub struct Processes {
    procs: BTreeMap<String, BTreeSet<SocketId>>,
    refs: BTreeMap<SocketId, u32>,
    /// Processes that exited (their names are never reused).
    exited: BTreeSet<String>,
}

impl Processes {
    /// A host whose only process is `main`.
    pub fn new() -> Self {
        let mut p = Processes::default();
        p.procs.insert("main".to_string(), BTreeSet::new());
        p
    }

    /// Whether `proc` is alive.
    pub fn is_alive(&self, proc: &str) -> bool {
        self.procs.contains_key(proc)
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
        if !self.procs.contains_key(proc) {
            self.procs.insert(proc.to_string(), BTreeSet::new());
        }
        Ok(())
    }

    /// Whether `proc` holds a handle to `id`.
    pub fn holds(&self, proc: &str, id: SocketId) -> bool {
        self.procs.get(proc).is_some_and(|h| h.contains(&id))
    }

    /// Number of handles to `id`, across all processes.
    pub fn handle_count(&self, id: SocketId) -> u32 {
        self.refs.get(&id).copied().unwrap_or(0)
    }

    /// Gives `proc` a new handle to `id` (socket() or accept()).
    /// Errors: EBADF if `proc` is not alive.
    pub fn open(&mut self, proc: &str, id: SocketId) -> Result<(), Errno> {
        let handles = self.procs.get_mut(proc).ok_or(Errno::EBADF)?;
        if handles.insert(id) {
            *self.refs.entry(id).or_insert(0) += 1;
        }
        Ok(())
    }

    /// `fork()`: `child` starts with a copy of every handle of `parent`.
    /// Errors: EBADF if `parent` is not alive, EINVAL if `child` already exists or exited.
    pub fn fork(&mut self, parent: &str, child: &str) -> Result<(), Errno> {
        let handles = self.procs.get(parent).ok_or(Errno::EBADF)?.clone();
        if self.procs.contains_key(child) || self.exited.contains(child) {
            return Err(Errno::EINVAL);
        }
        for id in &handles {
            *self.refs.entry(*id).or_insert(0) += 1;
        }
        self.procs.insert(child.to_string(), handles);
        Ok(())
    }

    /// `close()`: drops `proc`'s handle to `id`. Returns whether it was the last handle
    /// (the socket itself closes). Errors: EBADF if `proc` holds no such handle.
    pub fn close(&mut self, proc: &str, id: SocketId) -> Result<bool, Errno> {
        let handles = self.procs.get_mut(proc).ok_or(Errno::EBADF)?;
        if !handles.remove(&id) {
            return Err(Errno::EBADF);
        }
        Ok(self.unref(id))
    }

    /// `exit()`: closes every handle of `proc` and ends it. Returns the sockets whose last
    /// handle this closed, in id order. Errors: EBADF if `proc` is not alive.
    pub fn exit(&mut self, proc: &str) -> Result<Vec<SocketId>, Errno> {
        let handles = self.procs.remove(proc).ok_or(Errno::EBADF)?;
        self.exited.insert(proc.to_string());
        Ok(handles.into_iter().filter(|id| self.unref(*id)).collect())
    }

    fn unref(&mut self, id: SocketId) -> bool {
        match self.refs.get_mut(&id) {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            _ => {
                self.refs.remove(&id);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
