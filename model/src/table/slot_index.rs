//! An open-addressing hash index of slab slots (`u32`), for the TIME-WAIT store
//! ([`super::tw_store`]): the key of an entry is not kept in the index but read from the slot it
//! names, so an entry costs 4 bytes. Linear probing, at most 80 % full (so between 40 % and 80 %
//! after growing), deletion by backward shift (no tombstones).
//!
//! Each entry keeps 7 bits of its key's hash beside the slot number (25 bits), so a probe that
//! meets another key's entry almost never reads the slab. The hash is the caller's, computed with
//! [`mix`]: a fixed function, no per-process key, so the layout and every probe sequence are the
//! same in every run. The index is only ever looked up, never iterated for output.

/// An empty bucket.
const EMPTY: u32 = u32::MAX;
/// Bits of an entry that hold the slot.
const SLOT_BITS: u32 = 25;
const SLOT_MASK: u32 = (1 << SLOT_BITS) - 1;
/// The largest slot an index can name (`EMPTY`'s slot bits are reserved).
pub(super) const MAX_SLOT: u32 = SLOT_MASK - 1;

/// A fixed 64-bit mixer (SplitMix64's finaliser): every input bit affects every output bit.
pub(super) fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The index: buckets of `tag << 25 | slot`, or `EMPTY`.
#[derive(Clone, Debug, Default)]
pub(super) struct SlotIndex {
    buckets: Vec<u32>,
    len: usize,
}

fn tag(h: u64) -> u32 {
    (h >> 57) as u32
}

impl SlotIndex {
    fn mask(&self) -> usize {
        self.buckets.len() - 1
    }

    /// The slot of the entry with hash `h` for which `is_key(slot)` holds.
    #[inline]
    pub(super) fn find(&self, h: u64, is_key: impl Fn(u32) -> bool) -> Option<u32> {
        self.position(h, is_key)
            .map(|p| self.buckets[p] & SLOT_MASK)
    }

    fn position(&self, h: u64, is_key: impl Fn(u32) -> bool) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let mask = self.mask();
        let want = tag(h);
        let mut i = h as usize & mask;
        loop {
            let b = self.buckets[i];
            if b == EMPTY {
                return None;
            }
            if b >> SLOT_BITS == want && is_key(b & SLOT_MASK) {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// Adds `slot` under hash `h` (the caller checked that its key is absent). `rehash` gives
    /// the hash of any slot already in the index, for growing.
    #[inline(never)]
    pub(super) fn insert(&mut self, h: u64, slot: u32, rehash: &dyn Fn(u32) -> u64) {
        assert!(slot <= MAX_SLOT, "TIME-WAIT store full");
        if (self.len + 1) * 5 > self.buckets.len() * 4 {
            self.resize((self.buckets.len() * 2).max(16), rehash);
        }
        self.place(h, slot);
        self.len += 1;
    }

    fn place(&mut self, h: u64, slot: u32) {
        let mask = self.mask();
        let mut i = h as usize & mask;
        while self.buckets[i] != EMPTY {
            i = (i + 1) & mask;
        }
        self.buckets[i] = tag(h) << SLOT_BITS | slot;
    }

    #[cold]
    #[inline(never)]
    fn resize(&mut self, buckets: usize, rehash: &dyn Fn(u32) -> u64) {
        let old = std::mem::replace(&mut self.buckets, vec![EMPTY; buckets]);
        for b in old.into_iter().filter(|&b| b != EMPTY) {
            self.place(rehash(b & SLOT_MASK), b & SLOT_MASK);
        }
    }

    /// Points the entry of `old` (hash `h`) at `new`, whose key has the same hash.
    pub(super) fn replace(&mut self, h: u64, old: u32, new: u32) {
        let p = self
            .position(h, |s| s == old)
            .expect("the slot is in the index");
        self.buckets[p] = tag(h) << SLOT_BITS | new;
    }

    /// Removes the entry of `slot` (hash `h`), shifting later entries of its run back.
    /// `rehash` gives the hash of any slot in the index.
    #[inline(never)]
    pub(super) fn remove(&mut self, h: u64, slot: u32, rehash: &dyn Fn(u32) -> u64) {
        let Some(mut i) = self.position(h, |s| s == slot) else {
            return;
        };
        let mask = self.mask();
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            let b = self.buckets[j];
            if b == EMPTY {
                break;
            }
            let home = rehash(b & SLOT_MASK) as usize & mask;
            // The entry at j may move back to i unless its home lies cyclically in (i, j].
            let stays = if i <= j {
                i < home && home <= j
            } else {
                i < home || home <= j
            };
            if !stays {
                self.buckets[i] = b;
                i = j;
            }
        }
        self.buckets[i] = EMPTY;
        self.len -= 1;
        if self.len * 8 < self.buckets.len() && self.buckets.len() > 16 {
            self.resize(self.buckets.len() / 2, rehash);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_finds_and_removes_with_colliding_hashes() {
        // Keys are slots; a weak hash makes long runs so the backward shift is exercised.
        let weak = |s: u32| u64::from(s % 7) | u64::from(s % 3) << 57;
        let mut ix = SlotIndex::default();
        for s in 0..500u32 {
            ix.insert(weak(s), s, &weak);
        }
        for s in 0..500u32 {
            assert_eq!(ix.find(weak(s), |x| x == s), Some(s));
        }
        for s in (0..500u32).filter(|s| s % 2 == 0) {
            ix.remove(weak(s), s, &weak);
        }
        for s in 0..500u32 {
            let want = (s % 2 == 1).then_some(s);
            assert_eq!(ix.find(weak(s), |x| x == s), want, "slot {s}");
        }
        ix.replace(weak(3), 3, 1003);
        assert_eq!(ix.find(weak(3), |x| x == 1003), Some(1003));
        assert_eq!(ix.find(weak(3), |x| x == 3), None);
        for s in (0..500u32).filter(|s| s % 2 == 1 && *s != 3) {
            ix.remove(weak(s), s, &weak);
        }
        ix.remove(weak(1003), 1003, &weak);
        assert_eq!(ix.len, 0);
        assert!(ix.buckets.len() <= 16, "shrinks when emptied");
    }

    #[test]
    fn mix_is_fixed() {
        // The same value in every run and on every machine: the index layout depends on it.
        assert_eq!(mix(0), 0xe220_a839_7b1d_cdaf);
        assert_ne!(mix(1), mix(2));
    }
}
