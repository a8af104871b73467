//! One recovery: a target restart (or an admin's order), how far its clients got, and how its
//! window ended.
//!
//! A recovery's lifecycle is its [`Phase`]:
//!
//! - [`Phase::Queued`] → [`Phase::Ordered`] once one of the [`MAX_ORDERING`] places is free: its
//!   `BeginRecovery` goes out;
//! - [`Phase::Ordered`] → [`Phase::Closed`] when every live client is back ([`ClosedBy::Order`])
//!   or an admin closes it ([`ClosedBy::Admin`]; a queued recovery too, unordered); its
//!   server carrying the `CloseWindow` out is noted in the phase;
//! - [`Phase::Ordered`] or [`Phase::Queued`] → [`Phase::EndedByTarget`] when the target is up
//!   with no close from this MGS (its own time-out, or its window ran out unheard).
//!
//! Only a recovery of a target seen restarting queues (an admin's order is refused instead of
//! queued: [`RecoverError::Busy`](super::RecoverError::Busy)); a recovery that ended while
//! queued has no `BeginRecovery`. Who asked for it is its [`Origin`].

use heapless::Vec;

use crate::ids::{Generation, Name, NodeId, OrderId};
use crate::time::Instant;
use crate::wire::{OrderProgress, TargetReport, TargetState, MAX_FAILED};

#[cfg(doc)]
use super::{Mgs, MAX_ORDERING};

/// One recovery: a target restart (or a manual order), how far its clients got, and where it
/// stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    /// The target.
    pub target: Name,
    /// The instance recovering (for a manual order: the instance the admin named, or 0).
    pub target_generation: Generation,
    /// Who asked for it.
    pub origin: Origin,
    /// When the MGS issued its `BeginRecovery` (while queued: when its target was seen
    /// restarting).
    pub began: Instant,
    /// Progress as last summed (frozen once the window closed). A recovery the target ended
    /// after another status holder's close keeps the sum this MGS last made, which may leave out
    /// routers that had let go of its `BeginRecovery` for that close: it may show fewer clients
    /// than were live (none closed out: the other holder closed on its own whole sum).
    pub progress: OrderProgress,
    /// The clients whose reconnection failed on every try, as far as routers named them (the
    /// first [`MAX_FAILED`]; `progress.failed` counts them all), summed and frozen with
    /// `progress`.
    pub failed: Vec<NodeId, MAX_FAILED>,
    /// When the count of reconnected clients last rose (`began` until it does): with the count,
    /// the observed reconnect rate.
    pub last_reconnect: Instant,
    /// Clients the MGS's view shows live beyond those the sums count: a client whose home
    /// moved while the news of its new home is on its way, or whose home convicted it while
    /// another path still hears it. The window waits for them. Known once every counted client
    /// is back (0 before).
    pub uncounted: u32,
    /// Where it stands.
    pub phase: Phase,
}

/// Who asked for a recovery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A server reported its target recovering in an instance the MGS had no recovery of.
    Restart,
    /// An admin ([`Mgs::recover`]).
    Admin {
        /// The target was up in the instance ordered: the window is Vigil's alone, closed
        /// when every live client reconnected, not ended by the target being up (it was
        /// already). It waits for child routers that lack its order only until a silent node
        /// would be dead, and a client whose tries all failed counts as done.
        serving: bool,
    },
}

/// Where a recovery stands (see the [module docs](self)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for its order: [`MAX_ORDERING`] recoveries were under way when its target
    /// restarted; it is ordered (and `began` set) as soon as one of them ends.
    Queued,
    /// Its `BeginRecovery` is out, its window open.
    Ordered(OrderId),
    /// This MGS ordered the window closed.
    Closed {
        /// The `BeginRecovery`, if it was out by then.
        begin: Option<OrderId>,
        /// The `CloseWindow`.
        close: OrderId,
        /// When it was issued.
        at: Instant,
        /// Why.
        by: ClosedBy,
        /// When its server then said the target is up (the close carried out).
        target_up: Option<Instant>,
    },
    /// The target ended its window itself, with no close from this MGS: its own time-out
    /// (or another status holder's close), heard, or past its length unheard (see
    /// [`Recovery::ran_out`]).
    EndedByTarget {
        /// The `BeginRecovery`, if it was out by then.
        begin: Option<OrderId>,
        /// When this MGS saw it end.
        at: Instant,
    },
}

/// Why this MGS ordered a window closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClosedBy {
    /// Every live client had reconnected.
    Order,
    /// An admin ([`Mgs::close`]).
    Admin,
}

impl Recovery {
    /// A recovery begun (or queued) `now`, no client counted yet.
    pub(super) fn new(
        target: Name,
        target_generation: Generation,
        origin: Origin,
        now: Instant,
        phase: Phase,
    ) -> Self {
        let order = match phase {
            Phase::Ordered(order) => order,
            _ => OrderId::default(),
        };
        Recovery {
            target,
            target_generation,
            origin,
            began: now,
            progress: OrderProgress { order, ..OrderProgress::default() },
            failed: Vec::new(),
            last_reconnect: now,
            uncounted: 0,
            phase,
        }
    }

    /// A queued recovery's `BeginRecovery` went out `now`: its clients count from it.
    pub(super) fn ordered(&mut self, order: OrderId, now: Instant) {
        (self.phase, self.began, self.last_reconnect) = (Phase::Ordered(order), now, now);
        self.progress = OrderProgress { order, ..OrderProgress::default() };
        self.failed.clear();
    }

    /// This MGS ordered the window closed `now`, with `close`.
    pub(super) fn closed_now(&mut self, close: OrderId, now: Instant, by: ClosedBy) {
        self.phase = Phase::Closed { begin: self.order(), close, at: now, by, target_up: None };
    }

    /// The target ended its window itself; seen `now`.
    pub(super) fn ended_by_target(&mut self, now: Instant) {
        self.phase = Phase::EndedByTarget { begin: self.order(), at: now };
    }

    /// The server of a window this MGS closed says the target is up: the close carried out.
    pub(super) fn carried_out(&mut self, now: Instant) {
        if let Phase::Closed { target_up, .. } = &mut self.phase {
            *target_up = Some(now);
        }
    }

    /// Its `BeginRecovery` order; none while queued, nor if it ended while queued.
    pub fn order(&self) -> Option<OrderId> {
        match self.phase {
            Phase::Queued => None,
            Phase::Ordered(order) => Some(order),
            Phase::Closed { begin, .. } | Phase::EndedByTarget { begin, .. } => begin,
        }
    }

    /// The `CloseWindow` order this MGS closed the window with, and when.
    pub fn closed(&self) -> Option<(OrderId, Instant)> {
        match self.phase {
            Phase::Closed { close, at, .. } => Some((close, at)),
            _ => None,
        }
    }

    /// When the target said it is up again (its window closed, by order or by its own
    /// time-out), or when its own window must have run out unheard (see [`Recovery::ran_out`]).
    pub fn target_up(&self) -> Option<Instant> {
        match self.phase {
            Phase::Closed { target_up, .. } => target_up,
            Phase::EndedByTarget { at, .. } => Some(at),
            _ => None,
        }
    }

    /// When its window ended here (closed by this MGS, or by the target); none while open.
    pub fn ended_at(&self) -> Option<Instant> {
        match self.phase {
            Phase::Closed { at, .. } | Phase::EndedByTarget { at, .. } => Some(at),
            Phase::Queued | Phase::Ordered(_) => None,
        }
    }

    /// Closed by an admin ([`Mgs::close`]) rather than by every live client reconnecting.
    pub fn closed_by_admin(&self) -> bool {
        matches!(self.phase, Phase::Closed { by: ClosedBy::Admin, .. })
    }

    /// Issued by an admin.
    pub fn manual(&self) -> bool {
        matches!(self.origin, Origin::Admin { .. })
    }

    /// An admin's order for a target that was up in the instance ordered ([`Origin::Admin`]).
    pub fn serving(&self) -> bool {
        matches!(self.origin, Origin::Admin { serving: true })
    }

    /// Whether the window is closed (by Vigil's order or by the target itself).
    pub fn window_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed { .. } | Phase::EndedByTarget { .. })
    }

    /// Whether its target reports itself up in the instance recovering.
    pub(super) fn target_is_up(&self, targets: &[TargetReport]) -> bool {
        targets.iter().any(|t| {
            t.status.target == self.target
                && t.status.generation == self.target_generation
                && t.status.state == TargetState::Up
        })
    }

    /// Whether the target's own window must have run out by now, heard or not: its server
    /// reported the instance recovering with a window of `window_ms` before the order went out
    /// (`began`), and that long has passed since, with `grace_ms` to spare. A server cut off
    /// from the MGS for good is never heard saying so; its recovery ends all the same, so that
    /// its `BeginRecovery` is not held for good. Not for an instance the MGS never heard
    /// recovering (an admin's order naming none, or one still down): its window is unknown.
    pub fn ran_out(&self, now: Instant, targets: &[TargetReport], grace_ms: u64) -> bool {
        self.target_generation.0 != 0
            && targets.iter().any(|t| {
                t.status.target == self.target
                    && t.status.generation == self.target_generation
                    && now.since(self.began) >= u64::from(t.status.window_ms).saturating_add(grace_ms)
            })
    }

    /// Whether it takes one of the [`MAX_ORDERING`] places: ordered, and the target
    /// not yet up, for at most `grace_ms` after `CloseWindow` (a server that died or hangs must
    /// not hold a place for good; its own window ends its recovery).
    pub(super) fn holds_a_place(&self, now: Instant, grace_ms: u64) -> bool {
        match self.phase {
            Phase::Ordered(_) => true,
            Phase::Closed { begin: Some(_), at, target_up: None, .. } => now.since(at) < grace_ms,
            _ => false,
        }
    }

    /// Estimated ms until every live client reconnected, from the rate observed from the order
    /// to the last reconnect; `Some(0)` once the window closed. `None` while no client has
    /// reconnected, and once that rate would have had them all back already: clients overdue
    /// (a hook that hangs, a client that fails) have no rate to extrapolate from, and an estimate
    /// that grows with the wait would only mislead.
    pub fn eta_ms(&self, now: Instant) -> Option<u64> {
        if self.window_closed() {
            return Some(0);
        }
        let p = &self.progress;
        if p.reconnected == 0 {
            return None;
        }
        let left = u64::from(p.live.saturating_sub(p.reconnected));
        let per_client = self.last_reconnect.since(self.began) / u64::from(p.reconnected);
        let due = self.last_reconnect.after(per_client.saturating_mul(left));
        (due > now || left == 0).then(|| due.since(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recovery(live: u32, reconnected: u32, last_reconnect: u64) -> Recovery {
        Recovery {
            target: crate::ids::name("fs-OST0001").unwrap(),
            target_generation: Generation(2),
            origin: Origin::Restart,
            began: Instant(1_000),
            progress: OrderProgress { live, reconnected, applied: live, ..OrderProgress::default() },
            failed: Vec::new(),
            last_reconnect: Instant(last_reconnect),
            uncounted: 0,
            phase: Phase::Ordered(OrderId::default()),
        }
    }

    #[test]
    fn the_eta_follows_the_observed_reconnect_rate_and_gives_up_when_clients_are_overdue() {
        assert_eq!(recovery(4, 0, 1_000).eta_ms(Instant(5_000)), None, "no rate before a reconnect");
        // Two of four back 2 s after the order: 1 s a client, so the other two by 5 s.
        let r = recovery(4, 2, 3_000);
        assert_eq!(r.eta_ms(Instant(3_000)), Some(2_000));
        assert_eq!(r.eta_ms(Instant(4_500)), Some(500), "counts down while clients keep the pace");
        // A hook that hangs: past what the rate explains there is no estimate, never one that
        // grows with the wait.
        assert_eq!(r.eta_ms(Instant(5_000)), None);
        assert_eq!(r.eta_ms(Instant(60_000)), None);
        assert_eq!(recovery(4, 4, 3_000).eta_ms(Instant(9_000)), Some(0), "all back: waiting for nothing");
        let phase = Phase::Closed {
            begin: Some(OrderId::default()),
            close: OrderId::default(),
            at: Instant(3_000),
            by: ClosedBy::Order,
            target_up: None,
        };
        let closed = Recovery { phase, ..recovery(4, 4, 3_000) };
        assert_eq!(closed.eta_ms(Instant(9_000)), Some(0));
    }
}
