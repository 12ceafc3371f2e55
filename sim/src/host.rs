//! A simulated host: one smoltcp `Interface` behind the host layer.
//!
//! The host layer owns what smoltcp lacks (design.md "Host layer"): the address table with the
//! profile's bind rules, processes and handles, the listen queue, demultiplexing of every
//! inbound segment, TIME-WAIT records, and answers for segments that match nothing.
//!
//! Inbound segment → [`Host::deliver`]:
//! 1. a live connection's exact 4-tuple → its smoltcp socket (the segment goes into the
//!    device queue and the interface is polled);
//! 2. a TIME-WAIT record → the profile's TIME-WAIT policy; replies are crafted here;
//! 3. a SYN for a listener with room in its backlog → a fresh smoltcp socket listening on
//!    exactly that local endpoint takes it (smoltcp has no listen queue: each listening socket
//!    becomes the connection, so the host layer creates one per SYN and never leaves a
//!    listening smoltcp socket around — smoltcp's slot-order demux then never decides);
//! 4. anything else → RST per RFC 9293 §3.10.7.1, crafted here.
//!
//! TIME-WAIT takeover (like Linux's `inet_timewait_sock`): once a smoltcp socket is in
//! TIME-WAIT and its final ACK has left the host, the host records SND.NXT, RCV.NXT and the
//! window from the wire in a [`TimeWaitRecord`] and removes the smoltcp socket silently.

use crate::wire::TcpFlags;
use crate::wire::{craft, reset_for, Ctl, SegMeta};
use rand::RngCore;
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::socket::tcp::{self, State};
use smoltcp::time::Instant as SInstant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, IpEndpoint, IpListenEndpoint};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use twsim_model::time_wait::SynInTimeWait;
use twsim_model::{
    AddressTable, Duration, EndReason, Errno, FourTuple, Instant, Processes, ProfileConfig, SeqNum,
    SockOptions, SocketId, TableState, TcpState, TimeWaitRecord, TwAction,
};

/// Socket buffer size in bytes, each direction (no window scaling below 64 KiB).
const BUF: usize = 16 * 1024;

/// Most packet buffers a device keeps for reuse.
const POOL_MAX: usize = 64;

/// An in-memory `phy::Device` (Medium::Ip): the host layer fills `rx` and drains `tx`.
/// Buffers of received packets go back to `pool` and carry the next transmitted ones, so a
/// steady exchange allocates nothing per packet.
#[derive(Default)]
pub struct Dev {
    rx: VecDeque<Vec<u8>>,
    tx: Vec<Vec<u8>>,
    pool: Vec<Vec<u8>>,
}

/// Receive token of [`Dev`]: returns its buffer to the pool once consumed.
pub struct RxTok<'a>(Vec<u8>, &'a mut Vec<Vec<u8>>);
/// Transmit token of [`Dev`]: takes a buffer from the pool when it has one.
pub struct TxTok<'a> {
    tx: &'a mut Vec<Vec<u8>>,
    pool: Option<&'a mut Vec<Vec<u8>>>,
}

impl phy::RxToken for RxTok<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let r = f(&self.0);
        let (mut buf, pool) = (self.0, self.1);
        if pool.len() < POOL_MAX {
            buf.clear();
            pool.push(buf);
        }
        r
    }
}
impl phy::TxToken for TxTok<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = self.pool.and_then(|p| p.pop()).unwrap_or_default();
        buf.resize(len, 0);
        let r = f(&mut buf);
        self.tx.push(buf);
        r
    }
}
impl phy::Device for Dev {
    type RxToken<'a> = RxTok<'a>;
    type TxToken<'a> = TxTok<'a>;
    fn receive(&mut self, _t: SInstant) -> Option<(RxTok<'_>, TxTok<'_>)> {
        let p = self.rx.pop_front()?;
        Some((
            RxTok(p, &mut self.pool),
            TxTok {
                tx: &mut self.tx,
                pool: None,
            },
        ))
    }
    fn transmit(&mut self, _t: SInstant) -> Option<TxTok<'_>> {
        Some(TxTok {
            tx: &mut self.tx,
            pool: Some(&mut self.pool),
        })
    }
    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ip;
        c.max_transmission_unit = 1500;
        c
    }
}

/// How a connection ended, as the application sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnEnd {
    /// Orderly close (or TIME-WAIT reached).
    Normal,
    /// Reset by the peer.
    Reset,
    /// Reset by the peer after it had sent its FIN (we were in CLOSE-WAIT): Linux `tcp_reset`
    /// reports EPIPE then.
    ResetInCloseWait,
    /// Refused: RST in answer to our SYN.
    Refused,
    /// Aborted locally (connect deadline, linger 0, close with unread data).
    Aborted,
}

#[derive(Debug)]
enum Kind {
    Plain,
    Listener {
        backlog: u32,
        pending: BTreeSet<FourTuple>,
        ready: VecDeque<FourTuple>,
    },
    Conn(FourTuple),
}

#[derive(Debug)]
struct Sock {
    name: Option<String>,
    opts: SockOptions,
    kind: Kind,
    end: Option<ConnEnd>,
    /// Pending socket error (Linux `sk_err`): reported once, by the next call that looks.
    err: Option<Errno>,
    /// A connection of this socket reached ESTABLISHED at least once.
    established: bool,
    /// The user closed its last handle.
    closed: bool,
}

impl Sock {
    /// Records how the connection ended, once, and the error the application will see.
    fn set_end(&mut self, end: ConnEnd) {
        if self.end.is_none() {
            self.end = Some(end);
            self.err = match end {
                ConnEnd::Refused => Some(Errno::ECONNREFUSED),
                ConnEnd::Reset => Some(Errno::ECONNRESET),
                ConnEnd::ResetInCloseWait => Some(Errno::EPIPE),
                ConnEnd::Normal | ConnEnd::Aborted => None,
            };
        }
    }
}

#[derive(Debug)]
struct Conn {
    id: SocketId,
    handle: SocketHandle,
    state: State,
    incarnation: u32,
    /// Listener that spawned it, until accept() takes it.
    listener: Option<SocketId>,
    /// (SEQ + SEG.LEN, ACK, window) of the last segment this end sent.
    last_tx: Option<(u32, u32, u16)>,
    /// RCV.NXT after the peer's FIN.
    peer_fin_end: Option<u32>,
    rst_in: bool,
    shut_wr: bool,
}

/// A trace event produced by a host: type, JSON data and a human-readable line.
#[derive(Debug, Clone)]
pub struct HostEvent {
    /// Trace record type.
    pub kind: &'static str,
    /// Trace record data (without host and time, which the simulator adds).
    pub data: serde_json::Value,
    /// Timeline text.
    pub text: String,
}

/// A finished TIME-WAIT record, for the summary.
#[derive(Debug, Clone)]
pub struct TimeWaitLog {
    /// The record as it ended.
    pub record: TimeWaitRecord,
    /// When it ended.
    pub ended_at: Instant,
    /// Why.
    pub reason: EndReason,
}

/// One simulated host.
pub struct Host {
    /// Name from the scenario.
    pub name: String,
    /// Its IPv4 address.
    pub addr: Ipv4Addr,
    /// Profile rules.
    pub cfg: ProfileConfig,
    /// TIME-WAIT length this host uses (profile and MSL applied; SO_LINGER may change it per
    /// socket where the profile says so).
    pub tw_len: Duration,
    /// MSL the endpoints assume.
    pub msl: Duration,
    iface: Interface,
    dev: Dev,
    sockets: SocketSet<'static>,
    /// Address table.
    pub table: AddressTable,
    /// Processes and handles.
    pub procs: Processes,
    socks: BTreeMap<SocketId, Sock>,
    /// Script names of sockets. Looked up only, never iterated, so a hash map with a fixed
    /// (unseeded) hasher keeps runs deterministic.
    names: NameMap,
    conns: BTreeMap<FourTuple, Conn>,
    incarnations: BTreeMap<FourTuple, u32>,
    rng: ChaCha8Rng,
    crafted: Vec<Vec<u8>>,
    /// Events since the simulator last drained them.
    pub events: Vec<HostEvent>,
    /// Finished TIME-WAIT records.
    pub tw_log: Vec<TimeWaitLog>,
    /// Whether to record [`HostEvent`]s (off for benchmarks and sweeps).
    pub record: bool,
    pool: Vec<tcp::Socket<'static>>,
    /// Reused buffer of [`Host::after_poll`].
    scratch: Vec<(FourTuple, State, State)>,
    /// TIME-WAIT records a SYN reopened, kept until the new connection proves genuine
    /// (RFC 1122 §4.2.2.13 policies).
    reopened: BTreeMap<FourTuple, TimeWaitRecord>,
}

/// Records a host event only when the run keeps events: building the JSON and the text costs
/// more than simulating the segment.
macro_rules! ev {
    ($s:expr, $kind:expr, $data:expr, $text:expr $(,)?) => {
        if $s.record {
            $s.events.push(HostEvent {
                kind: $kind,
                data: $data,
                text: $text,
            });
        }
    };
}

fn sinstant(t: Instant) -> SInstant {
    SInstant::from_micros(t.micros() as i64)
}

fn v4(a: SocketAddr) -> SocketAddrV4 {
    match a {
        SocketAddr::V4(a) => a,
        SocketAddr::V6(_) => unreachable!("the simulator only creates IPv4 endpoints"),
    }
}

/// An address given by a script to one of the simulator's AF_INET sockets: IPv6 is
/// EAFNOSUPPORT, as Linux answers for an IPv4 socket (`__inet_bind`, `tcp_v4_connect`).
fn only_v4(a: SocketAddr) -> Result<SocketAddrV4, Errno> {
    match a {
        SocketAddr::V4(a) => Ok(a),
        SocketAddr::V6(_) => Err(Errno::EAFNOSUPPORT),
    }
}

/// Socket names → ids, with SipHash under fixed keys (no ambient randomness).
type NameMap = std::collections::HashMap<
    String,
    SocketId,
    std::hash::BuildHasherDefault<std::collections::hash_map::DefaultHasher>,
>;

/// How many connections a listener with `backlog` queues before dropping SYNs
/// ([`ProfileConfig::accept_queue_limit`]).
pub fn accept_queue_limit(cfg: &ProfileConfig, backlog: u32) -> u32 {
    cfg.accept_queue_limit(backlog)
}

/// The RFC 9293 §3.3.2 state of a smoltcp state (the only place the two are mapped).
pub fn tcp_state(s: State) -> TcpState {
    match s {
        State::Closed => TcpState::Closed,
        State::Listen => TcpState::Listen,
        State::SynSent => TcpState::SynSent,
        State::SynReceived => TcpState::SynReceived,
        State::Established => TcpState::Established,
        State::FinWait1 => TcpState::FinWait1,
        State::FinWait2 => TcpState::FinWait2,
        State::CloseWait => TcpState::CloseWait,
        State::Closing => TcpState::Closing,
        State::LastAck => TcpState::LastAck,
        State::TimeWait => TcpState::TimeWait,
    }
}

impl Host {
    /// A host with address `addr` following `cfg`, TIME-WAIT length `tw_len`, randomness
    /// from `rng` (the host's own sub-stream; it also seeds smoltcp's ISN generator).
    pub fn new(
        name: String,
        addr: Ipv4Addr,
        cfg: ProfileConfig,
        tw_len: Duration,
        msl: Duration,
        mut rng: ChaCha8Rng,
    ) -> Host {
        let mut dev = Dev::default();
        let mut config = Config::new(HardwareAddress::Ip);
        config.random_seed = rng.next_u64();
        let mut iface = Interface::new(config, &mut dev, SInstant::from_micros(0));
        iface.update_ip_addrs(|a| {
            a.push(IpCidr::new(IpAddress::Ipv4(addr), 0))
                .expect("a fresh interface has room for one address");
        });
        Host {
            name,
            addr,
            cfg,
            tw_len,
            msl,
            iface,
            dev,
            sockets: SocketSet::new(Vec::new()),
            table: AddressTable::new(cfg, vec![IpAddr::V4(addr)]),
            procs: Processes::new(),
            socks: BTreeMap::new(),
            names: NameMap::default(),
            conns: BTreeMap::new(),
            incarnations: BTreeMap::new(),
            rng,
            crafted: Vec::new(),
            events: Vec::new(),
            tw_log: Vec::new(),
            record: true,
            pool: Vec::new(),
            scratch: Vec::new(),
            reopened: BTreeMap::new(),
        }
    }

    /// The socket id behind a script name.
    pub fn sock_id(&self, name: &str) -> Option<SocketId> {
        self.names.get(name).copied()
    }

    // ----- socket calls -------------------------------------------------------------------

    /// `socket()` in `proc`, named `name`.
    pub fn socket(&mut self, proc: &str, name: &str) -> Result<(), Errno> {
        let id = self.table.socket(0);
        self.procs.open(proc, id)?;
        self.names.insert(name.to_string(), id);
        self.socks.insert(
            id,
            Sock {
                name: Some(name.to_string()),
                opts: SockOptions::default(),
                kind: Kind::Plain,
                end: None,
                err: None,
                established: false,
                closed: false,
            },
        );
        Ok(())
    }

    fn held(&self, proc: &str, name: &str) -> Result<SocketId, Errno> {
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
        let s = self.socks.get_mut(&id).ok_or(Errno::EBADF)?;
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
        let addr = only_v4(addr)?;
        let hint = self.rng.next_u32();
        self.table.bind(id, SocketAddr::V4(addr), hint).map(v4)
    }

    /// Whether the socket `name` could bind `addr` now (for `wait until bindable`).
    pub fn bindable(&self, name: &str, addr: SocketAddr) -> Result<(), Errno> {
        let id = self.sock_id(name).ok_or(Errno::EBADF)?;
        let s = self.socks.get(&id).ok_or(Errno::EBADF)?;
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
        let hint = self.rng.next_u32();
        let local = self.table.listen(id, hint).map(v4)?;
        let s = self.socks.get_mut(&id).ok_or(Errno::EBADF)?;
        if let Kind::Listener { backlog: b, .. } = &mut s.kind {
            *b = backlog;
        } else {
            s.kind = Kind::Listener {
                backlog,
                pending: BTreeSet::new(),
                ready: VecDeque::new(),
            };
        }
        Ok(local)
    }

    /// A closed smoltcp socket: recycled from a finished connection when possible (its
    /// buffers are reused; `connect`/`listen` reset all connection state), else new.
    fn new_tcp_socket(&mut self) -> tcp::Socket<'static> {
        self.pool.pop().unwrap_or_else(|| {
            tcp::Socket::new(
                tcp::SocketBuffer::new(vec![0; BUF]),
                tcp::SocketBuffer::new(vec![0; BUF]),
            )
        })
    }

    /// Removes a smoltcp socket from the interface without sending anything and keeps it for
    /// reuse.
    fn retire(&mut self, handle: SocketHandle) {
        let smoltcp::socket::Socket::Tcp(mut s) = self.sockets.remove(handle);
        // Closed locally only: the socket is out of the set, so nothing is sent.
        s.abort();
        if self.pool.len() < 64 {
            self.pool.push(s);
        }
    }

    fn next_incarnation(&mut self, t: FourTuple) -> u32 {
        let n = self.incarnations.entry(t).or_insert(0);
        *n += 1;
        *n
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
        if let Kind::Conn(t) = self.socks[&id].kind {
            // Linux inet_stream_connect: a socket that was once connected stays SS_CONNECTED
            // (EISCONN); only a failed attempt (refused, timed out) may connect again.
            let failed_attempt = !self.socks[&id].established;
            if failed_attempt && !self.conns.contains_key(&t) && self.table.time_wait(id).is_none()
            {
                // The previous connection ended (refused, timed out, reset): connect() may be
                // called again on the same socket, as on Linux after ECONNREFUSED.
                let s = self.socks.get_mut(&id).expect("held");
                s.kind = Kind::Plain;
                s.end = None;
            }
        }
        match self.socks[&id].kind {
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
            self.table.remove(id);
            return Err(Errno::EINVAL);
        }
        let handle = self.sockets.add(sock);
        let incarnation = self.next_incarnation(tuple);
        self.conns.insert(
            tuple,
            Conn {
                id,
                handle,
                state: State::SynSent,
                incarnation,
                listener: None,
                last_tx: None,
                peer_fin_end: None,
                rst_in: false,
                shut_wr: false,
            },
        );
        self.socks.get_mut(&id).expect("held").kind = Kind::Conn(tuple);
        ev!(
            self,
            "state",
            json!({"sock": name, "tuple": tuple.to_string(), "from": "CLOSED", "to": "SYN-SENT", "incarnation": incarnation}),
            format!("{name} {tuple}: CLOSED -> SYN-SENT (incarnation {incarnation})"),
        );
        self.poll(now);
        Ok(local)
    }

    /// `None` while connecting; then the result of the connect on `name` (a refusal is
    /// reported here and consumed, as `inet_stream_connect` consumes `sk_err`).
    pub fn connect_result(&mut self, name: &str) -> Option<Result<(), Errno>> {
        let id = self.sock_id(name)?;
        let s = self.socks.get(&id)?;
        let Kind::Conn(t) = s.kind else {
            return Some(Err(Errno::ENOTCONN));
        };
        if let Some(c) = self.conns.get(&t) {
            return match c.state {
                State::SynSent | State::SynReceived => None,
                _ => Some(Ok(())),
            };
        }
        let s = self.socks.get_mut(&id)?;
        if s.end == Some(ConnEnd::Normal) || self.table.time_wait(id).is_some() {
            return Some(Ok(()));
        }
        Some(Err(s.err.take().unwrap_or(Errno::ECONNREFUSED)))
    }

    /// Gives up a connect at its deadline: aborts the socket (ETIMEDOUT).
    /// The connection is dropped without a segment (Linux `tcp_write_err` after
    /// `tcp_syn_retries`: no RST is sent) and its 4-tuple freed.
    pub fn connect_timeout(&mut self, now: Instant, name: &str) {
        let Some(id) = self.sock_id(name) else { return };
        let Some(Kind::Conn(t)) = self.socks.get(&id).map(|s| &s.kind) else {
            return;
        };
        let t = *t;
        if let Some(c) = self.conns.remove(&t) {
            self.retire(c.handle);
            self.table.disconnected(c.id);
            ev!(
                self,
                "state",
                json!({"sock": name, "tuple": t.to_string(), "from": tcp_state(c.state).name(), "to": TcpState::Closed.name(), "incarnation": c.incarnation}),
                format!(
                    "{name} {t}: {} -> CLOSED (connect timed out)",
                    tcp_state(c.state)
                ),
            );
        }
        if let Some(s) = self.socks.get_mut(&id) {
            s.set_end(ConnEnd::Aborted);
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
        let Kind::Listener { ready, .. } = &mut self.socks.get_mut(&id).ok_or(Errno::EBADF)?.kind
        else {
            return Err(Errno::EINVAL);
        };
        let Some(tuple) = ready.pop_front() else {
            return Ok(None);
        };
        let child = self.conns.get_mut(&tuple).map(|c| {
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
                .find(|(_, s)| matches!(s.kind, Kind::Conn(t) if t == tuple) && s.name.is_none())
                .map(|(i, _)| *i)
                .ok_or(Errno::ECONNRESET)?,
        };
        self.procs.open(proc, cid)?;
        self.names.insert(new_name.to_string(), cid);
        if let Some(s) = self.socks.get_mut(&cid) {
            s.name = Some(new_name.to_string());
        }
        Ok(Some(tuple))
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
        // Linux tcp_sendmsg → sk_stream_wait_connect: a pending error first, then EPIPE for
        // any socket that is not (or no longer) connected.
        let s = self.socks.get_mut(&id).ok_or(Errno::EBADF)?;
        let Kind::Conn(t) = s.kind else {
            return Err(Errno::EPIPE);
        };
        let Some(c) = self.conns.get(&t) else {
            return Err(s.err.take().unwrap_or(Errno::EPIPE));
        };
        if c.shut_wr {
            return Err(Errno::EPIPE);
        }
        let sock = self.sockets.get_mut::<tcp::Socket>(c.handle);
        if !sock.may_send() {
            return Err(if sock.state() == State::SynSent {
                Errno::ENOTCONN
            } else {
                Errno::EPIPE
            });
        }
        let n = sock.send_slice(data).map_err(|_| Errno::EPIPE)?;
        self.poll(now);
        Ok(n)
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
        // Linux tcp_recvmsg: a never-connected socket is ENOTCONN; once a connection ended
        // (tcp_done set RCV_SHUTDOWN) a pending error is reported once, then end of stream.
        let s = self.socks.get_mut(&id).ok_or(Errno::EBADF)?;
        let Kind::Conn(t) = s.kind else {
            return Err(Errno::ENOTCONN);
        };
        let Some(c) = self.conns.get(&t) else {
            if !s.established {
                // A failed connect: inet_stream_connect called tcp_disconnect, the socket is
                // unconnected again (sk_shutdown cleared).
                return Err(Errno::ENOTCONN);
            }
            return match s.err.take() {
                Some(e) => Err(e),
                None => Ok(Some(Vec::new())),
            };
        };
        let sock = self.sockets.get_mut::<tcp::Socket>(c.handle);
        if sock.can_recv() {
            let mut buf = vec![0u8; max.map_or(BUF, |m| m as usize).min(BUF)];
            let n = sock.recv_slice(&mut buf).map_err(|_| Errno::ECONNRESET)?;
            buf.truncate(n);
            self.poll(now); // window update
            return Ok(Some(buf));
        }
        if !sock.may_recv() && sock.state() != State::SynSent && sock.state() != State::SynReceived
        {
            return Ok(Some(Vec::new()));
        }
        Ok(None)
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
        // Linux inet_shutdown: a socket in CLOSE (never connected, or its connection over,
        // TIME-WAIT included) is ENOTCONN; a listener accepts SHUT_WR as a no-op.
        let t = match self.socks[&id].kind {
            Kind::Listener { .. } => return Ok(()),
            Kind::Plain => return Err(Errno::ENOTCONN),
            Kind::Conn(t) => t,
        };
        let Some(c) = self.conns.get_mut(&t) else {
            return Err(Errno::ENOTCONN);
        };
        if write {
            c.shut_wr = true;
            self.sockets.get_mut::<tcp::Socket>(c.handle).close();
            self.poll(now);
        }
        Ok(())
    }

    /// `close()` of `proc`'s handle; the socket closes when that was its last handle.
    pub fn close(&mut self, now: Instant, proc: &str, name: &str) -> Result<(), Errno> {
        let id = self.sock_id(name).ok_or(Errno::EBADF)?;
        if self.procs.close(proc, id)? {
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

    fn last_close(&mut self, now: Instant, id: SocketId) {
        let Some(s) = self.socks.get_mut(&id) else {
            return;
        };
        s.closed = true;
        let name = s.name.clone().unwrap_or_default();
        let opts = s.opts;
        match std::mem::replace(&mut s.kind, Kind::Plain) {
            Kind::Plain => {
                self.table.remove(id);
                self.socks.remove(&id);
            }
            Kind::Listener { pending, ready, .. } => {
                self.table.remove(id);
                self.socks.remove(&id);
                // Linux inet_csk_listen_stop: connections not yet accepted are reset.
                // Nobody can accept them any more: they are orphans, dropped once reset.
                for t in pending.into_iter().chain(ready) {
                    if let Some(cid) = self.conns.get(&t).map(|c| c.id) {
                        if let Some(cs) = self.socks.get_mut(&cid) {
                            cs.closed = true;
                        }
                    }
                    self.abort_conn(now, t, ConnEnd::Aborted);
                }
                ev!(
                    self,
                    "close",
                    json!({"sock": name, "what": "listener"}),
                    format!("{name}: listener closed")
                );
            }
            Kind::Conn(t) => {
                self.socks.get_mut(&id).expect("present").kind = Kind::Conn(t);
                let Some(c) = self.conns.get(&t) else {
                    // The connection already ended; a TIME-WAIT record outlives the socket.
                    self.socks.remove(&id);
                    if self.table.time_wait(id).is_none() {
                        self.table.remove(id);
                    }
                    return;
                };
                let sock = self.sockets.get_mut::<tcp::Socket>(c.handle);
                let unread = sock.recv_queue() > 0;
                if opts.linger_secs == Some(0) && self.cfg.linger_zero_aborts() {
                    ev!(
                        self,
                        "close",
                        json!({"sock": name, "tuple": t.to_string(), "rule": "SO_LINGER {1,0}: abortive close, RST"}),
                        format!("{name}: SO_LINGER {{1,0}}: RST, no TIME-WAIT")
                    );
                    self.abort_conn(now, t, ConnEnd::Aborted);
                } else if unread && self.cfg.rst_on_close_with_unread {
                    ev!(
                        self,
                        "close",
                        json!({"sock": name, "tuple": t.to_string(), "rule": "RFC 1122 §4.2.2.13: close with unread data sends RST"}),
                        format!("{name}: closed with unread data: RST")
                    );
                    self.abort_conn(now, t, ConnEnd::Aborted);
                } else {
                    sock.close();
                    ev!(
                        self,
                        "close",
                        json!({"sock": name, "tuple": t.to_string()}),
                        format!("{name}: close -> FIN")
                    );
                    self.poll(now);
                }
            }
        }
    }

    fn abort_conn(&mut self, now: Instant, t: FourTuple, end: ConnEnd) {
        if let Some(c) = self.conns.get(&t) {
            let id = c.id;
            self.sockets.get_mut::<tcp::Socket>(c.handle).abort();
            if let Some(s) = self.socks.get_mut(&id) {
                s.set_end(end);
            }
            self.poll(now);
        }
    }

    /// RFC 9293 state name of socket `name`: its connection's state, `TIME-WAIT` while its
    /// record lives, `LISTEN`, or `CLOSED`.
    pub fn state_of(&self, name: &str) -> &'static str {
        let Some(id) = self.sock_id(name) else {
            return TcpState::Closed.name();
        };
        if self.table.time_wait(id).is_some() {
            return TcpState::TimeWait.name();
        }
        let state = match self.socks.get(&id).map(|s| &s.kind) {
            Some(Kind::Listener { .. }) => TcpState::Listen,
            Some(Kind::Conn(t)) => self
                .conns
                .get(t)
                .map_or(TcpState::Closed, |c| tcp_state(c.state)),
            _ => TcpState::Closed,
        };
        state.name()
    }

    // ----- the wire -----------------------------------------------------------------------

    /// The next instant this host needs attention: smoltcp timers or a TIME-WAIT expiry.
    pub fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        let s = self
            .iface
            .poll_at(sinstant(now), &self.sockets)
            .map(|t| Instant::from_micros(t.total_micros().max(0) as u64).max(now));
        let tw = self.table.poll_timeout();
        match (s, tw) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs smoltcp and the host layer's timers at `now`.
    pub fn poll(&mut self, now: Instant) {
        for (id, record, reason) in self.table.handle_timeout(now) {
            self.log_tw_end(now, id, record, reason);
        }
        // smoltcp sends at most one segment per socket per poll; poll again while it reports
        // progress. Anything left for this instant shows in poll_at, which the event loop reads.
        for _ in 0..64 {
            let r = self
                .iface
                .poll(sinstant(now), &mut self.dev, &mut self.sockets);
            self.after_poll(now);
            if r == smoltcp::iface::PollResult::None {
                break;
            }
        }
    }

    /// Packets this host has sent since the last call, in order.
    pub fn take_tx(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.crafted)
    }

    /// Accepts one packet from the wire at `now`: demultiplexes it (module docs).
    pub fn deliver(&mut self, now: Instant, bytes: Vec<u8>) {
        let Some(seg) = SegMeta::parse(&bytes) else {
            ev!(
                self,
                "drop",
                json!({"reason": "not TCP/IPv4"}),
                "dropped a non-TCP packet".into()
            );
            return;
        };
        if *seg.dst.ip() != self.addr {
            return;
        }
        let tuple = FourTuple::new(SocketAddr::V4(seg.dst), SocketAddr::V4(seg.src));
        let orphan_data = self.cfg.rst_on_close_with_unread
            && seg.payload_len > 0
            && self
                .conns
                .get(&tuple)
                .is_some_and(|c| self.socks.get(&c.id).is_none_or(|s| s.closed));
        if orphan_data {
            // RFC 1122 §4.2.2.13 / Linux tcp_rcv_state_process (FIN-WAIT, RCV_SHUTDOWN): new
            // data for a socket the application closed is answered with RST, and the
            // connection dies (LINUX_MIB_TCPABORTONDATA).
            ev!(
                self,
                "close",
                json!({"tuple": tuple.to_string(), "rule": "RFC 1122 §4.2.2.13: data after close, send RST"}),
                format!("{tuple}: data after close: RST"),
            );
            self.abort_conn(now, tuple, ConnEnd::Aborted);
            return;
        }
        if let Some(c) = self.conns.get_mut(&tuple) {
            if seg.has(TcpFlags::FIN) {
                c.peer_fin_end = Some(seg.seq.wrapping_add(seg.seg_len()));
            }
            if seg.has(TcpFlags::RST) {
                c.rst_in = true;
            }
            self.dev.rx.push_back(bytes);
            self.poll(now);
            return;
        }
        if let Some(id) = self.table.lookup_tuple(&tuple) {
            if self.table.time_wait(id).is_some() {
                self.time_wait_segment(now, id, tuple, &seg, bytes);
                return;
            }
        }
        if seg.flags == TcpFlags::SYN && self.syn_to_listener(now, tuple, bytes) {
            return;
        }
        self.no_socket(&seg, "no connection, TIME-WAIT record or listener");
    }

    fn no_socket(&mut self, seg: &SegMeta, why: &str) {
        let reply = reset_for(seg);
        let rule = if reply.is_some() {
            "RFC 9293 §3.10.7.1: segment to CLOSED, send RST"
        } else {
            "RFC 9293 §3.10.7.1: RST to CLOSED, discard"
        };
        ev!(
            self,
            "no_socket",
            json!({"tuple": format!("{}<->{}", seg.dst, seg.src), "flags": seg.flag_letters(), "why": why, "rule": rule}),
            format!(
                "{}:{} <- [{}] matches nothing: {}",
                seg.dst.ip(),
                seg.dst.port(),
                seg.flag_letters(),
                rule
            ),
        );
        if let Some(r) = reply {
            self.crafted.push(r);
        }
    }

    fn listener_for(&self, local: SocketAddr) -> Option<SocketId> {
        self.table.listeners_for(local).into_iter().next()
    }

    /// Which listener takes a SYN for `tuple`, per the profile (exact address first; Windows:
    /// one at random; Linux SO_REUSEPORT: a hash of the 4-tuple; NT4: refused while a closed
    /// listener's address object lives, KB Q177074). Draws one number from the host's stream
    /// for every SYN, so the sequence of draws does not depend on the profile.
    fn choose_listener(&mut self, tuple: FourTuple) -> twsim_model::ListenerVerdict {
        let r = self.rng.next_u32();
        self.table.choose_listener(tuple.local, tuple.remote, r)
    }

    fn syn_to_listener(&mut self, now: Instant, tuple: FourTuple, bytes: Vec<u8>) -> bool {
        let lid = match self.choose_listener(tuple) {
            twsim_model::ListenerVerdict::Listener(id) => id,
            twsim_model::ListenerVerdict::None => return false,
            twsim_model::ListenerVerdict::Refuse { rule } => {
                if let Some(seg) = SegMeta::parse(&bytes) {
                    self.no_socket(&seg, rule);
                }
                return true;
            }
        };
        let Some(Sock {
            kind:
                Kind::Listener {
                    backlog,
                    pending,
                    ready,
                },
            ..
        }) = self.socks.get(&lid)
        else {
            return false;
        };
        // Linux sk_acceptq_is_full: full when the queue holds more than `backlog` connections,
        // so backlog + 1 fit; other profiles admit `backlog`.
        if (pending.len() + ready.len()) as u32 >= accept_queue_limit(&self.cfg, *backlog) {
            ev!(
                self,
                "drop",
                json!({"reason": "listen queue full", "tuple": tuple.to_string()}),
                format!("SYN for {tuple} dropped: listen queue full")
            );
            return true;
        }
        let Ok(cid) = self.table.accept_child(lid, tuple) else {
            return false;
        };
        let mut sock = self.new_tcp_socket();
        let local = v4(tuple.local);
        let ep = IpListenEndpoint {
            addr: Some(IpAddress::Ipv4(*local.ip())),
            port: local.port(),
        };
        sock.listen(ep)
            .expect("port is non-zero: it came from a segment");
        let handle = self.sockets.add(sock);
        let incarnation = self.next_incarnation(tuple);
        let opts = self.socks[&lid].opts;
        self.socks.insert(
            cid,
            Sock {
                name: None,
                opts,
                kind: Kind::Conn(tuple),
                end: None,
                err: None,
                established: false,
                closed: false,
            },
        );
        self.conns.insert(
            tuple,
            Conn {
                id: cid,
                handle,
                state: State::Listen,
                incarnation,
                listener: Some(lid),
                last_tx: None,
                peer_fin_end: None,
                rst_in: false,
                shut_wr: false,
            },
        );
        if let Some(Sock {
            kind: Kind::Listener { pending, .. },
            ..
        }) = self.socks.get_mut(&lid)
        {
            pending.insert(tuple);
        }
        self.dev.rx.push_back(bytes);
        self.poll(now);
        true
    }

    fn time_wait_segment(
        &mut self,
        now: Instant,
        id: SocketId,
        tuple: FourTuple,
        seg: &SegMeta,
        bytes: Vec<u8>,
    ) {
        let listener = self.listener_for(tuple.local).is_some();
        let Some(d) = self.table.time_wait_segment(id, &seg.info(), now, listener) else {
            return;
        };
        let r = self.table.time_wait(id).cloned();
        let action = match d.action {
            TwAction::Ack => "ack",
            TwAction::Drop => "drop",
            TwAction::Kill => "kill",
            TwAction::RstAndKill => "rst_and_kill",
            TwAction::AcceptSyn { .. } => "accept_syn",
        };
        ev!(
            self,
            "time_wait",
            json!({"event": "segment", "tuple": tuple.to_string(), "flags": seg.flag_letters(), "seq": seg.seq,
                   "action": action, "restarted": d.restarted, "expires_at_us": r.as_ref().map(|r| r.expires_at().micros()), "rule": d.rule}),
            format!(
                "TIME-WAIT {tuple} <- [{}] seq={}: {action}{} ({})",
                seg.flag_letters(),
                seg.seq,
                if d.restarted { ", timer restarted" } else { "" },
                d.rule
            ),
        );
        match d.action {
            TwAction::Ack => {
                if let Some(r) = r {
                    let w = r.rcv_wnd.min(u32::from(u16::MAX)) as u16;
                    self.crafted.push(craft(
                        v4(tuple.local),
                        v4(tuple.remote),
                        r.snd_nxt.0,
                        Some(r.rcv_nxt.0),
                        Ctl::Ack,
                        w,
                    ));
                }
            }
            TwAction::Drop => {}
            TwAction::Kill => {
                if let Some(r) = self.table.remove(id) {
                    self.log_tw_end(now, id, r, EndReason::Assassinated);
                }
            }
            TwAction::RstAndKill => {
                if let Some(r) = reset_for(seg) {
                    self.crafted.push(r);
                }
                if let Some(r) = self.table.remove(id) {
                    self.log_tw_end(now, id, r, EndReason::Assassinated);
                }
            }
            TwAction::AcceptSyn { .. } => {
                if let Some(r) = self.table.remove(id) {
                    if matches!(
                        self.cfg.time_wait.syn,
                        SynInTimeWait::Rfc1122 | SynInTimeWait::Rfc6191
                    ) {
                        // RFC 1122 §4.2.2.13 (2): "returns to TIME-WAIT state if the SYN turns
                        // out to be an old duplicate" — kept until the new connection is
                        // established or dies in SYN-RECEIVED. (Linux and FreeBSD do not.)
                        self.reopened.insert(tuple, r.clone());
                    }
                    self.log_tw_end(now, id, r, EndReason::ReusedBySyn);
                }
                if !self.syn_to_listener(now, tuple, bytes) {
                    self.no_socket(seg, "TIME-WAIT reopened but no listener took the SYN");
                }
            }
        }
    }

    fn log_tw_end(
        &mut self,
        now: Instant,
        id: SocketId,
        record: TimeWaitRecord,
        reason: EndReason,
    ) {
        let lived = now - record.entered_at;
        let name = self
            .socks
            .get(&id)
            .and_then(|s| s.name.clone())
            .unwrap_or_default();
        ev!(
            self,
            "time_wait",
            json!({"event": reason.name(), "sock": name, "tuple": record.tuple.to_string(), "incarnation": record.incarnation,
                   "entered_at_us": record.entered_at.micros(), "lived_us": lived.micros(), "restarts": record.restarts()}),
            format!(
                "TIME-WAIT {} ended: {} after {lived} ({} restart(s)); port {} is free of it",
                record.tuple,
                reason.name(),
                record.restarts(),
                record.tuple.local.port()
            ),
        );
        if let Some(s) = self.socks.get(&id) {
            if s.closed {
                self.socks.remove(&id);
            }
        }
        self.tw_log.push(TimeWaitLog {
            record,
            ended_at: now,
            reason,
        });
    }

    fn after_poll(&mut self, now: Instant) {
        // 1. what left the host
        for bytes in std::mem::take(&mut self.dev.tx) {
            if let Some(seg) = SegMeta::parse(&bytes) {
                let t = FourTuple::new(SocketAddr::V4(seg.src), SocketAddr::V4(seg.dst));
                if let Some(c) = self.conns.get_mut(&t) {
                    c.last_tx = Some((seg.seq.wrapping_add(seg.seg_len()), seg.ack, seg.window));
                }
            }
            self.crafted.push(bytes);
        }
        // 2. state changes, in 4-tuple order; collected first (only the connections that
        // changed or wait in TIME-WAIT), then handled, since handling may remove connections.
        let mut todo = std::mem::take(&mut self.scratch);
        todo.clear();
        for (t, c) in &self.conns {
            let new = self.sockets.get::<tcp::Socket>(c.handle).state();
            if new != c.state || new == State::TimeWait {
                todo.push((*t, c.state, new));
            }
        }
        for &(t, old, new) in &todo {
            if new != old {
                self.on_state_change(now, t, old, new);
            }
            if new == State::TimeWait && self.conns.contains_key(&t) {
                self.try_takeover(now, t);
            }
        }
        self.scratch = todo;
    }

    fn on_state_change(&mut self, now: Instant, t: FourTuple, old: State, new: State) {
        let c = self.conns.get_mut(&t).expect("caller iterates live conns");
        c.state = new;
        let (id, inc, listener, rst_in) = (c.id, c.incarnation, c.listener, c.rst_in);
        let name = self
            .socks
            .get(&id)
            .and_then(|s| s.name.clone())
            .unwrap_or_else(|| "(embryonic)".into());
        ev!(
            self,
            "state",
            json!({"sock": name, "tuple": t.to_string(), "from": tcp_state(old).name(), "to": tcp_state(new).name(), "incarnation": inc}),
            format!("{name} {t}: {} -> {}", tcp_state(old), tcp_state(new)),
        );
        if new == State::Established {
            if let Some(s) = self.socks.get_mut(&id) {
                s.established = true;
            }
            // A reopened 4-tuple reached ESTABLISHED: the SYN was genuine.
            self.reopened.remove(&t);
        }
        if let (Some(lid), State::Established) = (listener, new) {
            if let Some(Sock {
                kind: Kind::Listener { pending, ready, .. },
                ..
            }) = self.socks.get_mut(&lid)
            {
                if pending.remove(&t) {
                    ready.push_back(t);
                }
            }
        }
        if new == State::Closed || (new == State::Listen && old != State::Listen) {
            // Closed, or an embryonic connection reset back to LISTEN (RFC 793 p.70): either
            // way the connection is over. Remove the smoltcp socket and free the 4-tuple.
            let end = match (old, rst_in) {
                (State::SynSent, true) => ConnEnd::Refused,
                (State::CloseWait, true) => ConnEnd::ResetInCloseWait,
                (_, true) => ConnEnd::Reset,
                (State::SynSent, false) => ConnEnd::Aborted,
                _ => ConnEnd::Normal,
            };
            let c = self.conns.remove(&t).expect("present");
            self.retire(c.handle);
            if let Some(lid) = listener {
                if let Some(Sock {
                    kind: Kind::Listener { pending, ready, .. },
                    ..
                }) = self.socks.get_mut(&lid)
                {
                    pending.remove(&t);
                    if new == State::Listen {
                        ready.retain(|x| *x != t);
                    }
                }
            }
            let drop_sock = match self.socks.get_mut(&c.id) {
                Some(s) => {
                    s.set_end(end);
                    s.closed || (listener.is_some() && s.name.is_none() && new == State::Listen)
                }
                None => false,
            };
            let returned = match self.reopened.remove(&t) {
                Some(r) if old == State::SynReceived && r.expires_at() > now => Some(r),
                _ => None,
            };
            if let Some(r) = returned {
                // The reopening SYN was an old duplicate (the peer reset our SYN-ACK): the
                // record comes back with the time it had left (RFC 1122 §4.2.2.13).
                self.socks.remove(&c.id);
                let (entered, expires) = (r.entered_at, r.expires_at());
                let inc = r.incarnation;
                if self.table.enter_time_wait(c.id, r).is_ok() {
                    ev!(
                        self,
                        "time_wait",
                        json!({"event": "returned", "tuple": t.to_string(), "incarnation": inc, "entered_at_us": entered.micros(),
                               "expires_at_us": expires.micros(), "rule": "RFC 1122 §4.2.2.13: the SYN was an old duplicate, return to TIME-WAIT"}),
                        format!("TIME-WAIT {t} returns: the reopening SYN was an old duplicate (RFC 1122 §4.2.2.13), until t={expires}"),
                    );
                } else {
                    self.table.remove(c.id);
                }
            } else if drop_sock || !self.socks.contains_key(&c.id) {
                self.socks.remove(&c.id);
                self.table.remove(c.id);
            } else {
                // The application still holds the socket: it keeps an explicitly bound port.
                self.table.disconnected(c.id);
            }
            let _ = now;
        }
    }

    fn try_takeover(&mut self, now: Instant, t: FourTuple) {
        let c = &self.conns[&t];
        let (Some((snd_nxt, ack, win)), Some(fin_end)) = (c.last_tx, c.peer_fin_end) else {
            return;
        };
        if ack != fin_end {
            return; // the final ACK has not left yet (delayed ACK): wait for the next poll
        }
        let c = self.conns.remove(&t).expect("present");
        self.retire(c.handle);
        let linger = self.socks.get(&c.id).and_then(|s| s.opts.linger_secs);
        let tw_len = self.cfg.time_wait_for(self.msl, linger);
        if tw_len == Duration::ZERO {
            // Stratus STCP with SO_LINGER {1,0}: the linger time (zero) replaces TIME-WAIT.
            ev!(
                self,
                "time_wait",
                json!({"event": "skipped", "tuple": t.to_string(), "rule": "Stratus STCP: the linger time replaces the TIME-WAIT timeout"}),
                format!("{t}: no TIME-WAIT (linger time 0 replaces it)"),
            );
            if let Some(s) = self.socks.get_mut(&c.id) {
                s.set_end(ConnEnd::Normal);
            }
            if self.socks.get(&c.id).is_none_or(|s| s.closed) {
                self.socks.remove(&c.id);
                self.table.remove(c.id);
            } else {
                self.table.disconnected(c.id);
            }
            return;
        }
        let record = TimeWaitRecord::new(
            t,
            c.incarnation,
            SeqNum(snd_nxt),
            SeqNum(fin_end),
            u32::from(win),
            now,
            tw_len,
        );
        let name = self
            .socks
            .get(&c.id)
            .and_then(|s| s.name.clone())
            .unwrap_or_default();
        ev!(
            self,
            "time_wait",
            json!({"event": "created", "sock": name, "tuple": t.to_string(), "incarnation": c.incarnation, "snd_nxt": snd_nxt,
                   "rcv_nxt": fin_end, "rcv_wnd": win, "expires_at_us": record.expires_at().micros(), "length_us": tw_len.micros()}),
            format!(
                "TIME-WAIT {t} begins: SND.NXT={snd_nxt} RCV.NXT={fin_end}, lasts {} (until t={})",
                tw_len,
                record.expires_at()
            ),
        );
        if let Some(s) = self.socks.get_mut(&c.id) {
            s.set_end(ConnEnd::Normal);
        }
        if self.table.enter_time_wait(c.id, record).is_err() {
            // The table lost the connection: an internal invariant broke. Keep running without
            // a record rather than panicking on user input.
            ev!(
                self,
                "error",
                json!({"what": "TIME-WAIT takeover found no table entry", "tuple": t.to_string()}),
                format!("internal: no table entry for {t}")
            );
        }
    }

    /// Whether the host has no live connection and no TIME-WAIT record.
    pub fn is_idle(&self) -> bool {
        self.conns.is_empty() && self.table.poll_timeout().is_none()
    }

    /// TIME-WAIT records alive now.
    pub fn live_time_wait(&self) -> Vec<TimeWaitRecord> {
        self.table
            .time_wait_records()
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// Whether the 4-tuple's table entry is a live connection (for tests).
    pub fn has_connection(&self, t: &FourTuple) -> bool {
        self.table
            .lookup_tuple(t)
            .and_then(|id| self.table.get(id))
            .is_some_and(|e| matches!(e.state, TableState::Connected { .. }))
    }
}
