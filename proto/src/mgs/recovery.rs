//! One recovery: a target restart (or an admin's order), how far its clients got, and how its
//! window ended.

use heapless::Vec;

use crate::ids::{Generation, Name, NodeId, OrderId};
use crate::time::Instant;
use crate::wire::{OrderProgress, TargetReport, TargetState, MAX_FAILED};

#[cfg(doc)]
use super::{Mgs, MAX_ORDERING};

/// One recovery: a target restart (or a manual order) and how far its clients got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    /// The target.
    pub target: Name,
    /// The instance recovering (for a manual order: the instance the admin named, or 0).
    pub target_generation: Generation,
    /// The `BeginRecovery` order.
    pub order: OrderId,
    /// When the MGS issued it.
    pub began: Instant,
    /// Progress as last summed (frozen once the window closed).
    pub progress: OrderProgress,
    /// The clients whose reconnection failed on every try, as far as routers named them (the
    /// first [`MAX_FAILED`]; `progress.failed` counts them all), summed and frozen with
    /// `progress`.
    pub failed: Vec<NodeId, MAX_FAILED>,
    /// When the count of reconnected clients last rose (`began` until it does): with the count,
    /// the observed reconnect rate.
    pub last_reconnect: Instant,
    /// When every live client had reconnected (the `CloseWindow` order and its time).
    pub closed: Option<(OrderId, Instant)>,
    /// When the target said it is up again (its window closed, by order or by its own
    /// time-out), or when its own window must have run out unheard (see [`Recovery::ran_out`]).
    pub target_up: Option<Instant>,
    /// Issued by an admin.
    pub manual: bool,
    /// Closed by an admin ([`Mgs::close`]) rather than by every live client reconnecting.
    pub closed_by_admin: bool,
    /// Waiting for its order: [`MAX_ORDERING`] recoveries were under way when its target
    /// restarted; it is ordered (and `began` set) as soon as one of them ends. `order` is
    /// meaningless until then.
    pub queued: bool,
    /// An admin's order for a target that was up in the instance ordered: its window is
    /// Vigil's alone, closed when every live client reconnected, not ended by the target being
    /// up (it was already). It waits for child routers that lack its order only until a silent
    /// node would be dead, and a client whose tries all failed counts as done.
    pub serving: bool,
}

impl Recovery {
    /// Whether the window is closed (by Vigil's order or by the target itself).
    pub fn window_closed(&self) -> bool {
        self.closed.is_some() || self.target_up.is_some()
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

    /// Whether its order is out and its window still open.
    pub(super) fn ordering(&self) -> bool {
        !self.queued && !self.window_closed()
    }

    /// Whether it takes one of the [`MAX_ORDERING`] places: ordered, and the target
    /// not yet up, for at most `grace_ms` after `CloseWindow` (a server that died or hangs must
    /// not hold a place for good; its own window ends its recovery).
    pub(super) fn holds_a_place(&self, now: Instant, grace_ms: u64) -> bool {
        !self.queued && self.target_up.is_none() && self.closed.is_none_or(|(_, at)| now.since(at) < grace_ms)
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
            order: OrderId::default(),
            began: Instant(1_000),
            progress: OrderProgress { live, reconnected, applied: live, ..OrderProgress::default() },
            failed: Vec::new(),
            last_reconnect: Instant(last_reconnect),
            closed: None,
            target_up: None,
            manual: false,
            closed_by_admin: false,
            queued: false,
            serving: false,
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
        let closed = Recovery { closed: Some((OrderId::default(), Instant(3_000))), ..recovery(4, 4, 3_000) };
        assert_eq!(closed.eta_ms(Instant(9_000)), Some(0));
    }
}
