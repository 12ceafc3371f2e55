//! The table harness: applies one operation, computes what the table should have answered,
//! and checks the invariants.

use super::*;

/// The free ports of an ephemeral range, given the blocked ones.
struct FreePorts {
    range: PortRange,
    blocked: BTreeSet<u16>,
}

impl FreePorts {
    fn new(range: PortRange, blocked: BTreeSet<u16>) -> Self {
        FreePorts { range, blocked }
    }
    fn contains(&self, port: u16) -> bool {
        self.range.contains(port) && !self.blocked.contains(&port)
    }
    /// How many free ports have `port % 2 == parity`.
    fn count(&self, parity: Option<u16>) -> usize {
        let fits = |p: u16| parity.is_none_or(|k| p % 2 == k);
        let all = (self.range.first..=self.range.last)
            .filter(|p| fits(*p))
            .count();
        let blocked = self
            .blocked
            .range(self.range.first..=self.range.last)
            .filter(|p| fits(**p))
            .count();
        all - blocked
    }
}

/// Drives one table through a sequence of operations, checking every result.
pub(crate) struct TableHarness {
    table: AddressTable,
    ids: Vec<SocketId>,
    now: Instant,
    /// When each socket last got its local address (an operation counter): which of two
    /// sockets bound first, as the Windows tables ask.
    bound_at: BTreeMap<SocketId, u64>,
    steps: u64,
}

impl TableHarness {
    pub(crate) fn new(profile: Profile, tiny_range: bool) -> Self {
        let mut cfg = profile.config();
        if tiny_range {
            cfg.ephemeral = PortRange {
                first: 40000,
                last: 40009,
            };
        }
        let host = vec![ip("127.0.0.1"), ip("10.0.0.1"), ip("::1")];
        TableHarness {
            table: AddressTable::new(cfg, host),
            ids: Vec::new(),
            now: Instant::ZERO,
            bound_at: BTreeMap::new(),
            steps: 0,
        }
    }

    fn pick(&self, sock: usize) -> Option<SocketId> {
        let n = self.ids.len();
        (n > 0).then(|| self.ids[n - 1 - sock % n])
    }

    fn range(&self) -> PortRange {
        self.table.config().ephemeral
    }

    fn linux(&self) -> bool {
        self.table.config().bind == BindRules::Linux
    }

    fn live(&self) -> Vec<(SocketId, Entry)> {
        self.ids
            .iter()
            .filter_map(|id| self.table.get(*id).map(|e| (*id, e)))
            .collect()
    }

    /// The ports of the ephemeral range `bind(port 0)` may pick for a socket with `v6only` on
    /// `ip`: nothing overlapping is on them (Linux `inet_csk_find_open_port`, relax = false).
    fn bind_free_ports(&self, ip: IpAddr, v6only: bool) -> FreePorts {
        let blocked = self
            .live()
            .iter()
            .filter_map(|(_, e)| {
                e.local
                    .filter(|l| overlaps(ip, v6only, l.ip(), e.opts.v6only))
            })
            .map(|l| l.port())
            .collect();
        FreePorts::new(self.range(), blocked)
    }

    /// The ports an automatic connect from `src` to `remote` may use (Linux
    /// `__inet_hash_connect`: no bind owner and a free 4-tuple; BSD: nothing overlapping).
    fn connect_free_ports(&self, src: IpAddr, remote: SocketAddr) -> FreePorts {
        let linux = self.linux();
        let blocked = self
            .live()
            .iter()
            .filter_map(|(_, e)| {
                let l = e.local?;
                let same_tuple = matches!(e.state, TableState::Connected { remote: r } if r == remote)
                    || matches!(&e.state, TableState::TimeWait(tw) if tw.tuple.remote == remote);
                let blocks = if linux {
                    !e.port_by_connect || (same_tuple && l.ip() == src)
                } else {
                    overlaps(l.ip(), e.opts.v6only, src, false)
                };
                blocks.then_some(l.port())
            })
            .collect();
        FreePorts::new(self.range(), blocked)
    }

    pub(crate) fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        self.steps += 1;
        let was_local: BTreeMap<SocketId, Option<SocketAddr>> =
            self.live().iter().map(|(id, e)| (*id, e.local)).collect();
        self.apply_op(op)?;
        // Record sockets that just got a local address.
        let fresh: Vec<SocketId> = self
            .live()
            .iter()
            .filter(|(id, e)| e.local.is_some() && was_local.get(id).copied().flatten().is_none())
            .map(|(id, _)| *id)
            .collect();
        for id in fresh {
            self.bound_at.insert(id, self.steps);
        }
        Ok(())
    }

    fn apply_op(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match *op {
            Op::Socket {
                uid,
                ra,
                rp,
                ex,
                v6only,
            } => {
                let id = self.table.socket(uid);
                prop_assert!(self.ids.iter().all(|i| *i < id), "ids are never reused");
                self.ids.push(id);
                prop_assert_eq!(
                    self.table.get(id).map(|e| e.state),
                    Some(TableState::Unbound)
                );
                let opts = SockOptions {
                    reuseaddr: ra,
                    reuseport: rp,
                    v6only,
                    linger_secs: None,
                    exclusiveaddruse: ex,
                };
                prop_assert_eq!(self.table.set_options(id, opts), Ok(()));
            }
            Op::SetOpts {
                sock,
                ra,
                rp,
                ex,
                v6only,
            } => {
                let Some(id) = self.pick(sock) else {
                    return Ok(());
                };
                // Options are set before bind, as programs do: the invariants compare
                // options as they were when the address was checked.
                if self
                    .table
                    .get(id)
                    .is_some_and(|e| e.state == TableState::Unbound)
                {
                    let opts = SockOptions {
                        reuseaddr: ra,
                        reuseport: rp,
                        v6only,
                        linger_secs: None,
                        exclusiveaddruse: ex,
                    };
                    prop_assert_eq!(self.table.set_options(id, opts), Ok(()));
                    prop_assert_eq!(self.table.get(id).unwrap().opts, opts);
                }
            }
            Op::Bind {
                sock,
                addr,
                port,
                hint,
            } => self.bind(sock, addr, port, hint)?,
            Op::Listen { sock, hint } => self.listen(sock, hint)?,
            Op::Connect {
                sock,
                src,
                remote,
                hint,
            } => self.connect(sock, src, remote, hint)?,
            Op::Accept { sock, local, peer } => self.accept(sock, local, peer)?,
            Op::EnterTimeWait { sock, len } => self.enter_time_wait(sock, len)?,
            Op::RetransmitFin { sock } => {
                let Some(id) = self.pick(sock) else {
                    return Ok(());
                };
                let before = self.table.time_wait(id);
                let fin = SegmentInfo {
                    seq: SeqNum(999),
                    ack: Some(SeqNum(5000)),
                    syn: false,
                    fin: true,
                    rst: false,
                    payload_len: 0,
                    tsval: None,
                };
                let d = self.table.time_wait_segment(id, &fin, self.now, false);
                match before {
                    None => prop_assert!(d.is_none()),
                    Some(r) => {
                        // Every profile restarts the timer on a retransmitted FIN, except XNU's
                        // (tcp_input clears the FIN before the TIME_WAIT arm).
                        let restarts = self.table.config().time_wait.restart
                            != twsim_model::time_wait::TimerRestart::Never;
                        prop_assert_eq!(d.map(|d| d.restarted), Some(restarts));
                        let after = self.table.time_wait(id).unwrap();
                        if restarts {
                            prop_assert_eq!(after.expires_at(), self.now + r.length);
                            prop_assert_eq!(after.restarts(), r.restarts() + 1);
                        } else {
                            prop_assert_eq!(after.expires_at(), r.expires_at());
                        }
                    }
                }
            }
            Op::Remove { sock } => {
                let Some(id) = self.pick(sock) else {
                    return Ok(());
                };
                let was_tw = self.table.time_wait(id);
                let tuple = connection_tuple(&self.table, id);
                let len = self.table.len();
                let existed = self.table.get(id).is_some();
                let r = self.table.remove(id);
                prop_assert_eq!(r, was_tw);
                prop_assert!(self.table.get(id).is_none());
                prop_assert_eq!(self.table.len(), len - usize::from(existed));
                if let Some(t) = tuple {
                    prop_assert_eq!(self.table.lookup_tuple(&t), None);
                }
            }
            Op::Disconnect { sock } => {
                let Some(id) = self.pick(sock) else {
                    return Ok(());
                };
                let before = self.table.get(id);
                let tuple = connection_tuple(&self.table, id);
                self.table.disconnected(id);
                let after = self.table.get(id);
                match before.as_ref().map(|e| &e.state) {
                    Some(TableState::Connected { .. }) => {
                        prop_assert_eq!(self.table.lookup_tuple(&tuple.unwrap()), None);
                        let e = after.unwrap();
                        // Only Linux releases a port that bind() did not lock.
                        let keeps = !self.linux() || before.as_ref().unwrap().port_locked;
                        prop_assert_eq!(e.local.is_some(), keeps);
                        prop_assert_eq!(
                            &e.state,
                            if keeps {
                                &TableState::Bound
                            } else {
                                &TableState::Unbound
                            }
                        );
                        prop_assert!(self
                            .table
                            .stale_address_objects()
                            .all(|(_, ids)| !ids.contains(&id)));
                    }
                    _ => prop_assert_eq!(after, before),
                }
            }
            Op::Advance { ms } => self.advance(Duration::from_millis(ms))?,
            Op::AdvanceToDeadline => {
                if let Some(t) = self.table.poll_timeout() {
                    self.advance(t.saturating_since(self.now))?;
                    prop_assert!(self.table.poll_timeout().is_none_or(|next| next > t));
                }
            }
        }
        Ok(())
    }

    fn bind(
        &mut self,
        sock: usize,
        addr: usize,
        port: usize,
        hint: u32,
    ) -> Result<(), TestCaseError> {
        let Some(id) = self.pick(sock) else {
            return Ok(());
        };
        let range = self.range();
        let port = [0, 80, 8080, range.first, range.first + 1][port];
        let addr = SocketAddr::new(ip(BIND_ADDRS[addr]), port);
        let Some(e) = self.table.get(id) else {
            prop_assert_eq!(self.table.bind(id, addr, hint), Err(Errno::EBADF));
            return Ok(());
        };
        let predicted = self.table.check_bind(addr, e.opts, e.uid);
        let free = self.bind_free_ports(addr.ip(), e.opts.v6only);
        let r = self.table.bind(id, addr, hint);
        if addr.ip() == ip("10.9.9.9") {
            // Linux `__inet_bind`: the address is checked before the socket's state.
            prop_assert_eq!(r, Err(Errno::EADDRNOTAVAIL));
        } else if e.local.is_some() {
            prop_assert_eq!(r, Err(Errno::EINVAL));
        } else if port != 0 {
            // check_bind answers exactly what bind then does.
            prop_assert_eq!(r.map(|_| ()), predicted);
            if let Ok(a) = r {
                prop_assert_eq!(a, addr);
            }
        } else {
            match r {
                Ok(a) => {
                    prop_assert_eq!(a.ip(), addr.ip());
                    prop_assert!(free.contains(a.port()), "{} was not free", a);
                    if self.linux() && free.count(Some(1)) > 0 {
                        prop_assert_eq!(a.port() % 2, 1, "odd ports first");
                    }
                }
                Err(err) => {
                    prop_assert_eq!(err, Errno::EADDRINUSE);
                    prop_assert_eq!(free.count(None), 0, "a port was free");
                }
            }
        }
        if let Ok(a) = r {
            let e = self.table.get(id).unwrap();
            prop_assert_eq!(e.local, Some(a));
            prop_assert_eq!(&e.state, &TableState::Bound);
        }
        Ok(())
    }

    fn listen(&mut self, sock: usize, hint: u32) -> Result<(), TestCaseError> {
        let Some(id) = self.pick(sock) else {
            return Ok(());
        };
        let before = self.table.get(id);
        let any_free = before.as_ref().is_some_and(|e| {
            self.bind_free_ports(ip("0.0.0.0"), e.opts.v6only)
                .count(None)
                > 0
        });
        let r = self.table.listen(id, hint);
        let accepted = before
            .as_ref()
            .is_some_and(|e| e.accepted_from.is_some() || (e.connected_before && !self.linux()));
        match before.as_ref().map(|e| &e.state) {
            None => prop_assert_eq!(r, Err(Errno::EBADF)),
            Some(_) if accepted => prop_assert_eq!(r, Err(Errno::EINVAL)),
            Some(TableState::Connected { .. } | TableState::TimeWait(_)) => {
                prop_assert_eq!(r, Err(Errno::EINVAL))
            }
            Some(TableState::Listen) => prop_assert_eq!(r, Ok(before.unwrap().local.unwrap())),
            Some(TableState::Unbound) => match r {
                Ok(a) => {
                    prop_assert!(self.range().contains(a.port()));
                    prop_assert!(a.ip().is_unspecified());
                }
                Err(err) => {
                    prop_assert_eq!(err, Errno::EADDRINUSE);
                    prop_assert!(!any_free, "listen failed with a free port");
                }
            },
            Some(TableState::Bound) => {
                if r.is_err() {
                    prop_assert_eq!(r, Err(Errno::EADDRINUSE));
                    prop_assert!(self.linux(), "BSD listen() does not re-check");
                    prop_assert_eq!(&self.table.get(id).unwrap().state, &TableState::Bound);
                }
            }
        }
        if let Ok(a) = r {
            let e = self.table.get(id).unwrap();
            prop_assert_eq!(e.local, Some(a));
            prop_assert_eq!(&e.state, &TableState::Listen);
        }
        Ok(())
    }

    fn connect(
        &mut self,
        sock: usize,
        src: usize,
        remote: usize,
        hint: u32,
    ) -> Result<(), TestCaseError> {
        let Some(id) = self.pick(sock) else {
            return Ok(());
        };
        let src = ip(SRC_ADDRS[src]);
        let remote = sa(REMOTES[remote]);
        let before = self.table.get(id);
        if let Some(l) = before.as_ref().and_then(|e| e.local) {
            // A socket bound to a specific IPv6 address does not connect to IPv4 peers.
            if l.is_ipv6() && !l.ip().is_unspecified() {
                return Ok(());
            }
        }
        let usable = self.connect_free_ports(src, remote);
        let r = self.table.connect(id, src, remote, hint, self.now);
        match before.as_ref().map(|e| &e.state) {
            None => prop_assert_eq!(r, Err(Errno::EBADF)),
            Some(TableState::Connected { .. } | TableState::TimeWait(_)) => {
                prop_assert_eq!(r, Err(Errno::EISCONN))
            }
            Some(TableState::Listen) => {
                let want = match self.table.config().bind {
                    BindRules::Linux => Errno::EISCONN,
                    BindRules::Bsd => Errno::EOPNOTSUPP,
                    _ => Errno::EINVAL,
                };
                prop_assert_eq!(r, Err(want))
            }
            Some(TableState::Bound) => {
                let l = before.unwrap().local.unwrap();
                let want = if l.ip().is_unspecified() {
                    SocketAddr::new(src, l.port())
                } else {
                    l
                };
                match r {
                    Ok(got) => prop_assert_eq!(got, want),
                    Err(e) => {
                        prop_assert_eq!(e, Errno::EADDRNOTAVAIL);
                        prop_assert!(self
                            .table
                            .lookup_tuple(&FourTuple::new(want, remote))
                            .is_some());
                    }
                }
            }
            Some(TableState::Unbound) => match r {
                Ok(got) => {
                    prop_assert_eq!(got.ip(), src);
                    prop_assert!(usable.contains(got.port()), "{} was not usable", got);
                    if self.linux() && usable.count(Some(0)) > 0 {
                        prop_assert_eq!(got.port() % 2, 0, "even ports first");
                    }
                    prop_assert!(self.table.get(id).unwrap().port_by_connect);
                }
                Err(e) => {
                    prop_assert_eq!(e, Errno::EADDRNOTAVAIL);
                    prop_assert_eq!(usable.count(None), 0, "a port was usable");
                }
            },
        }
        if let Ok(l) = r {
            let e = self.table.get(id).unwrap();
            prop_assert_eq!(e.local, Some(l));
            prop_assert_eq!(&e.state, &TableState::Connected { remote });
            prop_assert_eq!(
                self.table.lookup_tuple(&FourTuple::new(l, remote)),
                Some(id)
            );
        }
        Ok(())
    }

    fn accept(&mut self, sock: usize, local: usize, peer: usize) -> Result<(), TestCaseError> {
        let Some(id) = self.pick(sock) else {
            return Ok(());
        };
        let Some(parent) = self.table.get(id) else {
            return Ok(());
        };
        if parent.state != TableState::Listen {
            return Ok(());
        }
        let l = parent.local.unwrap();
        let locals: Vec<IpAddr> = if l.ip().is_unspecified() {
            CHILD_LOCALS
                .iter()
                .map(|s| ip(s))
                .filter(|c| overlaps(l.ip(), parent.opts.v6only, *c, false))
                .collect()
        } else {
            vec![l.ip()]
        };
        if locals.is_empty() {
            return Ok(());
        }
        let local = SocketAddr::new(locals[local % locals.len()], l.port());
        let peers: Vec<SocketAddr> = PEERS
            .iter()
            .map(|s| sa(s))
            .filter(|p| p.is_ipv4() == local.is_ipv4())
            .collect();
        let tuple = FourTuple::new(local, peers[peer % peers.len()]);
        let taken = self.table.lookup_tuple(&tuple).is_some();
        match self.table.accept_child(id, tuple) {
            Ok(child) => {
                prop_assert!(!taken);
                self.ids.push(child);
                let e = self.table.get(child).unwrap();
                prop_assert_eq!(e.opts, parent.opts, "the child inherits the options");
                prop_assert_eq!(e.uid, parent.uid);
                prop_assert_eq!(e.local, Some(local));
                prop_assert_eq!(self.table.lookup_tuple(&tuple), Some(child));
            }
            Err(e) => {
                prop_assert!(taken);
                prop_assert_eq!(e, Errno::EADDRNOTAVAIL);
            }
        }
        Ok(())
    }

    fn enter_time_wait(&mut self, sock: usize, len: usize) -> Result<(), TestCaseError> {
        let Some(id) = self.pick(sock) else {
            return Ok(());
        };
        let length = Duration::from_millis(TW_LENGTHS_MS[len]);
        let connected = self
            .table
            .get(id)
            .is_some_and(|e| matches!(e.state, TableState::Connected { .. }));
        let Some(tuple) = connection_tuple(&self.table, id).filter(|_| connected) else {
            let r = self.table.enter_time_wait(
                id,
                tw_record(
                    FourTuple::new(sa("127.0.0.1:1"), sa("127.0.0.1:2")),
                    self.now,
                    length,
                ),
            );
            let want = if self.table.get(id).is_some() {
                Errno::EINVAL
            } else {
                Errno::EBADF
            };
            prop_assert_eq!(r, Err(want));
            return Ok(());
        };
        let mut wrong = tuple;
        wrong.remote.set_port(wrong.remote.port() ^ 1);
        let r = self
            .table
            .enter_time_wait(id, tw_record(wrong, self.now, length));
        prop_assert_eq!(r, Err(Errno::EINVAL));
        let r = self
            .table
            .enter_time_wait(id, tw_record(tuple, self.now, length));
        prop_assert_eq!(r, Ok(()));
        let rec = self.table.time_wait(id).unwrap();
        prop_assert_eq!(rec.expires_at(), self.now + length);
        prop_assert_eq!(self.table.lookup_tuple(&tuple), Some(id));
        Ok(())
    }

    fn advance(&mut self, by: Duration) -> Result<(), TestCaseError> {
        let t = self.now + by;
        self.now = t;
        let live = self.live();
        let due: BTreeSet<SocketId> = self
            .table
            .time_wait_records()
            .filter(|(_, r)| r.expires_at() <= t)
            .map(|(id, _)| id)
            .collect();
        // Ports whose only holders are TIME-WAIT records about to expire.
        let mut holders: BTreeMap<u16, Vec<SocketId>> = BTreeMap::new();
        for (id, e) in &live {
            if let Some(l) = e.local {
                holders.entry(l.port()).or_default().push(*id);
            }
        }
        let freed: Vec<u16> = holders
            .iter()
            .filter(|(_, ids)| ids.iter().all(|id| due.contains(id)))
            .map(|(p, _)| *p)
            .collect();
        let ended = self.table.handle_timeout(t);
        let ended_ids: BTreeSet<SocketId> = ended.iter().map(|(id, _, _)| *id).collect();
        prop_assert_eq!(&ended_ids, &due);
        prop_assert_eq!(ended.len(), due.len());
        prop_assert!(ended
            .windows(2)
            .all(|w| w[0].1.expires_at() <= w[1].1.expires_at()));
        for (id, r, why) in &ended {
            prop_assert_eq!(*why, EndReason::Expired);
            prop_assert!(r.expires_at() <= t);
            prop_assert!(self.table.get(*id).is_none());
            prop_assert_eq!(self.table.lookup_tuple(&r.tuple), None);
        }
        // (3) nothing due remains, and freed ports are bindable without SO_REUSEADDR.
        prop_assert!(self
            .table
            .time_wait_records()
            .all(|(_, r)| r.expires_at() > t));
        for p in freed {
            for any in ["0.0.0.0", "::"] {
                let a = SocketAddr::new(ip(any), p);
                prop_assert_eq!(
                    self.table.check_bind(a, SockOptions::default(), 7),
                    Ok(()),
                    "{}",
                    a
                );
            }
        }
        // Calling again at the same time is harmless.
        prop_assert!(self.table.handle_timeout(t).is_empty());
        Ok(())
    }

    pub(crate) fn check_invariants(&self) -> Result<(), TestCaseError> {
        let live = self.live();
        prop_assert_eq!(live.len(), self.table.len());
        // (1) no two listeners on overlapping addresses, except a SO_REUSEPORT group of one
        // uid or where the profile's rules let them share: BSD and Solaris compare only equal
        // addresses (a wildcard and a specific listener may coexist); the Windows tables let
        // a SO_REUSEADDR socket bind over a listener (classic: the later one needs
        // SO_REUSEADDR and neither SO_EXCLUSIVEADDRUSE; Server 2003: on an equal address
        // both need SO_REUSEADDR); smoltcp shares anything.
        let rules = self.table.config().bind;
        let listeners: Vec<&(SocketId, Entry)> = live
            .iter()
            .filter(|(_, e)| e.state == TableState::Listen)
            .collect();
        for (i, (a, ea)) in listeners.iter().enumerate() {
            for (b, eb) in &listeners[i + 1..] {
                let (la, lb) = (ea.local.unwrap(), eb.local.unwrap());
                if la.port() != lb.port() {
                    continue;
                }
                let overlap = overlaps(la.ip(), ea.opts.v6only, lb.ip(), eb.opts.v6only);
                let equal = la.ip() == lb.ip();
                let group = ea.opts.reuseport && eb.opts.reuseport && ea.uid == eb.uid;
                let (first, second) = if self.bound_at[a] <= self.bound_at[b] {
                    (ea.opts, eb.opts)
                } else {
                    (eb.opts, ea.opts)
                };
                let windows_shared = |both_ra: bool| {
                    second.reuseaddr
                        && !second.exclusiveaddruse
                        && !first.exclusiveaddruse
                        && (first.reuseaddr || !both_ra)
                };
                let allowed = match rules {
                    BindRules::Linux => !overlap || group,
                    BindRules::Bsd => !equal || group,
                    BindRules::Solaris => !equal,
                    BindRules::WindowsClassic => !overlap || windows_shared(false),
                    BindRules::Windows2003 => !equal || windows_shared(true),
                    BindRules::Smoltcp => true,
                };
                prop_assert!(
                    allowed,
                    "{:?} {} and {:?} {} both listen under {:?}",
                    a,
                    la,
                    b,
                    lb,
                    rules
                );
            }
        }
        // (2) every 4-tuple has one owner, and the index agrees.
        let mut tuples: BTreeMap<FourTuple, SocketId> = BTreeMap::new();
        for (id, e) in &live {
            let t = match &e.state {
                TableState::Connected { remote } => FourTuple::new(e.local.unwrap(), *remote),
                TableState::TimeWait(r) => {
                    prop_assert_eq!(Some(r.tuple.local), e.local);
                    r.tuple
                }
                _ => continue,
            };
            if let Some(prev) = tuples.insert(t, *id) {
                prop_assert!(false, "{} held by {:?} and {:?}", t, prev, id);
            }
            prop_assert_eq!(self.table.lookup_tuple(&t), Some(*id));
        }
        // (4) poll_timeout is the earliest TIME-WAIT deadline.
        let earliest = self
            .table
            .time_wait_records()
            .map(|(_, r)| r.expires_at())
            .min();
        prop_assert_eq!(self.table.poll_timeout(), earliest);
        // (5) KB Q177074 bookkeeping: only where the profile has the bug, and only live
        // accepted connections keep a stale address object.
        for (addr, ids) in self.table.stale_address_objects() {
            prop_assert!(self.table.config().stale_listener_refuses);
            prop_assert!(!ids.is_empty());
            for id in ids {
                let e = self.table.get(*id);
                prop_assert!(
                    e.is_some_and(|e| matches!(e.state, TableState::Connected { .. })
                        && e.accepted_from.is_some()
                        && e.bound_addr == Some(addr)),
                    "{:?} keeps {} stale",
                    id,
                    addr
                );
            }
        }
        // (6) the listener choice stays among the listeners the table reports.
        for local in CHILD_LOCALS.iter().map(|s| ip(s)) {
            for port in [80, 8080, self.range().first, self.range().first + 1] {
                self.check_choice(SocketAddr::new(local, port))?;
            }
        }
        Ok(())
    }

    fn check_choice(&self, local: SocketAddr) -> Result<(), TestCaseError> {
        let remote = if local.is_ipv4() {
            sa("10.0.0.2:50000")
        } else {
            sa("[::1]:50000")
        };
        let found = self.table.listeners_for(local);
        let stale = self
            .table
            .stale_address_objects()
            .any(|(a, _)| a.port() == local.port() && overlaps(a.ip(), false, local.ip(), false));
        let best_ip = found
            .first()
            .map(|id| self.table.get(*id).unwrap().local.unwrap().ip());
        let mut picked = BTreeSet::new();
        for rand in 0..4u32 {
            match self.table.clone().choose_listener(local, remote, rand) {
                ListenerVerdict::Refuse { .. } => prop_assert!(stale),
                ListenerVerdict::None => prop_assert!(!stale && found.is_empty()),
                ListenerVerdict::Listener(id) => {
                    prop_assert!(!stale);
                    prop_assert!(found.contains(&id), "{:?} does not listen on {}", id, local);
                    let e = self.table.get(id).unwrap();
                    match self.table.config().listener_choice {
                        ListenerChoice::Exact => prop_assert_eq!(id, found[0]),
                        ListenerChoice::FirstCreated => {
                            prop_assert_eq!(Some(&id), found.iter().min())
                        }
                        ListenerChoice::Random | ListenerChoice::ReuseportHash => {
                            prop_assert_eq!(Some(e.local.unwrap().ip()), best_ip)
                        }
                    }
                    picked.insert(id);
                }
            }
        }
        // Random: every best listener is reachable (four draws cover up to four).
        if self.table.config().listener_choice == ListenerChoice::Random && !stale {
            let tier = found
                .iter()
                .filter(|id| Some(self.table.get(**id).unwrap().local.unwrap().ip()) == best_ip)
                .count();
            prop_assert_eq!(picked.len(), tier.min(4));
        }
        Ok(())
    }
}
