//! Property test: random operations on one address table under every profile, checking
//! every result against a reference computation and the table's invariants after each.

#[path = "../common/mod.rs"]
mod common;
mod harness;

use common::*;
use harness::TableHarness;
use proptest::prelude::*;

// ------------------------------------------------------------------------------------------
// Property tests: the address table
// ------------------------------------------------------------------------------------------

const BIND_ADDRS: [&str; 6] = ["0.0.0.0", "127.0.0.1", "10.0.0.1", "::", "::1", "10.9.9.9"];
const SRC_ADDRS: [&str; 2] = ["127.0.0.1", "10.0.0.1"];
const REMOTES: [&str; 4] = ["127.0.0.1:80", "10.0.0.2:80", "10.0.0.2:443", "10.0.0.3:80"];
const CHILD_LOCALS: [&str; 3] = ["127.0.0.1", "10.0.0.1", "::1"];
const PEERS: [&str; 5] = [
    "10.0.0.2:50000",
    "10.0.0.3:50000",
    "127.0.0.1:40001",
    "[::1]:50000",
    "[::1]:50001",
];
const TW_LENGTHS_MS: [u64; 4] = [0, 1_000, 60_000, 240_000];

#[derive(Clone, Debug)]
enum Op {
    /// socket() then setsockopt(), as programs do.
    Socket {
        uid: u32,
        ra: bool,
        rp: bool,
        ex: bool,
        v6only: bool,
    },
    SetOpts {
        sock: usize,
        ra: bool,
        rp: bool,
        ex: bool,
        v6only: bool,
    },
    Bind {
        sock: usize,
        addr: usize,
        port: usize,
        hint: u32,
    },
    Listen {
        sock: usize,
        hint: u32,
    },
    Connect {
        sock: usize,
        src: usize,
        remote: usize,
        hint: u32,
    },
    Accept {
        sock: usize,
        local: usize,
        peer: usize,
    },
    EnterTimeWait {
        sock: usize,
        len: usize,
    },
    RetransmitFin {
        sock: usize,
    },
    Remove {
        sock: usize,
    },
    /// The connection ended while the socket stays open (`disconnected`).
    Disconnect {
        sock: usize,
    },
    Advance {
        ms: u64,
    },
    /// Jump to the next TIME-WAIT deadline, as an event loop driven by `poll_timeout` does.
    AdvanceToDeadline,
}

fn hint_strategy() -> impl Strategy<Value = u32> {
    prop_oneof![0..64u32, any::<u32>(), (u32::MAX - 64)..=u32::MAX]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    // Mostly one of the four newest sockets, so that operations meet.
    let s = prop_oneof![3 => 0..4usize, 1 => any::<usize>()];
    // Mostly IPv4 and a few ports, so that sockets meet.
    let addr = prop_oneof![6 => 0..2usize, 1 => 2..3usize, 1 => 0..BIND_ADDRS.len()];
    let port = prop_oneof![4 => Just(2usize), 2 => Just(3usize), 2 => 0..5usize];
    prop_oneof![
        3 => (0..2u32, any::<bool>(), any::<bool>(), prop::bool::weighted(0.2), prop::bool::weighted(0.2))
            .prop_map(|(uid, ra, rp, ex, v6only)| Op::Socket { uid, ra, rp, ex, v6only }),
        1 => (s.clone(), any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>())
            .prop_map(|(sock, ra, rp, ex, v6only)| Op::SetOpts { sock, ra, rp, ex, v6only }),
        4 => (s.clone(), addr, port, hint_strategy())
            .prop_map(|(sock, addr, port, hint)| Op::Bind { sock, addr, port, hint }),
        3 => (s.clone(), hint_strategy()).prop_map(|(sock, hint)| Op::Listen { sock, hint }),
        2 => (s.clone(), 0..SRC_ADDRS.len(), 0..REMOTES.len(), hint_strategy())
            .prop_map(|(sock, src, remote, hint)| Op::Connect { sock, src, remote, hint }),
        2 => (s.clone(), any::<usize>(), any::<usize>())
            .prop_map(|(sock, local, peer)| Op::Accept { sock, local, peer }),
        2 => (s.clone(), 0..TW_LENGTHS_MS.len())
            .prop_map(|(sock, len)| Op::EnterTimeWait { sock, len }),
        1 => s.clone().prop_map(|sock| Op::RetransmitFin { sock }),
        1 => s.clone().prop_map(|sock| Op::Remove { sock }),
        1 => s.prop_map(|sock| Op::Disconnect { sock }),
        2 => prop_oneof![0..2_000u64, 0..300_000u64].prop_map(|ms| Op::Advance { ms }),
        1 => Just(Op::AdvanceToDeadline),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn table_operations_keep_the_invariants(
        profile in 0..Profile::ALL.len(),
        tiny_range in any::<bool>(),
        ops in proptest::collection::vec(op_strategy(), 1..120),
    ) {
        let profile = Profile::ALL[profile];
        let mut h = TableHarness::new(profile, tiny_range);
        for op in &ops {
            h.apply(op)?;
            h.check_invariants()?;
        }
    }
}
