//! Properties of the codec over generated messages and hostile bytes: every message that fits
//! round-trips, nothing decodes that should not, and decoding never panics.
//!
//! Strategies cover every message type within the heapless capacities (names up to 32 bytes,
//! NIDs up to 48, every `Vec` up to its capacity), so some updates are too large for a datagram:
//! those must fail with `BufferTooSmall`, exactly when their postcard size says so.

use hmac::{Hmac, Mac};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use sha2::Sha256;
use vigil_proto::ids::{Generation, Name, Nid, NodeId, OrderId};
use vigil_proto::wire::{
    self, Action, Endpoint, Error, FailedClient, Header, Key, Keyring, Kind, LustrePhase, LustreRecovery,
    Message, NodeDelta, NodeState, Order, OrderProgress, OrderReport, Outcome, PathReport, Ping, PingReply,
    ReplyStatus, Role, Signature, TargetReport, TargetState, TargetStatus, Totals, Update, HEADER_LEN,
    MAX_DATAGRAM, TAG_LEN,
};

const SECRET: [u8; 32] = [0x33; 32];

fn key() -> Key {
    Key::new(1, &SECRET)
}

fn keys() -> Keyring {
    Keyring::new(key())
}

/// The tag `wire` should compute, from the primitives: HMAC-SHA256 cut to 16 bytes.
fn tag_of(secret: &[u8], signed: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(signed);
    mac.finalize().into_bytes()[..TAG_LEN].to_vec()
}

// ----- strategies -------------------------------------------------------------------------------

fn name() -> impl Strategy<Value = Name> {
    // ASCII up to the full 32 bytes, or up to 8 characters of any width (at most 32 bytes).
    prop_oneof!["[a-zA-Z0-9._-]{0,32}", "\\PC{0,8}"].prop_map(|s| Name::try_from(s.as_str()).unwrap())
}

fn nid() -> impl Strategy<Value = Nid> {
    prop_oneof!["[a-z0-9.@:\\[\\]]{0,48}", "\\PC{0,12}"].prop_map(|s| Nid::try_from(s.as_str()).unwrap())
}

fn hvec<T: core::fmt::Debug, const N: usize>(
    item: impl Strategy<Value = T>,
) -> impl Strategy<Value = heapless::Vec<T, N>> {
    vec(item, 0..=N).prop_map(|items| items.into_iter().collect())
}

fn generation() -> impl Strategy<Value = Generation> {
    any::<u32>().prop_map(Generation)
}

fn node_id() -> impl Strategy<Value = NodeId> {
    any::<u32>().prop_map(NodeId)
}

fn order_id() -> impl Strategy<Value = OrderId> {
    (any::<u32>(), generation(), any::<u64>()).prop_map(|(mgs, mgs_generation, seq)| OrderId {
        mgs: NodeId(mgs),
        mgs_generation,
        seq,
    })
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Client), Just(Role::Server), Just(Role::Router)]
}

fn node_state() -> impl Strategy<Value = NodeState> {
    prop_oneof![
        Just(NodeState::Alive),
        Just(NodeState::Suspect),
        Just(NodeState::Dead),
        Just(NodeState::Unreachable)
    ]
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![Just(Outcome::Applied), Just(Outcome::Reconnected), Just(Outcome::Failed)]
}

fn target_state() -> impl Strategy<Value = TargetState> {
    prop_oneof![Just(TargetState::Up), Just(TargetState::Recovering), Just(TargetState::Down)]
}

fn lustre_recovery() -> impl Strategy<Value = LustreRecovery> {
    let phase = prop_oneof![
        Just(LustrePhase::Inactive),
        Just(LustrePhase::Waiting),
        Just(LustrePhase::Recovering),
        Just(LustrePhase::Complete)
    ];
    (phase, any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>()).prop_map(
        |(phase, recoverable, connected, evicted, stale, duration_s)| LustreRecovery {
            phase,
            recoverable,
            connected,
            evicted,
            stale,
            duration_s,
        },
    )
}

fn target_status() -> impl Strategy<Value = TargetStatus> {
    (name(), generation(), target_state(), hvec(nid()), any::<u32>(), proptest::option::of(lustre_recovery()))
        .prop_map(|(target, generation, state, addrs, window_ms, lustre)| TargetStatus {
            target,
            generation,
            state,
            addrs,
            window_ms,
            lustre,
        })
}

fn ping() -> impl Strategy<Value = Ping> {
    let report = (order_id(), outcome()).prop_map(|(order, outcome)| OrderReport { order, outcome });
    (
        role(),
        any::<u32>(),
        any::<bool>(),
        proptest::option::of(name()),
        hvec(report),
        proptest::option::of(target_status()),
        hvec(any::<u64>()),
    )
        .prop_map(|(role, interval_ms, home, name, reports, target, mounts)| Ping {
            mounts,
            role,
            interval_ms,
            home,
            name,
            reports,
            target,
        })
}

fn endpoint() -> impl Strategy<Value = Endpoint> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| Endpoint::V4 { ip, port }),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, port)| Endpoint::V6 { ip, port }),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        (name(), generation(), hvec(nid()), any::<u32>()).prop_map(
            |(target, target_generation, addrs, window_ms)| Action::BeginRecovery {
                target,
                target_generation,
                addrs,
                window_ms
            }
        ),
        (name(), generation(), hvec(any::<u32>().prop_map(NodeId)), hvec(any::<u64>())).prop_map(
            |(target, target_generation, dead, dead_mounts)| Action::CloseWindow {
                dead_mounts,
                target,
                target_generation,
                dead
            }
        ),
    ]
}

fn order() -> impl Strategy<Value = Order> {
    (order_id(), action(), any::<u8>(), any::<[u8; 32]>(), any::<[u8; 32]>(), any::<u32>()).prop_map(
        |(id, action, signer, low, high, age_ms)| {
            let mut signature = [0u8; 64];
            signature[..32].copy_from_slice(&low);
            signature[32..].copy_from_slice(&high);
            Order { id, action, signer, signature: Signature(signature), age_ms }
        },
    )
}

fn ping_reply() -> impl Strategy<Value = PingReply> {
    let status = prop_oneof![
        Just(ReplyStatus::Accepted),
        Just(ReplyStatus::Unknown),
        hvec(endpoint()).prop_map(|alternates| ReplyStatus::Refused { alternates }),
        any::<u32>().prop_map(|g| ReplyStatus::Stale { newest: Generation(g) }),
        Just(ReplyStatus::Unaddressed),
    ];
    (any::<u32>(), status, any::<u32>(), hvec(order()))
        .prop_map(|(interval_ms, status, ack, orders)| PingReply { interval_ms, status, ack, orders })
}

fn update() -> impl Strategy<Value = Update> {
    let path = (node_id(), node_state(), any::<u32>()).prop_map(|(parent, state, silent_ms)| PathReport {
        parent,
        state,
        silent_ms,
    });
    let delta =
        (node_id(), generation(), role(), proptest::option::of(name()), hvec(path), hvec(any::<u64>()))
            .prop_map(|(id, generation, role, name, paths, mounts)| NodeDelta {
                mounts,
                id,
                generation,
                role,
                name,
                paths,
            });
    let target = (node_id(), target_status()).prop_map(|(server, status)| TargetReport { server, status });
    let totals = any::<[u32; 4]>().prop_map(|[alive, suspect, dead, unreachable]| Totals {
        alive,
        suspect,
        dead,
        unreachable,
    });
    let progress =
        (order_id(), any::<[u32; 4]>()).prop_map(|(order, [live, applied, reconnected, failed])| {
            OrderProgress { order, live, applied, reconnected, failed }
        });
    let failed = (order_id(), node_id()).prop_map(|(order, client)| FailedClient { order, client });
    (
        (any::<u32>(), proptest::option::of(name()), any::<u32>(), any::<u32>(), any::<bool>()),
        (hvec(delta), hvec(target), totals, hvec(progress), hvec(failed)),
    )
        .prop_map(
            |((interval_ms, name, base, upto, more), (deltas, targets, totals, progress, failed))| Update {
                interval_ms,
                name,
                base,
                upto,
                more,
                deltas,
                targets,
                totals,
                progress,
                failed,
            },
        )
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        ping().prop_map(Message::Ping),
        ping_reply().prop_map(Message::PingReply),
        update().prop_map(Message::Update),
        order().prop_map(Message::Order),
    ]
}

/// Sender, generation and sequence of a header.
/// Header fields: sender, receiver, generation, sequence.
fn fields() -> impl Strategy<Value = (NodeId, NodeId, Generation, u32)> {
    (node_id(), node_id(), generation(), any::<u32>())
}

// ----- helpers ----------------------------------------------------------------------------------

fn body_len(msg: &Message) -> usize {
    fn size<T: serde::Serialize>(value: &T) -> usize {
        postcard::serialize_with_flavor(value, postcard::ser_flavors::Size::default()).unwrap()
    }
    match msg {
        Message::Ping(m) => size(m),
        Message::PingReply(m) => size(m),
        Message::Update(m) => size(m),
        Message::Order(m) => size(m),
        Message::StaleParent(m) => size(m),
    }
}

fn encode_with(
    (sender, receiver, generation, sequence): (NodeId, NodeId, Generation, u32),
    msg: &Message,
    key: &Key,
) -> Result<Vec<u8>, Error> {
    let mut buf = [0u8; 1500];
    let len = wire::encode(sender, receiver, generation, sequence, msg, key, &mut buf)?;
    Ok(buf[..len].to_vec())
}

/// The errors a datagram with byte `at` changed may give.
fn expected_flip_errors(at: usize, flipped: u8) -> Vec<Error> {
    match at {
        0 | 1 => vec![Error::BadMagic],
        2 => vec![Error::UnknownVersion(flipped)],
        // Another defined kind passes the header check and fails the tag.
        3 => vec![Error::UnknownKind(flipped), Error::BadTag],
        20 => vec![Error::UnknownKey(flipped)],
        _ => vec![Error::BadTag],
    }
}

// ----- properties -------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Whatever fits round-trips; whatever does not is refused, never cut.
    #[test]
    fn messages_round_trip_exactly_when_they_fit(fields in fields(), msg in message()) {
        let wanted = HEADER_LEN + body_len(&msg) + TAG_LEN;
        match encode_with(fields, &msg, &key()) {
            Ok(bytes) => {
                prop_assert!(bytes.len() <= MAX_DATAGRAM);
                prop_assert_eq!(bytes.len(), wanted);
                let (header, decoded) = wire::decode(&bytes, &keys()).unwrap();
                let (sender, receiver, generation, sequence) = fields;
                let kind = msg.kind();
                prop_assert_eq!(header, Header { kind, sender, receiver, generation, sequence, key_id: 1 });
                prop_assert_eq!(&decoded, &msg);
                prop_assert_eq!(wire::peek_header(&bytes), Ok(header));
                // A buffer of exactly the datagram's size is enough; one byte less is not.
                let mut exact = vec![0u8; wanted];
                let encode = |buf: &mut [u8]| wire::encode(sender, receiver, generation, sequence, &msg, &key(), buf);
                prop_assert_eq!(encode(&mut exact), Ok(wanted));
                prop_assert_eq!(&exact, &bytes);
                prop_assert_eq!(
                    encode(&mut exact[..wanted - 1]),
                    Err(Error::BufferTooSmall)
                );
            }
            Err(e) => {
                prop_assert_eq!(e, Error::BufferTooSmall);
                prop_assert!(wanted > MAX_DATAGRAM, "refused a {}-byte datagram", wanted);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Random bytes: no panic, and `decode` fails the way `peek_header` does.
    #[test]
    fn random_bytes_never_decode_nor_panic(bytes in vec(any::<u8>(), 0..1300)) {
        let result = wire::decode(&bytes, &keys());
        prop_assert!(result.is_err(), "random bytes decoded");
        if let Err(peek) = wire::peek_header(&bytes) {
            prop_assert_eq!(result.unwrap_err(), peek);
        }
    }

    /// A valid header and a random body with a valid tag reach the body parser: it must fail
    /// with `Malformed` or yield a message that re-encodes and decodes to itself.
    #[test]
    fn random_authentic_bodies_parse_or_are_malformed(
        kind in 1u8..=4,
        fields in fields(),
        body in vec(any::<u8>(), 0..400),
    ) {
        let (sender, receiver, generation, sequence) = fields;
        let mut bytes = b"VG".to_vec();
        bytes.extend([wire::VERSION, kind]);
        for word in [sender.0, receiver.0, generation.0, sequence] {
            bytes.extend_from_slice(&word.to_le_bytes());
        }
        bytes.push(1);
        bytes.extend_from_slice(&body);
        let tag = tag_of(&SECRET, &bytes);
        bytes.extend_from_slice(&tag);
        match wire::decode(&bytes, &keys()) {
            Ok((header, msg)) => {
                prop_assert_eq!(header.kind as u8, kind);
                let again = encode_with(fields, &msg, &key()).unwrap();
                // Postcard accepts overlong varints: the canonical form is never longer.
                prop_assert!(again.len() <= bytes.len());
                prop_assert_eq!(wire::decode(&again, &keys()), Ok((header, msg)));
            }
            Err(e) => prop_assert_eq!(e, Error::Malformed),
        }
    }

    /// The same near valid bodies: one byte of a real message changed, then re-tagged.
    #[test]
    fn changed_authentic_bodies_parse_or_are_malformed(
        fields in fields(),
        msg in message(),
        at in any::<Index>(),
        value in any::<u8>(),
    ) {
        let Ok(mut bytes) = encode_with(fields, &msg, &key()) else { return Ok(()) };
        let end = bytes.len() - TAG_LEN;
        prop_assume!(end > HEADER_LEN);
        bytes[HEADER_LEN + at.index(end - HEADER_LEN)] = value;
        let tag = tag_of(&SECRET, &bytes[..end]);
        bytes[end..].copy_from_slice(&tag);
        match wire::decode(&bytes, &keys()) {
            Ok((header, decoded)) => {
                let again = encode_with(fields, &decoded, &key()).unwrap();
                prop_assert!(again.len() <= bytes.len());
                prop_assert_eq!(wire::decode(&again, &keys()), Ok((header, decoded)));
            }
            Err(e) => prop_assert_eq!(e, Error::Malformed),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The tag covers every byte: changing any one of them is detected, by the header check or
    /// the tag.
    #[test]
    fn any_changed_byte_fails(fields in fields(), msg in message(), at in any::<Index>(), mask in 1u8..=255) {
        let Ok(mut bytes) = encode_with(fields, &msg, &key()) else { return Ok(()) };
        let at = at.index(bytes.len());
        bytes[at] ^= mask;
        let error = wire::decode(&bytes, &keys()).expect_err("a changed datagram decoded");
        prop_assert!(
            expected_flip_errors(at, bytes[at]).contains(&error),
            "byte {} of {}: {:?}", at, bytes.len(), error
        );
    }

    /// Another cluster's datagrams are refused: by the tag under a shared key id, else by id.
    #[test]
    fn another_key_is_refused(fields in fields(), msg in message(), id in any::<u8>(), secret in any::<[u8; 32]>()) {
        prop_assume!(secret != SECRET);
        let Ok(bytes) = encode_with(fields, &msg, &Key::new(id, &secret)) else { return Ok(()) };
        let expected = if id == 1 { Error::BadTag } else { Error::UnknownKey(id) };
        prop_assert_eq!(wire::decode(&bytes, &keys()).map(|_| ()), Err(expected));
        // During a rotation the same datagram is accepted through `previous`.
        let rotating = Keyring { current: key(), previous: Some(Key::new(id, &secret)) };
        if id != 1 {
            prop_assert_eq!(wire::decode(&bytes, &rotating).map(|(_, m)| m), Ok(msg));
        }
    }

    /// Bytes after a complete body are refused even under a valid tag.
    #[test]
    fn trailing_bytes_are_malformed(fields in fields(), msg in message(), extra in vec(any::<u8>(), 1..16)) {
        let Ok(bytes) = encode_with(fields, &msg, &key()) else { return Ok(()) };
        let mut longer = bytes[..bytes.len() - TAG_LEN].to_vec();
        // The encoder's tag is the documented one, so re-tagging below is what a sender does.
        prop_assert_eq!(&tag_of(&SECRET, &longer), &bytes[bytes.len() - TAG_LEN..]);
        longer.extend_from_slice(&extra);
        let tag = tag_of(&SECRET, &longer);
        longer.extend_from_slice(&tag);
        prop_assume!(longer.len() <= MAX_DATAGRAM);
        prop_assert_eq!(wire::decode(&longer, &keys()).map(|_| ()), Err(Error::Malformed));
    }
}

/// The kinds the properties above generate: a new kind must get a strategy.
#[test]
fn strategies_cover_every_kind() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut seen = Vec::new();
    for _ in 0..200 {
        let kind = message().new_tree(&mut runner).unwrap().current().kind();
        if !seen.contains(&kind) {
            seen.push(kind);
        }
    }
    for kind in [Kind::Ping, Kind::PingReply, Kind::Update, Kind::Order] {
        assert!(seen.contains(&kind), "{kind:?} never generated");
    }
}
