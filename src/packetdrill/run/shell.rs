//! The script's shell lines (docs/packetdrill.md "Shell commands"): known sysctls change the
//! profile (or, on the kernel, the namespace's own setting), `sockstat` counts and `tcpdrop`.

use super::{Runner, Step, Stop, Sut};
use twsim_model::time_wait::RstInTimeWait;
use twsim_model::{ProfileConfig, SynFinRule};

impl Runner<'_> {
    pub(super) fn shell(&mut self, cmd: &str) -> Step<()> {
        let words: Vec<&str> = cmd.split_whitespace().collect();
        match words.as_slice() {
            ["sysctl", "-w", setting] => {
                let (k, v) = setting.split_once('=').unwrap_or((setting, ""));
                self.sysctl(k, v)
            }
            ["tcpdrop", "-s", "TIME_WAIT"] => {
                let now = self.now;
                match self.host()?.drop_time_wait(now) {
                    Ok(()) => Ok(()),
                    Err(e) => self.na(e),
                }
            }
            ["sockstat", .., "|", "grep", "packetdril", "|", "grep", "-c", state, "|", "grep", n] =>
            {
                let want: usize = n.parse().or_else(|_| self.na("sockstat count"))?;
                let got = match *state {
                    "TIME_WAIT" => self.host()?.time_wait_count(),
                    "CLOSED" => {
                        let names: Vec<String> = self.fds.values().cloned().collect();
                        let h = self.host()?;
                        names.iter().filter(|s| h.is_closed(s)).count()
                    }
                    s => return self.na(format!("sockstat state {s} is not supported")),
                };
                if got != want {
                    return self.fail(format!("{got} socket(s) in {state}, expected {want}"));
                }
                Ok(())
            }
            _ => self.na(format!("shell command `{cmd}` is not supported")),
        }
    }

    /// Known sysctls (docs/packetdrill.md): the ones a profile models change it; the ones that
    /// do not change what a TIME-WAIT test sees are accepted at their default values.
    fn sysctl(&mut self, k: &str, v: &str) -> Step<()> {
        if self.kernel {
            // The kernel's own per-namespace settings; the BSDs' names do not exist here.
            #[cfg(target_os = "linux")]
            {
                let host = self.host()?;
                if let Sut::Kernel(kh) = host {
                    return kh.sysctl(k, v).map_err(|e| Stop::Na(self.line, e));
                }
            }
            return self.na(format!("sysctl {k} on the kernel"));
        }
        let n: i64 = v.parse().unwrap_or(-1);
        let started = self.host.is_some();
        let change = |r: &mut Self, f: &dyn Fn(&mut ProfileConfig)| -> Step<()> {
            let mut c = r.cfg;
            f(&mut c);
            if c == r.cfg {
                return Ok(());
            }
            if started && r.cleanup {
                // Restoring a setting once the test is over changes nothing it checks.
                return Ok(());
            }
            if started {
                let live = ProfileConfig {
                    syn_fin: r.cfg.syn_fin,
                    ..c
                } == r.cfg;
                if !live {
                    return r.na(format!("sysctl {k} changed after the first socket call"));
                }
                // The SYN+FIN rule is read per segment: it can change while the host runs.
                if let Some(Sut::Sim(h)) = r.host.as_mut() {
                    h.cfg.syn_fin = c.syn_fin;
                }
            }
            r.cfg = c;
            Ok(())
        };
        match (k, n) {
            ("net.inet.tcp.rfc1323" | "net.ipv4.tcp_timestamps", 0 | 1) => {
                change(self, &|c| c.timestamps = n == 1)
            }
            ("net.inet.tcp.drop_synfin", 0 | 1) => change(self, &|c| {
                c.syn_fin = if n == 1 {
                    SynFinRule::Drop
                } else {
                    SynFinRule::AsSyn
                }
            }),
            ("net.ipv4.tcp_rfc1337", 0 | 1) => change(self, &|c| {
                c.time_wait.rst = if n == 1 {
                    RstInTimeWait::Ignore
                } else {
                    RstInTimeWait::KillExact
                }
            }),
            ("net.inet.tcp.blackhole", 0) => Ok(()),
            // Read by tcp_input for synchronized states, not by tcp_twcheck: a RST or SYN the
            // script then sends to a live connection makes it not applicable (`inject`).
            ("net.inet.tcp.insecure_rst", 0 | 1) => {
                self.insecure_rst = n == 1;
                Ok(())
            }
            ("net.inet.tcp.insecure_syn", 0 | 1) => {
                self.insecure_syn = n == 1;
                Ok(())
            }
            // Not modelled, and without effect on a peer that does not use them: SACK and ECN
            // negotiation are smoltcp's; buffer sizes are smoltcp's 16 KiB; no host cache.
            (
                "net.inet.tcp.sack.enable"
                | "net.inet.tcp.ecn.enable"
                | "kern.ipc.maxsockbuf"
                | "net.inet.tcp.recvspace"
                | "net.inet.tcp.sendspace"
                | "net.inet.tcp.hostcache.purgenow",
                _,
            ) => Ok(()),
            _ => self.na(format!("sysctl {k}={v} is not modelled")),
        }
    }
}
