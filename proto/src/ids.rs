//! Identity: node ids, boot generations, order ids and the bounded names the MGS shows.
//!
//! Identity is `(NodeId, Generation)`, never an address: a node behind NAT or with two interfaces
//! keeps its identity, and a new address with the same generation is only a path change.

use serde::{Deserialize, Serialize};

/// Longest node or target name, in bytes (e.g. `c00042`, `testfs-OST0001`).
pub const NAME_LEN: usize = 32;
/// Longest target address (a Lustre NID such as `10.1.0.7@o2ib`, or `host:port`).
pub const NID_LEN: usize = 48;

/// A node or target name.
pub type Name = heapless::String<NAME_LEN, u8>;
/// A target address as clients use it to reconnect.
pub type Nid = heapless::String<NID_LEN, u8>;

/// Makes a [`Name`]; `None` if `s` is longer than [`NAME_LEN`] bytes.
pub fn name(s: &str) -> Option<Name> {
    Name::try_from(s).ok()
}

/// Makes a [`Nid`]; `None` if `s` is longer than [`NID_LEN`] bytes.
pub fn nid(s: &str) -> Option<Nid> {
    Nid::try_from(s).ok()
}

/// The compact numeric id of a node on the wire.
///
/// Derived from the node's name with [`NodeId::from_name`] (32-bit FNV-1a), so every role computes
/// the same id without coordination; the MGS reports two names that map to one id. No name maps
/// to [`NodeId::NOBODY`], the receiver of a first contact.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NodeId(pub u32);

impl NodeId {
    /// The receiver of a datagram sent before its sender knew who would get it: a child's first
    /// ping to a parent it has not heard yet (see [`crate::wire`], receiver-bound datagrams).
    pub const NOBODY: NodeId = NodeId(0);

    /// The id every node derives from its name (never [`NodeId::NOBODY`]: the one name hash of 0
    /// in 2³² takes 1 instead, and shares it as any two colliding names do).
    pub const fn from_name(name: &str) -> NodeId {
        match fnv1a(name.as_bytes()) {
            0 => NodeId(1),
            hash => NodeId(hash),
        }
    }
}

/// 32-bit FNV-1a: small, `const`, and good enough to spread names; collisions are detected.
pub(crate) const fn fnv1a(bytes: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u32;
        hash = hash.wrapping_mul(0x0100_0193);
        i += 1;
    }
    hash
}

/// A boot generation: strictly greater on every boot of a node (a persisted counter on hosts, a
/// flash counter or a clock reading on firmware). A greater generation means the node rebooted
/// and lost its state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Generation(pub u32);

/// The id of an order: the status holder (MGS) that issued it, that holder's generation and a
/// sequence number within it, so ids stay unique across restarts and across holders. Repeats of
/// an order carry the same id; a new order a new id.
///
/// Ids of one holder are ordered (a greater id is a newer order, see [`OrderId::supersedes`]);
/// ids of different holders are not: each holder's sequence runs on its own, so two holders'
/// orders are told apart, never ranked, and one holder's order never hides another's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct OrderId {
    /// The status holder that issued the order.
    pub mgs: NodeId,
    /// Generation of the MGS that issued the order.
    pub mgs_generation: Generation,
    /// Sequence number within that generation, from 1. 64 bits: it never wraps (on the wire a
    /// postcard varint, the same bytes as a 32-bit one below 2³²).
    pub seq: u64,
}

/// `<holder>:<mgs_generation>/<seq>`, e.g. `5f0e2c1a:3/17`: the order ids operators read in logs,
/// the status, the CLI and a hook's `VIGIL_ORDER_ID`. The holder is its node id in 8 hex digits
/// (the id the status shows beside the holder's name), because with several holders `3/17`
/// names two orders, and a client or router knows a holder by its id only. A slash, not a dot,
/// so that `1/5` never reads as the decimal number 1.5; nothing a shell treats specially.
impl core::fmt::Display for OrderId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:08x}:{}/{}", self.mgs.0, self.mgs_generation.0, self.seq)
    }
}

impl OrderId {
    /// Whether this order is a newer one of the same holder than `other` (or `other` itself).
    pub fn supersedes(&self, other: &OrderId) -> bool {
        self.mgs == other.mgs && (self.mgs_generation, self.seq) >= (other.mgs_generation, other.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_fnv1a() {
        // Reference values of 32-bit FNV-1a.
        assert_eq!(NodeId::from_name("").0, 0x811c_9dc5);
        assert_eq!(NodeId::from_name("a").0, 0xe40c_292c);
        assert_ne!(NodeId::from_name("c0001"), NodeId::from_name("c0002"));
    }

    #[test]
    fn names_are_bounded() {
        assert!(name("testfs-OST0001").is_some());
        assert!(name(&"x".repeat(NAME_LEN + 1)).is_none());
        assert!(nid("10.1.0.7@o2ib").is_some());
    }

    #[test]
    fn order_ids_order_by_mgs_generation_first() {
        let old = OrderId { mgs: NodeId(1), mgs_generation: Generation(1), seq: 99 };
        let new = OrderId { mgs: NodeId(1), mgs_generation: Generation(2), seq: 1 };
        assert!(new > old);
    }

    #[test]
    fn order_ids_print_as_holder_colon_generation_slash_sequence() {
        let mgs = NodeId::from_name("mgs-a");
        let id = OrderId { mgs, mgs_generation: Generation(1), seq: 5 };
        assert_eq!(id.to_string(), format!("{:08x}:1/5", mgs.0));
        let other = OrderId { mgs: NodeId::from_name("mgs-b"), ..id };
        assert_ne!(id.to_string(), other.to_string(), "two holders' first orders read apart");
        let last = OrderId { mgs: NodeId(u32::MAX), mgs_generation: Generation(u32::MAX), seq: u64::MAX };
        assert_eq!(last.to_string(), "ffffffff:4294967295/18446744073709551615");
    }
}
