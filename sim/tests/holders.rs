//! Several status holders (MGS instances that every top router lists as parents), each issuing
//! its own orders: a holder's orders never block or undo another's, whatever their ids.

use vigil_proto::wire::{Action, NodeState};
use vigil_proto::{ids, Event, Instant, Mgs, NodeId};
use vigil_sim::{Machine, Net, Slots, Spec};

const TARGET: &str = "fs-OST0000";

/// Two holders, one router under both, four clients and the target's server under the router.
struct Cluster {
    net: Net,
    holders: [usize; 2],
    clients: Vec<usize>,
    server: usize,
}

fn cluster(seed: u64) -> Cluster {
    let mut net = Net::new(seed);
    let holders = [net.add("mgs-a", Spec::Mgs), net.add("mgs-b", Spec::Mgs)];
    let router = net.add("r0", Spec::Router { parents: holders.to_vec(), slots: 0 });
    let clients = (0..4).map(|k| net.add(&format!("c{k}"), Spec::Client { parents: vec![router] })).collect();
    let server = net.add("oss0", Spec::Server { parents: vec![router], target: TARGET.into() });
    let mut c = Cluster { net, holders, clients, server };
    let names: Vec<String> =
        c.net.nodes().iter().map(|n| n.name.clone()).filter(|n| !n.starts_with("mgs")).collect();
    let settled = c.net.run_until_true(100, 30_000, |net| {
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

fn holder(net: &Net, i: usize) -> &Mgs<Slots> {
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
        holder(net, a).recoveries().iter().any(|r| r.target == target && r.closed.is_some())
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
            .any(|r| r.target == target && r.target_generation.0 == instance && r.closed.is_some())
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
