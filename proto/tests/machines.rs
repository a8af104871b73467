//! Behaviour of single machines, driven by hand: refusal when full, replay and forgery guards,
//! reboots, a late observer, mass silence, and order deduplication.

use vigil_proto::table::{empty_slots, Slot};
use vigil_proto::wire::{
    self, Action, Key, Message, NodeState, OrderProgress, Ping, PingReply, ReplyStatus, Role, StaleParent,
    TargetState, TargetStatus, Update, MAX_DATAGRAM,
};
use vigil_proto::*;

fn keys() -> Keyring {
    Keyring::new(Key::new(1, &[7; 32]))
}

fn at(last: u8) -> Endpoint {
    Endpoint::V4 { ip: [10, 0, 0, last], port: 7000 }
}

/// Client `name` whose parent at `parent` is the router `r1` (generation 1), already met: its
/// pings are addressed to `r1`.
fn client(name: &str, generation: u32, parent: Endpoint) -> Client {
    client_of(name, generation, parent, "r1")
}

/// Client `name` whose parent at `parent` is `parent_name` (generation 1), already met.
fn client_of(name: &str, generation: u32, parent: Endpoint, parent_name: &str) -> Client {
    let config = ClientConfig {
        name: vigil_proto::name(name).unwrap(),
        generation: Generation(generation),
        parents: [parent].into_iter().collect(),
        keys: keys(),
        timing: Timing::default(),
    };
    let mut c = Client::new(config, Instant(0));
    let id = c.id();
    meet(&mut c, id, parent, parent_name, 0);
    c
}

/// Hands `c` the answer its parent `parent_name` (generation 1, at `parent`) gives a first
/// contact, so that the client addresses its pings to it: what a first exchange does, for tests
/// that hand a client's pings to a machine one by one. Sequence 0 comes before every datagram
/// the parent really sends.
fn meet(c: &mut impl Machine, me: NodeId, parent: Endpoint, parent_name: &str, now: u64) {
    let reply = Message::PingReply(PingReply {
        interval_ms: Timing::default().ping_interval_ms,
        status: ReplyStatus::Unaddressed,
        ack: 0,
        orders: Default::default(),
    });
    let mut buf = [0u8; MAX_DATAGRAM];
    let from = NodeId::from_name(parent_name);
    let len = wire::encode(from, me, Generation(1), 0, &reply, &keys().current, &mut buf).unwrap();
    c.handle(Instant(now), parent, &buf[..len]);
    assert_eq!(c.poll_event(), Some(Event::ParentUp { addr: parent }));
    assert_eq!(c.poll_event(), None);
}

fn router<'a>(slots: &'a mut [Slot], alternates: &[Endpoint]) -> Router<&'a mut [Slot]> {
    let mut config =
        RouterConfig::new(name("r1").unwrap(), Generation(1), [at(1)].into_iter().collect(), keys());
    config.alternates = alternates.iter().copied().collect();
    Router::new(config, slots, Instant(0))
}

/// Router `name` of `generation` under the MGS at(1) (already met), sending from its boot on (no
/// settling).
fn settled_router<'a>(name_: &str, generation: u32, slots: &'a mut [Slot]) -> Router<&'a mut [Slot]> {
    let parents = [at(1)].into_iter().collect();
    let mut config = RouterConfig::new(name(name_).unwrap(), Generation(generation), parents, keys());
    config.settle_ms = 0;
    config.startup_hold_ms = 0;
    let mut r = Router::new(config, slots, Instant(0));
    let id = r.id();
    meet(&mut r, id, at(1), "mgs", 0);
    r
}

/// An MGS (at(1)) with 16 slots that closes windows from its start on.
fn test_mgs() -> Mgs<Box<[Slot]>> {
    let mut config = MgsConfig::new(name("mgs").unwrap(), Generation(1), keys());
    config.startup_hold_ms = 0;
    config.direct_clients_hold_ms = 0;
    Mgs::new(config, vec![None; 16].into_boxed_slice(), Instant(0))
}

/// Every datagram the router sends now, decoded, with its destination.
fn drain(r: &mut Router<&mut [Slot]>, now: u64) -> Vec<(Endpoint, Message)> {
    let mut buf = [0u8; MAX_DATAGRAM];
    let mut out = Vec::new();
    while let Some((to, len)) = r.poll_transmit(Instant(now), &mut buf) {
        out.push((to, wire::decode(&buf[..len], &keys()).unwrap().1));
    }
    out
}

/// A client's next ping, as bytes.
fn ping_of(c: &mut Client, now: u64) -> Vec<u8> {
    let mut buf = [0u8; MAX_DATAGRAM];
    let (_, len) = c.poll_transmit(Instant(now), &mut buf).unwrap();
    buf[..len].to_vec()
}

/// An unsigned `BeginRecovery` of `target`'s instance `instance`, order `seq` of MGS generation 1
/// (its id's MGS is NodeId(1)), fresh (age 0).
fn begin_recovery(seq: u64, target: &str, instance: u32, window_ms: u32) -> wire::Order {
    wire::Order {
        id: OrderId { mgs: NodeId(1), mgs_generation: Generation(1), seq },
        action: Action::BeginRecovery {
            target: name(target).unwrap(),
            target_generation: Generation(instance),
            addrs: Default::default(),
            window_ms,
        },
        signer: 0,
        signature: wire::Signature::default(),
        age_ms: 0,
    }
}

/// The MGS at(1), router `r`'s parent, sends it `order` at `now` in its datagram `seq`.
fn order_from_mgs(r: &mut Router<&mut [Slot]>, order: wire::Order, seq: u32, now: u64) {
    let mut buf = [0u8; MAX_DATAGRAM];
    let message = Message::Order(order);
    let len = wire::encode(
        NodeId::from_name("mgs"),
        r.id(),
        Generation(1),
        seq,
        &message,
        &keys().current,
        &mut buf,
    )
    .unwrap();
    r.handle(Instant(now), at(1), &buf[..len]);
}

/// A router whose table (7 places) is full of known children.
fn full_router(slots: &mut [Slot; 8], alt: Endpoint) -> Router<&mut [Slot]> {
    let mut r = router(&mut slots[..], &[alt]);
    for k in 0..7u8 {
        let mut c = client(&format!("c{k}"), 1, at(10));
        r.handle(Instant(1), at(20 + k), &ping_of(&mut c, 0));
    }
    assert_eq!(r.table().len(), 7);
    drain(&mut r, 1);
    r
}

#[test]
fn a_full_router_refuses_new_children_explicitly_and_keeps_the_known_ones() {
    let alt = at(99);
    let mut slots: [Slot; 8] = empty_slots();
    let mut r = full_router(&mut slots, alt);
    // A flood of strangers: each is refused by name, none evicts a known child.
    for k in 0..50u8 {
        let mut c = client(&format!("stranger{k}"), 1, at(10));
        r.handle(Instant(2), at(100 + k), &ping_of(&mut c, 0));
    }
    let replies = drain(&mut r, 2);
    assert_eq!(replies.len(), 50);
    for (_, m) in &replies {
        let Message::PingReply(reply) = m else { panic!("{m:?}") };
        assert_eq!(reply.status, ReplyStatus::Refused { alternates: [alt].into_iter().collect() });
    }
    assert_eq!(r.counters().refused, 50);
    assert_eq!(r.table().len(), 7);
    for k in 0..7u8 {
        assert!(r.table().get(NodeId::from_name(&format!("c{k}"))).is_some());
    }
    // The refused client's driver learns where to go instead.
    let mut c = client("late", 1, at(1));
    r.handle(Instant(3), at(200), &ping_of(&mut c, 0));
    let mut buf = [0u8; MAX_DATAGRAM];
    let (_, len) = r.poll_transmit(Instant(3), &mut buf).unwrap();
    c.handle(Instant(4), at(1), &buf[..len]);
    let events: Vec<Event> = std::iter::from_fn(|| c.poll_event()).collect();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Refused { alternates, .. } if alternates.as_slice() == [alt])),
        "{events:?}"
    );
}

#[test]
fn a_full_table_gives_a_dead_childs_place_to_a_newcomer_and_refuses_the_rest() {
    let alt = at(99);
    let mut slots: [Slot; 8] = empty_slots();
    let mut r = full_router(&mut slots, alt);
    // c0 falls silent; c1..c6 keep pinging.
    let mut live: Vec<Client> = (1..7).map(|k| client(&format!("c{k}"), 1, at(10))).collect();
    for t in (250..=24_000).step_by(250) {
        if t % 2_000 == 0 {
            for (k, c) in live.iter_mut().enumerate() {
                r.handle(Instant(t), at(21 + k as u8), &ping_of(c, t));
            }
        }
        r.handle_timeout(Instant(t));
        drain(&mut r, t);
    }
    let id = |n: &str| NodeId::from_name(&name(n).unwrap());
    assert_eq!(r.table().get(id("c0")).and_then(|e| e.best_state()), Some(NodeState::Dead));
    assert_eq!(r.table().len(), 7);
    // Newcomers: the first takes the dead child's place, the rest are refused by name; no live
    // child loses its place.
    for k in 0..5u8 {
        let mut c = client(&format!("new{k}"), 1, at(10));
        r.handle(Instant(24_001), at(100 + k), &ping_of(&mut c, 0));
    }
    let statuses: Vec<ReplyStatus> = drain(&mut r, 24_001)
        .into_iter()
        .filter_map(|(_, m)| if let Message::PingReply(p) = m { Some(p.status) } else { None })
        .collect();
    let refused = ReplyStatus::Refused { alternates: [alt].into_iter().collect() };
    assert_eq!(statuses[0], ReplyStatus::Accepted, "{statuses:?}");
    assert_eq!(statuses[1..], [refused.clone(), refused.clone(), refused.clone(), refused], "{statuses:?}");
    assert_eq!((r.counters().reclaimed, r.counters().refused), (1, 4));
    assert!(r.table().get(id("c0")).is_none() && r.table().get(id("new0")).is_some());
    for k in 1..7 {
        assert!(r.table().get(id(&format!("c{k}"))).is_some(), "c{k} kept");
    }
}

#[test]
fn replayed_and_forged_datagrams_are_counted_and_dropped() {
    let mut slots: [Slot; 16] = empty_slots();
    let mut r = router(&mut slots, &[]);
    let mut c = client("c0", 1, at(1));
    let ping = ping_of(&mut c, 0);
    r.handle(Instant(1), at(20), &ping);
    assert_eq!(drain(&mut r, 1).len(), 1, "answered once");
    r.handle(Instant(2), at(20), &ping);
    assert_eq!(drain(&mut r, 2).len(), 0, "a replay gets no answer");
    assert_eq!(r.counters().replayed, 1);

    let other = Keyring::new(Key::new(1, &[8; 32]));
    let ping = Message::Ping(Ping {
        mounts: Default::default(),
        role: Role::Client,
        interval_ms: 2000,
        home: true,
        name: name("mallory"),
        reports: Default::default(),
        target: None,
    });
    let mut buf = [0u8; MAX_DATAGRAM];
    let len =
        wire::encode(NodeId::from_name("mallory"), r.id(), Generation(1), 1, &ping, &other.current, &mut buf)
            .unwrap();
    r.handle(Instant(3), at(21), &buf[..len]);
    r.handle(Instant(3), at(21), b"not a vigil datagram at all, just bytes");
    assert_eq!(drain(&mut r, 3).len(), 0);
    assert_eq!(r.counters().unauthenticated, 1);
    assert_eq!(r.counters().malformed, 1);
    assert!(r.table().get(NodeId::from_name("mallory")).is_none());
}

#[test]
fn a_new_generation_is_reported_as_a_reboot_at_once_and_an_old_one_is_stale() {
    let mut slots: [Slot; 16] = empty_slots();
    let mut r = router(&mut slots, &[]);
    let mut c1 = client("c0", 5, at(1));
    r.handle(Instant(1), at(20), &ping_of(&mut c1, 0));
    while r.poll_event().is_some() {}
    let mut c2 = client("c0", 6, at(1));
    r.handle(Instant(2), at(20), &ping_of(&mut c2, 0));
    let events: Vec<Event> = std::iter::from_fn(|| r.poll_event()).collect();
    assert!(events.contains(&Event::ChildRebooted { id: NodeId::from_name("c0"), generation: Generation(6) }));
    let mut old = client("c0", 5, at(1));
    r.handle(Instant(3), at(20), &ping_of(&mut old, 0));
    assert_eq!(r.counters().stale_generation, 1);
    assert_eq!(r.table().get(NodeId::from_name("c0")).unwrap().generation, Generation(6));
}

/// A router with `n` children, all heard at time 0, and the children.
fn router_with_children(slots: &mut [Slot], n: u8) -> (Router<&mut [Slot]>, Vec<Client>) {
    let mut r = router(slots, &[]);
    let mut clients = Vec::new();
    for k in 0..n {
        let mut c = client(&format!("c{k}"), 1, at(1));
        r.handle(Instant(0), at(20 + k), &ping_of(&mut c, 0));
        clients.push(c);
    }
    drain(&mut r, 0);
    (r, clients)
}

#[test]
fn a_late_observer_does_not_convict_its_children() {
    let mut slots: [Slot; 32] = empty_slots();
    let (mut r, _) = router_with_children(&mut slots, 10);
    // The router's loop stalls for a minute (paused VM, overload): nobody is declared dead.
    r.handle_timeout(Instant(60_000));
    assert_eq!(r.counters().stalls, 1);
    let states: Vec<_> = r.table().iter().map(|e| e.best_state()).collect();
    assert!(states.iter().all(|&s| s == Some(NodeState::Alive)), "{states:?}");
}

#[test]
fn a_dead_child_stays_dead_through_its_observers_stall() {
    let timing = Timing::default();
    let mut slots: [Slot; 32] = empty_slots();
    let (mut r, mut clients) = router_with_children(&mut slots, 10);
    let c0 = NodeId::from_name("c0");
    let mut now = 0;
    // Children 1..10 keep pinging every 250 ms; child 0 falls silent. `stall` jumps the clock
    // once, as a loaded machine does to the router's loop.
    let mut run = |r: &mut Router<&mut [Slot]>, now: &mut u64, until: u64, stall: bool| {
        if stall {
            *now += 10 * u64::from(timing.ping_interval_ms);
        }
        while *now < until {
            *now += 250;
            for (k, c) in clients.iter_mut().enumerate().skip(1) {
                let mut buf = [0u8; MAX_DATAGRAM];
                while let Some((_, len)) = c.poll_transmit(Instant(*now), &mut buf) {
                    r.handle(Instant(*now), at(20 + k as u8), &buf[..len]);
                }
            }
            r.handle_timeout(Instant(*now));
            drain(r, *now);
        }
    };
    run(&mut r, &mut now, timing.dead_ms(timing.ping_interval_ms) + 2_000, false);
    assert_eq!(r.table().get(c0).unwrap().best_state(), Some(NodeState::Dead));
    // The stall, then long enough for a refreshed silence to cross the suspect threshold.
    let after = now + 10 * u64::from(timing.ping_interval_ms) + timing.dead_ms(timing.ping_interval_ms);
    run(&mut r, &mut now, after, true);
    assert_eq!(r.counters().stalls, 1);
    assert_eq!(r.table().get(c0).unwrap().best_state(), Some(NodeState::Dead), "not suspect again");
}

#[test]
fn mass_silence_is_a_partition_not_deaths_but_one_silent_child_is_dead() {
    let timing = Timing::default();
    let mut slots: [Slot; 32] = empty_slots();
    let (mut r, mut clients) = router_with_children(&mut slots, 10);
    let mut now = 0;
    // Children 1..10 keep pinging; child 0 falls silent.
    while now < timing.dead_ms(timing.ping_interval_ms) + 2_000 {
        now += 250;
        for (k, c) in clients.iter_mut().enumerate().skip(1) {
            let mut buf = [0u8; MAX_DATAGRAM];
            while let Some((_, len)) = c.poll_transmit(Instant(now), &mut buf) {
                r.handle(Instant(now), at(20 + k as u8), &buf[..len]);
            }
        }
        r.handle_timeout(Instant(now));
        drain(&mut r, now);
    }
    let c0 = r.table().get(NodeId::from_name("c0")).unwrap();
    assert_eq!(c0.best_state(), Some(NodeState::Dead));
    // Now all of them fall silent together: unreachable, not dead.
    let later = now + timing.dead_ms(timing.ping_interval_ms) + 2_000;
    while now < later {
        now += 250;
        r.handle_timeout(Instant(now));
    }
    let events: Vec<Event> = std::iter::from_fn(|| r.poll_event()).collect();
    assert!(events.iter().any(|e| matches!(e, Event::MassSilence { count: 9 })), "{events:?}");
    for k in 1..10 {
        let e = r.table().get(NodeId::from_name(&format!("c{k}"))).unwrap();
        assert_eq!(e.best_state(), Some(NodeState::Unreachable), "c{k}");
    }
}

#[test]
fn a_reissued_order_for_the_same_target_instance_is_not_carried_out_twice() {
    let mgs_at = at(1);
    let mut c = client_of("c0", 1, mgs_at, "mgs");
    // Two MGS generations order the same restart (the MGS restarted mid-recovery, while the
    // client's hook still ran).
    let mut last = None;
    for mgs_generation in [1u32, 2] {
        let mut config = MgsConfig::new(name("mgs").unwrap(), Generation(mgs_generation), keys());
        config.startup_hold_ms = 0;
        let now = u64::from(mgs_generation) * 100_000;
        let slots: Box<[Slot]> = vec![None; 16].into_boxed_slice();
        let mut mgs: Mgs<Box<[Slot]>> = Mgs::new(config, slots, Instant(now));
        let mut buf = [0u8; MAX_DATAGRAM];
        c.handle_timeout(Instant(now));
        while let Some((_, len)) = c.poll_transmit(Instant(now), &mut buf) {
            mgs.handle(Instant(now), at(2), &buf[..len]);
        }
        // A server reports its target recovering, instance 7, to the same MGS.
        let server = ServerConfig {
            member: MemberConfig {
                name: name("oss0").unwrap(),
                generation: Generation(7),
                parents: [mgs_at].into_iter().collect(),
                keys: keys(),
                timing: Timing::default(),
            },
            target: name("testfs-OST0000").unwrap(),
            addrs: Default::default(),
            window_ms: 300_000,
        };
        let mut s = Server::new(server, Instant(now));
        let id = s.id();
        meet(&mut s, id, mgs_at, "mgs", now);
        let (_, len) = s.poll_transmit(Instant(now), &mut buf).unwrap();
        mgs.handle(Instant(now), at(3), &buf[..len]);
        let mut pushed = 0;
        while let Some((to, len)) = mgs.poll_transmit(Instant(now), &mut buf) {
            if to == at(2) {
                c.handle(Instant(now), mgs_at, &buf[..len]);
                pushed += 1;
            }
        }
        assert!(pushed >= 1, "MGS generation {mgs_generation} pushed its order");
        last = Some(mgs);
    }
    let orders: Vec<_> = std::iter::from_fn(|| c.poll_event())
        .filter_map(|e| match e {
            Event::Order(o) => Some(o),
            _ => None,
        })
        .collect();
    assert_eq!(orders.len(), 1, "handed once: {orders:?}");
    assert!(matches!(&orders[0].action, Action::BeginRecovery { target_generation: Generation(7), .. }));
    // The hook of the first order finishes: the re-issued order is reconnected too, and the
    // restarted MGS counts it.
    let mut mgs = last.unwrap();
    assert!(c.order_done(Instant(200_001), orders[0].id, true));
    let mut buf = [0u8; MAX_DATAGRAM];
    while let Some((_, len)) = c.poll_transmit(Instant(200_001), &mut buf) {
        mgs.handle(Instant(200_001), at(2), &buf[..len]);
    }
    let progress = mgs.recoveries()[0].progress;
    assert_eq!((progress.live, progress.reconnected), (1, 1), "{progress:?}");
}

#[test]
fn forged_orders_are_rejected_and_signed_ones_carried_out() {
    use vigil_proto::wire::{OrderKeys, OrderSigner};
    let mgs_key = OrderSigner::new(1, &[42; 32]);
    let mut public = OrderKeys::default();
    public.add(1, &mgs_key.public_key()).unwrap();
    let mut c = client("c0", 1, at(1));
    c.set_order_keys(public.clone());
    let mut slots: [Slot; 16] = empty_slots();
    let mut config =
        RouterConfig::new(name("r1").unwrap(), Generation(1), [at(1)].into_iter().collect(), keys());
    config.order_keys = public;
    let mut r: Router<&mut [Slot]> = Router::new(config, &mut slots[..], Instant(0));

    let order = |seq: u32| wire::Order { signer: 1, ..begin_recovery(seq.into(), "testfs-OST0000", seq, 0) };
    // A holder of the cluster key (a compromised router) forges orders: unsigned, signed with
    // its own key, and a genuine signature moved onto another order.
    let unsigned = order(1);
    let mut self_signed = order(2);
    OrderSigner::new(1, &[13; 32]).sign(&mut self_signed);
    let mut genuine = order(3);
    mgs_key.sign(&mut genuine);
    let mut moved = order(4);
    moved.signature = genuine.signature;
    let mut buf = [0u8; MAX_DATAGRAM];
    let mut seq = 0;
    let mut push = |o: &wire::Order, to: NodeId, buf: &mut [u8]| {
        seq += 1;
        let parent = NodeId::from_name("parent");
        wire::encode(parent, to, Generation(1), seq, &Message::Order(o.clone()), &keys().current, buf)
            .unwrap()
    };
    for o in [&unsigned, &self_signed, &moved, &genuine] {
        let len = push(o, NodeId::from_name("c0"), &mut buf);
        c.handle(Instant(1), at(1), &buf[..len]);
        let len = push(o, r.id(), &mut buf);
        r.handle(Instant(1), at(1), &buf[..len]);
    }
    assert_eq!(c.counters().forged, 3);
    assert_eq!(r.counters().forged, 3);
    let handed: Vec<_> = std::iter::from_fn(|| c.poll_event())
        .filter_map(|e| if let Event::Order(o) = e { Some(o.id.seq) } else { None })
        .collect();
    assert_eq!(handed, vec![3], "only the genuine order is carried out");
    let held: Vec<_> = std::iter::from_fn(|| r.poll_event())
        .filter_map(|e| if let Event::OrderHeld(id) = e { Some(id.seq) } else { None })
        .collect();
    assert_eq!(held, vec![3], "only the genuine order is relayed");
}

#[test]
fn a_begin_recovery_lapses_where_it_is_held_once_its_targets_window_must_have_run_out() {
    // Its holder stopped for good and no other holder sees the target, so no `CloseWindow`
    // supersedes it (swarm seed 273 with two holders): held for good, it would be handed to
    // every client that joins or reboots later, for a recovery long over.
    let mut slots: [Slot; 16] = empty_slots();
    let mut r = router(&mut slots, &[]);
    let order =
        |seq: u32, window_ms: u32| begin_recovery(seq.into(), &format!("testfs-OST000{seq}"), 2, window_ms);
    // A window of 30 s, and one unknown (an admin's order for an instance not seen yet).
    for (seq, window_ms) in [(1, 30_000), (2, 0)] {
        order_from_mgs(&mut r, order(seq, window_ms), seq, 1_000);
    }
    let held = |r: &Router<&mut [Slot]>| r.held_orders().map(|o| o.id.seq).collect::<Vec<_>>();
    assert_eq!(held(&r), vec![1, 2]);
    let timing = Timing::default();
    let lapses_at = 1_000 + 30_000 + timing.dead_ms(timing.ping_interval_ms);
    let mut now = 1_000;
    while now < lapses_at + 2 * u64::from(timing.ping_interval_ms) {
        now = r.poll_timeout().map_or(now + 100, |t| t.0.max(now + 1));
        r.handle_timeout(Instant(now));
        if now < lapses_at {
            assert_eq!(held(&r), vec![1, 2], "held while the target's window may still run ({now} ms)");
        }
    }
    assert_eq!(held(&r), vec![2], "the order with a window lapsed; the one without stays until superseded");
}

#[test]
fn a_lapsed_begin_recovery_is_not_taken_again_when_a_parent_hands_it_back() {
    // Each node judges the window at its own check, and an order's age leaves out its time in
    // flight: a parent can still hold it a little after its child let it go, and hands it back
    // to the child, which no longer reports it. Taken as new, it would be held for a whole window more (swarm seed 97210:
    // r1.0.0 took it again 26 ms after it lapsed there, from a parent that checked 81 ms later).
    let mut slots: [Slot; 16] = empty_slots();
    let mut r = router(&mut slots, &[]);
    let order = begin_recovery(1, "testfs-OST0001", 2, 30_000);
    let push = |r: &mut Router<&mut [Slot]>, seq: u32, now: u64| order_from_mgs(r, order.clone(), seq, now);
    push(&mut r, 1, 1_000);
    assert_eq!(r.held_orders().count(), 1);
    let timing = Timing::default();
    let lapses_at = 1_000 + 30_000 + timing.dead_ms(timing.ping_interval_ms);
    let mut now = 1_000;
    let mut told = Vec::new();
    while r.held_orders().count() > 0 && now < lapses_at + 2 * u64::from(timing.ping_interval_ms) {
        now = r.poll_timeout().map_or(now + 100, |t| t.0.max(now + 1));
        r.handle_timeout(Instant(now));
        told.extend(std::iter::from_fn(|| r.poll_event()).filter(|e| matches!(e, Event::OrderLapsed { .. })));
    }
    assert_eq!(r.held_orders().count(), 0, "lapsed at {now} ms");
    // Operators are told (a holder lost sight of a recovery).
    let lapsed = Event::OrderLapsed {
        order: order.id,
        target: name("testfs-OST0001").unwrap(),
        target_generation: Generation(2),
    };
    assert_eq!(told, vec![lapsed]);
    assert_eq!(r.counters().orders_lapsed, 1, "counted for the metrics");
    // The parent hands it back: it stays let go.
    push(&mut r, 2, now + 30);
    let held: Vec<_> = r.held_orders().map(|o| o.id).collect();
    assert!(held.is_empty(), "taken again after it lapsed: {held:?}");
}

#[test]
fn an_order_taken_late_lapses_when_it_does_where_it_was_issued() {
    // A router that rebooted mid-recovery takes a held BeginRecovery late from its parent.
    // Timed from its own take, the order outlived the target's window by as long as the router
    // was late, and reached clients that joined after the recovery was over (swarm seed 122).
    // The order's age travels with it: it lapses a window and grace after its issue, wherever
    // and whenever it was taken, and a router passes it on aged by the time it held it.
    let timing = Timing::default();
    let grace = timing.dead_ms(timing.ping_interval_ms);
    let order = |seq: u64, age_ms: u32| wire::Order {
        age_ms,
        ..begin_recovery(seq, &format!("testfs-OST000{seq}"), 2, 30_000)
    };
    let mut slots: [Slot; 16] = empty_slots();
    let mut r = router(&mut slots, &[]);
    let mut c = client("c0", 1, at(1));
    r.handle(Instant(0), at(20), &ping_of(&mut c, 0));
    drain(&mut r, 0);
    // Issued 20 s before this router took it: 10 s and the grace left.
    order_from_mgs(&mut r, order(1, 20_000), 1, 1_000);
    let pushed: Vec<u32> = (drain(&mut r, 1_500).into_iter())
        .filter_map(
            |(to, m)| if let Message::Order(o) = m { (to == at(20)).then_some(o.age_ms) } else { None },
        )
        .collect();
    assert_eq!(pushed, vec![20_500], "passed on aged by the 500 ms held here");
    let lapses_at = 1_000 + 10_000 + grace;
    let mut now = 1_500;
    while r.held_orders().count() > 0 && now < lapses_at + 30_000 {
        now = r.poll_timeout().map_or(now + 100, |t| t.0.max(now + 1));
        r.handle_timeout(Instant(now));
    }
    let late = u64::from(timing.ping_interval_ms);
    assert!(r.held_orders().count() == 0 && now < lapses_at + late, "lapsed at {now} ms, due at {lapses_at}");
    assert!(now >= lapses_at, "not before its window ran out: {now} ms");
    // One whose window ran out before it got here is not taken at all, and the lapse is told.
    let _ = std::iter::from_fn(|| r.poll_event()).count();
    order_from_mgs(&mut r, order(2, 30_000 + u32::try_from(grace).unwrap()), 2, now);
    assert_eq!(r.held_orders().count(), 0, "an order past its window taken");
    let told: Vec<_> =
        std::iter::from_fn(|| r.poll_event()).filter(|e| matches!(e, Event::OrderLapsed { .. })).collect();
    assert_eq!(told.len(), 1, "{told:?}");
}

#[test]
fn routers_give_clients_only_recovery_orders_and_servers_only_window_orders() {
    // A client spends a report on every order it gets; a CloseWindow it does not act on could
    // push out the report of a recovery still waited for.
    let mut slots: [Slot; 16] = empty_slots();
    let mut r = router(&mut slots, &[]);
    let mut c = client("c0", 1, at(1));
    r.handle(Instant(0), at(20), &ping_of(&mut c, 0));
    let server = ServerConfig {
        member: MemberConfig {
            name: name("oss0").unwrap(),
            generation: Generation(7),
            parents: [at(1)].into_iter().collect(),
            keys: keys(),
            timing: Timing::default(),
        },
        target: name("testfs-OST0000").unwrap(),
        addrs: Default::default(),
        window_ms: 300_000,
    };
    let mut s = Server::new(server, Instant(0));
    let id = s.id();
    meet(&mut s, id, at(1), "r1", 0);
    let mut buf = [0u8; MAX_DATAGRAM];
    let (_, len) = s.poll_transmit(Instant(0), &mut buf).unwrap();
    r.handle(Instant(0), at(30), &buf[..len]);
    drain(&mut r, 0);
    let target = name("testfs-OST0000").unwrap();
    let orders = [
        Action::BeginRecovery {
            target: target.clone(),
            target_generation: Generation(7),
            addrs: Default::default(),
            window_ms: 0,
        },
        Action::CloseWindow {
            dead_mounts: Default::default(),
            target: name("testfs-OST0001").unwrap(),
            target_generation: Generation(3),
            dead: Default::default(),
        },
    ];
    for (seq, action) in orders.into_iter().enumerate() {
        let order = wire::Order {
            id: OrderId { mgs: NodeId(1), mgs_generation: Generation(1), seq: seq as u64 + 1 },
            action,
            signer: 0,
            signature: Default::default(),
            age_ms: 0,
        };
        order_from_mgs(&mut r, order, seq as u32 + 1, 1);
    }
    let pushes: Vec<(Endpoint, u64)> = drain(&mut r, 1)
        .into_iter()
        .filter_map(|(to, m)| if let Message::Order(o) = m { Some((to, o.id.seq)) } else { None })
        .collect();
    assert_eq!(
        pushes,
        vec![(at(20), 1), (at(30), 2)],
        "client: BeginRecovery only; server: CloseWindow only"
    );
}

#[test]
fn a_reply_to_an_older_ping_does_not_cancel_the_resend_of_a_lost_report() {
    let mgs_at = at(1);
    let mut mgs = test_mgs();
    let mut c = client_of("c0", 1, mgs_at, "mgs");
    let mut buf = [0u8; MAX_DATAGRAM];
    let (_, len) = c.poll_transmit(Instant(0), &mut buf).unwrap();
    mgs.handle(Instant(0), at(2), &buf[..len]);
    while let Some((_, len)) = mgs.poll_transmit(Instant(0), &mut buf) {
        c.handle(Instant(0), mgs_at, &buf[..len]);
    }
    // A target restarts: the MGS pushes the order, the client reports it applied.
    let now = 10_000;
    let order = mgs.recover(Instant(now), name("testfs-OST0000").unwrap(), Default::default()).unwrap();
    while let Some((_, len)) = mgs.poll_transmit(Instant(now), &mut buf) {
        c.handle(Instant(now), mgs_at, &buf[..len]);
    }
    let handed =
        std::iter::from_fn(|| c.poll_event()).filter(|e| matches!(e, Event::Order(o) if o.id == order));
    assert_eq!(handed.count(), 1);
    let (_, len) = c.poll_transmit(Instant(now), &mut buf).unwrap();
    mgs.handle(Instant(now), at(2), &buf[..len]);
    // The MGS's answer to that ping is delayed; meanwhile the client reconnects and its report
    // of it is lost.
    let mut late = Vec::new();
    while let Some((_, len)) = mgs.poll_transmit(Instant(now), &mut buf) {
        late.push(buf[..len].to_vec());
    }
    assert!(!late.is_empty());
    assert!(c.order_done(Instant(now + 5), order, true));
    assert!(c.poll_transmit(Instant(now + 5), &mut buf).is_some(), "the report goes at once (lost)");
    for reply in &late {
        c.handle(Instant(now + 6), mgs_at, reply);
    }
    // That answer is to the older ping: the report goes again after `resend_ms`, not after the
    // ping interval, and the MGS counts the client reconnected.
    let resend = c.poll_timeout().unwrap();
    assert!(resend.0 <= now + 5 + u64::from(Timing::default().resend_ms), "re-send at {resend:?}");
    let (_, len) = c.poll_transmit(resend, &mut buf).unwrap();
    mgs.handle(resend, at(2), &buf[..len]);
    mgs.handle_timeout(resend);
    let progress = mgs.recoveries()[0].progress;
    assert_eq!((progress.live, progress.reconnected), (1, 1), "{progress:?}");
}

/// The router's datagrams to its parent (at(1)) due by `now`, as bytes, in the order sent.
fn updates_until(r: &mut Router<&mut [Slot]>, now: u64) -> Vec<Vec<u8>> {
    let mut buf = [0u8; MAX_DATAGRAM];
    let mut out = Vec::new();
    for t in 0..=now {
        if r.poll_timeout().is_some_and(|d| d.0 <= t) {
            r.handle_timeout(Instant(t));
        }
        while let Some((to, len)) = r.poll_transmit(Instant(t), &mut buf) {
            if to == at(1) {
                out.push(buf[..len].to_vec());
            }
        }
    }
    out
}

#[test]
fn a_late_snapshot_page_does_not_sweep_what_a_newer_one_brought() {
    let mut mgs = test_mgs();
    let mut rslots: [Slot; 16] = empty_slots();
    let mut r = settled_router("r1", 1, &mut rslots[..]);
    // c0 joins; the router's first snapshot page goes out (and is delayed on the way).
    let mut c0 = client("c0", 1, at(2));
    r.handle(Instant(0), at(20), &ping_of(&mut c0, 0));
    let first = updates_until(&mut r, 30);
    // c1 joins; unanswered, the router sends its snapshot again, now with c1.
    let mut c1 = client("c1", 1, at(2));
    r.handle(Instant(31), at(21), &ping_of(&mut c1, 0));
    let second = updates_until(&mut r, 200);
    assert!(!first.is_empty() && !second.is_empty(), "{} then {} updates", first.len(), second.len());
    // The newer page arrives first, the older one after it.
    for bytes in second.iter().chain(&first) {
        mgs.handle(Instant(200), at(2), bytes);
    }
    let c1_id = NodeId::from_name(&name("c1").unwrap());
    let view = mgs.node(c1_id, Instant(200)).expect("the MGS knows c1");
    assert_eq!(view.state, NodeState::Alive, "{view:?}");
    assert_eq!(view.parents.len(), 1, "{view:?}");
    assert!(mgs.counters().out_of_order >= 1);
}

/// Which way a datagram between the router (at(2)) and the MGS (at(1)) goes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Hop {
    Up,
    Down,
}

/// Runs an MGS, a router and its client together from `from` to `to` ms, a millisecond at a
/// time. Router and client talk freely; `route` sees each datagram between router and MGS and
/// says whether it arrives now (it may keep the bytes to deliver them itself later).
fn run_three(
    mgs: &mut Mgs<Box<[Slot]>>,
    r: &mut Router<&mut [Slot]>,
    c: &mut Client,
    span: (u64, u64),
    route: &mut dyn FnMut(u64, Hop, &[u8]) -> bool,
) {
    run_many(mgs, r, core::slice::from_mut(c), span, route);
}

/// Runs an MGS (at(1)), router (at(2)) and its clients (client `k` at at(20 + k)) millisecond by
/// millisecond over `from..=to`; `route` may drop a datagram between router and MGS.
fn run_many(
    mgs: &mut Mgs<Box<[Slot]>>,
    r: &mut Router<&mut [Slot]>,
    clients: &mut [Client],
    (from, to): (u64, u64),
    route: &mut dyn FnMut(u64, Hop, &[u8]) -> bool,
) {
    let mut buf = [0u8; MAX_DATAGRAM];
    for t in from..=to {
        let now = Instant(t);
        if mgs.poll_timeout().is_some_and(|d| d <= now) {
            mgs.handle_timeout(now);
        }
        if r.poll_timeout().is_some_and(|d| d <= now) {
            r.handle_timeout(now);
        }
        for c in clients.iter_mut() {
            if c.poll_timeout().is_some_and(|d| d <= now) {
                c.handle_timeout(now);
            }
        }
        loop {
            let mut quiet = true;
            for (k, c) in clients.iter_mut().enumerate() {
                while let Some((_, len)) = c.poll_transmit(now, &mut buf) {
                    quiet = false;
                    r.handle(now, at(20 + k as u8), &buf[..len]);
                }
            }
            while let Some((dest, len)) = r.poll_transmit(now, &mut buf) {
                quiet = false;
                if let Some(c) = (0..clients.len()).find(|&k| dest == at(20 + k as u8)) {
                    clients[c].handle(now, at(2), &buf[..len]);
                } else if route(t, Hop::Up, &buf[..len]) {
                    mgs.handle(now, at(2), &buf[..len]);
                }
            }
            while let Some((dest, len)) = mgs.poll_transmit(now, &mut buf) {
                quiet = false;
                if dest == at(2) && route(t, Hop::Down, &buf[..len]) {
                    r.handle(now, at(1), &buf[..len]);
                }
            }
            if quiet {
                break;
            }
        }
        for c in clients.iter_mut() {
            while c.poll_event().is_some() {}
        }
    }
}

#[test]
fn a_reply_to_an_older_update_does_not_cancel_the_resend_of_a_lost_one() {
    let mut mgs = test_mgs();
    let mut rslots: [Slot; 16] = empty_slots();
    let mut r = settled_router("r1", 1, &mut rslots[..]);
    let mut c = client("c0", 1, at(2));
    run_three(&mut mgs, &mut r, &mut c, (0, 3_000), &mut |_, _, _| true);
    // A target restarts: the order reaches the client, which applies it.
    let order = mgs.recover(Instant(3_000), name("testfs-OST0000").unwrap(), Default::default()).unwrap();
    run_three(&mut mgs, &mut r, &mut c, (3_000, 4_000), &mut |_, _, _| true);
    mgs.handle_timeout(Instant(4_000));
    let progress = mgs.recoveries()[0].progress;
    assert_eq!((progress.applied, progress.reconnected), (1, 0), "{progress:?}");
    // The router's next update arrives, but the MGS's answer to it is delayed.
    let mut late: Vec<Vec<u8>> = Vec::new();
    let mut sent_at = None;
    run_three(&mut mgs, &mut r, &mut c, (4_001, 6_000), &mut |t, hop, bytes| {
        match hop {
            Hop::Up if sent_at.is_none() => sent_at = Some(t),
            Hop::Up => return false,
            Hop::Down if sent_at.is_some() => late.push(bytes.to_vec()),
            Hop::Down => return true,
        }
        hop == Hop::Up
    });
    let t = sent_at.expect("the router sent an update");
    // Meanwhile the client reconnects; the router's update saying so is lost, and only then
    // does the answer to the older update arrive.
    assert!(!late.is_empty());
    assert!(c.order_done(Instant(t), order, true));
    let mut lost_at = None;
    run_three(&mut mgs, &mut r, &mut c, (t, t + 30), &mut |t, hop, _| {
        if hop == Hop::Up && lost_at.is_none() {
            lost_at = Some(t);
        }
        false
    });
    let lost_at = lost_at.expect("the router sent the client's reconnect up");
    for bytes in &late {
        r.handle(Instant(t + 31), at(1), bytes);
    }
    // That answer is to the older update: the newer one goes again after a re-send wait, not
    // after the update interval, and the MGS counts the client reconnected.
    let resend = r.poll_timeout().unwrap();
    let waits = u64::from(Timing::default().resend_ms) * 8;
    assert!(resend.0 <= lost_at + waits, "re-send at {resend:?}, lost at {lost_at}");
    run_three(&mut mgs, &mut r, &mut c, (t + 31, resend.0), &mut |_, _, _| true);
    mgs.handle_timeout(resend);
    let progress = mgs.recoveries()[0].progress;
    assert_eq!((progress.applied, progress.reconnected), (1, 1), "{progress:?}");
}

#[test]
fn a_lost_update_after_a_run_of_lost_replies_goes_again_after_a_short_wait() {
    // Seen at a million simulated clients: the MGS's replies to two updates were lost, the
    // second update was refused (the MGS had moved past its base with the first), and the
    // reply refusing it came back behind the round. The re-send waits kept doubling over
    // updates the MGS did answer, so the next lost update went again 400 ms later, not 50.
    let mut mgs = test_mgs();
    let mut rslots: [Slot; 16] = empty_slots();
    let mut r = settled_router("r1", 1, &mut rslots[..]);
    let mut c = client("c0", 1, at(2));
    run_three(&mut mgs, &mut r, &mut c, (0, 3_000), &mut |_, _, _| true);
    // A newcomer's first contact: one change for the router to send up.
    let join = |r: &mut Router<&mut [Slot]>, k: u8, t: u64| {
        let mut n = client(&format!("n{k}"), 1, at(2));
        r.handle(Instant(t), at(40 + k), &ping_of(&mut n, t));
    };
    // Changes go up and arrive; the answers are lost.
    let mut ups = 0;
    join(&mut r, 0, 3_001);
    run_three(&mut mgs, &mut r, &mut c, (3_001, 3_040), &mut |_, hop, _| {
        ups += usize::from(hop == Hop::Up);
        hop == Hop::Up
    });
    join(&mut r, 1, 3_041);
    run_three(&mut mgs, &mut r, &mut c, (3_041, 3_080), &mut |_, hop, _| {
        ups += usize::from(hop == Hop::Up);
        hop == Hop::Up
    });
    assert!(ups >= 2, "{ups} updates went up");
    // From here the MGS answers: it refuses the re-sent round, whose base it is past, with a
    // reply behind the round.
    let mut behind = false;
    run_three(&mut mgs, &mut r, &mut c, (3_081, 3_170), &mut |_, hop, bytes| {
        if hop == Hop::Down {
            let (_, m) = wire::decode(bytes, &keys()).unwrap();
            behind |= matches!(m, Message::PingReply(PingReply { status: ReplyStatus::Accepted, .. }));
        }
        true
    });
    assert!(behind, "the MGS answered the re-sent round");
    // One more change, before the round the refusal left armed goes again; its updates are
    // lost.
    join(&mut r, 2, 3_171);
    let wait = u64::from(Timing::default().resend_ms);
    let (mut lost, mut again) = (Vec::new(), None);
    run_three(&mut mgs, &mut r, &mut c, (3_171, 4_200), &mut |t, hop, _| {
        match hop {
            Hop::Up if t < 3_200 => lost.push(t),
            Hop::Up => again = again.or(Some(t)),
            Hop::Down => {}
        }
        hop == Hop::Down || t >= 3_200
    });
    let (last, again) = (*lost.last().expect("the change went up"), again.expect("it went again"));
    assert!(again <= last + 2 * wait, "lost at {lost:?}, sent again at {again} (wait {wait})");
    let n2 = NodeId::from_name(&name("n2").unwrap());
    assert!(mgs.node(n2, Instant(4_200)).is_some(), "the MGS knows n2");
}

#[test]
fn a_window_held_open_by_a_router_gone_for_good_closes_when_an_admin_says_so() {
    let mut mgs = test_mgs();
    let mut rslots: [Slot; 16] = empty_slots();
    let mut r = settled_router("r1", 1, &mut rslots[..]);
    let mut c = client("c0", 1, at(2));
    // A second router joins, then is never heard again.
    let mut r2slots: [Slot; 16] = empty_slots();
    let mut r2 = settled_router("r2", 1, &mut r2slots[..]);
    let mut buf = [0u8; MAX_DATAGRAM];
    let (_, len) = r2.poll_transmit(Instant(0), &mut buf).unwrap();
    mgs.handle(Instant(0), at(3), &buf[..len]);
    run_three(&mut mgs, &mut r, &mut c, (0, 10_000), &mut |_, _, _| true);
    let r2_id = NodeId::from_name(&name("r2").unwrap());
    assert_eq!(mgs.node(r2_id, Instant(10_000)).unwrap().state, NodeState::Dead);
    let target = name("testfs-OST0000").unwrap();
    assert_eq!(mgs.close(Instant(10_000), &target), Err(vigil_proto::mgs::CloseError::NoRecovery));
    // A recovery: the one live client reconnects, but r2's subtree is unknown, so the window
    // stays open.
    let order = mgs.recover(Instant(10_000), target.clone(), Default::default()).unwrap();
    run_three(&mut mgs, &mut r, &mut c, (10_000, 10_500), &mut |_, _, _| true);
    assert!(c.order_done(Instant(10_500), order, true));
    run_three(&mut mgs, &mut r, &mut c, (10_500, 20_000), &mut |_, _, _| true);
    let recovery = &mgs.recoveries()[0];
    assert_eq!((recovery.progress.live, recovery.progress.reconnected), (1, 1), "{recovery:?}");
    assert!(!recovery.window_closed(), "{recovery:?}");
    assert_eq!(mgs.waiting_for(order).collect::<Vec<_>>(), [r2_id], "the window waits for r2");
    // The admin gives up on r2: the window closes by order, once however often it is asked.
    while r.poll_event().is_some() {}
    let Ok(Closed::Now(close)) = mgs.close(Instant(20_000), &target) else { panic!("not closed now") };
    assert_eq!(mgs.close(Instant(20_001), &target), Ok(Closed::Already(close)), "closed once");
    let recovery = &mgs.recoveries()[0];
    assert!(
        recovery.closed_by_admin() && recovery.closed() == Some((close, Instant(20_000))),
        "{recovery:?}"
    );
    let closing = std::iter::from_fn(|| mgs.poll_event())
        .filter(|e| matches!(e, Event::WindowClosed { order, .. } if *order == close));
    assert_eq!(closing.count(), 1);
    run_three(&mut mgs, &mut r, &mut c, (20_000, 20_100), &mut |_, _, _| true);
    let held = std::iter::from_fn(|| r.poll_event()).filter(|e| *e == Event::OrderHeld(close));
    assert_eq!(held.count(), 1, "the router holds the CloseWindow order");
}

/// The generation and state the MGS shows for `id` at `t`.
fn shown(mgs: &Mgs<Box<[Slot]>>, id: NodeId, t: u64) -> Option<(u32, NodeState)> {
    mgs.node(id, Instant(t)).map(|v| (v.generation.0, v.state))
}

/// An MGS and router r1 (generation 10, on `slots`), run for 3 s with client c0 (generation 5)
/// below the router, until the MGS shows c0 alive at generation 5.
fn c0_shown_alive_at_generation_5(slots: &mut [Slot]) -> (Mgs<Box<[Slot]>>, Router<&mut [Slot]>) {
    let mut mgs = test_mgs();
    let mut r = settled_router("r1", 10, slots);
    let mut c = client("c0", 5, at(2));
    run_three(&mut mgs, &mut r, &mut c, (0, 3_000), &mut |_, _, _| true);
    let c_id = NodeId::from_name(&name("c0").unwrap());
    assert_eq!(shown(&mgs, c_id, 3_000), Some((5, NodeState::Alive)));
    (mgs, r)
}

#[test]
fn a_node_booting_with_a_lower_generation_is_seen_rebooted_at_once() {
    let (r_id, c_id) = (NodeId::from_name(&name("r1").unwrap()), NodeId::from_name(&name("c0").unwrap()));
    let mut slots: [Slot; 16] = empty_slots();
    let (mut mgs, mut r) = c0_shown_alive_at_generation_5(&mut slots);
    // The client comes back with a lower generation (its state was wiped): its router, which
    // still holds generation 5 alive, says so, and the client takes 6 — well before the dead
    // threshold would have given generation 5 up.
    let mut c = client("c0", 2, at(2));
    run_three(&mut mgs, &mut r, &mut c, (3_001, 4_000), &mut |_, _, _| true);
    assert_eq!(shown(&mgs, c_id, 4_000), Some((6, NodeState::Alive)));
    assert!(r.counters().stale_generation >= 1);
    // The same for a router drawing a random generation at boot, below the one the MGS holds.
    let mut slots2: [Slot; 16] = empty_slots();
    let mut r = settled_router("r1", 3, &mut slots2[..]);
    run_three(&mut mgs, &mut r, &mut c, (4_001, 4_100), &mut |_, _, _| true);
    assert_eq!(shown(&mgs, r_id, 4_100), Some((11, NodeState::Alive)));
    let raised = std::iter::from_fn(|| r.poll_event())
        .filter(|e| matches!(e, Event::GenerationRaised { generation: Generation(11), .. }));
    assert_eq!(raised.count(), 1);
    // Its client pings it again within an interval.
    run_three(&mut mgs, &mut r, &mut c, (4_101, 7_000), &mut |_, _, _| true);
    assert_eq!(shown(&mgs, c_id, 7_000), Some((6, NodeState::Alive)), "c0 through the new r1");
    // A datagram of an earlier instance, delayed: answered stale, and the answer (about the
    // current generation itself) changes nothing.
    let mut old = client("c0", 1, at(2));
    r.handle(Instant(7_001), at(20), &ping_of(&mut old, 7_001));
    let stale = r.counters().stale_generation;
    let mut buf = [0u8; MAX_DATAGRAM];
    let (_, len) = r.poll_transmit(Instant(7_001), &mut buf).unwrap();
    c.handle(Instant(7_001), at(2), &buf[..len]);
    run_three(&mut mgs, &mut r, &mut c, (7_001, 9_000), &mut |_, _, _| true);
    assert_eq!(shown(&mgs, c_id, 9_000), Some((6, NodeState::Alive)));
    assert_eq!(r.counters().stale_generation, stale);
}

/// A node given up everywhere that boots with a lower generation (its state file lost and its
/// clock behind) is not taken back as it is: the MGS, which merges what its router says of it,
/// keeps the greater generation it saw, and would show the old instance alive for good. Its
/// parent answers `Stale` as for a live one, and it takes a generation above.
#[test]
fn a_node_given_up_back_with_a_lower_generation_takes_one_above_the_last_seen() {
    let c_id = NodeId::from_name(&name("c0").unwrap());
    let mut slots: [Slot; 16] = empty_slots();
    let (mut mgs, mut r) = c0_shown_alive_at_generation_5(&mut slots);
    // c0 stops for good (another client pings meanwhile): its router and the MGS give it up.
    let mut other = client("c1", 1, at(2));
    run_three(&mut mgs, &mut r, &mut other, (3_001, 40_000), &mut |_, _, _| true);
    assert_eq!(shown(&mgs, c_id, 40_000), Some((5, NodeState::Dead)));
    let mut c = client("c0", 2, at(2));
    run_three(&mut mgs, &mut r, &mut c, (40_001, 43_000), &mut |_, _, _| true);
    assert_eq!(shown(&mgs, c_id, 43_000), Some((6, NodeState::Alive)));
}

/// The same behind a router that restarted meanwhile: the router knows nothing to correct, and
/// takes the lower generation as it comes. The MGS, hearing the node only through that router,
/// shows the generation the router reports, not the greater one it saw before.
#[test]
fn a_node_back_with_a_lower_generation_behind_a_restarted_router_is_shown_as_it_runs() {
    let c_id = NodeId::from_name(&name("c0").unwrap());
    let mut slots: [Slot; 16] = empty_slots();
    let (mut mgs, _) = c0_shown_alive_at_generation_5(&mut slots);
    // r1 restarts (generation 11), forgetting c0.
    let mut slots2: [Slot; 16] = empty_slots();
    let mut r = settled_router("r1", 11, &mut slots2[..]);
    let mut c = client("c0", 2, at(2));
    run_three(&mut mgs, &mut r, &mut c, (3_001, 8_000), &mut |_, _, _| true);
    assert_eq!(shown(&mgs, c_id, 8_000), Some((2, NodeState::Alive)));
}

#[test]
fn a_dead_node_back_with_the_same_generation_and_its_sequence_over_is_taken_back() {
    let mut slots: [Slot; 16] = empty_slots();
    let mut r = router(&mut slots[..], &[]);
    let c0 = NodeId::from_name(&name("c0").unwrap());
    // Generation 1 pings a while, then goes silent for good (its state is then wiped).
    let mut first = client("c0", 1, at(10));
    let mut buf = [0u8; MAX_DATAGRAM];
    let mut sent = 0;
    for t in (0..10_000).step_by(50) {
        while let Some((_, len)) = first.poll_transmit(Instant(t), &mut buf) {
            r.handle(Instant(t), at(20), &buf[..len]);
            sent += 1;
        }
        drain(&mut r, t);
    }
    assert!(sent > 1, "{sent} pings");
    for t in (10_000..=40_000).step_by(250) {
        r.handle_timeout(Instant(t));
        drain(&mut r, t);
    }
    assert_eq!(r.table().get(c0).and_then(|e| e.best_state()), Some(NodeState::Dead));
    // The new instance boots as generation 1 again, its sequence from 1: a reboot, not replays.
    let mut again = client("c0", 1, at(10));
    let replayed = r.counters().replayed;
    r.handle(Instant(40_001), at(20), &ping_of(&mut again, 40_001));
    assert_eq!(r.table().get(c0).and_then(|e| e.best_state()), Some(NodeState::Alive));
    assert_eq!(r.counters().replayed, replayed);
    // While alive, a replay of its earlier datagrams is still dropped.
    let (_, len) = again.poll_transmit(Instant(42_001), &mut buf).unwrap();
    r.handle(Instant(42_001), at(20), &buf[..len]);
    r.handle(Instant(42_002), at(20), &buf[..len]);
    assert_eq!(r.counters().replayed, replayed + 1);
}

#[test]
fn order_ids_go_on_past_two_to_the_thirty_two_orders() {
    let mut config = MgsConfig::new(name("mgs").unwrap(), Generation(1), keys());
    config.startup_hold_ms = 0;
    config.last_order_seq = (u32::MAX - 1).into();
    let mut mgs: Mgs<Box<[Slot]>> = Mgs::new(config, vec![None; 16].into_boxed_slice(), Instant(0));
    let mut rslots: [Slot; 16] = empty_slots();
    let mut r = settled_router("r1", 1, &mut rslots[..]);
    let mut c = client("c0", 1, at(2));
    run_three(&mut mgs, &mut r, &mut c, (0, 5_000), &mut |_, _, _| true);
    // The last order below 2³², then one past it for the same target: the router takes both.
    let target = name("testfs-OST0000").unwrap();
    let begin = mgs.recover(Instant(5_000), target.clone(), Default::default()).unwrap();
    run_three(&mut mgs, &mut r, &mut c, (5_000, 5_500), &mut |_, _, _| true);
    let close = mgs.close(Instant(5_500), &target).unwrap().order();
    assert!(close > begin, "{close:?} after {begin:?}");
    run_three(&mut mgs, &mut r, &mut c, (5_500, 6_000), &mut |_, _, _| true);
    let held: Vec<_> = std::iter::from_fn(|| r.poll_event())
        .filter_map(|e| match e {
            Event::OrderHeld(id) => Some(id),
            _ => None,
        })
        .collect();
    assert_eq!(held, [begin, close]);
}

/// Runs an MGS (at(1)) and members that ping it directly (member k at at(10 + k)) from `from`
/// to `to` ms, a millisecond at a time; returns the orders each member handed its driver.
fn run_direct(
    mgs: &mut Mgs<Box<[Slot]>>,
    members: &mut [&mut dyn Machine],
    (from, to): (u64, u64),
) -> Vec<Vec<wire::Order>> {
    let mut buf = [0u8; MAX_DATAGRAM];
    let mut orders = vec![Vec::new(); members.len()];
    for t in from..=to {
        let now = Instant(t);
        if mgs.poll_timeout().is_some_and(|d| d <= now) {
            mgs.handle_timeout(now);
        }
        for m in members.iter_mut() {
            if m.poll_timeout().is_some_and(|d| d <= now) {
                m.handle_timeout(now);
            }
        }
        loop {
            let mut quiet = true;
            for (k, m) in members.iter_mut().enumerate() {
                while let Some((_, len)) = m.poll_transmit(now, &mut buf) {
                    quiet = false;
                    mgs.handle(now, at(10 + k as u8), &buf[..len]);
                }
            }
            while let Some((dest, len)) = mgs.poll_transmit(now, &mut buf) {
                quiet = false;
                let Endpoint::V4 { ip: [_, _, _, last], .. } = dest else { continue };
                members[usize::from(last - 10)].handle(now, at(1), &buf[..len]);
            }
            if quiet {
                break;
            }
        }
        for (k, m) in members.iter_mut().enumerate() {
            while let Some(e) = m.poll_event() {
                if let Event::Order(o) = e {
                    orders[k].push(o);
                }
            }
        }
    }
    orders
}

/// The MGS (at(1)) of `generation`, started at `now`, closing windows from its start on.
fn mgs_of(generation: u32, now: u64) -> Mgs<Box<[Slot]>> {
    let mut config = MgsConfig::new(name("mgs").unwrap(), Generation(generation), keys());
    config.startup_hold_ms = 0;
    config.direct_clients_hold_ms = 0;
    Mgs::new(config, vec![None; 16].into_boxed_slice(), Instant(now))
}

/// A server of testfs-OST0000 pinging the MGS at(1), its window `window_ms` long.
fn server_of(generation: u32, window_ms: u32) -> Server {
    server_named("oss0", generation, window_ms)
}

/// The configuration of server `server` of testfs-OST0000, pinging the MGS at(1).
fn server_config(server: &str, generation: u32, window_ms: u32) -> ServerConfig {
    ServerConfig {
        member: MemberConfig {
            name: name(server).unwrap(),
            generation: Generation(generation),
            parents: [at(1)].into_iter().collect(),
            keys: keys(),
            timing: Timing::default(),
        },
        target: name("testfs-OST0000").unwrap(),
        addrs: Default::default(),
        window_ms,
    }
}

/// [`server_of`] named `server`.
fn server_named(server: &str, generation: u32, window_ms: u32) -> Server {
    let mut s = Server::new(server_config(server, generation, window_ms), Instant(0));
    let id = s.id();
    meet(&mut s, id, at(1), "mgs", 0);
    s
}

#[test]
fn the_close_hook_runs_once_per_target_instance_across_an_mgs_restart() {
    let mut s = server_of(7, 300_000);
    let mut c = client_of("c0", 1, at(1), "mgs");
    // MGS generation 1 orders the recovery; the client reconnects; the window is ordered closed.
    let mut mgs = mgs_of(1, 0);
    run_direct(&mut mgs, &mut [&mut c], (0, 500));
    let orders = run_direct(&mut mgs, &mut [&mut c, &mut s], (500, 1_000));
    assert_eq!(orders[0].len(), 1, "{orders:?}");
    assert!(c.order_done(Instant(1_000), orders[0][0].id, true));
    let orders = run_direct(&mut mgs, &mut [&mut c, &mut s], (1_000, 2_000));
    let first_close = &orders[1];
    assert!(
        matches!(&first_close[..], [wire::Order { action: Action::CloseWindow { .. }, .. }]),
        "{orders:?}"
    );
    // The MGS restarts while the server's close hook still runs: the new MGS sees the target
    // recovering, orders the same restart again and closes its window with an order of its own.
    let mut mgs = mgs_of(2, 2_001);
    let orders = run_direct(&mut mgs, &mut [&mut c, &mut s], (2_001, 6_000));
    let closes = mgs.recoveries().iter().filter(|r| r.closed().is_some()).count();
    assert_eq!(closes, 1, "the restarted MGS closed the window too: {:?}", mgs.recoveries());
    assert!(orders.iter().all(Vec::is_empty), "nothing carried out twice: {orders:?}");
    // The hook finishes; the target is up. A late close of the same instance changes nothing.
    assert!(s.order_done(Instant(6_000), first_close[0].id, true));
    assert_eq!(s.target_state(), wire::TargetState::Up);
    let mut mgs = mgs_of(3, 6_001);
    let orders = run_direct(&mut mgs, &mut [&mut c, &mut s], (6_001, 9_000));
    assert!(orders.iter().all(Vec::is_empty), "{orders:?}");
    let progress = mgs.recoveries().first().map(|r| r.progress);
    assert!(progress.is_none(), "a target up is not recovered: {progress:?}");
}

#[test]
fn a_client_never_recovers_an_older_instance_of_a_target_again_however_many_orders_came_since() {
    let mut c = client_of("c0", 1, at(1), "mgs");
    let mut mgs = mgs_of(1, 0);
    run_direct(&mut mgs, &mut [&mut c], (0, 500));
    let mut now = 500;
    // Orders one recovery of `target`'s `instance` and carries it out; the orders the client
    // was handed.
    let mut recover = |mgs: &mut Mgs<Box<[Slot]>>, c: &mut Client, target: &str, instance: u32| {
        let target = name(target).unwrap();
        mgs.recover_instance(Instant(now), target, Generation(instance), Default::default()).unwrap();
        let handed = run_direct(mgs, &mut [&mut *c], (now, now + 100)).remove(0);
        for o in &handed {
            assert!(c.order_done(Instant(now + 100), o.id, true));
        }
        // Past the grace a closed manual recovery holds its place for: the next one is taken.
        let grace = Timing::default().dead_ms(Timing::default().ping_interval_ms);
        run_direct(mgs, &mut [&mut *c], (now + 100, now + 500 + grace));
        now += 500 + grace;
        handed.len()
    };
    assert_eq!(recover(&mut mgs, &mut c, "testfs-OST0000", 1), 1);
    assert_eq!(recover(&mut mgs, &mut c, "testfs-OST0000", 2), 1, "a newer instance is carried out");
    // Twenty other recoveries, of ten targets: more than the client keeps reports of.
    for k in 1..=10 {
        for instance in [1, 2] {
            assert_eq!(recover(&mut mgs, &mut c, &format!("testfs-OST{k:04}"), instance), 1);
        }
    }
    // A status holder that missed instance 2 orders instance 1 again; another re-orders 2.
    assert_eq!(recover(&mut mgs, &mut c, "testfs-OST0000", 1), 0, "an older instance is stale");
    assert_eq!(recover(&mut mgs, &mut c, "testfs-OST0000", 2), 0, "instance 2 was recovered");
    assert_eq!(recover(&mut mgs, &mut c, "testfs-OST0000", 3), 1, "a newer one is carried out");
    let last = mgs.recoveries().iter().rev().find(|r| r.target.as_str() == "testfs-OST0000").unwrap();
    assert_eq!((last.progress.live, last.progress.reconnected), (1, 1), "{last:?}");
}

#[test]
fn an_admin_retry_of_a_recovery_carries_it_out_again_where_it_failed() {
    let mut s = server_of(7, 300_000);
    let (mut c0, mut c1) = (client_of("c0", 1, at(1), "mgs"), client_of("c1", 1, at(1), "mgs"));
    let mut mgs = mgs_of(1, 0);
    run_direct(&mut mgs, &mut [&mut c0, &mut c1], (0, 500));
    let orders = run_direct(&mut mgs, &mut [&mut c0, &mut c1, &mut s], (500, 1_000));
    let begin = orders[0][0].id;
    assert_eq!(orders[1][0].id, begin);
    // c0's reconnect fails at every try (its hook runs again after one ping interval, then
    // two), c1's works: the window waits for c0, failed after its last try.
    assert!(c1.order_done(Instant(1_000), begin, true));
    let interval = u64::from(Timing::default().ping_interval_ms);
    let mut now = 1_000;
    for wait in [interval, 2 * interval] {
        assert!(c0.order_done(Instant(now), begin, false));
        let orders = run_direct(&mut mgs, &mut [&mut c0, &mut c1, &mut s], (now, now + wait + 100));
        assert_eq!(orders[0].iter().map(|o| o.id).collect::<Vec<_>>(), [begin], "c0 tries again");
        let r = &mgs.recoveries()[0];
        assert_eq!((r.progress.reconnected, r.progress.failed), (1, 0), "not failed yet: {r:?}");
        now += wait + 100;
    }
    assert!(c0.order_done(Instant(now), begin, false));
    run_direct(&mut mgs, &mut [&mut c0, &mut c1, &mut s], (now, now + 2_000));
    now += 2_000;
    let r = &mgs.recoveries()[0];
    assert_eq!((r.progress.live, r.progress.reconnected, r.progress.failed), (2, 1, 1), "{r:?}");
    assert_eq!(r.failed, [c0.id()], "the MGS names the client that failed: {r:?}");
    // The admin retries: the same recovery (instance 7) ordered again. It stays the recovery
    // (no automatic order replaces it); c0 reconnects again, c1 only reports.
    let target = name("testfs-OST0000").unwrap();
    let retry = mgs.recover(Instant(now), target, Default::default()).unwrap();
    let orders = run_direct(&mut mgs, &mut [&mut c0, &mut c1, &mut s], (now, now + 2_000));
    now += 2_000;
    assert_eq!(mgs.recoveries()[0].order(), Some(retry), "{:?}", mgs.recoveries());
    assert_eq!(mgs.recoveries()[0].target_generation, Generation(7));
    assert_eq!(orders[0].iter().map(|o| o.id).collect::<Vec<_>>(), [retry], "c0 retries");
    assert!(orders[1].is_empty(), "c1 reconnected already: {orders:?}");
    assert!(c0.order_done(Instant(now), retry, true));
    run_direct(&mut mgs, &mut [&mut c0, &mut c1, &mut s], (now, now + 1_000));
    let r = &mgs.recoveries()[0];
    assert_eq!((r.progress.reconnected, r.progress.failed), (2, 0), "{r:?}");
    assert!(r.failed.is_empty(), "c0 reconnected on the retry: no longer named failed {r:?}");
    assert!(r.closed().is_some(), "every live client back: closed {r:?}");
}

#[test]
fn a_client_that_failed_every_try_is_named_by_its_router_to_the_mgs() {
    let mut mgs = test_mgs();
    let mut rslots: [Slot; 16] = empty_slots();
    let mut r = settled_router("r1", 1, &mut rslots[..]);
    let mut c = client("c0", 1, at(2));
    run_three(&mut mgs, &mut r, &mut c, (0, 3_000), &mut |_, _, _| true);
    let order = mgs.recover(Instant(3_000), name("testfs-OST0000").unwrap(), Default::default()).unwrap();
    run_three(&mut mgs, &mut r, &mut c, (3_000, 4_000), &mut |_, _, _| true);
    // The client's reconnect fails at every try: tried again after one ping interval, then
    // two; named only after the last, while the count says how many failed.
    let interval = u64::from(Timing::default().ping_interval_ms);
    let mut now = 4_000;
    for wait in [interval, 2 * interval, 2_000] {
        assert!(c.order_done(Instant(now), order, false));
        run_three(&mut mgs, &mut r, &mut c, (now, now + wait + 100), &mut |_, _, _| true);
        now += wait + 100;
        mgs.handle_timeout(Instant(now));
        let rec = &mgs.recoveries()[0];
        if wait != 2_000 {
            assert!(rec.failed.is_empty() && rec.progress.failed == 0, "named before its last try: {rec:?}");
        }
    }
    let rec = &mgs.recoveries()[0];
    assert_eq!((rec.progress.live, rec.progress.failed), (1, 1), "{rec:?}");
    assert_eq!(rec.failed, [c.id()], "the router named its failed client upward: {rec:?}");
}

#[test]
fn past_eight_failed_clients_the_mgs_names_eight_and_counts_them_all() {
    let mut mgs = test_mgs();
    let mut rslots: [Slot; 16] = empty_slots();
    let mut r = settled_router("r1", 1, &mut rslots[..]);
    let mut clients: Vec<Client> = (0..10).map(|k| client(&format!("c{k}"), 1, at(2))).collect();
    let all = &mut |_, _, _: &[u8]| true;
    run_many(&mut mgs, &mut r, &mut clients, (0, 3_000), all);
    let order = mgs.recover(Instant(3_000), name("testfs-OST0000").unwrap(), Default::default()).unwrap();
    run_many(&mut mgs, &mut r, &mut clients, (3_000, 4_000), all);
    // Every client's reconnect fails at every try (the first and two retries).
    let interval = u64::from(Timing::default().ping_interval_ms);
    let mut now = 4_000;
    for wait in [interval, 2 * interval, 2_000] {
        for c in clients.iter_mut() {
            assert!(c.order_done(Instant(now), order, false));
        }
        run_many(&mut mgs, &mut r, &mut clients, (now, now + wait + 100), all);
        now += wait + 100;
    }
    mgs.handle_timeout(Instant(now));
    let rec = &mgs.recoveries()[0];
    assert_eq!((rec.progress.live, rec.progress.failed), (10, 10), "every failure counted: {rec:?}");
    assert_eq!(rec.failed.len(), wire::MAX_FAILED, "the first eight named: {rec:?}");
    let ids: Vec<_> = clients.iter().map(Client::id).collect();
    assert!(rec.failed.iter().all(|f| ids.contains(f)), "only failed clients named: {rec:?}");
    let mut named = rec.failed.to_vec();
    named.sort();
    named.dedup();
    assert_eq!(named.len(), wire::MAX_FAILED, "no client named twice: {rec:?}");
}

#[test]
fn a_server_following_its_filesystem_restarts_on_a_new_instance_and_close_names_the_dead() {
    use wire::TargetState::{Recovering, Up};
    let timing = Timing::default();
    // The daemon starts with the target mounted and recovered: instance 3, up.
    let mut s = server_of(7, 300_000);
    s.follow_target(Instant(0), Generation(3), Up);
    let (mut c0, mut c1) = (client_of("c0", 1, at(1), "mgs"), client_of("c1", 1, at(1), "mgs"));
    // Each client reports its Lustre mounts; c1 remounts once (a new client UUID) before dying.
    let tag = |uuid: &str| wire::mount_tag(uuid);
    c0.set_mounts(Instant(0), &[tag("uuid-c0")]);
    c1.set_mounts(Instant(0), &[tag("uuid-c1-old")]);
    let mut mgs = mgs_of(1, 0);
    let orders = run_direct(&mut mgs, &mut [&mut c0, &mut c1, &mut s], (0, 500));
    assert!(orders.iter().all(Vec::is_empty) && mgs.recoveries().is_empty(), "{orders:?}");
    c1.set_mounts(Instant(500), &[tag("uuid-c1-a"), tag("uuid-c1-b"), tag("uuid-c1-c")]);
    run_direct(&mut mgs, &mut [&mut c0, &mut c1, &mut s], (500, 1_000));
    // c1 dies.
    let mut t = 1_000 + timing.dead_ms(timing.ping_interval_ms) + 2 * u64::from(timing.ping_interval_ms);
    run_direct(&mut mgs, &mut [&mut c0, &mut s], (1_000, t));
    // The daemon restarts (a new boot generation) while the target stays mounted: nothing.
    let mut s = server_of(8, 300_000);
    s.follow_target(Instant(t), Generation(3), Up);
    let orders = run_direct(&mut mgs, &mut [&mut c0, &mut s], (t, t + 2_000));
    assert!(orders.iter().all(Vec::is_empty) && mgs.recoveries().is_empty(), "{orders:?}");
    // Lustre reports instance 3 recovering again (a window Vigil closed): not a restart either.
    s.follow_target(Instant(t + 2_000), Generation(3), Recovering);
    assert_eq!(s.target_state(), Up);
    // A remount: instance 4, recovering. c0 is ordered to reconnect to instance 4.
    t += 2_000;
    s.follow_target(Instant(t), Generation(4), Recovering);
    assert_eq!(s.target_state(), Recovering);
    let orders = run_direct(&mut mgs, &mut [&mut c0, &mut s], (t, t + 1_000));
    let begin = match &orders[0][..] {
        [o @ wire::Order { action: Action::BeginRecovery { target_generation: Generation(4), .. }, .. }] => {
            o.id
        }
        other => panic!("one BeginRecovery of instance 4: {other:?}"),
    };
    assert!(c0.order_done(Instant(t + 1_000), begin, true));
    let orders = run_direct(&mut mgs, &mut [&mut c0, &mut s], (t + 1_000, t + 2_000));
    match &orders[1][..] {
        [wire::Order {
            action: Action::CloseWindow { target_generation: Generation(4), dead, dead_mounts, .. },
            ..
        }] => {
            assert_eq!(&dead[..], [NodeId::from_name("c1")], "exactly the dead client");
            // Its mounts as last reported, the first MAX_MOUNTS of them.
            assert_eq!(&dead_mounts[..], [tag("uuid-c1-a"), tag("uuid-c1-b")], "its mounts");
        }
        other => panic!("one CloseWindow of instance 4: {other:?}"),
    }
}

#[test]
fn admin_recoveries_take_at_most_their_share_of_the_places_of_recoveries_under_way() {
    let mut mgs = test_mgs();
    let target = |i: usize| name(&format!("testfs-OST{i:04}")).unwrap();
    for i in 0..MAX_MANUAL_ORDERING {
        assert!(mgs.recover(Instant(1_000), target(i), Default::default()).is_ok(), "admin recovery {i}");
    }
    let refused = mgs.recover(Instant(1_000), target(MAX_MANUAL_ORDERING), Default::default());
    assert_eq!(refused, Err(mgs::RecoverError::AdminLimit));
    // Ordering one of the same targets again is not a new place.
    assert!(mgs.recover(Instant(1_500), target(0), Default::default()).is_ok());
}

#[test]
fn a_client_with_two_parents_counts_somewhere_when_its_home_link_fails() {
    // Each phase of the failure against the pings' and the silence checks' schedules.
    for cut_at in (20_000..22_000).step_by(125) {
        let lost = |t: u64, k: usize, _| k == 0 && t >= cut_at;
        let end = cut_at + 40_000;
        two_parents(end, lost, |t, _, routers| {
            if t >= 5_000 {
                assert!(counted(routers) >= 1, "cut at {cut_at}: c0 counts nowhere at {t} ms");
            }
            if t == end - 1 {
                assert_eq!(counted(routers), 1, "c0 counts at its second parent alone");
                assert!(counts_at(&routers[1]));
            }
        });
    }
}

#[test]
fn a_client_whose_old_home_answers_again_stays_at_its_new_home() {
    // c0's home hears its pings but its replies are lost for 10 s: past the suspect threshold
    // (6 s), short of the dead one (16 s). c0 moves to its other parent, and stays there when
    // its old home answers again: moving back would count it twice once more.
    let lost = |t: u64, k: usize, up: bool| k == 0 && !up && (10_000..20_000).contains(&t);
    let mut homes = vec![];
    two_parents(40_000, lost, |t, c, routers| {
        if homes.last() != Some(&c.home_parent()) {
            homes.push(c.home_parent());
        }
        if t >= 5_000 {
            assert!(counted(routers) >= 1, "c0 counts nowhere at {t} ms");
        }
    });
    assert_eq!(homes, [None, Some(at(2)), Some(at(3))], "one move, never back");
}

#[test]
fn a_moving_client_counts_at_its_old_home_until_the_new_one_accepted_it() {
    // c0's home stops answering for good; the first 3 s of pings to its new home are lost. Told
    // of the move first, the old home would count c0 nowhere meanwhile.
    let moved = std::cell::Cell::new(None);
    let lost = |t: u64, k: usize, up: bool| match (k, up) {
        (0, false) => t >= 10_000,
        (1, true) => moved.get().is_some_and(|m| t < m + 3_000),
        _ => false,
    };
    two_parents(40_000, lost, |t, c, routers| {
        if moved.get().is_none() && c.home_parent() == Some(at(3)) {
            moved.set(Some(t));
        }
        if t >= 5_000 {
            assert!(counted(routers) >= 1, "c0 counts nowhere at {t} ms");
        }
    });
    assert!(moved.get().is_some(), "c0 moved its home");
}

#[test]
fn an_older_ping_overtaken_on_the_way_does_not_make_a_parent_count_a_client_again() {
    // As above, c0 moves its home away from a parent whose replies are lost. Its last ping to
    // that parent while it was home comes after the ones that told it c0 left.
    let held = std::cell::RefCell::new(None);
    let released = std::cell::Cell::new(false);
    let mut ping_home = None;
    let fate = |t: u64, k: usize, up: bool, bytes: &[u8]| {
        if k == 0 && up && (8_000..10_000).contains(&t) && held.borrow().is_none() {
            *held.borrow_mut() = Some(bytes.to_vec());
            return true;
        }
        k == 0 && !up && (10_000..20_000).contains(&t)
    };
    two_parents_with(40_000, fate, |t, c, routers| {
        if t == 9_999 {
            ping_home = c.home_parent();
        }
        if t == 30_000 {
            let bytes = held.borrow_mut().take().expect("a ping to c0's first home was held");
            routers[0].handle(Instant(t), at(20), &bytes);
            released.set(true);
        }
        if t == 30_001 {
            assert_eq!(counted(routers), 1, "c0 counts at one parent");
            assert!(counts_at(&routers[1]), "its new home");
        }
    });
    assert_eq!(ping_home, Some(at(2)), "the held ping was sent while at(2) was c0's home");
    assert!(released.get());
}

/// Whether router `r` counts c0 in its order sums: c0 calls it home and it judges c0 live.
fn counts_at(r: &Router<&mut [Slot]>) -> bool {
    let e = r.table().get(NodeId::from_name("c0"));
    e.is_some_and(|e| e.direct.as_ref().is_some_and(|d| d.home))
        && e.and_then(|e| e.best_state()).is_some_and(NodeState::is_live)
}

/// How many of c0's parents count it.
fn counted(routers: &[Router<&mut [Slot]>; 2]) -> usize {
    routers.iter().filter(|r| counts_at(r)).count()
}

/// Runs [`two_parents_with`], losing what `lost(t, k, up)` says.
fn two_parents(
    until: u64,
    lost: impl Fn(u64, usize, bool) -> bool,
    each: impl FnMut(u64, &Client, &mut [Router<&mut [Slot]>; 2]),
) {
    two_parents_with(until, |t, k, up, _: &[u8]| lost(t, k, up), each)
}

/// c0 pinging two routers, at(2) (its first parent) and at(3), stepped a millisecond at a time
/// from 0 to `until`. `lost(t, k, up, bytes)` says whether a datagram between c0 and router `k`
/// at `t` is lost (`up`: from c0); replies take 5 ms back, so c0 hears a parent after it
/// pinged. `each(t, c0, routers)` runs at the end of every millisecond.
fn two_parents_with(
    until: u64,
    lost: impl Fn(u64, usize, bool, &[u8]) -> bool,
    mut each: impl FnMut(u64, &Client, &mut [Router<&mut [Slot]>; 2]),
) {
    let (mut s1, mut s2): ([Slot; 16], [Slot; 16]) = (empty_slots(), empty_slots());
    let mut routers = [router(&mut s1[..], &[]), router(&mut s2[..], &[])];
    let config = ClientConfig {
        name: name("c0").unwrap(),
        generation: Generation(1),
        parents: [at(2), at(3)].into_iter().collect(),
        keys: keys(),
        timing: Timing::default(),
    };
    let mut c = Client::new(config, Instant(0));
    let mut buf = [0u8; MAX_DATAGRAM];
    let mut replies = std::collections::VecDeque::new();
    for t in 0..until {
        let now = Instant(t);
        for r in routers.iter_mut() {
            if r.poll_timeout().is_some_and(|d| d <= now) {
                r.handle_timeout(now);
            }
        }
        if c.poll_timeout().is_some_and(|d| d <= now) {
            c.handle_timeout(now);
        }
        while let Some((to, len)) = c.poll_transmit(now, &mut buf) {
            let k = usize::from(to != at(2));
            if !lost(t, k, true, &buf[..len]) {
                routers[k].handle(now, at(20), &buf[..len]);
            }
        }
        for (k, r) in routers.iter_mut().enumerate() {
            while let Some((to, len)) = r.poll_transmit(now, &mut buf) {
                if to == at(20) && !lost(t, k, false, &buf[..len]) {
                    replies.push_back((t + 5, k, buf[..len].to_vec()));
                }
            }
        }
        while replies.front().is_some_and(|(at_, _, _)| *at_ <= t) {
            let Some((_, k, bytes)) = replies.pop_front() else { break };
            c.handle(now, at(2 + k as u8), &bytes);
        }
        while c.poll_event().is_some() {}
        each(t, &c, &mut routers);
    }
}

#[test]
fn an_mgs_whose_generation_went_backwards_is_taken_back_at_once() {
    let mut mgs = mgs_of(5, 0);
    let mut rslots: [Slot; 16] = empty_slots();
    let mut r = settled_router("r1", 1, &mut rslots[..]);
    let mut c = client("c0", 1, at(2));
    run_three(&mut mgs, &mut r, &mut c, (0, 5_000), &mut |_, _, _| true);
    let c_id = NodeId::from_name("c0");
    assert_eq!(mgs.node(c_id, Instant(5_000)).map(|v| v.state), Some(NodeState::Alive));
    // The MGS comes back with its state lost: generation 1, below the 5 its router heard.
    let mut mgs = mgs_of(1, 5_001);
    run_three(&mut mgs, &mut r, &mut c, (5_001, 8_000), &mut |_, _, _| true);
    assert_eq!(mgs.generation(), Generation(6), "raised above what the router heard");
    let raised = std::iter::from_fn(|| mgs.poll_event())
        .filter(|e| matches!(e, Event::GenerationRaised { generation: Generation(6), .. }));
    assert_eq!(raised.count(), 1);
    // Within a few update intervals the router took it as restarted and sent everything again.
    assert_eq!(mgs.node(c_id, Instant(8_000)).map(|v| v.state), Some(NodeState::Alive));
    assert_eq!(r.parents_up(), 1);
}

#[test]
fn the_passive_partner_of_a_failover_pair_does_not_hide_the_server_where_the_target_runs() {
    use wire::TargetState::{Down, Recovering, Up};
    use wire::{LustrePhase, LustreRecovery};
    let view = |phase, connected| LustreRecovery {
        phase,
        recoverable: 2,
        connected,
        evicted: 0,
        stale: 2 - connected,
        duration_s: 0,
    };
    let target = name("testfs-OST0000").unwrap();
    let reported = |mgs: &Mgs<Box<[Slot]>>| {
        let t = mgs.targets().find(|t| t.status.target == target).expect("the target").clone();
        (t.server, t.status.generation, t.status.state, t.status.lustre)
    };
    // oss0 runs the target (instance 3, up, Lustre's recovery complete); oss1, its partner,
    // has it not mounted.
    let (mut oss0, mut oss1) = (server_named("oss0", 7, 300_000), server_named("oss1", 9, 300_000));
    oss0.follow_target(Instant(0), Generation(3), Up);
    oss0.report_lustre(Instant(0), Some(view(LustrePhase::Complete, 2)));
    oss1.set_target_state(Instant(0), Down);
    let mut mgs = mgs_of(1, 0);
    let mut c = client("c0", 1, at(1));
    run_direct(&mut mgs, &mut [&mut c, &mut oss0, &mut oss1], (0, 5_000));
    let running = (NodeId::from_name("oss0"), Generation(3), Up, Some(view(LustrePhase::Complete, 2)));
    assert_eq!(reported(&mgs), running, "oss1's down report does not hide oss0's");
    // Lustre's view moves on (a recovery of oss0's): relayed.
    oss0.follow_target(Instant(5_000), Generation(4), Recovering);
    oss0.report_lustre(Instant(5_000), Some(view(LustrePhase::Recovering, 1)));
    run_direct(&mut mgs, &mut [&mut c, &mut oss0, &mut oss1], (5_000, 6_000));
    let recovering =
        (NodeId::from_name("oss0"), Generation(4), Recovering, Some(view(LustrePhase::Recovering, 1)));
    assert_eq!(reported(&mgs), recovering);
    // A failover: oss1 mounts the target as instance 5 and takes the record over.
    oss0.set_target_state(Instant(6_000), Down);
    oss0.report_lustre(Instant(6_000), None);
    oss1.follow_target(Instant(6_000), Generation(5), Recovering);
    run_direct(&mut mgs, &mut [&mut c, &mut oss0, &mut oss1], (6_000, 8_000));
    assert_eq!(reported(&mgs), (NodeId::from_name("oss1"), Generation(5), Recovering, None));
}

/// The outcomes client `c` reports in its pings from `now` on (drained until it has none).
fn reported(c: &mut Client, now: u64) -> Vec<wire::Outcome> {
    let mut buf = [0u8; MAX_DATAGRAM];
    let mut out = Vec::new();
    while let Some((_, len)) = c.poll_transmit(Instant(now), &mut buf) {
        if let Message::Ping(p) = wire::decode(&buf[..len], &keys()).unwrap().1 {
            out.extend(p.reports.iter().map(|r| r.outcome));
        }
    }
    out
}

#[test]
fn a_failed_reconnect_is_tried_again_with_back_off_and_reported_failed_after_the_last_try() {
    let mut c = client("c0", 1, at(1));
    let order = begin_recovery(1, "testfs-OST0000", 5, 0);
    // The order as c0's parent r1 pushes it to `to` (each datagram names its receiver).
    let pushed = |to: NodeId| {
        let mut buf = [0u8; MAX_DATAGRAM];
        let (parent, message) = (NodeId::from_name("r1"), Message::Order(order.clone()));
        let len = wire::encode(parent, to, Generation(1), 1, &message, &keys().current, &mut buf).unwrap();
        buf[..len].to_vec()
    };
    c.handle(Instant(0), at(1), &pushed(c.id()));
    let handed = |c: &mut Client| {
        std::iter::from_fn(|| c.poll_event())
            .filter(|e| matches!(e, Event::Order(o) if o.id == order.id))
            .count()
    };
    assert_eq!(handed(&mut c), 1);
    assert!(reported(&mut c, 0).contains(&wire::Outcome::Applied));
    let interval = u64::from(Timing::default().ping_interval_ms);
    // Two failures: each time the hook is handed the order again, one interval later, then two;
    // meanwhile the client reports it applied, not failed.
    let mut now = 10;
    for wait in [interval, 2 * interval] {
        assert!(c.order_done(Instant(now), order.id, false));
        assert!(!reported(&mut c, now).contains(&wire::Outcome::Failed), "failed before its last try");
        assert!(c.poll_timeout().is_some_and(|t| t.0 <= now + wait), "the driver wakes for the retry");
        c.handle_timeout(Instant(now + wait - 1));
        assert_eq!(handed(&mut c), 0, "not before its back-off");
        now += wait;
        c.handle_timeout(Instant(now));
        assert_eq!(handed(&mut c), 1, "tried again after {wait} ms");
    }
    // The third failure is the last: reported failed, never handed again.
    assert!(c.order_done(Instant(now), order.id, false));
    assert!(reported(&mut c, now).contains(&wire::Outcome::Failed));
    c.handle_timeout(Instant(now + 10 * interval));
    assert_eq!(handed(&mut c), 0);

    // A retry that works reports reconnected.
    let mut c = client("c1", 1, at(1));
    c.handle(Instant(0), at(1), &pushed(c.id()));
    assert_eq!(handed(&mut c), 1);
    assert!(c.order_done(Instant(10), order.id, false));
    c.handle_timeout(Instant(10 + interval));
    assert_eq!(handed(&mut c), 1);
    assert!(c.order_done(Instant(20 + interval), order.id, true));
    let outcomes = reported(&mut c, 20 + interval);
    assert!(outcomes.contains(&wire::Outcome::Reconnected) && !outcomes.contains(&wire::Outcome::Failed));
}

/// Every datagram `m` sends now, as bytes, with its destination.
fn sent(m: &mut impl Machine, now: u64) -> Vec<(Endpoint, Vec<u8>)> {
    let mut buf = [0u8; MAX_DATAGRAM];
    std::iter::from_fn(|| m.poll_transmit(Instant(now), &mut buf).map(|(to, len)| (to, buf[..len].to_vec())))
        .collect()
}

#[test]
fn a_ping_replayed_away_from_its_router_is_misdirected_and_adds_no_path() {
    let mut mgs = test_mgs();
    let mut rslots: [Slot; 16] = empty_slots();
    let mut r = settled_router("r1", 1, &mut rslots[..]);
    let mut c = client("c0", 1, at(2));
    let c0 = c.id();
    // c0 joins through r1 and the MGS learns it from r1's update: one path, through r1.
    run_three(&mut mgs, &mut r, &mut c, (0, 3_000), &mut |_, _, _| true);
    let view = mgs.node(c0, Instant(3_000)).expect("the MGS knows c0 through r1");
    assert_eq!((view.state, view.parents.as_slice()), (NodeState::Alive, &[r.id()][..]), "{view:?}");
    // A ping captured on its way to r1, replayed to the MGS from another port.
    let t = c.poll_timeout().unwrap().0;
    c.handle_timeout(Instant(t));
    let captured = ping_of(&mut c, t);
    assert_eq!(wire::peek_header(&captured).unwrap().receiver, r.id());
    let before = *mgs.counters();
    mgs.handle(Instant(t + 1), at(66), &captured);
    assert_eq!(mgs.counters().misdirected, before.misdirected + 1);
    assert_eq!(mgs.counters().replayed, before.replayed, "not a replay at the MGS: misdirected");
    assert!(sent(&mut mgs, t + 1).is_empty(), "no answer");
    let view = mgs.node(c0, Instant(t + 1)).unwrap();
    assert_eq!(view.parents.as_slice(), &[r.id()][..], "no path through the MGS: {view:?}");
    // The ping itself still counts at r1.
    r.handle(Instant(t + 2), at(20), &captured);
    assert_eq!(r.counters().misdirected, 0);
}

#[test]
fn a_first_contact_is_answered_with_the_parents_id_and_nothing_of_it_is_taken() {
    let mut mgs = test_mgs();
    let config = ClientConfig {
        name: name("c0").unwrap(),
        generation: Generation(1),
        parents: [at(1)].into_iter().collect(),
        keys: keys(),
        timing: Timing::default(),
    };
    let mut c = Client::new(config, Instant(0));
    let first = ping_of(&mut c, 0);
    assert!(wire::peek_header(&first).unwrap().unaddressed());
    // Replayed (any number of times, from anywhere), a first contact makes no node.
    let mut answer = Vec::new();
    for k in 0..3 {
        mgs.handle(Instant(1), at(50 + k), &first);
        let mut out = sent(&mut mgs, 1);
        assert_eq!(out.len(), 1);
        let (to, bytes) = out.remove(0);
        assert_eq!(to, at(50 + k), "answered where it came from");
        let (header, Message::PingReply(reply)) = wire::decode(&bytes, &keys()).unwrap() else {
            panic!("not a reply")
        };
        assert_eq!((header.sender, header.receiver), (mgs.id(), c.id()));
        assert_eq!(reply.status, ReplyStatus::Unaddressed);
        assert!(reply.orders.is_empty());
        answer = bytes;
    }
    assert!(mgs.node(c.id(), Instant(1)).is_none(), "nothing taken from a first contact");
    assert_eq!(mgs.counters().replayed, 0, "no replay window was started");
    // The answer reaches the client: its next ping, at once, is addressed and taken.
    c.handle(Instant(2), at(1), &answer);
    let next = ping_of(&mut c, 2);
    assert_eq!(wire::peek_header(&next).unwrap().receiver, mgs.id());
    mgs.handle(Instant(3), at(2), &next);
    assert_eq!(mgs.node(c.id(), Instant(3)).map(|v| v.state), Some(NodeState::Alive));
}

#[test]
fn a_datagram_to_one_of_two_parents_is_worthless_at_the_other() {
    // A client with two routers as parents, and a router with two status holders.
    let mut slots_a: [Slot; 16] = empty_slots();
    let mut slots_b: [Slot; 16] = empty_slots();
    let (mut a, mut b) = (router(&mut slots_a, &[]), {
        let config =
            RouterConfig::new(name("r2").unwrap(), Generation(1), [at(1)].into_iter().collect(), keys());
        Router::new(config, &mut slots_b[..], Instant(0))
    });
    let config = ClientConfig {
        name: name("c0").unwrap(),
        generation: Generation(1),
        parents: [at(2), at(3)].into_iter().collect(),
        keys: keys(),
        timing: Timing::default(),
    };
    let mut c = Client::new(config, Instant(0));
    let id = c.id();
    meet(&mut c, id, at(2), "r1", 0);
    let id = c.id();
    let mut buf = [0u8; MAX_DATAGRAM];
    let reply = Message::PingReply(PingReply {
        interval_ms: 2_000,
        status: ReplyStatus::Unaddressed,
        ack: 0,
        orders: Default::default(),
    });
    let len = wire::encode(b.id(), id, Generation(1), 0, &reply, &keys().current, &mut buf).unwrap();
    c.handle(Instant(0), at(3), &buf[..len]);
    let pings = sent(&mut c, 0);
    assert_eq!(pings.len(), 2, "one ping to each parent");
    // Each parent's ping is first replayed to the other parent: misdirected, unanswered.
    for (to, ping) in &pings {
        let (right, wrong) = if *to == at(2) { (&mut a, &mut b) } else { (&mut b, &mut a) };
        wrong.handle(Instant(1), at(66), ping);
        assert_eq!(wrong.counters().misdirected, 1);
        assert!(drain(wrong, 1).is_empty(), "no answer to a misdirected ping");
        right.handle(Instant(1), at(20), ping);
        assert!(right.table().get(c.id()).is_some());
        drain(right, 1);
    }
    assert_eq!((a.counters().misdirected, b.counters().misdirected), (1, 1));
    // A router's update to one status holder, replayed to the other.
    let mut m1 = test_mgs();
    let mut config = MgsConfig::new(name("mgs2").unwrap(), Generation(1), keys());
    config.startup_hold_ms = 0;
    let mut m2: Mgs<Box<[Slot]>> = Mgs::new(config, vec![None; 16].into_boxed_slice(), Instant(0));
    let parents = [at(1), at(4)].into_iter().collect();
    let mut config = RouterConfig::new(name("r9").unwrap(), Generation(1), parents, keys());
    config.settle_ms = 0;
    let mut slots: [Slot; 16] = empty_slots();
    let mut r: Router<&mut [Slot]> = Router::new(config, &mut slots[..], Instant(0));
    let id = r.id();
    meet(&mut r, id, at(1), "mgs", 0);
    let len = wire::encode(m2.id(), id, Generation(1), 0, &reply, &keys().current, &mut buf).unwrap();
    r.handle(Instant(0), at(4), &buf[..len]);
    assert_eq!(r.poll_event(), Some(Event::ParentUp { addr: at(4) }));
    let updates = sent(&mut r, 0);
    let to_m1 = updates.iter().find(|(to, _)| *to == at(1)).expect("an update to the first holder");
    m2.handle(Instant(1), at(9), &to_m1.1);
    assert_eq!(m2.counters().misdirected, 1);
    assert!(m2.node(id, Instant(1)).is_none(), "the second holder took nothing");
    m1.handle(Instant(1), at(9), &to_m1.1);
    assert_eq!(m1.counters().misdirected, 0);
    assert!(m1.node(id, Instant(1)).is_some());
}

#[test]
fn clients_started_together_spread_their_pings_after_the_first_contact() {
    let interval = u64::from(Timing::default().ping_interval_ms);
    // Each client's first contact goes at 0 and is answered at 1; its addressed ping goes at
    // once. When does the ping after that go?
    let next_ping = |name: &str| {
        let config = ClientConfig {
            name: vigil_proto::name(name).unwrap(),
            generation: Generation(1),
            parents: [at(1)].into_iter().collect(),
            keys: keys(),
            timing: Timing::default(),
        };
        let mut c = Client::new(config, Instant(0));
        assert!(wire::peek_header(&ping_of(&mut c, 0)).unwrap().unaddressed());
        let id = c.id();
        meet(&mut c, id, at(1), "r1", 1);
        let header = wire::peek_header(&ping_of(&mut c, 1)).unwrap();
        assert!(!header.unaddressed());
        // Answered (unanswered, it would go again within `resend_ms`s).
        let reply = Message::PingReply(PingReply {
            interval_ms: interval as u32,
            status: ReplyStatus::Accepted,
            ack: header.sequence,
            orders: Default::default(),
        });
        let mut buf = [0u8; MAX_DATAGRAM];
        let len =
            wire::encode(NodeId::from_name("r1"), id, Generation(1), 1, &reply, &keys().current, &mut buf)
                .unwrap();
        c.handle(Instant(2), at(1), &buf[..len]);
        c.poll_timeout().unwrap().0
    };
    let next: Vec<u64> = (0..8).map(|i| next_ping(&format!("c{i}"))).collect();
    // Spread over the second half of the interval, as first pings are: a thousand clients of a
    // router that boot together do not ping it in one burst every interval.
    assert!(next.iter().all(|t| (1 + interval / 2..1 + interval).contains(t)), "{next:?}");
    let mut distinct = next.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(distinct.len() > 4, "{next:?}");
}

#[test]
fn a_client_whose_first_contacts_reach_the_mgs_unanswered_holds_a_window_open() {
    let dead_ms = Timing::default().dead_ms(Timing::default().ping_interval_ms);
    let mut mgs = mgs_of(1, 0);
    let mut c0 = client_of("c0", 1, at(1), "mgs");
    // c1's first contacts reach the MGS, every answer to them is lost (30% loss both ways makes
    // that a few seconds for one client in a few hundred): it pings all along and is never met.
    let config = ClientConfig {
        name: name("c1").unwrap(),
        generation: Generation(1),
        parents: [at(1)].into_iter().collect(),
        keys: keys(),
        timing: Timing::default(),
    };
    let mut c1 = Client::new(config, Instant(0));
    let mut buf = [0u8; MAX_DATAGRAM];
    let mut first_contacts = 0;
    let mut step = |mgs: &mut Mgs<Box<[Slot]>>, c0: &mut Client, c1: &mut Client, t: u64, c1_pings: bool| {
        let now = Instant(t);
        let mut sent_now = 0;
        if c1_pings {
            if c1.poll_timeout().is_some_and(|d| d <= now) {
                c1.handle_timeout(now);
            }
            while let Some((_, len)) = c1.poll_transmit(now, &mut buf) {
                assert!(wire::peek_header(&buf[..len]).unwrap().unaddressed());
                sent_now += 1;
                mgs.handle(now, at(50), &buf[..len]);
                assert!(sent(mgs, t).iter().all(|(to, _)| *to == at(50)), "only c1 was answered");
            }
        }
        for o in run_direct(mgs, &mut [c0], (t, t)).remove(0) {
            assert!(c0.order_done(now, o.id, true));
        }
        sent_now
    };
    for t in 0..2_000 {
        first_contacts += step(&mut mgs, &mut c0, &mut c1, t, true);
    }
    assert!(mgs.node(c0.id(), Instant(2_000)).is_some());
    assert!(mgs.node(c1.id(), Instant(2_000)).is_none(), "a first contact makes no node");
    let target = name("testfs-OST0000").unwrap();
    mgs.recover(Instant(2_000), target, Default::default()).unwrap();
    // Past a dead threshold: c1 is no longer a node that has just come.
    let silent_from = 2_000 + dead_ms + 4_000;
    for t in 2_000..silent_from {
        first_contacts += step(&mut mgs, &mut c0, &mut c1, t, true);
    }
    assert!(first_contacts >= 10, "{first_contacts}");
    let recovery = &mgs.recoveries()[0];
    assert_eq!(recovery.progress.reconnected, 1, "c0 is back: {recovery:?}");
    assert!(!recovery.window_closed(), "closed while c1 pings the MGS: {recovery:?}");
    // c1 falls silent: once it would be dead, the window closes without it.
    for t in silent_from..silent_from + dead_ms + 1_000 {
        step(&mut mgs, &mut c0, &mut c1, t, false);
    }
    let recovery = &mgs.recoveries()[0];
    assert!(recovery.window_closed(), "{recovery:?}");
}

/// A parent that lost its table (here a restarted MGS; a restarted router alike) hears a known
/// client's addressed pings without its name and asks for it; while every answer is lost the
/// client, alive and pinging, must hold a window open as a client reaching it only by first
/// contacts does, until it is admitted or silent for a dead threshold.
#[test]
fn a_client_a_restarted_parent_hears_but_does_not_know_holds_a_window_open() {
    let dead_ms = Timing::default().dead_ms(Timing::default().ping_interval_ms);
    let mut c0 = client_of("c0", 1, at(10), "mgs");
    let mut c1 = client_of("c1", 1, at(11), "mgs");
    let mut mgs = mgs_of(1, 0);
    run_direct(&mut mgs, &mut [&mut c0, &mut c1], (0, 2_000));
    assert!(mgs.node(c1.id(), Instant(2_000)).is_some_and(|v| v.state == NodeState::Alive));
    // The MGS restarts with an empty table; every answer to c1 is lost from now on.
    let mut mgs = mgs_of(2, 2_001);
    let mut buf = [0u8; MAX_DATAGRAM];
    let mut unknown_pings = 0;
    let mut step = |mgs: &mut Mgs<Box<[Slot]>>, c0: &mut Client, c1: &mut Client, t: u64, c1_pings: bool| {
        let now = Instant(t);
        let mut addressed = 0;
        if c1_pings {
            if c1.poll_timeout().is_some_and(|d| d <= now) {
                c1.handle_timeout(now);
            }
            while let Some((_, len)) = c1.poll_transmit(now, &mut buf) {
                addressed += usize::from(!wire::peek_header(&buf[..len]).unwrap().unaddressed());
                mgs.handle(now, at(50), &buf[..len]);
                assert!(sent(mgs, t).iter().all(|(to, _)| *to == at(50)), "only c1 was answered");
            }
        }
        for o in run_direct(mgs, &mut [c0], (t, t)).remove(0) {
            assert!(c0.order_done(now, o.id, true));
        }
        addressed
    };
    for t in 2_001..4_000 {
        unknown_pings += step(&mut mgs, &mut c0, &mut c1, t, true);
    }
    assert!(mgs.node(c1.id(), Instant(4_000)).is_none(), "c1 was never admitted");
    let target = name("testfs-OST0000").unwrap();
    mgs.recover(Instant(4_000), target, Default::default()).unwrap();
    let silent_from = 4_000 + dead_ms;
    for t in 4_000..silent_from {
        unknown_pings += step(&mut mgs, &mut c0, &mut c1, t, true);
    }
    assert!(unknown_pings >= 5, "c1's pings reached the MGS addressed: {unknown_pings}");
    let recovery = &mgs.recoveries()[0];
    assert_eq!(recovery.progress.reconnected, 1, "c0 is back: {recovery:?}");
    assert!(!recovery.window_closed(), "closed while c1 pings the MGS: {recovery:?}");
    // c1 falls silent: once it would be dead, the window closes without it.
    for t in silent_from..silent_from + dead_ms + 1_000 {
        step(&mut mgs, &mut c0, &mut c1, t, false);
    }
    let recovery = &mgs.recoveries()[0];
    assert!(recovery.window_closed(), "{recovery:?}");
}

/// A client that rebooted reaches its parent by first contacts while its old instance still
/// counts (silent, not yet dead there), and every answer is lost. Once the old instance is
/// declared dead the new one must count as a stranger at once, not from its next first contact
/// that gets through: a window closed in between without it.
#[test]
fn a_rebooted_client_heard_only_by_first_contacts_holds_a_window_open_past_its_old_instances_death() {
    let dead_ms = Timing::default().dead_ms(Timing::default().ping_interval_ms);
    let mut c0 = client_of("c0", 1, at(10), "mgs");
    let mut c1 = client_of("c1", 1, at(11), "mgs");
    let mut mgs = mgs_of(1, 0);
    let mut buf = [0u8; MAX_DATAGRAM];
    // One ms of the MGS, c0 (answered, its orders carried out) and c1 if it runs (answered if
    // `c1_answered`).
    let mut step =
        |mgs: &mut Mgs<Box<[Slot]>>, c0: &mut Client, c1: Option<&mut Client>, t: u64, c1_answered| {
            let now = Instant(t);
            let mut c1 = c1;
            if mgs.poll_timeout().is_some_and(|d| d <= now) {
                mgs.handle_timeout(now);
            }
            for c in [Some(&mut *c0), c1.as_deref_mut()].into_iter().flatten() {
                if c.poll_timeout().is_some_and(|d| d <= now) {
                    c.handle_timeout(now);
                }
            }
            loop {
                let mut quiet = true;
                while let Some((_, len)) = c0.poll_transmit(now, &mut buf) {
                    quiet = false;
                    mgs.handle(now, at(10), &buf[..len]);
                }
                if let Some(c1) = c1.as_deref_mut() {
                    while let Some((_, len)) = c1.poll_transmit(now, &mut buf) {
                        quiet = false;
                        mgs.handle(now, at(11), &buf[..len]);
                    }
                }
                while let Some((to, len)) = mgs.poll_transmit(now, &mut buf) {
                    quiet = false;
                    match c1.as_deref_mut() {
                        _ if to == at(10) => c0.handle(now, at(1), &buf[..len]),
                        Some(c1) if c1_answered => c1.handle(now, at(1), &buf[..len]),
                        _ => {}
                    }
                }
                if quiet {
                    break;
                }
            }
            while let Some(e) = c0.poll_event() {
                if let Event::Order(o) = e {
                    assert!(c0.order_done(now, o.id, true));
                }
            }
            if let Some(c1) = c1 {
                while c1.poll_event().is_some() {}
            }
        };
    for t in 0..2_000 {
        step(&mut mgs, &mut c0, Some(&mut c1), t, true);
    }
    assert!(mgs.node(c1.id(), Instant(2_000)).is_some_and(|v| v.state == NodeState::Alive));
    // c1 crashes at 2,000 and boots again at 4,000 with generation 2, unmet: first contacts,
    // every answer to which is lost.
    for t in 2_000..4_000 {
        step(&mut mgs, &mut c0, None, t, false);
    }
    let config = ClientConfig {
        name: name("c1").unwrap(),
        generation: Generation(2),
        parents: [at(1)].into_iter().collect(),
        keys: keys(),
        timing: Timing::default(),
    };
    let mut c1 = Client::new(config, Instant(4_000));
    let target = name("testfs-OST0000").unwrap();
    mgs.recover(Instant(4_000), target, Default::default()).unwrap();
    // The old instance, last heard before 2,000, is dead by 2,000 + dead_ms; the new one pings on.
    let silent_from = 4_000 + dead_ms + 2_000;
    for t in 4_000..silent_from {
        step(&mut mgs, &mut c0, Some(&mut c1), t, false);
    }
    let old = mgs.node(c1.id(), Instant(silent_from)).map(|v| (v.state, v.generation));
    assert_eq!(old, Some((NodeState::Dead, Generation(1))), "the old instance is dead, the new unmet");
    assert!(c1.counters().sent >= 10, "c1 pinged all along: {:?}", c1.counters());
    let recovery = &mgs.recoveries()[0];
    assert_eq!(recovery.progress.reconnected, 1, "c0 is back: {recovery:?}");
    assert!(!recovery.window_closed(), "closed while c1 pings the MGS: {recovery:?}");
    // c1 falls silent: once it would be dead, the window closes without it.
    for t in silent_from..silent_from + dead_ms + 1_000 {
        step(&mut mgs, &mut c0, None, t, false);
    }
    let recovery = &mgs.recoveries()[0];
    assert!(recovery.window_closed(), "{recovery:?}");
}

/// More clients than the list of strangers holds (16) first contact the MGS at once; one of those
/// past the list is never heard again (every later datagram of it lost) while the others are
/// admitted and reconnect. Its parent does not know who it was, but knows one was heard: until
/// a dead threshold has passed, its sums are not whole and no window closes.
#[test]
fn a_client_heard_past_the_list_of_strangers_holds_a_window_open_for_a_dead_threshold() {
    let dead_ms = Timing::default().dead_ms(Timing::default().ping_interval_ms);
    let mut config = MgsConfig::new(name("mgs").unwrap(), Generation(1), keys());
    config.startup_hold_ms = 0;
    let mut mgs = Mgs::new(config, vec![None; 64].into_boxed_slice(), Instant(0));
    // 17 clients answered; the last, c17, is heard once (its first contact) and never answered.
    let mut clients: Vec<Client> = (0..18)
        .map(|k| {
            let config = ClientConfig {
                name: name(&format!("c{k}")).unwrap(),
                generation: Generation(1),
                parents: [at(1)].into_iter().collect(),
                keys: keys(),
                timing: Timing::default(),
            };
            Client::new(config, Instant(0))
        })
        .collect();
    let lost = 17;
    let mut buf = [0u8; MAX_DATAGRAM];
    let mut run = |mgs: &mut Mgs<Box<[Slot]>>, clients: &mut [Client], (from, to): (u64, u64)| {
        for t in from..to {
            let now = Instant(t);
            if mgs.poll_timeout().is_some_and(|d| d <= now) {
                mgs.handle_timeout(now);
            }
            loop {
                let mut quiet = true;
                for (k, c) in clients.iter_mut().enumerate() {
                    if c.poll_timeout().is_some_and(|d| d <= now) {
                        c.handle_timeout(now);
                    }
                    while let Some((_, len)) = c.poll_transmit(now, &mut buf) {
                        quiet = false;
                        if k != lost || t == 0 {
                            mgs.handle(now, at(10 + k as u8), &buf[..len]);
                        }
                    }
                }
                while let Some((to, len)) = mgs.poll_transmit(now, &mut buf) {
                    quiet = false;
                    let Endpoint::V4 { ip: [_, _, _, last], .. } = to else { continue };
                    let k = usize::from(last - 10);
                    if k != lost {
                        clients[k].handle(now, at(1), &buf[..len]);
                    }
                }
                if quiet {
                    break;
                }
            }
            for c in clients.iter_mut() {
                while let Some(e) = c.poll_event() {
                    if let Event::Order(o) = e {
                        assert!(c.order_done(now, o.id, true));
                    }
                }
            }
        }
    };
    run(&mut mgs, &mut clients, (0, 2_000));
    assert!(mgs.counters().overflow >= 1, "the list of strangers overflowed: {:?}", mgs.counters());
    let admitted = (0..17).filter(|&k| mgs.node(clients[k].id(), Instant(2_000)).is_some()).count();
    assert_eq!(admitted, 17, "every client answered is admitted");
    assert!(mgs.node(clients[lost].id(), Instant(2_000)).is_none());
    let target = name("testfs-OST0000").unwrap();
    mgs.recover(Instant(2_000), target, Default::default()).unwrap();
    // c17 was heard at 0: it may be alive until a dead threshold after.
    run(&mut mgs, &mut clients, (2_000, dead_ms - 500));
    let recovery = &mgs.recoveries()[0];
    assert_eq!(recovery.progress.reconnected, 17, "the others are back: {recovery:?}");
    assert!(!recovery.window_closed(), "closed within a dead threshold of c17's first contact: {recovery:?}");
    run(&mut mgs, &mut clients, (dead_ms - 500, dead_ms + 1_000));
    let recovery = &mgs.recoveries()[0];
    assert!(recovery.window_closed(), "{recovery:?}");
}

/// An MGS stops expecting direct clients once none has pinged it for the retirement bound, so
/// that its restarts no longer hold for clients it no longer has; not while one still pings,
/// and it expects them again when one comes back.
#[test]
fn an_mgs_stops_expecting_direct_clients_when_none_pinged_for_the_retirement_bound() {
    let mut config = MgsConfig::new(name("mgs").unwrap(), Generation(1), keys());
    config.router_retire_ms = 20_000;
    let mut mgs = Mgs::new(config, vec![None; 16].into_boxed_slice(), Instant(0));
    let mut c = client_of("c0", 1, at(1), "mgs");
    let mut told = Vec::new();
    let drain = |mgs: &mut Mgs<Box<[Slot]>>, told: &mut Vec<Event>| {
        told.extend(
            std::iter::from_fn(|| mgs.poll_event())
                .filter(|e| matches!(e, Event::DirectClientsExpected | Event::DirectClientsRetired)),
        );
    };
    // The client pings for 30 s, past the bound: expected once, never retired.
    for second in 0..30 {
        run_direct(&mut mgs, &mut [&mut c], (second * 1000, second * 1000 + 999));
        drain(&mut mgs, &mut told);
    }
    assert_eq!(told, [Event::DirectClientsExpected]);
    // Silent from 30 s on (its last ping at most one interval before): retired between 48 s
    // and 50 s, once.
    let tick = |mgs: &mut Mgs<Box<[Slot]>>, (from, to): (u64, u64)| {
        for t in from..=to {
            if mgs.poll_timeout().is_some_and(|d| d <= Instant(t)) {
                mgs.handle_timeout(Instant(t));
            }
        }
    };
    tick(&mut mgs, (30_000, 47_999));
    drain(&mut mgs, &mut told);
    assert_eq!(told, [Event::DirectClientsExpected], "retired before the bound");
    tick(&mut mgs, (48_000, 60_000));
    drain(&mut mgs, &mut told);
    assert_eq!(told, [Event::DirectClientsExpected, Event::DirectClientsRetired]);
    // The client speaks again: expected again.
    run_direct(&mut mgs, &mut [&mut c], (60_001, 65_000));
    drain(&mut mgs, &mut told);
    assert_eq!(told.last(), Some(&Event::DirectClientsExpected));
}

/// What router r1 (at(1)) hears from client `c` up to `to` ms, a millisecond at a time: each
/// ping's time, sequence and reports. Pings for which `answer` says so are answered at once, in
/// r1's datagram ten times the ping's sequence.
fn pings_until(
    c: &mut Client,
    (from, to): (u64, u64),
    mut answer: impl FnMut(u64) -> bool,
) -> Vec<(u64, u32, Vec<wire::OrderReport>)> {
    answered_at_interval(c, Timing::default().ping_interval_ms, (from, to), &mut answer)
}

/// [`pings_until`], the replies imposing a ping interval of `interval_ms`.
fn answered_at_interval(
    c: &mut Client,
    interval_ms: u32,
    (from, to): (u64, u64),
    answer: &mut impl FnMut(u64) -> bool,
) -> Vec<(u64, u32, Vec<wire::OrderReport>)> {
    let mut buf = [0u8; MAX_DATAGRAM];
    let mut heard = Vec::new();
    for t in from..=to {
        if c.poll_timeout().is_some_and(|d| d.0 <= t) {
            c.handle_timeout(Instant(t));
        }
        while let Some((_, len)) = c.poll_transmit(Instant(t), &mut buf) {
            let (header, message) = wire::decode(&buf[..len], &keys()).unwrap();
            let Message::Ping(ping) = message else { panic!("{message:?}") };
            heard.push((t, header.sequence, ping.reports.to_vec()));
            if answer(t) {
                let reply = Message::PingReply(PingReply {
                    interval_ms,
                    status: ReplyStatus::Accepted,
                    ack: header.sequence,
                    orders: Default::default(),
                });
                let mut out = [0u8; MAX_DATAGRAM];
                // r1's own sequence: ten per ping of the client's (room for one order between).
                let len = wire::encode(
                    NodeId::from_name("r1"),
                    c.id(),
                    Generation(1),
                    10 * header.sequence,
                    &reply,
                    &keys().current,
                    &mut out,
                )
                .unwrap();
                c.handle(Instant(t), at(1), &out[..len]);
            }
        }
    }
    heard
}

/// A client's report rides in every ping, re-sent while unanswered, until its parent
/// acknowledges a ping that carried it: three lost pings no longer leave the parent without it
/// until its next regular reply repeats the order (at 10% loss, the last client of ten
/// thousand held the window open two seconds that way).
#[test]
fn a_report_rides_in_every_ping_until_a_ping_that_carried_it_is_acknowledged() {
    let mut c = client_of("c0", 1, at(1), "r1");
    // Steady: pings answered.
    let steady = pings_until(&mut c, (0, 4_000), |_| true);
    let order = begin_recovery(1, "testfs-OST0001", 2, 30_000);
    let mut buf = [0u8; MAX_DATAGRAM];
    let len = wire::encode(
        NodeId::from_name("r1"),
        c.id(),
        Generation(1),
        10 * steady.last().unwrap().1 + 5,
        &Message::Order(order.clone()),
        &keys().current,
        &mut buf,
    )
    .unwrap();
    c.handle(Instant(4_001), at(1), &buf[..len]);
    assert!(matches!(c.poll_event(), Some(Event::Order(o)) if o.id == order.id));
    assert!(c.order_done(Instant(4_002), order.id, true));
    // Every ping up to 3 s later is lost; the one after is answered.
    let mut answered = false;
    let heard = pings_until(&mut c, (4_002, 9_000), |t| {
        answered |= t >= 7_002;
        answered
    });
    let reconnected = |reports: &Vec<wire::OrderReport>| {
        reports.iter().any(|r| r.order == order.id && r.outcome == wire::Outcome::Reconnected)
    };
    let lost: Vec<_> = heard.iter().filter(|(t, ..)| *t < 7_002).collect();
    assert!(lost.len() >= 8, "re-sent while unanswered, at most 400 ms apart: {heard:?}");
    assert!(lost.windows(2).all(|w| w[1].0 - w[0].0 <= 400), "{heard:?}");
    assert!(lost.iter().all(|(_, _, reports)| reconnected(reports)), "the report rides in each: {heard:?}");
    let first_answered = heard.iter().position(|(t, ..)| *t >= 7_002).unwrap();
    assert!(reconnected(&heard[first_answered].2));
    assert!(
        heard[first_answered + 1..].iter().all(|(_, _, reports)| reports.is_empty()),
        "acknowledged: it rests: {heard:?}"
    );
    assert!(heard.len() <= first_answered + 4, "answered: back to the interval: {heard:?}");
}

/// An unanswered regular ping goes again twice (after 200 and 400 ms) to a parent that answered
/// lately, so random loss silences a child for an interval only when three datagrams in a row
/// are lost; to a parent silent past the dead threshold (down) it goes once per interval.
#[test]
fn an_unanswered_ping_goes_again_to_a_parent_that_answered_lately_and_not_to_a_silent_one() {
    let interval = u64::from(Timing::default().ping_interval_ms);
    let dead_ms = Timing::default().dead_ms(Timing::default().ping_interval_ms);
    let mut c = client_of("c0", 1, at(1), "r1");
    pings_until(&mut c, (0, 4_000), |_| true);
    // From 4 s on, nothing is answered.
    let heard = pings_until(&mut c, (4_001, 4_000 + dead_ms + 3 * interval), |_| false);
    let times: Vec<u64> = heard.iter().map(|(t, ..)| *t).collect();
    let first = times[0];
    assert_eq!(&times[..3], [first, first + 200, first + 600], "{times:?}");
    let quiet_from = 4_000 + dead_ms + interval;
    let late: Vec<u64> = times.iter().copied().filter(|&t| t > quiet_from).collect();
    assert!(
        !late.is_empty() && late.windows(2).all(|w| w[1] - w[0] >= interval),
        "one per interval: {times:?}"
    );
    // With a 250 ms interval the next regular ping comes before a re-send would be worth it.
    let mut c = client_of("c1", 1, at(1), "r1");
    answered_at_interval(&mut c, 250, (0, 4_000), &mut |_| true);
    let heard = answered_at_interval(&mut c, 250, (4_001, 5_000), &mut |_| false);
    assert!(heard.len() >= 3 && heard.windows(2).all(|w| w[1].0 - w[0].0 >= 250), "{heard:?}");
}

/// A target table has a bound (`T` targets): past it a target's status is refused, counted at
/// every report and told once, and the targets kept stay as they were.
#[test]
fn a_full_target_table_refuses_further_targets_explicitly() {
    let mut slots: [Slot; 8] = empty_slots();
    let config = RouterConfig::new(name("r1").unwrap(), Generation(1), [at(1)].into_iter().collect(), keys());
    let mut r: Router<&mut [Slot], 4, 2> = Router::new(config, &mut slots[..], Instant(0));
    let mut servers: Vec<Server> = (0..3)
        .map(|k| {
            let config = ServerConfig {
                member: MemberConfig {
                    name: name(&format!("oss{k}")).unwrap(),
                    generation: Generation(1),
                    parents: [at(2)].into_iter().collect(),
                    keys: keys(),
                    timing: Timing::default(),
                },
                target: name(&format!("testfs-OST000{k}")).unwrap(),
                addrs: Default::default(),
                window_ms: 300_000,
            };
            let mut s = Server::new(config, Instant(0));
            let id = s.id();
            meet(&mut s, id, at(2), "r1", 0);
            s
        })
        .collect();
    let interval = Timing::default().ping_interval_ms.into();
    for now in [0, interval] {
        for (k, s) in servers.iter_mut().enumerate() {
            for (_, ping) in sent(s, now) {
                r.handle(Instant(now), at(30 + k as u8), &ping);
            }
        }
    }
    assert_eq!(r.table().len(), 3, "the servers themselves are children like any other");
    let told: Vec<Event> = std::iter::from_fn(|| r.poll_event())
        .filter(|e| matches!(e, Event::TargetTableFull { .. }))
        .collect();
    let third =
        Event::TargetTableFull { server: NodeId::from_name("oss2"), target: name("testfs-OST0002").unwrap() };
    assert_eq!(told, [third], "told once, naming the first target refused");
    assert_eq!(r.counters().targets_refused, 2, "both of oss2's reports");
    assert_eq!(r.counters().overflow, 0, "a refused target is its own count");
}

/// A restarted target's first ping is what tells the MGS the target restarted: the whole
/// recovery waits on it. Lost, it goes again after `resend_ms` (it used to wait for the next
/// regular ping, which spreads the herd: half an interval or more), and that re-send starts the
/// recovery; a parent that never answers gets `RESENDS` re-sends and then one ping an interval.
#[test]
fn a_restarted_servers_lost_first_ping_goes_again_after_a_short_wait() {
    let config = |generation| server_config("oss0", generation, 300_000);
    let timing = Timing::default();
    let mut buf = [0u8; MAX_DATAGRAM];
    let mut s = Server::new(config(2), Instant(0));
    assert!(s.poll_transmit(Instant(0), &mut buf).is_some(), "the first ping goes at once (lost)");
    let again = s.poll_timeout().unwrap();
    assert!(again.0 <= u64::from(timing.resend_ms), "sent again at {again:?}");
    let (to, len) = s.poll_transmit(again, &mut buf).unwrap();
    assert_eq!(to, at(1));
    // The MGS answers that first contact, and the addressed ping it asks for goes at once.
    let mut mgs = mgs_of(1, 0);
    mgs.handle(again, at(2), &buf[..len]);
    while let Some((_, len)) = mgs.poll_transmit(again, &mut buf) {
        s.handle(again, at(1), &buf[..len]);
        while let Some((_, len)) = s.poll_transmit(again, &mut buf) {
            mgs.handle(again, at(2), &buf[..len]);
        }
    }
    let began = mgs.recoveries().iter().find(|r| r.target.as_str() == "testfs-OST0000");
    assert_eq!(began.map(|r| (r.target_generation, r.began)), Some((Generation(2), again)));

    // Never answered: the re-sends run out, then one ping an interval.
    let mut s = Server::new(config(3), Instant(0));
    let mut sent = Vec::new();
    let mut now = Instant(0);
    while sent.len() < 7 {
        if s.poll_transmit(now, &mut buf).is_some() {
            sent.push(now.0);
        }
        s.handle_timeout(now);
        now = s.poll_timeout().unwrap();
    }
    let resends: Vec<u64> = (1..=timing::RESENDS).map(|left| timing.resend_wait_ms(left)).rev().collect();
    let gaps: Vec<u64> = sent.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(gaps[..resends.len()], resends[..], "sent at {sent:?}");
    let interval = u64::from(timing.ping_interval_ms);
    assert!(gaps[resends.len()..].iter().all(|&g| g >= interval / 2), "sent at {sent:?}");
}

/// Under heavy loss a child's replies are lost as often as its pings: it goes on re-sending
/// them past the suspect threshold, up to the dead threshold, so that its parent convicts it
/// only after 24 losses in a row. A child that stopped at the suspect threshold sent one ping an
/// interval from then on, and a run of ten losses convicted it (a live client of 100,000 under
/// 20% loss, simulated seeds 2 and 3). Past the dead threshold the parent is down for the child:
/// one ping an interval.
#[test]
fn a_child_unanswered_past_the_suspect_threshold_re_sends_its_pings_until_the_dead_threshold() {
    let mut c = client("c0", 1, at(1));
    let timing = Timing::default();
    let (interval, suspect, dead) = (
        u64::from(timing.ping_interval_ms),
        timing.suspect_ms(timing.ping_interval_ms),
        timing.dead_ms(timing.ping_interval_ms),
    );
    let mut buf = [0u8; MAX_DATAGRAM];
    let mut sent = Vec::new();
    let mut now = Instant(0);
    while now.0 < dead + 8 * interval {
        c.handle_timeout(now);
        while c.poll_transmit(now, &mut buf).is_some() {
            sent.push(now.0);
        }
        now = c.poll_timeout().unwrap();
    }
    // Re-sends: pings that follow the one before within 400 ms.
    let resends = |from: u64, to: u64| {
        sent.windows(2).filter(|w| from <= w[1] && w[1] < to && w[1] - w[0] <= 400).count()
    };
    // Between the suspect and the dead threshold, both re-sends of every ping (three pings).
    let late = resends(suspect, dead);
    assert!(late >= 6, "{late} re-sends between {suspect} and {dead} ms: {sent:?}");
    // Down: one ping an interval.
    assert_eq!(resends(dead + interval, u64::MAX), 0, "{sent:?}");
    assert!(sent.iter().any(|&t| t > dead + 6 * interval));
}

/// An authenticated child router's update, from `router` at `from`, with `progress` as its
/// subtree's sums.
fn update_from(
    mgs: &mut Mgs<Box<[Slot]>>,
    router: &str,
    from: Endpoint,
    progress: &[OrderProgress],
    now: u64,
) {
    let update = Update {
        interval_ms: 1_000,
        name: name(router),
        progress: progress.iter().copied().collect(),
        ..Update::default()
    };
    let mut buf = [0u8; MAX_DATAGRAM];
    let id = NodeId::from_name(router);
    let len =
        wire::encode(id, mgs.id(), Generation(1), 1, &Message::Update(update), &keys().current, &mut buf)
            .unwrap();
    mgs.handle(Instant(now), from, &buf[..len]);
}

#[test]
fn a_child_routers_sums_at_the_top_of_their_range_do_not_overflow_the_mgs() {
    // An admin's recovery of a target that is up counts a client done when it reconnected or
    // its tries failed: the two sums of a child router's report, added.
    let mut mgs = mgs_of(1, 0);
    let status = TargetStatus {
        target: name("testfs-OST0000").unwrap(),
        generation: Generation(5),
        state: TargetState::Up,
        addrs: Default::default(),
        window_ms: 60_000,
        lustre: None,
    };
    let ping = Ping {
        role: Role::Server,
        interval_ms: 2_000,
        home: true,
        name: name("oss0"),
        reports: Default::default(),
        target: Some(status),
        mounts: Default::default(),
    };
    let mut buf = [0u8; MAX_DATAGRAM];
    let oss = NodeId::from_name("oss0");
    let len = wire::encode(oss, mgs.id(), Generation(1), 1, &Message::Ping(ping), &keys().current, &mut buf)
        .unwrap();
    mgs.handle(Instant(10), at(30), &buf[..len]);
    let order = mgs.recover(Instant(20), name("testfs-OST0000").unwrap(), Default::default()).unwrap();
    let sums = OrderProgress { order, live: 1, applied: 1, reconnected: u32::MAX, failed: 1 };
    update_from(&mut mgs, "r9", at(40), &[sums], 30);
    assert_eq!(mgs.recoveries().len(), 1, "the recovery goes on");
}

#[test]
fn an_mgs_expects_every_router_of_a_tree_larger_than_its_child_router_summaries() {
    // The MGS keeps the sums of 256 child routers; a tree has more routers than that.
    let mut config = MgsConfig::new(name("mgs").unwrap(), Generation(1), keys());
    config.startup_hold_ms = 0;
    let mut mgs = Mgs::new(config, vec![None; 1024].into_boxed_slice(), Instant(0));
    for k in 0..300u16 {
        let from = Endpoint::V4 { ip: [10, 1, 0, 1], port: 7000 + k };
        update_from(&mut mgs, &format!("r{k}"), from, &[], 10);
    }
    assert_eq!(mgs.expected_routers().count(), 300, "overflow {}", mgs.counters().overflow);
}

#[test]
fn no_datagram_takes_a_generation_to_its_limit_so_every_node_can_boot_again() {
    // Anyone holding the cluster key can claim a newer instance of a parent or a child.
    let mut mgs = mgs_of(1, 0);
    let mut buf = [0u8; MAX_DATAGRAM];
    let mut hint = |mgs: &mut Mgs<Box<[Slot]>>, newest: u32| {
        let hint = Message::StaleParent(StaleParent { newest: Generation(newest) });
        let c9 = NodeId::from_name("c9");
        let len = wire::encode(c9, mgs.id(), Generation(1), 1, &hint, &keys().current, &mut buf).unwrap();
        mgs.handle(Instant(10), at(30), &buf[..len]);
        mgs.generation()
    };
    assert_eq!(hint(&mut mgs, u32::MAX - 1), Generation(1), "no generation left above it");
    let highest = Generation::HIGHEST_RAISE.0;
    assert_eq!(hint(&mut mgs, highest), Generation(1), "the next is past the highest raise");
    assert_eq!(hint(&mut mgs, highest - 1), Generation(highest), "an instance below it is gone past");
    let boots = (1..1 << 23).try_fold(mgs.generation(), |g, _| Generation::at_boot(Some(g), 0));
    assert!(boots.is_some_and(|g| g.is_valid()), "2^23 - 1 boots left");
    // A child's datagram from an instance at the limit is malformed: it does not lock the
    // child's own instance out as stale.
    let mut c = client_of("c0", 1, at(1), "mgs");
    let ping = Ping {
        role: Role::Client,
        interval_ms: 2_000,
        home: true,
        name: name("c0"),
        reports: Default::default(),
        target: None,
        mounts: Default::default(),
    };
    let len =
        wire::encode(c.id(), mgs.id(), Generation::LIMIT, 1, &Message::Ping(ping), &keys().current, &mut buf)
            .unwrap();
    let malformed = mgs.counters().malformed;
    mgs.handle(Instant(20), at(10), &buf[..len]);
    assert_eq!(mgs.counters().malformed, malformed + 1);
    run_direct(&mut mgs, &mut [&mut c], (20, 3_000));
    assert_eq!(shown(&mgs, c.id(), 3_000), Some((1, NodeState::Alive)));
}

#[test]
fn a_childs_announced_interval_is_held_within_the_limits_of_a_configured_one() {
    let mut slots: [Slot; 16] = empty_slots();
    let mut r = router(&mut slots, &[]);
    let mut buf = [0u8; MAX_DATAGRAM];
    for (k, interval_ms) in [(0u8, 0), (1, u32::MAX)] {
        let child = format!("c{k}");
        let ping = Ping {
            role: Role::Client,
            interval_ms,
            home: true,
            name: name(&child),
            reports: Default::default(),
            target: None,
            mounts: Default::default(),
        };
        let id = NodeId::from_name(&child);
        let len = wire::encode(id, r.id(), Generation(1), 1, &Message::Ping(ping), &keys().current, &mut buf)
            .unwrap();
        r.handle(Instant(0), at(20 + k), &buf[..len]);
    }
    let state = |r: &Router<&mut [Slot]>, child: &str| {
        r.table().get(NodeId::from_name(child)).and_then(|e| e.best_state())
    };
    let mut run_to = |r: &mut Router<&mut [Slot]>, to: u64| {
        while let Some(at) = r.poll_timeout().filter(|at| at.0 <= to) {
            r.handle_timeout(at);
            while r.poll_transmit(at, &mut buf).is_some() {}
            while r.poll_event().is_some() {}
        }
    };
    // Interval 0 is taken as the shortest (50 ms): alive while silent for less than that.
    run_to(&mut r, 40);
    assert_eq!(state(&r, "c0"), Some(NodeState::Alive));
    run_to(&mut r, 1_000);
    assert_eq!(state(&r, "c0"), Some(NodeState::Dead), "dead after 8 x 50 ms");
    // u32::MAX as the longest (10 minutes): dead after eight of them, not never.
    assert_eq!(state(&r, "c1"), Some(NodeState::Alive));
    run_to(&mut r, 8 * 600_000 + 60_000);
    assert_eq!(state(&r, "c1"), Some(NodeState::Dead), "dead after 8 x 10 minutes");
}

#[test]
fn a_restarted_parents_pushed_order_replayed_before_its_first_reply_is_refused() {
    let mut c = client("c0", 1, at(1));
    let message = Message::Order(begin_recovery(1, "testfs-OST0000", 3, 60_000));
    let mut buf = [0u8; MAX_DATAGRAM];
    // r1 restarted (generation 2) and pushes an order before it answered any ping.
    let r1 = NodeId::from_name("r1");
    let len = wire::encode(r1, c.id(), Generation(2), 7, &message, &keys().current, &mut buf).unwrap();
    for (copy, replayed) in [(1, 0), (2, 1), (3, 2)] {
        c.handle(Instant(10), at(1), &buf[..len]);
        assert_eq!(c.counters().replayed, replayed, "copy {copy}");
    }
}
