//! The real-kernel baseline of `twsim bench`: the simulator's lifecycle exchange through
//! `std::net` on this machine's loopback, in the same process and the same run.
//!
//! What it does, exactly:
//!
//! - A [`TcpListener`] on `127.0.0.1`, port chosen by the kernel (port 0), default backlog.
//! - A server thread accepts `n` connections one after another. For each: read exactly 16
//!   bytes, write 64 bytes, read until end of stream (the client's FIN), drop the socket
//!   (`close(2)`: the server's FIN from CLOSE-WAIT, then LAST-ACK).
//! - The calling thread is the client. For each lifecycle: [`TcpStream::connect`] (automatic
//!   ephemeral port), write the 16-byte request, read exactly the 64-byte response, drop the
//!   socket. The client closes first, so the client's side ends in TIME-WAIT, which the kernel
//!   keeps (60 s on Linux); the run does not wait for it.
//! - No socket options are set: no `SO_REUSEADDR`, no `SO_LINGER`, Nagle on. Each side writes
//!   one segment's worth at a time, so Nagle and delayed ACKs do not hold anything back.
//! - The clock runs from before the first `connect` until the server thread has closed the
//!   last connection.
//!
//! Ports: every lifecycle goes to the same server address and port, so each takes a fresh
//! ephemeral port while earlier ones sit in TIME-WAIT. On Linux the default
//! `net.ipv4.tcp_tw_reuse = 2` lets `connect` reuse a loopback TIME-WAIT older than 1 s, so
//! runs longer than `ip_local_port_range` (28 232 ports by default) still go through; where
//! that is off and the range runs out, `connect` fails with `EADDRNOTAVAIL` and the baseline
//! reports it as skipped rather than a figure. Beyond `net.ipv4.tcp_max_tw_buckets` the
//! kernel stops keeping TIME-WAITs (and logs it); the exchange is unchanged.
//!
//! Where sockets are unavailable (no loopback, a sandbox refusing `socket(2)`), the baseline
//! returns the reason instead of figures.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::thread;
use std::time::Instant as Wall;

/// The client's request: 16 bytes, as in the simulator's lifecycle.
const REQUEST: &[u8; 16] = b"GET / HTTP/1.0\r\n";
/// The server's response: 64 bytes.
const RESPONSE: [u8; 64] = [b'x'; 64];

/// One measurement of the kernel baseline.
pub struct KernelFigures {
    /// Lifecycles completed.
    pub lifecycles: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
}

impl KernelFigures {
    /// Lifecycles per wall-clock second.
    pub fn rate(&self) -> f64 {
        self.lifecycles as f64 / self.seconds
    }
}

/// The server's side of one connection: request in, response out, wait for the client's FIN,
/// close.
fn serve(mut s: TcpStream) -> io::Result<()> {
    let mut req = [0u8; 16];
    s.read_exact(&mut req)?;
    if &req != REQUEST {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "corrupted request",
        ));
    }
    s.write_all(&RESPONSE)?;
    let mut rest = [0u8; 16];
    match s.read(&mut rest)? {
        0 => Ok(()),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "data after the request",
        )),
    }
    // dropped here: close(2)
}

/// The client's side of one lifecycle: connect, request, response, close first.
fn client(addr: std::net::SocketAddr) -> io::Result<()> {
    let mut s = TcpStream::connect(addr)?;
    s.write_all(REQUEST)?;
    let mut resp = [0u8; 64];
    s.read_exact(&mut resp)?;
    if resp != RESPONSE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "corrupted response",
        ));
    }
    Ok(())
    // dropped here: close(2), the client's FIN goes first
}

/// Runs `n` lifecycles through the kernel on loopback. `Err` names why the baseline could not
/// run (sockets unavailable, ports exhausted, an unexpected error) and after how many
/// lifecycles.
pub fn measure(n: u64) -> Result<KernelFigures, String> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| format!("cannot listen on 127.0.0.1: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("listener address: {e}"))?;
    #[allow(clippy::disallowed_methods)] // wall time is what a benchmark measures
    let t0 = Wall::now();
    let server = thread::spawn(move || -> Result<(), String> {
        for i in 0..n {
            let (s, _) = listener
                .accept()
                .map_err(|e| format!("accept (lifecycle {i}): {e}"))?;
            serve(s).map_err(|e| format!("server (lifecycle {i}): {e}"))?;
        }
        Ok(())
    });
    let mut failed = None;
    for i in 0..n {
        if let Err(e) = client(addr) {
            failed = Some(format!("client (lifecycle {i}): {e}"));
            break;
        }
    }
    if let Some(why) = failed {
        // The server thread may still wait in accept(2); it is left there (detached) rather
        // than joined, and ends with the process.
        drop(server);
        return Err(why);
    }
    match server.join() {
        Ok(Ok(())) => Ok(KernelFigures {
            lifecycles: n,
            seconds: t0.elapsed().as_secs_f64(),
        }),
        Ok(Err(e)) => Err(e),
        Err(_) => Err("server thread panicked".to_string()),
    }
}

/// TCP sockets in TIME-WAIT on this machine now (`twsim_kernel::time_wait_sockets`, from
/// `/proc/net/tcp{,6}`); `None` off Linux or without procfs. The kernel baseline runs more
/// slowly while many are left (`kernel_lifecycles` in the parent module says why).
pub fn time_wait_sockets() -> Option<usize> {
    #[cfg(target_os = "linux")]
    return twsim_kernel::time_wait_sockets();
    #[cfg(not(target_os = "linux"))]
    None
}
