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
//! out without padding instead (4-byte [`Instant`](crate::Instant)s, packed paths and replay window, one-byte
//! vector lengths, mount tags as bytes), [`SLOT_BYTES`] in all on every target.

mod entry;

use heapless::Vec;

use crate::ids::NodeId;
use crate::wire::MAX_PATHS;

pub use entry::{Direct, Entry, Mounts, Path, Reports};
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
    use crate::ids::{name, Generation};
    use crate::wire::Role;

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
    fn zero_slots_is_always_full() {
        let mut slots: [Slot; 0] = [];
        let mut t = Table::new(&mut slots[..]);
        assert!(t.get(NodeId(1)).is_none());
        assert!(t.insert(entry(1)).is_err());
    }
}
