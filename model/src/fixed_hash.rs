//! A hash map with a fixed, keyless hasher, for the model's lookup-only maps (sockets by id,
//! 4-tuples, ports, interned values): no per-process key, so nothing about a run depends on
//! ambient randomness. These maps are only looked up, or walked into a list that is sorted
//! before anything reads it; their iteration order never reaches a result.
//!
//! The hasher folds each integer written into a 64-bit state (rotate, xor, multiply, as
//! FxHash does) and finishes with SplitMix64's finaliser, so every input bit reaches the low
//! bits that pick a bucket and the high bits hashbrown keeps as a tag.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// The fixed hasher (see the module documentation).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FixedHasher(u64);

impl FixedHasher {
    #[inline]
    fn add(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FixedHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(b) ^ (rest.len() as u64) << 59);
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_u128(&mut self, i: u128) {
        self.add(i as u64);
        self.add((i >> 64) as u64);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// A `HashMap` with [`FixedHasher`]: only looked up, never iterated for anything whose order
/// shows.
pub(crate) type FixedMap<K, V> = HashMap<K, V, BuildHasherDefault<FixedHasher>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn hashes_are_fixed_and_spread() {
        let s = BuildHasherDefault::<FixedHasher>::default();
        // The same value in every run and on every machine.
        assert_eq!(s.hash_one(7u32), s.hash_one(7u32));
        assert_ne!(s.hash_one(1u32), s.hash_one(2u32));
        // Consecutive small keys differ in their low bits (the bucket).
        let low: std::collections::BTreeSet<u64> = (0..64u32).map(|i| s.hash_one(i) & 63).collect();
        assert!(low.len() > 32, "{}", low.len());
    }
}
