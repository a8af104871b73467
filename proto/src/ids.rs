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

/// A boot generation: strictly greater on every boot of a node (on hosts [`Generation::at_boot`]:
/// a persisted counter that never falls below the wall clock; a flash counter, a clock reading or
/// a random draw on firmware). A greater generation means the node rebooted and lost its state.
///
/// A node must never boot with a generation its peers have seen from an earlier instance: they
/// would take the new instance's datagrams, whose sequence starts over, for replays of the old
/// one's, and its orders (an MGS's order ids carry its generation) for repeats. A *smaller*
/// generation is harmless: a parent answers `Stale{newest}` and the node takes one above it (a
/// child does the same for an MGS or router, `StaleParent`). So a host whose state file is gone
/// (a reinstall, a wiped disk, a new host taking over a name) boots with the wall clock's
/// reading, which is above every generation an earlier instance took from it.
///
/// Generations stop short of the top of the number space, at [`Generation::LIMIT`]: a datagram
/// carrying one at or above it is dropped as malformed, and a node never takes one there; a
/// hint raises a node at most to [`Generation::HIGHEST_RAISE`], 2²³ boots short of it. A node
/// holding the cluster key could otherwise raise a peer to `u32::MAX` (a `StaleParent` hint, or
/// a datagram in a parent's or child's name), and that node would have no greater generation
/// left to boot with: its peers would refuse every later instance as stale.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Generation(pub u32);

impl Generation {
    /// The first generation no node may have (2²⁴ short of the top): a host's wall clock reaches
    /// it in 2105. Firmware drawing a random generation draws below it ([`Generation::below_limit`]).
    pub const LIMIT: Generation = Generation(u32::MAX - (1 << 24) + 1);

    /// The highest generation a node takes when a peer holds a newer instance of it (`Stale`,
    /// `StaleParent`): 2²³ boots short of [`Generation::LIMIT`], so a node raised as far as a
    /// forged hint can take it still boots millions of times.
    pub const HIGHEST_RAISE: Generation = Generation(Generation::LIMIT.0 - (1 << 23));

    /// Whether a node may have this generation (it is below [`Generation::LIMIT`]).
    pub const fn is_valid(self) -> bool {
        self.0 < Generation::LIMIT.0
    }

    /// A generation from 32 random bits, below [`Generation::LIMIT`] (for boards without a
    /// persistent counter or a clock).
    pub const fn below_limit(random: u32) -> Generation {
        Generation(random % Generation::LIMIT.0)
    }

    /// The generation a host boots with: one above the generation it persisted (`None`: its
    /// state file is missing or unreadable), and never below `wall_clock_s`, the wall clock's
    /// reading in seconds since the Unix epoch (0 if unknown). `None` once the counter reached
    /// [`Generation::LIMIT`].
    ///
    /// The clock is what keeps a node that lost its state file from reusing a generation: every
    /// earlier boot took at most the clock's reading then, or one above the boot before. A host
    /// without a persisted generation reads the clock only once its next second begins (the
    /// host's `StateFile::boot` waits for it), so an instance that booted earlier in the same
    /// second is below it too. So as long as the node booted no more often than once a second
    /// on average and its clock does not go back across reboots (NTP, or an RTC kept in time),
    /// the clock's reading is above every generation it used. If the clock is wrong (a board booting in 1970), a lost file
    /// gives a smaller generation than the last, which parents correct in one round trip
    /// (`Stale{newest}`); only an equal one would be mistaken for the old instance. Seconds in 32
    /// bits last until 2106.
    pub fn at_boot(persisted: Option<Generation>, wall_clock_s: u32) -> Option<Generation> {
        let next = match persisted {
            Some(Generation(g)) => g.checked_add(1)?,
            None => 1,
        };
        Some(Generation(next.max(wall_clock_s))).filter(|g| g.is_valid())
    }
}

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
    fn a_boot_without_its_state_file_takes_the_clock_above_every_earlier_generation() {
        // Booted at clock 1_000, then twice within the same second, then its file was lost.
        let first = Generation::at_boot(None, 1_000).unwrap();
        let second = Generation::at_boot(Some(first), 1_000).unwrap();
        let third = Generation::at_boot(Some(second), 1_001).unwrap();
        assert_eq!([first, second, third], [Generation(1_000), Generation(1_001), Generation(1_002)]);
        let lost = Generation::at_boot(None, 1_005).unwrap();
        assert!(lost > third, "the clock moved on: above every earlier instance");
        // Without a clock the counter alone, and it is refused at its limit.
        assert_eq!(Generation::at_boot(Some(Generation(7)), 0), Some(Generation(8)));
        assert_eq!(Generation::at_boot(None, 0), Some(Generation(1)));
        let last = Generation(Generation::LIMIT.0 - 1);
        assert_eq!(Generation::at_boot(Some(Generation(last.0 - 1)), 0), Some(last));
        assert_eq!(Generation::at_boot(Some(last), 0), None);
        assert_eq!(Generation::at_boot(None, Generation::LIMIT.0), None, "in 2105");
        assert_eq!(Generation::at_boot(Some(Generation(u32::MAX)), 5), None);
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
