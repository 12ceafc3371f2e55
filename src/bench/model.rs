//! `twsim bench --model`: address-table calls per wall-clock second with `n` sockets in the
//! table, and the heap bytes one TIME-WAIT record costs (table entry, indexes, record).
//!
//! The heap figure is the growth of the allocator's count of bytes in use ([`heap_in_use`]:
//! mimalloc's blocks in use, size-class rounding included) while the table fills, divided by
//! the number of records: no counting allocator wraps the binary's allocator, so every other
//! command runs without that cost.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant as Wall;
use twsim_model::{AddressTable, Duration, FourTuple, Instant, Profile, SeqNum, TimeWaitRecord};

/// Heap bytes in use, as mimalloc (the binary's allocator, `src/main.rs`) counts them: over
/// every area of its main heap, blocks in use times the block
/// size (`mi_heap_visit_blocks` visiting areas only), so size-class rounding is included, which
/// is what the records really cost. `None` when mimalloc does not hold a fresh allocation (a
/// test binary on the system allocator): the figure would not count the process's heap.
pub fn heap_in_use() -> Option<usize> {
    use libmimalloc_sys as mi;
    use std::ffi::c_void;

    /// Adds one area's blocks in use to the total behind `arg`.
    unsafe extern "C" fn add_area(
        _heap: *const mi::mi_heap_t,
        area: *const mi::mi_heap_area_t,
        _block: *mut c_void,
        _block_size: usize,
        arg: *mut c_void,
    ) -> bool {
        // SAFETY: mimalloc passes a valid area; `arg` is the `usize` below, alive for the
        // call of `mi_heap_visit_blocks`.
        unsafe {
            let area = &*area;
            *arg.cast::<usize>() += area.used * area.block_size;
        }
        true
    }

    let probe = Box::new(0u64);
    // SAFETY: asks whether a live pointer lies in mimalloc's heap; reads nothing through it.
    let ours = unsafe { mi::mi_is_in_heap_region((&*probe as *const u64).cast()) };
    drop(probe);
    if !ours {
        return None;
    }
    extern "C" {
        /// mimalloc 3's main heap, which every thread's allocations come from (`mimalloc.h`;
        /// not bound by `libmimalloc-sys`).
        fn mi_heap_main() -> *mut mi::mi_heap_t;
    }
    let mut total = 0usize;
    // SAFETY: visits the main heap with areas only (no block pointers
    // are dereferenced); the visitor writes only to `total`, which outlives the call.
    unsafe {
        mi::mi_heap_visit_blocks(
            mi_heap_main(),
            false,
            Some(add_area),
            (&mut total as *mut usize).cast(),
        );
    }
    Some(total)
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
