//! Scenarios embedded in the binary from `examples/`, runnable with `twsim demo NAME`.

/// One demo: a name, a one-line summary and its scenario files (file name, text).
pub struct Demo {
    /// Name used on the command line.
    pub name: &'static str,
    /// What it shows.
    pub summary: &'static str,
    /// Embedded scenario files, run in order.
    pub files: &'static [(&'static str, &'static str)],
}

macro_rules! file {
    ($f:literal) => {
        ($f, include_str!(concat!("../examples/", $f)))
    };
}

/// The demo `twsim demo` runs without a name.
pub const DEFAULT: &str = "restart-time-wait";

/// Every demo.
pub const DEMOS: &[Demo] = &[
    Demo {
        name: "restart-time-wait",
        summary: "server restart blocked by TIME-WAIT under 6 profiles (linux, rfc793 with MSL 30 s and 2 min, Stratus OS_TCP and STCP, HP-UX: 2 s to 240 s), then with SO_REUSEADDR, which restarts at once",
        files: &[file!("restart-time-wait.json"), file!("restart-time-wait-reuseaddr.json")],
    },
    Demo {
        name: "restart-time-wait-every-profile",
        summary: "the same restart under all 13 profiles, each with its own TIME-WAIT length (2 s to 240 s) and bind rules",
        files: &[file!("restart-time-wait-every-profile.json")],
    },
    Demo {
        name: "lost-final-ack",
        summary: "the final ACK is lost: TIME-WAIT re-ACKs the retransmitted FIN; without TIME-WAIT the peer sees RST",
        files: &[file!("lost-final-ack.json"), file!("lost-final-ack-no-time-wait.json")],
    },
    Demo {
        name: "fin-retransmits-extend-time-wait",
        summary: "lost ACKs: every retransmitted FIN restarts TIME-WAIT, which lasts about 9 min (Stratus article)",
        files: &[file!("fin-retransmits-extend-time-wait.json")],
    },
    Demo {
        name: "slow-route-old-duplicate",
        summary: "an old duplicate 45 s late corrupts the next incarnation with constant ISNs and a short TIME-WAIT (smoltcp 10 s, STCP 2 s); Linux's 60 s or RFC 793 clock ISNs prevent it",
        files: &[file!("slow-route-old-duplicate.json")],
    },
    Demo {
        name: "time-wait-assassination",
        summary: "RFC 1337: an old FIN copy draws an ACK whose RST answer kills TIME-WAIT (S0), then old data is read as new and an ACK war follows (H1, H2), or a new connection is reset after connect() succeeded (H3); RFC 1337's fix and PAWS beside each",
        files: &[
            file!("time-wait-assassination.json"),
            file!("time-wait-assassination-old-data.json"),
            file!("time-wait-assassination-new-connection.json"),
        ],
    },
    Demo {
        name: "nt4-refused-after-rebind",
        summary: "KB Q177074: after a rebind with SO_REUSEADDR every connect is refused until the child closes (NT4)",
        files: &[file!("nt4-refused-after-rebind.json")],
    },
    Demo {
        name: "nt4-vs-2000-rebind",
        summary: "KB 307175: listener closed, accepted connection alive: NT4 bind fails 10048 without SO_REUSEADDR, 2000 succeeds",
        files: &[file!("nt4-vs-2000-rebind.json")],
    },
    Demo {
        name: "win2000-two-listeners",
        summary: "KB 307175: two servers listen on one port with SO_REUSEADDR; one, chosen by the seed, accepts",
        files: &[file!("win2000-two-listeners.json")],
    },
    Demo {
        name: "fork-server-restart",
        summary: "Gay ch. 12: a forked child keeps serving while the parent restarts; SO_REUSEADDR on the listener",
        files: &[file!("fork-server-restart.json"), file!("fork-server-restart-reuseaddr.json")],
    },
];

/// The demo called `name`.
pub fn find(name: &str) -> Option<&'static Demo> {
    DEMOS.iter().find(|d| d.name == name)
}
