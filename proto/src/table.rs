//! The bounded node table of a parent (router or MGS): direct children and the descendants their
//! updates tell of.
//!
//! Storage is a slice of [`Slot`]s the caller owns and sizes (a `static` array on firmware, a boxed
//! slice on hosts), so capacity is the caller's choice and nothing allocates. Lookup is open
//! addressing with linear probing keyed by [`NodeId`]; removal shifts back, so no tombstones build
//! up. One eighth of the slots stays free to keep probes short: [`Table::capacity`] is the number
//! of nodes the table takes before it refuses.
//!
//! # What a slot keeps
//! Every tracked node: its id, name, role and generation, up to [`MAX_PATHS`] paths (each the
//! parent on it, the direct child that reported it, the verdict, its silence and when it was
//! made), a client's mount tags, and the two versions of the delta stream. A direct child
//! besides: the address it pings from, when it was last heard and its ping interval, whether it
//! counts here, its reports on held orders, a child router's applied update version, and the
//! replay window of its sequence numbers. Nothing is dropped to make a slot small: it is laid
//! out without padding instead (4-byte [`Instant`]s, packed paths and replay window, one-byte
//! vector lengths, mount tags as bytes), [`SLOT_BYTES`] in all on every target.

use heapless::Vec;

use crate::counters::ReplayWindow;
use crate::ids::{Generation, Name, NodeId};
use crate::time::Instant;
use crate::wire::{Endpoint, NodeState, Outcome, Role, MAX_MOUNTS, MAX_PATHS};

/// One slot of table storage.
pub type Slot = Option<Entry>;

/// Bytes of one [`Slot`] (the same on 32- and 64-bit targets: no field is pointer-sized).
pub const SLOT_BYTES: usize = core::mem::size_of::<Slot>();

/// The paths of one tracked node (a one-byte length: at most [`MAX_PATHS`]).
pub type Paths = Vec<Path, MAX_PATHS, u8>;

/// Storage for a table of `N` slots, for `static` placement on firmware.
pub const fn empty_slots<const N: usize>() -> [Slot; N] {
    [const { None }; N]
}

/// One path through which a node is heard.
///
/// Packed (22 bytes, byte-aligned), as every slot holds [`MAX_PATHS`] of them: read its fields
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

    /// Number of tags.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether these are exactly `tags`, in order.
    pub fn same_as(&self, tags: &[u64]) -> bool {
        self.iter().eq(tags.iter().copied())
    }
}

/// Why [`Table::insert`] refused: the table is full, or already tracks the id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused;

/// A table of nodes over caller-owned slots.
#[derive(Clone, Debug)]
pub struct Table<S> {
    slots: S,
    len: usize,
}

impl<S: AsRef<[Slot]> + AsMut<[Slot]>> Table<S> {
    /// A table over `slots` (emptied first).
    pub fn new(mut slots: S) -> Self {
        slots.as_mut().iter_mut().for_each(|s| *s = None);
        Table { slots, len: 0 }
    }

    /// Nodes tracked.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no node is tracked.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Nodes the table takes before it refuses (7/8 of the slots).
    pub fn capacity(&self) -> usize {
        let n = self.slots.as_ref().len();
        n - n / 8
    }

    /// Whether a new node would be refused.
    pub fn is_full(&self) -> bool {
        self.len >= self.capacity()
    }

    fn home(&self, id: NodeId) -> usize {
        let n = self.slots.as_ref().len() as u64;
        let mixed = u64::from(id.0.wrapping_mul(0x9E37_79B1));
        ((mixed * n) >> 32) as usize
    }

    fn find(&self, id: NodeId) -> Option<usize> {
        let slots = self.slots.as_ref();
        let n = slots.len();
        if n == 0 {
            return None;
        }
        let mut i = self.home(id);
        for _ in 0..n {
            match &slots[i] {
                None => return None,
                Some(e) if e.id == id => return Some(i),
                Some(_) => i = (i + 1) % n,
            }
        }
        None
    }

    /// The node with this id.
    pub fn get(&self, id: NodeId) -> Option<&Entry> {
        self.find(id).and_then(|i| self.slots.as_ref()[i].as_ref())
    }

    /// The node with this id, to change.
    pub fn get_mut(&mut self, id: NodeId) -> Option<&mut Entry> {
        let i = self.find(id)?;
        self.slots.as_mut()[i].as_mut()
    }

    /// Adds a node not yet tracked; refuses when the table is full or the id is tracked.
    pub fn insert(&mut self, entry: Entry) -> Result<&mut Entry, Refused> {
        if self.is_full() || self.find(entry.id).is_some() {
            return Err(Refused);
        }
        let n = self.slots.as_ref().len();
        let mut i = self.home(entry.id);
        while self.slots.as_ref()[i].is_some() {
            i = (i + 1) % n;
        }
        self.len += 1;
        Ok(self.slots.as_mut()[i].insert(entry))
    }

    /// Removes a node, shifting later entries of its probe run back into the hole.
    pub fn remove(&mut self, id: NodeId) -> Option<Entry> {
        let mut hole = self.find(id)?;
        let n = self.slots.as_ref().len();
        let removed = self.slots.as_mut()[hole].take();
        self.len -= 1;
        let mut j = hole;
        loop {
            j = (j + 1) % n;
            let home = match &self.slots.as_ref()[j] {
                None => break,
                Some(e) => self.home(e.id),
            };
            // Leave the entry where it is if its home lies cyclically in (hole, j].
            let stays = if hole <= j { hole < home && home <= j } else { hole < home || home <= j };
            if !stays {
                let moved = self.slots.as_mut()[j].take();
                self.slots.as_mut()[hole] = moved;
                hole = j;
            }
        }
        removed
    }

    /// Every tracked node.
    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.slots.as_ref().iter().flatten()
    }

    /// Every tracked node, to change.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Entry> {
        self.slots.as_mut().iter_mut().flatten()
    }

    /// Number of slots (positions for [`Table::at`]).
    pub(crate) fn slot_count(&self) -> usize {
        self.slots.as_ref().len()
    }

    /// The node in slot `i`, if any (for cursors that walk the table across calls).
    pub(crate) fn at(&self, i: usize) -> Option<&Entry> {
        self.slots.as_ref().get(i).and_then(Option::as_ref)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::name;

    fn entry(i: u32) -> Entry {
        Entry::new(NodeId(i), name("n").unwrap_or_default(), Role::Client, Generation(1))
    }

    #[test]
    fn insert_get_remove_keep_every_other_entry_findable() {
        let mut slots: [Slot; 64] = empty_slots();
        let mut t = Table::new(&mut slots[..]);
        for i in 0..56 {
            assert!(t.insert(entry(i * 7919)).is_ok(), "insert {i}");
        }
        assert!(t.is_full());
        assert!(t.insert(entry(1)).is_err(), "a full table refuses");
        for i in (0..56).step_by(3) {
            assert!(t.remove(NodeId(i * 7919)).is_some());
        }
        for i in 0..56 {
            assert_eq!(t.get(NodeId(i * 7919)).is_some(), i % 3 != 0, "entry {i}");
        }
        assert_eq!(t.len(), t.iter().count());
    }

    #[test]
    fn colliding_homes_survive_removal_in_any_order() {
        let mut slots: [Slot; 8] = empty_slots();
        let mut t = Table::new(&mut slots[..]);
        // Ids with the same home slot form one probe run.
        let home = t.home(NodeId(0));
        let ids: std::vec::Vec<u32> = (0..10_000).filter(|&i| t.home(NodeId(i)) == home).take(4).collect();
        for &i in &ids {
            assert!(t.insert(entry(i)).is_ok());
        }
        assert!(t.remove(NodeId(ids[1])).is_some());
        assert!(t.get(NodeId(ids[0])).is_some());
        assert!(t.get(NodeId(ids[2])).is_some());
        assert!(t.get(NodeId(ids[3])).is_some());
    }

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
        assert_eq!((m.len(), m.to_vec().as_slice()), (2, &tags[..2]));
        assert!(m.same_as(&tags[..2]) && !m.same_as(&tags[..1]) && !m.same_as(&[1, u64::MAX]));
        assert!(Mounts::new(&[]).is_empty() && Mounts::new(&[]).same_as(&[]));
    }

    #[test]
    fn zero_slots_is_always_full() {
        let mut slots: [Slot; 0] = [];
        let mut t = Table::new(&mut slots[..]);
        assert!(t.get(NodeId(1)).is_none());
        assert!(t.insert(entry(1)).is_err());
    }
}
