//! The socket calls of the host's processes: socket, setsockopt, bind, listen, connect,
//! accept, send, recv, shutdown, close, fork and exit, with the errors each returns.

use super::*;
use twsim_model::Pid;

impl Host {
    /// The socket id behind a script name.
    pub fn sock_id(&self, name: &str) -> Option<SocketId> {
        self.names.get(name).copied()
    }

    // ----- socket calls -------------------------------------------------------------------

    /// The number of the live process `proc`, for the calls by socket id (`*_id`,
    /// [`Host::open_socket`], [`Host::recv_discard`]); [`Pid::NONE`] if no process of that name
    /// is alive, which those calls refuse with EBADF as the calls by name do. A process that
    /// exits keeps its number, and the calls refuse it from then on.
    pub fn pid(&self, proc: &str) -> Pid {
        self.procs.pid(proc).unwrap_or(Pid::NONE)
    }

    /// `socket()` in `proc`, named `name`.
    pub fn socket(&mut self, proc: &str, name: &str) -> Result<(), Errno> {
        let id = self.open_socket(self.pid(proc), name.to_string(), true)?;
        self.names.insert(name.to_string(), id);
        Ok(())
    }

    /// `socket()` in `proc` without a script name (workload connections): the socket is
    /// reached by its id, and `label` names it in events only. Nothing is kept for it once it
    /// is gone; with `log_time_wait` false its ended TIME-WAIT records (and those of the
    /// connections a listener made from it accepts) are counted in [`Host::tw_unlogged`]
    /// rather than kept in [`Host::tw_log`]. Errors: EBADF if `proc` is not alive (`proc` comes
    /// from [`Host::pid`]).
    pub fn open_socket(
        &mut self,
        proc: Pid,
        label: String,
        log_time_wait: bool,
    ) -> Result<SocketId, Errno> {
        if !self.procs.is_alive_pid(proc) {
            return Err(Errno::EBADF);
        }
        let id = self.table.socket(0);
        self.procs.open_pid(proc, id)?;
        self.socks.insert(
            id,
            Sock {
                name: Some(label),
                opts: SockOptions::default(),
                kind: Kind::Plain,
                app: AppSocket::default(),
                closed: false,
                log_time_wait,
            },
        );
        Ok(id)
    }

    /// `id` if `proc` holds it. Errors: EBADF otherwise.
    pub(super) fn held_id(&self, proc: Pid, id: SocketId) -> Result<SocketId, Errno> {
        if !self.procs.holds_pid(proc, id) {
            return Err(Errno::EBADF);
        }
        Ok(id)
    }

    pub(super) fn held(&self, proc: &str, name: &str) -> Result<SocketId, Errno> {
        let id = self.sock_id(name).ok_or(Errno::EBADF)?;
        if !self.procs.holds(proc, id) {
            return Err(Errno::EBADF);
        }
        Ok(id)
    }

    /// `setsockopt()`.
    pub fn setsockopt(
        &mut self,
        proc: &str,
        name: &str,
        f: impl FnOnce(&mut SockOptions),
    ) -> Result<(), Errno> {
        let id = self.held(proc, name)?;
        self.setsockopt_id(id, f)
    }

    /// `setsockopt()` on socket `id` (the caller checked the handle).
    pub fn setsockopt_id(
        &mut self,
        id: SocketId,
        f: impl FnOnce(&mut SockOptions),
    ) -> Result<(), Errno> {
        let s = self.socks.get_mut(id).ok_or(Errno::EBADF)?;
        f(&mut s.opts);
        let opts = s.opts;
        // The table may already have dropped a finished socket; options then no longer matter.
        let _ = self.table.set_options(id, opts);
        Ok(())
    }

    /// `bind()`. Every socket here is AF_INET: an IPv6 address is EAFNOSUPPORT
    /// (Linux `__inet_bind`).
    pub fn bind(
        &mut self,
        proc: &str,
        name: &str,
        addr: SocketAddr,
    ) -> Result<SocketAddrV4, Errno> {
        let id = self.held(proc, name)?;
        self.bind_id(self.pid(proc), id, addr)
    }

    /// `bind()` of `proc`'s socket `id`.
    pub fn bind_id(
        &mut self,
        proc: Pid,
        id: SocketId,
        addr: SocketAddr,
    ) -> Result<SocketAddrV4, Errno> {
        let id = self.held_id(proc, id)?;
        let addr = only_v4(addr)?;
        let hint = self.rng.next_u32();
        self.table.bind(id, SocketAddr::V4(addr), hint).map(v4)
    }

    /// Whether the socket `name` could bind `addr` now (for `wait until bindable`).
    pub fn bindable(&self, name: &str, addr: SocketAddr) -> Result<(), Errno> {
        let id = self.sock_id(name).ok_or(Errno::EBADF)?;
        let s = self.socks.get(id).ok_or(Errno::EBADF)?;
        if self.table.get(id).is_some_and(|e| e.local.is_some()) {
            // Already bound: bind() would say EINVAL whatever time does.
            return Err(Errno::EINVAL);
        }
        self.table
            .check_bind(SocketAddr::V4(only_v4(addr)?), s.opts, 0)
    }

    /// `listen()`.
    pub fn listen(&mut self, proc: &str, name: &str, backlog: u32) -> Result<SocketAddrV4, Errno> {
        let id = self.held(proc, name)?;
        self.listen_id(self.pid(proc), id, backlog)
    }

    /// `listen()` on `proc`'s socket `id`.
    pub fn listen_id(
        &mut self,
        proc: Pid,
        id: SocketId,
        backlog: u32,
    ) -> Result<SocketAddrV4, Errno> {
        let id = self.held_id(proc, id)?;
        let hint = self.rng.next_u32();
        let local = self.table.listen(id, hint).map(v4)?;
        let s = self.socks.get_mut(id).ok_or(Errno::EBADF)?;
        if let Kind::Listener { backlog: b, .. } = &mut s.kind {
            *b = backlog;
        } else {
            s.kind = Kind::Listener {
                backlog,
                pending: KeySet::default(),
                ready: VecDeque::new(),
            };
        }
        Ok(local)
    }

    /// A closed smoltcp socket: recycled from a finished connection when possible (its
    /// buffers are reused; `connect`/`listen` reset all connection state), else new.
    pub(super) fn new_tcp_socket(&mut self) -> tcp::Socket<'static> {
        let mut s = self.pool.pop().unwrap_or_else(|| {
            tcp::Socket::new(
                tcp::SocketBuffer::new(vec![0; BUF]),
                tcp::SocketBuffer::new(vec![0; BUF]),
            )
        });
        // RFC 7323 timestamps where the profile sends them (smoltcp offers them in its SYN and
        // keeps them only if the peer does too).
        s.set_tsval_generator(self.cfg.timestamps.then_some(tsval_now as fn() -> u32));
        s
    }

    /// Removes a smoltcp socket from the interface without sending anything and keeps it for
    /// reuse.
    pub(super) fn retire(&mut self, handle: SocketHandle) {
        self.smol_at = None;
        let smoltcp::socket::Socket::Tcp(mut s) = self.sockets.remove(handle);
        // Closed locally only: the socket is out of the set, so nothing is sent.
        s.abort();
        if self.pool.len() < 64 {
            self.pool.push(s);
        }
    }

    /// `connect()`: claims the 4-tuple and sends the SYN. Completion is read with
    /// [`Host::connect_result`].
    pub fn connect(
        &mut self,
        now: Instant,
        proc: &str,
        name: &str,
        remote: SocketAddr,
    ) -> Result<SocketAddrV4, Errno> {
        let id = self.held(proc, name)?;
        self.connect_id(now, self.pid(proc), id, remote)
    }

    /// `connect()` of `proc`'s socket `id` (see [`Host::connect`]); completion is read with
    /// [`Host::connect_result_id`].
    pub fn connect_id(
        &mut self,
        now: Instant,
        proc: Pid,
        id: SocketId,
        remote: SocketAddr,
    ) -> Result<SocketAddrV4, Errno> {
        let id = self.held_id(proc, id)?;
        // The socket is looked up once: its fields are disjoint from the rest of the host used
        // below, until it is marked connected.
        let s = self.socks.get_mut(id).expect("held");
        if let Kind::Conn(k) = s.kind {
            if self.conns.get_by_key(k).is_none() && !self.table.is_time_wait(id) {
                // The previous attempt is over: a failed one may be retried
                // (`AppSocket::reconnect`); a once-connected socket answers EISCONN below.
                if s.app.reconnect().is_ok() {
                    s.kind = Kind::Plain;
                }
            }
        }
        match s.kind {
            Kind::Plain => {}
            // The profile's answer for connect() on a listener (the table checks the state
            // first; no port is drawn).
            Kind::Listener { .. } => {
                let r = self
                    .table
                    .connect(id, IpAddr::V4(self.addr), remote, 0, now);
                return Err(r.err().unwrap_or(Errno::EINVAL));
            }
            Kind::Conn(_) => return Err(Errno::EISCONN),
        }
        // The socket's state is checked before the address family (`__inet_stream_connect`).
        let remote = only_v4(remote)?;
        let hint = self.rng.next_u32();
        let local =
            v4(self
                .table
                .connect(id, IpAddr::V4(self.addr), SocketAddr::V4(remote), hint, now)?);
        let tuple = FourTuple::new(SocketAddr::V4(local), SocketAddr::V4(remote));
        let key = TupleMap::<Conn>::key_v4(local, remote);
        // Nothing below reads this socket's kind before the connection is in `conns` (ending
        // recycled TIME-WAIT records reads other sockets); it goes back to plain if smoltcp
        // refuses the endpoints.
        s.kind = Kind::Conn(key);
        for (old, r) in self.table.take_recycled() {
            self.log_tw_end(now, old, r, EndReason::RecycledByConnect);
        }
        let mut sock = self.new_tcp_socket();
        let r: IpEndpoint = (IpAddress::Ipv4(*remote.ip()), remote.port()).into();
        let l: IpListenEndpoint = IpListenEndpoint {
            addr: Some(IpAddress::Ipv4(*local.ip())),
            port: local.port(),
        };
        if sock.connect(self.iface.context(), r, l).is_err() {
            self.socks.get_mut(id).expect("held").kind = Kind::Plain;
            self.table.remove(id);
            return Err(Errno::EINVAL);
        }
        self.smol_at = None;
        let handle = self.sockets.add(sock);
        let incarnation = self.incarnations.next(&tuple);
        let want_iss = self.isn.next(now, tuple);
        let uid = self.new_conn_uid();
        self.conns.insert_by_key(
            key,
            Conn::new(
                id,
                handle,
                State::SynSent,
                incarnation,
                None,
                want_iss,
                uid,
                None,
                now,
            ),
        );
        // The SYN leaves in this poll; the record shows the ISS it carried.
        self.poll(now);
        ev!(
            self,
            Event::State(StateChange {
                sock: self.socks[&id].name.clone().unwrap_or_default(),
                tuple,
                from: TcpState::Closed,
                to: TcpState::SynSent,
                incarnation,
                iss: self.conns.get_by_key(key).and_then(|c| c.wire_iss),
                cause: StateCause::Connect,
            })
        );
        Ok(local)
    }

    /// `None` while connecting; then the result of the connect on `name` (a refusal is
    /// reported here and consumed, as `inet_stream_connect` consumes `sk_err`).
    pub fn connect_result(&mut self, name: &str) -> Option<Result<(), Errno>> {
        let id = self.sock_id(name)?;
        self.connect_result_id(id)
    }

    /// [`Host::connect_result`] of socket `id`.
    pub fn connect_result_id(&mut self, id: SocketId) -> Option<Result<(), Errno>> {
        let s = self.socks.get(id)?;
        let Kind::Conn(k) = s.kind else {
            return Some(Err(Errno::ENOTCONN));
        };
        if let Some(c) = self.conns.get_by_key(k) {
            return match c.state {
                State::SynSent | State::SynReceived => None,
                _ => Some(Ok(())),
            };
        }
        let in_time_wait = self.table.is_time_wait(id);
        Some(self.socks.get_mut(id)?.app.connect_outcome(in_time_wait))
    }

    /// Gives up a connect at its deadline: aborts the socket (ETIMEDOUT).
    /// The connection is dropped without a segment (Linux `tcp_write_err` after
    /// `tcp_syn_retries`: no RST is sent) and its 4-tuple freed.
    pub fn connect_timeout(&mut self, now: Instant, name: &str) {
        let Some(id) = self.sock_id(name) else { return };
        self.connect_timeout_id(now, id);
    }

    /// [`Host::connect_timeout`] of socket `id`.
    pub fn connect_timeout_id(&mut self, now: Instant, id: SocketId) {
        let Some(&Kind::Conn(k)) = self.socks.get(id).map(|s| &s.kind) else {
            return;
        };
        let t = TupleMap::<Conn>::tuple(k);
        if let Some(c) = self.conns.remove_by_key(k) {
            self.retire(c.handle);
            self.table.disconnected(c.id);
            ev!(
                self,
                Event::State(StateChange {
                    sock: self.socks[&id].name.clone().unwrap_or_default(),
                    tuple: t,
                    from: tcp_state(c.state),
                    to: TcpState::Closed,
                    iss: c.wire_iss,
                    incarnation: c.incarnation,
                    cause: StateCause::ConnectTimeout,
                })
            );
        }
        if let Some(s) = self.socks.get_mut(id) {
            s.app.set_end(ConnEnd::Aborted);
        }
        let _ = now;
    }

    /// `accept()`: takes the first ready connection of listener `name` into `proc` as
    /// `new_name`. `Ok(None)` while none is ready.
    pub fn accept(
        &mut self,
        proc: &str,
        name: &str,
        new_name: &str,
    ) -> Result<Option<FourTuple>, Errno> {
        let id = self.held(proc, name)?;
        let Some((tuple, cid)) = self.accept_id(self.pid(proc), id, new_name.to_string())? else {
            return Ok(None);
        };
        self.names.insert(new_name.to_string(), cid);
        Ok(Some(tuple))
    }

    /// Whether listener `id` has an established connection waiting for `accept()` (a cheap
    /// test before [`Host::accept_id`], which would return `Ok(None)` or an error otherwise).
    pub fn has_ready(&self, id: SocketId) -> bool {
        matches!(
            self.socks.get(id).map(|s| &s.kind),
            Some(Kind::Listener { ready, .. }) if !ready.is_empty()
        )
    }

    /// `accept()` on `proc`'s listener `id`: the connection's 4-tuple and socket id, named
    /// `label` (in events; no script name is kept). `Ok(None)` while none is ready.
    pub fn accept_id(
        &mut self,
        proc: Pid,
        id: SocketId,
        label: String,
    ) -> Result<Option<(FourTuple, SocketId)>, Errno> {
        let id = self.held_id(proc, id)?;
        let Kind::Listener { ready, .. } = &mut self.socks.get_mut(id).ok_or(Errno::EBADF)?.kind
        else {
            return Err(Errno::EINVAL);
        };
        let Some(key) = ready.pop_front() else {
            return Ok(None);
        };
        let tuple = TupleMap::<Conn>::tuple(key);
        let child = self.conns.get_mut_by_key(key).map(|c| {
            c.listener = None;
            c.id
        });
        // A connection that already ended while queued is still accepted (its end is reported
        // by the next recv), like a real stack.
        let cid = match child {
            Some(c) => c,
            None => self
                .socks
                .iter()
                .find(|(_, s)| matches!(s.kind, Kind::Conn(k) if k == key) && s.name.is_none())
                .map(|(i, _)| i)
                .ok_or(Errno::ECONNRESET)?,
        };
        self.procs.open_pid(proc, cid)?;
        if let Some(s) = self.socks.get_mut(cid) {
            s.name = Some(label);
        }
        Ok(Some((tuple, cid)))
    }

    /// `send()`: queues `data`. Returns bytes queued.
    pub fn send(
        &mut self,
        now: Instant,
        proc: &str,
        name: &str,
        data: &[u8],
    ) -> Result<usize, Errno> {
        let id = self.held(proc, name)?;
        self.send_id(now, self.pid(proc), id, data)
    }

    /// `send()` on `proc`'s socket `id`: bytes queued (0 while the send buffer is full).
    pub fn send_id(
        &mut self,
        now: Instant,
        proc: Pid,
        id: SocketId,
        data: &[u8],
    ) -> Result<usize, Errno> {
        let id = self.held_id(proc, id)?;
        let s = self.socks.get_mut(id).ok_or(Errno::EBADF)?;
        let (view, handle) = conn_view_of(s, &self.conns, &self.sockets);
        s.app.send(view)?;
        let (Kind::Conn(_), Some(handle)) = (&s.kind, handle) else {
            return Err(Errno::EPIPE);
        };
        self.smol_at = None;
        let sock = self.sockets.get_mut::<tcp::Socket>(handle);
        let n = sock.send_slice(data).map_err(|_| Errno::EPIPE)?;
        self.poll(now);
        Ok(n)
    }

    /// What a `recv()` on socket `id` may do now, as `model::AppSocket::recv` decides it:
    /// `None` block, `Some(None)` end of stream, `Some(Some(handle))` read from that smoltcp
    /// socket (`None` as well when the connection is already gone).
    fn recv_ready(&mut self, id: SocketId) -> Result<Option<Option<SocketHandle>>, Errno> {
        let s = self.socks.get_mut(id).ok_or(Errno::EBADF)?;
        let (view, handle) = conn_view_of(s, &self.conns, &self.sockets);
        Ok(match s.app.recv(view)? {
            RecvOutcome::Block => None,
            RecvOutcome::Eof => Some(None),
            RecvOutcome::Read => handle.map(Some),
        })
    }

    /// `recv()`: `Ok(None)` while nothing is available; `Ok(Some(vec![]))` is end of stream.
    pub fn recv(
        &mut self,
        now: Instant,
        proc: &str,
        name: &str,
        max: Option<u32>,
    ) -> Result<Option<Vec<u8>>, Errno> {
        let id = self.held(proc, name)?;
        match self.recv_ready(id)? {
            None => Ok(None),
            Some(None) => Ok(Some(Vec::new())),
            Some(Some(handle)) => {
                self.smol_at = None;
                let sock = self.sockets.get_mut::<tcp::Socket>(handle);
                let mut buf = vec![0u8; max.map_or(BUF, |m| m as usize).min(BUF)];
                let n = sock.recv_slice(&mut buf).map_err(|_| Errno::ECONNRESET)?;
                buf.truncate(n);
                self.poll_if_due(now); // window update
                Ok(Some(buf))
            }
        }
    }

    /// `recv()` on `proc`'s socket `id` that reads and discards up to `max` bytes without
    /// copying them out (workload connections count bytes only): `Ok(None)` while nothing is
    /// available, `Ok(Some(0))` at end of stream, else the bytes read.
    pub fn recv_discard(
        &mut self,
        now: Instant,
        proc: Pid,
        id: SocketId,
        max: usize,
    ) -> Result<Option<usize>, Errno> {
        let id = self.held_id(proc, id)?;
        match self.recv_ready(id)? {
            None => Ok(None),
            Some(None) => Ok(Some(0)),
            Some(Some(handle)) => {
                self.smol_at = None;
                let sock = self.sockets.get_mut::<tcp::Socket>(handle);
                let mut n = 0;
                while n < max {
                    let want = max - n;
                    let got = sock
                        .recv(|b| {
                            let k = b.len().min(want);
                            (k, k)
                        })
                        .map_err(|_| Errno::ECONNRESET)?;
                    if got == 0 {
                        break;
                    }
                    n += got;
                }
                self.poll_if_due(now); // window update
                Ok(Some(n))
            }
        }
    }

    /// `shutdown()`: `write` sends FIN (smoltcp `close()` half-closes).
    pub fn shutdown(
        &mut self,
        now: Instant,
        proc: &str,
        name: &str,
        write: bool,
    ) -> Result<(), Errno> {
        let id = self.held(proc, name)?;
        AppSocket::shutdown(self.conn_view(id))?;
        if let Kind::Conn(k) = self.socks[&id].kind {
            if let Some(c) = self.conns.get_mut_by_key(k) {
                if write {
                    c.shut_wr = true;
                    self.smol_at = None;
                    self.sockets.get_mut::<tcp::Socket>(c.handle).close();
                    self.poll(now);
                }
            }
        }
        Ok(())
    }

    /// The application's view of socket `id`'s connection, for the shared socket-call
    /// semantics ([`AppSocket`]).
    fn conn_view(&self, id: SocketId) -> ConnView {
        self.socks.get(id).map_or(ConnView::Unconnected, |s| {
            conn_view_of(s, &self.conns, &self.sockets).0
        })
    }

    /// `close()` of `proc`'s handle; the socket closes when that was its last handle.
    pub fn close(&mut self, now: Instant, proc: &str, name: &str) -> Result<(), Errno> {
        let id = self.sock_id(name).ok_or(Errno::EBADF)?;
        self.close_id(now, self.pid(proc), id)
    }

    /// `close()` of `proc`'s handle to socket `id`. Errors: EBADF if `proc` is not alive or
    /// holds no handle to `id`.
    pub fn close_id(&mut self, now: Instant, proc: Pid, id: SocketId) -> Result<(), Errno> {
        if self.procs.close_pid(proc, id)? {
            self.last_close(now, id);
        }
        Ok(())
    }

    /// `fork()`.
    pub fn fork(&mut self, proc: &str, child: &str) -> Result<(), Errno> {
        self.procs.fork(proc, child)
    }

    /// `exit()`: closes all of `proc`'s handles.
    pub fn exit(&mut self, now: Instant, proc: &str) -> Result<(), Errno> {
        for id in self.procs.exit(proc)? {
            self.last_close(now, id);
        }
        Ok(())
    }

    pub(super) fn last_close(&mut self, now: Instant, id: SocketId) {
        let Some(s) = self.socks.get_mut(id) else {
            return;
        };
        s.closed = true;
        // For the events only.
        let name = match &s.name {
            Some(n) if self.record => n.clone(),
            _ => String::new(),
        };
        let opts = s.opts;
        if let Kind::Conn(k) = s.kind {
            // The socket keeps its kind (its connection or TIME-WAIT record still names it).
            self.close_conn(now, id, k, name, opts);
            return;
        }
        match std::mem::replace(&mut s.kind, Kind::Plain) {
            Kind::Plain => {
                self.table.remove(id);
                self.socks.remove(id);
            }
            Kind::Listener { pending, ready, .. } => {
                self.table.remove(id);
                self.socks.remove(id);
                // Half-open connections (SYN-RECEIVED) go silently: Linux frees its request
                // sockets and FreeBSD its syncache entries without a segment.
                for t in pending.into_iter().map(TupleMap::<Conn>::tuple) {
                    if let Some(c) = self.conns.remove(&t) {
                        self.retire(c.handle);
                        self.reopened.remove(&t);
                        self.socks.remove(c.id);
                        self.table.remove(c.id);
                    }
                }
                // Established connections not yet accepted are reset (Linux
                // inet_csk_listen_stop → inet_child_forget; FreeBSD soabort → tcp_drop).
                // Nobody can accept them any more: they are orphans, dropped once reset.
                for t in ready.into_iter().map(TupleMap::<Conn>::tuple) {
                    if let Some(cid) = self.conns.get(&t).map(|c| c.id) {
                        if let Some(cs) = self.socks.get_mut(cid) {
                            cs.closed = true;
                        }
                    }
                    self.abort_conn(now, t, ConnEnd::Aborted);
                }
                ev!(
                    self,
                    Event::Close(Close::new(
                        CloseKind::Listener,
                        Some(name.to_string()),
                        None
                    ))
                );
            }
            Kind::Conn(_) => unreachable!("closed above"),
        }
    }

    /// The last close of connection socket `id` on the 4-tuple of [`TupleMap::key`] `k` (see
    /// [`Host::last_close`]); `name` names it in events.
    fn close_conn(&mut self, now: Instant, id: SocketId, k: u128, name: String, opts: SockOptions) {
        let t = TupleMap::<Conn>::tuple(k);
        let Some(c) = self.conns.get_by_key(k) else {
            // The connection already ended; a TIME-WAIT record outlives the socket.
            self.socks.remove(id);
            if !self.table.is_time_wait(id) {
                self.table.remove(id);
            }
            return;
        };
        self.smol_at = None;
        let sock = self.sockets.get_mut::<tcp::Socket>(c.handle);
        let unread = sock.recv_queue() > 0;
        if opts.linger_secs == Some(0) && self.cfg.linger_zero_aborts() {
            ev!(
                self,
                Event::Close(Close::new(
                    CloseKind::LingerZero,
                    Some(name.to_string()),
                    Some(t)
                ))
            );
            self.abort_conn(now, t, ConnEnd::Aborted);
        } else if unread && self.cfg.rst_on_close_with_unread {
            ev!(
                self,
                Event::Close(Close::new(
                    CloseKind::UnreadData,
                    Some(name.to_string()),
                    Some(t)
                ))
            );
            self.abort_conn(now, t, ConnEnd::Aborted);
        } else {
            sock.close();
            ev!(
                self,
                Event::Close(Close::new(CloseKind::Fin, Some(name.to_string()), Some(t)))
            );
            self.poll(now);
        }
    }

    pub(super) fn abort_conn(&mut self, now: Instant, t: FourTuple, end: ConnEnd) {
        if let Some(c) = self.conns.get(&t) {
            let id = c.id;
            self.smol_at = None;
            self.sockets.get_mut::<tcp::Socket>(c.handle).abort();
            if let Some(s) = self.socks.get_mut(id) {
                s.app.set_end(end);
            }
            self.poll(now);
        }
    }

    /// RFC 9293 state name of socket `name`: its connection's state, `TIME-WAIT` while its
    /// record lives, `LISTEN`, or `CLOSED`.
    pub fn state_of(&self, name: &str) -> TcpState {
        let Some(id) = self.sock_id(name) else {
            return TcpState::Closed;
        };
        if self.table.is_time_wait(id) {
            return TcpState::TimeWait;
        }
        match self.socks.get(id).map(|s| &s.kind) {
            Some(Kind::Listener { .. }) => TcpState::Listen,
            Some(&Kind::Conn(k)) => self
                .conns
                .get_by_key(k)
                .map_or(TcpState::Closed, |c| tcp_state(c.state)),
            _ => TcpState::Closed,
        }
    }
}

/// The application's view of socket `s`'s connection ([`Host::conn_view`]), and the smoltcp
/// socket of its live connection if it has one: a function of the host's parts, so that a
/// call holding `s` looks nothing up twice.
fn conn_view_of(
    s: &Sock,
    conns: &TupleMap<Conn>,
    sockets: &SocketSet<'static>,
) -> (ConnView, Option<SocketHandle>) {
    match s.kind {
        Kind::Plain => (ConnView::Unconnected, None),
        Kind::Listener { .. } => (ConnView::Listener, None),
        Kind::Conn(k) => match conns.get_by_key(k) {
            None if s.app.established => (ConnView::Ended { readable: false }, None),
            None => (ConnView::Unconnected, None),
            Some(c) => {
                let sock = sockets.get::<tcp::Socket>(c.handle);
                let view = match sock.state() {
                    State::SynSent | State::SynReceived => ConnView::Connecting,
                    _ => ConnView::Open {
                        may_send: !c.shut_wr && sock.may_send(),
                        fin_received: !sock.may_recv(),
                        readable: sock.can_recv(),
                    },
                };
                (view, Some(c.handle))
            }
        },
    }
}
