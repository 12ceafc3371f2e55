//! `twsim packetdrill`: our own TIME-WAIT scripts pass on the profile they were written for
//! (from the stack's source, cited in each script) and fail on profiles whose rules differ.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_twsim");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const PROFILES: [&str; 4] = ["linux", "freebsd", "rfc793", "macos"];

/// Runs the scripts of `dir` under `os`: (exit code, stdout).
fn packetdrill(dir: &str, os: &str) -> (i32, String) {
    let o = Command::new(BIN)
        .args([
            "packetdrill",
            &format!("tests/packetdrill/{dir}"),
            "--os",
            os,
        ])
        .current_dir(ROOT)
        .output()
        .expect("twsim starts");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8(o.stdout).expect("UTF-8"),
    )
}

fn scripts(dir: &str) -> usize {
    std::fs::read_dir(Path::new(ROOT).join("tests/packetdrill").join(dir))
        .expect("script folder")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "pkt"))
        })
        .count()
}

#[test]
fn every_script_passes_on_its_own_profile() {
    for os in PROFILES {
        let (code, out) = packetdrill(os, os);
        let n = scripts(os);
        assert!(n >= 3, "{os}: {n} scripts");
        assert_eq!(code, 0, "{os}:\n{out}");
        assert!(
            out.ends_with(&format!("{n} passed, 0 failed, 0 not applicable\n")),
            "{os}:\n{out}"
        );
    }
}

/// The runner discriminates: every profile's scripts fail somewhere under every other profile,
/// with the first mismatch and its line.
#[test]
fn scripts_fail_on_profiles_whose_rules_differ() {
    for os in PROFILES {
        for other in PROFILES.iter().filter(|p| **p != os) {
            let (code, out) = packetdrill(os, other);
            assert_eq!(code, 1, "{os} scripts under {other}:\n{out}");
            let fail = out
                .lines()
                .find(|l| l.starts_with("FAIL"))
                .expect("a failure line");
            assert!(fail.contains(".pkt:"), "{fail}");
        }
    }
}

#[test]
fn unsupported_commands_are_not_applicable_never_passed() {
    let dir = std::env::temp_dir().join(format!("twsim-pd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let f = dir.join("x.pkt");
    std::fs::write(
        &f,
        "0 `ip link set lo mtu 1400`\n+0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n",
    )
    .expect("write");
    let o = Command::new(BIN)
        .args(["packetdrill", f.to_str().expect("utf-8"), "--os", "linux"])
        .output()
        .expect("twsim starts");
    let out = String::from_utf8(o.stdout).expect("UTF-8");
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("n/a") && out.contains("x.pkt:1: shell command"),
        "{out}"
    );
    assert!(
        out.ends_with("0 passed, 0 failed, 1 not applicable\n"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--kernel`: the linux scripts against this machine's kernel (a private network namespace, a
/// TUN device, real sockets, real time, a tolerance for a loaded machine: with eight other
/// jobs on two cores, SYN-ACKs were seen leaving 0.31–0.37 s late). Required under CI
/// (`CI` set, run as root); elsewhere skipped with a note when no namespace can be made.
#[cfg(target_os = "linux")]
#[test]
fn linux_scripts_pass_on_this_kernel() {
    let o = Command::new(BIN)
        .args([
            "packetdrill",
            "tests/packetdrill/linux",
            "--os",
            "linux",
            "--kernel",
            "--tolerance_usecs",
            "500000",
        ])
        .current_dir(ROOT)
        .output()
        .expect("twsim starts");
    let out = String::from_utf8(o.stdout).expect("UTF-8");
    if out.contains("no kernel host") && std::env::var_os("CI").is_none() {
        eprintln!("kernel packetdrill skipped:\n{out}");
        return;
    }
    let n = scripts("linux");
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.ends_with(&format!("{n} passed, 0 failed, 0 not applicable\n")),
        "{out}"
    );
}
