//! Lookup: the owner of a 4-tuple, the listeners for a local endpoint, the profile's listener
//! choice, and the stale address objects of KB Q177074.

use super::*;

impl AddressTable {
    /// The socket that owns a live connection or TIME-WAIT record for `tuple`.
    pub fn lookup_tuple(&self, tuple: &FourTuple) -> Option<SocketId> {
        self.by_tuple
            .get(tuple)
            .copied()
            .or_else(|| self.tw.slot_of_tuple(tuple).map(|s| self.tw.id(s)))
    }

    /// The listeners that could take a SYN to `local`, best first: listeners on exactly
    /// `local`'s address before wildcard ones (Linux `inet_lhash2_lookup` looks up the exact
    /// address first), then, for an IPv4 destination, IPv4 listeners before IPv6 ones that
    /// accept IPv4 (`[::]`, `[::ffff:a.b.c.d]`: `compute_score` adds one for `PF_INET`),
    /// then by id. An IPv6 listener is one bound to an IPv6 address, v4-mapped included.
    pub fn listeners_for(&self, local: SocketAddr) -> Vec<SocketId> {
        let to_v4 = unmapped(local.ip()).is_ipv4();
        let mut found: Vec<(bool, bool, SocketId)> = self
            .listening
            .get(&local.port())
            .into_iter()
            .flatten()
            .filter_map(|id| {
                let e = &self.entries[id];
                let l = e.local?;
                let ok = overlaps(l.ip(), e.opts.v6only, local.ip(), false);
                ok.then_some((is_wildcard(l.ip()), to_v4 && l.is_ipv6(), *id))
            })
            .collect();
        found.sort();
        found.into_iter().map(|(_, _, id)| id).collect()
    }

    /// Which listener takes a connection request from `remote` to `local`, by the profile's
    /// [`ListenerChoice`]; `rand` is a random number the caller draws once per connection
    /// (used by [`ListenerChoice::Random`] only). The "best" listeners are those on the same
    /// address as the first of [`AddressTable::listeners_for`] (exact address before
    /// wildcard).
    ///
    /// With [`ProfileConfig::stale_listener_refuses`] (NT4, KB Q177074) a request to the
    /// address of a closed listener whose accepted connections still live is refused, whatever
    /// listener exists: "connection requests are validated against the old TCP/IP address
    /// object, which still has a NULL connect handler".
    pub fn choose_listener(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        rand: u32,
    ) -> ListenerVerdict {
        if !self.stale.is_empty() && self.stale_refuses(local) {
            return ListenerVerdict::Refuse { rule: Q177074_RULE };
        }
        // One listener on the port, the usual case: it is the best, alone in its tier and in
        // its SO_REUSEPORT group, so every choice takes it (but the random one, which also
        // remembers its pick), and no list is built.
        if self.cfg.listener_choice != ListenerChoice::Random {
            if let Some(id) = self.listening.get(&local.port()).and_then(IdSet::only) {
                let e = &self.entries[&id];
                let ok = e
                    .local
                    .is_some_and(|l| overlaps(l.ip(), e.opts.v6only, local.ip(), false));
                return if ok {
                    ListenerVerdict::Listener(id)
                } else {
                    ListenerVerdict::None
                };
            }
        }
        self.choose_among_listeners(local, remote, rand)
    }

    /// Whether a request to `local` meets the address object of a closed listener that still
    /// serves accepted connections (KB Q177074).
    #[cold]
    #[inline(never)]
    fn stale_refuses(&self, local: SocketAddr) -> bool {
        self.stale.iter().any(|(addr, conns)| {
            addr.port() == local.port()
                && !conns.is_empty()
                && overlaps(addr.ip(), false, local.ip(), false)
        })
    }

    /// [`AddressTable::choose_listener`] past its one-listener case: the listeners of `local`
    /// by the profile's [`ListenerChoice`].
    #[inline(never)]
    fn choose_among_listeners(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        rand: u32,
    ) -> ListenerVerdict {
        let found = self.listeners_for(local);
        let Some(&best) = found.first() else {
            return ListenerVerdict::None;
        };
        let b = &self.entries[&best];
        let best_ip = b.local.map(|l| l.ip());
        let tier = |also: &dyn Fn(&Entry) -> bool| -> Vec<SocketId> {
            found
                .iter()
                .copied()
                .filter(|id| {
                    let e = &self.entries[id];
                    e.local.map(|l| l.ip()) == best_ip && also(e)
                })
                .collect()
        };
        let chosen = match self.cfg.listener_choice {
            ListenerChoice::Exact => best,
            ListenerChoice::FirstCreated => *found.iter().min().expect("not empty"),
            ListenerChoice::Random => {
                // KB 307175: "only one random listening socket accepts a connection request".
                // The pick is drawn once and kept while that listener listens, so one of the
                // servers takes the connections (reading the KB as one server chosen at random,
                // not a coin toss per connection).
                let best_tier = tier(&|_| true);
                let key = SocketAddr::new(best_ip.unwrap_or(local.ip()), local.port());
                match self.sticky.get(&key) {
                    Some(id) if best_tier.contains(id) => *id,
                    _ => {
                        let id = best_tier[(rand % best_tier.len() as u32) as usize];
                        self.sticky.insert(key, id);
                        id
                    }
                }
            }
            ListenerChoice::ReuseportHash if b.opts.reuseport => {
                let group = tier(&|e| e.opts.reuseport && e.uid == b.uid);
                let n = group.len() as u64;
                let i = (u64::from(tuple_hash(local, remote)) * n) >> 32;
                group[i as usize]
            }
            ListenerChoice::ReuseportHash => best,
        };
        ListenerVerdict::Listener(chosen)
    }

    /// KB Q177074: the address objects of closed listeners that still serve accepted
    /// connections, by the listener's bound address, with the ids of those connections.
    pub fn stale_address_objects(&self) -> impl Iterator<Item = (SocketAddr, &BTreeSet<SocketId>)> {
        self.stale.iter().map(|(a, s)| (*a, s))
    }

    /// `id` no longer keeps a stale address object alive (KB Q177074: "once they all close,
    /// the original object is destroyed and normal operation resumes").
    #[inline]
    pub(super) fn forget_stale(&mut self, id: SocketId) {
        if !self.stale.is_empty() {
            self.forget_stale_in(id);
        }
    }

    /// [`AddressTable::forget_stale`] with closed listeners' address objects kept.
    #[inline(never)]
    fn forget_stale_in(&mut self, id: SocketId) {
        for conns in self.stale.values_mut() {
            conns.remove(&id);
        }
        self.stale.retain(|_, conns| !conns.is_empty());
    }
}

/// A fixed hash of a 4-tuple (32-bit FNV-1a over local address, local port, remote address,
/// remote port, big-endian). It stands in for Linux's keyed `inet_ehashfn`: the same 4-tuple
/// always gets the same listener, as in the kernel, but the numbers differ (the kernel's key
/// is random per boot).
pub fn tuple_hash(local: SocketAddr, remote: SocketAddr) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u32::from(*b);
            h = h.wrapping_mul(0x0100_0193);
        }
    };
    for a in [local, remote] {
        match a.ip() {
            IpAddr::V4(v4) => eat(&v4.octets()),
            IpAddr::V6(v6) => eat(&v6.octets()),
        }
        eat(&a.port().to_be_bytes());
    }
    h
}
