use super::*;
use crate::scenario::parse;

/// Parses and resolves a scenario file's text.
fn from_json(src: &str, variant: Option<usize>) -> Resolved {
    parse("f.json", src)
        .expect("parses")
        .resolve("f.json", src, variant, &Overrides::default())
        .expect("resolves")
}

/// The document with every scalar replaced by `null`: its keys and list lengths.
fn keys(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), keys(v))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(keys).collect()),
        _ => Value::Null,
    }
}

#[test]
fn a_built_scenario_equals_the_same_file() {
    let src = r#"{
      "name": "restart-time-wait", "os": "linux", "msl": "30s", "seed": 7,
      "description": "d", "source": "s", "linger_after_steps": "10min",
      "time_wait": {"rst": "ignore", "paws": false},
      "ephemeral_ports": [40000, 40010],
      "isn": {"constant": 1000},
      "hosts": [ { "name": "server", "addr": "10.0.0.2", "os": "freebsd",
                   "isn": "rfc793-clock", "time_wait": {"length": "2s"} },
                 { "name": "client", "addr": "10.0.0.1", "ephemeral_ports": [50000, 50001] } ],
      "network": {
        "max_lifetime": "2min",
        "routes": [ { "name": "lan", "delay": "10ms", "loss": 0.01, "duplicate": 0.02 },
                    { "name": "slow", "delay": {"uniform": ["40s", "45s"]}, "from": "client" },
                    { "name": "n", "delay": {"normal": {"mean": "5ms", "sd": "1ms", "max": "9ms"}} },
                    { "name": "e", "delay": {"exponential": {"mean": "5ms", "min": "1ms"}} },
                    { "name": "m", "delay": {"empirical": ["1ms", "3ms"]}, "to": "server" } ],
        "faults": [ { "match": { "from": "client", "flags": "ACK", "after": "FIN", "nth": 1 }, "action": "drop" },
                    { "match": { "has_payload": true, "from_time": "1s", "until_time": "2s", "probability": 0.5 },
                      "action": {"duplicate_via": "slow"} },
                    { "match": { "route": "lan", "to": "server" }, "action": {"delay": "1s"} },
                    { "match": {}, "action": {"via": "slow"} } ]
      },
      "steps": [
        { "at": "0s", "host": "server", "call": "socket", "sock": "L" },
        { "host": "server", "call": "setsockopt", "sock": "L", "opt": "SO_REUSEADDR", "value": 1 },
        { "host": "server", "call": "setsockopt", "sock": "L", "opt": "SO_LINGER", "value": {"on": 1, "secs": 0} },
        { "host": "server", "call": "bind", "sock": "L", "addr": "0.0.0.0:9099", "expect": "ok" },
        { "host": "server", "call": "listen", "sock": "L", "backlog": 5 },
        { "host": "client", "call": "socket", "sock": "C" },
        { "host": "client", "call": "connect", "sock": "C", "addr": "10.0.0.2:9099", "expect": "ok", "timeout": "5s" },
        { "host": "server", "call": "accept", "sock": "L", "as": "A" },
        { "host": "client", "call": "send", "sock": "C", "data": "hello" },
        { "host": "server", "call": "recv", "sock": "A", "bytes": 5, "expect_data": "hello" },
        { "host": "server", "call": "fork", "child": "kid" },
        { "host": "server", "proc": "kid", "call": "exit" },
        { "at": "+1s", "host": "server", "call": "shutdown", "sock": "A", "how": "write", "note": "n" },
        { "host": "server", "call": "close", "sock": "A" },
        { "host": "server", "call": "wait", "until": "state", "sock": "A", "state": "TIME-WAIT" },
        { "host": "server", "call": "wait", "for": "1s" },
        { "host": "server", "call": "socket", "sock": "L2" },
        { "host": "server", "call": "wait", "until": "bindable", "sock": "L2", "addr": "0.0.0.0:9099" },
        { "at": "90s", "host": "server", "call": "wait", "for": "1ms", "expect": "ETIMEDOUT" }
      ],
      "variants": [ { "name": "rfc793", "os": "rfc793", "msl": "2min", "seed": 3,
                      "expect": {"3": "EADDRINUSE"}, "time_wait": {"syn": "rfc1122"}, "isn": "rfc6528" } ],
      "checks": [ { "host": "server", "port": 9099, "time_wait_count": 1, "time_wait_duration": "profile",
                    "time_wait_restarts": 0 },
                  { "host": "client", "time_wait_duration": "60s" } ]
    }"#;
    let ms = Duration::from_millis;
    let s = Duration::from_secs;
    let b = ScenarioBuilder::new("restart-time-wait")
        .os("linux")
        .msl(s(30))
        .seed(7)
        .description("d")
        .source("s")
        .linger_after_steps(s(600))
        .time_wait(TimeWaitBuilder::new().rst("ignore").paws(false))
        .ephemeral_ports(40000, 40010)
        .isn(Isn::Constant(1000))
        .host(
            HostBuilder::new("server", "10.0.0.2")
                .os("freebsd")
                .isn(Isn::Rfc793Clock)
                .time_wait(TimeWaitBuilder::new().length(s(2))),
        )
        .host(HostBuilder::new("client", "10.0.0.1").ephemeral_ports(50000, 50001))
        .max_lifetime(s(120))
        .route(
            RouteBuilder::new("lan", Delay::Fixed(ms(10)))
                .loss(0.01)
                .duplicate(0.02),
        )
        .route(RouteBuilder::new("slow", Delay::Uniform(s(40), s(45))).from("client"))
        .route(RouteBuilder::new(
            "n",
            Delay::Normal {
                mean: ms(5),
                sd: ms(1),
                min: None,
                max: Some(ms(9)),
            },
        ))
        .route(RouteBuilder::new(
            "e",
            Delay::Exponential {
                mean: ms(5),
                min: Some(ms(1)),
                max: None,
            },
        ))
        .route(RouteBuilder::new("m", Delay::Empirical(vec![ms(1), ms(3)])).to("server"))
        .fault(FaultBuilder::drop(
            MatchBuilder::new()
                .from("client")
                .flags("ACK")
                .after("FIN")
                .nth(1),
        ))
        .fault(FaultBuilder::duplicate_via(
            MatchBuilder::new()
                .has_payload(true)
                .from_time(s(1))
                .until_time(s(2))
                .probability(0.5),
            "slow",
        ))
        .fault(FaultBuilder::delay(
            MatchBuilder::new().route("lan").to("server"),
            s(1),
        ))
        .fault(FaultBuilder::via(MatchBuilder::new(), "slow"))
        .step(StepBuilder::socket("server", "L").at(s(0)))
        .step(StepBuilder::setsockopt("server", "L", "SO_REUSEADDR", true))
        .step(StepBuilder::linger("server", "L", Some(0)))
        .step(StepBuilder::bind("server", "L", "0.0.0.0:9099").expect_ok())
        .step(StepBuilder::listen("server", "L").backlog(5))
        .step(StepBuilder::socket("client", "C"))
        .step(
            StepBuilder::connect("client", "C", "10.0.0.2:9099")
                .expect_ok()
                .timeout(s(5)),
        )
        .step(StepBuilder::accept("server", "L", "A"))
        .step(StepBuilder::send("client", "C", "hello"))
        .step(
            StepBuilder::recv("server", "A")
                .bytes(5)
                .expect_data("hello"),
        )
        .step(StepBuilder::fork("server", "kid"))
        .step(StepBuilder::exit("server").proc("kid"))
        .step(
            StepBuilder::shutdown("server", "A", "write")
                .after(s(1))
                .note("n"),
        )
        .step(StepBuilder::close("server", "A"))
        .step(StepBuilder::wait_state("server", "A", "TIME-WAIT"))
        .step(StepBuilder::wait_for("server", s(1)))
        .step(StepBuilder::socket("server", "L2"))
        .step(StepBuilder::wait_bindable("server", "L2", "0.0.0.0:9099"))
        .step(
            StepBuilder::wait_for("server", ms(1))
                .at(s(90))
                .expect_err("ETIMEDOUT"),
        )
        .variant(
            VariantBuilder::new("rfc793")
                .os("rfc793")
                .msl(s(120))
                .seed(3)
                .expect(3, "EADDRINUSE")
                .time_wait(TimeWaitBuilder::new().syn("rfc1122"))
                .isn(Isn::Rfc6528),
        )
        .check(
            CheckBuilder::new("server")
                .port(9099)
                .count(1)
                .lived_profile_length()
                .restarts(0),
        )
        .check(CheckBuilder::new("client").lived(s(60)));
    assert_eq!(b.build().unwrap(), from_json(src, None));
    assert_eq!(
        b.build_with(Some(0), &Overrides::default()).unwrap(),
        from_json(src, Some(0))
    );
    assert_eq!(b.scenario().unwrap().variant_names(), ["rfc793"]);
    // The document it writes has the file's keys, everywhere.
    let file: Value = serde_json::from_str(src).unwrap();
    assert_eq!(keys(&b.to_value()), keys(&file));
}

#[test]
fn builder_errors_are_the_file_format_errors() {
    let base = ScenarioBuilder::new("x").host(HostBuilder::new("a", "10.0.0.1"));
    let e = base
        .clone()
        .step(StepBuilder::socket("a", "s"))
        .step(StepBuilder::bind("a", "s", "10.0.0.1:99999"))
        .build()
        .unwrap_err();
    assert_eq!(
        (e.file.as_str(), e.path.as_str()),
        (BUILDER_FILE, "steps[1].addr")
    );
    let e = base
        .clone()
        .route(RouteBuilder::new("r", Delay::Fixed(Duration::ZERO)).loss(1.5))
        .build()
        .unwrap_err();
    assert_eq!(e.path, "network.routes[0].loss");
    let e = base.clone().field("bogus", json!(1)).build().unwrap_err();
    assert!(e.message.starts_with("unknown field `bogus`"), "{e}");
    let e = base.build_with(Some(0), &Overrides::default()).unwrap_err();
    assert_eq!(e.path, "variants");
}

#[test]
fn durations_are_written_in_whole_microseconds() {
    assert_eq!(dur(Duration::from_micros(1_500_001)), json!("1500001us"));
    let r = ScenarioBuilder::new("x")
        .host(HostBuilder::new("a", "10.0.0.1"))
        .step(StepBuilder::socket("a", "s"))
        .msl(Duration::from_micros(1_500_001))
        .build()
        .unwrap();
    assert_eq!(r.msl, Some(Duration::from_micros(1_500_001)));
}
