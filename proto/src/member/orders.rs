//! Orders a member receives, and the reports it keeps on them.
//!
//! An order arrives pushed or repeated in a reply, from any parent; once it verifies (an MGS
//! signature) only whether it is new matters. A repeat (its id seen) means the parent lacks the
//! report: the report rides again, never the order. A new order for a recovery already done (a
//! restarted MGS, or another status holder, issuing it again) is answered with what was done, and
//! a client remembers the newest instance of each target it recovered, so that an order for an
//! older one (from a status holder that missed a restart) is not carried out either. Only a new
//! order the role acts on is handed to the driver ([`super::driver`]).
//!
//! Each order gets a [`Report`], which rides in every ping until a parent acknowledges one that
//! carried it ([`super::replies`]).

use crate::handed::Kept;
use crate::ids::{fnv1a, Generation, OrderId};
use crate::time::Instant;
use crate::wire::{Action, Order, Outcome, Role, TargetState};

use super::Member;

/// Order ids remembered to tell repeats from new orders.
pub(super) const SEEN: usize = 32;

#[derive(Clone, Copy, Debug)]
pub(super) struct Report {
    pub(super) order: OrderId,
    pub(super) outcome: Outcome,
    /// It goes in every ping, until a parent acknowledges a ping sent after `since` (then it
    /// rests until its order is repeated to us).
    pub(super) riding: bool,
    /// The sequence of the last datagram sent before it changed.
    pub(super) since: u32,
    /// Which recovery it was about: (target, target instance) and whether it began or closed it.
    /// A recovery is the same whichever MGS issues it, so this tells a re-issued order for the
    /// same restart (by a restarted MGS, or another status holder) from a new restart.
    pub(super) about: Option<u32>,
}

/// The newest instance of a target a client was ordered to recover, and how that went: an
/// order for that instance or an older one is not carried out again, however many orders came
/// since (the reports, which also tell repeats apart, keep only the last
/// [`MAX_REPORTS`](crate::wire::MAX_REPORTS)). A stale status holder (one that missed the
/// target's last restart) can order an instance the client recovered from long ago.
#[derive(Clone, Copy, Debug)]
pub(super) struct Recovered {
    /// The target's name, hashed as in a report's `about`.
    pub(super) target: u32,
    pub(super) instance: Generation,
    pub(super) outcome: Outcome,
}

impl Recovered {
    /// The `about` of reports on this recovery.
    pub(super) fn about(&self) -> u32 {
        recovery_tag(self.target, self.instance)
    }
}

/// What a report on the recovery of `instance` of the target whose name hashes to `target` is
/// about (a `CloseWindow`'s is its complement).
fn recovery_tag(target: u32, instance: Generation) -> u32 {
    target ^ instance.0.rotate_left(16)
}

/// Targets whose newest recovery a client remembers; the least recently ordered gives way.
pub(super) const RECOVERED: usize = 16;

impl<K: Kept> Member<K> {
    pub(super) fn handle_order(&mut self, now: Instant, order: Order) {
        if self.seen.iter().any(|&id| id == order.id) {
            // Repeated: the parent lacks our report on it (or, while we report it applied, its
            // outcome). A report whose sends are spent goes again; a final one at once, since
            // the parent waits for it (it stops repeating once it has it, so this ends).
            let since = self.link.last_sequence();
            let Some(r) = self.reports.iter_mut().find(|r| r.order == order.id && !r.riding) else {
                return;
            };
            (r.riding, r.since) = (true, since);
            if r.outcome != Outcome::Applied {
                self.ping_now(now);
            }
            return;
        }
        if !self.order_keys.verify(&order) {
            self.counters.forged += 1;
            return;
        }
        // The recovery a client is ordered into (its target's name hashed, the instance; none for
        // an instance an admin left unknown), and what reports on the order are about.
        let (begin, about) = match &order.action {
            Action::BeginRecovery { target, target_generation, .. } if target_generation.0 != 0 => {
                let begin = (fnv1a(target.as_bytes()), *target_generation);
                (Some(begin), Some(recovery_tag(begin.0, begin.1)))
            }
            Action::CloseWindow { target, target_generation, .. } => {
                (None, Some(!recovery_tag(fnv1a(target.as_bytes()), *target_generation)))
            }
            _ => (None, None),
        };
        // What was done on an earlier order for the same recovery, unless it failed; or on a
        // newer instance of its target.
        let earlier = about
            .and_then(|a| {
                (self.reports.iter())
                    .find(|r| r.about == Some(a) && r.outcome != Outcome::Failed)
                    .map(|r| r.outcome)
            })
            .or_else(|| begin.and_then(|(target, instance)| self.superseded(target, instance)));
        let outcome = match earlier {
            // The same recovery ordered again (by an MGS that restarted, or another holder):
            // report what was done, do not do it twice. A failed attempt is not done: a new
            // order (an admin's retry) carries it out again.
            Some(outcome) => outcome,
            None if self.acts_on(&order.action) => {
                if self.events.is_full() || !self.hand(&order) {
                    // Not taken: the order is repeated until we report it.
                    self.counters.events_dropped += 1;
                    return;
                }
                if let Some((target, instance)) = begin {
                    self.remember(target, instance);
                }
                Outcome::Applied
            }
            None => Outcome::Applied,
        };
        if self.seen.is_full() {
            self.seen.pop_front();
        }
        let _ = self.seen.push_back(order.id);
        if self.reports.is_full() {
            self.reports.pop_front();
        }
        let since = self.link.last_sequence();
        let _ = self.reports.push_back(Report { order: order.id, outcome, about, riding: true, since });
        self.ping_now(now);
    }

    /// For a client, what it reports on a `BeginRecovery` of `instance` of `target` (its name
    /// hashed) by its newest recovery of the target: one of an older instance is stale (the
    /// client recovered the newer one), one of the same instance done, unless it failed (an
    /// admin's retry).
    fn superseded(&self, target: u32, instance: Generation) -> Option<Outcome> {
        if self.role != Role::Client {
            return None;
        }
        let newest = self.recovered.iter().find(|r| r.target == target)?;
        match newest.instance.cmp(&instance) {
            core::cmp::Ordering::Greater => Some(newest.outcome),
            core::cmp::Ordering::Equal if newest.outcome != Outcome::Failed => Some(newest.outcome),
            _ => None,
        }
    }

    /// Notes that this client carries out the recovery of `instance` of `target`.
    fn remember(&mut self, target: u32, instance: Generation) {
        self.recovered.retain(|r| r.target != target);
        if self.recovered.is_full() {
            self.recovered.pop_front();
        }
        let _ = self.recovered.push_back(Recovered { target, instance, outcome: Outcome::Applied });
    }

    fn acts_on(&self, action: &Action) -> bool {
        match (self.role, action) {
            (Role::Client, Action::BeginRecovery { .. }) => true,
            // Only while recovering: a window that ended (by an earlier order, or by the
            // target's own time-out) is not closed again.
            (Role::Server, Action::CloseWindow { target, target_generation, .. }) => K::target(&self.target)
                .is_some_and(|t| {
                    t.target == *target
                        && t.generation == *target_generation
                        && t.state == TargetState::Recovering
                }),
            _ => false,
        }
    }
}
