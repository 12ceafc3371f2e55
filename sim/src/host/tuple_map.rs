//! [`TupleMap`]: the host layer's maps keyed by 4-tuple (live connections, reopened TIME-WAIT
//! records), on one 128-bit word per key.

use std::net::{SocketAddr, SocketAddrV4};
use twsim_model::FourTuple;

/// A map keyed by IPv4 4-tuple, stored under [`TupleMap::key`]: one 128-bit word that hashes
/// in one call and compares in one instruction pair (a [`FourTuple`] is two 32-byte
/// `SocketAddr`s). The word orders as the 4-tuple does, so a walk that sorts by key sorts by
/// 4-tuple. Looked up by hash ([`crate::FixedMap`]): walks go through [`TupleMap::iter_mut`], whose
/// order is the hasher's, and callers sort what they collect.
#[derive(Debug)]
pub(super) struct TupleMap<V>(crate::FixedMap<u128, V>);

impl<V> Default for TupleMap<V> {
    fn default() -> Self {
        TupleMap(crate::FixedMap::default())
    }
}

impl<V> TupleMap<V> {
    /// Local address, local port, remote address, remote port, from the most significant bits
    /// down (96 bits): `FourTuple`'s order (`SocketAddrV4` orders by address, then port).
    ///
    /// # Panics
    ///
    /// On an IPv6 endpoint: the simulator only creates IPv4 endpoints.
    pub(super) fn key(t: &FourTuple) -> u128 {
        let v4 = |a: SocketAddr| match a {
            SocketAddr::V4(a) => a,
            SocketAddr::V6(_) => unreachable!("the simulator only creates IPv4 endpoints"),
        };
        Self::key_v4(v4(t.local), v4(t.remote))
    }

    /// [`TupleMap::key`] of the 4-tuple (`local`, `remote`).
    pub(super) fn key_v4(local: SocketAddrV4, remote: SocketAddrV4) -> u128 {
        let w = |a: SocketAddrV4| (u128::from(u32::from(*a.ip())) << 16) | u128::from(a.port());
        (w(local) << 48) | w(remote)
    }

    /// The 4-tuple of a key ([`TupleMap::key`]'s inverse).
    pub(super) fn tuple(k: u128) -> FourTuple {
        let v4 = |w: u128| {
            SocketAddr::V4(SocketAddrV4::new(
                ((w >> 16) as u32).into(),
                (w & 0xffff) as u16,
            ))
        };
        FourTuple::new(v4(k >> 48), v4(k & ((1 << 48) - 1)))
    }

    pub(super) fn get(&self, t: &FourTuple) -> Option<&V> {
        self.0.get(&Self::key(t))
    }

    pub(super) fn get_mut(&mut self, t: &FourTuple) -> Option<&mut V> {
        self.0.get_mut(&Self::key(t))
    }

    /// The entry of the 4-tuple (`local`, `remote`).
    pub(super) fn get_mut_v4(
        &mut self,
        local: SocketAddrV4,
        remote: SocketAddrV4,
    ) -> Option<&mut V> {
        self.0.get_mut(&Self::key_v4(local, remote))
    }

    /// The entry under key `k` ([`TupleMap::key`]), for a caller that looks a 4-tuple up
    /// more than once.
    pub(super) fn get_by_key(&self, k: u128) -> Option<&V> {
        self.0.get(&k)
    }

    /// The entry under key `k` ([`TupleMap::key`]), mutably.
    pub(super) fn get_mut_by_key(&mut self, k: u128) -> Option<&mut V> {
        self.0.get_mut(&k)
    }

    pub(super) fn insert(&mut self, t: FourTuple, v: V) -> Option<V> {
        self.0.insert(Self::key(&t), v)
    }

    /// Inserts under key `k` ([`TupleMap::key`]).
    pub(super) fn insert_by_key(&mut self, k: u128, v: V) -> Option<V> {
        self.0.insert(k, v)
    }

    /// Removes the 4-tuple's entry.
    pub(super) fn remove(&mut self, t: &FourTuple) -> Option<V> {
        self.remove_by_key(Self::key(t))
    }

    /// Removes the entry under key `k` ([`TupleMap::key`]); an empty map, as the reopened
    /// records' mostly is, answers without hashing.
    pub(super) fn remove_by_key(&mut self, k: u128) -> Option<V> {
        if self.0.is_empty() {
            return None;
        }
        self.0.remove(&k)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every entry with its key, mutably, in the hasher's order (sort before acting on the
    /// order).
    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = (u128, &mut V)> {
        self.0.iter_mut().map(|(k, v)| (*k, v))
    }
}

impl<V> std::ops::Index<&FourTuple> for TupleMap<V> {
    type Output = V;
    fn index(&self, t: &FourTuple) -> &V {
        self.get(t).expect("4-tuple present")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(l: &str, r: &str) -> FourTuple {
        FourTuple::new(l.parse().unwrap(), r.parse().unwrap())
    }

    #[test]
    fn keys_round_trip_and_order_as_the_tuples_do() {
        let tuples = [
            t("10.0.0.1:80", "10.0.0.2:40000"),
            t("10.0.0.1:80", "10.0.0.2:39999"),
            t("10.0.0.1:81", "9.255.255.255:65535"),
            t("10.0.0.2:1", "0.0.0.0:0"),
            t("255.255.255.255:65535", "255.255.255.255:65535"),
            t("0.0.0.0:0", "0.0.0.0:1"),
            t("10.0.0.1:80", "10.0.1.2:1"),
        ];
        for a in tuples {
            assert_eq!(TupleMap::<()>::tuple(TupleMap::<()>::key(&a)), a);
            for b in tuples {
                let (ka, kb) = (TupleMap::<()>::key(&a), TupleMap::<()>::key(&b));
                assert_eq!(ka.cmp(&kb), a.cmp(&b), "{a:?} vs {b:?}");
            }
        }
    }
}
