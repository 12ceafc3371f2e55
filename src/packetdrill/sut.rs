//! The system under test of a packetdrill run: a simulated host in virtual time, or (Linux,
//! `--kernel`) this machine's kernel behind a TUN device in real time. Both answer the same
//! socket calls and hand back the segments they send with their send times (µs since the host
//! was created).

use std::net::{SocketAddr, SocketAddrV4};
use twsim_model::{Errno, FourTuple, Instant, TcpState};
use twsim_sim::host::Host;
use twsim_sim::wire::Packet;

/// A call's result: the value or the errno name.
pub type R<T> = Result<T, &'static str>;

/// The host a script runs against.
pub enum Sut {
    /// A simulated host; virtual time only moves when the runner moves it.
    Sim(Box<Host>),
    /// The real kernel in a private network namespace, behind `tun0`.
    #[cfg(target_os = "linux")]
    Kernel(twsim_kernel::tun::TunHost),
}

fn t(us: u64) -> Instant {
    Instant::from_micros(us)
}

impl Sut {
    /// Whether this is the real kernel (real time, Linux sysctls).
    pub fn is_kernel(&self) -> bool {
        !matches!(self, Sut::Sim(_))
    }

    /// `socket()` named `name`.
    pub fn socket(&mut self, name: &str) -> R<()> {
        match self {
            Sut::Sim(h) => h.socket("main", name).map_err(Errno::name),
            #[cfg(target_os = "linux")]
            Sut::Kernel(k) => k.socket(name),
        }
    }

    /// SO_REUSEADDR (`port` false) or SO_REUSEPORT.
    pub fn set_reuse(&mut self, name: &str, port: bool, on: bool) -> R<()> {
        match self {
            Sut::Sim(h) => h
                .setsockopt("main", name, |o| {
                    if port {
                        o.reuseport = on
                    } else {
                        o.reuseaddr = on
                    }
                })
                .map_err(Errno::name),
            #[cfg(target_os = "linux")]
            Sut::Kernel(k) => k.set_reuse(name, port, on),
        }
    }

    /// `bind()`.
    pub fn bind(&mut self, name: &str, a: SocketAddrV4) -> R<()> {
        match self {
            Sut::Sim(h) => h
                .bind("main", name, SocketAddr::V4(a))
                .map(drop)
                .map_err(Errno::name),
            #[cfg(target_os = "linux")]
            Sut::Kernel(k) => k.bind(name, a),
        }
    }

    /// `listen()`.
    pub fn listen(&mut self, name: &str, backlog: u32) -> R<()> {
        match self {
            Sut::Sim(h) => h
                .listen("main", name, backlog)
                .map(drop)
                .map_err(Errno::name),
            #[cfg(target_os = "linux")]
            Sut::Kernel(k) => k.listen(name, backlog),
        }
    }

    /// `accept()` into `child`; `Ok(false)` when nothing is ready.
    pub fn accept(&mut self, name: &str, child: &str) -> R<bool> {
        match self {
            Sut::Sim(h) => h
                .accept("main", name, child)
                .map(|c| c.is_some())
                .map_err(Errno::name),
            #[cfg(target_os = "linux")]
            Sut::Kernel(k) => k.accept(name, child),
        }
    }

    /// `connect()`, started at `now` (µs).
    pub fn connect(&mut self, now: u64, name: &str, remote: SocketAddrV4) -> R<()> {
        match self {
            Sut::Sim(h) => h
                .connect(t(now), "main", name, SocketAddr::V4(remote))
                .map(drop)
                .map_err(Errno::name),
            #[cfg(target_os = "linux")]
            Sut::Kernel(k) => k.connect(name, remote),
        }
    }

    /// The result of a connect in progress, `None` while it is.
    pub fn connect_result(&mut self, name: &str) -> Option<R<()>> {
        match self {
            Sut::Sim(h) => h.connect_result(name).map(|r| r.map_err(Errno::name)),
            #[cfg(target_os = "linux")]
            Sut::Kernel(k) => k.connect_result(name),
        }
    }

    /// `send()` of `n` zero bytes.
    pub fn send(&mut self, now: u64, name: &str, n: usize) -> R<usize> {
        match self {
            Sut::Sim(h) => h
                .send(t(now), "main", name, &vec![0u8; n])
                .map_err(Errno::name),
            #[cfg(target_os = "linux")]
            Sut::Kernel(k) => k.send(name, n),
        }
    }

    /// `recv()` of up to `n` bytes; `Ok(None)` when nothing is there.
    pub fn recv(&mut self, now: u64, name: &str, n: u32) -> R<Option<usize>> {
        match self {
            Sut::Sim(h) => h
                .recv(t(now), "main", name, Some(n))
                .map(|d| d.map(|d| d.len()))
                .map_err(Errno::name),
            #[cfg(target_os = "linux")]
            Sut::Kernel(k) => k.recv(name, n),
        }
    }

    /// `shutdown()`: `write` → SHUT_WR, else SHUT_RD.
    pub fn shutdown(&mut self, now: u64, name: &str, write: bool) -> R<()> {
        match self {
            Sut::Sim(h) => h.shutdown(t(now), "main", name, write).map_err(Errno::name),
            #[cfg(target_os = "linux")]
            Sut::Kernel(k) => k.shutdown(name, write),
        }
    }

    /// `close()`.
    pub fn close(&mut self, now: u64, name: &str) -> R<()> {
        match self {
            Sut::Sim(h) => h.close(t(now), "main", name).map_err(Errno::name),
            #[cfg(target_os = "linux")]
            Sut::Kernel(k) => k.close(name),
        }
    }

    /// Hands `pkt` to the host at `now` (µs).
    pub fn deliver(&mut self, now: u64, pkt: Packet) -> Result<(), String> {
        match self {
            Sut::Sim(h) => {
                h.deliver(t(now), pkt);
                Ok(())
            }
            #[cfg(target_os = "linux")]
            Sut::Kernel(k) => k.inject(&pkt.bytes),
        }
    }

    /// Runs the host until `to` (µs) — its timers in virtual time, or real time passing — and
    /// returns what it sent, with send times; with `first_only`, returns at the first segment.
    /// `now` follows the host's clock.
    pub fn advance(&mut self, now: &mut u64, to: u64, first_only: bool) -> Vec<(u64, Packet)> {
        let mut out = Vec::new();
        match self {
            Sut::Sim(h) => {
                for p in h.take_tx() {
                    out.push((*now, p));
                }
                for _ in 0..100_000 {
                    if first_only && !out.is_empty() {
                        break;
                    }
                    match h.poll_at(t(*now)) {
                        Some(at) if at.micros() <= to => {
                            *now = at.micros();
                            h.poll(at);
                            for p in h.take_tx() {
                                out.push((*now, p));
                            }
                        }
                        _ => {
                            *now = (*now).max(to);
                            break;
                        }
                    }
                }
            }
            #[cfg(target_os = "linux")]
            Sut::Kernel(k) => {
                for (at, bytes) in k.read_until(to, first_only) {
                    if let Some(p) = Packet::parse(bytes) {
                        out.push((at, p));
                    }
                }
                *now = k.now_us().max(*now);
            }
        }
        out
    }

    /// TIME-WAIT records (simulation) or TIME-WAIT sockets (kernel).
    pub fn time_wait_count(&self) -> usize {
        match self {
            Sut::Sim(h) => h.live_time_wait().len(),
            #[cfg(target_os = "linux")]
            Sut::Kernel(k) => k.time_wait_count(),
        }
    }

    /// Whether socket `name`'s connection has ended (state CLOSED).
    pub fn is_closed(&self, name: &str) -> bool {
        match self {
            Sut::Sim(h) => h.state_of(name) == TcpState::Closed,
            #[cfg(target_os = "linux")]
            Sut::Kernel(k) => k.is_closed(name),
        }
    }

    /// Whether `tuple` is a live connection of the host (simulation only; the kernel: false).
    pub fn has_connection(&self, tuple: &FourTuple) -> bool {
        match self {
            Sut::Sim(h) => h.has_connection(tuple),
            #[cfg(target_os = "linux")]
            Sut::Kernel(_) => false,
        }
    }

    /// `tcpdrop -s TIME_WAIT` (simulation only).
    pub fn drop_time_wait(&mut self, now: u64) -> Result<(), String> {
        match self {
            Sut::Sim(h) => {
                h.drop_time_wait(t(now));
                Ok(())
            }
            #[cfg(target_os = "linux")]
            Sut::Kernel(_) => Err("tcpdrop is FreeBSD's".into()),
        }
    }
}
