//! Bare two-interface smoltcp harness.
//!
//! This module is the baseline of the throughput benchmark: two smoltcp
//! interfaces (`Medium::Ip`) joined by in-memory packet queues with a fixed
//! one-way delay, driven by a minimal virtual-time event loop. It has no host
//! layer, no port allocator and no configurable network model; it only runs
//! complete TCP connection lifecycles back to back as fast as smoltcp allows.
//!
//! Its segments are the simulator's on the bench's workload (`os: linux`), segment for
//! segment: the same flags, payload lengths and TCP options, RFC 7323 timestamps included
//! (TSval = milliseconds of virtual time, as the simulator's endpoints send them). Only the
//! advertised window differs (1 KiB buffers here, 16 KiB there). A test compares the two.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, Ipv4Address};

/// Client address (10.0.0.1).
const CLIENT_ADDR: Ipv4Address = Ipv4Address::new(10, 0, 0, 1);
/// Server address (10.0.0.2).
const SERVER_ADDR: Ipv4Address = Ipv4Address::new(10, 0, 0, 2);
/// Server listening port.
const SERVER_PORT: u16 = 80;
/// First client source port; lifecycle `i` uses `CLIENT_PORT_BASE + i % CLIENT_PORT_SPAN`.
const CLIENT_PORT_BASE: u16 = 40_000;
/// Number of distinct client source ports cycled through.
const CLIENT_PORT_SPAN: u64 = 20_000;
/// Fixed one-way delay of every segment, in microseconds (1 ms).
const ONE_WAY_DELAY_US: i64 = 1_000;
/// Device MTU, in bytes.
const MTU: usize = 1_500;
/// Size of each TCP socket's receive and transmit buffers, in bytes.
const SOCKET_BUFFER_BYTES: usize = 1_024;
/// Request sent by the client: exactly 16 bytes.
const REQUEST: &[u8; 16] = b"GET / HTTP/1.0\r\n";
/// Size of the server's response, in bytes.
const RESPONSE_LEN: usize = 64;
/// Upper bound on event-loop iterations at one virtual instant before the
/// harness declares that it is spinning without progress.
const MAX_ITERATIONS_PER_INSTANT: u32 = 64;
/// Upper bound on event-loop iterations in one lifecycle.
const MAX_ITERATIONS_PER_LIFECYCLE: u32 = 10_000;
/// XOR mask deriving the server's interface seed from the client's.
const SERVER_SEED_MASK: u64 = 0x9E37_79B9_7F4A_7C15;

thread_local! {
    /// The virtual clock in milliseconds (wrapping modulo 2³²), read by [`tsval_now`].
    static TS_CLOCK_MS: Cell<u32> = const { Cell::new(0) };
}

/// smoltcp's TSval generator (RFC 7323 §5.4): the virtual clock in milliseconds, set before
/// each poll.
fn tsval_now() -> u32 {
    TS_CLOCK_MS.with(Cell::get)
}

/// Result of a bare-harness run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BareReport {
    /// Number of complete TCP connection lifecycles run (handshake, request,
    /// response, close, client TIME-WAIT expiry), in lifecycles.
    pub lifecycles: u64,
    /// Number of IP packets transmitted by both devices together over the
    /// whole run, in packets (one TCP segment each).
    pub segments: u64,
}

/// In-memory `Medium::Ip` device: packets handed to smoltcp come from `rx`,
/// packets emitted by smoltcp are appended to `tx`.
struct QueueDevice {
    /// Packets waiting to be received by the interface.
    rx: VecDeque<Vec<u8>>,
    /// Packets transmitted by the interface, not yet picked up by the wire.
    tx: VecDeque<Vec<u8>>,
    /// Recycled packet buffers, so steady state allocates nothing per packet.
    spare: RefCell<Vec<Vec<u8>>>,
}

impl QueueDevice {
    fn new() -> Self {
        Self {
            rx: VecDeque::new(),
            tx: VecDeque::new(),
            spare: RefCell::new(Vec::new()),
        }
    }
}

/// Receive token owning one packet; its buffer is recycled once consumed.
struct QueueRxToken<'a> {
    packet: Vec<u8>,
    spare: &'a RefCell<Vec<Vec<u8>>>,
}

/// Transmit token appending one packet to the device's `tx` queue.
struct QueueTxToken<'a> {
    tx: &'a mut VecDeque<Vec<u8>>,
    spare: &'a RefCell<Vec<Vec<u8>>>,
}

impl phy::RxToken for QueueRxToken<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        let result = f(&self.packet);
        self.spare.borrow_mut().push(self.packet);
        result
    }
}

impl phy::TxToken for QueueTxToken<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let mut packet = self.spare.borrow_mut().pop().unwrap_or_default();
        packet.clear();
        packet.resize(len, 0);
        let result = f(&mut packet);
        self.tx.push_back(packet);
        result
    }
}

impl Device for QueueDevice {
    type RxToken<'a> = QueueRxToken<'a>;
    type TxToken<'a> = QueueTxToken<'a>;

    fn receive(&mut self, _timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let packet = self.rx.pop_front()?;
        let rx = QueueRxToken {
            packet,
            spare: &self.spare,
        };
        let tx = QueueTxToken {
            tx: &mut self.tx,
            spare: &self.spare,
        };
        Some((rx, tx))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<Self::TxToken<'_>> {
        Some(QueueTxToken {
            tx: &mut self.tx,
            spare: &self.spare,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = MTU;
        caps
    }
}

/// One host: an interface, its device and a socket set holding one TCP socket.
struct Host {
    iface: Interface,
    device: QueueDevice,
    sockets: SocketSet<'static>,
    handle: SocketHandle,
    /// Virtual time at which the interface next wants to be polled, in
    /// microseconds; `None` when it only waits for ingress.
    poll_at_us: Option<i64>,
}

impl Host {
    fn new(addr: Ipv4Address, random_seed: u64, now: Instant) -> Self {
        let mut device = QueueDevice::new();
        let mut config = Config::new(HardwareAddress::Ip);
        config.random_seed = random_seed;
        let mut iface = Interface::new(config, &mut device, now);
        iface.update_ip_addrs(|addrs| {
            addrs
                .push(IpCidr::new(IpAddress::Ipv4(addr), 24))
                .expect("interface address table has room for one address");
        });
        let mut socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; SOCKET_BUFFER_BYTES]),
            tcp::SocketBuffer::new(vec![0; SOCKET_BUFFER_BYTES]),
        );
        socket.set_tsval_generator(Some(tsval_now));
        let mut sockets = SocketSet::new(Vec::with_capacity(1));
        let handle = sockets.add(socket);
        Self {
            iface,
            device,
            sockets,
            handle,
            poll_at_us: None,
        }
    }

    fn socket(&mut self) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(self.handle)
    }

    /// Polls the interface if it has received packets or a due timer.
    fn poll_if_due(&mut self, now_us: i64) {
        let due = self.poll_at_us.is_some_and(|at| at <= now_us);
        if due || !self.device.rx.is_empty() {
            TS_CLOCK_MS.with(|c| c.set((now_us / 1000) as u32));
            self.iface.poll(
                Instant::from_micros(now_us),
                &mut self.device,
                &mut self.sockets,
            );
        }
    }

    /// Refreshes `poll_at_us`; a time at or before `now_us` means "now".
    fn refresh_poll_at(&mut self, now_us: i64) {
        self.poll_at_us = self
            .iface
            .poll_at(Instant::from_micros(now_us), &self.sockets)
            .map(|at| at.total_micros().max(now_us));
    }
}

/// A packet on the wire between the two devices.
struct InFlight {
    /// Virtual delivery time, in microseconds.
    deliver_at_us: i64,
    /// `true` when travelling client to server.
    to_server: bool,
    packet: Vec<u8>,
}

/// The 64-byte response body sent by the server.
const RESPONSE: [u8; RESPONSE_LEN] = response_bytes();

const fn response_bytes() -> [u8; RESPONSE_LEN] {
    let mut out = [0u8; RESPONSE_LEN];
    let mut i = 0;
    while i < RESPONSE_LEN {
        out[i] = b'a' + (i % 26) as u8;
        i += 1;
    }
    out
}

/// Application-level progress of one lifecycle.
struct Exchange {
    request_sent: bool,
    server_received: usize,
    server_buf: [u8; 16],
    response_sent: bool,
    client_received: usize,
    client_buf: [u8; RESPONSE_LEN],
    client_closed: bool,
    server_closed: bool,
    client_time_wait: bool,
}

impl Exchange {
    fn new() -> Self {
        Self {
            request_sent: false,
            server_received: 0,
            server_buf: [0; 16],
            response_sent: false,
            client_received: 0,
            client_buf: [0; RESPONSE_LEN],
            client_closed: false,
            server_closed: false,
            client_time_wait: false,
        }
    }
}

/// The whole bare network: two hosts, a wire and a virtual clock.
struct Bare {
    client: Host,
    server: Host,
    wire: VecDeque<InFlight>,
    /// Current virtual time, in microseconds.
    now_us: i64,
    segments: u64,
    /// Every packet put on the wire, with its direction (`true`: client to server).
    #[cfg(test)]
    tap: Vec<(bool, Vec<u8>)>,
}

impl Bare {
    fn new(seed: u64) -> Self {
        let now = Instant::from_micros(0);
        Self {
            client: Host::new(CLIENT_ADDR, seed, now),
            server: Host::new(SERVER_ADDR, seed ^ SERVER_SEED_MASK, now),
            wire: VecDeque::new(),
            now_us: 0,
            segments: 0,
            #[cfg(test)]
            tap: Vec::new(),
        }
    }

    /// Moves every packet whose delivery time has come into its receiver's queue.
    fn deliver_due(&mut self) {
        while let Some(front) = self.wire.front() {
            if front.deliver_at_us > self.now_us {
                break;
            }
            let InFlight {
                to_server, packet, ..
            } = self.wire.pop_front().expect("front exists");
            if to_server {
                self.server.device.rx.push_back(packet);
            } else {
                self.client.device.rx.push_back(packet);
            }
        }
    }

    /// Puts every packet transmitted by either device on the wire.
    fn collect_transmitted(&mut self) {
        let deliver_at_us = self.now_us + ONE_WAY_DELAY_US;
        for (host, to_server) in [(&mut self.client, true), (&mut self.server, false)] {
            while let Some(packet) = host.device.tx.pop_front() {
                self.segments += 1;
                #[cfg(test)]
                self.tap.push((to_server, packet.clone()));
                self.wire.push_back(InFlight {
                    deliver_at_us,
                    to_server,
                    packet,
                });
            }
        }
    }

    /// Runs the client and server applications once; panics if the exchange
    /// deviates from the expected request/response/close sequence.
    fn run_apps(&mut self, ex: &mut Exchange) {
        // Server: read the request, answer it, close on EOF.
        let server = self.server.socket();
        if server.can_recv() {
            let n = server
                .recv_slice(&mut ex.server_buf[ex.server_received..])
                .expect("server receive failed");
            ex.server_received += n;
            assert!(
                server.recv_queue() == 0,
                "bare harness: server received more than the {}-byte request",
                REQUEST.len()
            );
        }
        if !ex.response_sent && ex.server_received == REQUEST.len() {
            assert_eq!(
                &ex.server_buf, REQUEST,
                "bare harness: server received a corrupted request"
            );
            let n = server.send_slice(&RESPONSE).expect("server send failed");
            assert_eq!(
                n, RESPONSE_LEN,
                "bare harness: response did not fit the send buffer"
            );
            ex.response_sent = true;
        }
        if !ex.server_closed && server.state() == tcp::State::CloseWait && !server.can_recv() {
            assert!(
                ex.response_sent && ex.server_received == REQUEST.len(),
                "bare harness: client closed before the exchange completed \
                 (server received {} of {} request bytes)",
                ex.server_received,
                REQUEST.len()
            );
            server.close();
            ex.server_closed = true;
        }

        // Client: send the request once established, read the response, close.
        let client = self.client.socket();
        if !ex.request_sent && client.may_send() {
            let n = client.send_slice(REQUEST).expect("client send failed");
            assert_eq!(
                n,
                REQUEST.len(),
                "bare harness: request did not fit the send buffer"
            );
            ex.request_sent = true;
        }
        if client.can_recv() {
            let n = client
                .recv_slice(&mut ex.client_buf[ex.client_received..])
                .expect("client receive failed");
            ex.client_received += n;
            assert!(
                client.recv_queue() == 0,
                "bare harness: client received more than the {RESPONSE_LEN}-byte response"
            );
        }
        if !ex.client_closed && ex.client_received == RESPONSE_LEN {
            assert_eq!(
                ex.client_buf, RESPONSE,
                "bare harness: client received a corrupted response"
            );
            client.close();
            ex.client_closed = true;
        }
        if client.state() == tcp::State::TimeWait {
            ex.client_time_wait = true;
        }
    }

    /// Runs lifecycle number `index` to the end of the client's TIME-WAIT.
    fn run_lifecycle(&mut self, index: u64) {
        let client_port = CLIENT_PORT_BASE + (index % CLIENT_PORT_SPAN) as u16;

        let server = self.server.socket();
        assert_eq!(
            server.state(),
            tcp::State::Closed,
            "bare harness: server socket not closed at lifecycle start"
        );
        server.listen(SERVER_PORT).expect("server listen failed");
        let client = &mut self.client;
        let socket = client.sockets.get_mut::<tcp::Socket>(client.handle);
        assert_eq!(
            socket.state(),
            tcp::State::Closed,
            "bare harness: client socket not closed at lifecycle start"
        );
        socket
            .connect(
                client.iface.context(),
                (IpAddress::Ipv4(SERVER_ADDR), SERVER_PORT),
                client_port,
            )
            .expect("client connect failed");
        self.client.refresh_poll_at(self.now_us);
        self.server.refresh_poll_at(self.now_us);

        let mut ex = Exchange::new();
        let mut iterations = 0u32;
        let mut iterations_at_instant = 0u32;
        loop {
            iterations += 1;
            assert!(
                iterations <= MAX_ITERATIONS_PER_LIFECYCLE,
                "bare harness: lifecycle {index} did not finish within \
                 {MAX_ITERATIONS_PER_LIFECYCLE} event-loop iterations"
            );

            self.deliver_due();
            self.client.poll_if_due(self.now_us);
            self.server.poll_if_due(self.now_us);
            self.collect_transmitted();
            self.run_apps(&mut ex);

            if ex.client_time_wait && self.client.socket().state() == tcp::State::Closed {
                break;
            }

            self.client.refresh_poll_at(self.now_us);
            self.server.refresh_poll_at(self.now_us);
            let next_us = [
                self.wire.front().map(|p| p.deliver_at_us),
                self.client.poll_at_us,
                self.server.poll_at_us,
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or_else(|| {
                panic!("bare harness: lifecycle {index} stalled: nothing scheduled")
            });

            if next_us > self.now_us {
                self.now_us = next_us;
                iterations_at_instant = 0;
            } else {
                iterations_at_instant += 1;
                assert!(
                    iterations_at_instant <= MAX_ITERATIONS_PER_INSTANT,
                    "bare harness: lifecycle {index} spins at t = {} us without progress",
                    self.now_us
                );
            }
        }

        assert!(
            ex.server_closed && ex.client_closed,
            "bare harness: lifecycle {index} ended before both sides closed"
        );
        assert_eq!(
            self.server.socket().state(),
            tcp::State::Closed,
            "bare harness: server socket not closed after lifecycle {index}"
        );
        assert!(
            self.wire.is_empty()
                && self.client.device.rx.is_empty()
                && self.server.device.rx.is_empty(),
            "bare harness: packets left in flight after lifecycle {index}"
        );
    }
}

/// Runs `n` complete TCP connection lifecycles between two smoltcp interfaces (Medium::Ip,
/// in-memory queues, virtual time): handshake, a request ("GET /" 16 bytes) answered by a
/// 64-byte response, close by the client first, and the client's TIME-WAIT expiry
/// (smoltcp's own 10 s CLOSE_DELAY, reached by advancing virtual time), with a fixed
/// one-way delay of 1 ms per segment. Deterministic: no wall clock inside.
///
/// `n` is a count of lifecycles; `seed` seeds both interfaces' random number
/// generators (initial sequence numbers), the client with `seed` and the server
/// with `seed ^ 0x9E3779B97F4A7C15`. Virtual time starts at 0 µs and each
/// lifecycle takes a little over 10 s of it.
///
/// # Panics
///
/// Panics if the exchange deviates from the expected sequence (wrong byte
/// counts or contents, a socket not closed when it should be, or an event loop
/// that stops making progress).
pub fn run_bare_lifecycles(n: u64, seed: u64) -> BareReport {
    let mut bare = Bare::new(seed);
    for index in 0..n {
        bare.run_lifecycle(index);
    }
    BareReport {
        lifecycles: n,
        segments: bare.segments,
    }
}

/// The IPv4 packets of `n` lifecycles (seed 1) as they went on the wire, in order, each with
/// its direction (`true`: client to server).
#[cfg(test)]
pub(crate) fn wire_packets(n: u64) -> Vec<(bool, Vec<u8>)> {
    let mut bare = Bare::new(1);
    for index in 0..n {
        bare.run_lifecycle(index);
    }
    bare.tap
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycles_complete_with_stable_segment_count() {
        let a = run_bare_lifecycles(50, 7);
        let b = run_bare_lifecycles(50, 7);
        assert_eq!(a.lifecycles, 50);
        assert_eq!(a, b, "same seed must give the same report");
        assert!(a.segments >= 8 * 50, "too few segments: {}", a.segments);
        assert_eq!(
            a.segments % 50,
            0,
            "segment count varies between lifecycles"
        );
        assert_eq!(a.segments / 50, SEGMENTS_PER_LIFECYCLE);
    }

    #[test]
    fn segment_count_does_not_depend_on_seed() {
        let a = run_bare_lifecycles(20, 1);
        let b = run_bare_lifecycles(20, 0xDEAD_BEEF);
        assert_eq!(a, b);
    }

    #[test]
    fn zero_lifecycles() {
        assert_eq!(
            run_bare_lifecycles(0, 3),
            BareReport {
                lifecycles: 0,
                segments: 0
            }
        );
    }

    /// Segments per lifecycle measured with smoltcp 0.14.0's defaults and timestamps on:
    /// SYN, SYN-ACK, ACK; request (16 B); response (64 B, carrying the ACK of
    /// the request); client FIN; server ACK of that FIN; server FIN; final ACK.
    const SEGMENTS_PER_LIFECYCLE: u64 = 9;
}
