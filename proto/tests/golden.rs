//! Golden vectors: the exact bytes of every message kind, pinned.
//!
//! Postcard has no schema evolution, so any change to a message struct, to the header or to the
//! tag changes these bytes and fails here first: a deliberate change gets a new kind or protocol
//! version, never an edit of a pinned vector.
//!
//! Every vector is encoded with the same header fields (sender `0x11223344`, receiver
//! `0x55667788`, generation 7, sequence 42) and the same cluster key (id 1, secret `00 01 .. 1f`).
//! Pinned strings are written as `header body tag`, spaces ignored.
//!
//! Datagram sizes, header and tag included (`datagram_sizes` asserts them):
//!
//! | message                                                               | bytes |
//! | --------------------------------------------------------------------- | ----: |
//! | Ping, client, name already confirmed, no reports (the steady state)   |    45 |
//! | Ping, client, with a 20-byte name, no reports                         |    66 |
//! | Ping, server, named, 16 reports, target status with 2 NIDs            |   298 |
//! | Ping, worst case (32-byte names, 16 reports, 2 × 48-byte NIDs, Lustre's view, 2 mounts) | 527 |
//! | PingReply, accepted, 0 orders                                         |    44 |
//! | PingReply, accepted, 2 orders (BeginRecovery with 2 NIDs, CloseWindow)|   274 |
//! | PingReply, worst case (refused, 4 IPv6 alternates, 2 worst orders)    |   586 |
//! | Order, worst CloseWindow (32 dead clients and 32 mounts)              |   643 |
//! | Update, 0 deltas (steady state: totals only)                          |    56 |
//! | Update, 1 delta (a named client with one mount, on one path)          |    92 |
//! | Update, 10 such deltas                                                |   420 |
//! | Update, 12 worst-case deltas (the most that fit)                      |  1124 |
//!
//! Worst-case delta: 5-byte id and generation varints, a 32-byte name, two paths with 5-byte
//! silent times, two 10-byte mount tags: 90 bytes, so a page holds 12 of them; [`MAX_DELTAS`]
//! (48) binds only for small deltas (unnamed, one path: about 30 bytes each). Two worst
//! `CloseWindow`s do not fit one reply: a parent then sends the second in a later one. The
//! clients an update names as failed (at most `MAX_FAILED` = 8, each an order id and a client
//! id: 24 bytes at worst) come out of the room left for its deltas, as its progress does.

use vigil_proto::ids::{name, nid, Generation, Name, Nid, NodeId, OrderId};
use vigil_proto::wire::{
    self, Action, Endpoint, FailedClient, Header, Key, Keyring, Kind, LustrePhase, LustreRecovery, Message,
    NodeDelta, NodeState, Order, OrderProgress, OrderReport, Outcome, PathReport, Ping, PingReply,
    ReplyStatus, Role, Signature, TargetReport, TargetState, TargetStatus, Totals, Update, HEADER_LEN,
    MAX_DATAGRAM, MAX_DELTAS, MAX_REPORTS, TAG_LEN,
};

const SENDER: NodeId = NodeId(0x1122_3344);
const RECEIVER: NodeId = NodeId(0x5566_7788);
const GENERATION: Generation = Generation(7);
const SEQUENCE: u32 = 42;

fn key() -> Key {
    let mut secret = [0u8; 32];
    for (i, b) in secret.iter_mut().enumerate() {
        *b = i as u8;
    }
    Key::new(1, &secret)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A datagram as `header body tag`, the layout pinned strings use.
fn spaced(bytes: &[u8]) -> String {
    let (header, rest) = bytes.split_at(HEADER_LEN);
    let (body, tag) = rest.split_at(rest.len() - TAG_LEN);
    format!("{} {} {}", hex(header), hex(body), hex(tag))
}

fn unhex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(digits.len() % 2 == 0, "odd number of hex digits");
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).expect("hex digit"))
        .collect()
}

fn encode(msg: &Message) -> Vec<u8> {
    let mut buf = [0u8; MAX_DATAGRAM];
    let len = wire::encode(SENDER, RECEIVER, GENERATION, SEQUENCE, msg, &key(), &mut buf).expect("encodes");
    buf[..len].to_vec()
}

/// Asserts that `msg` encodes to exactly the pinned bytes and that they decode back to it.
fn golden(msg: Message, pinned: &str) {
    let bytes = encode(&msg);
    let expected: String = pinned.split_whitespace().collect();
    assert_eq!(hex(&bytes), expected, "encoding of {msg:?}, as header body tag: {}", spaced(&bytes));
    let pinned = unhex(pinned);
    let (header, decoded) = wire::decode(&pinned, &Keyring::new(key())).expect("pinned bytes decode");
    let expected_header = Header {
        kind: msg.kind(),
        sender: SENDER,
        receiver: RECEIVER,
        generation: GENERATION,
        sequence: SEQUENCE,
        key_id: 1,
    };
    assert_eq!(header, expected_header);
    assert_eq!(decoded, msg);
}

fn n(s: &str) -> Name {
    name(s).expect("short name")
}

fn addr(s: &str) -> Nid {
    nid(s).expect("short nid")
}

fn oid(mgs_generation: u32, seq: u32) -> OrderId {
    OrderId { mgs: NodeId::from_name("mgs01"), mgs_generation: Generation(mgs_generation), seq: seq.into() }
}

/// A recognisable signature (the codec does not verify it): bytes 0x40..0x7f.
fn signature() -> Signature {
    let mut s = [0u8; 64];
    for (i, b) in s.iter_mut().enumerate() {
        *b = 0x40 + i as u8;
    }
    Signature(s)
}

fn begin_recovery() -> Order {
    Order {
        id: oid(3, 1),
        action: Action::BeginRecovery {
            target: n("testfs-OST0001"),
            target_generation: Generation(5),
            addrs: [addr("10.1.0.7@o2ib"), addr("10.1.0.8@o2ib")].into_iter().collect(),
            window_ms: 300_000,
        },
        signer: 1,
        signature: signature(),
        age_ms: 1_250,
    }
}

fn close_window() -> Order {
    Order {
        id: oid(3, 2),
        action: Action::CloseWindow {
            dead_mounts: [vigil_proto::wire::mount_tag("2a8f3c1e-5eed-4c1e-8a1b-c06000000000")]
                .into_iter()
                .collect(),
            target: n("testfs-OST0001"),
            target_generation: Generation(5),
            dead: [NodeId(0x1234_5678)].into_iter().collect(),
        },
        signer: 1,
        signature: signature(),
        age_ms: 0,
    }
}

fn target(state: TargetState, addrs: &[&str]) -> TargetStatus {
    TargetStatus {
        target: n("testfs-OST0001"),
        generation: Generation(5),
        state,
        addrs: addrs.iter().map(|a| addr(a)).collect(),
        window_ms: 300_000,
        lustre: None,
    }
}

fn client_ping() -> Ping {
    Ping {
        mounts: Default::default(),
        role: Role::Client,
        interval_ms: 2000,
        home: true,
        name: None,
        reports: Default::default(),
        target: None,
    }
}

#[test]
fn header_and_typical_ping_match_the_spec_by_hand() {
    // Header: "VG", version 3, kind 1, sender/receiver/generation/sequence little-endian, key id 1.
    // Body (postcard): Role::Client = variant 0; 2000 = varint d0 0f; home = 01; name None = 00;
    // reports: length 0; target None = 00; mounts: length 0.
    let bytes = encode(&Message::Ping(client_ping()));
    assert_eq!(&bytes[..HEADER_LEN], &unhex("5647 03 01 44332211 88776655 07000000 2a000000 01")[..]);
    assert_eq!(&bytes[HEADER_LEN..bytes.len() - TAG_LEN], &unhex("00 d00f 01 00 00 00 00")[..]);
    // The tag is HMAC-SHA256 over header and body, truncated to its first 16 bytes.
    use hmac::{Hmac, Mac};
    let secret: Vec<u8> = (0u8..32).collect();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&secret).unwrap();
    mac.update(&bytes[..bytes.len() - TAG_LEN]);
    assert_eq!(&bytes[bytes.len() - TAG_LEN..], &mac.finalize().into_bytes()[..TAG_LEN]);
}

#[test]
fn ping_client_typical() {
    golden(
        Message::Ping(client_ping()),
        "56470301 44332211 88776655 07000000 2a000000 01 \
        00d00f0100000000 \
        618db63d2c74c259992ad9136b931893",
    );
}

#[test]
fn ping_client_named_with_reports() {
    let ping = Ping {
        name: Some(n("c0001")),
        home: false,
        reports: [
            OrderReport { order: oid(3, 1), outcome: Outcome::Applied },
            OrderReport { order: oid(3, 2), outcome: Outcome::Reconnected },
            OrderReport { order: oid(3, 300), outcome: Outcome::Failed },
        ]
        .into_iter()
        .collect(),
        // With the name, the client's one Lustre mount (the tag of its client UUID).
        mounts: [vigil_proto::wire::mount_tag("2a8f3c1e-5eed-4c1e-8a1b-c01000000000")].into_iter().collect(),
        ..client_ping()
    };
    golden(
        Message::Ping(ping),
        "564703014433221188776655070000002a00000001 \
        00d00f000105633030303103fd83fc9a0f030100fd83fc9a0f030201fd83fc9a0f03ac0202000186d49a8a8b \
        edd5efa501 \
        07bd6660dc399d3b2b7991e0dca903b2",
    );
}

#[test]
fn ping_server_target_up() {
    let ping = Ping {
        role: Role::Server,
        name: Some(n("oss1")),
        target: Some(target(TargetState::Up, &["10.1.0.7@o2ib"])),
        ..client_ping()
    };
    golden(
        Message::Ping(ping),
        "56470301 44332211 88776655 07000000 2a000000 01 \
        01d00f0101046f73733100010e7465737466732d4f5354303030310500010d31 \
        302e312e302e37406f326962e0a7120000 \
        d4fba6e132913c9a3edf8030441b6c94",
    );
}

#[test]
fn ping_server_target_recovering() {
    let ping = Ping {
        role: Role::Server,
        target: Some(target(TargetState::Recovering, &["10.1.0.7@o2ib", "[fd00::7]:988"])),
        ..client_ping()
    };
    golden(
        Message::Ping(ping),
        "56470301 44332211 88776655 07000000 2a000000 01 \
        01d00f010000010e7465737466732d4f5354303030310501020d31302e312e30 \
        2e37406f3269620d5b666430303a3a375d3a393838e0a7120000 \
        4b3407c9bab388fd2ac3a8191de95477",
    );
}

#[test]
fn ping_server_with_lustres_view() {
    let lustre = LustreRecovery {
        phase: LustrePhase::Recovering,
        recoverable: 6,
        connected: 5,
        evicted: 0,
        stale: 1,
        duration_s: 0,
    };
    let target = TargetStatus { lustre: Some(lustre), ..target(TargetState::Recovering, &["10.1.0.7@o2ib"]) };
    let ping = Ping { role: Role::Server, target: Some(target), ..client_ping() };
    golden(
        Message::Ping(ping),
        "56470301 44332211 88776655 07000000 2a000000 01 \
        01d00f010000010e7465737466732d4f5354303030310501010d31302e312e30 \
        2e37406f326962e0a7120102060500010000 \
        781a452c75e655b6ef09b6adbb8d051e",
    );
}

#[test]
fn ping_server_target_down() {
    let ping = Ping { role: Role::Server, target: Some(target(TargetState::Down, &[])), ..client_ping() };
    golden(
        Message::Ping(ping),
        "56470301 44332211 88776655 07000000 2a000000 01 \
        01d00f010000010e7465737466732d4f535430303031050200e0a7120000 \
        44441278160773133ef2d09eb8bb4a82",
    );
}

#[test]
fn ping_router_role() {
    let ping = Ping { role: Role::Router, interval_ms: 1000, name: Some(n("r1")), ..client_ping() };
    golden(
        Message::Ping(ping),
        "56470301 44332211 88776655 07000000 2a000000 01 \
        02e8070101027231000000 \
        5ffa92c701624b96ec0f90d0f30b4f48",
    );
}

fn reply(status: ReplyStatus) -> PingReply {
    PingReply { interval_ms: 2000, status, ack: 0, orders: Default::default() }
}

#[test]
fn reply_accepted() {
    golden(
        Message::PingReply(reply(ReplyStatus::Accepted)),
        "56470302 44332211 88776655 07000000 2a000000 01 \
        d00f000000 \
        3671ece0c4dc208a6e0a0d736e1da905",
    );
}

#[test]
fn reply_unknown_with_ack() {
    golden(
        Message::PingReply(PingReply { ack: 17, ..reply(ReplyStatus::Unknown) }),
        "56470302 44332211 88776655 07000000 2a000000 01 \
        d00f011100 \
        855962d3973af2292c4b6994df2574be",
    );
}

#[test]
fn reply_unaddressed_answers_a_first_contact() {
    golden(
        Message::PingReply(reply(ReplyStatus::Unaddressed)),
        "56470302 44332211 88776655 07000000 2a000000 01 \
        d00f040000 \
        43914203f73002e0512b49d0660cf355",
    );
}

#[test]
fn reply_stale_names_the_newest_generation() {
    golden(
        Message::PingReply(reply(ReplyStatus::Stale { newest: Generation(300) })),
        "56470302 44332211 88776655 07000000 2a000000 01 \
        d00f03ac020000 \
        4ccba94df7c012762673d152c851a8fa",
    );
}

#[test]
fn reply_refused_with_v4_and_v6_alternates() {
    let alternates = [
        Endpoint::V4 { ip: [10, 0, 0, 2], port: 7000 },
        Endpoint::V6 { ip: [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], port: 7000 },
    ];
    golden(
        Message::PingReply(reply(ReplyStatus::Refused { alternates: alternates.into_iter().collect() })),
        "56470302 44332211 88776655 07000000 2a000000 01 \
        d00f0202000a000002d83601fd000000000000000000000000000001d8360000 \
        698a4f57708214f1337ccad49ae6fd0e",
    );
}

#[test]
fn reply_with_two_orders() {
    let orders = [begin_recovery(), close_window()].into_iter().collect();
    golden(
        Message::PingReply(PingReply { orders, ..reply(ReplyStatus::Accepted) }),
        "564703024433221188776655070000002a00000001 \
        d00f000002fd83fc9a0f0301000e7465737466732d4f53543030303105020d31302e312e302e37406f326962 \
        0d31302e312e302e38406f326962e0a71201404142434445464748494a4b4c4d4e4f50515253545556575859 \
        5a5b5c5d5e5f606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7fe209fd83fc9a \
        0f0302010e7465737466732d4f5354303030310501f8acd1910101d9c0cd8daabfacc6f00101404142434445 \
        464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f7071 \
        72737475767778797a7b7c7d7e7f00 \
        fc396555b514b5b1cc7eb350abd10ed6",
    );
}

fn empty_update() -> Update {
    Update { interval_ms: 1000, ..Update::default() }
}

#[test]
fn update_empty() {
    golden(
        Message::Update(empty_update()),
        "564703034433221188776655070000002a00000001 \
        e807000000000000000000000000 \
        aee445a0ff956edb24d393ad45593700",
    );
}

#[test]
fn update_every_state_and_role() {
    let path = |parent: u32, state: NodeState, silent_ms: u32| PathReport {
        parent: NodeId(parent),
        state,
        silent_ms,
    };
    let deltas = [
        NodeDelta {
            mounts: Default::default(),
            id: NodeId(0x0a),
            generation: Generation(1),
            role: Role::Client,
            name: Some(n("c0001")),
            paths: [path(0x10, NodeState::Alive, 0), path(0x11, NodeState::Suspect, 6_500)]
                .into_iter()
                .collect(),
        },
        NodeDelta {
            mounts: Default::default(),
            id: NodeId(0x0b),
            generation: Generation(2),
            role: Role::Server,
            name: None,
            paths: [path(0x10, NodeState::Dead, 12_000)].into_iter().collect(),
        },
        NodeDelta {
            mounts: Default::default(),
            id: NodeId(0x0c),
            generation: Generation(3),
            role: Role::Router,
            name: None,
            paths: [path(0x10, NodeState::Unreachable, 13_000)].into_iter().collect(),
        },
        // No path left: the node is no longer heard in this subtree.
        NodeDelta {
            mounts: Default::default(),
            id: NodeId(0x0d),
            generation: Generation(4),
            role: Role::Client,
            name: None,
            paths: Default::default(),
        },
    ];
    let update = Update {
        name: Some(n("r1")),
        base: 3,
        upto: 5,
        more: true,
        deltas: deltas.into_iter().collect(),
        targets: [TargetReport {
            server: NodeId(0x0b),
            status: target(TargetState::Recovering, &["10.1.0.7@o2ib"]),
        }]
        .into_iter()
        .collect(),
        totals: Totals { alive: 1, suspect: 1, dead: 1, unreachable: 1 },
        progress: [OrderProgress { order: oid(3, 1), live: 2, applied: 2, reconnected: 1, failed: 1 }]
            .into_iter()
            .collect(),
        failed: [FailedClient { order: oid(3, 1), client: NodeId(0x0d) }].into_iter().collect(),
        ..empty_update()
    };
    golden(
        Message::Update(update),
        "564703034433221188776655070000002a00000001 \
        e80701027231030501040a010001056330303031021000001101e432000b020100011002e05d000c03020001 \
        1003c865000d0400000000010b0e7465737466732d4f5354303030310501010d31302e312e302e37406f3269 \
        62e0a712000101010101fd83fc9a0f03010202010101fd83fc9a0f03010d \
        154b5198e7046310c511aed7c1584ba6",
    );
}

#[test]
fn order_begin_recovery() {
    golden(
        Message::Order(begin_recovery()),
        "564703044433221188776655070000002a00000001 \
        fd83fc9a0f0301000e7465737466732d4f53543030303105020d31302e312e302e37406f3269620d31302e31 \
        2e302e38406f326962e0a71201404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e \
        5f606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7fe209 \
        9512e597b4609b93308e7c04bc223f12",
    );
}

#[test]
fn order_close_window() {
    golden(
        Message::Order(close_window()),
        "564703044433221188776655070000002a00000001 \
        fd83fc9a0f0302010e7465737466732d4f5354303030310501f8acd1910101d9c0cd8daabfacc6f001014041 \
        42434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d \
        6e6f707172737475767778797a7b7c7d7e7f00 \
        eb1343d35e363e3590b544411acaf1ef",
    );
}

// ----- sizes ------------------------------------------------------------------------------------

/// A name of exactly 32 bytes.
fn long_name(i: u32) -> Name {
    n(&format!("{:0>32}", format!("node-{i}")))
}

/// A 48-byte NID.
fn long_nid(i: u32) -> Nid {
    addr(&format!("{:0>48}", format!("10.1.0.{i}@o2ib")))
}

/// A delta of the largest size: 5-byte varints, a 32-byte name, two paths.
fn worst_delta(i: u32) -> NodeDelta {
    let path =
        |parent: u32| PathReport { parent: NodeId(parent), state: NodeState::Suspect, silent_ms: u32::MAX };
    NodeDelta {
        mounts: [u64::MAX, u64::MAX - 1].into_iter().collect(),
        id: NodeId(0xf000_0000 + i),
        generation: Generation(0xf000_0000),
        role: Role::Client,
        name: Some(long_name(i)),
        paths: [path(0xf000_0001), path(0xf000_0002)].into_iter().collect(),
    }
}

/// A typical delta: a client heard on one path, named (the first time the parent hears of it).
fn typical_delta(i: u32) -> NodeDelta {
    NodeDelta {
        mounts: [vigil_proto::wire::mount_tag(&format!("{i:08x}-5eed-4c1e-8a1b-000000000000"))]
            .into_iter()
            .collect(),
        id: NodeId::from_name(&format!("c{i:05}")),
        generation: Generation(1_700_000_000),
        role: Role::Client,
        name: Some(n(&format!("c{i:05}"))),
        paths: [PathReport { parent: NodeId::from_name("r1"), state: NodeState::Alive, silent_ms: 0 }]
            .into_iter()
            .collect(),
    }
}

fn steady_update(deltas: impl IntoIterator<Item = NodeDelta>) -> Update {
    Update {
        interval_ms: 1000,
        name: None,
        base: 100_000,
        upto: 100_001,
        more: false,
        deltas: deltas.into_iter().collect(),
        targets: Default::default(),
        totals: Totals { alive: 1000, suspect: 2, dead: 1, unreachable: 0 },
        progress: Default::default(),
        failed: Default::default(),
    }
}

fn size(msg: &Message) -> usize {
    encode(msg).len()
}

fn worst_order(seq: u32, close: bool) -> Order {
    let action = if close {
        Action::CloseWindow {
            dead_mounts: (0..vigil_proto::wire::MAX_DEAD as u64).map(|i| u64::MAX - i).collect(),
            target: long_name(seq),
            target_generation: Generation(u32::MAX),
            dead: (0..vigil_proto::wire::MAX_DEAD as u32).map(|i| NodeId(u32::MAX - i)).collect(),
        }
    } else {
        Action::BeginRecovery {
            target: long_name(seq),
            target_generation: Generation(u32::MAX),
            addrs: [long_nid(1), long_nid(2)].into_iter().collect(),
            window_ms: u32::MAX,
        }
    };
    Order { id: oid(u32::MAX, u32::MAX - seq), action, signer: 255, signature: signature(), age_ms: u32::MAX }
}

#[test]
fn datagram_sizes() {
    let mut sizes = Vec::new();
    let mut measure = |what: &str, msg: Message| {
        let bytes = size(&msg);
        println!("{what:<50} {bytes:>5} bytes");
        sizes.push(bytes);
    };

    measure("ping, client, no name, no reports", Message::Ping(client_ping()));
    measure(
        "ping, client, 20-byte name, no reports",
        Message::Ping(Ping { name: Some(n("client-rack07-c00042")), ..client_ping() }),
    );
    let reports = (1..=MAX_REPORTS as u32)
        .map(|seq| OrderReport { order: oid(1_700_000_000, seq), outcome: Outcome::Reconnected })
        .collect();
    measure(
        "ping, server, 16 reports, target status",
        Message::Ping(Ping {
            role: Role::Server,
            name: Some(n("oss07")),
            reports,
            target: Some(TargetStatus {
                generation: Generation(1_700_000_000),
                ..target(TargetState::Recovering, &["10.1.0.7@o2ib", "10.2.0.7@o2ib1"])
            }),
            ..client_ping()
        }),
    );
    let worst_reports = (1..=MAX_REPORTS as u32)
        .map(|seq| OrderReport { order: oid(u32::MAX, u32::MAX - seq), outcome: Outcome::Failed })
        .collect();
    measure(
        "ping, worst case",
        Message::Ping(Ping {
            role: Role::Server,
            interval_ms: u32::MAX,
            name: Some(long_name(0)),
            mounts: [u64::MAX, u64::MAX - 1].into_iter().collect(),
            reports: worst_reports,
            target: Some(TargetStatus {
                target: long_name(1),
                generation: Generation(u32::MAX),
                state: TargetState::Recovering,
                addrs: [long_nid(1), long_nid(2)].into_iter().collect(),
                window_ms: u32::MAX,
                lustre: Some(LustreRecovery {
                    phase: LustrePhase::Complete,
                    recoverable: u32::MAX,
                    connected: u32::MAX,
                    evicted: u32::MAX,
                    stale: u32::MAX,
                    duration_s: u32::MAX,
                }),
            }),
            ..client_ping()
        }),
    );
    measure(
        "reply, accepted, 0 orders",
        Message::PingReply(PingReply { ack: 100_001, ..reply(ReplyStatus::Accepted) }),
    );
    measure(
        "reply, accepted, 2 orders",
        Message::PingReply(PingReply {
            ack: 100_001,
            orders: [begin_recovery(), close_window()].into_iter().collect(),
            ..reply(ReplyStatus::Accepted)
        }),
    );
    let v6 = Endpoint::V6 { ip: [0xfd; 16], port: u16::MAX };
    measure(
        "reply, worst case",
        Message::PingReply(PingReply {
            interval_ms: u32::MAX,
            status: ReplyStatus::Refused { alternates: [v6; 4].into_iter().collect() },
            ack: u32::MAX,
            orders: [worst_order(1, false), worst_order(2, false)].into_iter().collect(),
        }),
    );
    measure("order, worst CloseWindow (32 dead clients, 32 mounts)", Message::Order(worst_order(3, true)));
    measure("update, 0 deltas", Message::Update(steady_update([])));
    measure("update, 1 delta", Message::Update(steady_update((0..1).map(typical_delta))));
    measure("update, 10 deltas", Message::Update(steady_update((0..10).map(typical_delta))));

    // The most worst-case deltas one page holds: one more does not encode.
    let fits = |count: u32| {
        let msg = Message::Update(steady_update((0..count).map(worst_delta)));
        let mut buf = [0u8; MAX_DATAGRAM];
        wire::encode(SENDER, RECEIVER, GENERATION, SEQUENCE, &msg, &key(), &mut buf).ok()
    };
    let most = (0..=MAX_DELTAS as u32).take_while(|&c| fits(c).is_some()).last().unwrap();
    assert!(fits(most + 1).is_none() || most as usize == MAX_DELTAS);
    println!("most worst-case deltas in one update: {most}");
    measure("update, most worst-case deltas", Message::Update(steady_update((0..most).map(worst_delta))));

    // The figures in this file's doc comment.
    assert_eq!(sizes, [45, 66, 298, 527, 44, 274, 586, 643, 56, 92, 420, 1124]);
    assert_eq!(most, 12);
    assert!(sizes.iter().all(|&s| s <= MAX_DATAGRAM));
}

#[test]
fn every_kind_has_a_vector() {
    // A new kind must get a golden vector here; this lists the kinds the vectors above cover.
    let covered = [Kind::Ping, Kind::PingReply, Kind::Update, Kind::Order, Kind::StaleParent];
    for (i, kind) in covered.iter().enumerate() {
        assert_eq!(*kind as u8, i as u8 + 1);
    }
    assert!(wire::peek_header(&unhex(
        "5647 03 06 00000000 00000000 00000000 00000000 01 00000000000000000000000000000000"
    ))
    .is_err_and(|e| e == wire::Error::UnknownKind(6)));
}

#[test]
fn stale_parent_names_the_newest_generation() {
    golden(
        Message::StaleParent(wire::StaleParent { newest: Generation(300) }),
        "56470305 44332211 88776655 07000000 2a000000 01 \
        ac02 \
        0ae2d1a46f2487de752ebc251a996905",
    );
}
