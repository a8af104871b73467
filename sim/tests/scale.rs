//! The scale scenario at CI size: 2,000 clients under two router levels, 1% loss, 5% dead, one
//! target restarting. Asserts the ordering and closing invariants, never timings.

use vigil_sim::report::Params;
use vigil_sim::scenario;

fn small(seed: u64) -> Params {
    Params { clients: 2_000, routers: [2, 4], seed, ..Params::default() }
}

#[test]
fn every_live_client_is_ordered_once_and_the_window_closes_after_all_reconnected() {
    for seed in [1, 2] {
        let p = small(seed);
        let out = scenario::run(&p);
        let (f, c) = (&out.figures, &out.checks);
        assert_eq!(f.dead_clients, 100, "5% dead");
        assert_eq!(c.ordered_once, f.live_clients, "seed {seed}: {c:?}");
        assert_eq!(c.ordered_not_once, 0, "seed {seed}: {c:?}");
        assert_eq!(c.dead_ordered, 0, "seed {seed}: a dead client was handed the order");
        assert!(c.closed_by_order, "seed {seed}: Vigil closed the window, not the target's time-out");
        assert_eq!(c.unfinished_at_close, 0, "seed {seed}: closed before every live client reconnected");
        assert_eq!(f.false_deaths, 0, "seed {seed}: live clients shown dead");
        assert!(
            f.vigil.window_closed_ms < f.lustre_ir.window_closed_ms,
            "seed {seed}: Vigil closed at {} ms, IR at {} ms",
            f.vigil.window_closed_ms,
            f.lustre_ir.window_closed_ms
        );
        assert!(f.lustre_ir.window_closed_ms < f.passive.window_closed_ms);
    }
}

/// An OSS failing over restarts all its targets at once: every window must still close by
/// Vigil's order once its clients are back, none by the target's own time-out (with four
/// orders held per parent, a fifth target's recovery used to push out an earlier one's). Past
/// eight at once the MGS queues them.
#[test]
fn many_targets_restarting_together_all_close_by_order() {
    for (targets, seed) in [(8, 1), (16, 2), (24, 3)] {
        let p = Params { targets, restarting: targets, ..small(seed) };
        let out = scenario::run(&p);
        let f = &out.figures;
        assert_eq!(f.restarted.len(), targets);
        for w in &f.restarted {
            assert!(w.by_order, "{targets} targets, seed {seed}: {w:?} closed by its own time-out");
            assert_eq!(w.reconnected.0, w.reconnected.1, "{targets} targets, seed {seed}: {w:?}");
            assert_eq!(w.reconnected.1 as usize, f.live_clients, "{targets} targets, seed {seed}: {w:?}");
        }
        assert_eq!(out.checks.ordered_not_once, 0, "{targets} targets, seed {seed}: {:?}", out.checks);
        assert_eq!(f.false_deaths, 0);
    }
}

/// A whole filesystem after a power event: a thousand targets restart at once, all under one
/// first-level router (it keeps every one's status, as the MGS does). Every window closes by
/// Vigil's order once every live client is back, none by the target's own time-out.
#[test]
fn a_thousand_targets_restarting_together_all_close_by_order() {
    let p = Params { clients: 40, routers: [1, 2], targets: 1_000, restarting: 1_000, ..Params::default() };
    let out = scenario::run(&p);
    let f = &out.figures;
    assert_eq!(f.restarted.len(), 1_000);
    let by_time_out: Vec<_> = f.restarted.iter().filter(|w| !w.by_order).collect();
    assert!(
        by_time_out.is_empty(),
        "{} closed by their own time-out, e.g. {:?}",
        by_time_out.len(),
        by_time_out[0]
    );
    for w in &f.restarted {
        assert_eq!(w.reconnected, (f.live_clients as u32, f.live_clients as u32), "{w:?}");
    }
    assert_eq!(out.checks.ordered_not_once, 0, "{:?}", out.checks);
    assert_eq!(f.false_deaths, 0);
}

/// Two and three status holders, and one of two stopped mid-recovery: every live client still
/// runs its hook once per target instance (whichever holder's order reached it), and the window
/// closes by order only after every live client reconnected.
#[test]
fn several_holders_order_each_client_once_and_one_left_alone_still_closes() {
    for (holders, kill_holder) in [(2, false), (3, false), (2, true)] {
        let p = Params { holders, kill_holder, ..small(4) };
        let out = scenario::run(&p);
        let (f, c) = (&out.figures, &out.checks);
        let what = format!("{holders} holders, first stopped: {kill_holder}");
        assert_eq!(c.ordered_once, f.live_clients, "{what}: {c:?}");
        assert_eq!(c.ordered_not_once, 0, "{what}: {c:?}");
        assert_eq!(c.dead_ordered, 0, "{what}: {c:?}");
        assert!(c.closed_by_order, "{what}: the window closed by its own time-out");
        assert_eq!(c.unfinished_at_close, 0, "{what}: closed before every live client reconnected");
        assert_eq!(f.false_deaths, 0, "{what}");
        assert_eq!(
            f.holder_killed_ms.is_some(),
            kill_holder,
            "{what}: the first holder stopped mid-recovery"
        );
        if let Some(killed) = f.holder_killed_ms {
            assert!(f.vigil.window_closed_ms > killed, "{what}: the stopped holder closed it");
        }
    }
}

/// A restarted MGS knows nothing: each top router learns of it from the reply to its next update
/// and sends its whole table again, so the view shows every running node alive within an update
/// interval and a snapshot's round trips (simulated time: the bound is the protocol's, not the
/// machine's speed).
#[test]
fn a_restarted_mgs_sees_every_running_node_alive_within_an_update_interval() {
    for seed in [1, 2] {
        let p = Params { restart_mgs: true, ..small(seed) };
        let f = scenario::run(&p).figures;
        let took = f.mgs_restart_whole_ms.expect("the view was never whole again");
        let interval = u64::from(p.update_interval_ms());
        assert!(took <= interval + 100, "seed {seed}: whole after {took} ms (update interval {interval} ms)");
    }
}
