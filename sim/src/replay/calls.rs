//! The model replay's answer to each socket call, `connect` (which establishes at once or
//! fails as the real stack would) and `wait`.

use super::*;

impl Model {
    pub(super) fn call(
        &mut self,
        h: usize,
        proc: &str,
        call: &Call,
        timeout: Option<Duration>,
        starts: bool,
    ) -> Result<String, Errno> {
        if starts {
            // A process the script names first here starts with no handles.
            let _ = self.hosts[h].procs.start(proc);
        }
        if !self.hosts[h].procs.is_alive(proc) {
            return Err(Errno::EBADF);
        }
        match call {
            Call::Socket(name, family) => self.socket(h, proc, name, family),
            Call::SetSockOpt(name, o) => self.setsockopt(h, proc, name, o),
            Call::Bind(name, a) => self.bind(h, proc, name, a),
            Call::Listen(name, backlog) => self.listen(h, proc, name, backlog),
            Call::Connect(name, remote) => self.connect(h, proc, name, *remote, timeout),
            Call::Accept(name, new_name) => self.accept(h, proc, name, new_name, timeout),
            Call::Send(name, data) => self.send(h, proc, name, data),
            Call::Recv(name, max) => self.recv(h, proc, name, max, timeout),
            Call::Shutdown(name, _, write) => self.shutdown(h, proc, name, write),
            Call::Close(name) => self.close(h, proc, name),
            Call::Fork(child) => self.hosts[h].procs.fork(proc, child).map(|_| String::new()),
            Call::Exit => self.exit(h, proc),
            Call::Wait(w) => self.wait(h, w, timeout),
        }
    }

    /// `socket()`.
    fn socket(
        &mut self,
        h: usize,
        proc: &str,
        name: &str,
        family: &Family,
    ) -> Result<String, Errno> {
        let t = self.hosts[h].t;
        let host = &mut self.hosts[h];
        let id = self.tables[t].socket(0);
        host.procs.open(proc, id)?;
        host.names.insert(name.to_string(), id);
        host.socks.entry(id).or_default().opts = SockOptions::default();
        host.socks.entry(id).or_default().family = *family;
        Ok(String::new())
    }

    /// `setsockopt()`.
    fn setsockopt(
        &mut self,
        h: usize,
        proc: &str,
        name: &str,
        o: &SockOpt,
    ) -> Result<String, Errno> {
        let t = self.hosts[h].t;
        let id = self.held(h, proc, name)?;
        if let SockOpt::V6Only(_) = o {
            // Linux: an IPv6-level option on an IPv4 socket is ENOPROTOOPT
            // (`ip_setsockopt`); IPV6_V6ONLY once the socket has a port is EINVAL
            // (`do_ipv6_setsockopt`: `inet_num`).
            if self.family_of(h, id) != Family::Inet6 {
                return Err(Errno::ENOPROTOOPT);
            }
            if self.tables[t].get(id).is_some_and(|e| e.local.is_some()) {
                return Err(Errno::EINVAL);
            }
        }
        let host = &mut self.hosts[h];
        let opts = &mut host.socks.entry(id).or_default().opts;
        match *o {
            SockOpt::ReuseAddr(v) => opts.reuseaddr = v,
            SockOpt::ReusePort(v) => opts.reuseport = v,
            SockOpt::Linger(v) => opts.linger_secs = v,
            SockOpt::V6Only(v) => opts.v6only = v,
        }
        let opts = *opts;
        let _ = self.tables[t].set_options(id, opts);
        Ok(String::new())
    }

    /// `bind()`.
    fn bind(&mut self, h: usize, proc: &str, name: &str, a: &SocketAddr) -> Result<String, Errno> {
        let t = self.hosts[h].t;
        let id = self.held(h, proc, name)?;
        if let Some(e) = family_mismatch(self.family_of(h, id), *a) {
            return Err(e);
        }
        let host = &mut self.hosts[h];
        let hint = host.rng.next_u32();
        if !host_owns(host.addr, a.ip()) {
            // Another host's address (the table may know it when hosts share one).
            return Err(Errno::EADDRNOTAVAIL);
        }
        self.tables[t]
            .bind(id, *a, hint)
            .map(|a| format!("bound {a}"))
    }

    /// `listen()`.
    fn listen(&mut self, h: usize, proc: &str, name: &str, backlog: &u32) -> Result<String, Errno> {
        let t = self.hosts[h].t;
        let id = self.held(h, proc, name)?;
        // An unbound socket binds the wildcard of its own family (`inet_autobind`).
        let wildcard = match self.family_of(h, id) {
            Family::Inet => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Family::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        let host = &mut self.hosts[h];
        let hint = host.rng.next_u32();
        let a = self.tables[t].listen_with(id, hint, wildcard)?;
        host.listeners.entry(id).or_default().backlog = *backlog;
        Ok(format!("listening on {a}"))
    }

    /// `accept()`: the next ready connection, or EAGAIN at the deadline.
    fn accept(
        &mut self,
        h: usize,
        proc: &str,
        name: &str,
        new_name: &str,
        timeout: Option<Duration>,
    ) -> Result<String, Errno> {
        let id = self.held(h, proc, name)?;
        let host = &mut self.hosts[h];
        let l = host.listeners.get_mut(&id).ok_or(Errno::EINVAL)?;
        let Some(child) = l.ready.pop_front() else {
            self.advance(self.now + timeout.unwrap_or(DEFAULT_WAIT_TIMEOUT));
            return Err(Errno::EAGAIN);
        };
        let host = &mut self.hosts[h];
        host.procs.open(proc, child)?;
        host.names.insert(new_name.to_string(), child);
        let t = host
            .ends
            .get(&child)
            .map(|e| e.tuple.to_string())
            .unwrap_or_default();
        Ok(format!("accepted {t}"))
    }

    /// `send()`: the peer can read the bytes at once.
    fn send(&mut self, h: usize, proc: &str, name: &str, data: &[u8]) -> Result<String, Errno> {
        let id = self.held(h, proc, name)?;
        let view = self.conn_view(h, id);
        self.hosts[h].socks.entry(id).or_default().app.send(view)?;
        let end = self.hosts[h].ends.get(&id).cloned().ok_or(Errno::EPIPE)?;
        let (ph, pid) = end.peer;
        // RFC 1122 §4.2.2.13: data for a socket its application closed draws an RST
        // where the profile follows that SHOULD (Linux); RFC 793 queues it.
        let peer_gone = self.hosts[ph].socks.get(&pid).is_some_and(|s| s.closed)
            && self.hosts[ph].cfg.rst_on_close_with_unread;
        if let Some(pe) = self.hosts[ph].ends.get_mut(&pid) {
            pe.unread += data.len() as u64;
        }
        if peer_gone {
            // Data for a socket nobody will read: the peer answers with RST.
            self.reset_both(ph, pid);
        }
        Ok(format!("{} bytes queued", data.len()))
    }

    /// `recv()`, through the shared socket-call semantics.
    fn recv(
        &mut self,
        h: usize,
        proc: &str,
        name: &str,
        max: &Option<u32>,
        timeout: Option<Duration>,
    ) -> Result<String, Errno> {
        let id = self.held(h, proc, name)?;
        let view = self.conn_view(h, id);
        let host = &mut self.hosts[h];
        match host.socks.entry(id).or_default().app.recv(view)? {
            RecvOutcome::Read => {
                let end = host.ends.get_mut(&id).ok_or(Errno::ENOTCONN)?;
                let n = max.map_or(end.unread, |m| end.unread.min(u64::from(m)));
                end.unread -= n;
                Ok(format!("{n} bytes"))
            }
            RecvOutcome::Eof => Ok("end of stream".into()),
            RecvOutcome::Block => {
                self.advance(self.now + timeout.unwrap_or(DEFAULT_WAIT_TIMEOUT));
                Err(Errno::EAGAIN)
            }
        }
    }

    /// `shutdown()`.
    fn shutdown(
        &mut self,
        h: usize,
        proc: &str,
        name: &str,
        write: &bool,
    ) -> Result<String, Errno> {
        let id = self.held(h, proc, name)?;
        let view = self.conn_view(h, id);
        AppSocket::shutdown(view)?;
        if *write && !matches!(view, ConnView::Listener) {
            self.send_fin(h, id);
        }
        Ok(String::new())
    }

    /// `close()` of `proc`'s handle.
    fn close(&mut self, h: usize, proc: &str, name: &str) -> Result<String, Errno> {
        let id = *self.hosts[h].names.get(name).ok_or(Errno::EBADF)?;
        if self.hosts[h].procs.close(proc, id)? {
            self.last_close(h, id);
        }
        Ok(String::new())
    }

    /// `exit()`: every handle of `proc` closes.
    fn exit(&mut self, h: usize, proc: &str) -> Result<String, Errno> {
        for id in self.hosts[h].procs.exit(proc)? {
            self.last_close(h, id);
        }
        Ok(String::new())
    }

    pub(super) fn connect(
        &mut self,
        h: usize,
        proc: &str,
        name: &str,
        remote: SocketAddr,
        timeout: Option<Duration>,
    ) -> Result<String, Errno> {
        let id = self.held(h, proc, name)?;
        if self.hosts[h].listeners.contains_key(&id) {
            // The profile's answer for connect() on a listener; no port is drawn.
            let (t, src) = (self.hosts[h].t, IpAddr::V4(self.hosts[h].addr));
            let r = self.tables[t].connect(id, src, remote, 0, self.now);
            return Err(r.err().unwrap_or(Errno::EINVAL));
        }
        // Once connected, a socket stays SS_CONNECTED (`AppSocket::reconnect`).
        self.hosts[h].socks.entry(id).or_default().app.reconnect()?;
        let t = self.hosts[h].t;
        // The socket's state is checked before the address (`__inet_stream_connect`).
        let family = self.family_of(h, id);
        if let Some(e) = family_mismatch(family, remote) {
            return Err(e);
        }
        if family == Family::Inet6 {
            let v6only = self.hosts[h].socks.get(&id).is_some_and(|s| s.opts.v6only);
            let bound = self.tables[t].get(id).and_then(|e| e.local);
            if let Some(e) = inet6_connect_refusal(v6only, bound, remote) {
                return Err(e);
            }
        }
        let host = &mut self.hosts[h];
        let hint = host.rng.next_u32();
        // The source routing picks: the host's IPv4 address towards IPv4 (v4-mapped
        // included), ::1 towards IPv6 (loopback is the only IPv6 network here).
        let remote = unmapped_endpoint(remote);
        let src = match remote.ip() {
            IpAddr::V4(_) => IpAddr::V4(host.addr),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        };
        let local = self.tables[t].connect(id, src, remote, hint, self.now)?;
        // A recycled TIME-WAIT (Linux, timestamps, explicit bind + connect) is simply gone.
        let _ = self.tables[t].take_recycled();
        let tuple = FourTuple::new(local, remote);
        let deadline = timeout.unwrap_or(host.cfg.connect_timeout);
        let Some(sh) = self.host_of(h, remote.ip()) else {
            self.tables[self.hosts[h].t].disconnected(id);
            self.advance(self.now + deadline);
            return Err(Errno::ETIMEDOUT);
        };
        self.handshake(h, id, sh, tuple, deadline)
    }

    /// The other end of an instant `connect()` from socket `id` of host `h` to host `sh` over
    /// `tuple`: a TIME-WAIT record there is reopened, a listener is chosen by the profile, the
    /// accept queue must have room, and both ends are connected at once. The connect fails
    /// with ECONNREFUSED (no listener, or the profile refuses) or ETIMEDOUT at `deadline`
    /// (queue full, 4-tuple busy).
    fn handshake(
        &mut self,
        h: usize,
        id: SocketId,
        sh: usize,
        tuple: FourTuple,
        deadline: Duration,
    ) -> Result<String, Errno> {
        let server_tuple = tuple.reversed();
        if sh == h && server_tuple == tuple {
            // A socket connecting to its own address and port: its SYN reaches itself, a
            // simultaneous open with one socket at both ends (RFC 9293 §3.5, Figure 8; the
            // Linux kernel and the simulation both connect, no listener involved).
            self.hosts[h].ends.insert(
                id,
                End {
                    peer: (h, id),
                    tuple,
                    fin_sent: false,
                    fin_received: false,
                    unread: 0,
                    reset: false,
                    done: false,
                },
            );
            self.hosts[h].socks.entry(id).or_default().app.established = true;
            return Ok(format!("connected {tuple}"));
        }
        // A TIME-WAIT record on the server side for this 4-tuple: the new SYN reopens it
        // (RFC 1122 §4.2.2.13, Linux TCP_TW_SYN with a listener; RFC 793: ACK, RST, retry).
        if let Some(tw) = self.tables[self.hosts[sh].t].lookup_tuple(&server_tuple) {
            if self.tables[self.hosts[sh].t].time_wait(tw).is_some() {
                self.tables[self.hosts[sh].t].remove(tw);
            }
        }
        // The server host draws one number per SYN, as the simulator's host layer does.
        let r = self.hosts[sh].rng.next_u32();
        let listener = match self.tables[self.hosts[sh].t].choose_listener(
            server_tuple.local,
            server_tuple.remote,
            r,
        ) {
            twsim_model::ListenerVerdict::Listener(id) => Some(id),
            twsim_model::ListenerVerdict::None => None,
            twsim_model::ListenerVerdict::Refuse { .. } => {
                self.tables[self.hosts[h].t].disconnected(id);
                return Err(Errno::ECONNREFUSED);
            }
        };
        // With one table for every host (one kernel), the listener found may belong to another
        // host (a wildcard listener covers every local address): the connection goes to it.
        let sh = match listener {
            Some(lid) if self.shared => self
                .hosts
                .iter()
                .position(|x| x.listeners.contains_key(&lid))
                .unwrap_or(sh),
            _ => sh,
        };
        let Some(lid) = listener else {
            self.tables[self.hosts[h].t].disconnected(id);
            return Err(Errno::ECONNREFUSED);
        };
        let l = &self.hosts[sh].listeners[&lid];
        // Linux sk_acceptq_is_full admits backlog + 1 connections; other profiles `backlog`.
        if l.ready.len() as u32 >= self.hosts[sh].cfg.accept_queue_limit(l.backlog) {
            self.tables[self.hosts[h].t].disconnected(id);
            self.advance(self.now + deadline);
            return Err(Errno::ETIMEDOUT);
        }
        let child = match self.tables[self.hosts[sh].t].accept_child(lid, server_tuple) {
            Ok(c) => c,
            Err(_) => {
                // A live connection already holds the server's side of this 4-tuple: the SYN
                // is answered with a challenge ACK and the connect never completes.
                self.tables[self.hosts[h].t].disconnected(id);
                self.advance(self.now + deadline);
                return Err(Errno::ETIMEDOUT);
            }
        };
        let lopts = self.hosts[sh]
            .socks
            .get(&lid)
            .map(|s| s.opts)
            .unwrap_or_default();
        let lfamily = self.family_of(sh, lid);
        let server = &mut self.hosts[sh];
        server.socks.entry(child).or_default().opts = lopts;
        server.socks.entry(child).or_default().family = lfamily;
        server
            .listeners
            .get_mut(&lid)
            .expect("present")
            .ready
            .push_back(child);
        let fresh = |peer, tuple| End {
            peer,
            tuple,
            fin_sent: false,
            fin_received: false,
            unread: 0,
            reset: false,
            done: false,
        };
        server.ends.insert(child, fresh((h, id), server_tuple));
        server.socks.entry(child).or_default().app.established = true;
        self.hosts[h].ends.insert(id, fresh((sh, child), tuple));
        self.hosts[h].socks.entry(id).or_default().app.established = true;
        Ok(format!("connected {tuple}"))
    }

    pub(super) fn wait(
        &mut self,
        h: usize,
        w: &WaitFor,
        timeout: Option<Duration>,
    ) -> Result<String, Errno> {
        let deadline = self.now + timeout.unwrap_or(DEFAULT_WAIT_TIMEOUT);
        match w {
            WaitFor::Time(d) => {
                self.advance(self.now + *d);
                Ok(String::new())
            }
            WaitFor::State(name, st) => loop {
                if self.state_of(h, name) == *st {
                    return Ok(String::new());
                }
                match self.next_expiry().filter(|t| *t <= deadline) {
                    Some(t) => self.advance(t),
                    None => {
                        self.advance(deadline);
                        return Err(Errno::ETIMEDOUT);
                    }
                }
            },
            WaitFor::Bindable(name, a) => {
                let id = *self.hosts[h].names.get(name).ok_or(Errno::EBADF)?;
                let opts = self.hosts[h]
                    .socks
                    .get(&id)
                    .map(|s| s.opts)
                    .unwrap_or_default();
                // What time cannot change is answered at once, as by kernel replay's scratch
                // bind: the wrong family, another host's address, a v4-mapped address on an
                // IPV6_V6ONLY socket.
                if let Some(e) = family_mismatch(self.family_of(h, id), *a) {
                    return Err(e);
                }
                if !host_owns(self.hosts[h].addr, a.ip()) {
                    return Err(Errno::EADDRNOTAVAIL);
                }
                if self.tables[self.hosts[h].t]
                    .get(id)
                    .is_some_and(|e| e.local.is_some())
                {
                    // Already bound: bind() would say EINVAL whatever time does.
                    return Err(Errno::EINVAL);
                }
                loop {
                    match self.tables[self.hosts[h].t].check_bind(*a, opts, 0) {
                        Ok(()) => return Ok(String::new()),
                        // A conflict may end (TIME-WAIT expires, a socket closes).
                        Err(Errno::EADDRINUSE | Errno::EACCES) => {}
                        Err(e) => return Err(e),
                    }
                    match self.next_expiry().filter(|t| *t <= deadline) {
                        Some(t) => self.advance(t),
                        None => {
                            self.advance(deadline);
                            return Err(Errno::ETIMEDOUT);
                        }
                    }
                }
            }
        }
    }

    pub(super) fn next_expiry(&self) -> Option<Instant> {
        self.tables.iter().filter_map(|t| t.poll_timeout()).min()
    }
}
