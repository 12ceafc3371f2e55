//! Operating-system profiles: the bundle of rules a host follows.
//!
//! A profile fixes the bind rules, the TIME-WAIT length and segment policy, the ephemeral
//! port range and the error spelling. Sources are cited per profile; where no source exists
//! the assumption is stated. More profiles (BSD, Windows, Solaris, HP-UX, Stratus) plug in here.

use crate::errno::ErrnoStyle;
use crate::time::Duration;
use crate::time_wait::{RstInTimeWait, SynInTimeWait, TimeWaitPolicy, TimerRestart};

/// A named operating-system profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Profile {
    /// Linux 6.x, read from the 6.18 source and checked against a 6.18 kernel
    /// (`inet_bind_conflict`, `inet_csk_listen_start`, `__inet_hash_connect`,
    /// `tcp_timewait_state_process`).
    Linux,
    /// The RFC 793 reference: MSL = 2 min, TIME-WAIT = 2·MSL, every segment processed as
    /// RFC 793 p.72–75 reads. RFC 793 defines no `bind()`; the profile assumes the 4.4BSD rule
    /// from which SO_REUSEADDR comes (see [`BindRules::Bsd`]).
    Rfc793,
}

/// How a profile decides bind conflicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindRules {
    /// Linux `inet_bind_conflict`: SO_REUSEADDR helps only if both sockets set it and the
    /// other is not listening; `listen()` re-checks (`inet_csk_listen_start`).
    Linux,
    /// 4.4BSD / FreeBSD `in_pcbbind_setup`: without SO_REUSEADDR or SO_REUSEPORT any
    /// overlapping socket on the port conflicts; with it, only an unconnected socket on exactly the same address does.
    /// Only the new socket's flag matters; `listen()` does not re-check.
    Bsd,
}

/// How long TIME-WAIT lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeWaitLen {
    /// 2·MSL, from the scenario's `msl` (RFC 793 p.22, RFC 9293 §3.4.2).
    TwiceMsl,
    /// A fixed length, whatever the MSL (Linux `TCP_TIMEWAIT_LEN` = 60 s).
    Fixed(Duration),
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
    /// TIME-WAIT length.
    pub time_wait_len: TimeWaitLen,
    /// How a TIME-WAIT record answers segments.
    pub time_wait: TimeWaitPolicy,
    /// Ephemeral ports for `bind(port 0)` and `connect()` without bind.
    pub ephemeral: PortRange,
    /// How errors are spelled.
    pub errno_style: ErrnoStyle,
    /// `close()` with unread received data sends RST instead of FIN
    /// (RFC 1122 §4.2.2.13 "SHOULD send a RST"; Linux `tcp_close`).
    pub rst_on_close_with_unread: bool,
    /// Default MSL when the scenario gives none (RFC 793: 2 min).
    pub default_msl: Duration,
    /// How long `connect()` waits for the handshake before ETIMEDOUT (Linux: 127 s with
    /// `tcp_syn_retries` = 6; RFC 1122 §4.2.3.5: at least 3 min for a SYN).
    pub connect_timeout: Duration,
}

impl Profile {
    /// Every implemented profile.
    pub const ALL: [Profile; 2] = [Profile::Linux, Profile::Rfc793];

    /// The name used in scenario files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Linux => "linux",
            Profile::Rfc793 => "rfc793",
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
        match self {
            Profile::Linux => ProfileConfig {
                profile: self,
                bind: BindRules::Linux,
                // include/net/tcp.h: #define TCP_TIMEWAIT_LEN (60*HZ)
                time_wait_len: TimeWaitLen::Fixed(Duration::from_secs(60)),
                time_wait: TimeWaitPolicy {
                    restart: TimerRestart::AnySegment,
                    rst: RstInTimeWait::KillExact,
                    syn: SynInTimeWait::Linux,
                    ack_rate_limit: Some(Duration::from_millis(500)),
                },
                // net.ipv4.ip_local_port_range default
                ephemeral: PortRange {
                    first: 32768,
                    last: 60999,
                },
                errno_style: ErrnoStyle::Posix,
                rst_on_close_with_unread: true,
                default_msl: Duration::from_secs(60),
                connect_timeout: Duration::from_secs(127),
            },
            Profile::Rfc793 => ProfileConfig {
                profile: self,
                bind: BindRules::Bsd,
                time_wait_len: TimeWaitLen::TwiceMsl,
                time_wait: TimeWaitPolicy {
                    restart: TimerRestart::DuplicateFin,
                    rst: RstInTimeWait::KillInWindow,
                    syn: SynInTimeWait::Rfc793,
                    ack_rate_limit: None,
                },
                // RFC 6335 §6: the dynamic range 49152–65535
                ephemeral: PortRange {
                    first: 49152,
                    last: 65535,
                },
                errno_style: ErrnoStyle::Posix,
                rst_on_close_with_unread: false,
                default_msl: Duration::from_secs(120),
                connect_timeout: Duration::from_secs(180),
            },
        }
    }
}

impl ProfileConfig {
    /// The TIME-WAIT length for an endpoint that assumes `msl`.
    pub fn time_wait_duration(&self, msl: Duration) -> Duration {
        match self.time_wait_len {
            TimeWaitLen::TwiceMsl => msl.saturating_mul(2),
            TimeWaitLen::Fixed(d) => d,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_wait_lengths_follow_the_sources() {
        let msl = Duration::from_secs(30);
        assert_eq!(
            Profile::Linux.config().time_wait_duration(msl),
            Duration::from_secs(60)
        );
        assert_eq!(
            Profile::Rfc793.config().time_wait_duration(msl),
            Duration::from_secs(60)
        );
        assert_eq!(
            Profile::Rfc793
                .config()
                .time_wait_duration(Duration::from_secs(120)),
            Duration::from_secs(240)
        );
    }

    #[test]
    fn names_round_trip() {
        for p in Profile::ALL {
            assert_eq!(Profile::from_name(p.name()), Some(p));
        }
        assert_eq!(Profile::from_name("plan9"), None);
        assert_eq!(Profile::Linux.config().ephemeral.len(), 28_232);
    }
}
