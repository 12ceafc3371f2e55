//! Kernel replay on this machine's kernel: each test replays a script (in a private network
//! namespace where one can be created) and checks every `expect` against the kernel.

use super::*;
use serde_json::{json, Value};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU16, Ordering};
use twsim_sim::scenario::{self, Overrides};

/// A port for one script. Inside a private namespace any fixed port would do; the base is
/// spread by process id and every script gets its own port so that, when no namespace is
/// available, parallel tests and TIME-WAIT left by earlier runs do not collide.
fn port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = 20_000 + (std::process::id() % 400) as u16 * 25;
    base + NEXT.fetch_add(1, Ordering::Relaxed)
}

fn scenario_with(hosts: Value, steps: Vec<Value>) -> Resolved {
    let doc = json!({ "name": "kernel-test", "hosts": hosts, "steps": steps }).to_string();
    let sc = scenario::parse("<test>", &doc).expect("test scenario parses");
    sc.resolve("<test>", &doc, None, &Overrides::default())
        .expect("test scenario resolves")
}

fn scenario(steps: Vec<Value>) -> Resolved {
    scenario_with(
        json!([
            { "name": "server", "addr": "127.0.0.2" },
            { "name": "client", "addr": "127.0.0.3" }
        ]),
        steps,
    )
}

/// Whether this process may create a network namespace: root with CAP_SYS_ADMIN (bit 21
/// of CapEff); a container's root without it gets EPERM from unshare.
fn may_unshare() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let cap_sys_admin = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << 21) != 0);
    root && cap_sys_admin
}

/// Replays `sc` (requiring a namespace where one is possible), checks every `expect`
/// against the kernel, and returns the results.
fn run(sc: &Resolved) -> Vec<ReplayStep> {
    let ns_link = || std::fs::read_link("/proc/thread-self/ns/net").ok();
    let caller_ns = ns_link();
    let (out, in_namespace) = replay(sc, may_unshare()).expect("kernel replay runs");
    assert_eq!(
        ns_link(),
        caller_ns,
        "the caller's thread keeps its namespace"
    );
    if may_unshare() {
        assert!(
            in_namespace,
            "root with CAP_SYS_ADMIN gets a private namespace"
        );
    } else if !in_namespace {
        eprintln!("note: no private network namespace here; namespace check skipped");
    }
    assert_eq!(out.len(), sc.steps.len());
    for (st, r) in sc.steps.iter().zip(&out) {
        if let Some(want) = st.expect {
            assert_eq!(
                r.result.err(),
                want,
                "steps[{}] {:?}: kernel said {:?} ({})",
                st.index,
                st.call,
                r.result,
                r.detail
            );
        }
    }
    out
}

fn ra(host: &str, sock: &str) -> Value {
    json!({ "host": host, "call": "setsockopt", "sock": sock, "opt": "SO_REUSEADDR", "value": 1 })
}

fn expect(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "EADDRINUSE"
    }
}

#[test]
fn non_loopback_addresses_are_refused_before_any_socket() {
    let sc = scenario_with(
        json!([{ "name": "server", "addr": "10.0.0.1" }]),
        vec![json!({ "host": "server", "call": "socket", "sock": "L" })],
    );
    match check_loopback(&sc) {
        Err(KernelError::NotLoopback { host, addr }) => {
            assert_eq!(host, "server");
            assert_eq!(addr, Ipv4Addr::new(10, 0, 0, 1));
        }
        other => panic!("expected NotLoopback, got {other:?}"),
    }
    assert!(matches!(
        replay(&sc, false),
        Err(KernelError::NotLoopback { .. })
    ));

    // A loopback host that connects elsewhere is refused too.
    let sc = scenario(vec![
        json!({ "host": "client", "call": "socket", "sock": "C" }),
        json!({ "host": "client", "call": "connect", "sock": "C", "addr": "192.0.2.1:80" }),
    ]);
    let e = replay(&sc, true).expect_err("refused");
    assert!(
        matches!(&e, KernelError::NotLoopback { host, .. } if host.contains("steps[1]")),
        "{e}"
    );
}

/// bind-rules.md C1: two RA sockets bound, neither listening: both binds succeed; the
/// first listen succeeds, the second gets EADDRINUSE (`inet_csk_listen_start`).
#[test]
fn c1_two_reuseaddr_binds_then_second_listen_fails() {
    let a = format!("127.0.0.2:{}", port());
    let sc = scenario(vec![
        json!({ "host": "server", "call": "socket", "sock": "S1" }),
        ra("server", "S1"),
        json!({ "host": "server", "call": "bind", "sock": "S1", "addr": a, "expect": "ok" }),
        json!({ "host": "server", "call": "socket", "sock": "S2" }),
        ra("server", "S2"),
        json!({ "host": "server", "call": "bind", "sock": "S2", "addr": a, "expect": "ok" }),
        json!({ "host": "server", "call": "listen", "sock": "S1", "expect": "ok" }),
        json!({ "host": "server", "call": "listen", "sock": "S2", "expect": "EADDRINUSE" }),
        // bind-rules.md M2: bind on a bound socket.
        json!({ "host": "server", "call": "bind", "sock": "S2", "addr": a, "expect": "EINVAL" }),
        // Another host's address: emulated EADDRNOTAVAIL.
        json!({ "host": "server", "call": "socket", "sock": "S3" }),
        json!({ "host": "server", "call": "bind", "sock": "S3", "addr": "127.0.0.3:1", "expect": "EADDRNOTAVAIL" }),
    ]);
    let out = run(&sc);
    assert_eq!(out[2].detail, format!("bound {a}"));
    assert!(out[10].detail.starts_with("emulated"), "{}", out[10].detail);
}

/// Server listener `L` on `a` (SO_REUSEADDR if `ra`), client `C` connected, accepted as `A`.
fn accepted_pair(a: &str, ra_on_listener: bool) -> Vec<serde_json::Value> {
    let mut steps = vec![json!({ "host": "server", "call": "socket", "sock": "L" })];
    if ra_on_listener {
        steps.push(ra("server", "L"));
    }
    steps.extend([
        json!({ "host": "server", "call": "bind", "sock": "L", "addr": a, "expect": "ok" }),
        json!({ "host": "server", "call": "listen", "sock": "L", "expect": "ok" }),
        json!({ "host": "client", "call": "socket", "sock": "C" }),
        json!({ "host": "client", "call": "connect", "sock": "C", "addr": a, "expect": "ok" }),
        json!({ "host": "server", "call": "accept", "sock": "L", "as": "A", "expect": "ok" }),
    ]);
    steps
}

/// bind-rules.md A / A11: the listener is closed while its accepted connection stays
/// ESTABLISHED; a new socket binds the port. Only RA on both the old listener (inherited
/// by the accepted child) and the new socket succeeds, and the new listener then accepts.
#[test]
fn a_listener_closed_while_accepted_connection_lives() {
    for (l, n) in [(false, false), (false, true), (true, false), (true, true)] {
        let a = format!("127.0.0.2:{}", port());
        let mut steps = accepted_pair(&a, l);
        steps.extend([
            json!({ "host": "server", "call": "close", "sock": "L", "expect": "ok" }),
            json!({ "host": "server", "call": "wait", "until": "state", "sock": "A", "state": "ESTABLISHED", "timeout": "100ms", "expect": "ok" }),
            json!({ "host": "server", "call": "socket", "sock": "L2" }),
        ]);
        if n {
            steps.push(ra("server", "L2"));
        }
        steps.push(json!({ "host": "server", "call": "bind", "sock": "L2", "addr": a, "expect": expect(l && n) }));
        if l && n {
            steps.extend([
                json!({ "host": "server", "call": "listen", "sock": "L2", "expect": "ok" }),
                json!({ "host": "client", "call": "socket", "sock": "C2" }),
                json!({ "host": "client", "call": "connect", "sock": "C2", "addr": a, "expect": "ok" }),
                json!({ "host": "server", "call": "accept", "sock": "L2", "as": "A2", "timeout": "500ms", "expect": "ok" }),
            ]);
        }
        let out = run(&scenario(steps));
        let conn = out.iter().find(|r| r.detail.starts_with("connected"));
        let conn = conn.expect("a connect step");
        assert!(
            conn.detail.starts_with("connected 127.0.0.3:"),
            "the client's own address is the source: {}",
            conn.detail
        );
    }
}

/// bind-rules.md B / B11: the server closes first (server-side TIME-WAIT), then the
/// client; with the listener closed, a rebind succeeds only with RA on both.
#[test]
fn b_server_time_wait_blocks_rebind_without_reuseaddr_on_both() {
    for (l, n) in [(false, false), (false, true), (true, false), (true, true)] {
        let a = format!("127.0.0.2:{}", port());
        let mut steps = accepted_pair(&a, l);
        steps.extend([
            json!({ "host": "server", "call": "close", "sock": "A", "expect": "ok" }),
            json!({ "host": "server", "call": "wait", "until": "state", "sock": "A", "state": "FIN-WAIT-2", "timeout": "200ms", "expect": "ok" }),
            json!({ "host": "client", "call": "wait", "until": "state", "sock": "C", "state": "CLOSE-WAIT", "timeout": "200ms", "expect": "ok" }),
            json!({ "host": "client", "call": "close", "sock": "C", "expect": "ok" }),
            json!({ "host": "server", "call": "wait", "until": "state", "sock": "A", "state": "TIME-WAIT", "timeout": "500ms", "expect": "ok" }),
            json!({ "host": "client", "call": "wait", "until": "state", "sock": "C", "state": "CLOSED", "timeout": "500ms", "expect": "ok" }),
            json!({ "host": "server", "call": "close", "sock": "L", "expect": "ok" }),
            json!({ "host": "server", "call": "socket", "sock": "L2" }),
        ]);
        if n {
            steps.push(ra("server", "L2"));
        }
        steps.extend([
            json!({ "host": "server", "call": "wait", "until": "bindable", "sock": "L2", "addr": a, "timeout": "50ms", "expect": if l && n { "ok" } else { "ETIMEDOUT" } }),
            json!({ "host": "server", "call": "bind", "sock": "L2", "addr": a, "expect": expect(l && n) }),
            // The TIME-WAIT outlives the whole script (60 s, never waited out).
            json!({ "host": "server", "call": "wait", "until": "state", "sock": "A", "state": "TIME-WAIT", "timeout": "10ms", "expect": "ok" }),
        ]);
        run(&scenario(steps));
    }
}

/// A connect to a port nobody listens on is refused (RST); the same socket may connect
/// again once a listener exists, and a third connect finds it connected.
#[test]
fn connect_refused_then_retried_then_already_connected() {
    let a = format!("127.0.0.2:{}", port());
    let sc = scenario(vec![
        json!({ "host": "client", "call": "socket", "sock": "C" }),
        json!({ "host": "client", "call": "connect", "sock": "C", "addr": a, "expect": "ECONNREFUSED" }),
        json!({ "host": "client", "call": "wait", "until": "state", "sock": "C", "state": "CLOSED", "timeout": "10ms", "expect": "ok" }),
        json!({ "host": "server", "call": "socket", "sock": "L" }),
        json!({ "host": "server", "call": "bind", "sock": "L", "addr": a, "expect": "ok" }),
        json!({ "host": "server", "call": "listen", "sock": "L", "expect": "ok" }),
        json!({ "host": "client", "call": "connect", "sock": "C", "addr": a, "expect": "ok" }),
        json!({ "host": "client", "call": "connect", "sock": "C", "addr": a, "expect": "EISCONN" }),
        json!({ "host": "client", "call": "close", "sock": "C", "expect": "ok" }),
        json!({ "host": "client", "call": "close", "sock": "C", "expect": "EBADF" }),
    ]);
    let out = run(&sc);
    assert!(
        out[6].detail.starts_with("connected 127.0.0.3:"),
        "{}",
        out[6].detail
    );
}

/// A SYN the listener drops (its accept queue is full: `tcp_conn_request`) gets no
/// answer; the connect reports ETIMEDOUT at its deadline and the attempt is abandoned.
#[test]
fn unanswered_connect_times_out_and_is_abandoned() {
    let a = format!("127.0.0.2:{}", port());
    let sc = scenario(vec![
        json!({ "host": "server", "call": "socket", "sock": "L" }),
        json!({ "host": "server", "call": "bind", "sock": "L", "addr": a, "expect": "ok" }),
        json!({ "host": "server", "call": "listen", "sock": "L", "backlog": 0, "expect": "ok" }),
        json!({ "host": "client", "call": "socket", "sock": "C1" }),
        json!({ "host": "client", "call": "connect", "sock": "C1", "addr": a, "expect": "ok" }),
        json!({ "host": "client", "call": "socket", "sock": "C2" }),
        json!({ "host": "client", "call": "connect", "sock": "C2", "addr": a, "timeout": "100ms", "expect": "ETIMEDOUT" }),
        json!({ "host": "client", "call": "wait", "until": "state", "sock": "C2", "state": "CLOSED", "timeout": "10ms", "expect": "ok" }),
    ]);
    run(&sc);
}

/// bind-rules.md SH1 with handle duplication: the parent closes the accepted socket while
/// the child still holds it, so no FIN leaves; the client's recv times out. When the child
/// exits, the last handle closes and the client reads the end of the stream.
#[test]
fn fork_fin_leaves_only_when_the_last_handle_closes() {
    let a = format!("127.0.0.2:{}", port());
    let sc = scenario(vec![
        json!({ "host": "server", "call": "socket", "sock": "L" }),
        json!({ "host": "server", "call": "bind", "sock": "L", "addr": a }),
        json!({ "host": "server", "call": "listen", "sock": "L" }),
        json!({ "host": "client", "call": "socket", "sock": "C" }),
        json!({ "host": "client", "call": "connect", "sock": "C", "addr": a, "expect": "ok" }),
        json!({ "host": "server", "call": "accept", "sock": "L", "as": "A", "expect": "ok" }),
        json!({ "host": "server", "call": "fork", "child": "worker", "expect": "ok" }),
        json!({ "host": "server", "call": "close", "sock": "A", "expect": "ok" }),
        json!({ "host": "client", "call": "recv", "sock": "C", "timeout": "200ms", "expect": "EAGAIN" }),
        json!({ "host": "server", "proc": "worker", "call": "send", "sock": "A", "data": "bye", "expect": "ok" }),
        json!({ "host": "server", "proc": "worker", "call": "exit", "expect": "ok" }),
        json!({ "host": "client", "call": "recv", "sock": "C", "timeout": "500ms", "expect": "ok" }),
        json!({ "host": "client", "call": "recv", "sock": "C", "timeout": "500ms", "expect": "ok" }),
        json!({ "host": "client", "call": "wait", "until": "state", "sock": "C", "state": "CLOSE-WAIT", "timeout": "10ms", "expect": "ok" }),
        json!({ "host": "server", "call": "close", "sock": "A", "expect": "EBADF" }),
    ]);
    let out = run(&sc);
    assert_eq!(out[6].detail, "duplicated 2 handles into \"worker\"");
    assert_eq!(out[7].detail, "handle closed; still open in worker");
    assert_eq!(out[11].detail, "3 bytes \"bye\"");
    assert_eq!(out[12].detail, "end of stream");
}

#[test]
fn wildcard_binds_are_found_for_the_no_namespace_refusal() {
    let bind0 = scenario(vec![
        json!({ "host": "server", "call": "socket", "sock": "L" }),
        json!({ "host": "server", "call": "bind", "sock": "L", "addr": "0.0.0.0:80" }),
    ]);
    assert!(wildcard_use(&bind0).is_some_and(|w| w.contains("steps[1]")));
    let autobind = scenario(vec![
        json!({ "host": "server", "call": "socket", "sock": "L" }),
        json!({ "host": "server", "call": "listen", "sock": "L" }),
    ]);
    assert!(wildcard_use(&autobind).is_some_and(|w| w.contains("without a bind")));
    let bind6 = scenario(vec![
        json!({ "host": "server", "call": "socket", "sock": "L", "family": "inet6" }),
        json!({ "host": "server", "call": "bind", "sock": "L", "addr": "[::]:80" }),
    ]);
    assert!(wildcard_use(&bind6).is_some_and(|w| w.contains("[::]:80")));
    let specific = scenario(vec![
        json!({ "host": "server", "call": "socket", "sock": "L" }),
        json!({ "host": "server", "call": "bind", "sock": "L", "addr": "127.0.0.2:80" }),
        json!({ "host": "server", "call": "listen", "sock": "L" }),
    ]);
    assert_eq!(wildcard_use(&specific), None);
}

#[test]
fn ipv6_loopback_addresses_pass_and_others_are_refused() {
    let ok = scenario(vec![
        json!({ "host": "server", "call": "socket", "sock": "L", "family": "inet6" }),
        json!({ "host": "server", "call": "bind", "sock": "L", "addr": "[::]:80" }),
        json!({ "host": "server", "call": "wait", "until": "bindable", "sock": "L", "addr": "[::ffff:0.0.0.0]:80" }),
        json!({ "host": "client", "call": "socket", "sock": "C", "family": "inet6" }),
        json!({ "host": "client", "call": "connect", "sock": "C", "addr": "[::1]:80" }),
        json!({ "host": "client", "call": "connect", "sock": "C", "addr": "[::ffff:127.0.0.2]:80" }),
    ]);
    assert!(check_loopback(&ok).is_ok());
    for (call, addr) in [
        ("connect", "[::]:80"),
        ("connect", "[::ffff:0.0.0.0]:80"),
        ("bind", "[fd00::2]:80"),
        ("bind", "[::ffff:10.0.0.1]:80"),
        ("connect", "[2001:db8::1]:80"),
    ] {
        let sc = scenario(vec![
            json!({ "host": "client", "call": "socket", "sock": "C", "family": "inet6" }),
            json!({ "host": "client", "call": call, "sock": "C", "addr": addr }),
        ]);
        match check_loopback(&sc) {
            Err(KernelError::NotLoopback { host, addr: a }) => {
                assert!(host.contains("steps[1]"), "{host}");
                assert_eq!(
                    SocketAddr::new(a, 80),
                    addr.parse::<SocketAddr>().expect("address")
                );
            }
            other => panic!("{call} {addr}: expected NotLoopback, got {other:?}"),
        }
    }
}

/// bind-rules.md "IPv6": a dual-stack [::]:P listener takes an IPv4 client (the accepted
/// socket shows v4-mapped addresses, and its TIME-WAIT is found in /proc/net/tcp6); an
/// IPV6_V6ONLY socket is ENOPROTOOPT on AF_INET, EINVAL once bound; addresses of the
/// other family get the kernel's own errors.
#[test]
fn dual_stack_listener_and_ipv6_errors_on_the_kernel() {
    let p = port();
    let sc = scenario(vec![
        json!({ "host": "server", "call": "socket", "sock": "L", "family": "inet6" }),
        json!({ "host": "server", "call": "bind", "sock": "L", "addr": format!("[::]:{p}"), "expect": "ok" }),
        json!({ "host": "server", "call": "setsockopt", "sock": "L", "opt": "IPV6_V6ONLY", "value": 1, "expect": "EINVAL" }),
        json!({ "host": "server", "call": "listen", "sock": "L", "expect": "ok" }),
        json!({ "host": "client", "call": "socket", "sock": "C" }),
        json!({ "host": "client", "call": "setsockopt", "sock": "C", "opt": "IPV6_V6ONLY", "value": 1, "expect": "ENOPROTOOPT" }),
        json!({ "host": "client", "call": "connect", "sock": "C", "addr": format!("[::1]:{p}"), "expect": "EAFNOSUPPORT" }),
        json!({ "host": "client", "call": "connect", "sock": "C", "addr": format!("127.0.0.2:{p}"), "expect": "ok" }),
        json!({ "host": "server", "call": "accept", "sock": "L", "as": "A", "timeout": "500ms", "expect": "ok" }),
        json!({ "host": "server", "call": "close", "sock": "A", "expect": "ok" }),
        json!({ "host": "client", "call": "wait", "until": "state", "sock": "C", "state": "CLOSE-WAIT", "timeout": "500ms", "expect": "ok" }),
        json!({ "host": "client", "call": "close", "sock": "C", "expect": "ok" }),
        json!({ "host": "server", "call": "wait", "until": "state", "sock": "A", "state": "TIME-WAIT", "timeout": "500ms", "expect": "ok" }),
        json!({ "host": "server", "call": "socket", "sock": "S6", "family": "inet6" }),
        json!({ "host": "server", "call": "bind", "sock": "S6", "addr": format!("127.0.0.2:{p}"), "expect": "EINVAL" }),
    ]);
    let out = run(&sc);
    assert!(
        out[8].detail.starts_with(&format!(
            "accepted [::ffff:127.0.0.2]:{p}<->[::ffff:127.0.0.3]:"
        )),
        "{}",
        out[8].detail
    );
}
