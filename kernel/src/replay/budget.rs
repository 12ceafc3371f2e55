//! Deadlines counted in the poll and sleep slices the replay asked for, and the real sleeps
//! (kernel replay keeps the order of steps, not their durations).

use super::POLL_SLICE;
use crate::sys::{self, Sys};
use std::os::fd::RawFd;
use twsim_model::Duration;

fn to_std(d: Duration) -> std::time::Duration {
    std::time::Duration::from_micros(d.micros())
}

/// Sleeps `d` of real time (nothing for zero).
pub(super) fn sleep(d: Duration) {
    if d > Duration::ZERO {
        std::thread::sleep(to_std(d));
    }
}

/// A deadline counted in the poll and sleep slices the replay asked for (no clock is read;
/// a budget runs out slightly later than the same span of wall time would).
pub(super) struct Budget {
    total: Duration,
    spent: Duration,
}

impl Budget {
    pub(super) fn new(total: Duration) -> Self {
        Budget {
            total,
            spent: Duration::ZERO,
        }
    }

    fn left(&self) -> Duration {
        Duration::from_micros(self.total.micros().saturating_sub(self.spent.micros()))
    }

    fn slice(&self) -> Duration {
        self.left().min(POLL_SLICE)
    }

    pub(super) fn spent_ms(&self) -> u64 {
        self.spent.micros() / 1000
    }

    /// Polls `fd` for `events` until it is ready (`true`) or the budget is spent (`false`).
    /// Always polls at least once, so a ready descriptor is seen even with a zero budget.
    pub(super) fn poll(&mut self, fd: RawFd, events: libc::c_short) -> Result<bool, Sys> {
        loop {
            let slice = self.slice();
            let ms = libc::c_int::try_from(slice.micros().div_ceil(1000)).unwrap_or(0);
            match sys::poll(fd, events, ms) {
                Ok(true) => return Ok(true),
                Ok(false) | Err(Sys(libc::EINTR)) => {
                    self.spent = self.spent + slice;
                    if self.left() == Duration::ZERO {
                        return Ok(false);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Sleeps one slice; `false` (without sleeping) once the budget is spent.
    pub(super) fn sleep_slice(&mut self) -> bool {
        let slice = self.slice();
        if slice == Duration::ZERO {
            return false;
        }
        sleep(slice);
        self.spent = self.spent + slice;
        true
    }
}
