//! Vigil against Lustre's recovery, on the Lustre model (`vigil_tests::lustre`): the real
//! daemons run the real hooks of `contrib/lustre/`, whose `lctl` is the model's, one world file
//! shared by every node.
//!
//! The site: an MGS, one router, an OST (`testfs-OST0000`) on `oss1` with `oss2` as its failover
//! partner (both run `vigil server --lustre`), five clients with Vigil agents that stay alive,
//! and clients that die with the target. Every client has two uncommitted requests when the
//! target goes down: replayed after the restart unless the client is evicted. Each server has
//! two NIDs: its first names its connection in the clients' imports (and is its
//! `--target-addr`), the clients reach it through the second, so that a hook writing the NID an
//! import shows instead of the connection's UUID fails. The restart and the failover run as
//! Lustre 2.15 and 2.16 print and take them.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::Duration;

use vigil_tests::lustre::{self, ImportState, Release, Settings, World, NODE_VAR, WORLD_VAR};
use vigil_tests::{start_all, Cluster, Daemon, Status, Timing};

const OST: &str = "testfs-OST0000";
/// oss1's first NID: the UUID of its connection in every client import (`niduuid`).
const OSS1_NID: &str = "10.0.0.7@tcp";
/// oss1's second NID, the one the clients reach it through (`failover_nids` shows it).
const OSS1_PEER: &str = "10.0.2.7@tcp";
/// oss2's first NID (its connection UUID) and the one the clients reach it through.
const OSS2_NID: &str = "10.0.0.8@tcp";
const OSS2_PEER: &str = "10.0.2.8@tcp";
/// Live clients, each with a Vigil agent.
const LIVE: [&str; 5] = ["c01", "c02", "c03", "c04", "c05"];
/// A recoverable client with an agent that dies with the target.
const DEAD: &str = "c06";
/// A recoverable client without an agent that dies with the target.
const NO_AGENT: &str = "c07";
/// Requests each client has not had committed when the target goes down.
const UNCOMMITTED: u32 = 2;
/// A generous bound for anything that should take a few seconds, on a busy 2-core machine.
const WAIT: Duration = Duration::from_secs(40);

/// The model as these tests run it: `release`, with the recovery thread looking again every 2 s
/// when nothing wakes it (Lustre's `target_recovery_overseer` every 60 s), so that a window
/// ended by evictions alone completes within seconds.
fn settings(release: Release) -> Settings {
    Settings { release, overseer_tick_s: 2, ..Settings::default() }
}

fn nid_of(client: &str) -> String {
    format!("10.0.1.{}@tcp", client[1..].trim_start_matches('0'))
}

/// One test's site.
struct Site {
    mgs: Daemon,
    /// Kept so that it runs as long as the site.
    _router: Daemon,
    clients: Vec<Daemon>,
    servers: Vec<Daemon>,
    world: PathBuf,
    cluster: Cluster,
}

impl Site {
    /// Starts the site with the model's `settings`, recoverable clients `with_agent` and
    /// `without_agent` (mounted, never started), and waits until every agent is alive and the
    /// target up. Agents report their Lustre mounts (`vigil client --lustre`), except those in
    /// `mapped`: the servers' site map (`--lustre-clients`, given only if `mapped` is not empty)
    /// lists them by NID instead.
    fn start(
        test: &str,
        settings: Settings,
        with_agent: &[&str],
        without_agent: &[&str],
        mapped: &[&str],
    ) -> Site {
        Site::start_with_policy(test, settings, with_agent, without_agent, mapped, "evict")
    }

    /// [`Site::start`], with the close hook's `VIGIL_LUSTRE_CLOSE` policy.
    fn start_with_policy(
        test: &str,
        settings: Settings,
        with_agent: &[&str],
        without_agent: &[&str],
        mapped: &[&str],
        policy: &str,
    ) -> Site {
        let cluster = Cluster::new(test, Timing::FAST);
        let world = cluster.dir().join("lustre-world.json");
        let bin = cluster.dir().join("lustre-bin");
        std::fs::create_dir_all(&bin).expect("bin dir");
        symlink(env!("CARGO_BIN_EXE_lctl"), bin.join("lctl")).expect("lctl symlink");
        let mut w = World { settings, ..World::default() };
        let now = vigil_tests::lustre::now_ms();
        w.add_node("oss1", &[OSS1_NID, OSS1_PEER]);
        w.add_node("oss2", &[OSS2_NID, OSS2_PEER]);
        w.mount_target(OST, "oss1", now);
        for (i, c) in with_agent.iter().chain(without_agent).enumerate() {
            w.add_node(c, &[&nid_of(c)]);
            w.mount_client(
                c,
                &format!("{i:08x}-5eed-4c1e-8a1b-{c}000000000"),
                &[(OST, &[OSS1_PEER, OSS2_PEER])],
                now,
            );
            w.write(c, OST, UNCOMMITTED);
        }
        w.create(&world);
        let map = cluster.dir().join("lustre-clients");
        let lines: String = mapped.iter().map(|c| format!("{c} {}\n", nid_of(c))).collect();
        std::fs::write(&map, format!("# Vigil client name, LNet NIDs\n{lines}")).expect("client map");

        let mut mgs = cluster.mgs();
        mgs.start();
        let mut router = cluster.router("r1", &[mgs.udp()]);
        router.start();
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
        let lustre = |d: Daemon, node: &str| {
            d.env("PATH", &path)
                .env(WORLD_VAR, &world)
                .env(NODE_VAR, node)
                .env("VIGIL_LUSTRE_WAIT_S", "10")
                .env("VIGIL_LUSTRE_CLOSE", policy)
        };
        let reconnect = hook("vigil-lustre-reconnect");
        let mut clients: Vec<Daemon> = with_agent
            .iter()
            .map(|c| {
                let (any, parent) = (cluster.any_port(), router.udp().to_string());
                let mut args =
                    vec!["--name", c, "--bind", &any, "--on-order", &reconnect, "--parent", &parent];
                if !mapped.contains(c) {
                    args.push("--lustre");
                }
                lustre(cluster.daemon(c, "client", &args), c)
            })
            .collect();
        let close = hook("vigil-lustre-close-window");
        let map = map.display().to_string();
        let mut servers: Vec<Daemon> = [("oss1", OSS1_NID), ("oss2", OSS2_NID)]
            .iter()
            .map(|(name, nid)| {
                let parent = router.udp().to_string();
                let any = cluster.any_port();
                let mut args = vec!["--name", name, "--target", OST, "--target-addr", nid, "--bind", &any];
                args.extend(["--parent", &parent, "--lustre", "--on-close-window", &close]);
                if !mapped.is_empty() {
                    args.extend(["--lustre-clients", &map]);
                }
                lustre(cluster.daemon(name, "server", &args), name)
            })
            .collect();
        start_all(clients.iter_mut().chain(servers.iter_mut()));
        let site = Site { mgs, _router: router, clients, servers, world, cluster };
        let agents: Vec<String> = with_agent.iter().map(|c| c.to_string()).collect();
        let reporting: Vec<&str> = with_agent.iter().copied().filter(|c| !mapped.contains(c)).collect();
        site.wait("every agent alive (its mount reported) and the target up at instance 1", |s| {
            s.all_in(&agents, "alive")
                && reporting.iter().all(|c| s.node(c).is_some_and(|n| n.mounts == 1))
                && s.target(OST).is_some_and(|t| t.state == "up" && t.generation == 1)
                && s.recovery(OST).is_none()
        });
        // oss1's agent has seen every client in the target's exports (it runs for months before a
        // crash in real life; here the crash comes within a second).
        let snapshot = site.cluster.dir().join("state/oss1.lustre-exports");
        let clients = with_agent.len() + without_agent.len();
        let start = std::time::Instant::now();
        while std::fs::read_to_string(&snapshot).map_or(0, |t| t.lines().count()) < clients {
            if start.elapsed() > WAIT {
                site.cluster.fail("oss1's agent never wrote the exports snapshot", None);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        site
    }

    fn wait(&self, what: &str, check: impl FnMut(&Status) -> bool) {
        self.cluster.wait_until(&self.mgs, what, WAIT, check)
    }

    fn status(&self) -> Status {
        self.cluster.status(&self.mgs)
    }

    /// Runs `f` on the model world (moved on to now first).
    fn world<T>(&self, f: impl FnOnce(&mut World, u64) -> T) -> T {
        World::with(&self.world, f).expect("the world file")
    }

    /// Waits (bounded) until `check` holds on the model world.
    fn wait_world(&self, what: &str, timeout: Duration, mut check: impl FnMut(&World) -> bool) {
        let start = std::time::Instant::now();
        loop {
            if self.world(|w, _| check(w)) {
                return;
            }
            if start.elapsed() > timeout {
                let world = std::fs::read_to_string(&self.world).unwrap_or_default();
                self.cluster.fail(&format!("{what}\n=== world ===\n{world}"), None);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn agent(&mut self, name: &str) -> &mut Daemon {
        self.clients.iter_mut().chain(self.servers.iter_mut()).find(|d| d.name() == name).expect("a daemon")
    }

    /// `client` and the target's server die together (a rack's power): the client's agent
    /// too, if it has one; waits until the MGS holds it dead.
    fn rack_fails(&mut self, clients: &[&str]) {
        for c in clients {
            if let Some(d) = self.clients.iter_mut().find(|d| d.name() == *c) {
                d.kill();
            }
        }
        self.agent("oss1").kill();
        self.world(|w, _| {
            for c in clients {
                w.crash(c);
            }
            w.crash("oss1");
        });
        let dead: Vec<String> = (clients.iter()).filter(|c| **c != NO_AGENT).map(|c| c.to_string()).collect();
        self.wait("the dead agents held dead", |s| s.all_in(&dead, "dead"));
    }

    /// The target mounts again on `server` (its node and agent come back): a new instance.
    fn mount_on(&mut self, server: &str) -> u32 {
        let instance = self.world(|w, now| {
            w.nodes.get_mut(server).expect("server node").up = true;
            w.mount_target(OST, server, now);
            w.targets[OST].instance
        });
        if !self.agent(server).is_running() {
            self.agent(server).restart();
        }
        instance
    }
}

impl Site {
    /// Every client of `clients` reconnected on its hook's first run (no slow path: a hook that
    /// failed and was run again, or an import the pinger reconnected later).
    fn reconnected_at_first_try(&mut self, clients: &[&str]) {
        for c in clients {
            let log = self.agent(c).log_text();
            assert!(!log.contains("NOT reconnected"), "{c}'s hook failed a first time:\n{log}");
        }
    }
}

/// The path of a hook script of `contrib/lustre/`.
fn hook(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/lustre").join(name).display().to_string()
}

/// The main scenario's site on the model alone, with nobody telling the clients: ms from the
/// remount to Lustre's recovery complete, in model time (stepped, not waited for).
fn recovery_without_vigil(settings: Settings) -> u64 {
    let mut w = World { settings, ..World::default() };
    let start = 1_000_000;
    w.add_node("oss1", &[OSS1_NID]);
    w.mount_target(OST, "oss1", start);
    for c in LIVE.iter().chain([&DEAD]) {
        w.add_node(c, &[&nid_of(c)]);
        w.mount_client(c, &format!("uuid-{c}"), &[(OST, &[OSS1_NID, OSS2_NID])], start);
        w.write(c, OST, UNCOMMITTED);
    }
    w.crash(DEAD);
    w.crash("oss1");
    w.nodes.get_mut("oss1").expect("oss1").up = true;
    w.mount_target(OST, "oss1", start);
    let mut now = start;
    while w.targets[OST].recovery.as_ref().is_some_and(|r| r.done_ms.is_none()) {
        now += 100;
        assert!(now < start + 3_600_000, "the model's recovery ends within an hour");
        w.step(now);
    }
    let r = w.targets[OST].recovery.clone().expect("a recovery");
    assert!(r.timed_out && r.evicted == 1 && r.lost == 0, "ended by Lustre's timer: {r:?}");
    r.done_ms.unwrap_or(now) - start
}

/// The live clients' imports: connected to `instance` through the connection named `uuid`,
/// FULL, nothing uncommitted.
fn live_clients_recovered(w: &World, instance: u32, uuid: &str) -> bool {
    LIVE.iter().all(|c| {
        w.import(c, OST).is_some_and(|i| {
            i.state == ImportState::Full
                && i.instance == instance
                && i.current_uuid() == uuid
                && i.uncommitted == 0
        })
    })
}

#[test]
fn a_target_restart_with_a_dead_client_recovers_in_seconds_evicting_only_the_dead() {
    restart_with_a_dead_client(Release::V2_16);
}

/// Lustre 2.15 has no `recovery_stale_clients`: the hook evicts the dead clients Vigil names
/// that are not connected.
#[test]
fn a_target_restart_with_a_dead_client_on_2_15_evicts_the_dead_vigil_names() {
    restart_with_a_dead_client(Release::V2_15);
}

fn restart_with_a_dead_client(release: Release) {
    let mut with_agent = LIVE.to_vec();
    with_agent.push(DEAD);
    let test = format!("lustre_restart_{release:?}");
    let mut site = Site::start(&test, settings(release), &with_agent, &[], &[]);
    site.rack_fails(&[DEAD]);
    let instance = site.mount_on("oss1");
    assert_eq!(instance, 2);

    // Vigil orders the restart of instance 2, the live clients reconnect, the window closes.
    let order = site.cluster.wait_status(&site.mgs, "a recovery of instance 2, closed", WAIT, |s| {
        let r = s.recovery(OST)?;
        (r.target_generation == Some(2) && r.closed()).then(|| r.clone())
    });
    assert_eq!((order.live, order.reconnected, order.failed), (5, 5, 0), "reconnected 5/5: {order:?}");
    site.reconnected_at_first_try(&LIVE);

    // The server's hook evicted the dead client by UUID: Lustre's recovery goes on at the
    // recovery thread's next tick.
    site.wait_world("Lustre's recovery complete", WAIT, |w| {
        w.targets[OST].recovery.as_ref().is_some_and(|r| r.done_ms.is_some())
    });
    let (recovery, recovered) = site.world(|w, _| {
        (w.targets[OST].recovery.clone().expect("a recovery"), live_clients_recovered(w, 2, OSS1_NID))
    });
    assert!(!recovery.timed_out && !recovery.aborted, "ended by Vigil's eviction: {recovery:?}");
    let log = site.agent("oss1").log_text();
    assert!(
        log.contains("a mount of a client dead by Vigil's verdict"),
        "evicted by the mount the dead client reported, with no site map:\n{log}"
    );
    assert_eq!(recovery.evicted, 1, "only the dead client: {recovery:?}");
    assert_eq!(recovery.lost, 0, "no replay lost: {recovery:?}");
    assert_eq!(recovery.replayed, 5 * UNCOMMITTED, "every live client's replays: {recovery:?}");
    let took = recovery.done_ms.unwrap_or(0) - recovery.start_ms.unwrap_or(0);
    assert!(took < 60_000, "within seconds of the first reconnect, not Lustre's 150 s timer: {took} ms");
    let from_mount = recovery.done_ms.unwrap_or(0) - site.world(|w, _| w.targets[OST].mounted_ms);
    assert!(recovery.ready_ms.is_some(), "readiness came from the eviction, not a wake: {recovery:?}");
    assert!(recovered, "every live client FULL on instance 2 with its replays done");
    // The status shows Lustre's view beside Vigil's: reconnected 5/5, one evicted.
    site.wait("the status shows Lustre's recovery complete, 5 of 6 recovered, 1 evicted", |s| {
        s.target(OST).is_some_and(|t| {
            t.state == "up"
                && t.generation == 2
                && t.lustre.as_ref().is_some_and(|l| {
                    l.status == "COMPLETE" && (l.connected, l.recoverable, l.evicted, l.stale) == (5, 6, 1, 0)
                })
        })
    });
    let status = site.status();
    let order = status.recovery(OST).expect("the recovery");
    assert_eq!((order.live, order.reconnected), (5, 5), "reconnected 5/5 beside Lustre's view: {order:?}");
    // The figures BENCHMARKS.md records, beside the same site on the model without Vigil. The
    // eviction wakes nothing: with Lustre's own 60 s tick (this test's is 2 s), the recovery
    // thread notices it at its first tick after it, counted from the mount.
    let without = recovery_without_vigil(Settings::default());
    let mounted = site.world(|w, _| w.targets[OST].mounted_ms);
    let at_60s_tick =
        recovery.ready_ms.map_or(from_mount, |r| r.saturating_sub(mounted).div_ceil(60_000).max(1) * 60_000);
    println!(
        "lustre model {release:?}, {} live + 1 dead client: Lustre's recovery complete {:.1} s after \
         the remount with Vigil and a {} s tick ({:.1} s from the first reconnect; Vigil's window \
         {:.1} s; the eviction {:.1} s after the remount, so {:.0} s with Lustre's 60 s tick), \
         {:.1} s without (the pinger, then the {} s timer): {:.1}x sooner with the 60 s tick",
        LIVE.len(),
        from_mount as f64 / 1000.0,
        settings(release).overseer_tick_s,
        took as f64 / 1000.0,
        order.elapsed_ms.unwrap_or(0) as f64 / 1000.0,
        recovery.ready_ms.map_or(0, |r| r.saturating_sub(mounted)) as f64 / 1000.0,
        at_60s_tick as f64 / 1000.0,
        without as f64 / 1000.0,
        Settings::default().recovery_window_s,
        without as f64 / at_60s_tick.max(1) as f64,
    );
    assert!(!status.target(OST).and_then(|t| t.lustre.as_ref()).is_some_and(|l| l.partial));
    let (exit, text, stderr) = site.cluster.run(&["status", "--mgs", &format!("http://{}", site.mgs.http())]);
    assert!(exit.success(), "vigil status failed ({exit}): {stderr}");
    assert!(
        text.contains("5 of 5 reconnected")
            && text.contains("Lustre: COMPLETE")
            && text.contains("1 evicted"),
        "vigil status shows both views:\n{text}"
    );
}

#[test]
fn a_client_without_an_agent_is_left_to_lustres_timer() {
    client_without_an_agent(Release::V2_16);
}

/// On 2.15 (no `recovery_stale_clients`) the hook finds the mapped dead client by its NID in the
/// snapshot, and the status counts the client still awaited from `recovery_status`.
#[test]
fn a_client_without_an_agent_on_2_15_is_left_to_lustres_timer() {
    client_without_an_agent(Release::V2_15);
}

fn client_without_an_agent(release: Release) {
    let mut with_agent = LIVE.to_vec();
    with_agent.push(DEAD);
    // Lustre's window (150 s) outlasts whatever the test must see first, however slow the
    // machine; the test runs its timer out after that (a 12 s window was a guess of how soon a
    // loaded machine gets through the closing and the report of the partial view).
    let test = format!("lustre_no_agent_{release:?}");
    let mut site = Site::start(&test, settings(release), &with_agent, &[NO_AGENT], &[DEAD]);
    site.rack_fails(&[DEAD, NO_AGENT]);
    site.mount_on("oss1");
    site.wait("the window closed by Vigil", |s| {
        s.recovery(OST).is_some_and(|r| r.closed() && r.reconnected == 5)
    });
    // The dead client with an agent is evicted; the one Vigil does not know stays stale.
    site.wait_world("the dead client evicted, the unknown one still awaited", WAIT, |w| {
        let t = &w.targets[OST];
        let evicted = |c: &str| {
            t.exports.iter().any(|(u, e)| {
                u.ends_with(&format!("{c}000000000")) && e.state == vigil_tests::lustre::ExportState::Evicted
            })
        };
        evicted(DEAD) && !evicted(NO_AGENT)
    });
    let log = site.agent("oss1").log_text();
    assert!(
        log.contains(&format!("({}): dead by Vigil's verdict", nid_of(DEAD))),
        "the dead client the site map lists evicted by its NID:\n{log}"
    );
    let (recovering, connected_live) = site.world(|w, _| {
        let r = w.targets[OST].recovery.clone().expect("a recovery");
        let connected =
            LIVE.iter().all(|c| w.import(c, OST).is_some_and(|i| i.state.connected() && i.instance == 2));
        (r.done_ms.is_none(), connected)
    });
    assert!(recovering, "partial: Lustre still waits for the client Vigil does not know");
    assert!(connected_live, "the live clients are connected, waiting in replay");
    // The status shows the window partial: Lustre waits for one client Vigil does not know.
    site.wait("the status shows the window partial, one stale client", |s| {
        s.target(OST).and_then(|t| t.lustre.as_ref()).is_some_and(|l| {
            l.partial
                && l.status == "RECOVERING"
                && (l.connected, l.recoverable, l.evicted, l.stale) == (5, 7, 1, 1)
        })
    });
    // Lustre's own timer ends it: the unknown client is evicted by Lustre, nothing else lost.
    // The window is brought to its end (the model counts it from the first connect at each
    // step), which is Lustre's time passing, not anything Vigil does.
    site.world(|w, _| w.settings.recovery_window_s = 0);
    site.wait_world("Lustre's timer ends the recovery", WAIT, |w| {
        w.targets[OST].recovery.as_ref().is_some_and(|r| r.done_ms.is_some())
    });
    let recovery = site.world(|w, _| w.targets[OST].recovery.clone().expect("a recovery"));
    assert!(recovery.timed_out && recovery.evicted == 2 && recovery.lost == 0, "{recovery:?}");
    site.wait("the target up once Lustre finished", |s| {
        s.target(OST).is_some_and(|t| t.state == "up" && t.generation == 2)
    });
}

#[test]
fn a_daemon_restart_without_a_remount_orders_nothing() {
    let mut site = Site::start("lustre_daemon_restart", settings(Release::default()), &LIVE, &[], &[]);
    let before = site.status().node("oss1").expect("oss1").generation;
    site.agent("oss1").restart();
    site.wait("the MGS sees oss1's new boot and its target report", |s| {
        s.node("oss1").is_some_and(|n| n.generation > before && n.state == "alive")
            && s.target(OST).is_some_and(|t| t.state == "up" && t.generation == 1)
    });
    assert!(site.status().recovery(OST).is_none(), "same Lustre instance: nothing ordered");
    let states =
        site.world(|w, _| LIVE.iter().map(|c| w.import(c, OST).map(|i| i.state)).collect::<Vec<_>>());
    assert!(states.iter().all(|s| *s == Some(ImportState::Full)), "no client disturbed: {states:?}");
}

#[test]
fn a_failover_to_the_partner_orders_a_recovery_with_its_nids_2_15() {
    failover_to_the_partner(Release::V2_15);
}

#[test]
fn a_failover_to_the_partner_orders_a_recovery_with_its_nids_2_16() {
    failover_to_the_partner(Release::V2_16);
}

fn failover_to_the_partner(release: Release) {
    let mut site = Site::start(&format!("lustre_failover_{release:?}"), settings(release), &LIVE, &[], &[]);
    site.rack_fails(&[]);
    let instance = site.mount_on("oss2");
    assert_eq!(instance, 2);
    let order = site.cluster.wait_status(&site.mgs, "a recovery of instance 2 via oss2, closed", WAIT, |s| {
        let r = s.recovery(OST)?;
        (r.target_generation == Some(2) && r.closed()).then(|| r.clone())
    });
    assert_eq!((order.live, order.reconnected), (5, 5), "{order:?}");
    site.reconnected_at_first_try(&LIVE);
    site.wait_world("every live client FULL on oss2", WAIT, |w| live_clients_recovered(w, 2, OSS2_NID));
    let recovery = site.world(|w, _| w.targets[OST].recovery.clone().expect("a recovery"));
    assert!(recovery.evicted == 0 && recovery.lost == 0 && !recovery.timed_out, "{recovery:?}");
    for c in LIVE {
        let log = site.agent(c).log_text();
        assert!(
            log.contains(&format!("reconnecting via {OSS2_NID}")),
            "{c} used the NID the order carried:\n{log}"
        );
    }
}

#[test]
fn a_restart_leaves_an_idle_client_alone_and_counts_it_reconnected() {
    // An idle time-out short enough for the test to see an import go IDLE.
    let settings = Settings { idle_timeout_s: 2, ..settings(Release::default()) };
    let mut site = Site::start("lustre_idle", settings, &LIVE, &[], &[]);
    let idle = LIVE[4];
    // The target commits the last client's requests: it has nothing to replay, goes IDLE and
    // the target forgets it (no recoverable client).
    site.world(|w, now| w.commit(idle, OST, now));
    site.wait_world("the client idle and dropped by the target", WAIT, |w| {
        w.import(idle, OST).is_some_and(|i| i.state == ImportState::Idle)
            && !w.targets[OST].exports.keys().any(|u| u.ends_with(&format!("{idle}000000000")))
    });
    site.rack_fails(&[]);
    assert_eq!(site.mount_on("oss1"), 2);
    let order = site.cluster.wait_status(&site.mgs, "a recovery of instance 2, closed", WAIT, |s| {
        let r = s.recovery(OST)?;
        (r.target_generation == Some(2) && r.closed()).then(|| r.clone())
    });
    assert_eq!(
        (order.live, order.reconnected, order.failed),
        (5, 5, 0),
        "the idle client succeeded: {order:?}"
    );
    site.reconnected_at_first_try(&LIVE);
    site.wait_world("Lustre's recovery complete with the four others", WAIT, |w| {
        w.targets[OST].recovery.as_ref().is_some_and(|r| r.done_ms.is_some() && r.recoverable == 4)
    });
    let (state, writes) = site.world(|w, _| {
        let writes: Vec<String> =
            w.writes.iter().filter(|l| l.starts_with(&format!("{idle}: "))).cloned().collect();
        (w.import(idle, OST).map(|i| (i.state, i.instance)), writes)
    });
    assert_eq!(state, Some((ImportState::Idle, 1)), "left idle");
    assert!(writes.is_empty(), "no write to an idle import: {writes:?}");
    let log = site.agent(idle).log_text();
    assert!(log.contains("idle: nothing to recover"), "{log}");
}

/// A target restart whose only recoverable client died with the rack, the close hook run with
/// `policy`: nobody connects, so Lustre shows WAITING_FOR_CLIENTS and has no timer, and Vigil
/// closes the window at once (no live client to wait for). The site and Lustre's recovery,
/// once over.
fn only_client_dead(test: &str, settings: Settings, policy: &str) -> (Site, lustre::Recovery) {
    let mut site = Site::start_with_policy(test, settings, &[DEAD], &[], &[], policy);
    site.rack_fails(&[DEAD]);
    site.mount_on("oss1");
    site.wait("the window closed by Vigil", |s| s.recovery(OST).is_some_and(|r| r.closed() && r.live == 0));
    site.wait_world("Lustre's recovery over", WAIT, |w| {
        w.targets[OST].recovery.as_ref().is_some_and(|r| r.done_ms.is_some())
    });
    let recovery = site.world(|w, _| w.targets[OST].recovery.clone().expect("a recovery"));
    (site, recovery)
}

#[test]
fn a_restart_whose_only_client_is_dead_waits_for_clients_until_vigil_evicts_it() {
    // The hook evicts the dead client: that ends Lustre's wait.
    let (mut site, recovery) = only_client_dead("lustre_only_dead", settings(Release::default()), "evict");
    assert!(
        recovery.evicted == 1 && recovery.start_ms.is_none() && !recovery.timed_out && !recovery.aborted,
        "one eviction, before any client connected: {recovery:?}"
    );
    let log = site.agent("oss1").log_text();
    assert!(log.contains("a mount of a client dead by Vigil's verdict"), "evicted by its mount:\n{log}");
    assert!(log.contains("every client it awaits is back or evicted"), "the hook succeeded:\n{log}");
    site.wait("the target up once Lustre finished", |s| {
        s.target(OST).is_some_and(|t| t.state == "up" && t.generation == 2)
    });
}

/// The same with `VIGIL_LUSTRE_CLOSE=abort` on a 2.16 OST: `abort_recovery` fails with EINVAL
/// (`ofd_iocontrol`) although it ended the recovery, and the hook goes by `recovery_status`.
#[test]
fn an_abort_that_lctl_reports_failed_on_an_ost_of_2_16_is_judged_by_the_status() {
    let (mut site, recovery) = only_client_dead("lustre_abort", settings(Release::V2_16), "abort");
    assert!(recovery.aborted && recovery.evicted == 1, "{recovery:?}");
    let log = site.agent("oss1").log_text();
    assert!(
        log.contains("abort_recovery exited 22") && log.contains("recovery is over (COMPLETE)"),
        "lctl's EINVAL noted, the status read again:\n{log}"
    );
    assert!(!log.contains("hook failed"), "the close reported done:\n{log}");
}
