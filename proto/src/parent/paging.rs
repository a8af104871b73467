//! Change versions and the pages of changes a router sends up.
//!
//! Every change to an entry takes the next version from one counter. A parent acknowledges the
//! version it applied; the next update pages the changes after it, oldest first, as many as
//! fit a datagram. Versions wrap and compare by serial-number arithmetic: restamping keeps every
//! entry within a quarter of the number space behind the counter.

use heapless::Vec;

use super::Hub;
use crate::counters::after;
use crate::ids::NodeId;
use crate::table::{Entry, Slot};
use crate::time::Instant;
use crate::wire::{
    encoded_len, NodeDelta, NodeState, PathReport, TargetReport, Totals, MAX_DELTAS, MAX_TARGET_REPORTS,
};

/// One update page: see [`Hub::page`].
pub(crate) struct Page {
    pub(crate) deltas: Vec<NodeDelta, MAX_DELTAS>,
    pub(crate) targets: Vec<TargetReport, MAX_TARGET_REPORTS>,
    pub(crate) upto: u32,
    pub(crate) more: bool,
}

impl<S: AsRef<[Slot]> + AsMut<[Slot]>, const R: usize, const T: usize> Hub<S, R, T> {
    /// Gives a fresh version to every entry whose version fell a quarter of the number space
    /// behind the counter, so that no version is ever half the space behind (where it would read
    /// as ahead). Such an entry goes up once more: one delta per node per 2³⁰ changes. A pass
    /// over the table once per 2²⁸ changes.
    pub(super) fn restamp(&mut self) {
        if self.version.wrapping_sub(self.restamped) < 1 << 28 {
            return;
        }
        let mut version = self.version;
        for e in self.table.iter_mut() {
            if version.wrapping_sub(e.changed) >= 1 << 30 {
                version = version.wrapping_add(1).max(1);
                e.changed = version;
            }
            if version.wrapping_sub(e.created) >= 1 << 30 {
                // Created long ago, so long known upstream; a name sent once more costs bytes only.
                e.created = e.changed;
            }
        }
        self.version = version;
        self.restamped = version;
    }

    /// Whether changes after `acked`, a version a parent acknowledged, can still be told from
    /// the others: only while it is less than a quarter of the number space behind the counter.
    /// Restamping moves the entries on, never a parent's acknowledgement: a parent cut off (not
    /// restarted) for longer holds a version every change made since may read as older than, so
    /// the changes after it would never go up. 0 (nothing acknowledged: a snapshot) is always in
    /// reach.
    pub(crate) fn in_reach(&self, acked: u32) -> bool {
        acked == 0 || self.version.wrapping_sub(acked) < 1 << 30
    }

    /// Node counts per state over the whole table, by each node's best path.
    pub(crate) fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for e in self.table.iter() {
            match e.best_state() {
                Some(NodeState::Alive) => t.alive += 1,
                Some(NodeState::Suspect) => t.suspect += 1,
                Some(NodeState::Unreachable) => t.unreachable += 1,
                Some(NodeState::Dead) | None => t.dead += 1,
            }
        }
        t
    }

    /// One page of changes after `base`: the oldest changes first, as many as fit `room` bytes,
    /// each server's delta with its target's status. Returns the page (deltas and target
    /// reports), the version it brings the parent to, and whether more remain.
    ///
    /// Names go with entries created after `base`, and with every entry while the parent is
    /// rebuilding from a snapshot (`names`).
    pub(crate) fn page(&self, base: u32, room: usize, names: bool, now: Instant) -> Page {
        // The MAX_DELTAS oldest changes after base (a max-heap keeps the smallest). Versions
        // wrap: they are ordered by their distance from base, or for a snapshot from a point
        // behind every entry's version (see `restamp`).
        let origin = if base == 0 { self.version.wrapping_sub(1 << 31) } else { base };
        let newer = |v: u32| base == 0 || after(v, base);
        let mut oldest: heapless::BinaryHeap<(u32, NodeId), heapless::binary_heap::Max, MAX_DELTAS> =
            heapless::BinaryHeap::new();
        let mut capped = false;
        for e in self.table.iter().filter(|e| newer(e.changed)) {
            let key = (e.changed.wrapping_sub(origin), e.id);
            if oldest.len() < MAX_DELTAS {
                let _ = oldest.push(key);
            } else if oldest.peek().is_some_and(|top| key < *top) {
                let _ = oldest.pop();
                let _ = oldest.push(key);
                capped = true;
            } else {
                capped = true;
            }
        }
        let mut order: Vec<(u32, NodeId), MAX_DELTAS> = oldest.into_vec();
        order.sort_unstable();
        let mut page = Page { deltas: Vec::new(), targets: Vec::new(), upto: base, more: true };
        let mut used = 0;
        for (_, id) in order.iter().copied() {
            let Some(e) = self.table.get(id) else {
                continue;
            };
            let changed = e.changed;
            let delta = self.delta(e, names || newer(e.created), now);
            let target = self.targets.iter().find(|t| t.server == e.id);
            let len = encoded_len(&delta) + target.map_or(0, encoded_len);
            if used + len > room || page.deltas.is_full() || (target.is_some() && page.targets.is_full()) {
                return page;
            }
            used += len;
            let _ = page.deltas.push(delta);
            if let Some(t) = target {
                let _ = page.targets.push(t.clone());
            }
            page.upto = changed;
        }
        if !capped {
            page.upto = self.version;
            page.more = false;
        }
        page
    }

    fn delta(&self, e: &Entry, with_name: bool, now: Instant) -> NodeDelta {
        let mut paths = Vec::new();
        for p in &e.paths {
            let silent_ms = u32::try_from(p.silent_ms(now)).unwrap_or(u32::MAX);
            let _ = paths.push(PathReport { parent: p.parent, state: p.state, silent_ms });
        }
        NodeDelta {
            id: e.id,
            generation: e.generation,
            role: e.role,
            name: with_name.then(|| e.name.clone()),
            paths,
            mounts: e.mounts.to_vec(),
        }
    }
}
