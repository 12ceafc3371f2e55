//! What a TIME-WAIT record keeps of its socket ([`Owner`]), and the interning that stores each
//! distinct owner and address once ([`Interner`]).

use crate::fixed_hash::FixedMap;
use crate::table::{Entry, SockOptions, SocketId, TableState};
use crate::time_wait::TimeWaitRecord;
use std::collections::hash_map::Entry as Slot;
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
/// looked up).
#[derive(Clone, Debug)]
pub(super) struct Interner<T> {
    values: Vec<(T, u32)>,
    index: FixedMap<T, u32>,
    free: Vec<u32>,
}

impl<T> Default for Interner<T> {
    fn default() -> Self {
        Interner {
            values: Vec::new(),
            index: FixedMap::default(),
            free: Vec::new(),
        }
    }
}

impl<T: Hash + Eq + Copy> Interner<T> {
    pub(super) fn get(&self, v: &T) -> Option<u32> {
        self.index.get(v).copied()
    }

    pub(super) fn value(&self, i: u32) -> T {
        self.values[i as usize].0
    }

    pub(super) fn acquire(&mut self, v: T) -> u32 {
        match self.index.entry(v) {
            Slot::Occupied(o) => {
                let i = *o.get();
                self.values[i as usize].1 += 1;
                i
            }
            Slot::Vacant(slot) => {
                let i = match self.free.pop() {
                    Some(i) => {
                        self.values[i as usize] = (v, 1);
                        i
                    }
                    None => {
                        self.values.push((v, 1));
                        (self.values.len() - 1) as u32
                    }
                };
                slot.insert(i);
                i
            }
        }
    }

    pub(super) fn release(&mut self, i: u32) {
        let (v, n) = &mut self.values[i as usize];
        *n -= 1;
        if *n == 0 {
            self.index.remove(v);
            self.free.push(i);
        }
    }
}
