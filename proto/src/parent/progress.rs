//! An order's progress summed over this parent's subtree: its home client children (and the
//! strangers that may be among them) plus what each live child router last reported, and the
//! child routers that do not hold the order yet (the subtrees a sum does not cover).

use super::{counted_home, direct_state, ChildRouter, Hub};
use crate::ids::{NodeId, OrderId};
use crate::table::Slot;
use crate::time::Instant;
use crate::wire::{NodeState, OrderProgress, Outcome, Role};

impl<S: AsRef<[Slot]> + AsMut<[Slot]>, const R: usize, const T: usize> Hub<S, R, T> {
    /// Whether the order sums cover every client this parent heard: not while a client heard
    /// but not admitted, past the list of strangers, may be alive (a dead threshold after it was
    /// last heard so). Until then a router reports no progress and the MGS closes no window.
    pub(crate) fn sums_whole(&self, now: Instant) -> bool {
        self.unlisted.is_none_or(|u| now.since(u.heard) >= u.dead_ms)
    }

    /// Progress of an order in this hub's subtree: its home client children plus what child
    /// routers last reported.
    pub(crate) fn progress(&self, order: OrderId) -> OrderProgress {
        let mut sum = OrderProgress { order, ..OrderProgress::default() };
        for e in self.table.iter().filter(|e| e.role == Role::Client) {
            if !counted_home(self.me, e) {
                continue;
            }
            sum.live += 1;
            if let Some(outcome) = self.report(e, order) {
                sum.applied += 1;
                match outcome {
                    Outcome::Reconnected => sum.reconnected += 1,
                    Outcome::Failed => sum.failed += 1,
                    Outcome::Applied => {}
                }
            }
        }
        // Clients heard but not admitted: alive, and not back as far as we know. One whose
        // entry counts above (its old instance, not yet judged dead) is not counted twice.
        let strangers =
            self.strangers.iter().filter(|s| !self.table.get(s.id).is_some_and(|e| counted_home(self.me, e)));
        sum.live += strangers.count() as u32;
        for (&id, _) in self.routers.iter() {
            let summary = self.router_summary(id);
            if let Some(p) = summary.and_then(|r| r.progress.iter().find(|p| p.order == order)) {
                sum.add(p);
            }
        }
        sum
    }

    /// The clients of this hub's subtree whose reconnection for `order` failed on every try,
    /// as far as they are named: its home client children that report it failed, then those
    /// its live child routers named. Exactly the clients [`Hub::progress`] counts as failed
    /// when no child router had more than [`MAX_FAILED`](crate::wire::MAX_FAILED) to name.
    pub(crate) fn failed_clients(&self, order: OrderId) -> impl Iterator<Item = NodeId> + '_ {
        let direct = (self.table.iter())
            .filter(move |e| e.role == Role::Client && counted_home(self.me, e))
            .filter(move |e| self.report(e, order) == Some(Outcome::Failed))
            .map(|e| e.id);
        let below = (self.routers.keys())
            .filter_map(|&id| self.router_summary(id))
            .flat_map(|r| r.failed.iter())
            .filter(move |f| f.order == order)
            .map(|f| f.client);
        direct.chain(below)
    }

    /// What a child router last said of its subtree, while it is live here (a silent router's
    /// last word is frozen: its subtree is not covered).
    pub(super) fn router_summary(&self, id: NodeId) -> Option<&ChildRouter> {
        let live =
            self.table.get(id).is_some_and(|e| direct_state(self.me, e).is_some_and(NodeState::is_live));
        self.routers.get(&id).filter(|_| live)
    }

    /// Whether every child router reported holding the order (so the sum covers its subtree).
    pub(crate) fn all_routers_hold(&self, order: OrderId) -> bool {
        self.routers_lacking(order).next().is_none()
    }

    /// The child routers that have not reported holding the order (down, partitioned, or
    /// themselves waiting for one of theirs): the subtrees a sum over it does not cover yet.
    pub(crate) fn routers_lacking(&self, order: OrderId) -> impl Iterator<Item = NodeId> + '_ {
        (self.table.iter())
            .filter(move |e| e.role == Role::Router && e.direct.is_some() && !self.child_has(e, order))
            .map(|e| e.id)
    }
}
