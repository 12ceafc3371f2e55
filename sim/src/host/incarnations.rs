//! [`Incarnations`]: how many times a host has used each 4-tuple, the incarnation number of
//! the next connection on it.

use std::net::SocketAddr;
use twsim_model::FourTuple;

/// Entries of one page, indexed by the low bits of a port.
const PAGE: usize = 256;

/// The last incarnation number of every IPv4 4-tuple a host has used (bounded by the
/// 4-tuples, not by the connections: a reused 4-tuple's counter is updated).
///
/// The 4-tuples that share their addresses and their lower port (with which end has it) form
/// a group; within it the higher port indexes a 65 536-entry array of counters kept in
/// 256-entry pages that are allocated when first used. A client's connections to one server
/// port, or a server port's connections from one client, are one group, and successive
/// ephemeral ports are neighbours in memory: 4 bytes a 4-tuple, read where the last one was,
/// rather than a random probe of a hash table that grows with every port used. Which group
/// and slot a 4-tuple has depends on the 4-tuple alone, so an active and a passive connection
/// on the same 4-tuple count together.
#[derive(Debug, Default)]
pub(super) struct Incarnations {
    /// Group key ([`Incarnations::group`]) → index into `groups`.
    index: crate::FixedMap<u128, u32>,
    groups: Vec<Group>,
    /// The group found last, (key, index): a host's connections mostly share one.
    last: Option<(u128, u32)>,
}

/// One group's counters: 256 pages of 256 counters, by the higher port.
#[derive(Debug)]
struct Group(Vec<Option<Box<[u32; PAGE]>>>);

impl Incarnations {
    /// The key of `t`'s group and its slot: the two addresses, the lower port and which end
    /// holds it; the higher port.
    ///
    /// # Panics
    ///
    /// On an IPv6 endpoint: the simulator only creates IPv4 endpoints.
    fn group(t: &FourTuple) -> (u128, u16) {
        let (SocketAddr::V4(l), SocketAddr::V4(r)) = (t.local, t.remote) else {
            unreachable!("the simulator only creates IPv4 endpoints")
        };
        let (lp, rp) = (l.port(), r.port());
        let (low, high, local_low) = if lp <= rp { (lp, rp, 1) } else { (rp, lp, 0) };
        let key = (u128::from(u32::from(*l.ip())) << 64)
            | (u128::from(u32::from(*r.ip())) << 32)
            | (u128::from(low) << 1)
            | local_low;
        (key, high)
    }

    /// Counts one more connection on `t` and returns its incarnation number (1 for the first).
    pub(super) fn next(&mut self, t: &FourTuple) -> u32 {
        let (key, slot) = Self::group(t);
        let g = match self.last {
            Some((k, g)) if k == key => g,
            _ => {
                let n = self.groups.len() as u32;
                let g = *self.index.entry(key).or_insert(n);
                if g == n {
                    self.groups.push(Group(Vec::new()));
                }
                self.last = Some((key, g));
                g
            }
        };
        let pages = &mut self.groups[g as usize].0;
        let p = usize::from(slot) / PAGE;
        if pages.len() <= p {
            pages.resize_with(p + 1, || None);
        }
        let page = pages[p].get_or_insert_with(|| Box::new([0; PAGE]));
        let n = &mut page[usize::from(slot) % PAGE];
        *n += 1;
        *n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(l: &str, r: &str) -> FourTuple {
        FourTuple::new(l.parse().unwrap(), r.parse().unwrap())
    }

    #[test]
    fn each_4_tuple_counts_alone_from_either_end() {
        let mut inc = Incarnations::default();
        let client = t("10.0.0.1:40000", "10.0.0.2:80");
        assert_eq!(inc.next(&client), 1);
        assert_eq!(inc.next(&client), 2);
        // Neighbouring ports, the same ports the other way round, other addresses: apart.
        for other in [
            t("10.0.0.1:40001", "10.0.0.2:80"),
            t("10.0.0.1:80", "10.0.0.2:40000"),
            t("10.0.0.1:40000", "10.0.0.3:80"),
            t("10.0.0.9:40000", "10.0.0.2:80"),
            t("10.0.0.1:40000", "10.0.0.2:81"),
            t("10.0.0.1:80", "10.0.0.2:80"),
            t("10.0.0.1:0", "10.0.0.2:65535"),
            t("10.0.0.1:65535", "10.0.0.2:0"),
        ] {
            assert_eq!(inc.next(&other), 1, "{other:?}");
        }
        // The same 4-tuple after the others, e.g. accepted this time: the count goes on.
        assert_eq!(inc.next(&client), 3);
        assert_eq!(inc.next(&t("10.0.0.1:80", "10.0.0.2:80")), 2);
    }
}
