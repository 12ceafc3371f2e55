//! The TIME-WAIT store: every TIME-WAIT record of a table, compact, outside the table's
//! per-socket entries (as Linux keeps an `inet_timewait_sock` apart from the socket it
//! replaces).
//!
//! Cost per record (heap bytes, all included, measured by `twsim bench --model`): an 88-byte
//! slot in a slab of chunks, 4-byte entries in three [`SlotIndex`]es (by 4-tuple, by socket id,
//! and the head of each port's list), and a share of small tables:
//! - **slab**: chunks of 16, 32 … 512 slots, then 744 each (64 KiB), never moved; freed slots are
//!   reused (a free list threaded through the records);
//! - **4-tuple key**: both addresses interned (refcounted, an address with port 0 stands for
//!   the IP with its IPv6 flow label and scope), so the key is two `u32`s and two ports;
//! - **owner**: what the bind rules and `AddressTable::get` read of the closed socket
//!   (options, uid, bound address, how it got its port) — few distinct values, interned too;
//! - **port lists**: the records of one port form a doubly linked list through the slots
//!   (bind conflicts and the ephemeral-port scan walk it); the index maps a port to its head;
//! - **expiry lists**: one list per TIME-WAIT length, sorted by deadline (ties in no
//!   particular order), doubly linked through the slots. A new record or a restart usually
//!   lands at the tail (its deadline is the latest of its length); an out-of-order deadline
//!   (a record that comes back with its original deadline) is placed by walking in from both
//!   ends at once. [`TwStore::due`] sorts what it takes by (deadline, socket id), which is the
//!   order callers see.
//!
//! Times are `u64` microseconds and sequence numbers `u32`, as in [`TimeWaitRecord`]; the
//! `Option` fields are flag bits.

use super::slot_index::{mix, SlotIndex, MAX_SLOT};
use super::SocketId;
use crate::addr::FourTuple;
use crate::seq::{SeqNum, TsVal};
use crate::time::{Duration, Instant};
use crate::time_wait::TimeWaitRecord;
use std::collections::BTreeMap;
use std::net::SocketAddr;

mod owner;
#[cfg(test)]
mod tests;

pub(in crate::table) use owner::Owner;
use owner::{Interner, LOCAL, REMOTE};

/// No slot (end of a list).
const NIL: u32 = u32::MAX;
/// `meta` bit: `ts_recent` holds a TSval.
const HAS_TS: u32 = 1;
/// `meta` bit: `last_ack` holds an instant.
const HAS_LAST_ACK: u32 = 2;
/// `meta` bits above the flags: the record's index in [`TwStore::lengths`].
const LEN_SHIFT: u32 = 2;

/// One record in the slab (88 bytes). `id == 0` marks a free slot (socket ids start at 1).
#[derive(Clone, Copy, Debug)]
struct Rec {
    id: u32,
    /// Interned local and remote addresses (port 0) and the ports.
    lip: u32,
    rip: u32,
    lport: u16,
    rport: u16,
    incarnation: u32,
    snd_nxt: u32,
    rcv_nxt: u32,
    rcv_wnd: u32,
    ts_recent: u32,
    restarts: u32,
    /// Interned [`Owner`].
    owner: u32,
    /// `HAS_TS`, `HAS_LAST_ACK`, and the length index above `LEN_SHIFT`.
    meta: u32,
    port_prev: u32,
    port_next: u32,
    /// Expiry list links; `exp_next` also links the free list.
    exp_prev: u32,
    exp_next: u32,
    /// µs virtual time.
    entered_at: u64,
    expires_at: u64,
    last_ack: u64,
}

const FREE: Rec = Rec {
    id: 0,
    lip: 0,
    rip: 0,
    lport: 0,
    rport: 0,
    incarnation: 0,
    snd_nxt: 0,
    rcv_nxt: 0,
    rcv_wnd: 0,
    ts_recent: 0,
    restarts: 0,
    owner: 0,
    meta: 0,
    port_prev: NIL,
    port_next: NIL,
    exp_prev: NIL,
    exp_next: NIL,
    entered_at: 0,
    expires_at: 0,
    last_ack: 0,
};

impl Rec {
    /// Writes the fields of `record` that segments change (and the rest but the key and the
    /// links), leaving the length index in `meta` as it is.
    fn set(&mut self, record: &TimeWaitRecord) {
        self.incarnation = record.incarnation;
        self.snd_nxt = record.snd_nxt.0;
        self.rcv_nxt = record.rcv_nxt.0;
        self.rcv_wnd = record.rcv_wnd;
        self.entered_at = record.entered_at.micros();
        self.expires_at = record.expires_at().micros();
        self.restarts = record.restarts();
        self.ts_recent = record.ts_recent.map_or(0, |t| t.0);
        let last_ack = record.last_limited_ack_at();
        self.last_ack = last_ack.map_or(0, Instant::micros);
        let flags = if record.ts_recent.is_some() {
            HAS_TS
        } else {
            0
        } | if last_ack.is_some() { HAS_LAST_ACK } else { 0 };
        self.meta = (self.meta & !(HAS_TS | HAS_LAST_ACK)) | flags;
    }
}

/// Up to this many expiry lists, a length's list is found by a scan rather than by
/// `length_ix`.
const LENGTHS_SCANNED: usize = 4;
/// Chunks before they reach full size.
const SMALL_CHUNKS: u32 = 6;
/// Slots in those chunks (16 + 32 + … + 512).
const SMALL_SLOTS: u32 = 1008;
/// Slots in a full-size chunk: 744 × 88 bytes = 65 472, just under 64 KiB, so a chunk fills
/// one allocator size class (mimalloc's classes are four per power of two; a chunk of 1024
/// slots, 90 112 bytes, would be rounded up to 98 304).
const CHUNK: u32 = 744;

/// (chunk, offset) of a slot: chunk k < 6 holds 16·2^k slots, later ones [`CHUNK`].
fn locate(slot: u32) -> (usize, usize) {
    if slot < SMALL_SLOTS {
        let b = slot + 16;
        let k = 31 - b.leading_zeros() - 4;
        (k as usize, (b - (16 << k)) as usize)
    } else {
        let s = slot - SMALL_SLOTS;
        ((SMALL_CHUNKS + s / CHUNK) as usize, (s % CHUNK) as usize)
    }
}

/// The records, in chunks that never move.
#[derive(Clone, Debug)]
struct Slab {
    chunks: Vec<Box<[Rec]>>,
    /// Slots ever handed out.
    used: u32,
    /// First free slot, linked through `exp_next`.
    free: u32,
}

impl Default for Slab {
    fn default() -> Self {
        Slab {
            chunks: Vec::new(),
            used: 0,
            free: NIL,
        }
    }
}

impl Slab {
    fn get(&self, slot: u32) -> &Rec {
        let (c, o) = locate(slot);
        &self.chunks[c][o]
    }

    fn get_mut(&mut self, slot: u32) -> &mut Rec {
        let (c, o) = locate(slot);
        &mut self.chunks[c][o]
    }

    fn alloc(&mut self) -> u32 {
        if self.free != NIL {
            let s = self.free;
            self.free = self.get(s).exp_next;
            return s;
        }
        let s = self.used;
        assert!(s <= MAX_SLOT, "TIME-WAIT store full");
        let (c, _) = locate(s);
        if c == self.chunks.len() {
            let n = if c < SMALL_CHUNKS as usize {
                16 << c
            } else {
                CHUNK as usize
            };
            self.chunks.push(vec![FREE; n].into_boxed_slice());
        }
        self.used += 1;
        s
    }

    fn release(&mut self, slot: u32) {
        *self.get_mut(slot) = Rec {
            exp_next: self.free,
            ..FREE
        };
        self.free = slot;
    }
}

/// One TIME-WAIT length's expiry list.
#[derive(Clone, Copy, Debug)]
struct Lengths {
    length: Duration,
    head: u32,
    tail: u32,
    count: u32,
    /// In `free_lengths` (see [`TwStore::release_length`]).
    queued: bool,
}

/// The store (see the module documentation).
#[derive(Clone, Debug, Default)]
pub(super) struct TwStore {
    slab: Slab,
    len: usize,
    addrs: Interner<SocketAddr>,
    owners: Interner<Owner>,
    by_tuple: SlotIndex,
    by_id: SlotIndex,
    /// Port → the first record of its list.
    port_heads: SlotIndex,
    lengths: Vec<Lengths>,
    length_ix: BTreeMap<Duration, u32>,
    free_lengths: Vec<u32>,
    /// The earliest deadline of any record (the least head of the expiry lists), kept as
    /// heads change so that [`TwStore::earliest`] costs a read.
    earliest: Option<Instant>,
    /// Records inserted, updated or removed so far ([`TwStore::changes`]).
    changes: u64,
}

fn ip_key(a: SocketAddr) -> SocketAddr {
    let mut a = a;
    a.set_port(0);
    a
}

fn tuple_hash(lip: u32, lport: u16, rip: u32, rport: u16) -> u64 {
    mix((u64::from(lip) << 32 | u64::from(rip)) ^ mix(u64::from(lport) << 16 | u64::from(rport)))
}

fn rec_tuple_hash(r: &Rec) -> u64 {
    tuple_hash(r.lip, r.lport, r.rip, r.rport)
}

fn id_hash(id: u32) -> u64 {
    mix(u64::from(id) | 1 << 40)
}

fn port_hash(port: u16) -> u64 {
    mix(u64::from(port) | 2 << 40)
}

impl TwStore {
    /// Records in the store.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// How many times a record was inserted, updated or removed: a list of what is due taken
    /// when it had this value is still the list while it keeps it.
    pub(super) fn changes(&self) -> u64 {
        self.changes
    }

    /// The slot of `id`'s record.
    pub(super) fn slot_of(&self, id: SocketId) -> Option<u32> {
        let slab = &self.slab;
        self.by_id.find(id_hash(id.0), |s| slab.get(s).id == id.0)
    }

    /// The slot of the record of `t`.
    #[inline]
    pub(super) fn slot_of_tuple(&self, t: &FourTuple) -> Option<u32> {
        if self.len == 0 {
            return None;
        }
        self.find_tuple(t)
    }

    /// [`TwStore::slot_of_tuple`] in a store with records.
    #[inline(never)]
    fn find_tuple(&self, t: &FourTuple) -> Option<u32> {
        let lip = self.addrs.get(&ip_key(t.local), LOCAL)?;
        let rip = self.addrs.get(&ip_key(t.remote), REMOTE)?;
        let (lport, rport) = (t.local.port(), t.remote.port());
        let slab = &self.slab;
        self.by_tuple.find(tuple_hash(lip, lport, rip, rport), |s| {
            let r = slab.get(s);
            r.lip == lip && r.rip == rip && r.lport == lport && r.rport == rport
        })
    }

    /// The socket id of a slot's record.
    pub(super) fn id(&self, slot: u32) -> SocketId {
        SocketId(self.slab.get(slot).id)
    }

    /// The local endpoint of a slot's record.
    pub(super) fn local(&self, slot: u32) -> SocketAddr {
        let r = self.slab.get(slot);
        let mut a = self.addrs.value(r.lip);
        a.set_port(r.lport);
        a
    }

    /// The owner of a slot's record.
    pub(super) fn owner(&self, slot: u32) -> Owner {
        self.owners.value(self.slab.get(slot).owner)
    }

    /// Replaces the owner of a slot's record (`setsockopt()` on a socket in TIME-WAIT).
    pub(super) fn set_owner(&mut self, slot: u32, owner: Owner) {
        let new = self.owners.acquire(owner, LOCAL);
        let r = self.slab.get_mut(slot);
        let old = std::mem::replace(&mut r.owner, new);
        self.owners.release(old);
    }

    /// The record in a slot, by value.
    pub(super) fn record(&self, slot: u32) -> TimeWaitRecord {
        let r = self.slab.get(slot);
        let mut local = self.addrs.value(r.lip);
        local.set_port(r.lport);
        let mut remote = self.addrs.value(r.rip);
        remote.set_port(r.rport);
        let length = self.lengths[(r.meta >> LEN_SHIFT) as usize].length;
        let base = TimeWaitRecord::new(
            FourTuple::new(local, remote),
            r.incarnation,
            SeqNum(r.snd_nxt),
            SeqNum(r.rcv_nxt),
            r.rcv_wnd,
            Instant::from_micros(r.entered_at),
            length,
        )
        .with_ts_recent((r.meta & HAS_TS != 0).then_some(TsVal(r.ts_recent)));
        TimeWaitRecord::from_parts(
            base,
            Instant::from_micros(r.expires_at),
            r.restarts,
            (r.meta & HAS_LAST_ACK != 0).then_some(Instant::from_micros(r.last_ack)),
        )
    }

    /// Slots of the records on local port `port`, in no particular order.
    pub(super) fn on_port(&self, port: u16) -> impl Iterator<Item = u32> + '_ {
        let slab = &self.slab;
        let head = self
            .port_heads
            .find(port_hash(port), |s| slab.get(s).lport == port)
            .unwrap_or(NIL);
        std::iter::successors((head != NIL).then_some(head), move |&s| {
            let n = slab.get(s).port_next;
            (n != NIL).then_some(n)
        })
    }

    /// Adds `id`'s record (the caller checked that neither `id` nor the 4-tuple is present).
    pub(super) fn insert(&mut self, id: SocketId, record: &TimeWaitRecord, owner: Owner) {
        let slot = self.slab.alloc();
        let (local, remote) = (record.tuple.local, record.tuple.remote);
        let lip = self.addrs.acquire(ip_key(local), LOCAL);
        let rip = self.addrs.acquire(ip_key(remote), REMOTE);
        let owner = self.owners.acquire(owner, LOCAL);
        let length = self.length_index(record.length);
        let (lport, rport) = (local.port(), remote.port());
        let mut r = Rec {
            id: id.0,
            lip,
            rip,
            lport,
            rport,
            owner,
            meta: length << LEN_SHIFT,
            ..FREE
        };
        r.set(record);
        let expires_at = r.expires_at;
        *self.slab.get_mut(slot) = r;
        let slab = &self.slab;
        self.by_tuple
            .insert(tuple_hash(lip, lport, rip, rport), slot, &|s| {
                rec_tuple_hash(slab.get(s))
            });
        self.by_id
            .insert(id_hash(id.0), slot, &|s| id_hash(slab.get(s).id));
        self.link_port(slot, lport);
        self.link_expiry(slot, length as usize, expires_at);
        self.len += 1;
        self.changes += 1;
    }

    /// Stores `record` (the same 4-tuple and length) back into its slot after a segment, moving
    /// it in its expiry list if its deadline changed.
    pub(super) fn update(&mut self, slot: u32, record: &TimeWaitRecord) {
        self.changes += 1;
        let rec = self.slab.get_mut(slot);
        let before = rec.expires_at;
        rec.set(record);
        let r = *rec;
        if r.expires_at != before {
            self.unlink_expiry(&r);
            self.link_expiry(slot, (r.meta >> LEN_SHIFT) as usize, r.expires_at);
        }
    }

    /// Removes a slot's record; returns its socket id and whether its owner got the port from
    /// `connect()` ([`Owner`]'s `port_by_connect`).
    pub(super) fn remove(&mut self, slot: u32) -> (SocketId, bool) {
        let slab = &self.slab;
        let r = *slab.get(slot);
        let port_by_connect = self.owners.value(r.owner).port_by_connect;
        self.by_tuple
            .remove(rec_tuple_hash(&r), slot, &|s| rec_tuple_hash(slab.get(s)));
        self.by_id
            .remove(id_hash(r.id), slot, &|s| id_hash(slab.get(s).id));
        self.unlink_port(slot, &r);
        self.unlink_expiry(&r);
        self.release_length(r.meta >> LEN_SHIFT);
        self.addrs.release(r.lip);
        self.addrs.release(r.rip);
        self.owners.release(r.owner);
        self.slab.release(slot);
        self.len -= 1;
        self.changes += 1;
        (SocketId(r.id), port_by_connect)
    }

    /// Puts a slot at the head of the list of its local port `port`.
    fn link_port(&mut self, slot: u32, port: u16) {
        let slab = &self.slab;
        let h = port_hash(port);
        match self.port_heads.find(h, |s| slab.get(s).lport == port) {
            Some(head) => {
                self.port_heads.replace(h, head, slot);
                self.slab.get_mut(head).port_prev = slot;
                self.slab.get_mut(slot).port_next = head;
            }
            None => self
                .port_heads
                .insert(h, slot, &|s| port_hash(slab.get(s).lport)),
        }
    }

    /// Takes a slot, whose record is `r`, out of its port's list.
    fn unlink_port(&mut self, slot: u32, r: &Rec) {
        let Rec {
            port_prev,
            port_next,
            lport,
            ..
        } = *r;
        if port_next != NIL {
            self.slab.get_mut(port_next).port_prev = port_prev;
        }
        if port_prev != NIL {
            self.slab.get_mut(port_prev).port_next = port_next;
        } else if port_next != NIL {
            self.port_heads.replace(port_hash(lport), slot, port_next);
        } else {
            let slab = &self.slab;
            self.port_heads
                .remove(port_hash(lport), slot, &|s| port_hash(slab.get(s).lport));
        }
    }

    fn length_index(&mut self, length: Duration) -> u32 {
        // Every list is indexed under its length, so with few lists a scan finds the same one.
        let found = if self.lengths.len() <= LENGTHS_SCANNED {
            (0u32..)
                .zip(&self.lengths)
                .find_map(|(i, l)| (l.length == length).then_some(i))
        } else {
            self.length_ix.get(&length).copied()
        };
        if let Some(i) = found {
            // Possibly an emptied list kept for reuse (it stays queued; see `release_length`).
            return i;
        }
        let l = Lengths {
            length,
            head: NIL,
            tail: NIL,
            count: 0,
            queued: false,
        };
        let mut reuse = None;
        while let Some(i) = self.free_lengths.pop() {
            let old = &mut self.lengths[i as usize];
            old.queued = false;
            if old.count == 0 {
                // An empty list nobody took back: its length leaves the index now.
                let gone = old.length;
                self.length_ix.remove(&gone);
                reuse = Some(i);
                break;
            }
        }
        let i = match reuse {
            Some(i) => {
                self.lengths[i as usize] = l;
                i
            }
            None => {
                self.lengths.push(l);
                (self.lengths.len() - 1) as u32
            }
        };
        assert!(i < 1 << (32 - LEN_SHIFT), "too many TIME-WAIT lengths");
        self.length_ix.insert(length, i);
        i
    }

    /// An emptied list stays indexed under its length, queued for reuse, until another length
    /// needs its place: a length whose last record expires before the next one enters (one
    /// connection at a time) costs no index change. Lists stay at most as many as lengths in
    /// use at once, and each is queued once.
    fn release_length(&mut self, i: u32) {
        let l = &mut self.lengths[i as usize];
        if l.count == 0 && !l.queued {
            l.queued = true;
            self.free_lengths.push(i);
        }
    }

    /// Links a slot into its length's expiry list, after every record with a deadline at or
    /// before its own: walked in from the tail and from the head in turn, so placing costs the
    /// distance to the nearer end (one step for a new record or a restart).
    /// `li` is the slot's length index, `e` its deadline.
    fn link_expiry(&mut self, slot: u32, li: usize, e: u64) {
        let (mut back, mut front) = (self.lengths[li].tail, self.lengths[li].head);
        // Insert after `after` (NIL: at the head).
        let after = loop {
            if back == NIL || self.slab.get(back).expires_at <= e {
                break back;
            }
            if front == NIL || self.slab.get(front).expires_at > e {
                break if front == NIL {
                    self.lengths[li].tail
                } else {
                    self.slab.get(front).exp_prev
                };
            }
            back = self.slab.get(back).exp_prev;
            front = self.slab.get(front).exp_next;
        };
        let next = if after == NIL {
            self.lengths[li].head
        } else {
            self.slab.get(after).exp_next
        };
        {
            let me = self.slab.get_mut(slot);
            me.exp_prev = after;
            me.exp_next = next;
        }
        if after == NIL {
            self.lengths[li].head = slot;
            self.earliest = Some(
                self.earliest
                    .map_or(Instant::from_micros(e), |x| x.min(Instant::from_micros(e))),
            );
        } else {
            self.slab.get_mut(after).exp_next = slot;
        }
        if next == NIL {
            self.lengths[li].tail = slot;
        } else {
            self.slab.get_mut(next).exp_prev = slot;
        }
        self.lengths[li].count += 1;
    }

    /// Takes the slot whose record is `r` out of its expiry list.
    fn unlink_expiry(&mut self, r: &Rec) {
        let li = (r.meta >> LEN_SHIFT) as usize;
        if r.exp_prev == NIL {
            self.lengths[li].head = r.exp_next;
            self.earliest = self.first_deadline();
        } else {
            self.slab.get_mut(r.exp_prev).exp_next = r.exp_next;
        }
        if r.exp_next == NIL {
            self.lengths[li].tail = r.exp_prev;
        } else {
            self.slab.get_mut(r.exp_next).exp_prev = r.exp_prev;
        }
        self.lengths[li].count -= 1;
    }

    /// The earliest deadline of any record.
    pub(super) fn earliest(&self) -> Option<Instant> {
        self.earliest
    }

    /// The least deadline at the head of an expiry list.
    fn first_deadline(&self) -> Option<Instant> {
        self.lengths
            .iter()
            .filter(|l| l.head != NIL)
            .map(|l| self.slab.get(l.head).expires_at)
            .min()
            .map(Instant::from_micros)
    }

    /// The records whose deadline is at or before `now`: (deadline, socket id, slot), earliest
    /// first, ties by socket id.
    #[cfg(test)]
    pub(super) fn due(&self, now: Instant) -> Vec<(Instant, SocketId, u32)> {
        let mut out = Vec::new();
        self.due_into(now, &mut out);
        out
    }

    /// The slot of the one record whose deadline is at or before `now`, if exactly one is
    /// (the usual expiry, without a list to sort).
    pub(super) fn sole_due(&self, now: Instant) -> Option<u32> {
        let now = now.micros();
        let mut found = None;
        for l in &self.lengths {
            if l.head == NIL {
                continue;
            }
            let r = self.slab.get(l.head);
            if r.expires_at > now {
                continue;
            }
            if found.is_some() || (r.exp_next != NIL && self.slab.get(r.exp_next).expires_at <= now)
            {
                return None;
            }
            found = Some(l.head);
        }
        found
    }

    /// [`TwStore::due`] into `out` (cleared first), so that a caller can keep one list.
    pub(super) fn due_into(&self, now: Instant, out: &mut Vec<(Instant, SocketId, u32)>) {
        out.clear();
        for l in &self.lengths {
            let mut s = l.head;
            while s != NIL {
                let r = self.slab.get(s);
                if r.expires_at > now.micros() {
                    break;
                }
                out.push((Instant::from_micros(r.expires_at), SocketId(r.id), s));
                s = r.exp_next;
            }
        }
        out.sort_unstable();
    }

    /// Every record's socket id and slot, by socket id.
    pub(super) fn by_socket_id(&self) -> Vec<(SocketId, u32)> {
        let mut out: Vec<(SocketId, u32)> = (0..self.slab.used)
            .filter(|&s| self.slab.get(s).id != 0)
            .map(|s| (SocketId(self.slab.get(s).id), s))
            .collect();
        out.sort_unstable();
        out
    }
}
