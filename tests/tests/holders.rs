//! Redundant status holders on loopback: two `vigil mgs` instances, both parents of both routers.
//! A recovery is one recovery per (target, target instance), whichever holder orders it:
//!
//! ```text
//!           mgs-a     mgs-b
//!              |  \  /  |
//!              |   \/   |
//!              |   /\   |
//!             r1        r2
//!          c00..c03   c04..c07, s1 (server of testfs-OST0000)
//! ```
//!
//! Judged through each holder's status API, `vigil status|recover|close --mgs A,B`, and the hook
//! files (one line per run), so "once" is counted. Pings every 400 ms; every wait is bounded
//! and polls observed state.

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::Duration;

use vigil_tests::{datagrams, start_all, Cluster, Daemon, Status, Timing};

const TARGET: &str = "testfs-OST0000";
const WINDOW_MS: &str = "300000";
const CLIENTS: usize = 8;
const WAIT: Duration = Duration::from_secs(40);
/// Slower than `Timing::FAST` (dead after 4 s, not 1 s): two holders and a dozen daemons share
/// two cores in CI, and a starved router must not look dead to one holder and not the other.
const TIMING: Timing = Timing { ping_ms: 400, update_ms: 200, suspect_after: 4, dead_after: 10 };

/// One test's site. Daemons before the cluster, so they die before its directory goes.
struct Site {
    holders: Vec<Daemon>,
    routers: Vec<Daemon>,
    clients: Vec<Daemon>,
    server: Daemon,
    cluster: Cluster,
}

fn client_name(i: usize) -> String {
    format!("c{i:02}")
}

impl Site {
    /// Two holders, two routers listing both, [`CLIENTS`] clients, the server below r2; waits
    /// until both holders see every node alive and the target settled. How each client's hook
    /// reconnects: see [`Hooks`].
    fn start(test: &str, hooks: Hooks) -> Site {
        let cluster = Cluster::new(test, TIMING);
        let (any, token) = (cluster.any_port(), cluster.api_token_file());
        let token = token.to_string_lossy();
        let mut holders: Vec<Daemon> = ["mgs-a", "mgs-b"]
            .iter()
            .map(|name| {
                let args = ["--name", name, "--listen", &any, "--http", &any, "--api-token-file", &token];
                cluster.daemon(name, "mgs", &args)
            })
            .collect();
        start_all(holders.iter_mut());
        let tops: Vec<SocketAddr> = holders.iter().map(Daemon::udp).collect();
        let mut routers = vec![cluster.router("r1", &tops), cluster.router("r2", &tops)];
        start_all(routers.iter_mut());
        let (r1, r2) = (routers[0].udp(), routers[1].udp());
        if matches!(hooks, Hooks::Gated) {
            std::fs::write(gate(&cluster), b"").expect("the hooks' gate, open");
        }
        let mut clients: Vec<Daemon> = (0..CLIENTS)
            .map(|i| {
                let name = client_name(i);
                let mut hook = cluster.hook_command(&name);
                let marker = cluster.dir().join("hooks").join(format!("{name}.done."));
                let done = format!("touch '{}'\"$VIGIL_TARGET_GENERATION\"", marker.display());
                match hooks {
                    Hooks::Quick => {}
                    Hooks::Slow => hook += &format!("; sleep 3; {done}"),
                    Hooks::Gated => {
                        let gate = gate(&cluster);
                        let wait = format!(
                            "for _ in $(seq 250); do [ -e '{}' ] && break; sleep 0.1; done",
                            gate.display()
                        );
                        hook += &format!("; {wait}; {done}");
                    }
                }
                cluster.client_with_hook(&name, &[if i < CLIENTS / 2 { r1 } else { r2 }], &hook)
            })
            .collect();
        let mut server = cluster.server("s1", TARGET, &[r2], &["--window-ms", WINDOW_MS]);
        start_all(clients.iter_mut().chain(std::iter::once(&mut server)));
        let site = Site { holders, routers, clients, server, cluster };
        for h in 0..2 {
            site.wait_settled(h);
        }
        site
    }

    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.clients.iter().map(|c| c.name().to_owned()).collect();
        names.extend(self.routers.iter().map(|r| r.name().to_owned()));
        names.push("s1".into());
        names
    }

    fn urls(&self) -> String {
        self.holders.iter().map(|h| format!("http://{}", h.http())).collect::<Vec<_>>().join(",")
    }

    fn wait_settled(&self, h: usize) {
        let names = self.names();
        self.cluster.wait_until(&self.holders[h], "every node alive and the target settled", WAIT, |s| {
            s.all_in(&names, "alive")
                && s.target(TARGET).is_some_and(|t| t.recovery.as_ref().is_none_or(|r| r.closed()))
        });
    }

    fn status(&self, h: usize) -> Status {
        self.cluster.status(&self.holders[h])
    }

    /// Restarts the server (a new instance) and returns the instance, once `holder` shows it.
    fn restart_target(&mut self, holder: usize) -> u32 {
        let before = self.status(holder).node("s1").expect("s1 known").generation;
        self.server.restart();
        self.cluster.wait_status(&self.holders[holder], "the restarted target's new instance", WAIT, |s| {
            let r = s.recovery(TARGET)?;
            let now = s.node("s1")?.generation;
            r.target_generation.filter(|&g| g > before && now == g)
        })
    }

    /// Waits until `holder` shows the window of `instance` closed: by its own order with all
    /// [`CLIENTS`] counted reconnected, or by the target (another holder's close carried out
    /// first). A recovery the target ended shows the sum last made, which leaves out the routers
    /// that had let go of this holder's order when the other holder's close reached them.
    fn wait_closed(&self, holder: usize, instance: u32) {
        self.cluster.wait_until(
            &self.holders[holder],
            &format!("the window of instance {instance} closed"),
            WAIT,
            |s| {
                s.recovery(TARGET).is_some_and(|r| {
                    let all = r.reconnected == CLIENTS as u32 && r.live == CLIENTS as u32;
                    r.target_generation == Some(instance)
                        && r.closed()
                        && match r.ended_by.as_deref() {
                            Some("order") => all,
                            Some("target") => true,
                            _ => false,
                        }
                })
            },
        );
    }

    /// Lines of `name`'s hook about `target` at `instance` (whatever the order id).
    fn runs(&self, name: &str, target: &str, instance: u32) -> usize {
        let suffix = format!(" {target} {instance}");
        self.cluster.hook_lines(name).iter().filter(|l| l.ends_with(&suffix)).count()
    }

    /// Every client's hook and the server's close hook ran exactly once for `instance`.
    fn assert_once(&self, instance: u32) {
        for c in &self.clients {
            let name = c.name();
            self.cluster
                .wait_hook(name, "its reconnect hook ran", WAIT, |_| self.runs(name, TARGET, instance) > 0);
            let lines = self.cluster.hook_lines(name);
            assert_eq!(self.runs(name, TARGET, instance), 1, "{name}: one reconnect per instance: {lines:?}");
        }
        self.cluster.wait_hook("s1", "its close hook ran", WAIT, |_| self.runs("s1", TARGET, instance) > 0);
        let lines = self.cluster.hook_lines("s1");
        assert_eq!(self.runs("s1", TARGET, instance), 1, "s1: one close per instance: {lines:?}");
    }

    /// Waits until both holders show the target up in `instance`: every order about it is over.
    fn wait_up_everywhere(&self, instance: u32) {
        for h in &self.holders {
            self.cluster.wait_until(h, "the target up in its new instance", WAIT, |s| {
                s.target(TARGET).is_some_and(|t| t.state == "up" && t.generation == instance)
            });
        }
    }
}

/// How the clients' reconnect hooks run.
#[derive(Clone, Copy)]
enum Hooks {
    /// At once.
    Quick,
    /// In 3 s, then leaving the client's [`done_marker`].
    Slow,
    /// While the test holds the [`gate`] shut (25 s at most, inside the client's 30 s hook
    /// time-out), then leaving the [`done_marker`]: the window stays open for as long as the test
    /// needs, however slow the machine. The gate starts open.
    Gated,
}

/// The file whose presence lets gated hooks finish: the gate is open while it exists.
fn gate(cluster: &Cluster) -> PathBuf {
    cluster.dir().join("hooks").join("gate")
}

/// The file a slow or gated client's hook creates when it finished reconnecting to `instance`.
fn done_marker(cluster: &Cluster, name: &str, instance: u32) -> PathBuf {
    cluster.dir().join("hooks").join(format!("{name}.done.{instance}"))
}

#[test]
fn two_holders_make_one_recovery_per_target_instance() {
    let mut site = Site::start("holders-once", Hooks::Quick);
    let instance = site.restart_target(0);
    site.wait_closed(0, instance);
    site.wait_closed(1, instance);
    site.assert_once(instance);
    // Orders are repeated until reported, by both holders: still once when the dust settled.
    site.wait_up_everywhere(instance);
    site.assert_once(instance);

    // One CLI call shows both holders, which agree once the cluster is steady.
    let urls = site.urls();
    let mut last = String::new();
    let agreed = (0..100).any(|_| {
        let (exit, out, err) = site.cluster.run(&["status", "--mgs", &urls]);
        assert!(exit.success(), "vigil status --mgs {urls}: {out}{err}");
        last = out;
        let agree = last.contains("The holders agree.");
        if !agree {
            std::thread::sleep(Duration::from_millis(100));
        }
        agree
    });
    assert!(agreed, "the holders never agreed:\n{last}");
    assert!(last.contains("2 of 2 status holders answered"), "{last}");
    // Each answering holder is named, with its node id (order ids name a holder by it).
    for holder in ["mgs-a", "mgs-b"] {
        let line = last.lines().find(|l| l.contains(&format!(" {holder} (id "))).unwrap_or_default();
        assert!(line.contains(") generation 1"), "{holder} not named with id and generation:\n{last}");
    }
}

#[test]
fn a_silent_holder_is_named_and_a_disagreement_is_flagged() {
    let mut site = Site::start("holders-status", Hooks::Quick);
    let urls = site.urls();
    let b = format!("http://{}", site.holders[1].http());
    site.holders[1].kill();
    let (exit, out, err) = site.cluster.run(&["status", "--mgs", &urls]);
    assert!(exit.success(), "one holder answering is enough: {out}{err}");
    assert!(out.contains("1 of 2 status holders answered"), "{out}");
    assert!(out.contains(&b) && out.contains("no answer"), "{out}");

    // Back, but a client dies while only mgs-a watches from the start: the restarted mgs-b has
    // not heard of it yet, so the two views may differ on it for a moment (how long is the
    // routers' doing, not something to assert on).
    site.clients[0].kill();
    site.cluster.wait_until(&site.holders[0], "c00 dead", WAIT, |s| s.state("c00") == Some("dead"));
    site.holders[1].restart();
    // A node that pinged mgs-a alone is one mgs-b never hears of: a disagreement that lasts,
    // which the CLI must flag, naming each holder's view.
    let key = datagrams::read_key(site.cluster.key_file());
    let ping = datagrams::ping("loner", Some("mgs-a"), 1, 200, &key);
    UdpSocket::bind("127.0.0.1:0").and_then(|s| s.send_to(&ping, site.holders[0].udp())).expect("send");
    site.cluster.wait_until(&site.holders[0], "mgs-a knows the loner", WAIT, |s| s.node("loner").is_some());
    let (exit, json, err) = site.cluster.run(&["status", "--mgs", &urls, "--json"]);
    assert!(exit.success(), "{json}{err}");
    let v: serde_json::Value = serde_json::from_str(&json).expect("the merged JSON");
    assert_eq!(v["holders"].as_array().map(Vec::len), Some(2), "{json}");
    let loner = v["disagreements"].as_array().and_then(|d| d.iter().find(|d| d["what"] == "node loner"));
    let at_b = loner.and_then(|d| d["seen"].as_array()?.iter().find(|s| s[0] == "mgs-b").cloned());
    assert_eq!(at_b, Some(serde_json::json!(["mgs-b", "unknown"])), "the loner not flagged: {json}");
    let (exit, out, err) = site.cluster.run(&["status", "--mgs", &urls]);
    assert!(exit.success(), "{out}{err}");
    let flagged = out.split_once("THE HOLDERS DISAGREE ON").map(|(_, d)| d).unwrap_or_default();
    assert!(flagged.lines().any(|l| l.trim_start().starts_with("node loner ")), "{out}");
    // Eventually both hold c00 dead and agree again: disagreements are transient facts, not noise.
    site.cluster.wait_until(&site.holders[1], "c00 dead at the restarted holder", WAIT, |s| {
        s.state("c00") == Some("dead")
    });
    let (_, out, _) = site.cluster.run(&["status", "--mgs", &urls]);
    assert!(!out.contains("node c00 "), "c00 is dead at both: {out}");
}

#[test]
fn holders_restarting_in_turn_never_close_early_and_the_recovery_ends_by_order() {
    // Reconnections that finish when the test says: the window stays open while both holders
    // restart in turn. Each hook leaves a marker when it finishes; a window closed early would
    // find one missing.
    let mut site = Site::start("holders-rolling", Hooks::Gated);
    std::fs::remove_file(gate(&site.cluster)).expect("the hooks' gate, shut");
    let instance = site.restart_target(0);
    // Mid-recovery: hooks running, the window open at both holders.
    site.cluster
        .wait_hook("c00", "its reconnect hook started", WAIT, |_| site.runs("c00", TARGET, instance) > 0);
    for turn in 0..2 {
        let open = site.status(turn).recovery(TARGET).is_some_and(|r| !r.closed());
        assert!(open, "holder {turn} restarts with the window open");
        site.holders[turn].restart();
        // Back with its view rebuilt from the routers' snapshots: it knows the recovery again.
        site.cluster.wait_until(&site.holders[turn], "the restarted holder knows the recovery", WAIT, |s| {
            s.recovery(TARGET).is_some_and(|r| r.target_generation == Some(instance))
        });
    }
    // Both holders count every client in the recovery before any finishes reconnecting.
    for h in 0..2 {
        site.cluster.wait_until(&site.holders[h], "every client counted in the recovery", WAIT, |s| {
            s.recovery(TARGET).is_some_and(|r| r.target_generation == Some(instance) && r.live == 8)
        });
    }
    std::fs::write(gate(&site.cluster), b"").expect("the hooks' gate, open");
    site.cluster.wait_hook("s1", "its close hook ran", WAIT, |_| site.runs("s1", TARGET, instance) > 0);
    let unfinished: Vec<String> =
        (0..CLIENTS).map(client_name).filter(|n| !done_marker(&site.cluster, n, instance).exists()).collect();
    assert!(unfinished.is_empty(), "the window closed before {unfinished:?} reconnected");
    // A holder that had not closed when the other's close was carried out (in the run seen, it
    // was still in its startup hold) shows the window ended by the target, with the sum over
    // the routers still holding its order then (seen: 4 of 8): `wait_closed` asks all 8 of a
    // close by order only.
    site.wait_closed(0, instance);
    site.wait_closed(1, instance);
    for h in 0..2 {
        let r = site.status(h).recovery(TARGET).cloned().expect("the recovery");
        assert_eq!(
            r.closed_by_admin,
            Some(false),
            "holder {h}: ended by order or the target, not by an admin: {r:?}"
        );
    }
    site.wait_up_everywhere(instance);
    site.assert_once(instance);
}

#[test]
fn a_manual_recover_and_close_reach_every_holder_once() {
    let site = Site::start("holders-manual", Hooks::Slow);
    let urls = site.urls();
    let target = "testfs-OST0009";
    // A target no holder knows is refused unless forced; several holders: the admin names the
    // instance of one that none knows (without one the CLI refuses).
    let (exit, _, err) =
        site.cluster.run(&["recover", "--mgs", &urls, "--target", target, "--instance", "41"]);
    assert!(!exit.success() && err.contains("no status holder knows") && err.contains("--force"), "{err}");
    let (exit, _, err) = site.cluster.run(&["recover", "--mgs", &urls, "--target", target, "--force"]);
    assert!(!exit.success() && err.contains("--instance"), "{err}");
    let (exit, out, err) =
        site.cluster.run(&["recover", "--mgs", &urls, "--target", target, "--force", "--instance", "41"]);
    assert!(exit.success(), "{out}{err}");
    assert_eq!(out.matches("order ").count(), 2, "both holders issued it: {out}");
    // Both holders hold the one manual recovery, about the one instance the CLI named.
    let instances: Vec<u32> = (0..2)
        .map(|h| {
            site.cluster.wait_status(&site.holders[h], "the manual recovery", WAIT, |s| {
                s.recovery(target).filter(|r| r.manual == Some(true)).and_then(|r| r.target_generation)
            })
        })
        .collect();
    assert_eq!(instances[0], instances[1], "one instance for every holder");
    assert_eq!(instances[0], 41, "the instance the admin named");
    let instance = instances[0];
    for c in &site.clients {
        site.cluster
            .wait_hook(c.name(), "the manual order ran", WAIT, |_| site.runs(c.name(), target, instance) > 0);
    }

    // `vigil close` reaches both holders: closed while the clients are still reconnecting (3 s
    // each), each holder shows the window closed by an admin.
    let target3 = "testfs-OST000b";
    let (exit, out, err) =
        site.cluster.run(&["recover", "--mgs", &urls, "--target", target3, "--force", "--instance", "43"]);
    assert!(exit.success(), "{out}{err}");
    let (exit, out, err) = site.cluster.run(&["close", "--mgs", &urls, "--target", target3]);
    assert!(exit.success(), "{out}{err}");
    assert_eq!(out.matches(": order ").count(), 2, "both holders closed it: {out}");
    for h in &site.holders {
        site.cluster.wait_until(h, "closed by an admin", WAIT, |s| {
            s.recovery(target3).is_some_and(|r| r.closed() && r.closed_by_admin == Some(true))
        });
    }

    // A holder that missed it (down) makes the CLI fail naming it, and say how to send the same
    // order again; the holders that took it order it.
    let mut site = site;
    let b = format!("http://{}", site.holders[1].http());
    site.holders[1].kill();
    let target2 = "testfs-OST000a";
    let (exit, out, _) =
        site.cluster.run(&["recover", "--mgs", &urls, "--target", target2, "--force", "--instance", "7"]);
    assert!(!exit.success(), "a holder missed it: {out}");
    assert!(out.contains(&format!("{b}: not issued")), "{out}");
    assert!(out.contains("--instance 7"), "the CLI says how to send the same order again: {out}");
    for c in &site.clients {
        site.cluster
            .wait_hook(c.name(), "the order via mgs-a ran", WAIT, |_| site.runs(c.name(), target2, 7) > 0);
    }
}
