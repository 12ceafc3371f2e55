//! Real-kernel TIME-WAIT check: a server-side TIME-WAIT on this machine's Linux kernel,
//! probed with a SYN from the old client port and with RSTs at SEQ = RCV.NXT and RCV.NXT + 100,
//! with and without a listener, for `tcp_rfc1337` = 0 and 1, must do what the model's `linux`
//! TIME-WAIT policy says (`time-wait.md` rows 4a, 4b, 5, 6; `bind-rules.md` B-SYN, B-RST,
//! B-RST'). See `twsim_kernel::time_wait` and `twsim_sim::predict`.
//!
//! The check needs a private network namespace (`CAP_SYS_ADMIN`). Under CI (`CI` set) it is
//! required; elsewhere, without one, the test prints a note and passes.
#![cfg(target_os = "linux")]

use twsim_kernel::time_wait::{observe_kernel, KernelTwError};
use twsim_sim::predict::{predict_linux, render_table};

const SYSCTL: &str = "/proc/sys/net/ipv4/tcp_rfc1337";

#[test]
fn kernel_time_wait_matches_the_linux_model() {
    let ci = std::env::var_os("CI").is_some();
    // The check writes tcp_rfc1337 only inside its own namespace; the caller's stays as it was.
    let host_before = std::fs::read_to_string(SYSCTL).ok();
    for rfc1337 in [false, true] {
        let model = predict_linux(rfc1337);
        let kernel = match observe_kernel(rfc1337) {
            Ok(k) => k,
            Err(KernelTwError::Namespace(why)) if !ci => {
                eprintln!(
                    "skipped: the real-kernel TIME-WAIT check needs a private network \
                     namespace ({why}); it runs with CAP_SYS_ADMIN, and CI requires it"
                );
                return;
            }
            Err(e) => panic!("tcp_rfc1337={}: {e}", u8::from(rfc1337)),
        };
        let k = u8::from(rfc1337);
        let tables = format!(
            "{}\n{}",
            render_table(&format!("kernel, tcp_rfc1337={k}"), &kernel),
            render_table(&format!("model (linux profile), tcp_rfc1337={k}"), &model)
        );
        println!("{tables}");
        assert_eq!(
            kernel, model,
            "tcp_rfc1337={k}: the kernel and the model disagree\n{tables}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(SYSCTL).ok(),
        host_before,
        "the caller's namespace's tcp_rfc1337 changed"
    );
}
