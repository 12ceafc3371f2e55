//! One-way delay distributions of a route.
//!
//! Every draw comes from the route's own ChaCha8 stream and uses only IEEE-754 operations that
//! are exactly rounded (+, −, ×, ÷, √) plus the logarithm below, computed here from those
//! operations, so a seed gives the same delays on every machine. Results are whole
//! microseconds.

use crate::rng::unit;
use rand_chacha::ChaCha8Rng;
use twsim_model::Duration;

/// How long a segment takes on a route.
#[derive(Debug, Clone, PartialEq)]
pub enum DelayDist {
    /// Always the same.
    Fixed(Duration),
    /// Uniform in `[min, max]`.
    Uniform {
        /// Smallest delay.
        min: Duration,
        /// Largest delay.
        max: Duration,
    },
    /// Normal with `mean` and standard deviation `sd`, truncated to `[min, max]` by rejection.
    Normal {
        /// Mean.
        mean: Duration,
        /// Standard deviation.
        sd: Duration,
        /// Smallest delay.
        min: Duration,
        /// Largest delay.
        max: Duration,
    },
    /// `min` plus an exponential with `mean` (memoryless queueing), capped at `max`.
    Exponential {
        /// Mean of the exponential part.
        mean: Duration,
        /// Smallest delay (a propagation floor).
        min: Duration,
        /// Largest delay.
        max: Duration,
    },
    /// Draws uniformly from a list of observed delays.
    Empirical(Vec<Duration>),
}

/// ln(x) for x > 0 from exactly rounded operations: x = m·2^e with m in [1, 2), then
/// ln m = 2·atanh((m−1)/(m+1)) by its series (|z| ≤ 1/3, 30 terms: below 1e-16).
pub fn ln(x: f64) -> f64 {
    debug_assert!(x > 0.0);
    let mut m = x;
    let mut e = 0i32;
    while m >= 2.0 {
        m /= 2.0;
        e += 1;
    }
    while m < 1.0 {
        m *= 2.0;
        e -= 1;
    }
    let z = (m - 1.0) / (m + 1.0);
    let z2 = z * z;
    let (mut term, mut sum) = (z, 0.0);
    for k in 0..30 {
        sum += term / f64::from(2 * k + 1);
        term *= z2;
    }
    2.0 * sum + f64::from(e) * std::f64::consts::LN_2
}

fn us(d: Duration) -> f64 {
    d.micros() as f64
}

fn to_dur(x: f64) -> Duration {
    Duration::from_micros(x.max(0.0).round() as u64)
}

impl std::fmt::Display for DelayDist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DelayDist::Fixed(d) => write!(f, "{d}"),
            DelayDist::Uniform { min, max } => write!(f, "uniform {min}..{max}"),
            DelayDist::Normal { mean, sd, min, max } => {
                write!(f, "normal mean {mean} sd {sd} in {min}..{max}")
            }
            DelayDist::Exponential { mean, min, max } => {
                write!(f, "{min} + exponential mean {mean}, at most {max}")
            }
            DelayDist::Empirical(v) => write!(f, "empirical ({} values)", v.len()),
        }
    }
}

impl DelayDist {
    /// The delay if it is fixed.
    pub fn fixed(&self) -> Option<Duration> {
        match self {
            DelayDist::Fixed(d) => Some(*d),
            _ => None,
        }
    }

    /// Draws one delay.
    pub fn sample(&self, rng: &mut ChaCha8Rng) -> Duration {
        match self {
            DelayDist::Fixed(d) => *d,
            DelayDist::Uniform { min, max } => to_dur(us(*min) + unit(rng) * (us(*max) - us(*min))),
            DelayDist::Normal { mean, sd, min, max } => {
                // Marsaglia's polar method; rejection keeps the truncated shape. Bounded: after
                // 64 rejections the mean (inside [min, max] by validation) is used.
                for _ in 0..64 {
                    let (u, v) = (2.0 * unit(rng) - 1.0, 2.0 * unit(rng) - 1.0);
                    let s = u * u + v * v;
                    if s == 0.0 || s >= 1.0 {
                        continue;
                    }
                    let g = u * (-2.0 * ln(s) / s).sqrt();
                    let x = us(*mean) + us(*sd) * g;
                    if x >= us(*min) && x <= us(*max) {
                        return to_dur(x);
                    }
                }
                *mean
            }
            DelayDist::Exponential { mean, min, max } => {
                let u = 1.0 - unit(rng); // (0, 1]
                let x = us(*min) - us(*mean) * ln(u);
                to_dur(x.min(us(*max)))
            }
            DelayDist::Empirical(v) => v[(unit(rng) * v.len() as f64) as usize % v.len()],
        }
    }

    /// The smallest delay the distribution can give.
    pub fn min(&self) -> Duration {
        match self {
            DelayDist::Fixed(d) => *d,
            DelayDist::Uniform { min, .. }
            | DelayDist::Normal { min, .. }
            | DelayDist::Exponential { min, .. } => *min,
            DelayDist::Empirical(v) => v.iter().copied().min().unwrap_or(Duration::ZERO),
        }
    }

    /// Whether drawing consumes randomness (fixed delays do not, so adding a fixed route
    /// changes no other draw).
    pub fn is_random(&self) -> bool {
        !matches!(self, DelayDist::Fixed(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    #[test]
    fn ln_matches_the_library_closely() {
        for x in [1e-9, 0.001, 0.5, 1.0, 1.5, 2.0, 10.0, 12345.678] {
            assert!((ln(x) - x.ln()).abs() < 1e-12, "{x}");
        }
    }

    fn mean_of(d: &DelayDist, n: usize) -> f64 {
        let mut r = stream(7, "route/test");
        (0..n)
            .map(|_| d.sample(&mut r).micros() as f64)
            .sum::<f64>()
            / n as f64
    }

    #[test]
    fn distributions_have_their_moments_and_bounds() {
        let ms = Duration::from_millis;
        let u = DelayDist::Uniform {
            min: ms(10),
            max: ms(20),
        };
        assert!((mean_of(&u, 20_000) - 15_000.0).abs() < 150.0);
        let n = DelayDist::Normal {
            mean: ms(50),
            sd: ms(5),
            min: ms(0),
            max: ms(100),
        };
        assert!((mean_of(&n, 20_000) - 50_000.0).abs() < 200.0);
        let e = DelayDist::Exponential {
            mean: ms(10),
            min: ms(1),
            max: ms(1000),
        };
        assert!((mean_of(&e, 40_000) - 11_000.0).abs() < 300.0);
        let t = DelayDist::Normal {
            mean: ms(10),
            sd: ms(50),
            min: ms(5),
            max: ms(15),
        };
        let mut r = stream(1, "x");
        for _ in 0..2_000 {
            let d = t.sample(&mut r);
            assert!(d >= ms(5) && d <= ms(15), "{d}");
        }
        let emp = DelayDist::Empirical(vec![ms(1), ms(2), ms(3)]);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..100 {
            seen.insert(emp.sample(&mut r));
        }
        assert_eq!(seen.len(), 3);
    }

    #[test]
    fn the_same_seed_gives_the_same_delays() {
        let d = DelayDist::Exponential {
            mean: Duration::from_millis(10),
            min: Duration::ZERO,
            max: Duration::from_secs(1),
        };
        let a: Vec<Duration> = {
            let mut r = stream(3, "route/a");
            (0..50).map(|_| d.sample(&mut r)).collect()
        };
        let b: Vec<Duration> = {
            let mut r = stream(3, "route/a");
            (0..50).map(|_| d.sample(&mut r)).collect()
        };
        assert_eq!(a, b);
    }
}
