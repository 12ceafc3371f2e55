//! `twsim bench --scale N`: how the simulator's wall time grows with the number of live
//! TIME-WAIT records. It times the same scenario with `N` and `4N` connections; with a cost per
//! connection that does not depend on how many records are alive, the ratio is 4.
//!
//! The scenario ([`scale_scenario`]): a server listening on `0.0.0.0:80`; `n` connections
//! started 1 ms apart, each: client `socket` (`"at": "+1ms"`), `connect` to the server,
//! server `accept`, client `close`, server `close`. One route with a fixed 100 µs one-way
//! delay, the linux profile, TIME-WAIT 60 s. Each connection takes about 1.3 ms of virtual
//! time (the 1 ms gap after the previous step, then the handshake), so with `n` up to about
//! 46 000 every record is still alive when the last one is created.
//!
//! The server's `close` runs as soon as the client's has returned, before the client's FIN
//! has crossed the route, so the two FINs cross (a simultaneous close, RFC 9293 §3.6) and both
//! ends keep a TIME-WAIT record: `2n` records, half of them on the server's listening ports.
//!
//! The client's automatic ports come from the linux profile's ephemeral range
//! (32768–60999); so that a large `n` never exhausts it, connection `i` goes to server port
//! `80 + i / 10 000` (one more listener per 10 000 connections; Linux lets ports that
//! `connect` chose be shared between destinations), which keeps each destination's share of
//! the range at most 36 % used.

/// Connections per server port.
const PER_PORT: usize = 10_000;
/// The first server port.
const FIRST_PORT: usize = 80;

/// The scale scenario for `n` connections (see the module documentation).
pub fn scale_scenario(n: usize) -> String {
    let ports = n.div_ceil(PER_PORT).max(1);
    let mut steps: Vec<String> = Vec::with_capacity(3 * ports + 5 * n);
    for p in 0..ports {
        let port = FIRST_PORT + p;
        steps.push(format!(
            r#"{{"host":"server","call":"socket","sock":"L{port}"}}"#
        ));
        steps.push(format!(
            r#"{{"host":"server","call":"bind","sock":"L{port}","addr":"0.0.0.0:{port}","expect":"ok"}}"#
        ));
        steps.push(format!(
            r#"{{"host":"server","call":"listen","sock":"L{port}","expect":"ok"}}"#
        ));
    }
    for i in 0..n {
        let port = FIRST_PORT + i / PER_PORT;
        steps.push(format!(
            r#"{{"at":"+1ms","host":"client","call":"socket","sock":"C{i}"}}"#
        ));
        steps.push(format!(
            r#"{{"host":"client","call":"connect","sock":"C{i}","addr":"10.0.0.2:{port}","expect":"ok"}}"#
        ));
        steps.push(format!(
            r#"{{"host":"server","call":"accept","sock":"L{port}","as":"A{i}","expect":"ok"}}"#
        ));
        steps.push(format!(
            r#"{{"host":"client","call":"close","sock":"C{i}","expect":"ok"}}"#
        ));
        steps.push(format!(
            r#"{{"host":"server","call":"close","sock":"A{i}","expect":"ok"}}"#
        ));
    }
    format!(
        r#"{{"name":"bench-scale","os":"linux","time_wait":{{"length":"60s"}},
"hosts":[{{"name":"server","addr":"10.0.0.2"}},{{"name":"client","addr":"10.0.0.1"}}],
"network":{{"routes":[{{"name":"lan","delay":"100us"}}]}},"steps":[
{}]}}"#,
        steps.join(",\n")
    )
}

/// One timed run of the scale scenario.
pub struct ScaleFigures {
    /// Connections in the scenario.
    pub connections: usize,
    /// Wall-clock seconds of the run (scenario parsing and validation excluded).
    pub seconds: f64,
    /// TIME-WAIT records the run created, on both hosts.
    pub time_waits: usize,
    /// Of those, the ones still alive when the last one was created.
    pub alive_at_end: usize,
}

/// Runs the scale scenario with `n` connections, quietly, and times it. Panics if the run
/// does not complete: the scenario is generated here, so a failure is a bug.
pub fn measure(n: usize) -> ScaleFigures {
    let (rep, seconds) = super::time_quiet_run("<bench-scale>", &scale_scenario(n));
    // The instant the last record was created: every record alive then is live state the
    // simulator carried.
    let last = rep.time_wait.iter().map(|t| t.entered_at).max();
    let alive = rep
        .time_wait
        .iter()
        .filter(|t| last.is_some_and(|l| t.ended_at.is_none_or(|e| e > l)))
        .count();
    ScaleFigures {
        connections: n,
        seconds,
        time_waits: rep.time_wait.len(),
        alive_at_end: alive,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_scale_run_keeps_every_record_alive() {
        let f = measure(30);
        assert_eq!(f.connections, 30);
        // both ends of each connection (simultaneous close), all alive together
        assert_eq!(f.time_waits, 60);
        assert_eq!(f.alive_at_end, 60);
    }

    #[test]
    fn one_listener_per_ten_thousand_connections() {
        let one = scale_scenario(PER_PORT);
        assert!(one.contains(r#""sock":"L80""#) && !one.contains(r#""sock":"L81""#));
        let two = scale_scenario(PER_PORT + 1);
        assert!(two.contains(r#""addr":"10.0.0.2:81""#));
    }
}
