//! The parts of a slot: a tracked node ([`Entry`]), its paths, a direct child's state, its
//! reports on held orders and its mount tags, each laid out without padding (the table's module
//! doc says what a slot keeps and why).

use heapless::Vec;

use crate::counters::ReplayWindow;
use crate::ids::{Generation, Name, NodeId};
use crate::time::Instant;
use crate::wire::{Endpoint, NodeState, Outcome, Role, MAX_MOUNTS};

use super::Paths;

/// One path through which a node is heard.
///
/// Packed (22 bytes, byte-aligned), as every slot holds [`MAX_PATHS`](crate::wire::MAX_PATHS) of them: read its fields
/// by value (`{ p.parent }`), since a reference to one could be unaligned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, packed)]
pub struct Path {
    /// The node's parent on this path: the router (or MGS) that its pings reach.
    pub parent: NodeId,
    /// The direct child of this table's owner that reported the path (the node itself if direct).
    pub via: NodeId,
    /// The parent's verdict.
    pub state: NodeState,
    /// Silence when the verdict was made, in ms.
    pub silent_ms: u32,
    /// When this table's owner made or learned the verdict.
    pub at: Instant,
    /// Set while a snapshot from `via` is replacing what it told before.
    pub(crate) stale: bool,
}

impl Path {
    /// How long the node has not been heard on this path at `now`, in ms: for a live verdict
    /// the silence it was made with (the parent keeps hearing the node and says nothing until
    /// that changes), for any other the silence goes on counting from it, so that a node dead
    /// for eleven minutes never shows the sixteen seconds it was convicted with.
    pub fn silent_ms(&self, now: Instant) -> u64 {
        match self.state {
            NodeState::Alive => u64::from(self.silent_ms),
            _ => u64::from(self.silent_ms).saturating_add(now.since(self.at)),
        }
    }
}

/// A child's reports on the orders its parent holds: two bits per held-order slot (see
/// `parent::MAX_HELD`), so a parent can hold sixteen orders for four bytes per child.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reports(u32);

impl Reports {
    /// What the child reported on the order in held-order slot `slot`, if anything.
    pub fn get(self, slot: u8) -> Option<Outcome> {
        match (self.0 >> (2 * u32::from(slot))) & 0b11 {
            1 => Some(Outcome::Applied),
            2 => Some(Outcome::Reconnected),
            3 => Some(Outcome::Failed),
            _ => None,
        }
    }

    pub(crate) fn set(&mut self, slot: u8, outcome: Option<Outcome>) {
        let bits = match outcome {
            None => 0,
            Some(Outcome::Applied) => 1,
            Some(Outcome::Reconnected) => 2,
            Some(Outcome::Failed) => 3,
        };
        let shift = 2 * u32::from(slot);
        self.0 = (self.0 & !(0b11 << shift)) | (bits << shift);
    }
}

/// What a parent knows of a child that pings it directly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Direct {
    /// The address the child last pinged from: replies and pushed orders go there.
    pub addr: Endpoint,
    /// When the child was last heard.
    pub last_heard: Instant,
    /// The interval the child pings at.
    pub interval_ms: u32,
    /// Whether the child counts here in order progress.
    pub home: bool,
    /// The child's reports on the orders its parent holds.
    pub reports: Reports,
    /// For a router child: the last update version applied from it.
    pub applied: u32,
    /// For a router child: a snapshot from it is under way.
    pub(crate) resync: bool,
    /// Sequence numbers accepted from the child's current generation.
    pub(crate) replay: ReplayWindow,
}

/// A tracked node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The node's id.
    pub id: NodeId,
    /// Its name.
    pub name: Name,
    /// What it is.
    pub role: Role,
    /// Its boot generation.
    pub generation: Generation,
    /// The path (its `via`) whose report last told [`Entry::generation`]: a smaller generation
    /// from another path does not replace it while this path still hears the node.
    pub(crate) generation_via: NodeId,
    /// Where it is heard (empty: no longer heard anywhere below this table's owner).
    pub paths: Paths,
    /// A client's filesystem mounts ([`mount_tag`](crate::wire::mount_tag)), as last reported.
    pub mounts: Mounts,
    /// Set when the node pings this table's owner directly.
    pub direct: Option<Direct>,
    /// Version of the last change (the delta stream sends entries changed after a base).
    pub(crate) changed: u32,
    /// Version at which the entry was created (its name goes with the first delta).
    pub(crate) created: u32,
}

impl Entry {
    /// A new entry with no paths.
    pub fn new(id: NodeId, name: Name, role: Role, generation: Generation) -> Entry {
        Entry {
            id,
            name,
            role,
            generation,
            generation_via: id,
            paths: Vec::new(),
            mounts: Mounts::default(),
            direct: None,
            changed: 0,
            created: 0,
        }
    }

    /// The best verdict over its paths as this table's owner sees them (without asking whether
    /// the parents on those paths are themselves reachable): alive beats suspect beats
    /// unreachable beats dead. `None` when no path is left.
    pub fn best_state(&self) -> Option<NodeState> {
        self.paths.iter().map(|p| p.state).min()
    }

    /// The path through which this table's owner hears the node directly.
    pub(crate) fn direct_path_mut(&mut self, me: NodeId) -> Option<&mut Path> {
        let id = self.id;
        self.paths.iter_mut().find(|p| { p.parent } == me && { p.via } == id)
    }
}

/// A client's mount tags as a slot keeps them: each tag's eight bytes (little-endian) and a
/// one-byte count, 17 bytes where a vector of `u64` takes 24 with its padding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mounts {
    tags: [[u8; 8]; MAX_MOUNTS],
    len: u8,
}

impl Mounts {
    /// The first [`MAX_MOUNTS`] of `tags`.
    pub fn new(tags: &[u64]) -> Mounts {
        let mut m = Mounts::default();
        for (slot, tag) in m.tags.iter_mut().zip(tags) {
            *slot = tag.to_le_bytes();
            m.len += 1;
        }
        m
    }

    /// The tags, in the order reported.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.tags[..usize::from(self.len)].iter().map(|t| u64::from_le_bytes(*t))
    }

    /// The tags as a message carries them.
    pub fn to_vec(&self) -> Vec<u64, MAX_MOUNTS> {
        self.iter().collect()
    }

    /// Whether these are exactly `tags`, in order.
    pub fn same_as(&self, tags: &[u64]) -> bool {
        self.iter().eq(tags.iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::Slot;

    #[test]
    fn a_slot_stays_within_172_bytes() {
        // Direct (56), two paths (45), the name (33), the mounts (17), five u32 and the role.
        let size = core::mem::size_of::<Slot>();
        assert!(size <= 172, "a slot takes {size} bytes");
        assert_eq!(core::mem::size_of::<Path>(), 22);
        assert_eq!(core::mem::size_of::<Option<Direct>>(), 56);
    }

    #[test]
    fn mounts_keep_the_tags_in_order_and_the_first_two_only() {
        let tags = [u64::MAX, 1, 7];
        let m = Mounts::new(&tags);
        assert_eq!(m.to_vec().as_slice(), &tags[..2]);
        assert!(m.same_as(&tags[..2]) && !m.same_as(&tags[..1]) && !m.same_as(&[1, u64::MAX]));
        assert!(Mounts::new(&[]).iter().next().is_none() && Mounts::new(&[]).same_as(&[]));
    }
}
