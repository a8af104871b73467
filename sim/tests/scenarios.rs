//! The proto machines in a deterministic lossy network: MGS, two levels of routers, 240 clients
//! (some multipath) and two targets. Every scenario asserts on what the MGS shows or on what the
//! clients' drivers were handed.

use vigil_proto::wire::{NodeState, TargetState};
use vigil_proto::{Instant, Recovery, Timing};
use vigil_sim::{two_level, Cluster, Net};

const CLIENTS: usize = 232;
const MULTIPATH: usize = 8;

/// `VIGIL_SIM_SEED` shifts every scenario's seed, to explore other runs than CI's.
fn cluster(seed: u64) -> (Net, Cluster) {
    let shift: u64 = std::env::var("VIGIL_SIM_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut net = Net::new(seed.wrapping_add(shift.wrapping_mul(1_000)));
    let c = two_level(&mut net, 2, 2, CLIENTS, MULTIPATH, 2);
    (net, c)
}

fn states(net: &Net) -> std::collections::HashMap<String, NodeState> {
    net.mgs().nodes(Instant(net.now())).map(|v| (v.name.to_string(), v.state)).collect()
}

fn all_alive(net: &Net, c: &Cluster) -> bool {
    let s = states(net);
    net.nodes()
        .iter()
        .enumerate()
        .filter(|(i, n)| *i != c.mgs && n.up)
        .all(|(_, n)| s.get(&n.name) == Some(&NodeState::Alive))
}

/// Brings the cluster up and waits until the MGS shows every node alive.
fn settled(seed: u64) -> (Net, Cluster) {
    let (mut net, c) = cluster(seed);
    let t = net.run_until_true(100, 30_000, |net| all_alive(net, &c));
    assert!(t.is_some(), "cluster never settled: {:?}", states(&net));
    (net, c)
}

#[test]
fn steady_state_every_node_alive_and_stays_alive() {
    let (mut net, c) = settled(1);
    for _ in 0..60 {
        net.run_for(1_000);
        assert!(all_alive(&net, &c), "at {} ms: {:?}", net.now(), states(&net));
    }
    assert_eq!(states(&net).len(), net.nodes().len() - 1, "the MGS knows every node once");
}

#[test]
fn stopped_client_is_dead_at_the_mgs_within_the_thresholds() {
    let (mut net, c) = settled(2);
    let victim = c.clients[17];
    let name = net.node(victim).name.clone();
    let stopped_at = net.now();
    net.stop(victim);
    let timing = Timing::default();
    let dead_at = net
        .run_until_true(10, 60_000, |net| net.state_at_mgs(&name) == Some(NodeState::Dead))
        .expect("the stopped client is declared dead");
    let took = dead_at - stopped_at;
    // The router convicts after dead_after intervals of silence (counted from the last ping,
    // which may be up to one interval before the stop), checks every interval/4, and batches
    // the verdict upstream: two hops.
    let interval = u64::from(timing.ping_interval_ms);
    let earliest = timing.dead_ms(timing.ping_interval_ms) - interval;
    let latest = timing.dead_ms(timing.ping_interval_ms) + interval + 2 * u64::from(timing.batch_ms) + 100;
    assert!((earliest..=latest).contains(&took), "dead after {took} ms, expected {earliest}..={latest}");
    // Nobody else was convicted.
    let s = states(&net);
    assert_eq!(s.values().filter(|&&st| st == NodeState::Dead).count(), 1, "{s:?}");
}

#[test]
fn stopped_router_leaves_its_subtree_unreachable_not_dead() {
    let (mut net, c) = settled(3);
    let router = c.l2[0];
    net.stop(router);
    let children: Vec<String> = c
        .clients
        .iter()
        .filter(|&&i| matches!(&net.node(i).spec, vigil_sim::Spec::Client { parents } if parents == &vec![router]))
        .map(|&i| net.node(i).name.clone())
        .collect();
    assert!(children.len() > 20);
    let router_name = net.node(router).name.clone();
    net.run_until_true(100, 60_000, |net| net.state_at_mgs(&router_name) == Some(NodeState::Dead))
        .expect("the silent router is declared dead by its parent");
    net.run_for(30_000);
    let s = states(&net);
    for child in &children {
        assert_eq!(s.get(child), Some(&NodeState::Unreachable), "{child}");
    }
    // Everything else is still alive.
    let others = s.iter().filter(|(n, _)| !children.contains(n) && **n != router_name);
    for (n, st) in others {
        assert_eq!(*st, NodeState::Alive, "{n}");
    }
    // The router comes back: its subtree is alive again.
    net.restart(router);
    net.run_until_true(100, 30_000, |net| all_alive(net, &c))
        .expect("subtree alive after the router restarts");
}

#[test]
fn multipath_client_stays_alive_when_one_parent_dies() {
    let (mut net, c) = settled(4);
    let m = c.multipath[0];
    let vigil_sim::Spec::Client { parents } = net.node(m).spec.clone() else { unreachable!() };
    let name = net.node(m).name.clone();
    net.stop(parents[0]);
    let parent_name = net.node(parents[0]).name.clone();
    net.run_until_true(100, 60_000, |net| net.state_at_mgs(&parent_name) == Some(NodeState::Dead))
        .expect("the stopped parent is declared dead");
    for _ in 0..30 {
        net.run_for(1_000);
        assert_eq!(net.state_at_mgs(&name), Some(NodeState::Alive), "at {}", net.now());
    }
    let parents_at_mgs =
        net.mgs().node(vigil_proto::NodeId::from_name(&name), Instant(net.now())).unwrap().parents;
    assert_eq!(parents_at_mgs.len(), 2, "both paths are known");
}

/// Restarts target 0 with 5% of clients dead; checks the whole imperative recovery.
fn recovery_with_dead_clients(seed: u64, loss: f64) {
    let (mut net, c) = settled(seed);
    net.conditions.loss = loss;
    let clients: Vec<usize> = c.all_clients().collect();
    let dead: Vec<usize> = clients.iter().copied().step_by(20).collect();
    assert!(dead.len() * 100 >= clients.len() * 5);
    for &d in &dead {
        net.stop(d);
    }
    let dead_names: Vec<String> = dead.iter().map(|&d| net.node(d).name.clone()).collect();
    net.run_until_true(100, 60_000, |net| {
        dead_names.iter().all(|n| net.state_at_mgs(n) == Some(NodeState::Dead))
    })
    .expect("the stopped clients are declared dead");

    let server = c.servers[0];
    let restarted_at = net.now();
    net.restart(server);
    let live: Vec<usize> = clients.iter().copied().filter(|i| !dead.contains(i)).collect();
    let this_restart = |r: &&Recovery| {
        r.target.as_str() == "testfs-OST0000" && r.target_generation.0 == 2 && r.closed().is_some()
    };
    let closed = net
        .run_until_true(10, 120_000, |net| net.mgs().recoveries().iter().any(|r| this_restart(&r)))
        .expect("the window closes");
    let recovery = net.mgs().recoveries().iter().find(this_restart).unwrap().clone();
    let order = recovery.order().unwrap();

    // Every live client was handed the order exactly once, and reconnected before the close.
    let mut last_done = 0;
    for &i in &live {
        let n = net.node(i);
        let begin: Vec<_> = n.orders.iter().filter(|(id, _)| **id == order).collect();
        assert_eq!(begin.len(), 1, "{} got the order", n.name);
        assert_eq!(begin[0].1.events, 1, "{} got it once", n.name);
        let done = begin[0].1.done_at.unwrap_or_else(|| {
            panic!("{} hook unfinished at close {:?}: {:?}", n.name, recovery, begin[0].1)
        });
        last_done = last_done.max(done);
    }
    for &d in &dead {
        assert!(!net.node(d).orders.contains_key(&order), "a dead client gets nothing");
    }
    assert_eq!(recovery.progress.live as usize, live.len(), "{:?}", recovery.progress);
    assert_eq!(recovery.progress.reconnected as usize, live.len());
    // The window closed soon after the last reconnect: a ping, a batch per router level, a check.
    let close_at = recovery.closed().unwrap().1 .0;
    assert!(close_at >= last_done);
    let lag = close_at - last_done;
    let bound = if loss > 0.0 { 4_000 } else { 500 };
    assert!(lag <= bound, "window closed {lag} ms after the last reconnect");
    // Without loss: a few hops and a hook. With loss, a lost push waits for the next ping's
    // reply and a lost report for the next ping: a few intervals at worst, far below the
    // 150-300 s a Lustre target waits for dead clients.
    let limit = if loss > 0.0 { 30_000 } else { 2_000 };
    assert!(closed - restarted_at < limit, "recovery took {} ms", closed - restarted_at);

    // The server gets CloseWindow and reports its target up.
    let server_name = net.node(server).name.clone();
    net.run_until_true(10, 20_000, |net| {
        net.mgs().recoveries().iter().any(|r| r.order() == Some(order) && r.target_up().is_some())
    })
    .unwrap_or_else(|| panic!("{server_name} closes its window"));
    let close_id = recovery.closed().unwrap().0;
    let close = net.node(server).orders.get(&close_id).cloned().unwrap_or_default();
    assert_eq!(close.events, 1, "the server was handed CloseWindow once");
    // Repeats keep coming in replies until reported; none is handed out twice.
    net.run_for(20_000);
    for &i in &live {
        assert!(net.node(i).orders.values().all(|l| l.events == 1));
    }
    // Clients are handed BeginRecovery orders only: one per target start (two at boot, this one).
    assert_eq!(net.node(c.clients[1]).orders.len(), 3);
}

#[test]
fn target_restart_orders_every_live_client_once_and_closes_the_window_early() {
    recovery_with_dead_clients(5, 0.0);
}

#[test]
fn target_restart_recovers_under_ten_percent_loss() {
    recovery_with_dead_clients(6, 0.10);
}

#[test]
fn restarted_mgs_has_the_whole_view_within_one_update_interval() {
    let (mut net, c) = settled(7);
    let restarted_at = net.now();
    net.restart(c.mgs);
    let whole = net.run_until_true(10, 30_000, |net| all_alive(net, &c)).unwrap_or_else(|| {
        let s = states(&net);
        let bad: Vec<_> = s.iter().filter(|(_, st)| **st != NodeState::Alive).collect();
        let missing: Vec<_> =
            net.nodes().iter().filter(|n| !s.contains_key(&n.name)).map(|n| &n.name).collect();
        panic!("the view is not whole again: missing {missing:?}, not alive: {bad:?}")
    });
    let took = whole - restarted_at;
    let interval = u64::from(Timing::default().update_interval_ms);
    assert!(took <= interval + 100, "view whole after {took} ms");
}

#[test]
fn ten_percent_loss_causes_no_false_deaths() {
    let (mut net, c) = settled(8);
    net.conditions.loss = 0.10;
    for _ in 0..600 {
        net.run_for(1_000);
        let s = states(&net);
        let bad: Vec<_> =
            s.iter().filter(|(_, st)| **st != NodeState::Alive && **st != NodeState::Suspect).collect();
        assert!(bad.is_empty(), "at {} ms: {bad:?}", net.now());
    }
    assert!(all_alive(&net, &c) || states(&net).values().all(|s| s.is_live()));
}

#[test]
fn partitioned_router_subtree_is_unreachable_and_gets_the_order_after_healing() {
    let (mut net, c) = settled(9);
    let (upper, lower) = (c.l1[0], c.l2[0]);
    net.cut(upper, lower);
    let lower_name = net.node(lower).name.clone();
    net.run_until_true(100, 60_000, |net| net.state_at_mgs(&lower_name) == Some(NodeState::Dead))
        .expect("the cut-off router is declared dead by its parent");
    let below: Vec<usize> = c
        .clients
        .iter()
        .copied()
        .filter(
            |&i| matches!(&net.node(i).spec, vigil_sim::Spec::Client { parents } if parents == &vec![lower]),
        )
        .collect();
    for &i in &below {
        assert_eq!(net.state_at_mgs(&net.node(i).name), Some(NodeState::Unreachable));
    }
    // A target restarts during the partition: the order cannot reach the subtree, and the
    // window stays open for it (its clients are alive, only unreachable).
    net.restart(c.servers[1]);
    net.run_for(20_000);
    let recovery = |net: &Net| {
        net.mgs()
            .recoveries()
            .iter()
            .find(|r| r.target.as_str() == "testfs-OST0001" && r.target_generation.0 == 2)
            .cloned()
    };
    let r = recovery(&net).expect("the recovery started");
    assert!(r.closed().is_none(), "the window waits for the unreachable subtree: {r:?}");
    for &i in &below {
        assert!(!net.node(i).orders.contains_key(&r.order().unwrap()));
    }
    // Healed: the subtree is alive, gets the order once, and the window closes.
    net.heal(upper, lower);
    net.run_until_true(100, 30_000, |net| recovery(net).is_some_and(|r| r.closed().is_some()))
        .expect("the window closes after healing");
    for &i in &below {
        assert_eq!(
            net.node(i).orders.get(&r.order().unwrap()).map(|l| l.events),
            Some(1),
            "{}",
            net.node(i).name
        );
    }
    assert!(all_alive(&net, &c));
}

#[test]
fn a_target_whose_server_died_is_shown_down() {
    let (mut net, c) = settled(11);
    let state = |net: &Net| {
        let mgs = net.mgs();
        let t = mgs.targets().find(|t| t.status.target.as_str() == "testfs-OST0000").cloned().unwrap();
        mgs.target_state(&t, Instant(net.now()))
    };
    net.run_until_true(100, 30_000, |net| state(net) == TargetState::Up).expect("the boot recovery ends");
    net.stop(c.servers[0]);
    net.run_until_true(100, 60_000, |net| state(net) == TargetState::Down).expect("the target is shown down");
}

#[test]
fn a_window_the_target_ended_itself_orders_no_one_who_comes_later() {
    use vigil_sim::Spec;
    let mut net = Net::new(11);
    (net.router_slots, net.mgs_slots) = (64, 64);
    let mgs = net.add("mgs", Spec::Mgs);
    let r0 = net.add("r0", Spec::Router { parents: vec![mgs], slots: 0 });
    let r1 = net.add("r1", Spec::Router { parents: vec![mgs], slots: 0 });
    let c0 = net.add("c0", Spec::Client { parents: vec![r0] });
    net.add("c1", Spec::Client { parents: vec![r1] });
    let target = "testfs-OST0000".to_string();
    let oss = net.add("oss0", Spec::Server { parents: vec![r0], target });
    net.run_for(20_000);
    // r1 goes: the window of the next restart waits for its subtree until the target's own
    // time-out ends it.
    net.stop(r1);
    net.run_until_true(100, 60_000, |net| net.state_at_mgs("r1") == Some(NodeState::Dead))
        .expect("r1 is declared dead");
    net.restart(oss);
    // The server's restart is its second instance (each boot starts one).
    let ended = |net: &Net| {
        (net.mgs().recoveries().first())
            .is_some_and(|r| r.target_generation.0 == 2 && r.target_up().is_some())
    };
    net.run_until_true(1_000, 400_000, ended).expect("the target's own window ends the recovery");
    let recovery = net.mgs().recoveries()[0].clone();
    assert!(recovery.closed().is_none(), "ended by the target, not by order: {recovery:?}");
    assert_eq!(net.node(c0).orders.get(&recovery.order().unwrap()).map(|l| l.events), Some(1));
    // c0 reboots and c2 joins: neither is ordered to reconnect for the restart that ended.
    net.restart(c0);
    let c2 = net.add("c2", Spec::Client { parents: vec![r0] });
    net.run_for(10_000);
    assert_eq!(net.node(c0).orders.get(&recovery.order().unwrap()).map(|l| l.events), Some(1), "c0 once");
    assert!(net.node(c2).orders.is_empty(), "c2: {:?}", net.node(c2).orders);
}

#[test]
fn a_router_that_dies_after_taking_an_order_is_waited_for_not_counted() {
    use vigil_sim::Spec;
    let mut net = Net::new(12);
    (net.router_slots, net.mgs_slots) = (64, 64);
    net.conditions.hook_ms = 5_000;
    let mgs = net.add("mgs", Spec::Mgs);
    let r0 = net.add("r0", Spec::Router { parents: vec![mgs], slots: 0 });
    let r1 = net.add("r1", Spec::Router { parents: vec![mgs], slots: 0 });
    net.add("c0", Spec::Client { parents: vec![r0] });
    net.add("c1", Spec::Client { parents: vec![r1] });
    let target = "testfs-OST0000".to_string();
    let oss = net.add("oss0", Spec::Server { parents: vec![r0], target });
    net.run_for(20_000);
    net.restart(oss);
    let r1_id = vigil_proto::NodeId::from_name("r1");
    // r1 dies right after telling the MGS it holds the order (its client still reconnecting).
    let reported = |net: &Net| {
        let Some(order) =
            net.mgs().recoveries().first().filter(|r| r.target_generation.0 == 2).and_then(|r| r.order())
        else {
            return false;
        };
        net.mgs().child_routers().any(|(id, r)| *id == r1_id && r.progress.iter().any(|p| p.order == order))
    };
    net.run_until_true(1, 5_000, reported).expect("r1 reports holding the order");
    net.stop(r1);
    net.run_until_true(100, 60_000, |net| net.state_at_mgs("r1") == Some(NodeState::Dead))
        .expect("r1 is declared dead");
    net.run_for(10_000);
    let recovery = net.mgs().recoveries()[0].clone();
    assert_eq!((recovery.progress.live, recovery.progress.reconnected), (1, 1), "c0 only: {recovery:?}");
    assert!(!recovery.window_closed(), "{recovery:?}");
    let waiting: Vec<_> = net.mgs().waiting_for(recovery.order().unwrap()).collect();
    assert_eq!(waiting, [r1_id], "the window waits for r1's subtree");
}

#[test]
fn a_manual_recover_of_a_serving_target_names_its_instance_and_closes_when_clients_report() {
    let (mut net, c) = settled(12);
    let target = vigil_proto::name("testfs-OST0000").unwrap();
    let up = |net: &Net| {
        net.mgs().targets().any(|t| t.status.target == target && t.status.state == TargetState::Up)
    };
    net.run_until_true(10, 20_000, |net| up(net)).expect("the target up after its boot recovery");
    let reported = (net.mgs().targets())
        .find(|t| t.status.target == target && t.status.state == TargetState::Up)
        .map(|t| t.status.clone())
        .expect("the target up after its boot recovery");
    let order = net
        .admin(|m, now| m.recover(now, target.clone(), Default::default()))
        .expect("the MGS runs")
        .expect("the order issued");
    // The order names the instance the target serves as and its addresses, not 0 and none.
    let action = net.mgs().held_orders().find(|o| o.id == order).map(|o| o.action.clone());
    assert_eq!(
        action,
        Some(vigil_proto::wire::Action::BeginRecovery {
            target: target.clone(),
            target_generation: reported.generation,
            addrs: reported.addrs.clone(),
            window_ms: reported.window_ms,
        })
    );
    // Its target being up does not end it (it was up already): it closes once every live client
    // reported, which clients on that instance do at once, without running their hooks again.
    let live = c.all_clients().count();
    net.run_until_true(10, 20_000, |net| {
        net.mgs().recoveries().iter().any(|r| r.order() == Some(order) && r.closed().is_some())
    })
    .expect("the window closes by Vigil's order");
    let r = net.mgs().recoveries().iter().find(|r| r.order() == Some(order)).unwrap().clone();
    assert_eq!((r.progress.live as usize, r.progress.reconnected as usize), (live, live), "{r:?}");
    assert!(
        c.all_clients().all(|i| !net.node(i).orders.contains_key(&order)),
        "a hook ran twice for one instance"
    );
}

#[test]
fn a_dead_clients_silence_keeps_counting_at_the_mgs() {
    let (mut net, c) = settled(13);
    let victim = c.clients[5];
    let name = net.node(victim).name.clone();
    let stopped_at = net.now();
    net.stop(victim);
    net.run_until_true(10, 60_000, |net| net.state_at_mgs(&name) == Some(NodeState::Dead))
        .expect("the stopped client is declared dead");
    let heard = |net: &Net| {
        let v = net.mgs().nodes(Instant(net.now())).find(|v| v.name.as_str() == name).expect("known");
        v.last_heard_ms
    };
    let at_verdict = heard(&net);
    // Two minutes on, the age says two minutes more: the routers' verdict froze the
    // silence it was made with, the MGS counts on from it.
    net.run_for(120_000);
    let silent = net.now() - stopped_at;
    let shown = heard(&net);
    assert!(shown >= at_verdict + 120_000, "dead for {silent} ms, shown {shown} ms (was {at_verdict})");
    assert!(shown <= silent + u64::from(Timing::default().ping_interval_ms), "{shown} > {silent}");
}

/// The MGS and two routers; c0 and the server under r0, c1 under r1. Settled.
fn two_routers(seed: u64) -> (Net, [usize; 5]) {
    use vigil_sim::Spec;
    let mut net = Net::new(seed);
    (net.router_slots, net.mgs_slots) = (64, 64);
    let mgs = net.add("mgs", Spec::Mgs);
    let r0 = net.add("r0", Spec::Router { parents: vec![mgs], slots: 0 });
    let r1 = net.add("r1", Spec::Router { parents: vec![mgs], slots: 0 });
    net.add("c0", Spec::Client { parents: vec![r0] });
    let c1 = net.add("c1", Spec::Client { parents: vec![r1] });
    let target = "testfs-OST0000".to_string();
    let oss = net.add("oss0", Spec::Server { parents: vec![r0], target });
    net.run_for(20_000);
    (net, [mgs, r0, r1, c1, oss])
}

#[test]
fn a_restarted_mgs_waits_for_an_expected_router_it_has_not_heard_from() {
    let (mut net, [mgs, _, r1, c1, oss]) = two_routers(13);
    let r1_id = vigil_proto::NodeId::from_name("r1");
    let expected: Vec<_> = net.mgs().expected_routers().map(|(id, _)| id).collect();
    assert_eq!(expected.len(), 2, "both routers expected: {expected:?}");
    // r1 is cut off from the MGS, which restarts (keeping its expected routers, as its state
    // file does), then the target restarts: c1, alive, cannot be reached.
    net.cut(r1, mgs);
    net.restart(mgs);
    net.restart(oss);
    let ordered = |net: &Net| net.mgs().recoveries().first().is_some_and(|r| r.target_generation.0 == 2);
    net.run_until_true(10, 5_000, ordered).expect("the restart is ordered");
    net.run_for(5_000);
    let recovery = net.mgs().recoveries()[0].clone();
    assert_eq!((recovery.progress.live, recovery.progress.reconnected), (1, 1), "c0 back: {recovery:?}");
    assert!(recovery.closed().is_none(), "no close without r1's subtree: {recovery:?}");
    let waiting: Vec<_> = net.mgs().waiting_for(recovery.order().unwrap()).collect();
    assert_eq!(waiting, [r1_id], "the window waits for r1, expected and not heard");
    // r1 comes back: c1 reconnects and the window closes with both.
    net.heal(r1, mgs);
    let closed = |net: &Net| net.mgs().recoveries()[0].closed().is_some();
    net.run_until_true(10, 10_000, closed).expect("the window closes once r1 reported");
    let recovery = net.mgs().recoveries()[0].clone();
    assert_eq!((recovery.progress.live, recovery.progress.reconnected), (2, 2), "{recovery:?}");
    assert_eq!(net.node(c1).orders.get(&recovery.order().unwrap()).map(|l| l.events), Some(1));
}

#[test]
fn an_expected_router_is_retired_by_an_admin_or_after_the_bound() {
    let (mut net, [mgs, _, r1, _, oss]) = two_routers(14);
    let r1_id = vigil_proto::NodeId::from_name("r1");
    // r1 is removed for good and the MGS restarts: it still expects r1 ...
    net.stop(r1);
    net.restart(mgs);
    net.restart(oss);
    net.run_for(5_000);
    let order = net.mgs().recoveries()[0].order().unwrap();
    assert_eq!(net.mgs().waiting_for(order).collect::<Vec<_>>(), [r1_id]);
    // ... until an admin says r1 is gone: the window closes over what is left.
    assert_eq!(net.admin(|m, _| m.forget_router(r1_id)), Some(true));
    net.run_for(1_000);
    assert!(net.mgs().recoveries()[0].closed().is_some(), "{:?}", net.mgs().recoveries()[0]);
    assert!(net.mgs().expected_routers().all(|(id, _)| id != r1_id));
    assert!(net.node(mgs).expected_routers.iter().all(|n| n.as_str() != "r1"), "persisted");
    // Silence past the bound retires a router the same way (its restart expected it again).
    net.restart(r1);
    net.run_for(5_000);
    assert!(net.mgs().expected_routers().any(|(id, _)| id == r1_id), "r1 expected again");
    net.stop(r1);
    net.run_for(vigil_proto::mgs::ROUTER_RETIRE_MS + 10_000);
    assert!(net.mgs().expected_routers().all(|(id, _)| id != r1_id), "retired after the bound");
    assert!(net.mgs().node(r1_id, Instant(net.now())).is_none(), "and forgotten");
}

#[test]
fn a_restarted_mgs_with_direct_clients_waits_a_dead_threshold_for_them() {
    use vigil_sim::Spec;
    let mut net = Net::new(15);
    let mgs = net.add("mgs", Spec::Mgs);
    let c0 = net.add("c0", Spec::Client { parents: vec![mgs] });
    let c1 = net.add("c1", Spec::Client { parents: vec![mgs] });
    let oss = net.add("oss0", Spec::Server { parents: vec![mgs], target: "testfs-OST0000".into() });
    net.run_for(20_000);
    assert!(net.node(mgs).direct_clients, "that it has direct clients is persisted");
    // The MGS restarts while both clients' links to it are down, then the target restarts:
    // the MGS hears no client, and knows it has some only from its last run.
    net.cut(c0, mgs);
    net.cut(c1, mgs);
    net.restart(mgs);
    net.restart(oss);
    let ordered = |net: &Net| net.mgs().recoveries().first().is_some_and(|r| r.target_generation.0 == 2);
    net.run_until_true(10, 5_000, ordered).expect("the restart is ordered");
    // Both links heal before the clients' silence would be a death: the window waited for them.
    let dead_ms = net.timing.dead_ms(net.timing.ping_interval_ms);
    net.run_for(dead_ms / 2);
    let recovery = net.mgs().recoveries()[0].clone();
    assert!(recovery.closed().is_none(), "closed over clients it could not hear yet: {recovery:?}");
    net.heal(c0, mgs);
    net.heal(c1, mgs);
    let closed = |net: &Net| net.mgs().recoveries()[0].closed().is_some();
    net.run_until_true(10, 2 * dead_ms, closed).expect("the window closes once both reconnected");
    let recovery = net.mgs().recoveries()[0].clone();
    assert_eq!((recovery.progress.live, recovery.progress.reconnected), (2, 2), "{recovery:?}");
}
