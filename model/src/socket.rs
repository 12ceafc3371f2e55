//! The socket as the application sees it: which error a call returns, and in which order the
//! conditions are checked. One place for both backends that answer socket calls — the
//! simulation's host layer (smoltcp connections) and the model replay (instant connections) —
//! and the reference the real-kernel replay is compared against.
//!
//! Each backend summarises its own connection state as a [`ConnView`]; [`AppSocket`] holds
//! what the application will observe later (Linux's `sk_err`, reported once) and decides each
//! call from the view. The order of checks follows Linux (`tcp_sendmsg`, `tcp_recvmsg`,
//! `inet_shutdown`, `tcp_reset`), confirmed case by case against the kernel matrix.

use crate::errno::Errno;
use crate::time::Duration;

/// Deadline of a blocking `accept`, `recv` or `wait` when the script gives none: 600 s.
pub const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_secs(600);

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

impl ConnEnd {
    /// The end an RST causes: Linux `tcp_reset` reports EPIPE in CLOSE-WAIT (the peer's FIN
    /// arrived, ours was not sent), ECONNRESET otherwise.
    pub fn reset(fin_received: bool, fin_sent: bool) -> ConnEnd {
        if fin_received && !fin_sent {
            ConnEnd::ResetInCloseWait
        } else {
            ConnEnd::Reset
        }
    }

    /// The error the application will see for this end (`sk_err`), if any.
    pub fn error(self) -> Option<Errno> {
        match self {
            ConnEnd::Refused => Some(Errno::ECONNREFUSED),
            ConnEnd::Reset => Some(Errno::ECONNRESET),
            ConnEnd::ResetInCloseWait => Some(Errno::EPIPE),
            ConnEnd::Normal | ConnEnd::Aborted => None,
        }
    }
}

/// A backend's summary of a socket's connection at the moment of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnView {
    /// Not connected: never connected, or unconnected again after a failed connect
    /// (`inet_stream_connect` calls `tcp_disconnect`).
    Unconnected,
    /// A listening socket.
    Listener,
    /// The handshake is under way (SYN-SENT, SYN-RECEIVED).
    Connecting,
    /// A synchronised connection.
    Open {
        /// This end may still send (no FIN sent, not reset).
        may_send: bool,
        /// Nothing more will arrive: the peer's FIN arrived (or the connection can receive
        /// nothing more).
        fin_received: bool,
        /// Received data waits to be read.
        readable: bool,
    },
    /// A connection existed and is over (Linux `tcp_done` set RCV_SHUTDOWN, or both FINs
    /// were exchanged).
    Ended {
        /// Received data still waits to be read.
        readable: bool,
    },
}

/// What a `recv` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecvOutcome {
    /// Read the queued data.
    Read,
    /// End of stream (0 bytes).
    Eof,
    /// Nothing yet: block (EAGAIN at the deadline).
    Block,
}

/// The application-visible state of one socket beyond its connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AppSocket {
    /// How the connection ended, once.
    pub end: Option<ConnEnd>,
    /// Pending socket error (Linux `sk_err`): reported once, by the next call that looks.
    pub err: Option<Errno>,
    /// A connection of this socket reached ESTABLISHED at least once.
    pub established: bool,
}

impl AppSocket {
    /// Records how the connection ended (the first end only) and the error it leaves.
    pub fn set_end(&mut self, end: ConnEnd) {
        if self.end.is_none() {
            self.end = Some(end);
            self.err = end.error();
        }
    }

    /// Sets a pending error directly (a backend that learns it outside [`Self::set_end`]).
    pub fn set_error(&mut self, e: Errno) {
        self.err = Some(e);
    }

    /// Takes the pending error, if any (it is reported once).
    pub fn take_error(&mut self) -> Option<Errno> {
        self.err.take()
    }

    /// `connect()` again on a socket whose earlier attempt or connection is over. Linux
    /// `inet_stream_connect`: a socket once connected stays `SS_CONNECTED` (EISCONN); only a
    /// failed attempt (never established: refused, timed out) leaves it `SS_UNCONNECTED`, and
    /// the new attempt forgets how the old one ended (its pending error stays).
    pub fn reconnect(&mut self) -> Result<(), Errno> {
        if self.established {
            return Err(Errno::EISCONN);
        }
        self.end = None;
        Ok(())
    }

    /// The result of a finished connect attempt (`inet_wait_for_connect`, then `sock_error`):
    /// ok if the connection ended normally or is in TIME-WAIT (`in_time_wait`), otherwise the
    /// pending error, consumed, or ECONNREFUSED.
    pub fn connect_outcome(&mut self, in_time_wait: bool) -> Result<(), Errno> {
        if self.end == Some(ConnEnd::Normal) || in_time_wait {
            return Ok(());
        }
        Err(self.take_error().unwrap_or(Errno::ECONNREFUSED))
    }

    /// `send()`: `Ok` if data may be queued. Linux `tcp_sendmsg` → `sk_stream_wait_connect`: a
    /// pending error first; ENOTCONN during the handshake; EPIPE for any socket that is not,
    /// or no longer, connected, or has sent its FIN.
    pub fn send(&mut self, view: ConnView) -> Result<(), Errno> {
        if let Some(e) = self.take_error() {
            return Err(e);
        }
        match view {
            ConnView::Connecting => Err(Errno::ENOTCONN),
            ConnView::Open { may_send: true, .. } => Ok(()),
            _ => Err(Errno::EPIPE),
        }
    }

    /// `recv()`. Linux `tcp_recvmsg`: queued data first; a never-connected socket is
    /// ENOTCONN; then a pending error, once; then end of stream once the peer's FIN arrived
    /// or the connection is over; otherwise block.
    pub fn recv(&mut self, view: ConnView) -> Result<RecvOutcome, Errno> {
        match view {
            ConnView::Open { readable: true, .. } | ConnView::Ended { readable: true } => {
                Ok(RecvOutcome::Read)
            }
            ConnView::Unconnected | ConnView::Listener => Err(Errno::ENOTCONN),
            _ => {
                if let Some(e) = self.take_error() {
                    return Err(e);
                }
                Ok(match view {
                    ConnView::Ended { .. }
                    | ConnView::Open {
                        fin_received: true, ..
                    } => RecvOutcome::Eof,
                    _ => RecvOutcome::Block,
                })
            }
        }
    }

    /// `shutdown()`: Linux `inet_shutdown` — a socket in CLOSE (never connected, or its
    /// connection over, TIME-WAIT included) is ENOTCONN; a listener takes it as a no-op.
    pub fn shutdown(view: ConnView) -> Result<(), Errno> {
        match view {
            ConnView::Listener | ConnView::Connecting | ConnView::Open { .. } => Ok(()),
            ConnView::Unconnected | ConnView::Ended { .. } => Err(Errno::ENOTCONN),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN: ConnView = ConnView::Open {
        may_send: true,
        fin_received: false,
        readable: false,
    };

    #[test]
    fn a_pending_error_is_reported_once_before_anything_else() {
        let mut s = AppSocket::default();
        s.set_end(ConnEnd::Reset);
        s.set_end(ConnEnd::Normal); // the first end stays
        assert_eq!(s.send(OPEN), Err(Errno::ECONNRESET));
        assert_eq!(
            s.send(ConnView::Ended { readable: false }),
            Err(Errno::EPIPE)
        );
        let mut s = AppSocket::default();
        s.set_end(ConnEnd::reset(true, false));
        assert_eq!(
            s.recv(ConnView::Ended { readable: false }),
            Err(Errno::EPIPE)
        );
        assert_eq!(
            s.recv(ConnView::Ended { readable: false }),
            Ok(RecvOutcome::Eof)
        );
    }

    #[test]
    fn send_recv_and_shutdown_follow_linux() {
        let mut s = AppSocket::default();
        assert_eq!(s.send(ConnView::Unconnected), Err(Errno::EPIPE));
        assert_eq!(s.send(ConnView::Connecting), Err(Errno::ENOTCONN));
        assert_eq!(s.recv(ConnView::Unconnected), Err(Errno::ENOTCONN));
        assert_eq!(s.recv(ConnView::Connecting), Ok(RecvOutcome::Block));
        let half = ConnView::Open {
            may_send: false,
            fin_received: true,
            readable: true,
        };
        assert_eq!(s.recv(half), Ok(RecvOutcome::Read));
        assert_eq!(s.send(half), Err(Errno::EPIPE));
        let eof = ConnView::Open {
            may_send: true,
            fin_received: true,
            readable: false,
        };
        assert_eq!(s.recv(eof), Ok(RecvOutcome::Eof));
        assert_eq!(AppSocket::shutdown(ConnView::Listener), Ok(()));
        assert_eq!(
            AppSocket::shutdown(ConnView::Ended { readable: true }),
            Err(Errno::ENOTCONN)
        );
        assert_eq!(
            s.recv(ConnView::Ended { readable: true }),
            Ok(RecvOutcome::Read)
        );
        assert_eq!(ConnEnd::reset(true, true), ConnEnd::Reset);
        assert_eq!(ConnEnd::Refused.error(), Some(Errno::ECONNREFUSED));
        let mut refused = AppSocket::default();
        refused.set_end(ConnEnd::Refused);
        assert_eq!(refused.connect_outcome(false), Err(Errno::ECONNREFUSED));
        assert_eq!(refused.connect_outcome(false), Err(Errno::ECONNREFUSED));
        assert_eq!(refused.reconnect(), Ok(()));
        assert_eq!(refused.end, None);
        let mut once = AppSocket {
            established: true,
            ..AppSocket::default()
        };
        assert_eq!(once.reconnect(), Err(Errno::EISCONN));
        once.set_end(ConnEnd::Normal);
        assert_eq!(once.connect_outcome(false), Ok(()));
    }
}
