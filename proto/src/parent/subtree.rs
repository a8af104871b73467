//! What child routers report of their subtrees.
//!
//! Every update carries a summary of the router's subtree (totals, the progress of the orders
//! it holds, the clients that failed them) and a page of the changes after a version this
//! parent acknowledged (`base`): node deltas with their paths, and each server's target status.
//! A page whose base is not what this parent applied is refused (the acknowledgement in the
//! reply tells the router where to go on from). Base 0 begins a snapshot: every path through
//! that router goes stale until the snapshot repeats it, and the last page sweeps the rest.
//! An update overtaken by a newer one counts for liveness only.
//!
//! Target status records are kept here too, one per target, whichever server reports it (a
//! failover pair has two).

use super::admit::Announce;
use super::Told;
use super::{ChildRouter, Hub, Urgency};
use crate::counters::after;
use crate::ids::NodeId;
use crate::table::{Entry, Mounts, Path, Slot};
use crate::time::Instant;
use crate::wire::{
    Endpoint, Header, NodeDelta, NodeState, Role, TargetReport, TargetState, TargetStatus, Update,
};

impl<S: AsRef<[Slot]> + AsMut<[Slot]>, const R: usize, const T: usize> Hub<S, R, T> {
    /// An update (and implicit ping) from a child router.
    pub(crate) fn handle_update(
        &mut self,
        now: Instant,
        from: Endpoint,
        header: &Header,
        update: Update,
    ) -> Urgency {
        self.update(now, from, header, update);
        self.take_urgency()
    }

    fn update(&mut self, now: Instant, from: Endpoint, header: &Header, update: Update) {
        // How far this generation of the router had got before this datagram.
        let newest = (self.table.get(header.sender))
            .filter(|e| e.generation == header.generation)
            .and_then(|e| e.direct.as_ref())
            .map(|d| d.replay.highest());
        let Some(id) = self.admit(
            now,
            from,
            header,
            Announce::new(Role::Router, update.interval_ms, update.name.as_ref(), true),
        ) else {
            return;
        };
        if newest.is_some_and(|n| after(n, header.sequence)) {
            // Overtaken by a newer update: its summary is stale, and its page would be too (a
            // late snapshot page would even restart a resync and sweep what came since). Only
            // its liveness counts.
            self.counters.out_of_order += 1;
            return;
        }
        let summary = ChildRouter { progress: update.progress, totals: update.totals, failed: update.failed };
        if self.routers.get(&id) != Some(&summary) {
            self.urgent = true;
            if self.routers.insert(id, summary).is_err() {
                self.counters.overflow += 1;
            }
        }
        if update.base == 0 {
            self.begin_resync(id);
        }
        let Some(applied) = self.table.get(id).and_then(|e| e.direct.as_ref()).map(|d| d.applied) else {
            return;
        };
        if update.base != applied {
            self.counters.out_of_order += 1;
            return;
        }
        for delta in update.deltas {
            self.apply_delta(id, delta, now);
        }
        for report in update.targets {
            self.set_target(report.server, report.status);
        }
        let mut finished_resync = false;
        if let Some(d) = self.table.get_mut(id).and_then(|e| e.direct.as_mut()) {
            d.applied = update.upto;
            if d.resync && !update.more {
                d.resync = false;
                finished_resync = true;
            }
        }
        if finished_resync {
            self.sweep_stale(id);
        }
    }

    /// A snapshot from child router `via` begins: what it told before is stale until repeated.
    fn begin_resync(&mut self, via: NodeId) {
        for e in self.table.iter_mut() {
            if e.id == via {
                if let Some(d) = e.direct.as_mut() {
                    d.resync = true;
                    d.applied = 0;
                }
                continue;
            }
            for p in e.paths.iter_mut().filter(|p| { p.via } == via) {
                p.stale = true;
            }
        }
    }

    /// The snapshot from `via` is complete: drop every path it did not repeat.
    fn sweep_stale(&mut self, via: NodeId) {
        let mut version = self.version;
        let mut swept = false;
        for e in self.table.iter_mut() {
            if e.paths.iter().any(|p| p.stale && { p.via } == via) {
                e.paths.retain(|p| !(p.stale && { p.via } == via));
                version = version.wrapping_add(1).max(1);
                e.changed = version;
                swept = true;
            }
        }
        self.version = version;
        self.urgent |= swept;
    }

    fn apply_delta(&mut self, via: NodeId, delta: NodeDelta, now: Instant) {
        if !delta.generation.is_valid() {
            self.counters.malformed += 1;
            return;
        }
        if delta.id == self.me || delta.id == via {
            self.counters.unexpected += 1;
            return;
        }
        let me = self.me;
        let v = self.bump();
        if self.table.get(delta.id).is_none() {
            if delta.paths.is_empty() {
                return;
            }
            // A full table makes room for a node that may be alive, not for another dead one.
            let live = delta.paths.iter().any(|p| p.state != NodeState::Dead);
            if self.table.is_full() && !(live && self.reclaim_dead()) {
                self.counters.overflow += 1;
                return;
            }
            let name = delta.name.clone().unwrap_or_default();
            let mut entry = Entry::new(delta.id, name, delta.role, delta.generation);
            entry.generation_via = via;
            entry.created = v;
            if self.table.insert(entry).is_err() {
                self.counters.overflow += 1;
                return;
            }
        }
        let Some(e) = self.table.get_mut(delta.id) else {
            return;
        };
        // The greater generation wins while the other path that told it still hears the node
        // (its parent there answers `Stale` to a node whose generation went backwards, and it
        // takes one above). A smaller one from the path that told the greater, or from the only
        // path, is the node as it runs: its parent, restarted, had nothing to correct it with.
        // (Kept against any live path instead, a generation two restarted parents both lowered
        // would be kept for good, each path's report refused for the other's.)
        let teller = e.generation_via;
        let told_elsewhere =
            teller != via && e.paths.iter().any(|p| { p.via } == teller && p.state.is_live());
        if !(told_elsewhere && delta.generation < e.generation) {
            e.generation = delta.generation;
            e.generation_via = via;
        }
        e.role = delta.role;
        e.mounts = Mounts::new(&delta.mounts);
        let mut collision = None;
        if let Some(n) = delta.name {
            if e.name.is_empty() {
                e.name = n;
            } else if n != e.name {
                collision = Some(Told::IdCollision { id: e.id, kept: e.name.clone(), ignored: n });
            }
        }
        e.paths.retain(|p| { p.via } != via);
        let mut overflow = 0;
        for p in delta.paths.iter().filter(|p| p.parent != me) {
            let path =
                Path { parent: p.parent, via, state: p.state, silent_ms: p.silent_ms, at: now, stale: false };
            if e.paths.push(path).is_err() {
                overflow += 1;
            }
        }
        e.changed = v;
        self.counters.overflow += overflow;
        if let Some(event) = collision {
            self.counters.unexpected += 1;
            self.emit(event);
        }
        self.urgent = true;
    }

    /// Records a target's status; true if it changed. A failover pair has two servers that
    /// report one target, and the one where it is not mounted reports it down: that report
    /// never hides the other server's (up or recovering), or the record would flip between the
    /// two at every ping. The partner takes the record over once it reports the target mounted.
    /// A full table keeps what it has and refuses a new target: counted, and told once.
    pub(super) fn set_target(&mut self, server: NodeId, status: TargetStatus) -> bool {
        let record = TargetReport { server, status };
        // Names are unique in the table: the record its server holds is the target's, if it
        // names it (the common case, found by id alone: the table may hold a thousand targets,
        // each reported at every ping of its server).
        let same = |t: &TargetReport| t.status.target == record.status.target;
        let k = (self.targets.iter().position(|t| t.server == server && same(t)))
            .or_else(|| self.targets.iter().position(same));
        match k.map(|k| &mut self.targets[k]) {
            Some(t) if *t == record => false,
            Some(t)
                if t.server != server
                    && record.status.state == TargetState::Down
                    && t.status.state != TargetState::Down =>
            {
                false
            }
            Some(t) => {
                *t = record;
                self.urgent = true;
                self.targets_changed = true;
                true
            }
            None => {
                if let Err(record) = self.targets.push(record) {
                    self.counters.targets_refused += 1;
                    if !self.targets_full_told {
                        self.targets_full_told = true;
                        self.emit(Told::TargetTableFull { server, target: record.status.target });
                    }
                    return false;
                }
                self.urgent = true;
                self.targets_changed = true;
                true
            }
        }
    }
}
