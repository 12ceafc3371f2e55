//! Seeded random sub-streams.
//!
//! One seed per run; every consumer (a host, a route, a fault rule) gets its own ChaCha8
//! stream, selected by a stable hash of its label (`"host/server"`, `"route/slow"`,
//! `"fault/2"`), so adding a route does not reshuffle the others (design.md "Time and
//! randomness"). ChaCha8 is portable and named: the same seed gives the same numbers on any
//! machine.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// FNV-1a 64-bit hash of a label: stable across versions and platforms.
pub fn label_hash(label: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in label.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The sub-stream of `seed` named `label`.
pub fn stream(seed: u64, label: &str) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(label_hash(label));
    rng
}

/// A uniform draw in [0, 1) with 53 bits of precision.
pub fn unit(rng: &mut ChaCha8Rng) -> f64 {
    use rand::RngCore;
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// The key of host `name`'s ephemeral-port offsets (`AddressTable::set_port_secret`; Linux
/// draws its `net_secret` once per boot), from its own stream so that it draws nothing from
/// the host's: the simulation and the model replay give the host the same key.
pub fn port_secret(seed: u64, name: &str) -> u64 {
    rand::RngCore::next_u64(&mut stream(seed, &format!("ports/{name}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngCore;

    #[test]
    fn streams_are_independent_and_reproducible() {
        let a1 = stream(7, "host/a").next_u64();
        assert_eq!(a1, stream(7, "host/a").next_u64());
        assert_ne!(a1, stream(7, "host/b").next_u64());
        assert_ne!(a1, stream(8, "host/a").next_u64());
        let u = unit(&mut stream(1, "x"));
        assert!((0.0..1.0).contains(&u));
    }
}
