//! What a TIME-WAIT record keeps of its socket ([`Owner`]), and the interning that stores each
//! distinct owner and address once ([`Interner`]).

use crate::fixed_hash::FixedMap;
use crate::table::{Entry, SockOptions, SocketId, TableState};
use crate::time_wait::TimeWaitRecord;
use std::hash::Hash;
use std::net::SocketAddr;

/// What a TIME-WAIT record keeps of the socket it replaces: what the bind rules read (Linux
/// `inet_twsk_alloc` copies `tw_reuse`, `tw_reuseport`, `tw_ipv6only`) and the rest of its
/// [`Entry`]. The bound address is kept with port 0 when its port is the local one (always,
/// but for an accepted connection whose listener had another port), so that the sockets of
/// one listener or one client share an owner whatever their ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(in crate::table) struct Owner {
    reuseaddr: bool,
    reuseport: bool,
    v6only: bool,
    linger_secs: Option<u32>,
    exclusiveaddruse: bool,
    pub(in crate::table) uid: u32,
    pub(in crate::table) port_by_connect: bool,
    port_locked: bool,
    bound_addr: Option<SocketAddr>,
    /// `bound_addr`'s port is the local port (and is stored as 0).
    bound_port_local: bool,
    accepted_from: Option<SocketId>,
    connected_before: bool,
}

impl Owner {
    /// The owner part of `e`, with `opts` as its options.
    pub(in crate::table) fn of(e: &Entry, opts: SockOptions) -> Owner {
        let port = e.local.map(|l| l.port());
        let bound_port_local = e.bound_addr.map(|b| b.port()) == port && port.is_some();
        let bound_addr = e.bound_addr.map(|mut b| {
            if bound_port_local {
                b.set_port(0);
            }
            b
        });
        Owner {
            reuseaddr: opts.reuseaddr,
            reuseport: opts.reuseport,
            v6only: opts.v6only,
            linger_secs: opts.linger_secs,
            exclusiveaddruse: opts.exclusiveaddruse,
            uid: e.uid,
            port_by_connect: e.port_by_connect,
            port_locked: e.port_locked,
            bound_addr,
            bound_port_local,
            accepted_from: e.accepted_from,
            connected_before: e.connected_before,
        }
    }

    /// The same owner with options `opts`.
    pub(in crate::table) fn with_opts(self, opts: SockOptions) -> Owner {
        Owner {
            reuseaddr: opts.reuseaddr,
            reuseport: opts.reuseport,
            v6only: opts.v6only,
            linger_secs: opts.linger_secs,
            exclusiveaddruse: opts.exclusiveaddruse,
            ..self
        }
    }

    /// Whether the socket was an accepted connection.
    pub(in crate::table) fn accepted(&self) -> bool {
        self.accepted_from.is_some()
    }

    /// The bound address of the socket whose local port is `port`.
    pub(in crate::table) fn bound_addr(&self, port: u16) -> Option<SocketAddr> {
        self.bound_addr.map(|mut b| {
            if self.bound_port_local {
                b.set_port(port);
            }
            b
        })
    }

    /// The socket options.
    pub(in crate::table) fn opts(&self) -> SockOptions {
        SockOptions {
            reuseaddr: self.reuseaddr,
            reuseport: self.reuseport,
            v6only: self.v6only,
            linger_secs: self.linger_secs,
            exclusiveaddruse: self.exclusiveaddruse,
        }
    }

    /// The table entry of a socket with this owner in TIME-WAIT with `record`.
    pub(in crate::table) fn entry(&self, record: TimeWaitRecord) -> Entry {
        Entry {
            local: Some(record.tuple.local),
            opts: self.opts(),
            uid: self.uid,
            port_by_connect: self.port_by_connect,
            port_locked: self.port_locked,
            bound_addr: self.bound_addr(record.tuple.local.port()),
            accepted_from: self.accepted_from,
            connected_before: self.connected_before,
            state: TableState::TimeWait(Box::new(record)),
        }
    }
}

/// Values shared by many records, stored once with a count of their users (the index is only
/// looked up). A value whose count falls to zero stays indexed, its place queued for reuse,
/// until a new value needs the place: a value released and taken again (one connection at a
/// time) costs no index change. Places stay at most as many as values in use at once.
#[derive(Clone, Debug)]
pub(super) struct Interner<T> {
    values: Vec<Interned<T>>,
    index: FixedMap<T, u32>,
    /// Places whose count fell to zero (each queued once; one taken back since is skipped).
    free: Vec<u32>,
    /// The place acquired last in each of two lanes (a record's local and remote address; an
    /// owner uses [`LOCAL`]), tried before the index, the caller's lane first: a place always
    /// holds the value indexed to it, so a place whose value is equal is the value's place.
    recent: [u32; 2],
}

/// The lane of [`Interner::get`] and [`Interner::acquire`] for a record's local address, and
/// for owners.
pub(super) const LOCAL: usize = 0;
/// The lane for a record's remote address.
pub(super) const REMOTE: usize = 1;

#[derive(Clone, Copy, Debug)]
struct Interned<T> {
    value: T,
    users: u32,
    queued: bool,
}

impl<T> Default for Interner<T> {
    fn default() -> Self {
        Interner {
            values: Vec::new(),
            index: FixedMap::default(),
            free: Vec::new(),
            recent: [0; 2],
        }
    }
}

impl<T: Hash + Eq + Copy> Interner<T> {
    /// `v`'s place, looked for first among the places acquired last, in `lane` ([`LOCAL`] or [`REMOTE`]) first.
    #[inline]
    pub(super) fn get(&self, v: &T, lane: usize) -> Option<u32> {
        // May name a place with no users: no record refers to it, so lookups through it find
        // nothing.
        let (mine, other) = (self.recent[lane], self.recent[lane ^ 1]);
        if self.holds(mine, v) {
            return Some(mine);
        }
        if self.holds(other, v) {
            return Some(other);
        }
        self.index.get(v).copied()
    }

    /// Whether place `i` exists and holds `v`.
    #[inline]
    fn holds(&self, i: u32, v: &T) -> bool {
        self.values.get(i as usize).is_some_and(|e| e.value == *v)
    }

    pub(super) fn value(&self, i: u32) -> T {
        self.values[i as usize].value
    }

    /// One more user of `v`; returns its place, which becomes `lane`'s last.
    #[inline(never)]
    pub(super) fn acquire(&mut self, v: T, lane: usize) -> u32 {
        let i = match self.get(&v, lane) {
            Some(i) => {
                self.values[i as usize].users += 1;
                i
            }
            None => self.add(v),
        };
        self.recent[lane] = i;
        i
    }

    /// A place for `v`, not interned yet, with one user.
    fn add(&mut self, v: T) -> u32 {
        let mut reuse = None;
        while let Some(i) = self.free.pop() {
            let old = &mut self.values[i as usize];
            old.queued = false;
            if old.users == 0 {
                let gone = old.value;
                self.index.remove(&gone);
                reuse = Some(i);
                break;
            }
        }
        let fresh = Interned {
            value: v,
            users: 1,
            queued: false,
        };
        let i = match reuse {
            Some(i) => {
                self.values[i as usize] = fresh;
                i
            }
            None => {
                self.values.push(fresh);
                (self.values.len() - 1) as u32
            }
        };
        self.index.insert(v, i);
        i
    }

    pub(super) fn release(&mut self, i: u32) {
        let e = &mut self.values[i as usize];
        e.users -= 1;
        if e.users == 0 && !e.queued {
            e.queued = true;
            self.free.push(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_values_stay_until_their_place_is_needed() {
        let mut i: Interner<u32> = Interner::default();
        let a = i.acquire(10, LOCAL);
        i.release(a);
        // Taken back: the same place, no new one.
        assert_eq!(i.get(&10, LOCAL), Some(a));
        assert_eq!(i.acquire(10, LOCAL), a);
        assert_eq!(i.values.len(), 1);
        i.release(a);
        // A new value takes the idle place; the old value is gone.
        let b = i.acquire(20, LOCAL);
        assert_eq!(b, a);
        assert_eq!(i.get(&10, LOCAL), None);
        assert_eq!(i.value(b), 20);
        // Released, taken back, released again: queued once.
        i.release(b);
        assert_eq!(i.acquire(20, LOCAL), b);
        i.release(b);
        assert_eq!(i.free, vec![b]);
        let c = i.acquire(30, LOCAL);
        let d = i.acquire(40, LOCAL);
        assert_eq!((c, d), (b, 1));
        assert_eq!(i.get(&20, LOCAL), None);
        assert_eq!((i.value(c), i.value(d)), (30, 40));
    }
}
