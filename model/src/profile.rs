//! Operating-system profiles: the bundle of rules a host follows.
//!
//! A profile fixes the bind rules, the listener choice, the TIME-WAIT length and segment
//! policy, the ephemeral port range, the connect timeout and the error spelling. Sources are
//! cited per profile (the per-OS sections of `shared/spec/bind-rules.md`); where no source
//! exists the assumption is stated on the profile and on the field it affects.
//!
//! | profile | bind rules | TIME-WAIT | segment policy | ephemeral | connect timeout |
//! | --- | --- | --- | --- | --- | --- |
//! | `linux` | [`BindRules::Linux`] | 60 s fixed | Linux | 32768–60999 | 127 s |
//! | `rfc793` | [`BindRules::Bsd`] (assumed) | 2·MSL (MSL 2 min) | RFC 793 | 49152–65535 | 180 s |
//! | `freebsd` | [`BindRules::Bsd`] | 2·MSL (MSL 30 s) | BSD `tcp_twcheck` | 10000–65535 | 75 s |
//! | `macos` | [`BindRules::Bsd`] | 2·MSL (MSL 15 s) | BSD | 49152–65535 | 75 s |
//! | `windows-nt4` | [`BindRules::WindowsClassic`] + KB 307175 + KB Q177074 | 240 s fixed | RFC 793 (assumed) | 1025–5000 | 21 s |
//! | `windows-95` | as `windows-nt4` (assumed; KB Q177074 names both) | 240 s fixed | RFC 793 (assumed) | 1025–5000 | 21 s |
//! | `windows-2000` | [`BindRules::WindowsClassic`] + KB 307175 | 240 s fixed | RFC 793 (assumed) | 1025–5000 | 21 s |
//! | `windows-2003` | [`BindRules::Windows2003`] | 120 s fixed | RFC 793 (assumed) | 1025–5000 | 21 s |
//! | `solaris` | [`BindRules::Solaris`] | 60 s fixed | RFC 793 (assumed) | 32768–65535 | 180 s |
//! | `hpux` | [`BindRules::Bsd`] (assumed) | 60 s fixed | RFC 793 (assumed) | 49152–65535 | 75 s (assumed) |
//! | `stratus-os-tcp` | [`BindRules::Bsd`] (assumed) | 60 s fixed | RFC 793 (assumed) | 49152–65535 (assumed) | 75 s (assumed) |
//! | `stratus-stcp` | [`BindRules::Bsd`] (assumed) | 2 s, or the linger time | RFC 793 (assumed) | 49152–65535 (assumed) | 75 s (assumed) |
//! | `smoltcp` | [`BindRules::Smoltcp`] (nothing conflicts) | 10 s fixed | smoltcp 0.14 | 49152–65535 (assumed) | 75 s (assumed) |

use crate::errno::{Errno, ErrnoStyle};
use crate::time::Duration;
use crate::time_wait::{
    BareAckInTimeWait, DataInTimeWait, NoAckInTimeWait, RstInTimeWait, SegmentInfo, SynInTimeWait,
    TimeWaitPolicy, TimerRestart,
};

mod windows;
pub use windows::{
    windows_category, WinBind, WINDOWS_2003_OTHER_USER, WINDOWS_2003_SAME_USER, WINDOWS_CATEGORIES,
    WINDOWS_CLASSIC,
};

/// A named operating-system profile. The default (a scenario that names none) is `linux`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Profile {
    /// Linux 6.x, read from the 6.18 source and checked against a 6.18 kernel
    /// (`inet_bind_conflict`, `inet_csk_listen_start`, `__inet_hash_connect`,
    /// `tcp_timewait_state_process`, `reuseport_select_sock`).
    #[default]
    Linux,
    /// The RFC 793 reference: MSL = 2 min, TIME-WAIT = 2·MSL, every segment processed as
    /// RFC 793 p.72–75 reads. RFC 793 defines no `bind()`; the profile assumes the 4.4BSD rule
    /// from which SO_REUSEADDR comes (see [`BindRules::Bsd`]).
    Rfc793,
    /// FreeBSD: bind rules of `in_pcbbind_setup` / `in_pcblookup_local` (sys/netinet/in_pcb.c);
    /// TIME-WAIT = 2 × `net.inet.tcp.msl` (default 30 s, `TCPTV_MSL`) = 60 s; TIME-WAIT
    /// segments as `tcp_twcheck` (sys/netinet/tcp_timewait.c): RST ignored, timer restarted
    /// only by a retransmitted FIN, a SYN with SEQ > RCV.NXT reopens. Ephemeral range
    /// `IPPORT_EPHEMERALFIRST`..`IPPORT_EPHEMERALLAST` = 10000–65535 (sys/netinet/in.h,
    /// `ipport_firstauto` in in_pcb.c). Not modelled: `net.inet.tcp.nolocaltimewait` (skips
    /// TIME-WAIT for connections to the host itself), SO_REUSEPORT_LB groups.
    FreeBsd,
    /// macOS: XNU `in_pcbbind` (bsd/netinet/in_pcb.c), the same rule as FreeBSD
    /// (bind-rules.md "BSD"); MSL 15 s (`TCPTV_MSL`) → TIME-WAIT 30 s; TIME-WAIT segments as
    /// the BSD section of bind-rules.md says for both BSDs (RST ignored, restart on a
    /// retransmitted FIN, SYN with SEQ > RCV.NXT reopens). Ephemeral range 49152–65535
    /// (`ipport_firstauto = IPPORT_HIFIRSTAUTO` in XNU in_pcb.c).
    MacOs,
    /// Windows NT 4.0: the classic Winsock bind table (Microsoft, "Using SO_REUSEADDR and
    /// SO_EXCLUSIVEADDRUSE", rows "Windows XP and earlier"); KB 307175 (an accepted
    /// connection keeps its closed listener's address object: bind fails with WSAEADDRINUSE
    /// unless SO_REUSEADDR); KB Q177074 (after the listener closes while accepted connections
    /// live, every connect to the port is refused until they are gone). TIME-WAIT =
    /// `TcpTimedWaitDelay`, documented default 240 s (2·MSL with MSL = 2 min).
    WindowsNt4,
    /// Windows 95: KB Q177074 ("BUG: Starting and Stopping a Winsock Server Using
    /// SO_REUSEADDR") applies to Windows NT 4.0 and Windows 95 (keyword kbWinOS95), so the
    /// refusal after a rebind ([`ProfileConfig::stale_listener_refuses`]) is Windows 95's too.
    /// Everything else is NT4's rules, assumed: no source describes Windows 95's bind table,
    /// its TIME-WAIT length or KB 307175 behaviour, and SO_EXCLUSIVEADDRUSE (dated NT4 SP4 by
    /// Microsoft) is kept. Not modelled: Windows 95's limit of 100 TCP sockets at once
    /// (KB Q198663, `MaxConnections`).
    Windows95,
    /// Windows 2000: the classic table as NT4; KB 307175: once the listener is closed, bind()
    /// succeeds even without SO_REUSEADDR while an accepted connection lives. TIME-WAIT =
    /// `TcpTimedWaitDelay` default 240 s (range 30–300).
    Windows2000,
    /// Windows Server 2003 and later "enhanced socket security": the Server 2003 bind table,
    /// with stricter rows for a different user (WSAEACCES). TIME-WAIT = `TcpTimedWaitDelay`,
    /// 120 s in the Server 2003 documentation (range 0–300). Assumed: the address-object
    /// behaviour of Windows 2000 (KB 307175) carries over.
    Windows2003,
    /// Solaris / illumos: `tcp_bind.c:tcp_bindi` (see [`BindRules::Solaris`]); TIME-WAIT =
    /// `tcp_time_wait_interval` = 60 s (Solaris 9 on; Solaris 8 documented 4 min); anonymous
    /// ports `tcp_smallest_anon_port`..`tcp_largest_anon_port` = 32768–65535; connect gives
    /// up after `tcp_ip_abort_cinterval` = 3 min (illumos `tcp_tunables.c`). No source read
    /// for TIME-WAIT segment processing: RFC 793 is assumed.
    Solaris,
    /// HP-UX 11: TIME-WAIT = `tcp_time_wait_interval`, default 60 s (changeable with ndd; the
    /// Stratus article); EADDRINUSE is 226. Bind rules: no primary source found; treated as
    /// BSD-derived ([`BindRules::Bsd`]). Assumed without a source: RFC 793 TIME-WAIT segment
    /// processing, anonymous ports 49152–65535, a 75 s connect timeout (the BSD value).
    Hpux,
    /// Stratus VOS OS_TCP: MSL 30 s, TIME-WAIT 60 s, fixed (cannot be changed without
    /// rebuilding the driver); EADDRINUSE is `e$tcp_address_in_use` (4932) — the Stratus
    /// article. Bind rules: no primary source found; treated as BSD-derived (the article's
    /// SO_REUSEADDR advice matches [`BindRules::Bsd`]). Assumed without a source: RFC 793
    /// TIME-WAIT segment processing (the article describes RFC 793's "any segment restarts the
    /// timer" reading), ephemeral ports 49152–65535, a 75 s connect timeout.
    StratusOsTcp,
    /// Stratus VOS STCP: MSL 1 s, TIME-WAIT 2 s; when a linger time is set, the linger time is
    /// the TIME-WAIT timeout; EADDRINUSE is `e$streams_EADDRINUSE` (6066) — the Stratus
    /// article. Same assumptions as [`Profile::StratusOsTcp`]; in addition, SO_LINGER {1,0}
    /// is assumed to give a normal (FIN) close with no TIME-WAIT at all, not an RST, since the
    /// linger time literally replaces the TIME-WAIT timeout (see
    /// [`ProfileConfig::linger_zero_aborts`]).
    StratusStcp,
    /// smoltcp 0.14 as measured (design.md "smoltcp 0.14 as measured"): no bind table of its
    /// own — bind and listen never conflict, several listeners on one port is its backlog
    /// idiom, the first matching socket takes a SYN; TIME-WAIT is the private `CLOSE_DELAY`
    /// = 10 s; any out-of-window non-RST segment restarts it; an in-window RST kills it; a
    /// bare SYN is silently dropped ("expecting an ACK" in `tcp::Socket::process`). smoltcp
    /// has no ephemeral-port allocator (`connect()` takes the local port; its documentation
    /// only suggests 49152–65535) and no connect timeout (`Socket::timeout` defaults to
    /// `None`: SYNs are retransmitted forever): the host layer's 49152–65535 and 75 s are
    /// assumptions.
    Smoltcp,
}

/// How a profile decides bind conflicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindRules {
    /// Linux `inet_bind_conflict`: SO_REUSEADDR helps only if both sockets set it and the
    /// other is not listening; `listen()` re-checks (`inet_csk_listen_start`).
    Linux,
    /// 4.4BSD / FreeBSD `in_pcbbind_setup`, XNU `in_pcbbind`: without SO_REUSEADDR or
    /// SO_REUSEPORT any overlapping socket on the port conflicts; with it, only an unconnected
    /// socket on exactly the same address does. Only the new socket's flag matters;
    /// `listen()` does not re-check. Also used, without a primary source, for HP-UX, Stratus
    /// OS_TCP / STCP and the RFC 793 reference.
    Bsd,
    /// Windows XP and earlier (NT4, 2000): the first table of Microsoft's "Using SO_REUSEADDR
    /// and SO_EXCLUSIVEADDRUSE", [`WINDOWS_CLASSIC`]. SO_REUSEADDR may bind over anything,
    /// an active listener included (port hijacking); SO_EXCLUSIVEADDRUSE on the first socket
    /// turns that into WSAEACCES. `listen()` does not re-check, so several SO_REUSEADDR
    /// servers may listen on one port at once (KB 307175). SO_REUSEPORT does not exist and is
    /// ignored. Which sockets hold the address is refined by
    /// [`ProfileConfig::address_object_outlives_listener`] (KB 307175).
    WindowsClassic,
    /// Windows Server 2003 and later: [`WINDOWS_2003_SAME_USER`] and
    /// [`WINDOWS_2003_OTHER_USER`] (sockets of different `uid`). A socket is not shareable
    /// unless the first one set SO_REUSEADDR; a specific address may be bound beside a
    /// wildcard one without options. `listen()` does not re-check.
    Windows2003,
    /// Solaris / illumos `tcp_bind.c:tcp_bindi`. Without SO_REUSEADDR on the new socket: any
    /// overlapping socket in state ≥ BOUND conflicts, TIME-WAIT included. With it: only a
    /// socket on exactly the same address in LISTEN or BOUND does. SO_EXCLBIND (the
    /// `exclusiveaddruse` flag) on either socket: overlapping sockets up to ESTABLISHED
    /// conflict even with SO_REUSEADDR. SO_REUSEPORT is ignored (bind-rules.md's rule has
    /// none); `listen()` does not re-check (assumed: the rule is checked at bind).
    Solaris,
    /// smoltcp: no bind table at all. Nothing conflicts; only the table's own bookkeeping
    /// remains (a 4-tuple has one owner, automatic ports are free ones).
    Smoltcp,
}

impl BindRules {
    /// Whether this is one of the Windows tables.
    pub fn is_windows(self) -> bool {
        matches!(self, BindRules::WindowsClassic | BindRules::Windows2003)
    }
}

/// Which listener takes a connection request when several could.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListenerChoice {
    /// First best: a listener on exactly the destination address before a wildcard one, then
    /// the oldest (BSD `in_pcblookup`: the most specific match).
    Exact,
    /// Windows: "only one random listening socket accepts a connection request" (KB 307175).
    /// Among the best listeners (exact address before wildcard, as the hijacking scenario of
    /// the Microsoft article implies), the one at index `rand % n` in id order, with `rand`
    /// drawn by the caller once per connection (per first SYN). Reading: the choice is made
    /// per connection request, not once per listener set.
    Random,
    /// Linux: if the best listener has SO_REUSEPORT, the connection goes to a member of its
    /// group (listeners on the same address with SO_REUSEPORT and the same uid) chosen by a
    /// hash of the 4-tuple (`reuseport_select_sock` → `reciprocal_scale(hash, n)`); otherwise
    /// the best listener as [`ListenerChoice::Exact`].
    ReuseportHash,
    /// smoltcp: the first listening socket whose endpoint matches, in socket-slot order,
    /// whatever its address. The model uses creation order (socket ids), which is slot order
    /// as long as no freed slot has been reused — a deliberate simplification.
    FirstCreated,
}

/// How long TIME-WAIT lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeWaitLen {
    /// 2·MSL, from the scenario's `msl` (RFC 793 p.22, RFC 9293 §3.4.2).
    TwiceMsl,
    /// A fixed length, whatever the MSL (Linux `TCP_TIMEWAIT_LEN` = 60 s).
    Fixed(Duration),
    /// The socket's SO_LINGER time when linger is on, otherwise this fixed length (Stratus
    /// STCP: "If a linger timer has been configured on the socket then the linger time is used
    /// for the TIME_WAIT timeout").
    LingerOr(Duration),
}

/// What a host does with a segment carrying both SYN and FIN, before any lookup. smoltcp 0.14
/// cannot represent one (`TcpControl` holds one control flag), so the host layer decides
/// here and never hands smoltcp a SYN+FIN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SynFinRule {
    /// A SYN+FIN without ACK or RST is a SYN: the FIN is ignored (FreeBSD `tcp_input`, listen
    /// socket: "Segment's flags are (SYN) or (SYN|FIN)", the FIN unused by `syncache_add`,
    /// with `net.inet.tcp.drop_synfin` = 0, the default; `tcp_twcheck` drops it only with
    /// that sysctl set). Assumed for the profiles without a source, and for smoltcp, which
    /// cannot take one at all.
    AsSyn,
    /// A TIME-WAIT record decides on it as on a SYN (Linux `tcp_timewait_state_process` reads
    /// no FIN for `TCP_TW_SYN`, and `tcp_v4_rcv` deschedules the record when a listener
    /// exists); a listener then discards it (`tcp_rcv_state_process`, `TCP_LISTEN`: "if
    /// (th->fin) goto discard"): no SYN-ACK, no reset.
    DiscardAtListener,
    /// Every segment with SYN and FIN is dropped before any lookup (XNU `tcp_input` line 2237
    /// "Drop all packets with both the SYN and FIN bits set", unconditional since the
    /// `drop_synfin` sysctl is no longer read; FreeBSD with `net.inet.tcp.drop_synfin` = 1).
    Drop,
}

impl SynFinRule {
    /// The segment the host passes on under this rule: `None` when it drops it, the SYN
    /// without its FIN under [`SynFinRule::AsSyn`], otherwise `seg` unchanged.
    pub fn apply(self, seg: &SegmentInfo) -> Option<SegmentInfo> {
        if !(seg.syn && seg.fin) {
            return Some(*seg);
        }
        match self {
            SynFinRule::Drop => None,
            SynFinRule::AsSyn if seg.ack.is_none() && !seg.rst => {
                Some(SegmentInfo { fin: false, ..*seg })
            }
            SynFinRule::AsSyn | SynFinRule::DiscardAtListener => Some(*seg),
        }
    }
}

/// An inclusive range of ports, `first..=last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    /// Lowest port of the range.
    pub first: u16,
    /// Highest port of the range (inclusive).
    pub last: u16,
}

impl PortRange {
    /// Number of ports in the range.
    pub fn len(self) -> u32 {
        u32::from(self.last) - u32::from(self.first) + 1
    }
    /// Whether the range holds no port (never, for a valid range).
    pub fn is_empty(self) -> bool {
        self.last < self.first
    }
    /// Whether `port` lies in the range.
    pub fn contains(self, port: u16) -> bool {
        (self.first..=self.last).contains(&port)
    }
}

/// The full rule set of a profile. Start from [`Profile::config`] and override fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProfileConfig {
    /// The profile this configuration started from.
    pub profile: Profile,
    /// Bind-conflict rules.
    pub bind: BindRules,
    /// Which listener takes a connection request ([`crate::AddressTable::choose_listener`]).
    pub listener_choice: ListenerChoice,
    /// KB 307175 (Windows rules only): an accepted connection keeps its listener's TDI address
    /// object, so after the listener closed, bind() on that address still conflicts per the
    /// table while the connection lives (NT4: "error 10048" unless SO_REUSEADDR). When false
    /// (Windows 2000 and later) the closed listener's accepted connections and TIME-WAIT
    /// records do not block bind(), except connections accepted with SO_EXCLUSIVEADDRUSE
    /// while they are active ("Using SO_REUSEADDR and SO_EXCLUSIVEADDRUSE").
    pub address_object_outlives_listener: bool,
    /// KB Q177074 (NT4): when a listener closes while connections it accepted are still alive
    /// (not yet in TIME-WAIT), its address object stays with a NULL connect handler and every
    /// connection request to its address is answered with RST (WSAECONNREFUSED), whatever new
    /// listener exists, until all those connections are gone.
    pub stale_listener_refuses: bool,
    /// TIME-WAIT length.
    pub time_wait_len: TimeWaitLen,
    /// How a TIME-WAIT record answers segments.
    pub time_wait: TimeWaitPolicy,
    /// What a segment with both SYN and FIN does.
    pub syn_fin: SynFinRule,
    /// Ephemeral ports for `bind(port 0)` and `connect()` without bind.
    pub ephemeral: PortRange,
    /// How errors are spelled.
    pub errno_style: ErrnoStyle,
    /// `close()` with unread received data sends RST instead of FIN
    /// (RFC 1122 §4.2.2.13 "SHOULD send a RST"; Linux `tcp_close`).
    pub rst_on_close_with_unread: bool,
    /// Default MSL when the scenario gives none (RFC 793: 2 min). For profiles with a fixed
    /// TIME-WAIT it only labels the output.
    pub default_msl: Duration,
    /// How long `connect()` waits for the handshake before ETIMEDOUT (Linux: 127 s with
    /// `tcp_syn_retries` = 6; RFC 1122 §4.2.3.5: at least 3 min for a SYN).
    pub connect_timeout: Duration,
    /// `bind()` to port 0 tries the odd ports of the ephemeral range first, then the even ones,
    /// from the caller's random start (Linux `inet_csk_find_open_port`, which leaves even
    /// ports to `connect()`). False: every port in order from the random start (BSD
    /// `in_pcb_lport`; assumed for the other stacks).
    pub bind_odd_ports_first: bool,
    /// `connect()` without a bound port scans even ports first, then odd ones, in steps of
    /// two from `hint + table_perturb[destination]` reduced modulo the range, and advances
    /// the per-destination perturbation after each choice (Linux `__inet_hash_connect`,
    /// RFC 6056 §3.3.4 "Algorithm 4"). False: every port in order from `hint` (BSD
    /// `in_pcb_lport`; assumed for Windows, Solaris and the host layer in front of smoltcp).
    pub connect_even_ports_first: bool,
    /// `connect()` without a bound port may take a port other connections already took by
    /// `connect()`, as long as the 4-tuple is unique; ports held by `bind()` or `listen()`
    /// are skipped (Linux `__inet_hash_connect` with `__inet_check_established`). False: only
    /// ports on which nothing overlapping the source address is held (BSD `in_pcb_lport`;
    /// assumed elsewhere).
    pub connect_shares_ports: bool,
    /// The error of `connect()` on a listening socket: Linux `__inet_stream_connect`
    /// EISCONN (a listener is not in `TCP_CLOSE`); FreeBSD `soconnect` EOPNOTSUPP
    /// (`SO_ACCEPTCONN`), also assumed for the other BSD-derived profiles; Winsock `connect`
    /// WSAEINVAL, also assumed for Solaris and smoltcp (EINVAL).
    pub connect_on_listener: Errno,
    /// `listen()` runs the bind-conflict check again with the socket listening, so of two
    /// SO_REUSEADDR sockets bound to one port only the first may listen (Linux
    /// `inet_csk_listen_start` → `inet_csk_get_port`). False: BSD (`tcp_usr_listen`), Windows
    /// (KB 307175: several SO_REUSEADDR servers listen at once), Solaris (assumed: the rule
    /// is checked at bind) and smoltcp do not re-check.
    pub listen_rechecks_bind: bool,
    /// A socket whose `connect()` once succeeded may still `listen()` once its connection
    /// ended, as far as the address table is concerned (Linux `inet_listen` tests only the
    /// socket's own state, which the caller tracks). False: EINVAL (FreeBSD `tcp_usr_listen`
    /// on a dropped inpcb; assumed for the others).
    pub listen_after_connect: bool,
    /// When a connection ends while its socket is still open, the socket gives up its port
    /// unless an explicit `bind()` locked it, and a connecting socket gets back the address it
    /// had before `connect()` (Linux `tcp_set_state(TCP_CLOSE)` → `inet_put_port` unless
    /// `SOCK_BINDPORT_LOCK`). False: the socket keeps its port until it is closed (BSD: the
    /// pcb keeps its port; assumed for the others).
    pub release_unlocked_port_on_disconnect: bool,
    /// An explicit bind + `connect()` onto a 4-tuple held by a TIME-WAIT record recycles the
    /// record when the host's connections use timestamps, whatever `tcp_tw_reuse` says
    /// (Linux `tcp_twsk_unique` from `__inet_check_established`; the new ISN is SND.NXT +
    /// 65537). False: the 4-tuple is unavailable (EADDRNOTAVAIL).
    pub recycle_time_wait_on_bound_connect: bool,
    /// `connect()` without a bound port may reuse a TIME-WAIT 4-tuple on loopback when the
    /// host's connections use timestamps and the record entered TIME-WAIT more than this long
    /// ago (Linux `tcp_twsk_unique` with `net.ipv4.tcp_tw_reuse` = 2, the default: loopback
    /// only, and `tcp_tw_reuse_delay` = 1000 ms). `None`: never.
    pub tw_reuse_loopback_after: Option<Duration>,
    /// A listener with backlog `b` queues `b + 1` connections before it drops SYNs (Linux
    /// `sk_acceptq_is_full`: full when the queue length is *greater than* the backlog, so 0
    /// admits one). False: `max(b, 1)` (assumed for the other stacks). See
    /// [`ProfileConfig::accept_queue_limit`].
    pub accept_queue_one_more: bool,
    /// Connections send RFC 7323 timestamps (TSval in ms of virtual time) when the peer
    /// offers them, and then discard segments PAWS finds old (RFC 7323 §5.3; Linux
    /// `net.ipv4.tcp_timestamps` = 1 and `tcp_paws_discard`, FreeBSD `net.inet.tcp.rfc1323` = 1
    /// and the PAWS test in `tcp_input`, XNU `tcp_do_rfc1323` = 1). False: Windows
    /// (`Tcp1323Opts` leaves timestamps off by default, KB 224829), Solaris
    /// (`tcp_tstamp_always` = 0), smoltcp (no TSval generator by default) and the stacks
    /// without a documented default (RFC 793 predates the option).
    pub timestamps: bool,
    /// Replies to unacceptable segments of a live connection (SEQ outside the window, or an
    /// ACK of unsent data) are rate-limited (RFC 5961 §7; Linux `tcp_oow_rate_limited`,
    /// `net.ipv4.tcp_invalid_ratelimit` = 500 ms; FreeBSD `tcp_send_challenge_ack` with
    /// `tcp_ack_war_time_window` = 1000 ms; smoltcp one challenge ACK per second). False: every
    /// such segment is answered with an ACK (RFC 793 p.69, RFC 9293 §3.10.7.4), the behaviour
    /// that lets RFC 1337's H2 ACK war run forever; assumed for the stacks that predate RFC
    /// 5961 (2010) and have no source saying otherwise. The simulated endpoints rate-limit as
    /// smoltcp does (one per second) where this is true.
    pub oow_ack_rate_limited: bool,
}

/// RFC 793 TIME-WAIT processing: restart on a retransmitted FIN or in-window data, an
/// in-window RST kills, an in-window SYN is answered with RST (RFC 793 p.69–75). Used where
/// no source for the OS's own TIME-WAIT processing was found (Windows, Solaris, HP-UX,
/// Stratus).
const RFC793_POLICY: TimeWaitPolicy = TimeWaitPolicy {
    restart: TimerRestart::DuplicateFin,
    rst: RstInTimeWait::KillInWindow,
    syn: SynInTimeWait::Rfc793,
    ack_rate_limit: None,
    rate_limit_fin: false,
    paws: false,
    bare_ack: BareAckInTimeWait::Ack,
    no_ack: NoAckInTimeWait::DropAcceptable,
    data: DataInTimeWait::Ack,
};

/// FreeBSD `tcp_twcheck` (sys/netinet/tcp_timewait.c), in its order: RST dropped; a SYN
/// without ACK above RCV.NXT reopens; any other segment without ACK dropped; a duplicate FIN
/// restarts the timer; a segment that is not a duplicate ACK is ACKed (`tcp_respond`), an
/// exact duplicate ACK dropped. Not modelled: the missing-timestamp drop (RFC 7323 §3.2,
/// `V_tcp_tolerate_missing_ts`).
const FREEBSD_POLICY: TimeWaitPolicy = TimeWaitPolicy {
    restart: TimerRestart::RetransmittedFin,
    rst: RstInTimeWait::Ignore,
    syn: SynInTimeWait::Bsd,
    ack_rate_limit: None,
    rate_limit_fin: false,
    paws: false,
    bare_ack: BareAckInTimeWait::DropExact,
    no_ack: NoAckInTimeWait::Drop,
    data: DataInTimeWait::Ack,
};

/// XNU xnu-11417.101.15 (macOS): no `tcp_twcheck`; a TIME-WAIT connection is a full tcpcb and
/// its segments go through `tcp_input` (bsd/netinet/tcp_input.c), row by row as the rules cite.
/// Not modelled: the challenge-ACK limit `tcp_challengeack_limit` (10 per second per
/// connection, `tcp_is_ack_ratelimited`), PAWS on segments other than SYNs (line 4291: dropped,
/// ACKed when they carry data), the old-ACK test `SEQ_LT(th_ack, snd_una - max_sndwnd)`.
const XNU_POLICY: TimeWaitPolicy = TimeWaitPolicy {
    restart: TimerRestart::Never,
    rst: RstInTimeWait::ChallengeInexact,
    syn: SynInTimeWait::Xnu,
    ack_rate_limit: None,
    rate_limit_fin: false,
    paws: false,
    bare_ack: BareAckInTimeWait::DropInWindow,
    no_ack: NoAckInTimeWait::Process,
    data: DataInTimeWait::Reset,
};

const IANA_DYNAMIC: PortRange = PortRange {
    first: 49152,
    last: 65535,
};

/// Windows before Vista: ephemeral ports 1025..=`MaxUserPort` (default 5000).
const WINDOWS_EPHEMERAL: PortRange = PortRange {
    first: 1025,
    last: 5000,
};

/// Windows 2000 / Server 2003: `TcpMaxConnectRetransmissions` = 2 and `TcpInitialRTT` = 3 s:
/// SYNs at 0, 3 and 9 s, given up after a final wait of twice the last delay: 3 + 6 + 12 s.
const WINDOWS_CONNECT_TIMEOUT: Duration = Duration::from_secs(21);

/// FreeBSD / XNU `TCPTV_KEEP_INIT` = 75 s, the connection-establishment timer (tcp_timer.h).
const BSD_CONNECT_TIMEOUT: Duration = Duration::from_secs(75);

impl Profile {
    /// Every implemented profile.
    pub const ALL: [Profile; 13] = [
        Profile::Linux,
        Profile::Rfc793,
        Profile::FreeBsd,
        Profile::MacOs,
        Profile::WindowsNt4,
        Profile::Windows95,
        Profile::Windows2000,
        Profile::Windows2003,
        Profile::Solaris,
        Profile::Hpux,
        Profile::StratusOsTcp,
        Profile::StratusStcp,
        Profile::Smoltcp,
    ];

    /// The name used in scenario files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Linux => "linux",
            Profile::Rfc793 => "rfc793",
            Profile::FreeBsd => "freebsd",
            Profile::MacOs => "macos",
            Profile::WindowsNt4 => "windows-nt4",
            Profile::Windows95 => "windows-95",
            Profile::Windows2000 => "windows-2000",
            Profile::Windows2003 => "windows-2003",
            Profile::Solaris => "solaris",
            Profile::Hpux => "hpux",
            Profile::StratusOsTcp => "stratus-os-tcp",
            Profile::StratusStcp => "stratus-stcp",
            Profile::Smoltcp => "smoltcp",
        }
    }

    /// Where the profile's bind rules and TIME-WAIT length come from, in one line (the
    /// variant docs above give the full citations). Demos print it beside every outcome that
    /// differs from a story's reference profile.
    pub fn citation(self) -> &'static str {
        match self {
            Profile::Linux => {
                "Linux 6.18 inet_bind_conflict, inet_csk_listen_start; TCP_TIMEWAIT_LEN 60 s"
            }
            Profile::Rfc793 => "RFC 793 p.22, p.72-75 (TIME-WAIT 2*MSL); 4.4BSD bind rule, assumed",
            Profile::FreeBsd => "FreeBSD in_pcbbind_setup, tcp_twcheck; 2 * net.inet.tcp.msl = 60 s",
            Profile::MacOs => "XNU in_pcbbind, tcp_input; 2 * TCPTV_MSL = 30 s",
            Profile::WindowsNt4 => {
                "Microsoft \"Using SO_REUSEADDR and SO_EXCLUSIVEADDRUSE\"; KB 307175, KB Q177074; TcpTimedWaitDelay 240 s"
            }
            Profile::Windows95 => {
                "KB Q177074 (Windows 95 and NT4); otherwise NT4's rules, assumed; TcpTimedWaitDelay 240 s"
            }
            Profile::Windows2000 => {
                "KB 307175: bind succeeds once the listener is closed; TcpTimedWaitDelay 240 s"
            }
            Profile::Windows2003 => {
                "Windows Server 2003 bind table; KB 307175 carried over, assumed; TcpTimedWaitDelay 120 s"
            }
            Profile::Solaris => "illumos tcp_bind.c tcp_bindi; tcp_time_wait_interval 60 s",
            Profile::Hpux => "tcp_time_wait_interval 60 s (Stratus article); BSD bind rule, assumed",
            Profile::StratusOsTcp => "Stratus article: OS_TCP TIME-WAIT 60 s fixed; BSD bind rule, assumed",
            Profile::StratusStcp => {
                "Stratus article: STCP MSL 1 s, TIME-WAIT 2 s or the linger time; BSD bind rule, assumed"
            }
            Profile::Smoltcp => "smoltcp 0.14: no bind table; CLOSE_DELAY 10 s",
        }
    }

    /// Parses a profile name.
    pub fn from_name(s: &str) -> Option<Profile> {
        Profile::ALL.into_iter().find(|p| p.name() == s)
    }

    /// The names of all implemented profiles, comma-separated (for error messages).
    pub fn known_names() -> String {
        Profile::ALL.map(Profile::name).join(", ")
    }

    /// The profile's default rules.
    pub fn config(self) -> ProfileConfig {
        // The BSD-derived baseline; each profile below changes what its sources say.
        let base = ProfileConfig {
            profile: self,
            bind: BindRules::Bsd,
            listener_choice: ListenerChoice::Exact,
            address_object_outlives_listener: false,
            stale_listener_refuses: false,
            time_wait_len: TimeWaitLen::TwiceMsl,
            time_wait: RFC793_POLICY,
            syn_fin: SynFinRule::AsSyn,
            ephemeral: IANA_DYNAMIC,
            errno_style: ErrnoStyle::Posix,
            rst_on_close_with_unread: false,
            default_msl: Duration::from_secs(120),
            connect_timeout: BSD_CONNECT_TIMEOUT,
            bind_odd_ports_first: false,
            connect_even_ports_first: false,
            connect_shares_ports: false,
            connect_on_listener: Errno::EOPNOTSUPP,
            listen_rechecks_bind: false,
            listen_after_connect: false,
            release_unlocked_port_on_disconnect: false,
            recycle_time_wait_on_bound_connect: false,
            tw_reuse_loopback_after: None,
            accept_queue_one_more: false,
            timestamps: false,
            oow_ack_rate_limited: false,
        };
        let windows = ProfileConfig {
            bind: BindRules::WindowsClassic,
            listener_choice: ListenerChoice::Random,
            // TcpTimedWaitDelay documented default 0xF0 = 240 s = 2·MSL, MSL = 2 min.
            time_wait_len: TimeWaitLen::Fixed(Duration::from_secs(240)),
            ephemeral: WINDOWS_EPHEMERAL,
            errno_style: ErrnoStyle::Winsock,
            connect_timeout: WINDOWS_CONNECT_TIMEOUT,
            connect_on_listener: Errno::EINVAL,
            ..base
        };
        match self {
            Profile::Linux => ProfileConfig {
                bind: BindRules::Linux,
                listener_choice: ListenerChoice::ReuseportHash,
                // include/net/tcp.h: #define TCP_TIMEWAIT_LEN (60*HZ)
                time_wait_len: TimeWaitLen::Fixed(Duration::from_secs(60)),
                time_wait: TimeWaitPolicy {
                    restart: TimerRestart::AnySegment,
                    rst: RstInTimeWait::KillExact,
                    syn: SynInTimeWait::Linux,
                    ack_rate_limit: Some(Duration::from_millis(500)),
                    rate_limit_fin: false,
                    paws: true,
                    bare_ack: BareAckInTimeWait::RestartSilently,
                    no_ack: NoAckInTimeWait::Process,
                    data: DataInTimeWait::Ack,
                },
                syn_fin: SynFinRule::DiscardAtListener,
                // net.ipv4.ip_local_port_range default
                ephemeral: PortRange {
                    first: 32768,
                    last: 60999,
                },
                rst_on_close_with_unread: true,
                default_msl: Duration::from_secs(60),
                connect_timeout: Duration::from_secs(127),
                bind_odd_ports_first: true,
                connect_even_ports_first: true,
                connect_shares_ports: true,
                connect_on_listener: Errno::EISCONN,
                listen_rechecks_bind: true,
                listen_after_connect: true,
                release_unlocked_port_on_disconnect: true,
                recycle_time_wait_on_bound_connect: true,
                // net.ipv4.tcp_tw_reuse = 2, net.ipv4.tcp_tw_reuse_delay = 1000 ms
                tw_reuse_loopback_after: Some(Duration::from_millis(1000)),
                accept_queue_one_more: true,
                timestamps: true,
                oow_ack_rate_limited: true,
                ..base
            },
            // Ephemeral ports: RFC 6335 §6, the dynamic range 49152–65535.
            Profile::Rfc793 => ProfileConfig {
                // RFC 1122 §4.2.3.5: R2 for a SYN at least 3 minutes
                connect_timeout: Duration::from_secs(180),
                ..base
            },
            Profile::FreeBsd => ProfileConfig {
                time_wait: FREEBSD_POLICY,
                // sys/netinet/in.h IPPORT_EPHEMERALFIRST / IPPORT_EPHEMERALLAST
                ephemeral: PortRange {
                    first: 10000,
                    last: 65535,
                },
                // net.inet.tcp.msl = 30 s (TCPTV_MSL)
                default_msl: Duration::from_secs(30),
                timestamps: true,
                oow_ack_rate_limited: true,
                ..base
            },
            Profile::MacOs => ProfileConfig {
                time_wait: XNU_POLICY,
                syn_fin: SynFinRule::Drop,
                // XNU TCPTV_MSL = 15 s
                default_msl: Duration::from_secs(15),
                timestamps: true,
                // XNU tcp_input: challenge ACKs limited by tcp_challengeack_limit
                oow_ack_rate_limited: true,
                ..base
            },
            // KB Q177074 applies to both; the rest of Windows 95 is assumed to be NT4's.
            Profile::WindowsNt4 | Profile::Windows95 => ProfileConfig {
                address_object_outlives_listener: true,
                stale_listener_refuses: true,
                ..windows
            },
            Profile::Windows2000 => windows,
            Profile::Windows2003 => ProfileConfig {
                bind: BindRules::Windows2003,
                // Server 2003 TcpTimedWaitDelay default 0x78 = 120 s
                time_wait_len: TimeWaitLen::Fixed(Duration::from_secs(120)),
                default_msl: Duration::from_secs(60),
                ..windows
            },
            Profile::Solaris => ProfileConfig {
                bind: BindRules::Solaris,
                // tcp_time_wait_interval = 60 000 ms
                time_wait_len: TimeWaitLen::Fixed(Duration::from_secs(60)),
                // tcp_smallest_anon_port .. tcp_largest_anon_port
                ephemeral: PortRange {
                    first: 32768,
                    last: 65535,
                },
                default_msl: Duration::from_secs(30),
                // tcp_ip_abort_cinterval = 3 * MINUTES
                connect_timeout: Duration::from_secs(180),
                connect_on_listener: Errno::EINVAL,
                ..base
            },
            Profile::Hpux => ProfileConfig {
                // tcp_time_wait_interval default 60 s (Stratus article)
                time_wait_len: TimeWaitLen::Fixed(Duration::from_secs(60)),
                errno_style: ErrnoStyle::Hpux,
                default_msl: Duration::from_secs(30),
                ..base
            },
            Profile::StratusOsTcp => ProfileConfig {
                // MSL 30 s, TIME-WAIT 60 s, fixed in the driver
                time_wait_len: TimeWaitLen::Fixed(Duration::from_secs(60)),
                errno_style: ErrnoStyle::StratusOsTcp,
                default_msl: Duration::from_secs(30),
                ..base
            },
            Profile::StratusStcp => ProfileConfig {
                // MSL 1 s, TIME-WAIT 2 s unless a linger time is set
                time_wait_len: TimeWaitLen::LingerOr(Duration::from_secs(2)),
                errno_style: ErrnoStyle::StratusStcp,
                default_msl: Duration::from_secs(1),
                ..base
            },
            Profile::Smoltcp => ProfileConfig {
                bind: BindRules::Smoltcp,
                listener_choice: ListenerChoice::FirstCreated,
                // smoltcp src/socket/tcp.rs: const CLOSE_DELAY = 10 s
                time_wait_len: TimeWaitLen::Fixed(Duration::from_secs(10)),
                time_wait: TimeWaitPolicy {
                    restart: TimerRestart::OutOfWindow,
                    rst: RstInTimeWait::KillInWindow,
                    syn: SynInTimeWait::Silent,
                    // challenge ACKs: one per second; segments with data are exempt
                    ack_rate_limit: Some(Duration::from_secs(1)),
                    rate_limit_fin: true,
                    paws: false,
                    // as before the rows below were added; not re-derived from the source
                    bare_ack: BareAckInTimeWait::Ack,
                    no_ack: NoAckInTimeWait::Process,
                    data: DataInTimeWait::Ack,
                },
                default_msl: Duration::from_secs(5),
                connect_on_listener: Errno::EINVAL,
                oow_ack_rate_limited: true,
                ..base
            },
        }
    }
}

impl ProfileConfig {
    /// The TIME-WAIT length for an endpoint that assumes `msl`, with no linger time set.
    pub fn time_wait_duration(&self, msl: Duration) -> Duration {
        self.time_wait_for(msl, None)
    }

    /// The TIME-WAIT length for an endpoint that assumes `msl` and closed a socket whose
    /// SO_LINGER is `linger_secs` (`Some(secs)` when on). Only [`TimeWaitLen::LingerOr`]
    /// reads the linger time (Stratus STCP; `Some(0)` gives no TIME-WAIT). Elsewhere linger
    /// does not change TIME-WAIT (Linux: SO_LINGER {1,N} does not shorten it); SO_LINGER
    /// {1,0} there is an abortive close that skips TIME-WAIT altogether, which the caller
    /// decides ([`ProfileConfig::linger_zero_aborts`]), not this function.
    pub fn time_wait_for(&self, msl: Duration, linger_secs: Option<u32>) -> Duration {
        match (self.time_wait_len, linger_secs) {
            (TimeWaitLen::TwiceMsl, _) => msl.saturating_mul(2),
            (TimeWaitLen::Fixed(d), _) => d,
            (TimeWaitLen::LingerOr(_), Some(secs)) => Duration::from_secs(u64::from(secs)),
            (TimeWaitLen::LingerOr(d), None) => d,
        }
    }

    /// Whether `close()` with SO_LINGER {1,0} aborts the connection with RST (no FIN, no
    /// TIME-WAIT), as BSD, Linux and Winsock do. False where the linger time replaces the
    /// TIME-WAIT timeout (Stratus STCP): assumed a normal FIN close followed by a TIME-WAIT of
    /// zero — no source says which; this reading is the one the `lost-final-ack` story needs.
    pub fn linger_zero_aborts(&self) -> bool {
        !matches!(self.time_wait_len, TimeWaitLen::LingerOr(_))
    }

    /// How many connections a listener with `backlog` queues (handshake completed, not yet
    /// accepted) before it drops SYNs: `backlog + 1` with
    /// [`ProfileConfig::accept_queue_one_more`] (Linux `sk_acceptq_is_full`), otherwise
    /// `max(backlog, 1)`.
    pub fn accept_queue_limit(&self, backlog: u32) -> u32 {
        if self.accept_queue_one_more {
            backlog.saturating_add(1)
        } else {
            backlog.max(1)
        }
    }
}

#[cfg(test)]
mod tests;
