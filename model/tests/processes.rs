//! Property test: processes and handles against a reference model.

mod common;

use common::*;
use proptest::prelude::*;

// ------------------------------------------------------------------------------------------
// Property tests: processes and handles
// ------------------------------------------------------------------------------------------

const PROCS: [&str; 4] = ["main", "w1", "w2", "w3"];

#[derive(Clone, Debug)]
enum ProcOp {
    /// socket()/accept(): a fresh socket in `proc`.
    Open {
        proc: usize,
    },
    /// Another handle to an open socket (as SCM_RIGHTS would give).
    Share {
        sock: usize,
        proc: usize,
    },
    Fork {
        parent: usize,
        child: usize,
    },
    Close {
        proc: usize,
        sock: usize,
    },
    Exit {
        proc: usize,
    },
    Start {
        proc: usize,
    },
}

fn proc_op_strategy() -> impl Strategy<Value = ProcOp> {
    let p = 0..PROCS.len();
    prop_oneof![
        3 => p.clone().prop_map(|proc| ProcOp::Open { proc }),
        1 => (any::<usize>(), p.clone()).prop_map(|(sock, proc)| ProcOp::Share { sock, proc }),
        2 => (p.clone(), p.clone()).prop_map(|(parent, child)| ProcOp::Fork { parent, child }),
        3 => (p.clone(), any::<usize>()).prop_map(|(proc, sock)| ProcOp::Close { proc, sock }),
        1 => p.clone().prop_map(|proc| ProcOp::Exit { proc }),
        1 => p.prop_map(|proc| ProcOp::Start { proc }),
    ]
}

fn report(ids: &[SocketId], last_closed: &mut BTreeMap<SocketId, u32>) {
    for id in ids {
        *last_closed.entry(*id).or_insert(0) += 1;
    }
}

/// The naive reference: which process holds which sockets.
#[derive(Default)]
struct ProcRef {
    procs: BTreeMap<&'static str, BTreeSet<SocketId>>,
    exited: BTreeSet<&'static str>,
}

impl ProcRef {
    fn count(&self, id: SocketId) -> u32 {
        self.procs.values().filter(|h| h.contains(&id)).count() as u32
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn processes_match_a_reference_model(ops in proptest::collection::vec(proc_op_strategy(), 1..60)) {
        let mut p = Processes::new();
        let mut r = ProcRef::default();
        r.procs.insert("main", BTreeSet::new());
        let mut opened: Vec<SocketId> = Vec::new();
        let mut last_closed: BTreeMap<SocketId, u32> = BTreeMap::new();
        for op in &ops {
            match *op {
                ProcOp::Open { proc } => {
                    let name = PROCS[proc];
                    let id = SocketId(opened.len() as u32 + 1);
                    let res = p.open(name, id);
                    if let Some(h) = r.procs.get_mut(name) {
                        prop_assert_eq!(res, Ok(()));
                        h.insert(id);
                        opened.push(id);
                    } else {
                        prop_assert_eq!(res, Err(Errno::EBADF));
                    }
                }
                ProcOp::Share { sock, proc } => {
                    if opened.is_empty() {
                        continue;
                    }
                    let id = opened[sock % opened.len()];
                    if r.count(id) == 0 {
                        continue; // closed sockets are never reopened
                    }
                    let name = PROCS[proc];
                    let res = p.open(name, id);
                    match r.procs.get_mut(name) {
                        Some(h) => {
                            prop_assert_eq!(res, Ok(()));
                            h.insert(id);
                        }
                        None => prop_assert_eq!(res, Err(Errno::EBADF)),
                    }
                }
                ProcOp::Fork { parent, child } => {
                    let (parent, child) = (PROCS[parent], PROCS[child]);
                    let res = p.fork(parent, child);
                    match r.procs.get(parent).cloned() {
                        None => prop_assert_eq!(res, Err(Errno::EBADF)),
                        Some(_) if r.procs.contains_key(child) || r.exited.contains(child) => {
                            prop_assert_eq!(res, Err(Errno::EINVAL))
                        }
                        Some(h) => {
                            prop_assert_eq!(res, Ok(()));
                            r.procs.insert(child, h);
                        }
                    }
                }
                ProcOp::Close { proc, sock } => {
                    if opened.is_empty() {
                        continue;
                    }
                    let id = opened[sock % opened.len()];
                    let name = PROCS[proc];
                    let res = p.close(name, id);
                    let held = r.procs.get_mut(name).is_some_and(|h| h.remove(&id));
                    if held {
                        let last = r.count(id) == 0;
                        prop_assert_eq!(res, Ok(last));
                        if last {
                            report(&[id], &mut last_closed);
                        }
                    } else {
                        prop_assert_eq!(res, Err(Errno::EBADF));
                    }
                }
                ProcOp::Exit { proc } => {
                    let name = PROCS[proc];
                    let res = p.exit(name);
                    match r.procs.remove(name) {
                        None => prop_assert_eq!(res, Err(Errno::EBADF)),
                        Some(h) => {
                            r.exited.insert(name);
                            let want: Vec<SocketId> =
                                h.into_iter().filter(|id| r.count(*id) == 0).collect();
                            prop_assert_eq!(&res, &Ok(want.clone()));
                            report(&want, &mut last_closed);
                        }
                    }
                }
                ProcOp::Start { proc } => {
                    let name = PROCS[proc];
                    let res = p.start(name);
                    if r.exited.contains(name) {
                        prop_assert_eq!(res, Err(Errno::EBADF));
                    } else {
                        prop_assert_eq!(res, Ok(()));
                        r.procs.entry(name).or_default();
                    }
                }
            }
            for name in PROCS {
                prop_assert_eq!(p.is_alive(name), r.procs.contains_key(name));
                prop_assert_eq!(p.has_exited(name), r.exited.contains(name));
                for id in &opened {
                    let held = r.procs.get(name).is_some_and(|h| h.contains(id));
                    prop_assert_eq!(p.holds(name, *id), held);
                }
            }
            for id in &opened {
                prop_assert_eq!(p.handle_count(*id), r.count(*id));
                let closed = last_closed.get(id).copied().unwrap_or(0);
                prop_assert_eq!(closed, u32::from(r.count(*id) == 0));
            }
        }
        // Every process exits: each socket has been reported last-closed exactly once.
        let alive: Vec<&str> = r.procs.keys().copied().collect();
        for name in alive {
            let h = r.procs.remove(name).unwrap();
            let want: Vec<SocketId> = h.into_iter().filter(|id| r.count(*id) == 0).collect();
            let got = p.exit(name);
            prop_assert_eq!(&got, &Ok(want.clone()));
            report(&want, &mut last_closed);
        }
        for id in &opened {
            prop_assert_eq!(p.handle_count(*id), 0);
            prop_assert_eq!(last_closed.get(id).copied(), Some(1), "{:?}", id);
        }
    }
}
