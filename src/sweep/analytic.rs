//! Analytic curves a sweep compares its estimates with (`shared/spec/time-wait.md`,
//! "Analytic model, for validating Monte Carlo results"), named in a spec's `analytic` list
//! and evaluated at every point; the value goes beside the simulated mean in the summary CSV
//! and on the plot. Every time value is in seconds, every rate per second.

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
    /// Connects that succeed among periodic arrivals that all need a local port of one range
    /// towards one destination (time-wait.md, "Port exhaustion": capacity λ* = P / (T_conn +
    /// T_TW); "Analytic model": a port is reused every P/λ). Parameters: the range `first`..=`last`
    /// (P = last − first + 1 ports), `rate` λ (per second), `duration` D (arrivals at
    /// i/λ for every i with i/λ < D: n = ⌈D·λ⌉), `t_conn` (from `connect()` to the start of
    /// TIME-WAIT) and `t_tw` (TIME-WAIT's length). A connect that succeeds holds its port for
    /// H = t_conn + t_tw and one that fails holds none; a port is free again at the instant its
    /// record ends (Linux `__inet_hash_connect` fails with EADDRNOTAVAIL only when no port of
    /// the range is free for the destination). With c = ⌈H·λ⌉ arrivals from one success to the
    /// first arrival that finds its port free: every connect succeeds when c ≤ P; otherwise
    /// they come in cycles of c arrivals, the first P of each succeeding and the rest failing,
    /// so the successes number P·⌊n/c⌋ + min(P, n mod c). Exact when 1/λ is a whole number of µs
    /// (arrivals evenly spaced) and every connection takes the same t_conn (fixed delays, no
    /// loss); H and 1/λ are rounded to whole microseconds. As n grows the failed fraction tends
    /// to 1 − P/c ≈ max(0, 1 − λ*/λ).
    PortExhaustionConnected,
    /// The connects that fail among the same n arrivals: n − [`Formula::PortExhaustionConnected`].
    PortExhaustionFailed,
    /// Little's law for TIME-WAIT occupancy (time-wait.md, "Analytic model": E\[N_TW\] =
    /// λ_close·E\[T_TW\]; Faber, Touch and Yue, "The TIME-WAIT state in TCP and its effect on
    /// busy servers", INFOCOM 1999): the time-average number of records held by a host whose
    /// connections close into TIME-WAIT at rate `rate` (per second), each for `t_tw`, over a
    /// window that starts once the first records can have ended: rate · t_tw.
    LittleOccupancy,
}

/// Every formula with its spec name.
pub const FORMULAS: &[(&str, Formula)] = &[
    ("corruption_exponential", Formula::CorruptionExponential),
    ("assassination_poisson", Formula::AssassinationPoisson),
    (
        "port_exhaustion_connected",
        Formula::PortExhaustionConnected,
    ),
    ("port_exhaustion_failed", Formula::PortExhaustionFailed),
    ("little_occupancy", Formula::LittleOccupancy),
];

/// The parameters of the port-exhaustion formulas.
const PORT_EXHAUSTION: &[&str] = &["first", "last", "rate", "duration", "t_conn", "t_tw"];

/// (connected, failed) among the periodic arrivals of [`Formula::PortExhaustionConnected`], or
/// `None` when a parameter is out of range (a port range that is not 1..=65535 in order, a rate
/// or duration not positive, a holding time below 0).
fn port_exhaustion(
    first: f64,
    last: f64,
    rate: f64,
    duration: f64,
    hold: f64,
) -> Option<(u64, u64)> {
    let port = |x: f64| (x.fract() == 0.0 && (1.0..=65535.0).contains(&x)).then_some(x as u64);
    let (first, last) = (port(first)?, port(last)?);
    if first > last || rate.is_nan() || rate <= 0.0 || duration.is_nan() || duration <= 0.0 {
        return None;
    }
    if hold.is_nan() || hold < 0.0 {
        return None;
    }
    let ports = last - first + 1;
    let us = |x: f64| (x * 1e6).round();
    let gap = us(1.0 / rate).max(1.0);
    let (d, h) = (us(duration), us(hold));
    if d > 3.2e15 || h > 3.2e15 {
        return None;
    }
    let (gap, d, h) = (gap as u64, d as u64, h as u64);
    let n = d.div_ceil(gap);
    let c = h.div_ceil(gap).max(1);
    let ok = if c <= ports {
        n
    } else {
        ports * (n / c) + ports.min(n % c)
    };
    Some((ok, n - ok))
}

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
            Formula::PortExhaustionConnected | Formula::PortExhaustionFailed => PORT_EXHAUSTION,
            Formula::LittleOccupancy => &["rate", "t_tw"],
        }
    }

    /// Its value for `args` (name, value in seconds, per second or ports); NaN when a
    /// parameter is missing or not finite, a mean or rate is not positive, a port range is not
    /// one.
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
            Formula::PortExhaustionConnected | Formula::PortExhaustionFailed => {
                let Some((ok, failed)) = port_exhaustion(
                    get("first"),
                    get("last"),
                    get("rate"),
                    get("duration"),
                    get("t_conn") + get("t_tw"),
                ) else {
                    return f64::NAN;
                };
                if self == Formula::PortExhaustionConnected {
                    ok as f64
                } else {
                    failed as f64
                }
            }
            Formula::LittleOccupancy => {
                let (rate, t_tw) = (get("rate"), get("t_tw"));
                if rate.is_nan() || rate < 0.0 || t_tw.is_nan() || t_tw < 0.0 {
                    return f64::NAN;
                }
                rate * t_tw
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

    fn ports(first: f64, last: f64, rate: f64, duration: f64, t_tw: f64) -> (f64, f64) {
        let a = args(&[
            ("first", first),
            ("last", last),
            ("rate", rate),
            ("duration", duration),
            ("t_conn", 0.0006),
            ("t_tw", t_tw),
        ]);
        (
            Formula::PortExhaustionConnected.eval(&a),
            Formula::PortExhaustionFailed.eval(&a),
        )
    }

    #[test]
    fn port_exhaustion_counts_whole_cycles() {
        // P = 10, one arrival every 1000 µs for 100 ms (n = 100), H = 600 µs + T_TW.
        // H = 10 000 µs: c = 10 = P, the port of arrival i is free again at arrival i + 10.
        assert_eq!(ports(40000.0, 40009.0, 1000.0, 0.1, 0.0094), (100.0, 0.0));
        // H = 10 001 µs: c = 11 > P; 9 whole cycles of 11 (10 succeed, 1 fails) and one
        // arrival that succeeds: 91 and 9.
        assert_eq!(ports(40000.0, 40009.0, 1000.0, 0.1, 0.009401), (91.0, 9.0));
        // The Linux range at 40 000/s for 3 s, T_TW = 1 s: n = 120 000, c = ⌈1 000 600 / 25⌉ =
        // 40 024; 2 whole cycles and 39 952 arrivals, of which P = 28 232 succeed.
        assert_eq!(
            ports(32768.0, 60999.0, 40000.0, 3.0, 1.0),
            (3.0 * 28232.0, 120000.0 - 3.0 * 28232.0)
        );
        // Below the knee (c = 10 006 ≤ P) nothing fails; the IANA range at 20 000/s
        // (c = 20 012 > 16 384) loses the rest of each cycle.
        assert_eq!(ports(32768.0, 60999.0, 10000.0, 3.0, 1.0), (30000.0, 0.0));
        let (ok, failed) = ports(49152.0, 65535.0, 20000.0, 3.0, 1.0);
        assert_eq!(
            (ok, failed),
            (2.0 * 16384.0 + 16384.0, 60000.0 - 3.0 * 16384.0)
        );
        // Not a port range, not a rate.
        assert!(ports(60999.0, 32768.0, 1.0, 1.0, 1.0).0.is_nan());
        assert!(ports(0.5, 10.0, 1.0, 1.0, 1.0).0.is_nan());
        assert!(ports(1.0, 70000.0, 1.0, 1.0, 1.0).0.is_nan());
        assert!(ports(1.0, 10.0, 0.0, 1.0, 1.0).1.is_nan());
    }

    #[test]
    fn little_occupancy_is_rate_times_length() {
        let f = Formula::LittleOccupancy;
        assert_eq!(f.eval(&args(&[("rate", 200.0), ("t_tw", 10.0)])), 2000.0);
        assert_eq!(f.eval(&args(&[("rate", 0.0), ("t_tw", 10.0)])), 0.0);
        assert!(f.eval(&args(&[("rate", -1.0), ("t_tw", 1.0)])).is_nan());
        assert!(f.eval(&args(&[("rate", 1.0)])).is_nan());
    }
}
