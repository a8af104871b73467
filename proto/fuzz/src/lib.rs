//! Shared pieces of the fuzz targets: the fuzz key, structured messages built with `arbitrary`
//! (wrapper types mirroring `vigil_proto::wire`, whose types do not implement `Arbitrary`), and
//! re-tagging of hand-made datagrams.
//!
//! Random bytes almost never carry a valid tag, so both targets also build datagrams that do:
//! `decode` re-tags whatever body it is given, `machines` encodes structured messages with the
//! key the machines hold.

use arbitrary::Arbitrary;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use vigil_proto::ids::{Generation, Name, Nid, NodeId, OrderId, NAME_LEN, NID_LEN};
use vigil_proto::wire::{
    self, Action, Endpoint, FailedClient, Key, Keyring, LustrePhase, LustreRecovery, Message, NodeDelta,
    NodeState, Order, OrderProgress, OrderReport, Outcome, PathReport, Ping, PingReply, ReplyStatus, Role,
    Signature, TargetReport, TargetState, TargetStatus, Totals, Update, HEADER_LEN, TAG_LEN,
};

/// The secret every fuzzed machine and datagram uses.
pub const SECRET: [u8; 32] = [0x5a; 32];
/// Its key id.
pub const KEY_ID: u8 = 1;

/// The fuzz key.
pub fn key() -> Key {
    Key::new(KEY_ID, &SECRET)
}

/// A keyring holding only the fuzz key.
pub fn keys() -> Keyring {
    Keyring::new(key())
}

/// Rewrites the last [`TAG_LEN`] bytes of `datagram` to the valid tag under the fuzz key.
pub fn retag(datagram: &mut [u8]) {
    if datagram.len() < HEADER_LEN + TAG_LEN {
        return;
    }
    let end = datagram.len() - TAG_LEN;
    let mut mac = Hmac::<Sha256>::new_from_slice(&SECRET).expect("HMAC takes any key");
    mac.update(&datagram[..end]);
    datagram[end..].copy_from_slice(&mac.finalize().into_bytes()[..TAG_LEN]);
}

/// Encodes a message from `sender` to `receiver` with the fuzz key; `None` when it does not fit
/// a datagram.
pub fn encode(
    sender: NodeId,
    receiver: NodeId,
    generation: Generation,
    sequence: u32,
    msg: &Message,
) -> Option<Vec<u8>> {
    let mut buf = [0u8; wire::MAX_DATAGRAM];
    let len = wire::encode(sender, receiver, generation, sequence, msg, &key(), &mut buf).ok()?;
    Some(buf[..len].to_vec())
}

/// Whom a structured datagram is addressed to.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum AReceiver {
    /// The machine it is delivered to.
    Intended,
    /// No one: a first contact.
    Nobody,
    /// Another node: misdirected.
    Other(ANode),
}

impl AReceiver {
    /// The receiver's id, `intended` being the machine the datagram is delivered to.
    pub fn id(self, intended: NodeId) -> NodeId {
        match self {
            AReceiver::Intended => intended,
            AReceiver::Nobody => NodeId::NOBODY,
            AReceiver::Other(node) => node.id(),
        }
    }
}

// ----- wrapper types ------------------------------------------------------------------------

fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn bounded<T, U: Into<T>, const N: usize>(items: Vec<U>) -> heapless::Vec<T, N> {
    items.into_iter().take(N).map(Into::into).collect()
}

/// A name of at most [`NAME_LEN`] bytes (longer strings are cut).
#[derive(Arbitrary, Debug, Clone)]
pub struct AName(pub String);

impl From<AName> for Name {
    fn from(n: AName) -> Name {
        Name::try_from(cut(&n.0, NAME_LEN)).unwrap_or_default()
    }
}

/// A NID of at most [`NID_LEN`] bytes.
#[derive(Arbitrary, Debug, Clone)]
pub struct ANid(pub String);

impl From<ANid> for Nid {
    fn from(n: ANid) -> Nid {
        Nid::try_from(cut(&n.0, NID_LEN)).unwrap_or_default()
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum ARole {
    Client,
    Server,
    Router,
}

impl From<ARole> for Role {
    fn from(r: ARole) -> Role {
        match r {
            ARole::Client => Role::Client,
            ARole::Server => Role::Server,
            ARole::Router => Role::Router,
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum AState {
    Alive,
    Suspect,
    Dead,
    Unreachable,
}

impl From<AState> for NodeState {
    fn from(s: AState) -> NodeState {
        match s {
            AState::Alive => NodeState::Alive,
            AState::Suspect => NodeState::Suspect,
            AState::Dead => NodeState::Dead,
            AState::Unreachable => NodeState::Unreachable,
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct AOrderId {
    pub mgs: u32,
    pub mgs_generation: u32,
    pub seq: u32,
}

impl From<AOrderId> for OrderId {
    fn from(o: AOrderId) -> OrderId {
        OrderId { mgs: NodeId(o.mgs), mgs_generation: Generation(o.mgs_generation), seq: o.seq.into() }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum AOutcome {
    Applied,
    Reconnected,
    Failed,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct AReport {
    pub order: AOrderId,
    pub outcome: AOutcome,
}

impl From<AReport> for OrderReport {
    fn from(r: AReport) -> OrderReport {
        let outcome = match r.outcome {
            AOutcome::Applied => Outcome::Applied,
            AOutcome::Reconnected => Outcome::Reconnected,
            AOutcome::Failed => Outcome::Failed,
        };
        OrderReport { order: r.order.into(), outcome }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum ATargetState {
    Up,
    Recovering,
    Down,
}

#[derive(Arbitrary, Debug, Clone)]
pub struct ATarget {
    pub target: AName,
    pub generation: u32,
    pub state: ATargetState,
    pub addrs: Vec<ANid>,
    pub window_ms: u32,
    pub lustre: Option<ALustre>,
}

#[derive(Arbitrary, Debug, Clone)]
pub struct ALustre {
    pub phase: u8,
    pub recoverable: u32,
    pub connected: u32,
    pub evicted: u32,
    pub stale: u32,
    pub duration_s: u32,
}

impl From<ALustre> for LustreRecovery {
    fn from(l: ALustre) -> LustreRecovery {
        let phase = match l.phase % 4 {
            0 => LustrePhase::Inactive,
            1 => LustrePhase::Waiting,
            2 => LustrePhase::Recovering,
            _ => LustrePhase::Complete,
        };
        LustreRecovery {
            phase,
            recoverable: l.recoverable,
            connected: l.connected,
            evicted: l.evicted,
            stale: l.stale,
            duration_s: l.duration_s,
        }
    }
}

impl From<ATarget> for TargetStatus {
    fn from(t: ATarget) -> TargetStatus {
        let state = match t.state {
            ATargetState::Up => TargetState::Up,
            ATargetState::Recovering => TargetState::Recovering,
            ATargetState::Down => TargetState::Down,
        };
        TargetStatus {
            target: t.target.into(),
            generation: Generation(t.generation),
            state,
            addrs: bounded(t.addrs),
            window_ms: t.window_ms,
            lustre: t.lustre.map(LustreRecovery::from),
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub struct APing {
    pub role: ARole,
    pub interval_ms: u32,
    pub home: bool,
    pub name: Option<AName>,
    pub reports: Vec<AReport>,
    pub target: Option<ATarget>,
    pub mounts: Vec<u64>,
}

impl From<APing> for Ping {
    fn from(p: APing) -> Ping {
        Ping {
            role: p.role.into(),
            interval_ms: p.interval_ms,
            home: p.home,
            name: p.name.map(Into::into),
            reports: bounded(p.reports),
            target: p.target.map(Into::into),
            mounts: bounded(p.mounts),
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum AEndpoint {
    V4 { ip: [u8; 4], port: u16 },
    V6 { ip: [u8; 16], port: u16 },
}

impl From<AEndpoint> for Endpoint {
    fn from(e: AEndpoint) -> Endpoint {
        match e {
            AEndpoint::V4 { ip, port } => Endpoint::V4 { ip, port },
            AEndpoint::V6 { ip, port } => Endpoint::V6 { ip, port },
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub enum AStatus {
    Accepted,
    Unknown,
    Refused { alternates: Vec<AEndpoint> },
    Stale { newest: u32 },
    Unaddressed,
}

impl From<AStatus> for ReplyStatus {
    fn from(s: AStatus) -> ReplyStatus {
        match s {
            AStatus::Accepted => ReplyStatus::Accepted,
            AStatus::Unknown => ReplyStatus::Unknown,
            AStatus::Refused { alternates } => ReplyStatus::Refused { alternates: bounded(alternates) },
            AStatus::Stale { newest } => ReplyStatus::Stale { newest: Generation(newest) },
            AStatus::Unaddressed => ReplyStatus::Unaddressed,
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub enum AAction {
    BeginRecovery { target: AName, target_generation: u32, addrs: Vec<ANid>, window_ms: u32 },
    CloseWindow { target: AName, target_generation: u32, dead: Vec<u32>, dead_mounts: Vec<u64> },
}

impl From<AAction> for Action {
    fn from(a: AAction) -> Action {
        match a {
            AAction::BeginRecovery { target, target_generation, addrs, window_ms } => Action::BeginRecovery {
                target: target.into(),
                target_generation: Generation(target_generation),
                addrs: bounded(addrs),
                window_ms,
            },
            AAction::CloseWindow { target, target_generation, dead, dead_mounts } => Action::CloseWindow {
                target: target.into(),
                target_generation: Generation(target_generation),
                dead: bounded(dead.into_iter().map(NodeId).collect()),
                dead_mounts: bounded(dead_mounts),
            },
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub struct AOrder {
    pub id: AOrderId,
    pub action: AAction,
    pub signer: u8,
    /// The first bytes of the signature; the rest are zero (no fuzzer forges ed25519).
    pub signature: [u8; 8],
    pub age_ms: u32,
}

impl From<AOrder> for Order {
    fn from(o: AOrder) -> Order {
        let mut signature = Signature::default();
        signature.0[..8].copy_from_slice(&o.signature);
        Order { id: o.id.into(), action: o.action.into(), signer: o.signer, signature, age_ms: o.age_ms }
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub struct AReply {
    pub interval_ms: u32,
    pub status: AStatus,
    pub ack: u32,
    pub orders: Vec<AOrder>,
}

impl From<AReply> for PingReply {
    fn from(r: AReply) -> PingReply {
        PingReply {
            interval_ms: r.interval_ms,
            status: r.status.into(),
            ack: r.ack,
            orders: bounded(r.orders),
        }
    }
}

/// A node named by a small index, so that steps refer to the same nodes again.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct ANode(pub u8);

impl ANode {
    /// Names `n0` .. `n15`.
    pub fn name(self) -> Name {
        Name::try_from(format!("n{}", self.0 % 16).as_str()).unwrap_or_default()
    }

    /// The id derived from the name.
    pub fn id(self) -> NodeId {
        NodeId::from_name(&self.name())
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub struct APath {
    pub parent: ANode,
    pub state: AState,
    pub silent_ms: u32,
}

impl From<APath> for PathReport {
    fn from(p: APath) -> PathReport {
        PathReport { parent: p.parent.id(), state: p.state.into(), silent_ms: p.silent_ms }
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub struct ADelta {
    pub node: ANode,
    pub generation: u8,
    pub role: ARole,
    pub named: bool,
    pub paths: Vec<APath>,
    pub mounts: Vec<u64>,
}

impl From<ADelta> for NodeDelta {
    fn from(d: ADelta) -> NodeDelta {
        NodeDelta {
            id: d.node.id(),
            generation: Generation(u32::from(d.generation)),
            role: d.role.into(),
            name: d.named.then(|| d.node.name()),
            paths: bounded(d.paths),
            mounts: bounded(d.mounts),
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub struct ATargetReport {
    pub server: ANode,
    pub status: ATarget,
}

impl From<ATargetReport> for TargetReport {
    fn from(t: ATargetReport) -> TargetReport {
        TargetReport { server: t.server.id(), status: t.status.into() }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct AProgress {
    pub order: AOrderId,
    pub live: u32,
    pub applied: u32,
    pub reconnected: u32,
    pub failed: u32,
}

impl From<AProgress> for OrderProgress {
    fn from(p: AProgress) -> OrderProgress {
        OrderProgress {
            order: p.order.into(),
            live: p.live,
            applied: p.applied,
            reconnected: p.reconnected,
            failed: p.failed,
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct AFailed {
    pub order: AOrderId,
    pub client: u32,
}

impl From<AFailed> for FailedClient {
    fn from(f: AFailed) -> FailedClient {
        FailedClient { order: f.order.into(), client: NodeId(f.client) }
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub struct AUpdate {
    pub interval_ms: u32,
    pub name: Option<AName>,
    pub base: u32,
    pub upto: u32,
    pub more: bool,
    pub deltas: Vec<ADelta>,
    pub targets: Vec<ATargetReport>,
    pub totals: [u32; 4],
    pub progress: Vec<AProgress>,
    pub failed: Vec<AFailed>,
}

impl From<AUpdate> for Update {
    fn from(u: AUpdate) -> Update {
        let [alive, suspect, dead, unreachable] = u.totals;
        Update {
            interval_ms: u.interval_ms,
            name: u.name.map(Into::into),
            base: u.base,
            upto: u.upto,
            more: u.more,
            deltas: bounded(u.deltas),
            targets: bounded(u.targets),
            totals: Totals { alive, suspect, dead, unreachable },
            progress: bounded(u.progress),
            failed: bounded(u.failed),
        }
    }
}

/// Any message.
#[derive(Arbitrary, Debug, Clone)]
pub enum AMessage {
    Ping(APing),
    PingReply(AReply),
    Update(AUpdate),
    Order(AOrder),
}

impl From<AMessage> for Message {
    fn from(m: AMessage) -> Message {
        match m {
            AMessage::Ping(p) => Message::Ping(p.into()),
            AMessage::PingReply(r) => Message::PingReply(r.into()),
            AMessage::Update(u) => Message::Update(u.into()),
            AMessage::Order(o) => Message::Order(o.into()),
        }
    }
}

/// Splits a fuzz input into chunks, each a little-endian `u16` length then that many bytes (the
/// last chunk may be cut short).
pub fn chunks(mut data: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        if data.len() < 2 {
            return None;
        }
        let len = usize::from(u16::from_le_bytes([data[0], data[1]]));
        let end = (2 + len).min(data.len());
        let chunk = &data[2..end];
        data = &data[end..];
        Some(chunk)
    })
}

/// A clock step in ms from the first two bytes (missing bytes are zero).
pub fn millis(bytes: &[u8]) -> u16 {
    u16::from_le_bytes([bytes.first().copied().unwrap_or(0), bytes.get(1).copied().unwrap_or(0)])
}

/// Per-sender sequence numbers for structured datagrams.
#[derive(Default)]
pub struct Sequences([u32; 16]);

impl Sequences {
    /// `given`, or the next sequence number of `sender`.
    pub fn next(&mut self, sender: ANode, given: Option<u32>) -> u32 {
        given.unwrap_or_else(|| {
            let slot = &mut self.0[usize::from(sender.0 % 16)];
            *slot = slot.wrapping_add(1);
            *slot
        })
    }
}
