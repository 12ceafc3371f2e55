//! Analytic curves a sweep compares its estimates with (`shared/spec/time-wait.md`,
//! "Analytic model, for validating Monte Carlo results"), named in a spec's `analytic` list
//! and evaluated at every point; the value goes beside the simulated mean in the summary CSV
//! and on the plot. Every time value is in seconds.

/// A formula and the names of its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Formula {
    /// Probability that one stale copy whose delay is `min` plus an exponential of mean `mean`
    /// arrives in the window where the next incarnation accepts it, measured from the copy's
    /// departure: after `t_tw + a` (TIME-WAIT, plus the time from the copy's departure to
    /// TIME-WAIT's start and the reconnect's SYN) and before `t_tw + b` (when the new
    /// incarnation's own bytes arrive): P = S(t_tw + a) − S(t_tw + b), with
    /// S(x) = exp(−(x − min)/mean) for x ≥ min, else 1.
    /// time-wait.md: `E[K] = q·r·∫ S_D` over the window, here for one copy (q·r·T = 1) with
    /// constant ISNs, so every copy in the window is accepted (p_acc = 1).
    CorruptionExponential,
    /// Probability that a Poisson stream of triggering stale arrivals of rate λ = `rate` (per
    /// second; one copy whose delay is exponential with mean 1/λ: its arrival is the stream's
    /// first event) reaches the TIME-WAIT endpoint in time to kill it: P = 1 − exp(−λ·(t_tw − r)),
    /// where `r` is how much earlier than TIME-WAIT's end the trigger must arrive (the RST
    /// round trip, time-wait.md; negative when the trigger arrives before TIME-WAIT began or
    /// restarts its timer). 0 when t_tw ≤ r.
    AssassinationPoisson,
}

/// Every formula with its spec name.
pub const FORMULAS: &[(&str, Formula)] = &[
    ("corruption_exponential", Formula::CorruptionExponential),
    ("assassination_poisson", Formula::AssassinationPoisson),
];

/// The formula names, for error messages.
pub fn known_names() -> String {
    FORMULAS
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Formula {
    /// The formula named `name` in a spec.
    pub fn from_name(name: &str) -> Option<Formula> {
        FORMULAS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    /// Its spec name.
    pub fn name(self) -> &'static str {
        FORMULAS
            .iter()
            .find(|(_, f)| *f == self)
            .map(|(n, _)| *n)
            .expect("every formula is listed")
    }

    /// The parameters it takes (all required).
    pub fn params(self) -> &'static [&'static str] {
        match self {
            Formula::CorruptionExponential => &["t_tw", "a", "b", "mean", "min"],
            Formula::AssassinationPoisson => &["t_tw", "r", "rate"],
        }
    }

    /// Its value for `args` (name, value in seconds); NaN when a parameter is missing or not
    /// finite, or a mean is not positive.
    pub fn eval(self, args: &[(String, f64)]) -> f64 {
        let get = |k: &str| {
            args.iter()
                .find(|(n, _)| n == k)
                .map_or(f64::NAN, |(_, v)| *v)
        };
        match self {
            Formula::CorruptionExponential => {
                let (t_tw, a, b, mean, min) =
                    (get("t_tw"), get("a"), get("b"), get("mean"), get("min"));
                if mean.is_nan() || mean <= 0.0 || !min.is_finite() {
                    return f64::NAN;
                }
                let s = |x: f64| {
                    if x < min {
                        1.0
                    } else {
                        (-(x - min) / mean).exp()
                    }
                };
                (s(t_tw + a) - s(t_tw + b)).max(0.0)
            }
            Formula::AssassinationPoisson => {
                let (t_tw, r, rate) = (get("t_tw"), get("r"), get("rate"));
                if rate.is_nan() || rate < 0.0 {
                    return f64::NAN;
                }
                let w = t_tw - r;
                if w <= 0.0 {
                    0.0
                } else {
                    1.0 - (-rate * w).exp()
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[(&str, f64)]) -> Vec<(String, f64)> {
        v.iter().map(|(k, x)| (k.to_string(), *x)).collect()
    }

    #[test]
    fn names_round_trip() {
        for (n, f) in FORMULAS {
            assert_eq!(Formula::from_name(n), Some(*f));
            assert_eq!(f.name(), *n);
        }
        assert_eq!(Formula::from_name("nope"), None);
    }

    #[test]
    fn corruption_is_the_delay_mass_inside_the_window() {
        let f = Formula::CorruptionExponential;
        // mean 10 s, window (10 + 1, 10 + 40): e^-1.1 − e^-5.
        let p = f.eval(&args(&[
            ("t_tw", 10.0),
            ("a", 1.0),
            ("b", 40.0),
            ("mean", 10.0),
            ("min", 0.0),
        ]));
        assert!(
            (p - ((-1.1f64).exp() - (-5.0f64).exp())).abs() < 1e-12,
            "{p}"
        );
        // A window that closed before it opened holds nothing.
        let p = f.eval(&args(&[
            ("t_tw", 60.0),
            ("a", 1.0),
            ("b", 0.5),
            ("mean", 10.0),
            ("min", 0.0),
        ]));
        assert_eq!(p, 0.0);
        // Everything below the minimum delay survives: the window starts before min.
        let p = f.eval(&args(&[
            ("t_tw", 1.0),
            ("a", 0.0),
            ("b", 1e9),
            ("mean", 3.0),
            ("min", 5.0),
        ]));
        assert_eq!(p, 1.0);
        assert!(f.eval(&args(&[("t_tw", 1.0)])).is_nan());
    }

    #[test]
    fn assassination_follows_the_poisson_first_arrival() {
        let f = Formula::AssassinationPoisson;
        let p = f.eval(&args(&[("t_tw", 60.0), ("r", 0.02), ("rate", 1.0 / 30.0)]));
        assert!((p - (1.0 - (-(59.98f64) / 30.0).exp())).abs() < 1e-12);
        assert_eq!(
            f.eval(&args(&[("t_tw", 1.0), ("r", 2.0), ("rate", 3.0)])),
            0.0
        );
        assert_eq!(
            f.eval(&args(&[("t_tw", 5.0), ("r", 0.0), ("rate", 0.0)])),
            0.0
        );
        assert!(f
            .eval(&args(&[("t_tw", 1.0), ("r", 0.0), ("rate", -1.0)]))
            .is_nan());
    }
}
