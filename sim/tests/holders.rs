//! Several status holders (MGS instances that every top router lists as parents), each issuing
//! its own orders: a holder's orders never block or undo another's, whatever their ids.

use vigil_proto::mgs::{ClosedBy, Phase, Recovery};
use vigil_proto::wire::{Action, NodeState, TargetState};
use vigil_proto::{ids, Event, Instant, NodeId, OrderId, Timing};
use vigil_sim::{HostMgs, Machine, Net, Spec};

const TARGET: &str = "fs-OST0000";

/// Two holders, routers under both, clients and the target's server under the routers.
struct Cluster {
    net: Net,
    holders: [usize; 2],
    clients: Vec<usize>,
    server: usize,
}

/// Two holders, one router under both, four clients and the target's server under the router.
fn cluster(seed: u64) -> Cluster {
    let mut net = Net::new(seed);
    let holders = [net.add("mgs-a", Spec::Mgs), net.add("mgs-b", Spec::Mgs)];
    let router = net.add("r0", Spec::Router { parents: holders.to_vec(), slots: 0 });
    let clients = (0..4).map(|k| net.add(&format!("c{k}"), Spec::Client { parents: vec![router] })).collect();
    let server = net.add("oss0", Spec::Server { parents: vec![router], target: TARGET.into() });
    settled(Cluster { net, holders, clients, server }, 100)
}

/// The cluster once both holders see every other node alive, looked at every `step_ms`.
fn settled(mut c: Cluster, step_ms: u64) -> Cluster {
    let names: Vec<String> =
        c.net.nodes().iter().map(|n| n.name.clone()).filter(|n| !n.starts_with("mgs")).collect();
    let holders = c.holders;
    let settled = c.net.run_until_true(step_ms, 30_000, |net| {
        holders.iter().all(|&h| {
            let m = holder(net, h);
            names.iter().all(|n| {
                m.node(NodeId::from_name(n), Instant(net.now())).map(|v| v.state) == Some(NodeState::Alive)
            })
        })
    });
    assert!(settled.is_some(), "the cluster never settled at both holders");
    c
}

fn holder(net: &Net, i: usize) -> &HostMgs {
    match &net.node(i).machine {
        Machine::Mgs(m) => m,
        _ => panic!("node {i} is not a holder"),
    }
}

/// The reconnect hook runs of `client` for `TARGET`'s instance `instance`.
fn hook_runs(net: &mut Net, client: usize, instance: u32) -> usize {
    let events = net.take_events(client);
    events
        .iter()
        .filter(|(_, e)| {
            matches!(e, Event::Order(o) if matches!(&o.action,
                Action::BeginRecovery { target, target_generation, .. }
                    if target.as_str() == TARGET && target_generation.0 == instance))
        })
        .count()
}

/// Holder A ordered and closed a recovery of the target that holder B never ordered (an admin's
/// manual recover sent to A alone), so A's order sequence is ahead of B's, then A stopped for
/// good. The target restarts: B alone sees it and orders it, and the routers must relay B's order
/// although they still hold A's `CloseWindow` for the same target with a greater or equal id
/// (both holders started with generation 1, so the ids even collide).
#[test]
fn a_stopped_holders_last_order_does_not_block_the_other_holders_next_one() {
    let mut c = cluster(7);
    let [a, b] = c.holders;
    let target = ids::name(TARGET).expect("short name");
    let manual = c.net.admin_at(a, |m, now| m.recover(now, target.clone(), Default::default()));
    assert!(matches!(manual, Some(Ok(_))), "holder A takes the manual recover: {manual:?}");
    let closed = c.net.run_until_true(50, 20_000, |net| {
        holder(net, a).recoveries().iter().any(|r| r.target == target && r.closed().is_some())
    });
    assert!(closed.is_some(), "holder A closes its manual recovery once every client reconnected");
    c.net.stop(a);
    for &k in &c.clients {
        c.net.take_events(k);
    }
    c.net.take_events(c.server);

    c.net.restart(c.server);
    let instance = c.net.node(c.server).generation;
    // B orders and closes within a few update intervals; the target's own window is 300 s.
    let b_closed = c.net.run_until_true(50, 30_000, |net| {
        holder(net, b)
            .recoveries()
            .iter()
            .any(|r| r.target == target && r.target_generation.0 == instance && r.closed().is_some())
    });
    let ran: Vec<usize> = c.clients.clone().into_iter().map(|k| hook_runs(&mut c.net, k, instance)).collect();
    assert_eq!(
        ran,
        vec![1; c.clients.len()],
        "every client reconnects once to instance {instance} on B's order"
    );
    assert!(b_closed.is_some(), "holder B closes instance {instance}'s window by order");
    let closed_at_server = c.net.take_events(c.server).iter().any(|(_, e)| {
        matches!(e, Event::Order(o) if matches!(&o.action,
            Action::CloseWindow { target_generation, .. } if target_generation.0 == instance))
    });
    assert!(closed_at_server, "the server is handed B's CloseWindow for instance {instance}");
}

/// The swarm draws a second holder from a stream of its own: a seed drawn with one holder draws
/// exactly what it drew before two-holder seeds existed (seeds pinned by regression tests keep
/// their clusters), and a seed drawn with two draws the same cluster and faults plus the holder.
#[test]
fn the_swarms_second_holder_leaves_every_other_draw_as_it_was() {
    use vigil_sim::swarm::draw::{draw, Act};
    use vigil_sim::swarm::Config;
    let one = Config::default();
    let two = Config { two_holders: 0.5, ..Config::default() };
    let mut drawn = [0, 0];
    for seed in 1..=60 {
        let (_, before) = draw(seed, &one);
        let (_, after) = draw(seed, &two);
        assert_eq!(before.holders.len(), 1);
        drawn[after.holders.len() - 1] += 1;
        if after.holders.len() == 1 {
            assert_eq!((&after.summary, &after.schedule), (&before.summary, &before.schedule), "seed {seed}");
            continue;
        }
        // The second holder comes right after the first: every other node moved up by one.
        let b = after.holders[1];
        let shift = |i: usize| if i >= b { i + 1 } else { i };
        let moved = |v: &[usize]| v.iter().map(|&i| shift(i)).collect::<Vec<_>>();
        assert_eq!((&after.clients, &after.servers), (&moved(&before.clients), &moved(&before.servers)));
        for (t, act) in &before.schedule {
            let act = match act.clone() {
                Act::Stop(i) => Act::Stop(shift(i)),
                Act::Start(i) => Act::Start(shift(i)),
                Act::StartLost(i) => Act::StartLost(shift(i)),
                Act::Cut(x, y) => Act::Cut(shift(x), shift(y)),
                Act::Heal(x, y) => Act::Heal(shift(x), shift(y)),
                Act::CrashAfterOrder(i, back) => Act::CrashAfterOrder(shift(i), back),
                other => other,
            };
            assert!(
                after.schedule.contains(&(*t, act.clone())),
                "seed {seed}: {act:?} at {t} ms not drawn with two"
            );
        }
    }
    assert!(drawn[0] > 0 && drawn[1] > 0, "both kinds drawn: {drawn:?}");
}

/// A recovery is one per (target, instance) whichever holder orders it: once one holder's
/// `CloseWindow` of the instance reaches a router, the router holds no holder's `BeginRecovery`
/// of that instance any more. Before, a holder stopped mid-recovery left its `BeginRecovery`
/// held in every router for good (swarm seeds 22, 41, 89 with two holders), handed to every
/// client that joined or rebooted later.
#[test]
fn a_close_of_the_instance_by_one_holder_releases_every_holders_begin_recovery() {
    let mut c = cluster(11);
    let [a, b] = c.holders;
    c.net.restart(c.server);
    let instance = c.net.node(c.server).generation;
    let begins = |net: &Net, h: usize| {
        let id = NodeId::from_name(&net.node(h).name);
        let router = match &net.node(2).machine {
            Machine::Router(r) => r,
            _ => panic!("node 2 is the router"),
        };
        router
            .held_orders()
            .filter(|o| o.id.mgs == id)
            .filter(|o| matches!(&o.action, Action::BeginRecovery { target_generation, .. } if target_generation.0 == instance))
            .count()
    };
    let both = c.net.run_until_true(10, 30_000, |net| begins(net, a) == 1 && begins(net, b) == 1);
    assert!(both.is_some(), "the router holds both holders' BeginRecovery of instance {instance}");
    c.net.stop(b);
    let closed = c.net.run_until_true(50, 30_000, |net| {
        holder(net, a).recoveries().iter().any(|r| r.target_generation.0 == instance && r.closed().is_some())
    });
    assert!(closed.is_some(), "holder A closes instance {instance}'s window by order");
    c.net.run_until(c.net.now() + 2_000);
    assert_eq!(
        begins(&c.net, b),
        0,
        "the stopped holder B's BeginRecovery of instance {instance} is released"
    );
}

/// Swarm seed 413 with two holders: holder B's `BeginRecovery` of an instance reached a router
/// after holder A's `CloseWindow` of that instance, and B stopped: the router held B's order
/// for good. An order of an instance another holder closed is stale, and not held.
#[test]
fn seed_413_two_holders_a_begin_recovery_after_another_holders_close_is_not_held() {
    holds_with_two_holders(413);
}

/// Found by `swarm --seeds 1..5000` at f988396: holder mgs-b missed a restart of fs-OST0003
/// (instance 2) and an admin's recover sent to it named instance 1, which client c9 had recovered
/// from 14 s and more than 16 orders before (its reports of it were gone): c9 ran its hook for
/// instance 1 a second time. A client remembers its newest recovery of each target.
#[test]
fn seed_1374_two_holders_a_stale_holders_order_of_an_older_instance_is_not_carried_out() {
    holds_with_two_holders(1374);
}

/// Runs swarm seed `seed` as CI runs it, with [`TWO_HOLDERS_IN_CI`] of the seeds drawn with two
/// holders (this one among them), and asserts every invariant held.
fn holds_with_two_holders(seed: u64) {
    use vigil_sim::swarm::{run_seed, Config, TWO_HOLDERS_IN_CI};
    let report = run_seed(seed, &Config { two_holders: TWO_HOLDERS_IN_CI, ..Config::ci() });
    assert!(report.drew.contains("2 holder(s)"), "{}", report.drew);
    let broken: Vec<String> = report.violations.iter().map(|v| v.to_string()).collect();
    assert!(broken.is_empty(), "seed {seed} ({}):\n{}", report.drew, broken.join("\n"));
}

/// With two holders, a top router once missed clients that a router below it knew (view, found at
/// 064a3d1). It holds on main at b6b052a (not re-diagnosed: first contacts changed since, in
/// 6b77b25 and f32e37c); kept as found.
#[test]
fn seed_173_two_holders_view() {
    holds_with_two_holders(173);
}

/// Holder A stopped for good holding its `BeginRecovery` of an instance in the routers, and
/// holder B, cut off from the target's server for good, never saw the instance to close it: no
/// `CloseWindow` ever superseded A's order. It lapses where it is held once the target's own
/// window (which the order carries) must have run out.
#[test]
fn seed_273_two_holders_a_stopped_holders_order_lapses_with_the_targets_window() {
    holds_with_two_holders(273);
}

/// Holder A stopped for good holding A's `BeginRecovery` of instance 2 in a router; the target
/// restarted again and holder B closed instance 3: an older instance's recovery is over too.
#[test]
fn seed_262_two_holders_a_close_ends_older_instances_of_a_stopped_holder() {
    holds_with_two_holders(262);
}

/// The e2e suite's timing for two holders: pings every 400 ms, updates every 200 ms (a holder's
/// startup hold is 400 ms), dead after 4 s.
fn e2e_timing() -> Timing {
    Timing {
        ping_interval_ms: 400,
        update_interval_ms: 200,
        suspect_after: 4,
        dead_after: 10,
        ..Timing::default()
    }
}

/// The e2e rolling-restart site (tests/tests/holders.rs) at its timing: two holders, two routers
/// under both, four clients under each router, the target's server under the second.
fn site(seed: u64) -> Cluster {
    let mut net = Net::new(seed);
    net.timing = e2e_timing();
    let holders = [net.add("mgs-a", Spec::Mgs), net.add("mgs-b", Spec::Mgs)];
    let routers = ["r1", "r2"].map(|r| net.add(r, Spec::Router { parents: holders.to_vec(), slots: 0 }));
    let clients = (0..8)
        .map(|k| net.add(&format!("c{k:02}"), Spec::Client { parents: vec![routers[k / 4]] }))
        .collect();
    let server = net.add("s1", Spec::Server { parents: vec![routers[1]], target: TARGET.into() });
    settled(Cluster { net, holders, clients, server }, 20)
}

/// Whether `client` was handed a `BeginRecovery` of `TARGET`'s instance `instance`: its
/// reconnect hook runs, or ran.
fn hook_started(net: &Net, client: usize, instance: u32) -> bool {
    net.node(client).events.iter().any(|(_, e)| begins(e, instance).is_some())
}

/// When `client`'s reconnect hook for `TARGET`'s instance `instance` first finished, if it did.
fn reconnected_at(net: &Net, client: usize, instance: u32) -> Option<u64> {
    let node = net.node(client);
    let orders = node.events.iter().filter_map(|(_, e)| begins(e, instance));
    orders.filter_map(|id| node.orders.get(&id).and_then(|l| l.done_at)).min()
}

/// The order `event` hands its driver, if it is a `BeginRecovery` of `TARGET`'s `instance`.
fn begins(event: &Event, instance: u32) -> Option<OrderId> {
    let Event::Order(o) = event else { return None };
    match &o.action {
        Action::BeginRecovery { target, target_generation, .. }
            if target.as_str() == TARGET && target_generation.0 == instance =>
        {
            Some(o.id)
        }
        _ => None,
    }
}

/// Holder `h`'s recovery of `TARGET`'s `instance`.
fn recovery_of(net: &Net, h: usize, instance: u32) -> Option<Recovery> {
    let mut recoveries = holder(net, h).recoveries().iter();
    recoveries.find(|r| r.target.as_str() == TARGET && r.target_generation.0 == instance).cloned()
}

/// Whether holder `h` is done with `TARGET`'s `instance`: its recovery ended, or it has none and
/// sees the target up in it (it came back after another holder's close was carried out).
fn over(net: &Net, h: usize, instance: u32) -> bool {
    match recovery_of(net, h, instance) {
        Some(r) => r.ended_at().is_some(),
        None => holder(net, h).targets().any(|t| {
            let s = &t.status;
            s.target.as_str() == TARGET && s.generation.0 == instance && s.state == TargetState::Up
        }),
    }
}

/// One run of [`both_holders_restart_mid_recovery`].
#[derive(Clone, Copy, Debug)]
struct Turns {
    seed: u64,
    /// The four clients under r1 reconnect 1.5 to 3 s after the others (their order reached
    /// them 300 ms later, and their hooks are slower); else all eight take 0.2 to 0.4 s.
    slow_half: bool,
    /// From when every client was handed its order to holder A's restart.
    restart_after_ms: u64,
    /// From A's restart to holder B's.
    gap_ms: u64,
    /// How long after B's restart r1 and B start to hear each other (cut from A's restart on):
    /// until then B's view and sums have r2's half only (0: never cut).
    cut_ms: u64,
}

/// How a holder's recovery of the instance ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum End {
    /// Closed by its order, every client counted.
    ByOrder,
    /// Ended by the target (another holder's close carried out), its progress frozen at
    /// `live` clients.
    ByTarget { live: u32 },
    /// Back only after another holder's close was carried out: no recovery of the instance.
    Unseen,
}

/// The target restarts and its clients reconnect (see [`Turns::slow_half`]); mid-recovery
/// holder A restarts, then holder B (see [`Turns`]): each orders the instance anew, and a
/// client that finished its hook reports the new order done at once. Asserts that no holder
/// closes the window by order before every client reconnected, nor counting fewer than the
/// eight clients, live and attached, as reconnected. Returns how each holder ended the
/// recovery; `None` if a window closed before both holders restarted.
fn both_holders_restart_mid_recovery(turns: Turns) -> Option<[End; 2]> {
    let Cluster { mut net, holders, clients, server } = site(turns.seed);
    let [a, b] = holders;
    let r1 = net.index("r1").expect("r1");
    let settled = net.run_until_true(20, 30_000, |net| {
        holders.iter().all(|&h| holder(net, h).recoveries().iter().all(|r| r.ended_at().is_some()))
    });
    assert!(settled.is_some(), "the first instance's recovery never ended");
    let slow = if turns.slow_half { &clients[..4] } else { &[] };
    net.conditions.hook_ms = 200;
    for &c in slow {
        net.cut(c, r1);
    }
    net.restart(server);
    let instance = net.node(server).generation;
    let fast: Vec<usize> = clients.iter().copied().filter(|c| !slow.contains(c)).collect();
    let handed = net.run_until_true(5, 10_000, |net| fast.iter().all(|&c| hook_started(net, c, instance)));
    assert!(handed.is_some(), "the clients are handed the order of instance {instance}");
    if turns.slow_half {
        net.conditions.hook_ms = 1_500;
        net.run_for(300);
        for &c in slow {
            net.heal(c, r1);
        }
        let handed =
            net.run_until_true(5, 10_000, |net| slow.iter().all(|&c| hook_started(net, c, instance)));
        assert!(handed.is_some(), "r1's clients are handed the order of instance {instance}");
    }
    net.run_for(turns.restart_after_ms);
    if turns.cut_ms > 0 {
        // Before B restarts: nothing r1 sent its old instance reaches the new one.
        net.cut(r1, b);
    }
    for (wait, h) in [(0, a), (turns.gap_ms, b)] {
        net.run_for(wait);
        if recovery_of(&net, h, instance).is_none_or(|r| r.ended_at().is_some()) {
            return None;
        }
        net.restart(h);
    }
    net.run_for(turns.cut_ms);
    net.heal(r1, b);
    let ended = net.run_until_true(5, 30_000, |net| holders.iter().all(|&h| over(net, h, instance)));
    assert!(ended.is_some(), "{turns:?}: both holders end the recovery of instance {instance}");
    Some(holders.map(|h| {
        let Some(r) = recovery_of(&net, h, instance) else { return End::Unseen };
        let Phase::Closed { at, by: ClosedBy::Order, .. } = r.phase else {
            return End::ByTarget { live: r.progress.live };
        };
        let (at, name) = ({ at.0 }, &net.node(h).name);
        let early: Vec<&str> = (clients.iter())
            .filter(|&&c| reconnected_at(&net, c, instance).is_none_or(|t| t > at))
            .map(|&c| net.node(c).name.as_str())
            .collect();
        assert!(early.is_empty(), "{turns:?}: {name} closed at {at} ms before {early:?} reconnected");
        let p = r.progress;
        assert!(
            p.live >= 8 && p.reconnected >= 8,
            "{turns:?}: {name} closed at {at} ms counting {} live, {} reconnected, of 8",
            p.live,
            p.reconnected
        );
        End::ByOrder
    }))
}

/// Both holders restart within a few update intervals of each other while the recovery is
/// open, as in the e2e rolling-restart test under load (there 0.2 s apart): with every client
/// quick, or half of them still reconnecting, and then also with the slow half's router cut off
/// from the second holder to restart until past its startup hold. No holder closes the window
/// by order on sums that miss a router's clients: a restarted holder waits for every router it
/// expects (its state file's) to report holding its new order, and counts at least the clients
/// its view shows live.
#[test]
fn holders_restarting_together_mid_recovery_never_close_on_half_the_clients() {
    let mut runs = Vec::new();
    for seed in 1..=2 {
        for restart_after_ms in [0, 100] {
            for gap_ms in [0, 50, 150] {
                runs.push(Turns { seed, slow_half: false, restart_after_ms, gap_ms, cut_ms: 0 });
            }
        }
        for restart_after_ms in [0, 300] {
            for gap_ms in [0, 50, 150, 300] {
                for cut_ms in [0, 1_000] {
                    runs.push(Turns { seed, slow_half: true, restart_after_ms, gap_ms, cut_ms });
                }
            }
        }
    }
    for turns in runs {
        let ends = both_holders_restart_mid_recovery(turns);
        let ends = ends.unwrap_or_else(|| panic!("{turns:?}: a window closed before both holders restarted"));
        assert!(ends.contains(&End::ByOrder), "{turns:?}: no holder closed by order: {ends:?}");
    }
}

/// The e2e rolling-restart run that showed a restarted holder's window closed with 4 of 8
/// clients counted (scripts/check.sh at 27d362b): it was not closed on half the clients. Holder
/// B, restarted 50 ms after A, counted all eight reconnected but was still in its startup hold
/// when A closed the window; A's `CloseWindow` of the instance made both routers let go of B's
/// `BeginRecovery`, and the update of r2 that said so and that the target was up (A's close
/// carried out) reached B before r1's: B summed r1's half alone, and ended the recovery by the
/// target with that sum frozen. A sum that misses a router holding no order of B's closes
/// nothing: B waits for that router until the target ends the window.
#[test]
fn a_holder_whose_window_the_other_closed_shows_the_routers_still_holding_its_order() {
    let turns = Turns { seed: 1, slow_half: false, restart_after_ms: 0, gap_ms: 50, cut_ms: 0 };
    let ends = both_holders_restart_mid_recovery(turns).expect("both holders restart mid-recovery");
    assert_eq!(ends, [End::ByOrder, End::ByTarget { live: 4 }]);
}
