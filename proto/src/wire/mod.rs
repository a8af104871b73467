//! The wire format: one codec shared exactly by every role, on firmware and hosts.
//!
//! A datagram is a fixed [`Header`] ([`HEADER_LEN`] bytes, little-endian), a postcard body, and a
//! [`TAG_LEN`]-byte authentication tag over both:
//!
//! ```text
//!  0      2    3     4          8            12           16         20     21        n-16    n
//!  +------+----+-----+----------+------------+------------+----------+------+---------+-------+
//!  | "VG" | v3 | kind| sender id| receiver id| sender gen | sequence |key id| body ...|  tag  |
//!  +------+----+-----+----------+------------+------------+----------+------+---------+-------+
//! ```
//!
//! Every datagram is at most [`MAX_DATAGRAM`] bytes, safe on every path MTU. Decoding never
//! panics: every malformed, unauthenticated or unknown input is a typed [`Error`] the machines
//! count and drop.
//!
//! ## Receiver-bound datagrams
//!
//! The tag covers the receiver's id, so a datagram is good at one node only. Replay protection
//! is per receiver (each keeps the sequence numbers it saw of each sender), so without the
//! binding a ping captured on its way to a router and replayed to the MGS would be new there, and
//! add a path the node never had. With it, the MGS counts the datagram `misdirected` and drops it.
//!
//! A sender addresses each parent by the id the parent's replies carry. Before a child has heard
//! a parent at all (its first ping after a start) it does not know that id, and sends with the
//! receiver [`NodeId::NOBODY`]: a *first contact*. A parent answers an unaddressed `Ping` or
//! `Update` with [`ReplyStatus::Unaddressed`] and nothing else: it applies nothing of it (no
//! liveness, no path, no name, no report, no replay window), so a replayed first contact is
//! worth nothing either. The reply's header names the parent; the child addresses its next
//! datagram, sent at once, to it. Every other kind is only ever sent addressed (a parent always
//! knows its child's id from the datagram it answers), and an unaddressed one is misdirected.
//!
//! How the binding meets the topology:
//!
//! - A child with two parents, or a router with up to [`MAX_UPSTREAMS`](crate::MAX_UPSTREAMS)
//!   MGS parents, learns each parent's id from that parent's replies: an update sent to one
//!   status holder is worthless at another.
//! - Ids derive from names, so an MGS or router that restarts keeps its id: its children go on
//!   addressing it, and the restart is seen through its generation as before.
//! - A target that fails over to a partner server is reported by that server under its own id;
//!   orders name targets, not servers, and are bound hop by hop like every datagram.
//! - A child keeps the id it learned for a parent's address while it runs: a different node
//!   later put at that address (a renamed or replaced host) counts the child's datagrams as
//!   misdirected until the child restarts. Ids are what identify nodes; addresses only say where
//!   to send.

mod auth;
mod endpoint;
mod in_place;
mod message;
mod order;
mod signing;
mod status;

pub use auth::{Key, Keyring, KEY_LEN, TAG_LEN};
pub use endpoint::Endpoint;
pub use message::*;
pub use order::*;
pub use signing::{BadOrderKey, OrderKeys, OrderSigner, Signature, MAX_ORDER_KEYS, SIGNATURE_LEN};
pub use status::*;

use crate::ids::{Generation, NodeId};

/// Largest datagram Vigil sends or accepts.
pub const MAX_DATAGRAM: usize = 1200;
/// Bytes of the fixed header.
pub const HEADER_LEN: usize = 21;
/// First two bytes of every datagram.
pub const MAGIC: [u8; 2] = *b"VG";
/// The protocol version this crate speaks (3: the header names the receiver).
pub const VERSION: u8 = 3;

/// The kind of message a datagram carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum Kind {
    /// [`Ping`], child → parent.
    Ping = 1,
    /// [`PingReply`], parent → child.
    PingReply = 2,
    /// [`Update`], router → parent (also the router's ping; pages of a snapshot when `base == 0`).
    Update = 3,
    /// [`Order`], pushed parent → child.
    Order = 4,
    /// [`StaleParent`], child → parent.
    StaleParent = 5,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Ping,
            2 => Kind::PingReply,
            3 => Kind::Update,
            4 => Kind::Order,
            5 => Kind::StaleParent,
            _ => return None,
        })
    }
}

/// The fixed header of every datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Header {
    /// What the body is.
    pub kind: Kind,
    /// Who sent it.
    pub sender: NodeId,
    /// The node it is meant for; [`NodeId::NOBODY`] for a first contact (see the module docs).
    pub receiver: NodeId,
    /// The sender's boot generation.
    pub generation: Generation,
    /// Per (sender, generation) sequence number, for the replay guard.
    pub sequence: u32,
    /// Which cluster key made the tag.
    pub key_id: u8,
}

impl Header {
    /// Whether the datagram names no receiver: a first contact.
    pub fn unaddressed(&self) -> bool {
        self.receiver == NodeId::NOBODY
    }
}

/// A decoded message body.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // decoded on the stack once per datagram, never stored
pub enum Message {
    /// See [`Ping`].
    Ping(Ping),
    /// See [`PingReply`].
    PingReply(PingReply),
    /// See [`Update`].
    Update(Update),
    /// See [`Order`].
    Order(Order),
    /// See [`StaleParent`].
    StaleParent(StaleParent),
}

/// A message to decode into ([`decode_into`]): the smallest kind, holding nothing of meaning.
impl Default for Message {
    fn default() -> Self {
        Message::StaleParent(StaleParent { newest: Generation(0) })
    }
}

impl Message {
    /// The kind that carries this message.
    pub fn kind(&self) -> Kind {
        match self {
            Message::Ping(_) => Kind::Ping,
            Message::PingReply(_) => Kind::PingReply,
            Message::Update(_) => Kind::Update,
            Message::Order(_) => Kind::Order,
            Message::StaleParent(_) => Kind::StaleParent,
        }
    }
}

/// Why a datagram could not be encoded or decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// Shorter than a header and a tag.
    Truncated,
    /// Longer than [`MAX_DATAGRAM`].
    TooLarge,
    /// Does not start with [`MAGIC`].
    BadMagic,
    /// A protocol version this crate does not speak.
    UnknownVersion(u8),
    /// A message kind this version does not define.
    UnknownKind(u8),
    /// Signed with a key id the keyring does not hold.
    UnknownKey(u8),
    /// The authentication tag does not match: forged, corrupted, or the wrong key.
    BadTag,
    /// The body is not a valid message of its kind (or has trailing bytes).
    Malformed,
    /// The message does not fit the caller's buffer or [`MAX_DATAGRAM`].
    BufferTooSmall,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Truncated => f.write_str("datagram shorter than header and tag"),
            Error::TooLarge => f.write_str("datagram larger than 1200 bytes"),
            Error::BadMagic => f.write_str("not a Vigil datagram (bad magic)"),
            Error::UnknownVersion(v) => write!(f, "unknown protocol version {v}"),
            Error::UnknownKind(k) => write!(f, "unknown message kind {k}"),
            Error::UnknownKey(k) => write!(f, "unknown key id {k}"),
            Error::BadTag => f.write_str("authentication tag mismatch"),
            Error::Malformed => f.write_str("malformed message body"),
            Error::BufferTooSmall => f.write_str("message does not fit the datagram"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

/// Encodes `message` from `sender` to `receiver` into `buf`, tagged with `key`; returns the
/// datagram length.
pub fn encode(
    sender: NodeId,
    receiver: NodeId,
    generation: Generation,
    sequence: u32,
    message: &Message,
    key: &Key,
    buf: &mut [u8],
) -> Result<usize, Error> {
    let limit = buf.len().min(MAX_DATAGRAM);
    if limit < HEADER_LEN + TAG_LEN {
        return Err(Error::BufferTooSmall);
    }
    let buf = &mut buf[..limit];
    buf[0..2].copy_from_slice(&MAGIC);
    buf[2] = VERSION;
    buf[3] = message.kind() as u8;
    buf[4..8].copy_from_slice(&sender.0.to_le_bytes());
    buf[8..12].copy_from_slice(&receiver.0.to_le_bytes());
    buf[12..16].copy_from_slice(&generation.0.to_le_bytes());
    buf[16..20].copy_from_slice(&sequence.to_le_bytes());
    buf[20] = key.id();
    let body_room = &mut buf[HEADER_LEN..limit - TAG_LEN];
    let body_len = match message {
        Message::Ping(m) => postcard::to_slice(m, body_room),
        Message::PingReply(m) => postcard::to_slice(m, body_room),
        Message::Update(m) => postcard::to_slice(m, body_room),
        Message::Order(m) => postcard::to_slice(m, body_room),
        Message::StaleParent(m) => postcard::to_slice(m, body_room),
    }
    .map_err(|_| Error::BufferTooSmall)?
    .len();
    let end = HEADER_LEN + body_len;
    let tag = key.tag(&buf[..end]);
    buf[end..end + TAG_LEN].copy_from_slice(&tag);
    Ok(end + TAG_LEN)
}

/// Reads the header without authenticating it (for counting and logging what was dropped).
pub fn peek_header(bytes: &[u8]) -> Result<Header, Error> {
    if bytes.len() > MAX_DATAGRAM {
        return Err(Error::TooLarge);
    }
    if bytes.len() < HEADER_LEN + TAG_LEN {
        return Err(Error::Truncated);
    }
    if bytes[0..2] != MAGIC {
        return Err(Error::BadMagic);
    }
    if bytes[2] != VERSION {
        return Err(Error::UnknownVersion(bytes[2]));
    }
    let kind = Kind::from_u8(bytes[3]).ok_or(Error::UnknownKind(bytes[3]))?;
    let word = |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    Ok(Header {
        kind,
        sender: NodeId(word(4)),
        receiver: NodeId(word(8)),
        generation: Generation(word(12)),
        sequence: word(16),
        key_id: bytes[20],
    })
}

/// Authenticates and decodes one datagram.
pub fn decode(bytes: &[u8], keys: &Keyring) -> Result<(Header, Message), Error> {
    let mut message = Message::default();
    let header = decode_into(bytes, keys, &mut message)?;
    Ok((header, message))
}

/// Authenticates and decodes one datagram into `message`, a message the caller owns and may
/// reuse: an update page is decoded into it in place (see `in_place.rs`), without building a
/// ~6 KB page on the stack. On an error `message` holds nothing of meaning.
pub fn decode_into(bytes: &[u8], keys: &Keyring, message: &mut Message) -> Result<Header, Error> {
    let header = peek_header(bytes)?;
    let key = keys.find(header.key_id).ok_or(Error::UnknownKey(header.key_id))?;
    let (signed, tag) = bytes.split_at(bytes.len() - TAG_LEN);
    if !key.verify(signed, tag) {
        return Err(Error::BadTag);
    }
    let body = &signed[HEADER_LEN..];
    match header.kind {
        Kind::Ping => body_into(body, message, Message::Ping)?,
        Kind::PingReply => body_into(body, message, Message::PingReply)?,
        Kind::Update => in_place::update_into(body, in_place::as_update(message))?,
        Kind::Order => body_into(body, message, Message::Order)?,
        Kind::StaleParent => body_into(body, message, Message::StaleParent)?,
    }
    Ok(header)
}

/// Decodes a body of one kind into `message`. Never inlined: each kind's temporaries stay in a
/// frame of their own, so that decoding one kind does not reserve the stack of all the others.
#[inline(never)]
fn body_into<'a, T: serde::Deserialize<'a>>(
    body: &'a [u8],
    message: &mut Message,
    kind: fn(T) -> Message,
) -> Result<(), Error> {
    *message = kind(body_of(body)?);
    Ok(())
}

fn body_of<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Result<T, Error> {
    match postcard::take_from_bytes(body) {
        Ok((value, [])) => Ok(value),
        _ => Err(Error::Malformed),
    }
}

/// Encoded size of one value in postcard: lets builders fill pages exactly (postcard
/// concatenates fields, so sizes add up).
pub(crate) fn encoded_len<T: serde::Serialize>(value: &T) -> usize {
    postcard::serialize_with_flavor(value, postcard::ser_flavors::Size::default()).unwrap_or(MAX_DATAGRAM)
}
