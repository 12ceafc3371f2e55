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
        summary: "server restart blocked by TIME-WAIT (linux 60 s, rfc793 2*MSL); SO_REUSEADDR restarts at once",
        files: &[file!("restart-time-wait.json"), file!("restart-time-wait-reuseaddr.json")],
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
