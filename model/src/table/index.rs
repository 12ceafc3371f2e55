//! Indexes that keep the automatic-port search of `connect()` cheap per probed port, however
//! many connections and TIME-WAIT records the table holds: which local ports each destination
//! already uses ([`TupleIndex`]), and which ports hold an explicitly bound entry
//! ([`PortCounts`]). Both answer "is this port taken?" with one lookup: a bit test, or a binary
//! search while a destination's ports are a short sorted list.

use crate::addr::FourTuple;
use crate::fixed_hash::FixedMap;
use crate::table::SocketId;
use std::collections::hash_map::Entry as Slot;
use std::collections::BTreeSet;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};

/// The sockets holding one port (or listening on it), in id order: up to [`INLINE`] ids kept
/// in place (no allocation: most ports have one holder), then a sorted list, then, past
/// [`SORTED_MAX`], a B-tree (so a port with thousands of holders still costs O(log n) a
/// change).
#[derive(Debug, Clone)]
pub(super) enum IdSet {
    Inline(u8, [SocketId; INLINE]),
    Sorted(Vec<SocketId>),
    Tree(BTreeSet<SocketId>),
}

/// Ids an [`IdSet`] keeps in place.
const INLINE: usize = 3;
/// Ids an [`IdSet`] keeps in a sorted list before it becomes a B-tree.
const SORTED_MAX: usize = 256;

impl Default for IdSet {
    fn default() -> Self {
        IdSet::Inline(0, [SocketId(0); INLINE])
    }
}

impl IdSet {
    fn as_slice(&self) -> Option<&[SocketId]> {
        match self {
            IdSet::Inline(n, a) => Some(&a[..usize::from(*n)]),
            IdSet::Sorted(v) => Some(v),
            IdSet::Tree(_) => None,
        }
    }

    /// Adds `id`; returns whether it was absent.
    #[inline]
    pub(super) fn insert(&mut self, id: SocketId) -> bool {
        if let IdSet::Inline(n, a) = self {
            let len = usize::from(*n);
            if len < INLINE {
                let Err(i) = a[..len].binary_search(&id) else {
                    return false;
                };
                a.copy_within(i..len, i + 1);
                a[i] = id;
                *n += 1;
                return true;
            }
        }
        self.insert_spilled(id)
    }

    /// [`IdSet::insert`] past the ids kept in place.
    #[inline(never)]
    fn insert_spilled(&mut self, id: SocketId) -> bool {
        match self {
            IdSet::Inline(n, a) => {
                let len = usize::from(*n);
                // Full: the ids move to a list.
                let Err(i) = a[..len].binary_search(&id) else {
                    return false;
                };
                let mut v = Vec::with_capacity(2 * INLINE);
                v.extend_from_slice(&a[..i]);
                v.push(id);
                v.extend_from_slice(&a[i..len]);
                *self = IdSet::Sorted(v);
                true
            }
            IdSet::Sorted(v) => {
                let Err(i) = v.binary_search(&id) else {
                    return false;
                };
                if v.len() < SORTED_MAX {
                    v.insert(i, id);
                } else {
                    let mut t: BTreeSet<SocketId> = v.iter().copied().collect();
                    t.insert(id);
                    *self = IdSet::Tree(t);
                }
                true
            }
            IdSet::Tree(t) => t.insert(id),
        }
    }

    /// Removes `id`; returns whether it was present.
    #[inline]
    pub(super) fn remove(&mut self, id: SocketId) -> bool {
        let IdSet::Inline(n, a) = self else {
            return self.remove_spilled(id);
        };
        let len = usize::from(*n);
        let Ok(i) = a[..len].binary_search(&id) else {
            return false;
        };
        a.copy_within(i + 1..len, i);
        *n -= 1;
        true
    }

    /// [`IdSet::remove`] from a list or a tree.
    #[inline(never)]
    fn remove_spilled(&mut self, id: SocketId) -> bool {
        match self {
            IdSet::Inline(..) => unreachable!("ids kept in place are removed inline"),
            IdSet::Sorted(v) => match v.binary_search(&id) {
                Ok(i) => {
                    v.remove(i);
                    true
                }
                Err(_) => false,
            },
            IdSet::Tree(t) => t.remove(&id),
        }
    }

    /// The one id, if the set holds exactly one.
    #[inline]
    pub(super) fn only(&self) -> Option<SocketId> {
        match self {
            IdSet::Inline(1, a) => Some(a[0]),
            IdSet::Inline(..) => None,
            s => s.only_spilled(),
        }
    }

    /// [`IdSet::only`] of a list or a tree.
    #[inline(never)]
    fn only_spilled(&self) -> Option<SocketId> {
        let mut ids = self.iter();
        match (ids.next(), ids.next()) {
            (Some(id), None) => Some(*id),
            _ => None,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        match self {
            IdSet::Tree(t) => t.is_empty(),
            s => s.as_slice().is_some_and(<[SocketId]>::is_empty),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        match self {
            IdSet::Tree(t) => t.len(),
            s => s.as_slice().map_or(0, <[SocketId]>::len),
        }
    }

    /// The ids, ascending.
    pub(super) fn iter(&self) -> IdIter<'_> {
        match self {
            IdSet::Tree(t) => IdIter::Tree(t.iter()),
            s => IdIter::Slice(s.as_slice().unwrap_or(&[]).iter()),
        }
    }
}

/// The ids of an [`IdSet`], ascending.
pub(super) enum IdIter<'a> {
    Slice(std::slice::Iter<'a, SocketId>),
    Tree(std::collections::btree_set::Iter<'a, SocketId>),
}

impl<'a> Iterator for IdIter<'a> {
    type Item = &'a SocketId;

    fn next(&mut self) -> Option<&'a SocketId> {
        match self {
            IdIter::Slice(i) => i.next(),
            IdIter::Tree(i) => i.next(),
        }
    }
}

impl<'a> IntoIterator for &'a IdSet {
    type Item = &'a SocketId;
    type IntoIter = IdIter<'a>;

    fn into_iter(self) -> IdIter<'a> {
        self.iter()
    }
}

/// A set of ports: one port in place (a destination seen from a server: each client endpoint
/// uses one local port), a sorted list (2 bytes a port) while it is smaller than a 65 536-bit
/// map (8 KiB), then the map. A destination with a few hundred ports costs a few hundred bytes,
/// not 8 KiB.
#[derive(Debug, Clone)]
enum PortSet {
    One(u16),
    Few(Vec<u16>),
    Many(Box<[u64; 1024]>),
}

/// Ports a sorted list holds before it becomes a bit map (the size of the map).
const FEW: usize = 4096;

impl PortSet {
    fn contains(&self, port: u16) -> bool {
        match self {
            PortSet::One(p) => *p == port,
            PortSet::Few(v) => v.binary_search(&port).is_ok(),
            PortSet::Many(b) => b[usize::from(port >> 6)] & (1 << (port & 63)) != 0,
        }
    }

    /// Ports `64 w .. 64 w + 63` as bits (bit k: port `64 w + k`).
    fn word(&self, w: usize) -> u64 {
        match self {
            PortSet::One(p) if usize::from(p >> 6) == w => 1 << (p & 63),
            PortSet::One(_) => 0,
            PortSet::Few(v) => {
                let first = (w as u32 * 64) as u16;
                let from = v.partition_point(|&p| p < first);
                v[from..]
                    .iter()
                    .take_while(|&&p| usize::from(p >> 6) == w)
                    .fold(0, |bits, &p| bits | 1 << (p & 63))
            }
            PortSet::Many(b) => b[w],
        }
    }

    fn insert(&mut self, port: u16) {
        match self {
            PortSet::One(p) if *p == port => {}
            PortSet::One(p) => {
                let (a, b) = (port.min(*p), port.max(*p));
                *self = PortSet::Few(vec![a, b]);
            }
            PortSet::Few(v) if v.len() < FEW => {
                if let Err(i) = v.binary_search(&port) {
                    v.insert(i, port);
                }
            }
            PortSet::Few(v) => {
                let mut b = Box::new([0u64; 1024]);
                for &p in v.iter().chain([&port]) {
                    b[usize::from(p >> 6)] |= 1 << (p & 63);
                }
                *self = PortSet::Many(b);
            }
            PortSet::Many(b) => b[usize::from(port >> 6)] |= 1 << (port & 63),
        }
    }

    fn remove(&mut self, port: u16) {
        match self {
            PortSet::One(p) if *p == port => *self = PortSet::Few(Vec::new()),
            PortSet::One(_) => {}
            PortSet::Few(v) => {
                if let Ok(i) = v.binary_search(&port) {
                    v.remove(i);
                }
            }
            PortSet::Many(b) => b[usize::from(port >> 6)] &= !(1 << (port & 63)),
        }
    }
}

/// A key that is usually all IPv4 (a 4-tuple, a destination): such keys are packed into one
/// `u128`, so the map compares and moves 16 bytes instead of the whole endpoints.
pub(super) trait PackV4 {
    /// The key packed, if every address in it is IPv4 (distinct keys pack distinctly).
    fn pack_v4(&self) -> Option<u128>;
}

impl PackV4 for FourTuple {
    fn pack_v4(&self) -> Option<u128> {
        match (&self.local, &self.remote) {
            (SocketAddr::V4(l), SocketAddr::V4(r)) => Some(
                u128::from(l.port())
                    | u128::from(r.port()) << 16
                    | u128::from(u32::from(*r.ip())) << 32
                    | u128::from(u32::from(*l.ip())) << 64,
            ),
            _ => None,
        }
    }
}

impl PackV4 for (IpAddr, SocketAddr) {
    fn pack_v4(&self) -> Option<u128> {
        match self {
            (IpAddr::V4(l), SocketAddr::V4(r)) => Some(
                u128::from(u32::from(*l))
                    | u128::from(u32::from(*r.ip())) << 32
                    | u128::from(r.port()) << 64,
            ),
            _ => None,
        }
    }
}

impl PackV4 for (IpAddr, u16) {
    fn pack_v4(&self) -> Option<u128> {
        match self {
            (IpAddr::V4(ip), port) => Some(u128::from(u32::from(*ip)) | u128::from(*port) << 32),
            _ => None,
        }
    }
}

/// A lookup-only map whose all-IPv4 keys are packed ([`PackV4`]); other keys are kept whole.
#[derive(Debug, Clone)]
pub(super) struct PackedMap<K, V> {
    v4: FixedMap<u128, V>,
    other: FixedMap<K, V>,
}

impl<K, V> Default for PackedMap<K, V> {
    fn default() -> Self {
        PackedMap {
            v4: FixedMap::default(),
            other: FixedMap::default(),
        }
    }
}

impl<K: PackV4 + Hash + Eq, V> PackedMap<K, V> {
    pub(super) fn get(&self, k: &K) -> Option<&V> {
        match k.pack_v4() {
            Some(p) => self.v4.get(&p),
            None => self.other_get(k),
        }
    }

    pub(super) fn insert(&mut self, k: K, v: V) -> Option<V> {
        match k.pack_v4() {
            Some(p) => self.v4.insert(p, v),
            None => self.other_insert(k, v),
        }
    }

    /// Inserts `v` under `k` unless `k` is present; returns whether it did.
    pub(super) fn insert_new(&mut self, k: K, v: V) -> bool {
        match k.pack_v4() {
            Some(p) => put_new(&mut self.v4, p, v),
            None => self.other_insert_new(k, v),
        }
    }

    pub(super) fn remove(&mut self, k: &K) -> Option<V> {
        match k.pack_v4() {
            Some(p) => self.v4.remove(&p),
            None => self.other_remove(k),
        }
    }

    /// Applies `f` to `k`'s value, if any, and removes the entry if `f` says so.
    pub(super) fn update(&mut self, k: K, f: impl FnOnce(&mut V) -> bool) {
        match k.pack_v4() {
            Some(p) => update_in(&mut self.v4, p, f),
            None => self.other_update(k, f),
        }
    }

    /// Inserts `new()` under `k` if `k` is absent, else applies `f` to its value.
    pub(super) fn upsert(&mut self, k: K, new: impl FnOnce() -> V, f: impl FnOnce(&mut V)) {
        match k.pack_v4() {
            Some(p) => upsert_in(&mut self.v4, p, new, f),
            None => self.other_upsert(k, new, f),
        }
    }

    /// [`PackedMap::get`] of a key that does not pack.
    #[cold]
    #[inline(never)]
    fn other_get(&self, k: &K) -> Option<&V> {
        self.other.get(k)
    }

    /// [`PackedMap::insert`] of a key that does not pack.
    #[cold]
    #[inline(never)]
    fn other_insert(&mut self, k: K, v: V) -> Option<V> {
        self.other.insert(k, v)
    }

    /// [`PackedMap::insert_new`] of a key that does not pack.
    #[cold]
    #[inline(never)]
    fn other_insert_new(&mut self, k: K, v: V) -> bool {
        put_new(&mut self.other, k, v)
    }

    /// [`PackedMap::remove`] of a key that does not pack.
    #[cold]
    #[inline(never)]
    fn other_remove(&mut self, k: &K) -> Option<V> {
        self.other.remove(k)
    }

    /// [`PackedMap::update`] of a key that does not pack.
    #[cold]
    #[inline(never)]
    fn other_update(&mut self, k: K, f: impl FnOnce(&mut V) -> bool) {
        update_in(&mut self.other, k, f);
    }

    /// [`PackedMap::upsert`] of a key that does not pack.
    #[cold]
    #[inline(never)]
    fn other_upsert(&mut self, k: K, new: impl FnOnce() -> V, f: impl FnOnce(&mut V)) {
        upsert_in(&mut self.other, k, new, f);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.v4.len() + self.other.len()
    }
}

/// Inserts `v` under `k` unless `k` is present; returns whether it did.
#[inline]
fn put_new<Q: Hash + Eq, V>(m: &mut FixedMap<Q, V>, k: Q, v: V) -> bool {
    match m.entry(k) {
        Slot::Vacant(e) => {
            e.insert(v);
            true
        }
        Slot::Occupied(_) => false,
    }
}

/// Applies `f` to `k`'s value in `m`, if any, and removes the entry if `f` says so.
#[inline]
fn update_in<Q: Hash + Eq, V>(m: &mut FixedMap<Q, V>, k: Q, f: impl FnOnce(&mut V) -> bool) {
    if let Slot::Occupied(mut o) = m.entry(k) {
        if f(o.get_mut()) {
            o.remove();
        }
    }
}

/// Inserts `new()` under `k` in `m` if `k` is absent, else applies `f` to its value.
#[inline]
fn upsert_in<Q: Hash + Eq, V>(
    m: &mut FixedMap<Q, V>,
    k: Q,
    new: impl FnOnce() -> V,
    f: impl FnOnce(&mut V),
) {
    match m.entry(k) {
        Slot::Vacant(e) => {
            e.insert(new());
        }
        Slot::Occupied(mut o) => f(o.get_mut()),
    }
}

/// Every live connection's 4-tuple, and the local ports each destination (local address,
/// remote endpoint) uses with the TIME-WAIT records' 4-tuples included. A destination's entry
/// lives while it has a 4-tuple.
#[derive(Debug, Clone, Default)]
pub(super) struct TupleIndex {
    tuples: PackedMap<FourTuple, SocketId>,
    /// (local address, remote endpoint) → (4-tuples, their local ports).
    by_dest: PackedMap<(IpAddr, SocketAddr), (u32, PortSet)>,
}

impl TupleIndex {
    pub(super) fn get(&self, t: &FourTuple) -> Option<&SocketId> {
        self.tuples.get(t)
    }

    pub(super) fn contains_key(&self, t: &FourTuple) -> bool {
        self.tuples.get(t).is_some()
    }

    pub(super) fn insert(&mut self, t: FourTuple, id: SocketId) {
        if self.tuples.insert(t, id).is_none() {
            self.take_port(t);
        }
    }

    /// [`TupleIndex::insert`] of a 4-tuple not present; returns false (and changes nothing)
    /// if it is.
    pub(super) fn insert_new(&mut self, t: FourTuple, id: SocketId) -> bool {
        let new = self.tuples.insert_new(t, id);
        if new {
            self.take_port(t);
        }
        new
    }

    /// `t`'s destination counts it and its local port.
    fn take_port(&mut self, t: FourTuple) {
        let port = t.local.port();
        self.by_dest.upsert(
            (t.local.ip(), t.remote),
            || (1, PortSet::One(port)),
            |d| {
                d.0 += 1;
                d.1.insert(port);
            },
        );
    }

    pub(super) fn remove(&mut self, t: &FourTuple) -> Option<SocketId> {
        let id = self.tuples.remove(t)?;
        self.remove_port(t);
        Some(id)
    }

    /// The connection of `t` became a TIME-WAIT record: it leaves the map of connections, its
    /// port stays taken for its destination until [`TupleIndex::remove_port`].
    pub(super) fn retire(&mut self, t: &FourTuple) {
        self.tuples.remove(t);
    }

    /// `t` (a TIME-WAIT record's 4-tuple, or a connection's) no longer takes its port.
    pub(super) fn remove_port(&mut self, t: &FourTuple) {
        self.by_dest.update((t.local.ip(), t.remote), |d| {
            d.0 -= 1;
            if d.0 > 0 {
                d.1.remove(t.local.port());
            }
            d.0 == 0
        });
    }

    /// Whether some 4-tuple `(src, port) → remote` exists.
    #[cfg(test)]
    fn port_taken(&self, src: IpAddr, port: u16, remote: SocketAddr) -> bool {
        self.ports_to(src, remote).contains(port)
    }

    /// The local ports 4-tuples from `src` to `remote` use: looked up once, then one bit test
    /// per port.
    pub(super) fn ports_to(&self, src: IpAddr, remote: SocketAddr) -> TakenPorts<'_> {
        TakenPorts(self.by_dest.get(&(src, remote)).map(|(_, p)| p))
    }
}

/// The local ports one destination uses ([`TupleIndex::ports_to`]).
pub(super) struct TakenPorts<'a>(Option<&'a PortSet>);

impl TakenPorts<'_> {
    /// Whether `port` is among them.
    pub(super) fn contains(&self, port: u16) -> bool {
        self.0.is_some_and(|p| p.contains(port))
    }

    /// Ports `64 w .. 64 w + 63` as bits (bit k: port `64 w + k`).
    pub(super) fn word(&self, w: usize) -> u64 {
        self.0.map_or(0, |p| p.word(w))
    }
}

/// How many entries of each port got it from an explicit `bind()` rather than from
/// `connect()` (Linux: a port shared by connecting sockets only stays usable by
/// `__inet_hash_connect`).
#[derive(Debug, Clone, Default)]
pub(super) struct PortCounts {
    counts: FixedMap<u16, u32>,
    bits: Option<Box<[u64; 1024]>>,
}

impl PortCounts {
    pub(super) fn add(&mut self, port: u16) {
        *self.counts.entry(port).or_default() += 1;
        let b = self.bits.get_or_insert_with(|| Box::new([0u64; 1024]));
        b[usize::from(port >> 6)] |= 1 << (port & 63);
    }

    pub(super) fn sub(&mut self, port: u16) {
        if let Slot::Occupied(mut c) = self.counts.entry(port) {
            *c.get_mut() -= 1;
            if *c.get() == 0 {
                c.remove();
                if let Some(b) = &mut self.bits {
                    b[usize::from(port >> 6)] &= !(1 << (port & 63));
                }
            }
        }
    }

    /// Ports `64 w .. 64 w + 63` held from an explicit bind, as bits.
    pub(super) fn word(&self, w: usize) -> u64 {
        self.bits.as_ref().map_or(0, |b| b[w])
    }

    /// Whether any entry holds `port` from an explicit bind.
    pub(super) fn any(&self, port: u16) -> bool {
        self.bits
            .as_ref()
            .is_some_and(|b| b[usize::from(port >> 6)] & (1 << (port & 63)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(lport: u16, remote: &str) -> FourTuple {
        FourTuple::new(
            SocketAddr::new("10.0.0.1".parse().unwrap(), lport),
            remote.parse().unwrap(),
        )
    }

    #[test]
    fn ports_per_destination_follow_inserts_and_removes() {
        let mut ix = TupleIndex::default();
        let src: IpAddr = "10.0.0.1".parse().unwrap();
        let server: SocketAddr = "10.0.0.2:80".parse().unwrap();
        for p in 0..100u16 {
            ix.insert(t(40000 + p, "10.0.0.2:80"), SocketId(u32::from(p)));
        }
        ix.insert(t(40000, "10.0.0.3:80"), SocketId(1000));
        assert!(ix.port_taken(src, 40050, server));
        assert!(!ix.port_taken(src, 40100, server));
        assert_eq!(ix.remove(&t(40050, "10.0.0.2:80")), Some(SocketId(50)));
        assert!(!ix.port_taken(src, 40050, server));
        assert!(ix.port_taken(src, 40000, "10.0.0.3:80".parse().unwrap()));
        assert_eq!(ix.remove(&t(40050, "10.0.0.2:80")), None);
        for p in 0..100u16 {
            ix.remove(&t(40000 + p, "10.0.0.2:80"));
        }
        assert!(!ix.port_taken(src, 40001, server));
        assert!(ix.by_dest.len() == 1);
    }

    #[test]
    fn ipv6_and_ipv4_tuples_are_kept_apart() {
        let mut ix = TupleIndex::default();
        let v6 = |p: u16| {
            FourTuple::new(
                SocketAddr::new("fd00::1".parse().unwrap(), p),
                "[fd00::2]:80".parse().unwrap(),
            )
        };
        ix.insert(v6(40000), SocketId(1));
        ix.insert(t(40000, "10.0.0.2:80"), SocketId(2));
        let mapped = FourTuple::new(
            "[::ffff:10.0.0.1]:40000".parse().unwrap(),
            "[::ffff:10.0.0.2]:80".parse().unwrap(),
        );
        assert_eq!(ix.get(&v6(40000)), Some(&SocketId(1)));
        assert_eq!(ix.get(&t(40000, "10.0.0.2:80")), Some(&SocketId(2)));
        assert_eq!(ix.get(&mapped), None);
        let src6: IpAddr = "fd00::1".parse().unwrap();
        assert!(ix.port_taken(src6, 40000, "[fd00::2]:80".parse().unwrap()));
        assert!(!ix.port_taken(src6, 40001, "[fd00::2]:80".parse().unwrap()));
        assert_eq!(ix.remove(&v6(40000)), Some(SocketId(1)));
        assert!(!ix.port_taken(src6, 40000, "[fd00::2]:80".parse().unwrap()));
        assert_eq!(ix.by_dest.len(), 1);
    }

    #[test]
    fn id_sets_keep_id_order_through_every_form() {
        let mut s = IdSet::default();
        let mut want = BTreeSet::new();
        let mut x = 0x2545_f491u32;
        for k in 0..3000u32 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let id = SocketId(x % 700);
            if k % 3 == 2 {
                assert_eq!(s.remove(id), want.remove(&id), "step {k}");
            } else {
                assert_eq!(s.insert(id), want.insert(id), "step {k}");
            }
            assert_eq!(s.len(), want.len());
            assert_eq!(s.is_empty(), want.is_empty());
            assert!(s.iter().eq(want.iter()), "step {k}");
        }
        for id in want.clone() {
            assert!(s.remove(id));
        }
        assert!(s.is_empty() && s.iter().next().is_none());
    }

    #[test]
    fn explicit_ports_are_counted() {
        let mut c = PortCounts::default();
        assert!(!c.any(80));
        c.add(80);
        c.add(80);
        c.sub(80);
        assert!(c.any(80));
        c.sub(80);
        assert!(!c.any(80));
    }
}
