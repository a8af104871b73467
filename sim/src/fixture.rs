//! Machines and pre-encoded datagrams for the benchmarks (`benches/proto.rs`) and the
//! instruction count of `examples/router_pings.rs`: a router with many admitted children, their
//! pings with distinct sequence numbers, and an MGS fed by child routers' updates.
//!
//! Everything is built outside the measured loops, so a measurement covers only what a machine
//! does with a datagram: authenticate, decode, update its table, build and encode the answer.

use heapless::Vec as HVec;
use vigil_proto::wire::{
    self, Action, Endpoint, Message, NodeDelta, NodeState, Order, OrderReport, Outcome, PathReport, Ping,
    PingReply, ReplyStatus, Role, Signature, Totals, Update, MAX_DATAGRAM,
};
use vigil_proto::{ids, Generation, Instant, Mgs, MgsConfig, NodeId, OrderId, Router, RouterConfig, Timing};

use crate::{cluster_keys, Slots};

/// The address of child `k` of a fixture.
pub fn child_addr(k: usize) -> Endpoint {
    let n = k as u32;
    Endpoint::V4 { ip: [10, 128 | (n >> 16) as u8, (n >> 8) as u8, n as u8], port: 7000 }
}

/// The address of a fixture router's parent.
pub const PARENT: Endpoint = Endpoint::V4 { ip: [10, 0, 0, 1], port: 7000 };

/// A datagram and where it comes from.
pub type Datagram = (Endpoint, std::vec::Vec<u8>);

fn child_id(k: usize) -> NodeId {
    NodeId::from_name(&format!("c{k:06}"))
}

/// The fixture routers' id (every fixture router is named `r0`).
pub const ROUTER: NodeId = NodeId::from_name("r0");
/// The fixture MGS's id.
pub const MGS: NodeId = NodeId::from_name("mgs");

/// Encodes `message` from `sender` to `receiver` into a new datagram.
pub fn encode(sender: NodeId, receiver: NodeId, sequence: u32, message: &Message) -> std::vec::Vec<u8> {
    let mut buf = [0u8; MAX_DATAGRAM];
    let keys = cluster_keys();
    let len = wire::encode(sender, receiver, Generation(1), sequence, message, &keys.current, &mut buf)
        .expect("fixture messages fit a datagram");
    buf[..len].to_vec()
}

/// A client's steady-state ping: no name (the parent knows it), one report on an order of an
/// earlier MGS generation than [`recovery_order`]'s.
pub fn client_ping(name: bool, k: usize) -> Ping {
    let order = OrderId { mgs: NodeId(1), mgs_generation: Generation(0), seq: 1 };
    Ping {
        mounts: Default::default(),
        role: Role::Client,
        interval_ms: Timing::default().ping_interval_ms,
        home: true,
        name: name.then(|| ids::name(&format!("c{k:06}")).expect("short name")),
        reports: [OrderReport { order, outcome: Outcome::Reconnected }].into_iter().collect(),
        target: None,
    }
}

/// A recovery order for the first target.
pub fn recovery_order(seq: u32) -> Order {
    Order {
        id: OrderId { mgs: NodeId(1), mgs_generation: Generation(1), seq: seq.into() },
        action: Action::BeginRecovery {
            target: ids::name("testfs-OST0000").expect("short name"),
            target_generation: Generation(seq + 1),
            addrs: [ids::nid("oss0@tcp").expect("short nid")].into_iter().collect(),
            window_ms: 0,
        },
        signer: 0,
        signature: Signature::default(),
        age_ms: 0,
    }
}

/// A reply carrying one order, as a parent repeats it.
pub fn reply_with_order() -> PingReply {
    PingReply {
        interval_ms: 2_000,
        status: ReplyStatus::Accepted,
        ack: 0,
        orders: [recovery_order(1)].into_iter().collect(),
    }
}

/// A full update page: as many new nodes (with names) as fit one datagram.
pub fn full_update(first: usize, base: u32) -> Update {
    let mut update = Update {
        interval_ms: 1_000,
        name: None,
        base,
        upto: base,
        more: true,
        deltas: HVec::new(),
        targets: HVec::new(),
        totals: Totals { alive: 1_000, ..Totals::default() },
        progress: HVec::new(),
        failed: HVec::new(),
    };
    for k in first.. {
        let delta = NodeDelta {
            mounts: Default::default(),
            id: child_id(k),
            generation: Generation(1),
            role: Role::Client,
            name: ids::name(&format!("c{k:06}")),
            paths: [PathReport { parent: NodeId(7), state: NodeState::Alive, silent_ms: 0 }]
                .into_iter()
                .collect(),
        };
        let mut bigger = update.clone();
        if bigger.deltas.push(delta).is_err() {
            break;
        }
        bigger.upto = base + bigger.deltas.len() as u32;
        if encode(NodeId(1), MGS, 1, &Message::Update(bigger.clone())).len() + 8 > MAX_DATAGRAM {
            break;
        }
        update = bigger;
    }
    update
}

/// A router (no parents, so it sends nothing but answers) with `children` admitted clients,
/// at time `now`.
pub fn router_with_children(children: usize, now: Instant) -> Router<Slots> {
    let config =
        RouterConfig::new(ids::name("r0").expect("short"), Generation(1), HVec::new(), cluster_keys());
    let slots = vec![None; children + children / 6 + 64].into_boxed_slice();
    let mut router = Router::new(config, slots, now);
    let mut buf = [0u8; MAX_DATAGRAM];
    for k in 0..children {
        let ping = encode(child_id(k), ROUTER, 1, &Message::Ping(client_ping(true, k)));
        router.handle(now, child_addr(k), &ping);
        while router.poll_transmit(now, &mut buf).is_some() {}
        while router.poll_event().is_some() {}
    }
    assert!(router.table().len() == children, "no id collision among the fixture's children");
    router
}

/// A router with `children` admitted clients that takes orders from [`PARENT`] and sends no
/// updates (it stays in its settle time).
pub fn router_under_parent(children: usize, now: Instant) -> Router<Slots> {
    let mut config = RouterConfig::new(
        ids::name("r0").expect("short"),
        Generation(1),
        [PARENT].into_iter().collect(),
        cluster_keys(),
    );
    config.settle_ms = u32::MAX;
    let slots = vec![None; children + children / 6 + 64].into_boxed_slice();
    let mut router = Router::new(config, slots, now);
    let mut buf = [0u8; MAX_DATAGRAM];
    for k in 0..children {
        let ping = encode(child_id(k), ROUTER, 1, &Message::Ping(client_ping(true, k)));
        router.handle(now, child_addr(k), &ping);
        while router.poll_transmit(now, &mut buf).is_some() {}
        while router.poll_event().is_some() {}
    }
    router
}

/// Round `round` (from 0) of steady-state pings from `children` children: one each, with
/// sequence number `round + 2` (the admission ping was 1).
pub fn ping_round(children: usize, round: u32) -> std::vec::Vec<Datagram> {
    (0..children)
        .map(|k| {
            (child_addr(k), encode(child_id(k), ROUTER, round + 2, &Message::Ping(client_ping(false, k))))
        })
        .collect()
}

/// An MGS with room for `nodes` nodes.
pub fn mgs(nodes: usize, now: Instant) -> Mgs<Slots> {
    let config = MgsConfig::new(ids::name("mgs").expect("short"), Generation(1), cluster_keys());
    Mgs::new(config, vec![None; nodes + nodes / 6 + 64].into_boxed_slice(), now)
}

/// Updates from `routers` child routers: each router's first update (with its name, opening a
/// snapshot at version 1), then `pages` pages of new nodes chained by version, from router
/// address `child_addr(r)`. With `pages == 0`, `keepalives` steady-state updates follow instead
/// (no change: totals only), as a router sends every update interval.
pub fn router_updates(routers: usize, pages: usize, keepalives: usize) -> (std::vec::Vec<Datagram>, usize) {
    let mut out = std::vec::Vec::new();
    let mut nodes = 0;
    // Sequence numbers: 1 for each router's opening update, then one more per datagram.
    let mut seq = vec![1u32; routers];
    let mut version = vec![1u32; routers];
    let id = |r: usize| NodeId::from_name(&format!("r{r}"));
    for r in 0..routers {
        let open = Update {
            interval_ms: 1_000,
            name: ids::name(&format!("r{r}")),
            base: 0,
            upto: 1,
            more: false,
            deltas: HVec::new(),
            targets: HVec::new(),
            totals: Totals::default(),
            progress: HVec::new(),
            failed: HVec::new(),
        };
        out.push((child_addr(r), encode(id(r), MGS, 1, &Message::Update(open))));
    }
    for _ in 0..pages {
        for r in 0..routers {
            let page = full_update(1_000_000 * (r + 1) + (version[r] as usize), version[r]);
            nodes += page.deltas.len();
            version[r] = page.upto;
            seq[r] += 1;
            out.push((child_addr(r), encode(id(r), MGS, seq[r], &Message::Update(page))));
        }
    }
    for _ in 0..keepalives {
        for r in 0..routers {
            let keepalive = Update {
                interval_ms: 1_000,
                name: None,
                base: version[r],
                upto: version[r],
                more: false,
                deltas: HVec::new(),
                targets: HVec::new(),
                totals: Totals { alive: 1_000, ..Totals::default() },
                progress: HVec::new(),
                failed: HVec::new(),
            };
            seq[r] += 1;
            out.push((child_addr(r), encode(id(r), MGS, seq[r], &Message::Update(keepalive))));
        }
    }
    (out, nodes)
}
