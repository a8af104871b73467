//! Writes the seed corpora: `cargo run --bin seeds -- corpus` fills `corpus/decode` with one valid
//! datagram per message shape and `corpus/machines` with short scenarios (children join a
//! router, a server's target restarts, time passes, first contacts and a misdirected ping).

use std::fs;
use std::path::Path;

use vigil_proto::ids::{Generation, NodeId, OrderId};
use vigil_proto::wire::{
    mount_tag, Action, Endpoint, FailedClient, LustrePhase, LustreRecovery, Message, NodeDelta, NodeState,
    Order, OrderProgress, OrderReport, Outcome, PathReport, Ping, PingReply, ReplyStatus, Role, Signature,
    TargetReport, TargetState, TargetStatus, Totals, Update,
};
use vigil_proto::{name, nid, Name};
use vigil_proto_fuzz::encode;

fn n(s: &str) -> Name {
    name(s).expect("short name")
}

fn target(state: TargetState, generation: u32) -> TargetStatus {
    TargetStatus {
        target: n("testfs-OST0001"),
        generation: Generation(generation),
        state,
        addrs: [nid("10.1.0.7@o2ib").expect("short nid")].into_iter().collect(),
        window_ms: 300_000,
        lustre: None,
    }
}

fn ping(role: Role, named: Option<&str>, target: Option<TargetStatus>) -> Ping {
    // A named client announces its one Lustre mount.
    let mounts = match (role, named) {
        (Role::Client, Some(node)) => [mount_tag(&format!("uuid-{node}"))].into_iter().collect(),
        _ => Default::default(),
    };
    Ping {
        role,
        interval_ms: 2000,
        home: true,
        name: named.map(n),
        reports: Default::default(),
        target,
        mounts,
    }
}

fn order(seq: u32, close: bool) -> Order {
    let action = if close {
        Action::CloseWindow {
            target: n("testfs-OST0001"),
            target_generation: Generation(2),
            dead: [NodeId(7)].into_iter().collect(),
            dead_mounts: [mount_tag("uuid-n7")].into_iter().collect(),
        }
    } else {
        Action::BeginRecovery {
            target: n("testfs-OST0001"),
            target_generation: Generation(2),
            addrs: [nid("10.1.0.7@o2ib").expect("short nid")].into_iter().collect(),
            window_ms: 300_000,
        }
    };
    Order {
        id: OrderId { mgs: NodeId(1), mgs_generation: Generation(1), seq: seq.into() },
        action,
        signer: 0,
        signature: Signature::default(),
        age_ms: 0,
    }
}

fn update(deltas: Vec<NodeDelta>, targets: Vec<TargetReport>) -> Update {
    Update {
        interval_ms: 1000,
        name: Some(n("r9")),
        base: 0,
        upto: 1,
        more: false,
        deltas: deltas.into_iter().collect(),
        targets: targets.into_iter().collect(),
        totals: Totals { alive: 2, ..Totals::default() },
        progress: [OrderProgress {
            order: OrderId { mgs: NodeId(1), mgs_generation: Generation(1), seq: 1 },
            live: 2,
            failed: 1,
            ..Default::default()
        }]
        .into_iter()
        .collect(),
        failed: [FailedClient {
            order: OrderId { mgs: NodeId(1), mgs_generation: Generation(1), seq: 1 },
            client: NodeId::from_name("c2"),
        }]
        .into_iter()
        .collect(),
    }
}

fn delta(node: &str, role: Role, state: NodeState) -> NodeDelta {
    NodeDelta {
        id: NodeId::from_name(node),
        generation: Generation(1),
        role,
        name: Some(n(node)),
        paths: [PathReport { parent: NodeId::from_name("r9"), state, silent_ms: 0 }].into_iter().collect(),
        mounts: match role {
            Role::Client => [mount_tag(&format!("uuid-{node}"))].into_iter().collect(),
            _ => Default::default(),
        },
    }
}

fn messages() -> Vec<(&'static str, Message)> {
    let reports = [
        OrderReport {
            order: OrderId { mgs: NodeId(1), mgs_generation: Generation(1), seq: 1 },
            outcome: Outcome::Applied,
        },
        OrderReport {
            order: OrderId { mgs: NodeId(1), mgs_generation: Generation(1), seq: 2 },
            outcome: Outcome::Reconnected,
        },
        OrderReport {
            order: OrderId { mgs: NodeId(1), mgs_generation: Generation(1), seq: 3 },
            outcome: Outcome::Failed,
        },
    ];
    let alternates = [
        Endpoint::V4 { ip: [10, 0, 0, 3], port: 7000 },
        Endpoint::V6 { ip: [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3], port: 7000 },
    ];
    vec![
        ("ping-client", Message::Ping(ping(Role::Client, None, None))),
        ("ping-client-named", Message::Ping(ping(Role::Client, Some("n1"), None))),
        (
            "ping-client-reports",
            Message::Ping(Ping {
                reports: reports.into_iter().collect(),
                ..ping(Role::Client, Some("n1"), None)
            }),
        ),
        ("ping-server-up", Message::Ping(ping(Role::Server, Some("n2"), Some(target(TargetState::Up, 1))))),
        (
            "ping-server-recovering",
            Message::Ping(ping(Role::Server, Some("n2"), Some(target(TargetState::Recovering, 2)))),
        ),
        (
            "ping-server-lustre",
            Message::Ping(ping(
                Role::Server,
                Some("n2"),
                Some(TargetStatus {
                    lustre: Some(LustreRecovery {
                        phase: LustrePhase::Recovering,
                        recoverable: 6,
                        connected: 5,
                        evicted: 0,
                        stale: 1,
                        duration_s: 0,
                    }),
                    ..target(TargetState::Recovering, 2)
                }),
            )),
        ),
        (
            "ping-server-down",
            Message::Ping(ping(Role::Server, Some("n2"), Some(target(TargetState::Down, 2)))),
        ),
        (
            "reply-accepted",
            Message::PingReply(PingReply {
                interval_ms: 2000,
                status: ReplyStatus::Accepted,
                ack: 1,
                orders: Default::default(),
            }),
        ),
        (
            "reply-unknown",
            Message::PingReply(PingReply {
                interval_ms: 2000,
                status: ReplyStatus::Unknown,
                ack: 0,
                orders: Default::default(),
            }),
        ),
        (
            "reply-unaddressed",
            Message::PingReply(PingReply {
                interval_ms: 2000,
                status: ReplyStatus::Unaddressed,
                ack: 0,
                orders: Default::default(),
            }),
        ),
        (
            "reply-refused",
            Message::PingReply(PingReply {
                interval_ms: 2000,
                status: ReplyStatus::Refused { alternates: alternates.into_iter().collect() },
                ack: 0,
                orders: Default::default(),
            }),
        ),
        (
            "reply-orders",
            Message::PingReply(PingReply {
                interval_ms: 2000,
                status: ReplyStatus::Accepted,
                ack: 0,
                orders: [order(1, false), order(2, true)].into_iter().collect(),
            }),
        ),
        ("update-empty", Message::Update(update(vec![], vec![]))),
        (
            "update-deltas",
            Message::Update(update(
                vec![
                    delta("n5", Role::Client, NodeState::Alive),
                    delta("n6", Role::Server, NodeState::Suspect),
                    delta("n7", Role::Router, NodeState::Dead),
                    delta("n8", Role::Client, NodeState::Unreachable),
                ],
                vec![TargetReport {
                    server: NodeId::from_name("n6"),
                    status: target(TargetState::Recovering, 2),
                }],
            )),
        ),
        ("order-begin", Message::Order(order(1, false))),
        ("order-close", Message::Order(order(2, true))),
    ]
}

/// A machines-target chunk: length prefix, then the step.
fn chunk(out: &mut Vec<u8>, step: &[u8]) {
    out.extend_from_slice(&(step.len() as u16).to_le_bytes());
    out.extend_from_slice(step);
}

/// Op 2 (router) / 3 (MGS): a datagram the target re-tags, from child address `from`,
/// addressed to the machine it goes to.
fn datagram(
    out: &mut Vec<u8>,
    to_mgs: bool,
    from: u8,
    sender: &str,
    generation: u32,
    seq: u32,
    msg: &Message,
) {
    let receiver = NodeId::from_name(if to_mgs { "mgs" } else { "router" });
    addressed(out, (to_mgs, receiver), from, sender, generation, seq, msg);
}

/// [`datagram`] with any receiver (none: a first contact; another node: misdirected).
fn addressed(
    out: &mut Vec<u8>,
    (to_mgs, receiver): (bool, NodeId),
    from: u8,
    sender: &str,
    generation: u32,
    seq: u32,
    msg: &Message,
) {
    let sender = NodeId::from_name(sender);
    let bytes = encode(sender, receiver, Generation(generation), seq, msg).expect("fits");
    let mut step = vec![if to_mgs { 3 } else { 2 }, from];
    step.extend_from_slice(&bytes);
    chunk(out, &step);
}

fn wait(out: &mut Vec<u8>, ms: u16) {
    let mut step = vec![5];
    step.extend_from_slice(&ms.to_le_bytes());
    chunk(out, &step);
}

fn scenarios() -> Vec<(&'static str, Vec<u8>)> {
    let client = |named: bool| Message::Ping(ping(Role::Client, named.then_some("n1"), None));
    let server =
        |state, generation| Message::Ping(ping(Role::Server, Some("n2"), Some(target(state, generation))));
    let mut all = Vec::new();

    // Children join the router, which reports them up after settling.
    let mut s = Vec::new();
    datagram(&mut s, false, 1, "n1", 1, 1, &client(true));
    datagram(&mut s, false, 2, "n2", 1, 1, &server(TargetState::Up, 1));
    wait(&mut s, 3000);
    datagram(&mut s, false, 1, "n1", 1, 2, &client(false));
    datagram(&mut s, false, 2, "n2", 1, 2, &server(TargetState::Up, 1));
    wait(&mut s, 2000);
    all.push(("join", s.clone()));

    // ... then the target restarts: the MGS orders recovery, the client reports it.
    datagram(&mut s, false, 2, "n2", 2, 1, &server(TargetState::Recovering, 2));
    wait(&mut s, 1000);
    let reports = [OrderReport {
        order: OrderId { mgs: NodeId(1), mgs_generation: Generation(1), seq: 1 },
        outcome: Outcome::Reconnected,
    }];
    let reported =
        Message::Ping(Ping { reports: reports.into_iter().collect(), ..ping(Role::Client, None, None) });
    datagram(&mut s, false, 1, "n1", 1, 3, &reported);
    wait(&mut s, 2000);
    all.push(("restart", s.clone()));

    // ... and everyone falls silent.
    for _ in 0..6 {
        wait(&mut s, 4000);
    }
    all.push(("silence", s));

    // Children straight at the MGS, and a manual recovery.
    let mut s = Vec::new();
    datagram(&mut s, true, 1, "n1", 1, 1, &client(true));
    datagram(&mut s, true, 2, "n2", 1, 1, &server(TargetState::Up, 1));
    wait(&mut s, 5000);
    let mut recover = vec![6, 14];
    recover.extend_from_slice(b"testfs-OST0001");
    chunk(&mut s, &recover);
    wait(&mut s, 2000);
    all.push(("mgs-direct", s));

    // First contacts (answered, nothing taken) and a ping meant for the router, replayed to the
    // MGS (misdirected).
    let mut s = Vec::new();
    addressed(&mut s, (false, NodeId::NOBODY), 1, "n1", 1, 1, &client(true));
    addressed(&mut s, (true, NodeId::NOBODY), 2, "n2", 1, 1, &server(TargetState::Up, 1));
    datagram(&mut s, false, 1, "n1", 1, 2, &client(true));
    addressed(&mut s, (true, NodeId::from_name("router")), 1, "n1", 1, 2, &client(true));
    wait(&mut s, 3000);
    all.push(("first-contact", s));

    // A foreign router pushing an update and orders at the router and the MGS.
    let mut s = Vec::new();
    for (i, (_, msg)) in messages().iter().enumerate() {
        datagram(&mut s, i % 2 == 1, 3, "n3", 1, i as u32 + 1, msg);
    }
    wait(&mut s, 1500);
    all.push(("every-kind", s));
    all
}

fn main() {
    let root = std::env::args().nth(1).unwrap_or_else(|| "corpus".into());
    let root = Path::new(&root);
    let decode = root.join("decode");
    let machines = root.join("machines");
    fs::create_dir_all(&decode).expect("mkdir");
    fs::create_dir_all(&machines).expect("mkdir");
    for (i, (what, msg)) in messages().iter().enumerate() {
        let (sender, receiver) = (NodeId::from_name("n1"), NodeId::from_name("mgs"));
        let bytes = encode(sender, receiver, Generation(1), i as u32 + 1, msg).expect("fits");
        fs::write(decode.join(format!("seed-{what}")), bytes).expect("write");
    }
    for (what, bytes) in scenarios() {
        fs::write(machines.join(format!("seed-{what}")), bytes).expect("write");
    }
}
