//! The store against a sorted set, and the slab's layout.

use super::*;
use crate::table::{Entry, SockOptions, TableState};
use std::collections::BTreeSet;

#[test]
fn a_record_is_88_bytes() {
    assert_eq!(std::mem::size_of::<Rec>(), 88);
}

fn owner() -> Owner {
    let e = Entry {
        local: Some("10.0.0.1:40000".parse().unwrap()),
        state: TableState::Unbound,
        opts: SockOptions::default(),
        uid: 0,
        port_by_connect: true,
        port_locked: false,
        bound_addr: Some("0.0.0.0:40000".parse().unwrap()),
        accepted_from: None,
        connected_before: true,
    };
    Owner::of(&e, e.opts)
}

/// Random inserts (deadlines in and out of order), restarts, removals and expiries,
/// against a sorted set of (deadline, id): lookups, port lists, the earliest deadline and
/// the order of what is due agree after every step, and slots are reused.
#[test]
fn agrees_with_a_sorted_set() {
    let mut x = 0x2545_f491u32;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    // More lengths than `LENGTHS_SCANNED`: lists are found both by the scan and by the index.
    let lengths = [
        1_000_000u64,
        2_000_000,
        60_000_000,
        3_000_000,
        4_000_000,
        5_000_000,
    ]
    .map(Duration::from_micros);
    let mut store = TwStore::default();
    let mut model: BTreeMap<SocketId, TimeWaitRecord> = BTreeMap::new();
    let mut now = Instant::ZERO;
    let mut next_id = 1u32;
    let mut most_lists = 0;
    for step in 0..20_000 {
        match next() % 10 {
            0..=4 => {
                let local: SocketAddr = format!("10.0.0.{}:{}", 1 + next() % 2, 1000 + next() % 40)
                    .parse()
                    .unwrap();
                let remote: SocketAddr = format!("[2001:db8::{}]:80", next() % 5).parse().unwrap();
                let tuple = FourTuple::new(local, remote);
                if model.values().any(|r| r.tuple == tuple) {
                    continue;
                }
                // Mostly the first three, so that lists empty and are reused.
                let length = lengths[(next() % if step % 1000 < 500 { 3 } else { 6 }) as usize];
                let base = TimeWaitRecord::new(
                    tuple,
                    step,
                    SeqNum(next()),
                    SeqNum(next()),
                    65535,
                    now,
                    length,
                )
                .with_ts_recent((next() % 2 == 0).then_some(TsVal(next())));
                // Most deadlines are entered_at + length; some come back earlier (a
                // reopened record's original deadline) or later.
                let expires = match next() % 4 {
                    0 => Instant::from_micros(
                        now.micros().saturating_sub(u64::from(next() % 3_000_000)),
                    ),
                    1 => now + Duration::from_micros(u64::from(next() % 90_000_000)),
                    _ => now + length,
                };
                let r = TimeWaitRecord::from_parts(base, expires, 0, None);
                let id = SocketId(next_id);
                next_id += 1;
                store.insert(id, &r, owner());
                model.insert(id, r);
            }
            5 | 6 if !model.is_empty() => {
                let id = *model.keys().nth(next() as usize % model.len()).unwrap();
                let r = model.get_mut(&id).unwrap();
                *r = TimeWaitRecord::from_parts(
                    r.clone(),
                    now + r.length,
                    r.restarts() + 1,
                    Some(now),
                );
                store.update(store.slot_of(id).unwrap(), r);
            }
            7 if !model.is_empty() => {
                let id = *model.keys().nth(next() as usize % model.len()).unwrap();
                let slot = store.slot_of(id).unwrap();
                let r = store.record(slot);
                let (got, _) = store.remove(slot);
                assert_eq!((got, r), (id, model.remove(&id).unwrap()));
            }
            _ => {
                now += Duration::from_micros(u64::from(next() % 700_000));
                let want: BTreeSet<(Instant, SocketId)> = model
                    .iter()
                    .filter(|(_, r)| r.expires_at() <= now)
                    .map(|(id, r)| (r.expires_at(), *id))
                    .collect();
                let due = store.due(now);
                let got: Vec<(Instant, SocketId)> = due.iter().map(|&(t, id, _)| (t, id)).collect();
                assert_eq!(got, want.into_iter().collect::<Vec<_>>(), "step {step}");
                for (_, id, slot) in due {
                    assert_eq!(store.record(slot), model.remove(&id).unwrap());
                    store.remove(slot);
                }
            }
        }
        assert_eq!(store.len(), model.len());
        // Every list is indexed under its length (what the scan of `length_index` relies on).
        assert_eq!(store.length_ix.len(), store.lengths.len());
        most_lists = most_lists.max(store.lengths.len());
        for (i, l) in (0u32..).zip(&store.lengths) {
            assert_eq!(store.length_ix.get(&l.length), Some(&i));
        }
        assert_eq!(
            store.earliest(),
            model.values().map(|r| r.expires_at()).min()
        );
        let ids: Vec<SocketId> = store.by_socket_id().into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, model.keys().copied().collect::<Vec<_>>());
        for (id, r) in &model {
            let slot = store.slot_of(*id).unwrap();
            assert_eq!(store.slot_of_tuple(&r.tuple), Some(slot));
            assert_eq!(&store.record(slot), r);
            assert_eq!(store.local(slot), r.tuple.local);
        }
        for port in 1000..1040 {
            let mut got: Vec<SocketId> = store.on_port(port).map(|s| store.id(s)).collect();
            got.sort();
            let want: Vec<SocketId> = model
                .iter()
                .filter(|(_, r)| r.tuple.local.port() == port)
                .map(|(id, _)| *id)
                .collect();
            assert_eq!(got, want, "port {port}");
        }
    }
    assert!(most_lists > LENGTHS_SCANNED, "{most_lists} lists");
    // At most 2 × 5 × 40 records live at once: freed slots were reused.
    assert!(store.slab.used <= 400, "{} slots", store.slab.used);
}

#[test]
fn slots_map_onto_growing_chunks() {
    assert_eq!(locate(0), (0, 0));
    assert_eq!(locate(15), (0, 15));
    assert_eq!(locate(16), (1, 0));
    assert_eq!(locate(1007), (5, 511));
    assert_eq!(locate(1008), (6, 0));
    assert_eq!(locate(1008 + 743), (6, 743));
    assert_eq!(locate(1008 + 744 + 5), (7, 5));
}
