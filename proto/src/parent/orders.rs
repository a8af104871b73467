//! Orders held for the direct children.
//!
//! A parent holds the orders it was given (a router from its parents, the MGS its own) and
//! passes each on to every direct child that acts on it or relays it: pushed once to each at
//! once, repeated in every reply until the child reports it, and pushed again in a few rounds,
//! `resend_ms` and then doubling waits apart, to children that have not reported it yet. Each
//! held order has a slot in every child's reports.
//!
//! One order is held per target and holder, a newer superseding the older; a `CloseWindow` of
//! a known instance ends the other holders' `BeginRecovery` of it. A `BeginRecovery` lapses
//! once its window and a grace ran out since its issue, and is never taken again here.

use super::Told;
use super::{direct_state, Hub, Urgency, MAX_HELD};
use crate::ids::{NodeId, OrderId};
use crate::table::{Entry, Reports, Slot};
use crate::time::Instant;
use crate::timing::RESENDS;
use crate::wire::{Action, Endpoint, NodeState, Order, OrderReport, Outcome, Role};

/// An order being distributed to direct children.
#[derive(Clone, Debug)]
pub(super) struct Held {
    pub(super) order: Order,
    /// When it was taken here, and how old it was then ([`Order::age_ms`]): a `BeginRecovery`
    /// lapses a while after its issue (see [`Hub::lapse`]).
    taken: Instant,
    /// Its slot in the children's `Reports` (stable while held).
    pub(super) slot: u8,
    /// Next table slot to push to; `None` once every child had its push.
    cursor: Option<usize>,
    /// Push rounds left for children that have not reported the order yet, and when the next
    /// one starts.
    repushes: u8,
    repush_at: Option<Instant>,
}

impl Held {
    /// The order as this holder passes it on: aged by the time it has held it.
    pub(super) fn aged(&self, now: Instant) -> Order {
        let held_ms = u32::try_from(now.since(self.taken)).unwrap_or(u32::MAX);
        Order { age_ms: self.order.age_ms.saturating_add(held_ms), ..self.order.clone() }
    }
}

impl<S: AsRef<[Slot]> + AsMut<[Slot]>, const R: usize, const T: usize> Hub<S, R, T> {
    /// The orders held for the direct children.
    pub(crate) fn held_orders(&self) -> impl Iterator<Item = &Order> + '_ {
        self.held.iter().map(|h| &h.order)
    }

    /// Whether an order is held.
    pub(crate) fn holds(&self, id: OrderId) -> bool {
        self.held.iter().any(|h| h.order.id == id)
    }

    /// Holds an order for the direct children: pushes it now and repeats it in replies until
    /// each child reports it. Returns whether it was taken (not a repeat, nor older than one
    /// held), and what the owner must do: an order that lapsed on arrival is news too.
    pub(crate) fn hold(&mut self, now: Instant, order: Order) -> (bool, Urgency) {
        let taken = self.take_order(now, order);
        (taken, self.take_urgency())
    }

    fn take_order(&mut self, now: Instant, order: Order) -> bool {
        let target = order.action.target().clone();
        // One order per target and holder: a holder's newer order replaces its older one; another
        // holder's orders are neither newer nor older (their ids are not ranked across holders),
        // so a stopped or cut-off holder's last order never blocks or undoes a running one's.
        let same = |h: &Held| *h.order.action.target() == target && h.order.id.mgs == order.id.mgs;
        if self.held.iter().any(|h| same(h) && h.order.id.supersedes(&order.id)) {
            return false;
        }
        // A recovery is one per (target, instance), whichever holder orders it: a `CloseWindow`
        // of a known instance from one holder ends the other holders' `BeginRecovery` of it, or
        // of an older instance, here too, and one of theirs that comes after it is stale (a
        // holder stopped or cut off mid-recovery would otherwise leave its own held for good,
        // handed to every child that joins later). Instance 0 (an admin's, unknown) names no one
        // recovery. A holder's own orders replace each other as above.
        let ends = |close: &Order, begin: &Order| {
            let (closed, begun) = (close.action.target_generation().0, begin.action.target_generation().0);
            closed != 0
                && begun != 0
                && begun <= closed
                && close.id.mgs != begin.id.mgs
                && matches!(close.action, Action::CloseWindow { .. })
                && matches!(begin.action, Action::BeginRecovery { .. })
                && *close.action.target() == *begin.action.target()
        };
        if self.held.iter().any(|h| ends(&h.order, &order)) {
            return false;
        }
        // Its window ran out here already. Every holder times the window from the order's
        // issue, but judges it at its own checks (and the age it was given leaves out the time
        // in flight), so a parent can still hold the order, and hand it back to a child that no
        // longer reports it, a little after the child let it go.
        if self.lapsed.iter().any(|id| *id == order.id) {
            return false;
        }
        // Taken late (this node rebooted mid-recovery, or was cut off): its window ran out
        // already where it was issued, and does here too.
        if self.ran_out(&order, 0) {
            self.let_lapse(&order);
            return false;
        }
        let ended = |h: &Held| ends(&order, &h.order);
        self.held.retain(|h| !same(h) && !ended(h));
        if self.held.is_full() {
            // Make room: the oldest `CloseWindow` that every child has, else the oldest
            // `CloseWindow` (its recovery is over but for the server's hook), else the oldest
            // order (a recovery's progress is summed over held orders only).
            let rank = |h: &Held| match h.order.action {
                Action::CloseWindow { .. } if !self.anyone_needs(&h.order) => 0,
                Action::CloseWindow { .. } => 1,
                _ => 2,
            };
            if let Some(oldest) =
                (0..self.held.len()).min_by_key(|&i| (rank(&self.held[i]), self.held[i].order.id))
            {
                self.held.remove(oldest);
                self.counters.overflow += 1;
            }
        }
        // A free slot (there is one: at most MAX_HELD - 1 are held here), cleared of the
        // reports on the order that had it before.
        let slot = (0..MAX_HELD as u8).find(|k| self.held.iter().all(|h| h.slot != *k)).unwrap_or(0);
        for d in self.table.iter_mut().filter_map(|e| e.direct.as_mut()) {
            d.reports.set(slot, None);
        }
        let _ = self.held.push(Held {
            order,
            taken: now,
            slot,
            cursor: Some(0),
            repushes: RESENDS,
            repush_at: None,
        });
        self.urgent = true;
        true
    }

    /// Lets go of every `BeginRecovery` whose target's own window must have run out: held for
    /// the window its holder gave ([`Action::BeginRecovery`]'s `window_ms`; 0: unknown, held until
    /// superseded) and a server's dead threshold more. Its target came up by then, heard or not,
    /// and the order must not reach clients that join or reboot later. A holder that is running
    /// and sees the target supersedes it sooner with a `CloseWindow`; this ends it where none
    /// will: its holder stopped for good or restarted knowing nothing of it, and no other holder
    /// sees the target to close the instance. A lapsed order is remembered
    /// ([`Hub::hold`] does not take it again) and told ([`Event::OrderLapsed`]).
    ///
    /// [`Event::OrderLapsed`]: crate::Event::OrderLapsed
    pub(super) fn lapse(&mut self, now: Instant) {
        while let Some(i) = self.held.iter().position(|h| self.ran_out(&h.order, now.since(h.taken))) {
            let order = self.held.remove(i).order;
            self.let_lapse(&order);
        }
    }

    /// Whether `order`, held `ms` here, is a `BeginRecovery` whose window and grace ran out
    /// since its issue ([`Hub::lapse`]).
    fn ran_out(&self, order: &Order, ms: u64) -> bool {
        let grace = self.timing.dead_ms(self.timing.ping_interval_ms);
        match order.action {
            Action::BeginRecovery { window_ms, .. } if window_ms != 0 => {
                u64::from(order.age_ms).saturating_add(ms) >= u64::from(window_ms).saturating_add(grace)
            }
            _ => false,
        }
    }

    /// Remembers a lapsed order (never taken again) and tells so.
    fn let_lapse(&mut self, order: &Order) {
        if self.lapsed.is_full() {
            self.lapsed.pop_front();
        }
        let _ = self.lapsed.push_back(order.id);
        let (target, target_generation) = (order.action.target().clone(), order.action.target_generation());
        self.counters.orders_lapsed += 1;
        self.emit(Told::OrderLapsed { order: order.id, target, target_generation });
        self.urgent = true;
    }

    /// Whether a child still needs an order: one its role acts on or relays, not yet reported.
    /// Clients get no `CloseWindow` and servers no `BeginRecovery`: a report they would spend on
    /// it could push out one that a recovery still waits for.
    pub(super) fn child_needs(&self, e: &Entry, order: &Order) -> bool {
        let relevant = match (e.role, &order.action) {
            (Role::Router, _) => true,
            (Role::Client, action) => matches!(action, Action::BeginRecovery { .. }),
            (Role::Server, action) => matches!(action, Action::CloseWindow { .. }),
        };
        relevant && !self.child_has(e, order.id)
    }

    /// Whether a live direct child still needs an order.
    fn anyone_needs(&self, order: &Order) -> bool {
        (self.table.iter())
            .filter(|e| e.direct.is_some() && direct_state(self.me, e).is_some_and(NodeState::is_live))
            .any(|e| self.child_needs(e, order))
    }

    /// Whether a child reported an order (so it needs no more repeats). A child router counts
    /// only while it is live here: one that went silent no longer covers its subtree, whatever
    /// it last said.
    pub(super) fn child_has(&self, e: &Entry, order: OrderId) -> bool {
        if e.role == Role::Router {
            self.router_summary(e.id).is_some_and(|r| r.progress.iter().any(|p| p.order == order))
        } else {
            self.report(e, order).is_some()
        }
    }

    /// What a direct client or server child reported on a held order.
    pub(super) fn report(&self, e: &Entry, order: OrderId) -> Option<Outcome> {
        let slot = self.held.iter().find(|h| h.order.id == order)?.slot;
        e.direct.as_ref()?.reports.get(slot)
    }

    /// The next order push to a live direct child that still needs it. A round walks the whole
    /// table; `RESENDS` more rounds follow, `resend_ms` and then doubling waits apart, for
    /// children that have not reported the order yet (a lost push then costs `resend_ms`, not a
    /// ping interval).
    pub(crate) fn poll_push(&mut self, now: Instant) -> Option<(Endpoint, NodeId, Order)> {
        for k in 0..self.held.len() {
            if self.held[k].cursor.is_none() && self.held[k].repush_at.is_some_and(|t| t <= now) {
                self.held[k].repush_at = None;
                self.held[k].cursor = Some(0);
            }
            while let Some(i) = self.held[k].cursor {
                if i >= self.table.slot_count() {
                    let h = &mut self.held[k];
                    h.cursor = None;
                    if h.repushes > 0 {
                        h.repush_at = Some(now.after(self.timing.resend_wait_ms(h.repushes)));
                        h.repushes -= 1;
                    }
                    break;
                }
                self.held[k].cursor = Some(i + 1);
                let Some(e) = self.table.at(i) else { continue };
                let Some(d) = &e.direct else { continue };
                let live = direct_state(self.me, e).is_some_and(NodeState::is_live);
                if live && self.child_needs(e, &self.held[k].order) {
                    return Some((d.addr, e.id, self.held[k].aged(now)));
                }
            }
        }
        None
    }

    /// When the next round of re-pushes is due.
    pub(crate) fn next_repush(&self) -> Option<Instant> {
        self.held.iter().filter_map(|h| h.repush_at).min()
    }
}

/// Whether a client reported applying a recovery order but not yet how its reconnect went. Its
/// replies keep repeating the order, so a client whose final report was lost sends it again.
pub(super) fn owes_outcome(e: &Entry, held: &Held) -> bool {
    e.role == Role::Client
        && matches!(held.order.action, Action::BeginRecovery { .. })
        && e.direct.as_ref().is_some_and(|d| d.reports.get(held.slot) == Some(Outcome::Applied))
}

/// Merges a ping's reports into what a parent keeps of its child, for the orders it holds
/// (`(order, slot)`): a report absent from the ping stays (a child sends each change a few times,
/// not forever); a final outcome never goes back to `Applied` (an older ping overtaken by a newer
/// one). Returns whether anything changed.
pub(super) fn merge_reports(kept: &mut Reports, ping: &[OrderReport], held: &[(OrderId, u8)]) -> bool {
    let mut changed = false;
    for r in ping {
        let Some(&(_, slot)) = held.iter().find(|(id, _)| *id == r.order) else { continue };
        match kept.get(slot) {
            Some(k) if k == r.outcome || r.outcome == Outcome::Applied => {}
            _ => {
                kept.set(slot, Some(r.outcome));
                changed = true;
            }
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Generation;

    fn oid(seq: u64) -> OrderId {
        OrderId { mgs: NodeId(1), mgs_generation: Generation(1), seq }
    }

    fn report(seq: u64, outcome: Outcome) -> OrderReport {
        OrderReport { order: oid(seq), outcome }
    }

    #[test]
    fn merged_reports_keep_what_a_ping_leaves_out_and_never_go_back_to_applied() {
        let held = [(oid(1), 0), (oid(2), 5), (oid(3), 15)];
        let mut kept = Reports::default();
        assert!(merge_reports(&mut kept, &[report(1, Outcome::Applied), report(9, Outcome::Applied)], &held));
        assert_eq!((kept.get(0), kept.get(5)), (Some(Outcome::Applied), None), "order 9 is not held here");
        assert!(merge_reports(&mut kept, &[report(1, Outcome::Reconnected)], &held));
        // An older ping overtaken by the newer one, then a ping without reports: nothing moves.
        assert!(!merge_reports(&mut kept, &[report(1, Outcome::Applied)], &held));
        assert!(!merge_reports(&mut kept, &[], &held));
        assert!(merge_reports(&mut kept, &[report(3, Outcome::Failed), report(2, Outcome::Applied)], &held));
        let all = [0, 5, 15].map(|k| kept.get(k));
        assert_eq!(all, [Some(Outcome::Reconnected), Some(Outcome::Applied), Some(Outcome::Failed)]);
        // A slot given to another order starts empty.
        kept.set(5, None);
        assert_eq!(
            [0, 5, 15].map(|k| kept.get(k)),
            [Some(Outcome::Reconnected), None, Some(Outcome::Failed)]
        );
    }
}
