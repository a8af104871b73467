//! End-to-end tests: real `vigil` processes on loopback, judged only through what an operator
//! sees: the MGS status API and `/metrics`, routers' `/metrics`, hook side effects and exit logs.
//!
//! Each test builds its own site (ports 0 everywhere, its own directory), so tests run in
//! parallel:
//!
//! ```text
//!                    mgs
//!                  /     \
//!                r1       r2
//!          c00 c01..   c00 ..c19, s1 (server of testfs-OST0000)
//! ```
//!
//! The first half of the clients is below r1, the second below r2; `c00` has both routers as
//! parents (multipath). Timing is [`Timing::FAST`] (pings and updates every 250 ms, dead after 8
//! silent intervals: above the longest a starved daemon was seen to stall on a loaded machine),
//! and every wait is bounded and polls observed state: nothing sleeps a fixed time and hopes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use vigil_tests::gate::HookGate;
use vigil_tests::metrics::Metrics;
use vigil_tests::status::Recovery;
use vigil_tests::tap::Tap;
use vigil_tests::{datagrams, http, start_all, tail, Cluster, Daemon, Status, Timing};

const TARGET: &str = "testfs-OST0000";
/// Where [`TARGET`] serves (its server's `--target-addr`).
const TARGET_ADDR: &str = "10.0.0.5@tcp";
/// The target's own window: Lustre's recovery_time_soft. Vigil must close it long before.
const WINDOW_MS: &str = "300000";
/// Generous bound for things that take a few intervals (cluster start, deaths, restarts), for
/// slow shared CI machines; the tests assert tighter figures where the behaviour promises them.
const WAIT: Duration = Duration::from_secs(20);

/// One test's cluster. Daemons are declared before the cluster, so they die before its
/// directory goes.
struct Site {
    mgs: Daemon,
    routers: [Daemon; 2],
    clients: Vec<Daemon>,
    server: Option<Daemon>,
    /// What the clients' hooks wait behind, if gated ([`Site::start_with`]).
    gate: Option<HookGate>,
    cluster: Cluster,
}

fn client_name(i: usize) -> String {
    format!("c{i:02}")
}

impl Site {
    /// Starts the MGS, two routers, `clients` clients and (if `server`) the server of [`TARGET`]
    /// below r2, and waits until the MGS sees every node alive and the target up.
    fn start(test: &str, clients: usize, server: bool) -> Site {
        Site::start_with(test, clients, server, false)
    }

    /// [`Site::start`], with every client's hook, if `gated`, waiting after it wrote its line
    /// while the test holds [`Site::gate`] shut: reconnections that finish when the test says.
    /// The gate starts open.
    fn start_with(test: &str, clients: usize, server: bool, gated: bool) -> Site {
        let cluster = Cluster::new(test, Timing::FAST);
        let gate = gated.then(|| HookGate::open_at(cluster.dir().join("hooks").join("gate")));
        let hook_tail = gate.as_ref().map(HookGate::wait_in_hook).unwrap_or_default();
        let mut mgs = cluster.mgs();
        mgs.start();
        let mut routers = [cluster.router("r1", &[mgs.udp()]), cluster.router("r2", &[mgs.udp()])];
        start_all(routers.iter_mut());
        let (r1, r2) = (routers[0].udp(), routers[1].udp());
        let mut clients: Vec<Daemon> = (0..clients)
            .map(|i| {
                let parents = match i {
                    0 => vec![r1, r2],
                    i if i < clients / 2 => vec![r1],
                    _ => vec![r2],
                };
                let name = client_name(i);
                let hook = format!("{}{hook_tail}", cluster.hook_command(&name));
                cluster.client_with_hook(&name, &parents, &hook)
            })
            .collect();
        let server_args = ["--window-ms", WINDOW_MS, "--target-addr", TARGET_ADDR];
        let mut server = server.then(|| cluster.server("s1", TARGET, &[r2], &server_args));
        start_all(clients.iter_mut().chain(server.iter_mut()));
        let site = Site { mgs, routers, clients, server, gate, cluster };
        let everyone = site.all_names();
        site.wait("every node alive and the target settled", WAIT, |s| {
            s.all_in(&everyone, "alive")
                && (site.server.is_none()
                    || s.target(TARGET).is_some_and(|t| t.recovery.as_ref().is_none_or(Recovery::closed)))
        });
        site
    }

    fn all_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.clients.iter().map(|c| c.name().to_owned()).collect();
        names.extend(self.routers.iter().map(|r| r.name().to_owned()));
        names.extend(self.server.iter().map(|s| s.name().to_owned()));
        names
    }

    fn client(&mut self, name: &str) -> &mut Daemon {
        self.clients.iter_mut().find(|c| c.name() == name).unwrap_or_else(|| panic!("no client {name}"))
    }

    fn server(&mut self) -> &mut Daemon {
        self.server.as_mut().expect("this site has a server")
    }

    fn status(&self) -> Status {
        self.cluster.status(&self.mgs)
    }

    fn wait(&self, what: &str, timeout: Duration, check: impl FnMut(&Status) -> bool) {
        self.cluster.wait_until(&self.mgs, what, timeout, check)
    }

    fn wait_for<T>(&self, what: &str, timeout: Duration, check: impl FnMut(&Status) -> Option<T>) -> T {
        self.cluster.wait_status(&self.mgs, what, timeout, check)
    }

    /// SIGKILLs the named clients and waits until the MGS shows them dead (and the rest alive).
    fn kill_clients(&mut self, names: &[&str]) {
        for name in names {
            self.client(name).kill();
        }
        let dead: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let live: Vec<String> = self.all_names().into_iter().filter(|n| !dead.contains(n)).collect();
        self.wait(&format!("{dead:?} dead, the rest alive"), WAIT, |s| {
            s.all_in(&dead, "dead") && s.all_in(&live, "alive")
        });
    }

    /// Lines of `name`'s hook file for order `order`.
    fn hook_lines_for(&self, name: &str, order: &str) -> Vec<String> {
        let prefix = format!("{order} ");
        self.cluster.hook_lines(name).into_iter().filter(|l| l.starts_with(&prefix)).collect()
    }

    /// Waits until every client in `live` has run its hook for `order` (with `expected` as the
    /// whole line), then checks it ran exactly once each, and that no client in `dead` ran it.
    fn assert_hooks_once(&self, order: &str, expected: &str, live: &[String], dead: &[String]) {
        for name in live {
            self.cluster.wait_hook(name, &format!("a line for order {order}"), WAIT, |lines| {
                lines.iter().any(|l| l.starts_with(&format!("{order} ")))
            });
        }
        for name in live {
            assert_eq!(
                self.hook_lines_for(name, order),
                [expected],
                "{name}: its hook must run exactly once for {order}"
            );
        }
        for name in dead {
            assert!(
                self.hook_lines_for(name, order).is_empty(),
                "{name} is dead, yet its hook ran for {order}"
            );
        }
    }

    /// Restarts the server (SIGKILL, start with the same state dir: a new generation) and returns
    /// the recovery the MGS starts for it: (order id, target generation).
    fn restart_target(&mut self) -> (String, u32) {
        let before = self.status().node("s1").expect("s1 known").generation;
        self.server().restart();
        self.wait_for("the MGS starts a recovery for the restarted target", WAIT, |s| {
            let generation = s.node("s1")?.generation;
            let recovery = s.recovery(TARGET)?;
            (generation > before && recovery.target_generation == Some(generation))
                .then(|| (recovery.order_id.clone(), generation))
        })
    }

    /// Waits until the recovery `order` of the target closes its window, and returns it.
    fn wait_window_closed(&self, order: &str, timeout: Duration) -> Recovery {
        self.wait_for(&format!("the window of {TARGET} closes for order {order}"), timeout, |s| {
            s.recovery(TARGET).filter(|r| r.order_id == order && r.closed()).cloned()
        })
    }
}

/// Whether a node state counts as live (the design's `is_live`: alive or suspect).
fn live(state: Option<&str>) -> bool {
    matches!(state, Some("alive" | "suspect"))
}

/// The MGS generation in an order id `<holder>:<mgs_generation>/<seq>`.
fn order_generation(order: &str) -> u32 {
    let generation = order.split_once(':').and_then(|(_, rest)| rest.split('/').next());
    generation.and_then(|g| g.parse().ok()).unwrap_or_else(|| panic!("bad order id {order:?}"))
}

#[test]
fn target_restart_orders_every_live_client_once_and_closes_the_window_early() {
    let mut site = Site::start("target-restart", 20, true);
    let dead = ["c03", "c12", "c17"];
    site.kill_clients(&dead);
    let dead: Vec<String> = dead.iter().map(|d| d.to_string()).collect();
    let live: Vec<String> = (0..20).map(client_name).filter(|c| !dead.contains(c)).collect();
    assert_eq!(live.len(), 17);

    // The verdicts explain themselves: when each node was last heard, and through whom.
    let status = site.status();
    let dead_after = site.cluster.timing().dead().as_millis() as u64;
    for name in &dead {
        let node = status.node(name).expect("dead client known");
        assert!(node.last_heard_ms >= dead_after, "{name} dead but last heard {} ms ago", node.last_heard_ms);
    }
    for name in &live {
        let node = status.node(name).expect("live client known");
        assert!(node.last_heard_ms < dead_after, "{name} alive but last heard {} ms ago", node.last_heard_ms);
        let expected: &[&str] = match name.as_str() {
            "c00" => &["r1", "r2"],
            n if n < "c10" => &["r1"],
            _ => &["r2"],
        };
        let mut parents = node.parents.clone();
        parents.sort();
        assert_eq!(parents, expected, "{name}'s parents");
    }

    let restarted = Instant::now();
    let (order, generation) = site.restart_target();
    // The window closes once the live clients reconnected: seconds, not the configured 300 s.
    let recovery = site.wait_window_closed(&order, Duration::from_secs(15));
    let took = restarted.elapsed();
    assert_eq!(
        (recovery.live, recovery.applied, recovery.reconnected, recovery.failed),
        (17, 17, 17, 0),
        "the closed recovery must count exactly the 17 live clients: {recovery:?}"
    );
    assert!(took < Duration::from_secs(15), "window closed {took:?} after the restart");
    if let Some(elapsed) = recovery.elapsed_ms {
        assert!(elapsed < 10_000, "recovery took {elapsed} ms by the MGS's clock, window is {WINDOW_MS} ms");
    }
    assert_eq!(recovery.eta_ms, Some(0), "a closed recovery has nothing left to wait for");

    // Each live client's hook ran once for the order, with the target and its new instance.
    let expected = format!("{order} {TARGET} {generation}");
    site.assert_hooks_once(&order, &expected, &live, &dead);
    // The server's close-window hook ran for this instance.
    site.cluster.wait_hook("s1", "close-window hook for the new instance", WAIT, |lines| {
        lines.iter().any(|l| l.ends_with(&format!(" {TARGET} {generation}")))
    });
    // Having closed its window, the server reports the target up again.
    site.wait("the target is up in its new instance", WAIT, |s| {
        s.target(TARGET).is_some_and(|t| t.state == "up" && t.generation == generation)
    });
    let status = site.status();
    assert!(status.all_in(&dead, "dead"), "the killed clients stay dead: {}", status.summary());
    // Orders are repeated in ping replies until reported: still exactly once, now the dust settled.
    site.assert_hooks_once(&order, &expected, &live, &dead);
    eprintln!("target restart → window closed (17 live of 20 clients): {took:?}");
}

#[test]
fn mgs_restart_rebuilds_the_view_and_a_later_recovery_completes() {
    let mut site = Site::start("mgs-restart", 8, true);
    site.kill_clients(&["c05"]);
    let live: Vec<String> = site.all_names().into_iter().filter(|n| n != "c05").collect();
    let before = site.status().mgs.generation;

    site.mgs.kill();
    site.mgs.start();
    let restarted = Instant::now();
    let timing = site.cluster.timing();
    // Routers see the new MGS generation and send full snapshots: whole within a few updates.
    // Whole means the dead too: routers still know c05 is dead, and say so in their snapshots.
    let generation = site.wait_for("the restarted MGS sees every live node alive and c05 dead", WAIT, |s| {
        (s.all_in(&live, "alive") && s.state("c05") == Some("dead")).then_some(s.mgs.generation)
    });
    let took = restarted.elapsed();
    assert!(generation > before, "MGS generation {generation} after a restart from {before}");
    let bound = timing.update() * 10;
    assert!(took < bound, "view whole again after {took:?}, beyond 10 update intervals ({bound:?})");
    let (order, target_generation) = site.restart_target();
    assert_eq!(order_generation(&order), generation, "orders after the restart carry the new MGS generation");
    let recovery = site.wait_window_closed(&order, Duration::from_secs(15));
    assert_eq!((recovery.live, recovery.reconnected, recovery.failed), (7, 7, 0), "{recovery:?}");
    let clients: Vec<String> = live.iter().filter(|n| n.starts_with('c')).cloned().collect();
    site.assert_hooks_once(
        &order,
        &format!("{order} {TARGET} {target_generation}"),
        &clients,
        &["c05".into()],
    );
    eprintln!("MGS restart → view whole again: {took:?}");
}

#[test]
fn a_dead_router_is_a_partition_not_deaths() {
    let mut site = Site::start("router-partition", 8, false);
    // c01..c03 have r1 as their only parent; c00 has r1 and r2; c04..c07 have r2.
    let behind: Vec<String> = (1..4).map(client_name).collect();
    let elsewhere: Vec<String> = (4..8).map(client_name).chain(["r2".to_owned()]).collect();
    let r1_generation = site.status().node("r1").expect("r1 known").generation;

    site.routers[0].kill();
    site.wait("r1's single-homed clients unreachable; c00 and r2's side alive", WAIT, |s| {
        if behind.iter().any(|n| s.state(n) == Some("dead")) {
            site.cluster
                .fail(&format!("a client behind a dead router was declared dead: {}", s.summary()), Some(s));
        }
        s.all_in(&behind, "unreachable") && s.state("c00") == Some("alive") && s.all_in(&elsewhere, "alive")
    });
    // They stay unreachable (never dead) well past the dead threshold, and c00 and r2's side stay
    // live. `suspect` is tolerated there: on a loaded CI machine a late ping makes any node
    // suspect for a moment, partition or not. They must all be `alive` at the end.
    let watch = Instant::now();
    let hold = site.cluster.timing().dead() * 3;
    let mut suspects = 0;
    site.wait("partition held for three dead thresholds, then c00 and r2's side alive", hold + WAIT, |s| {
        let held = s.all_in(&behind, "unreachable")
            && live(s.state("c00"))
            && elsewhere.iter().all(|n| live(s.state(n)));
        if !held {
            let what = format!("{:?} into the partition: {}", watch.elapsed(), s.summary());
            site.cluster.fail(&what, Some(s));
        }
        let alive = s.state("c00") == Some("alive") && s.all_in(&elsewhere, "alive");
        suspects += usize::from(!alive);
        watch.elapsed() > hold && alive
    });
    if suspects > 0 {
        eprintln!("a_dead_router_is_a_partition_not_deaths: {suspects} polls saw a live node suspect");
    }

    site.routers[0].restart();
    let everyone = site.all_names();
    site.wait("every node alive again after r1's restart", WAIT, |s| s.all_in(&everyone, "alive"));
    let r1 = site.status().node("r1").expect("r1 known").generation;
    assert!(r1 > r1_generation, "r1 restarted with generation {r1}, was {r1_generation}");
}

#[test]
fn manual_recover_reaches_every_live_client() {
    let mut site = Site::start("manual-recover", 6, false);
    site.kill_clients(&["c02"]);
    let live: Vec<String> = [0, 1, 3, 4, 5].into_iter().map(client_name).collect();
    let target = "testfs-OST0009";
    let url = format!("http://{}", site.mgs.http());
    // No server reports it: a typo to the CLI unless forced.
    let (status, stdout, stderr) =
        site.cluster.run(&["recover", "--target", target, "--addr", "10.0.0.9@tcp", "--mgs", &url]);
    assert!(!status.success() && stderr.contains("--force"), "an unknown target taken: {stdout}{stderr}");
    let (status, stdout, stderr) = site.cluster.run(&[
        "recover",
        "--force",
        "--target",
        target,
        "--addr",
        "10.0.0.9@tcp",
        "--mgs",
        &url,
    ]);
    assert!(status.success(), "vigil recover failed ({status}): {stdout}{stderr}");
    let order = stdout
        .split_whitespace()
        .skip_while(|w| *w != "order")
        .nth(1)
        .unwrap_or_else(|| panic!("no order id in `vigil recover`'s output: {stdout}"))
        .to_owned();

    site.assert_hooks_once(&order, &format!("{order} {target} 0"), &live, &["c02".into()]);
    // Logs name the dead child, never by its number alone.
    let r1 = site.routers[0].log_text();
    assert!(r1.lines().any(|l| l.contains("child=c02") && l.contains("Dead")), "{}", tail(&r1, 20));
    let numbered =
        |l: &&str| l.split("child=").skip(1).any(|v| v.starts_with(|c: char| c.is_ascii_digit() || c == '#'));
    assert_eq!(r1.lines().filter(numbered).collect::<Vec<_>>(), Vec::<&str>::new(), "children by number");
    // The operator's table shows the order's target and the dead client.
    let (exit, table, stderr) = site.cluster.run(&["status", "--mgs", &url]);
    assert!(exit.success(), "vigil status failed ({exit}): {stderr}");
    assert!(
        table.contains(target) && table.lines().any(|l| l.starts_with("c02") && l.contains("dead")),
        "{table}"
    );
    let recovery = site.wait_for("the manual recovery counts every live client reconnected", WAIT, |s| {
        s.recovery(target).filter(|r| r.order_id == order && r.reconnected == 5).cloned()
    });
    assert_eq!((recovery.live, recovery.failed, recovery.manual), (5, 0, Some(true)), "{recovery:?}");
    let closed = site.wait_for("the manual recovery's window closes", WAIT, |s| {
        s.recovery(target).filter(|r| r.order_id == order && r.closed()).cloned()
    });
    assert_eq!(closed.reconnected, 5);
}

#[test]
fn admin_orders_refuse_an_unknown_target_and_name_a_known_ones_instance_and_addresses() {
    let site = Site::start("admin-checks", 4, true);
    let url = format!("http://{}", site.mgs.http());
    let generation = site.status().target(TARGET).expect("the target").generation;
    // A typo: refused by the CLI, saying which targets exist, and by the API whoever sends it.
    let typo = "testfs-OST9999";
    let (exit, out, err) = site.cluster.run(&["recover", "--target", typo, "--mgs", &url]);
    assert!(!exit.success() && err.contains(&format!("no status holder knows target {typo}")), "{out}{err}");
    assert!(err.contains(&format!("known targets: {TARGET}")), "{err}");
    let bearer = site.cluster.bearer();
    let body = format!(r#"{{"target": "{typo}"}}"#);
    let auth = [("Authorization", bearer.as_str())];
    let reply = http::request_with(site.mgs.http(), "POST", "/api/v1/recover", &auth, Some(&body), WAIT)
        .expect("the MGS answers");
    assert!(reply.code == 404 && reply.body.contains(&format!("unknown target {typo}")), "{reply:?}");

    // A client that joined after the target's recovery has not reconnected to its instance: a
    // manual order for the target names that instance and its address, as the CLI says first.
    let late = "c-late";
    let hook = format!(
        "echo \"$VIGIL_ORDER_ID $VIGIL_TARGET $VIGIL_TARGET_GENERATION $VIGIL_TARGET_ADDRS\" >> '{}'",
        site.cluster.hook_file(late).display()
    );
    let mut late_client = site.cluster.client_with_hook(late, &[site.routers[1].udp()], &hook);
    late_client.start();
    site.wait("c-late alive", WAIT, |s| s.state(late) == Some("alive"));
    let (exit, out, err) = site.cluster.run(&["recover", "--target", TARGET, "--mgs", &url]);
    assert!(exit.success(), "vigil recover failed ({exit}): {out}{err}");
    let said = format!("reconnect to {TARGET} instance {generation} at {TARGET_ADDR}");
    assert!(out.lines().next().is_some_and(|l| l.starts_with("ordering") && l.contains(&said)), "{out}");
    let order = out
        .split_whitespace()
        .skip_while(|w| *w != "order")
        .nth(1)
        .unwrap_or_else(|| panic!("no order id in `vigil recover`'s output: {out}"))
        .to_owned();
    assert!(out.contains(&format!("order {order} issued: every live client reconnects to {TARGET} instance {generation} at {TARGET_ADDR}")), "{out}");
    let expected = format!("{order} {TARGET} {generation} {TARGET_ADDR}");
    site.cluster.wait_hook(late, "the manual order with the target's instance", WAIT, |lines| {
        lines.contains(&expected)
    });
    site.wait_for("the manual recovery closes with every live client back", WAIT, |s| {
        s.recovery(TARGET).filter(|r| r.order_id == order && r.closed() && r.reconnected == r.live).cloned()
    });
    // The typo left nothing behind: no row, no hook run.
    let status = site.status();
    assert!(status.target(typo).is_none(), "a phantom row: {}", status.raw);
    for name in (0..4).map(client_name).chain([late.to_owned()]) {
        assert!(!site.cluster.hook_lines(&name).iter().any(|l| l.contains(typo)), "{name} ran the typo");
    }
}

/// Sends every datagram in `batch` to `to` from a fresh socket.
fn send_all(to: SocketAddr, batch: &[Vec<u8>]) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("udp socket");
    for datagram in batch {
        socket.send_to(datagram, to).expect("send");
    }
}

/// A drop counter from a `Counters { .. }` debug dump in a daemon's exit log line.
fn exit_counter(log: &str, field: &str) -> u64 {
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains("stopped") && l.contains("Counters"))
        .unwrap_or_else(|| panic!("no exit counters in the log:\n{log}"));
    line.split(&format!("{field}: "))
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no counter {field} in {line}"))
}

/// Drops counted by a scrape, since `before`: (malformed, unauthenticated).
fn drops(now: &Metrics, before: &Metrics) -> (u64, u64) {
    let delta = |reason| now.dropped(reason) - before.dropped(reason);
    (delta("malformed"), delta("unauthenticated"))
}

/// Waits until `scrape` shows exactly the drops the junk of [`junk`] must cause since `before`:
/// its 20 garbage datagrams malformed, its 20 wrong-key ones unauthenticated, its 10 with a
/// plausible header either, and nothing more.
fn wait_junk_counted(what: &str, before: &Metrics, mut scrape: impl FnMut() -> Metrics) {
    let start = Instant::now();
    loop {
        let now = scrape();
        let (malformed, unauthenticated) = drops(&now, before);
        if malformed + unauthenticated == 50 {
            assert!(
                malformed >= 20 && unauthenticated >= 20,
                "{what}: {malformed} malformed, {unauthenticated} unauthenticated:\n{}",
                now.text()
            );
            return;
        }
        assert!(
            malformed + unauthenticated < 50,
            "{what} counted more drops than junk was sent:\n{}",
            now.text()
        );
        assert!(
            start.elapsed() < WAIT,
            "{what} counted {malformed} malformed + {unauthenticated} unauthenticated of 50:\n{}",
            now.text()
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// The junk every daemon gets: 20 garbage datagrams (no magic, 1 to 1200 bytes), 10 with a
/// plausible header over noise, and 20 well-formed pings tagged with a wrong key (half a wrong
/// secret under the cluster's key id, half an unknown key id).
fn junk(cluster_key: &vigil_proto::Key) -> Vec<Vec<u8>> {
    let noise = datagrams::garbage(80, 7);
    let mut junk: Vec<Vec<u8>> =
        noise.iter().filter(|d| d.first() != Some(&b'V')).take(20).cloned().collect();
    junk.extend(noise.iter().filter(|d| d.first() == Some(&b'V')).take(10).cloned());
    junk.extend((0..20u32).map(|i| {
        let id = if i % 2 == 0 { cluster_key.id() } else { cluster_key.id().wrapping_add(77) };
        datagrams::ping("intruder", Some("mgs"), i + 1, 200, &datagrams::wrong_key(id, 0x5a))
    }));
    assert_eq!(junk.len(), 50);
    junk
}

#[test]
fn hostile_datagrams_are_counted_and_dropped() {
    let mut site = Site::start("hostile", 4, false);
    let key = datagrams::read_key(site.cluster.key_file());
    let junk = junk(&key);

    // The MGS counts it in /metrics.
    let before = site.cluster.metrics(&site.mgs);
    send_all(site.mgs.udp(), &junk);
    wait_junk_counted("the MGS", &before, || site.cluster.metrics(&site.mgs));
    let status = site.status();
    assert!(status.node("intruder").is_none(), "a wrong-key ping made a node: {}", status.summary());
    // The same ping under the cluster key is taken: the key was all that was wrong.
    let control = datagrams::ping("intruder", Some("mgs"), 100, 200, &key);
    send_all(site.mgs.udp(), std::slice::from_ref(&control));
    site.wait("the correctly keyed control ping is accepted", WAIT, |s| s.node("intruder").is_some());
    // The same datagram again is a replay: counted and dropped.
    let before = site.cluster.metrics(&site.mgs);
    send_all(site.mgs.udp(), &[control]);
    let start = Instant::now();
    while site.cluster.metrics(&site.mgs).dropped("replayed") == before.dropped("replayed") {
        assert!(start.elapsed() < WAIT, "a replayed datagram was not counted:\n{}", before.text());
        std::thread::sleep(Duration::from_millis(25));
    }
    assert_eq!(site.cluster.metrics(&site.mgs).dropped("replayed"), before.dropped("replayed") + 1);

    // Each router, in its own /metrics.
    for router in &site.routers {
        let scrape = || {
            http::get_ok(router.metrics_addr(), "/metrics", http::TIMEOUT)
                .map(|t| Metrics::parse(&t))
                .unwrap_or_else(|e| panic!("{}: GET /metrics: {e}", router.name()))
        };
        let before = scrape();
        send_all(router.udp(), &junk);
        wait_junk_counted(router.name(), &before, scrape);
    }
    // And a router's HTTP side counts what it refuses: a request whose body never comes.
    let router = &site.routers[0];
    let mut stalled = TcpStream::connect_timeout(&router.metrics_addr(), WAIT).expect("connect");
    stalled.set_read_timeout(Some(WAIT)).expect("timeout");
    let head =
        format!("POST /metrics HTTP/1.1\r\nHost: {}\r\nContent-Length: 10\r\n\r\n", router.metrics_addr());
    stalled.write_all(head.as_bytes()).expect("request");
    let mut answer = [0u8; 12];
    stalled.read_exact(&mut answer).expect("an answer once the body is overdue");
    assert!(String::from_utf8_lossy(&answer).ends_with("408"), "{}", String::from_utf8_lossy(&answer));
    let refused = http::get_ok(router.metrics_addr(), "/metrics", http::TIMEOUT).map(|t| Metrics::parse(&t));
    let refused = refused.unwrap_or_else(|e| panic!("{}: GET /metrics: {e}", router.name()));
    assert_eq!(refused.value("vigil_http_refused_total{reason=\"body_timeout\"}"), 1.0);

    // A client (no metrics endpoint: it logs its counters when it stops).
    send_all(site.client("c01").udp(), &junk);

    // Everyone keeps working: every node stays alive past two dead thresholds after the junk.
    let everyone = site.all_names();
    let after = Instant::now();
    let hold = site.cluster.timing().dead() * 2;
    site.wait("every node live for two dead thresholds after the junk, then alive", hold + WAIT, |s| {
        // Live throughout (a late ping on a loaded machine may make one suspect for a moment),
        // and alive at the end.
        if !everyone.iter().all(|n| live(s.state(n))) {
            site.cluster.fail(&format!("a node suffered from junk datagrams: {}", s.summary()), Some(s));
        }
        after.elapsed() > hold && s.all_in(&everyone, "alive")
    });
    let client = site.client("c01");
    let exit = client.terminate();
    assert!(exit.success(), "c01 exited with {exit} after SIGTERM");
    let log = client.log_text();
    let (malformed, unauthenticated) =
        (exit_counter(&log, "malformed"), exit_counter(&log, "unauthenticated"));
    assert!(
        malformed + unauthenticated == 50 && malformed >= 20 && unauthenticated >= 20,
        "c01 counted {malformed} malformed + {unauthenticated} unauthenticated of 50 junk datagrams"
    );
    // And every daemon still shuts down cleanly.
    for daemon in site
        .clients
        .iter_mut()
        .filter(|c| c.pid().is_some())
        .chain(site.routers.iter_mut())
        .chain([&mut site.mgs])
    {
        let exit = daemon.terminate();
        assert!(exit.success(), "{} exited with {exit} after SIGTERM", daemon.name());
    }
}

#[test]
fn a_ping_captured_on_its_way_to_a_router_and_replayed_to_the_mgs_is_misdirected() {
    let cluster = Cluster::new("misdirected", Timing::FAST);
    let mut mgs = cluster.mgs();
    mgs.start();
    let mut router = cluster.router("r1", &[mgs.udp()]);
    router.start();
    let tap = Tap::start(router.udp()).expect("a wiretap in front of r1");
    let mut client = cluster.client("c1", &[tap.addr()]);
    client.start();
    let through_r1 = |s: &Status| s.node("c1").is_some_and(|n| n.state == "alive" && n.parents == ["r1"]);
    cluster.wait_until(&mgs, "c1 alive through r1 only", WAIT, through_r1);
    // A ping c1 sent to r1 (addressed to it: not the first contact), captured on the way.
    let r1 = vigil_proto::NodeId::from_name("r1");
    let addressed_to_r1 = |d: &[u8]| {
        vigil_proto::wire::peek_header(d)
            .is_ok_and(|h| h.kind == vigil_proto::wire::Kind::Ping && h.receiver == r1)
    };
    let captured = tap.wait_for(WAIT, addressed_to_r1).expect("c1 pinged r1, addressed");
    // Replayed to the MGS from another port: counted misdirected, and nothing else.
    let before = cluster.metrics(&mgs);
    send_all(mgs.udp(), std::slice::from_ref(&captured));
    let start = Instant::now();
    while cluster.metrics(&mgs).dropped("misdirected") == before.dropped("misdirected") {
        assert!(start.elapsed() < WAIT, "the replayed ping was not counted misdirected:\n{}", before.text());
        std::thread::sleep(Duration::from_millis(25));
    }
    let after = cluster.metrics(&mgs);
    assert_eq!(after.dropped("misdirected"), before.dropped("misdirected") + 1);
    assert_eq!(after.dropped("replayed"), before.dropped("replayed"), "dropped before any replay window");
    let status = cluster.status(&mgs);
    assert!(through_r1(&status), "the replay added a path: {}", status.summary());
    assert_eq!(status.mgs.counter("misdirected"), Some(1), "the status counts it too: {}", status.raw);
}

#[test]
fn ipv6_loopback_cluster() {
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("SKIPPED ipv6_loopback_cluster: no IPv6 loopback here");
        return;
    }
    let cluster = Cluster::new("ipv6", Timing::FAST).with_ip("::1".parse().expect("::1"));
    let mut mgs = cluster.mgs();
    mgs.start();
    let mut router = cluster.router("r1", &[mgs.udp()]);
    router.start();
    assert!(router.udp().is_ipv6() && mgs.http().is_ipv6(), "{:?} {:?}", router.ready(), mgs.ready());
    // One client bound to ::1, one on the wildcard of its parent's family (no --bind).
    let mut c1 = cluster.client("c1", &[router.udp()]);
    let (parent, hook) = (router.udp().to_string(), cluster.hook_command("c2"));
    let mut c2 = cluster.daemon("c2", "client", &["--name", "c2", "--parent", &parent, "--on-order", &hook]);
    start_all([&mut c1, &mut c2]);
    let names = ["c1".to_owned(), "c2".to_owned(), "r1".to_owned()];
    cluster.wait_until(&mgs, "every node alive over IPv6", WAIT, |s| s.all_in(&names, "alive"));

    let url = format!("http://{}", mgs.http());
    let (exit, stdout, stderr) = cluster.run(&["recover", "--force", "--target", TARGET, "--mgs", &url]);
    assert!(exit.success(), "vigil recover over IPv6 failed ({exit}): {stdout}{stderr}");
    for name in ["c1", "c2"] {
        cluster.wait_hook(name, "the manual order over IPv6", WAIT, |lines| {
            lines.iter().any(|l| l.contains(TARGET))
        });
    }
    c2.kill();
    cluster.wait_until(&mgs, "c2 dead, c1 alive", WAIT, |s| {
        s.state("c2") == Some("dead") && s.state("c1") == Some("alive")
    });
}

#[test]
fn a_mass_silence_below_one_router_is_a_partition_not_deaths() {
    let mut site = Site::start("mass-silence", 20, false);
    // c01..c09 have r1 as their only parent: 9 of its 10 children go silent at once, one more
    // than the smallest cohort the guard acts on (8). The cohort is everyone within 1.5 intervals
    // of the dead threshold (`Hub::check`); kills a few ms apart on a loaded machine, plus ping
    // phases up to an interval apart, can leave one straggler outside it, so the test keeps one
    // spare rather than sitting on the guard's edge.
    let silent: Vec<String> = (1..10).map(client_name).collect();
    let names: Vec<&str> = silent.iter().map(String::as_str).collect();
    for name in &names {
        site.client(name).kill();
    }
    let live: Vec<String> = site.all_names().into_iter().filter(|n| !silent.contains(n)).collect();
    let watch = Instant::now();
    let hold = site.cluster.timing().dead() * 2;
    site.wait("9 of r1's 10 children unreachable, not dead, and held so", hold + WAIT, |s| {
        if let Some(dead) = silent.iter().find(|n| s.state(n) == Some("dead")) {
            site.cluster.fail(&format!("{dead} declared dead in a mass silence: {}", s.summary()), Some(s));
        }
        s.all_in(&silent, "unreachable") && s.all_in(&live, "alive") && watch.elapsed() > hold
    });
}

#[test]
fn a_client_dying_mid_recovery_drops_out_of_the_wait() {
    let mut site = Site::start("dies-mid-recovery", 6, true);
    // c04's hook hangs (until released), so the recovery waits for it; then c04 dies.
    let release = site.cluster.dir().join("release-c04");
    let hook = format!(
        "{}; for i in $(seq 300); do [ -e '{}' ] && exit 1; sleep 0.1; done; exit 1",
        site.cluster.hook_command("c04"),
        release.display()
    );
    let r2 = site.routers[1].udp().to_string();
    let mut slow =
        site.cluster.daemon("c04", "client", &["--name", "c04", "--parent", &r2, "--on-order", &hook]);
    site.client("c04").kill();
    slow.start();
    *site.client("c04") = slow;
    let everyone = site.all_names();
    site.wait("every node alive with the slow c04", WAIT, |s| s.all_in(&everyone, "alive"));

    let (order, generation) = site.restart_target();
    site.cluster.wait_hook("c04", "its hook started for the order", WAIT, |lines| {
        lines.iter().any(|l| l.starts_with(&format!("{order} ")))
    });
    let waiting = site.wait_for("5 of 6 clients reconnected, the window open for c04", WAIT, |s| {
        s.recovery(TARGET).filter(|r| r.order_id == order && r.reconnected == 5).cloned()
    });
    assert_eq!((waiting.live, waiting.window.as_str()), (6, "open"), "{waiting:?}");

    site.client("c04").kill();
    let killed = Instant::now();
    let closed = site.wait_window_closed(&order, WAIT);
    let took = killed.elapsed();
    std::fs::write(&release, b"").expect("release the hook");
    assert_eq!((closed.live, closed.reconnected, closed.failed), (5, 5, 0), "{closed:?}");
    // Death takes `dead_after` silent intervals to see; the close follows at once.
    let bound = site.cluster.timing().dead() + Duration::from_secs(3);
    assert!(took < bound, "window closed {took:?} after c04 died (bound {bound:?})");
    assert_eq!(site.status().state("c04"), Some("dead"));
    let live: Vec<String> = [0, 1, 2, 3, 5].into_iter().map(client_name).collect();
    site.assert_hooks_once(&order, &format!("{order} {TARGET} {generation}"), &live, &[]);
}

#[test]
fn a_timed_out_hook_is_killed_with_its_children() {
    let mut site = Site::start("hook-timeout", 2, true);
    // c01's hook starts a long child and waits for it: it overruns its 500 ms time-out.
    let pidfile = site.cluster.dir().join("c01-hook-child.pid");
    let hook =
        format!("{}; sleep 30 & echo $! > '{}'; wait", site.cluster.hook_command("c01"), pidfile.display());
    let r2 = site.routers[1].udp().to_string();
    let args = ["--name", "c01", "--parent", &r2, "--hook-timeout-ms", "500", "--on-order", &hook];
    let mut slow = site.cluster.daemon("c01", "client", &args);
    site.client("c01").kill();
    slow.start();
    *site.client("c01") = slow;
    let everyone = site.all_names();
    site.wait("every node alive with the slow c01", WAIT, |s| s.all_in(&everyone, "alive"));

    let (order, _) = site.restart_target();
    let recovery = site.wait_for("c01's hook counted failed", WAIT, |s| {
        s.recovery(TARGET).filter(|r| r.order_id == order && r.failed == 1).cloned()
    });
    assert_eq!((recovery.live, recovery.reconnected), (2, 1), "{recovery:?}");
    // Counted failed only after its last try: the hook ran three times (two retries, with
    // back-off), never more.
    assert_eq!(site.hook_lines_for("c01", &order).len(), 3, "{:?}", site.cluster.hook_lines("c01"));
    // Named, not only counted: r2 names its failed child upward, and the status and `vigil
    // status` say which client failed.
    let named = site.wait_for("c01 named as the failed client", WAIT, |s| {
        s.recovery(TARGET).filter(|r| r.order_id == order && !r.failed_clients.is_empty()).cloned()
    });
    assert_eq!(
        (named.failed_clients.as_slice(), named.failed_unnamed),
        (&["c01".to_owned()][..], 0),
        "{named:?}"
    );
    let (exit, out, err) = site.cluster.run(&["status", "--mgs", &format!("http://{}", site.mgs.http())]);
    assert!(exit.success(), "vigil status: {err}");
    assert!(out.contains("1 failed (c01)"), "vigil status does not name the failed client:\n{out}");
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .ok()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("the hook wrote no child pid to {}", pidfile.display()));
    // Killed, it is a zombie until whoever inherited it (init, or a subreaper that may be slow
    // on a loaded machine) reaps it: a zombie runs no more, so only another state counts.
    let running = || {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with(['Z', 'X']))
    };
    let start = Instant::now();
    while running() && start.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(25));
    }
    let alive = running();
    if alive {
        // Do not leak it past the test.
        // SAFETY: kill has no memory preconditions; the pid is the hook's child, ours to end.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
    assert!(!alive, "the hook's child {pid} still runs {:?} after the hook timed out", start.elapsed());
}

#[test]
fn a_router_restart_mid_recovery_still_completes() {
    // Reconnections finish when the test opens the gate, so the recovery is surely still under
    // way when r1 restarts (a second of sleep in the hooks was a guess a loaded machine can beat).
    let mut site = Site::start_with("router-mid-recovery", 8, true, true);
    let gate = site.gate.take().expect("a gated site");
    gate.shut();
    let (order, generation) = site.restart_target();
    let under_way = site.wait_for("some clients applied the order", WAIT, |s| {
        s.recovery(TARGET).filter(|r| r.order_id == order && r.applied > 0).cloned()
    });
    assert_eq!(under_way.reconnected, 0, "none reconnected behind the shut gate: {under_way:?}");
    let before = site.status().node("r1").expect("r1 known").generation;
    site.routers[0].restart();
    gate.open();
    let recovery = site.wait_window_closed(&order, WAIT);
    assert_eq!((recovery.live, recovery.reconnected, recovery.failed), (8, 8, 0), "{recovery:?}");
    let everyone = site.all_names();
    site.wait("every node alive, r1 in a new generation", WAIT, |s| {
        s.all_in(&everyone, "alive") && s.node("r1").is_some_and(|r| r.generation > before)
    });
    let clients: Vec<String> = (0..8).map(client_name).collect();
    site.assert_hooks_once(&order, &format!("{order} {TARGET} {generation}"), &clients, &[]);
}

/// Sends a request written by hand (any shape a browser or an attacker might send).
fn exchange_raw(addr: SocketAddr, request: &str) -> std::io::Result<http::Response> {
    http::exchange(std::net::TcpStream::connect_timeout(&addr, WAIT)?, request, WAIT)
}

#[test]
fn a_window_held_open_by_a_dead_router_closes_when_an_admin_says_so() {
    let mut site = Site::start("admin-close", 8, true);
    // r1 dies: c01..c03 (r1 only) are unreachable, perhaps alive. A restart's window then waits
    // for them, even once every client the MGS sees has reconnected.
    let behind: Vec<String> = (1..4).map(client_name).collect();
    site.routers[0].kill();
    site.wait("r1's single-homed clients unreachable", WAIT, |s| s.all_in(&behind, "unreachable"));
    let (order, generation) = site.restart_target();
    let recovery = site.wait_for("every live client the MGS sees reconnected", WAIT, |s| {
        s.recovery(TARGET).filter(|r| r.order_id == order && r.live >= 4 && r.reconnected == r.live).cloned()
    });
    assert_eq!(recovery.waiting_for, ["r1"], "the status names what the window waits for: {recovery:?}");
    let hold = site.cluster.timing().dead();
    let watch = Instant::now();
    site.wait("the window stays open for a dead threshold (r1's subtree is unknown)", hold + WAIT, |s| {
        if s.recovery(TARGET).is_none_or(|r| r.order_id != order || r.closed()) {
            site.cluster.fail("the window closed without r1's subtree", Some(s));
        }
        watch.elapsed() > hold
    });

    // Nobody but the admin may close it: a browser page's cross-site form post, a page reaching
    // the API through its own domain name (DNS rebinding), and a request without the token are
    // refused, and the window stays open, so no order exists whose hook could run.
    let close = format!(r#"{{"target": "{TARGET}"}}"#);
    let http = site.mgs.http();
    let form = format!(
        "POST /api/v1/close HTTP/1.1\r\nHost: {http}\r\nOrigin: http://evil.example\r\n\
         Content-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{close}",
        close.len()
    );
    let rebound = form
        .replace(&format!("Host: {http}"), "Host: evil.example")
        .replace("Origin: http://evil.example\r\n", "");
    let bad_token = [("Authorization", "Bearer 00")];
    let attempts = [
        ("cross-site form post", exchange_raw(http, &form), 403, "cross-origin"),
        ("DNS rebinding", exchange_raw(http, &rebound), 403, "DNS rebinding"),
        (
            "no token",
            http::request(http, "POST", "/api/v1/close", Some(&close), WAIT),
            401,
            "missing API token",
        ),
        (
            "wrong token",
            http::request_with(http, "POST", "/api/v1/close", &bad_token, Some(&close), WAIT),
            401,
            "wrong",
        ),
    ];
    for (what, reply, code, reason) in attempts {
        let reply = reply.unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(reply.code == code && reply.body.contains(reason), "{what}: {reply:?}");
    }
    let status = site.status();
    let recovery = status.recovery(TARGET).expect("the recovery");
    assert!(recovery.order_id == order && !recovery.closed(), "a refused close closed it: {recovery:?}");
    assert!(!site.cluster.hook_lines("s1").iter().any(|l| l.ends_with(&format!(" {TARGET} {generation}"))));
    let refused = site.cluster.metrics(&site.mgs);
    for (reason, n) in [("origin", 1.0), ("host", 1.0), ("token", 2.0)] {
        let series = format!("vigil_http_refused_total{{reason=\"{reason}\"}}");
        assert_eq!(refused.get(&series), Some(n), "{series}");
    }

    // The admin gives up on r1's clients.
    let url = format!("http://{}", site.mgs.http());
    let (status, stdout, stderr) = site.cluster.run(&["close", "--target", TARGET, "--mgs", &url]);
    assert!(status.success(), "vigil close failed ({status}): {stdout}{stderr}");
    let recovery = site.wait_window_closed(&order, WAIT);
    assert_eq!(recovery.closed_by_admin, Some(true), "{recovery:?}");
    site.cluster.wait_hook("s1", "close-window hook for the new instance", WAIT, |lines| {
        lines.iter().any(|l| l.ends_with(&format!(" {TARGET} {generation}")))
    });
    site.wait("the target is up in its new instance", WAIT, |s| {
        s.target(TARGET).is_some_and(|t| t.state == "up" && t.generation == generation)
    });
    let (_, table, _) = site.cluster.run(&["status", "--mgs", &url]);
    assert!(table.contains("closed by admin") && !table.contains("waiting for"), "{table}");
    // The MGS logs an admin's close as such, never as every live client reconnected.
    let closed_by = stdout
        .split_whitespace()
        .skip_while(|w| *w != "order")
        .nth(1)
        .unwrap_or_else(|| panic!("no close order in `vigil close`'s output: {stdout}"))
        .to_owned();
    let log = site.mgs.log_text();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(&format!("order={closed_by}"))).collect();
    assert!(lines.iter().any(|l| l.contains("window closed by an admin")), "{}", tail(&log, 20));
    assert!(!lines.iter().any(|l| l.contains("every live client reconnected")), "{lines:?}");
    // Asked again: closed already, nothing done, nobody said to be evicted; the same order is
    // named. A target the MGS does not know is refused, saying which it knows.
    let (again, stdout2, _) = site.cluster.run(&["close", "--target", TARGET, "--mgs", &url]);
    assert!(again.success() && stdout2.contains("closed already") && !stdout2.contains("evict"), "{stdout2}");
    assert!(stdout2.contains(&format!("recovery order {order}, closed by an admin")), "{stdout2}");
    let (unknown, _, stderr) = site.cluster.run(&["close", "--target", "testfs-OST0042", "--mgs", &url]);
    assert!(!unknown.success() && stderr.contains("did you mean testfs-OST0000?"), "{stderr}");
}

/// The wall clock in seconds since the epoch, as a daemon reads it for its generation.
fn wall_clock_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("a clock after 1970").as_secs()
}

/// Waits until the wall clock has passed `generation`: a node that boots without its state file
/// then takes a generation above it. (Daemons assume no more than a boot a second on average; a
/// test restarts faster.)
fn clock_past(generation: u32) {
    let deadline = Instant::now() + WAIT;
    while wall_clock_s() <= u64::from(generation) {
        assert!(Instant::now() < deadline, "the wall clock stays at or below generation {generation}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_client_whose_state_was_lost_comes_back_above_its_old_generation() {
    let mut site = Site::start("state-lost", 4, false);
    // c03 restarts once, then crashes and its state file is gone.
    let first = site.wait_for("c03 alive", WAIT, |s| s.node("c03").map(|n| n.generation));
    site.client("c03").restart();
    let before =
        site.wait_for("c03 rebooted", WAIT, |s| s.node("c03").map(|n| n.generation).filter(|&g| g > first));
    let state = site.cluster.dir().join("state").join("c03.state");
    site.client("c03").kill();
    std::fs::remove_file(&state).expect("c03's state file");
    clock_past(before);
    let clock = wall_clock_s();
    site.client("c03").start();
    // It boots with the wall clock's reading, above every generation it used: a new instance
    // at once, not replays of the old one, and it persists it.
    let now = site.wait_for("c03 alive above its old generation", WAIT, |s| {
        s.node("c03").filter(|n| n.state == "alive" && n.generation > before).map(|n| n.generation)
    });
    assert!(u64::from(now) >= clock, "generation {now} from the clock ({clock}), not from a parent");
    let text = std::fs::read_to_string(&state).expect("c03's state file again");
    assert!(text.contains(&format!("generation = {now}")), "{text}");
}

#[test]
fn a_corrupt_state_file_does_not_stop_a_node_and_a_second_daemon_of_its_name_is_refused() {
    let mut site = Site::start("state-corrupt", 4, false);
    site.client("c03").restart();
    let before =
        site.wait_for("c03 rebooted", WAIT, |s| s.node("c03").map(|n| n.generation).filter(|&g| g >= 2));
    // A second c03 on the same state directory stops at once and says why.
    let args: Vec<String> =
        site.client("c03").args().iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (exit, _, stderr) = site.cluster.run(&args);
    assert!(!exit.success() && stderr.contains("another vigil daemon named \"c03\""), "{exit}: {stderr}");
    assert!(site.client("c03").is_running(), "the first c03 runs on");
    // A torn state file: c03 starts all the same, as after a lost file, above its old self.
    let state = site.cluster.dir().join("state").join("c03.state");
    site.client("c03").kill();
    std::fs::write(&state, "generation = \"\u{0}\u{0}").expect("c03's state file");
    clock_past(before);
    site.client("c03").start();
    site.wait("c03 alive above its old generation", WAIT, |s| {
        s.node("c03").is_some_and(|n| n.state == "alive" && n.generation > before)
    });
    let aside = site.cluster.dir().join("state").join("c03.state.corrupt");
    assert!(aside.is_file(), "the bad file is kept aside");
    assert!(site.client("c03").log_text().contains("bad state file moved aside"));
}

/// Raises this process's descriptor limit to at least `n` (up to the hard limit).
fn raise_fd_limit(n: u64) {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        assert!(limit.rlim_max >= n, "the hard descriptor limit {} is below {n}", limit.rlim_max);
        limit.rlim_cur = limit.rlim_cur.max(n);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
}

#[test]
fn idle_connections_and_event_streams_are_bounded_and_the_api_keeps_answering() {
    let cluster = Cluster::new("http-bounds", Timing::FAST);
    let mut mgs = cluster.mgs();
    // The MGS gets 1,024 descriptors, as a default unit would: 2,000 idle connections would take
    // them all if it kept every one.
    mgs = mgs.wrap(["prlimit", "--nofile=1024:1024", "--"]);
    mgs.start();
    raise_fd_limit(2_500);
    let http = mgs.http();
    let idle: Vec<TcpStream> = (0..2_000)
        .map(|i| {
            TcpStream::connect_timeout(&http, WAIT).unwrap_or_else(|e| panic!("idle connection {i}: {e}"))
        })
        .collect();
    let status = cluster.status(&mgs);
    assert_eq!(status.mgs.name.as_deref(), Some("mgs"));
    // Idle connections were closed: the oldest to make room, or for sending no request in time.
    let metrics = cluster.metrics(&mgs);
    let closed = ["connections", "header_timeout"]
        .map(|reason| metrics.value(&format!("vigil_http_refused_total{{reason=\"{reason}\"}}")));
    assert!(closed[0] + closed[1] >= 1_500.0, "idle connections closed (cap, time-out): {closed:?}");
    drop(idle);
    // Event streams: 32 at once; the next is refused with a reason.
    let open_stream = || {
        let mut s = TcpStream::connect_timeout(&http, WAIT).expect("connect");
        s.set_read_timeout(Some(WAIT)).expect("timeout");
        write!(s, "GET /api/v1/events HTTP/1.1\r\nHost: {http}\r\n\r\n").expect("request");
        let mut head = [0u8; 12];
        s.read_exact(&mut head).expect("status line");
        (s, String::from_utf8_lossy(&head).into_owned())
    };
    let streams: Vec<_> = (0..32).map(|_| open_stream()).collect();
    assert!(streams.iter().all(|(_, head)| head.ends_with("200")), "32 streams served");
    let (_, refused) = open_stream();
    assert!(refused.ends_with("503"), "the 33rd stream: {refused}");
    let metrics = cluster.metrics(&mgs);
    assert_eq!(metrics.value("vigil_http_refused_total{reason=\"streams\"}"), 1.0);
}

/// What floods daemon `to`: keyed pings addressed to it from 256 strangers (each admitted or
/// refused once, then replays), 256 first contacts (each answered), and the junk of [`junk`].
fn flood_batch(key: &vigil_proto::Key, to: &str) -> Vec<Vec<u8>> {
    let stranger = |i| format!("flood{i:03}");
    let mut batch: Vec<Vec<u8>> =
        (0..256).map(|i| datagrams::ping(&stranger(i), Some(to), 1, 200, key)).collect();
    batch.extend((0..256).map(|i| datagrams::ping(&stranger(i), None, 1, 200, key)));
    batch.extend(junk(key));
    batch
}

#[test]
fn every_daemon_stops_on_sigterm_or_sigint_within_a_bound_under_a_flood() {
    let mut site = Site::start("flood-stop", 4, false);
    let key = datagrams::read_key(site.cluster.key_file());
    let router_received = |router: &Daemon| {
        http::get_ok(router.metrics_addr(), "/metrics", http::TIMEOUT)
            .map(|t| Metrics::parse(&t).datagrams("received"))
            .unwrap_or_else(|e| panic!("{}: GET /metrics: {e}", router.name()))
    };
    let mgs_before = site.cluster.metrics(&site.mgs).datagrams("received");
    let r1_before = router_received(&site.routers[0]);
    let mut targets = vec![(site.mgs.udp(), flood_batch(&key, "mgs"))];
    targets.extend(site.routers.iter().map(|r| (r.udp(), flood_batch(&key, r.name()))));
    for name in ["c01", "c02"] {
        targets.push((site.client(name).udp(), flood_batch(&key, name)));
    }
    let flood = datagrams::Flood::start(targets).expect("a flood thread");
    // The flood arrives: the MGS and r1 have each taken a thousand datagrams more.
    let start = Instant::now();
    loop {
        let taken = (
            site.cluster.metrics(&site.mgs).datagrams("received") - mgs_before,
            router_received(&site.routers[0]) - r1_before,
        );
        if taken.0 >= 1_000 && taken.1 >= 1_000 {
            break;
        }
        let sent = flood.sent();
        assert!(start.elapsed() < WAIT, "{sent} datagrams sent, yet the MGS and r1 took only {taken:?}");
        std::thread::sleep(Duration::from_millis(25));
    }
    // Still flooded, each daemon exits on its signal within the harness's bound (`stop` panics
    // after TERM_TIMEOUT), with status 0 and its closing counters logged: it shut down, and
    // was flooded until then.
    let mut stopped = Vec::new();
    let Site { mgs, routers, clients, .. } = &mut site;
    let [r1, r2] = routers;
    let (c01, c02) = match &mut clients[..] {
        [_, c01, c02, _] => (c01, c02),
        _ => panic!("four clients"),
    };
    let (int, term) = (libc::SIGINT, libc::SIGTERM);
    for (daemon, signal) in [(c01, int), (c02, term), (r1, term), (r2, int), (mgs, int)] {
        let asked = Instant::now();
        let exit = daemon.stop(signal);
        let took = asked.elapsed();
        assert!(exit.success(), "{} exited with {exit} after signal {signal}", daemon.name());
        let received = exit_counter(&daemon.log_text(), "received");
        assert!(received >= 500, "{} took only {received} datagrams: not flooded", daemon.name());
        stopped.push(format!("{} (signal {signal}, {received} datagrams taken) in {took:?}", daemon.name()));
    }
    let sent = flood.stop();
    println!("stopped under a flood of {sent} datagrams: {}", stopped.join("; "));
}
