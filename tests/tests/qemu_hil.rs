//! Hardware in the loop: the router firmware (`boards/qemu-mps2-an386`, the LAN9118 driver and
//! embassy-net under QEMU) between a real `vigil mgs` and real `vigil client`s and a real
//! `vigil server` on the host.
//!
//! ```text
//!   vigil mgs (127.0.0.1:M)  <── updates ──  firmware router "hil-r1" in qemu-system-arm
//!                                            (parent=10.0.2.2:M, udp/7000 = 127.0.0.1:F)
//!                                               ↑ pings (parent 127.0.0.1:F)
//!                           vigil client hil-c0 … hil-c4, vigil server hil-s1 (target hilfs-OST0000)
//! ```
//!
//! Asserted, each with a bounded wait on the MGS status API (or the hook files):
//! 1. the MGS sees the firmware router `alive` and every client and the server `alive` with the
//!    router as their parent (so the router's updates carry its children up);
//! 2. a client killed with SIGKILL is reported `dead` (its parent, the firmware, detects the
//!    silence) while the others stay alive;
//! 3. the target's server killed and restarted with the same state dir (a new instance): the
//!    MGS's `BeginRecovery` for the new instance reaches every live client through the firmware
//!    (each client's hook runs once for it, the dead client's never), and the recovery window
//!    closes (every live client reconnected, the server's close-window hook ran) well before the
//!    window's own time-out.
//!
//! Every daemon and the firmware share one cluster key: the key file `vigil keygen` wrote, handed
//! to the firmware on its command line (`key=ID:HEX`); and one timing (200 ms pings, the
//! firmware's through its `ping_interval_ms`… keys). On failure the test prints the firmware's
//! console and every daemon's log.
//!
//! Needs `qemu-system-arm` (skipped with a message without it, unless `VIGIL_REQUIRE_QEMU=1`) and
//! the `thumbv7em-none-eabihf` target: the firmware is built first (a no-op when up to date).
//! `cargo test -p vigil-tests --test qemu_hil`

use std::path::PathBuf;
use std::time::{Duration, Instant};

use vigil_proto::NodeId;
use vigil_tests::qemu::{self, Firmware};
use vigil_tests::{start_all, Cluster, Daemon, Status, Timing};

const ROUTER: &str = "hil-r1";
const TARGET: &str = "hilfs-OST0000";
const SERVER: &str = "hil-s1";
const CLIENTS: usize = 5;
/// Far longer than the recovery should take: the window must close because every live client
/// reconnected, not because it ran out.
const WINDOW_MS: u64 = 120_000;

/// The timing of every daemon and of the firmware. Updates as often as pings: under QEMU's
/// emulation the router is the slowest hop, so its updates are not pushed faster than that.
const TIMING: Timing = Timing { ping_ms: 200, update_ms: 200, suspect_after: 3, dead_after: 6 };

/// Bounds of the waits. Generous against a loaded CI machine; each is seconds in practice.
const BOOT: Duration = Duration::from_secs(30);
const JOIN: Duration = Duration::from_secs(30);
const DEATH: Duration = Duration::from_secs(20);
const RECOVERY: Duration = Duration::from_secs(30);

/// Prints the firmware's console and the daemons' logs if the test panics.
struct OnFailure<'a> {
    cluster: &'a Cluster,
    console: PathBuf,
}

impl Drop for OnFailure<'_> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let console = std::fs::read(&self.console).unwrap_or_default();
        eprintln!("==== firmware console (qemu-system-arm) ====\n{}", String::from_utf8_lossy(&console));
        eprintln!("==== daemon logs ====\n{}", self.cluster.log_tails(60));
    }
}

/// `ID:HEX` of the first key line of a `vigil-key v1 id=N HEX` file, for the firmware's `key=`.
fn firmware_key(cluster: &Cluster) -> String {
    let text = std::fs::read_to_string(cluster.key_file()).expect("read the cluster key");
    let line = text.lines().map(str::trim).find(|l| l.starts_with("vigil-key ")).expect("a key line");
    let words: Vec<&str> = line.split_whitespace().collect();
    let [_, "v1", id, hex] = words[..] else { panic!("unexpected key line format: {line:?}") };
    let id = id.strip_prefix("id=").expect("id=N");
    assert_eq!(hex.len(), 64, "a 32-byte key in hex");
    format!("{id}:{hex}")
}

fn node_line(status: &Status, name: &str) -> String {
    status.node(name).map_or_else(|| format!("{name}: unknown"), |n| format!("{n:?}"))
}

/// The most stack the router may use: what a real board must set aside for it, with room to
/// spare (see `boards/README.md`).
const STACK_BOUND: usize = 64 * 1024;

/// The last `stack high-water <phase>: N bytes of M` line of the console: `(N, M)`.
fn stack_high_water(console: &str, phase: &str) -> Option<(usize, usize)> {
    let tag = format!("stack high-water {phase}: ");
    let line = console.lines().rev().find_map(|l| l.split_once(tag.as_str()).map(|(_, r)| r))?;
    let (used, rest) = line.split_once(" bytes of ")?;
    Some((used.trim().parse().ok()?, rest.trim().parse().ok()?))
}

#[test]
fn firmware_router_carries_liveness_and_recovery() {
    if let Some(why) = qemu::unavailable() {
        eprintln!("SKIPPED qemu_hil: {why}");
        return;
    }
    let started = Instant::now();
    let elf = qemu::firmware().unwrap_or_else(|e| panic!("{e}"));
    eprintln!("firmware image {} ready after {:?}", elf.display(), started.elapsed());

    let cluster = Cluster::new("qemu-hil", TIMING);
    let console = cluster.dir().join("logs").join("firmware.console");
    let report = OnFailure { cluster: &cluster, console: console.clone() };

    let mut mgs = cluster.mgs();
    let mgs_port = mgs.start().udp.expect("the MGS's udp address").port();

    // The firmware: its parent is the MGS (the guest reaches host port P as 10.0.2.2:P).
    let append = format!(
        "name={ROUTER} parent=10.0.2.2:{mgs_port} key={} ping_interval_ms={} update_interval_ms={} \
         suspect_after={} dead_after={}",
        firmware_key(&cluster),
        TIMING.ping_ms,
        TIMING.update_ms,
        TIMING.suspect_after,
        TIMING.dead_after,
    );
    let mut firmware = Firmware::boot(&elf, &append, &console, BOOT)
        .unwrap_or_else(|e| panic!("the firmware did not come up: {e}"));
    let router = firmware.addr();
    eprintln!("firmware router listening (host port {}) after {:?}", router.port(), started.elapsed());

    let names: Vec<String> = (0..CLIENTS).map(|i| format!("hil-c{i}")).collect();
    let mut clients: Vec<Daemon> = names.iter().map(|n| cluster.client(n, &[router])).collect();
    let mut server = cluster.server(SERVER, TARGET, &[router], &["--window-ms", &WINDOW_MS.to_string()]);
    start_all(clients.iter_mut().chain(std::iter::once(&mut server)));

    // 1. The MGS sees the firmware router and, through its updates, its children alive.
    let mut children = names.clone();
    children.push(SERVER.to_owned());
    let t = Instant::now();
    let first_generation =
        cluster.wait_status(&mgs, "the firmware router and its 6 children alive", JOIN, |s| {
            let router_up = s.node(ROUTER).is_some_and(|n| n.role == "router" && n.state == "alive");
            let below = children.iter().all(|c| {
                s.node(c).is_some_and(|n| n.state == "alive" && n.parents.iter().any(|p| p == ROUTER))
            });
            let target = s.target(TARGET).filter(|t| t.state == "up").map(|t| t.generation);
            (router_up && below).then_some(target).flatten()
        });
    eprintln!("1. router and children alive at the MGS after {:?}", t.elapsed());
    let status = cluster.status(&mgs);
    let raw: serde_json::Value = serde_json::from_str(&status.raw).expect("status JSON");
    let entry = raw["routers"].as_array().and_then(|rs| rs.iter().find(|r| r["name"] == ROUTER));
    assert!(entry.is_some(), "the MGS lists no router {ROUTER} in routers[]: {}", status.raw);

    // 2. A client killed: its parent, the firmware, reports it dead; the others stay alive.
    let victim = CLIENTS - 1;
    clients[victim].kill();
    let dead = &names[victim];
    let live: Vec<String> = names.iter().filter(|n| *n != dead).cloned().collect();
    let t = Instant::now();
    cluster.wait_until(&mgs, &format!("{dead} dead"), DEATH, |s| s.state(dead) == Some("dead"));
    eprintln!("2. {dead} reported dead after {:?} (dead threshold {:?})", t.elapsed(), TIMING.dead());
    let status = cluster.status(&mgs);
    assert!(
        status.all_in(&live, "alive") && status.state(ROUTER) == Some("alive"),
        "a death took others with it: {}",
        status.summary()
    );
    assert_eq!(
        status.node(dead).map(|n| n.parents.clone()),
        Some(vec![ROUTER.to_owned()]),
        "the dead client is not under the firmware router: {}",
        node_line(&status, dead)
    );

    // 3. The target restarts: a new instance, the same state dir.
    server.restart();
    let t = Instant::now();
    let (generation, order) =
        cluster.wait_status(&mgs, "a recovery of the restarted target", RECOVERY, |s| {
            let target = s.target(TARGET).filter(|t| t.generation > first_generation)?;
            let recovery = target.recovery.as_ref()?;
            (recovery.target_generation == Some(target.generation))
                .then(|| (target.generation, recovery.order_id.clone()))
        });
    eprintln!("3. target {TARGET} instance {generation} recovering (order {order}) after {:?}", t.elapsed());
    let expected = format!("{order} {TARGET} {generation}");
    for name in &live {
        cluster.wait_hook(name, &format!("BeginRecovery {order} reaches it"), RECOVERY, |lines| {
            lines.contains(&expected)
        });
    }
    eprintln!("   BeginRecovery reached the {} live clients after {:?}", live.len(), t.elapsed());
    let recovery = cluster.wait_status(&mgs, "the recovery window closed", RECOVERY, |s| {
        s.recovery(TARGET).filter(|r| r.order_id == order && r.closed()).cloned()
    });
    eprintln!("   window closed after {:?}: {recovery:?}", t.elapsed());
    assert_eq!(
        (recovery.live, recovery.reconnected, recovery.failed),
        (live.len() as u32, live.len() as u32, 0),
        "live / reconnected / failed"
    );
    assert!(
        recovery.elapsed_ms.is_some_and(|ms| ms < WINDOW_MS),
        "the window closed by its time-out, not by the clients: {recovery:?}"
    );
    // The close-window order is an order of its own (the next id), for the same instance.
    let instance = format!(" {TARGET} {generation}");
    cluster.wait_hook(SERVER, &format!("close-window for instance {generation}"), RECOVERY, |lines| {
        lines.iter().any(|l| l.ends_with(&instance) && !l.starts_with(&format!("{order} ")))
    });
    for name in &live {
        let runs = cluster.hook_lines(name).iter().filter(|l| **l == expected).count();
        assert_eq!(runs, 1, "{name}'s hook ran {runs} times for {order}");
    }
    assert!(
        !cluster.hook_lines(dead).iter().any(|l| l.starts_with(&format!("{order} "))),
        "the dead client {dead} got the order: {:?}",
        cluster.hook_lines(dead)
    );

    // The firmware's own account (its console, written synchronously by semihosting): the
    // victim died at the router, and the server's restart was seen there.
    let died = format!("ChildState {{ id: NodeId({}), state: Dead }}", NodeId::from_name(dead).0);
    let rebooted = format!(
        "ChildRebooted {{ id: NodeId({}), generation: Generation({generation}) }}",
        NodeId::from_name(SERVER).0
    );
    for line in [died, rebooted] {
        firmware.wait_console(&line, Duration::from_secs(5)).unwrap_or_else(|e| panic!("{e}"));
    }
    // The firmware's stack: painted at boot and again once running, its deepest use reported on
    // the console for each.
    let console = firmware.console();
    let high_water = |phase| {
        stack_high_water(&console, phase)
            .unwrap_or_else(|| panic!("no stack high-water report {phase} on the console:\n{console}"))
    };
    let ((boot, painted), (service, _)) = (high_water("at boot"), high_water("in service"));
    eprintln!("firmware stack high-water: {boot} bytes at boot, {service} in service (of {painted} painted)");
    assert!(
        boot < STACK_BOUND && service < STACK_BOUND,
        "the router's stack reached {boot} bytes at boot, {service} in service (bound {STACK_BOUND})"
    );
    eprintln!("qemu_hil passed in {:?}", started.elapsed());
    drop(report);
}
