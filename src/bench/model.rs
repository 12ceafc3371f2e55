//! `twsim bench --model`: address-table calls per wall-clock second with `n` sockets in the
//! table, and the heap bytes one TIME-WAIT record costs (table entry, indexes, record).
//!
//! The heap figure is the growth of glibc's count of bytes in use (`mallinfo2(3)`) while the
//! table fills, divided by the number of records: no counting allocator is installed in the
//! binary, so every other command runs on the system allocator untouched. glibc counts whole
//! chunks (a size word and 16-byte rounding included), which is what the records really cost.
//! Elsewhere (another OS, musl) the figure is not measured and the command says so.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant as Wall;
use twsim_model::{AddressTable, Duration, FourTuple, Instant, Profile, SeqNum, TimeWaitRecord};

/// Heap bytes the process has in use, as glibc's allocator counts them: `uordblks` (bytes in
/// allocated chunks of the main arena) plus `hblkhd` (bytes in chunks glibc allocated with
/// `mmap`, as it does for large blocks such as a grown table index). The benchmark runs on the
/// main thread, whose allocations come from the main arena.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn heap_in_use() -> Option<usize> {
    // SAFETY: mallinfo2 takes no arguments and only reads the allocator's statistics
    // (glibc 2.33 and later).
    let m = unsafe { libc::mallinfo2() };
    Some(m.uordblks + m.hblkhd)
}

/// Heap bytes in use: not available without glibc's `mallinfo2`.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn heap_in_use() -> Option<usize> {
    None
}

/// The measurements.
pub struct ModelFigures {
    /// Sockets in the table while calls were timed.
    pub sockets: usize,
    /// Table calls timed.
    pub calls: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Heap bytes per TIME-WAIT record (entry, indexes, record), measured with
    /// [`heap_in_use`]; `None` where that is not available.
    pub bytes_per_time_wait: Option<f64>,
    /// `size_of::<TimeWaitRecord>()`.
    pub record_size: usize,
}

fn ip(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

/// Fills a linux table with `n` TIME-WAIT records (distinct 4-tuples to 64 servers), then
/// times `socket` + `bind` (a port that conflicts, then a free one) + `connect` (automatic
/// port) + `remove` cycles against it.
pub fn measure(n: usize, cycles: u64) -> ModelFigures {
    let local = ip(10, 0, 0, 1);
    let mut t = AddressTable::new(Profile::Linux.config(), vec![local]);
    let before = heap_in_use();
    let now = Instant::ZERO;
    for i in 0..n {
        let id = t.socket(0);
        let remote = SocketAddr::new(ip(10, 1, (i % 64) as u8, 1), 80);
        let l = t
            .connect(id, local, remote, i as u32, now)
            .expect("the table has room for the records");
        let rec = TimeWaitRecord::new(
            FourTuple::new(l, remote),
            1,
            SeqNum(1),
            SeqNum(1),
            65535,
            now,
            Duration::from_secs(60),
        );
        t.enter_time_wait(id, rec).expect("connected just above");
    }
    let bytes = match (before, heap_in_use()) {
        (Some(b), Some(a)) => Some(a.saturating_sub(b) as f64 / n.max(1) as f64),
        _ => None,
    };
    let mut calls = 0u64;
    #[allow(clippy::disallowed_methods)] // wall time is what a benchmark measures
    let t0 = Wall::now();
    for k in 0..cycles {
        let id = t.socket(0);
        // a port in the ephemeral range that TIME-WAIT records use: a conflict check
        let busy = SocketAddr::new(local, 32768 + (k % 28_000) as u16);
        let _ = t.bind(id, busy, 0);
        let _ = t.bind(id, SocketAddr::new(local, 8000 + (k % 500) as u16), 0);
        let id2 = t.socket(0);
        let remote = SocketAddr::new(ip(10, 2, (k % 200) as u8, 1), 443);
        let _ = t.connect(id2, local, remote, k as u32, now);
        t.remove(id);
        t.remove(id2);
        calls += 6;
    }
    let seconds = t0.elapsed().as_secs_f64();
    ModelFigures {
        sockets: t.len(),
        calls,
        seconds,
        bytes_per_time_wait: bytes,
        record_size: std::mem::size_of::<TimeWaitRecord>(),
    }
}
