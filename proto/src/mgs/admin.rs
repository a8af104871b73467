//! An admin's orders: a recovery ordered by hand, a window closed by hand, and why the MGS
//! refuses one.

use heapless::Vec;

use crate::ids::{Generation, Name, Nid, OrderId};
use crate::table::Slot;
use crate::time::Instant;
use crate::wire::{Action, TargetState, MAX_TARGET_ADDRS};

use super::recovery::{ClosedBy, Origin, Phase};
#[cfg(doc)]
use super::MAX_ORDERING;
use super::{Mgs, MAX_MANUAL_ORDERING};

/// A manual order the MGS cannot issue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecoverError {
    /// [`MAX_ORDERING`] recoveries are under way, or the recovery table is full of open ones;
    /// wait for one to finish.
    Busy,
    /// [`MAX_MANUAL_ORDERING`] recoveries an admin asked for are under way already.
    AdminLimit,
}

impl core::fmt::Display for RecoverError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RecoverError::Busy => f.write_str("the MGS cannot track another recovery now"),
            RecoverError::AdminLimit => write!(
                f,
                "{MAX_MANUAL_ORDERING} recoveries ordered by an admin are under way (the other places are kept for targets seen restarting); close one first"
            ),
        }
    }
}

/// An admin's close the MGS refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseError {
    /// No recovery of that target is known.
    NoRecovery,
    /// Its window already ended on the target's side (its own time-out, or it came up).
    Over,
}

impl core::fmt::Display for CloseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            CloseError::NoRecovery => "no recovery of that target is known",
            CloseError::Over => "that target's recovery window already ended",
        })
    }
}

/// What an admin's close did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closed {
    /// The window is ordered closed now, by this `CloseWindow` order.
    Now(OrderId),
    /// The window was closed already, by this earlier order: nothing was done again.
    Already(OrderId),
}

impl Closed {
    /// The `CloseWindow` order that closed the window.
    pub fn order(self) -> OrderId {
        match self {
            Closed::Now(order) | Closed::Already(order) => order,
        }
    }
}

impl<S: AsRef<[Slot]> + AsMut<[Slot]>, const R: usize, const T: usize> Mgs<S, R, T> {
    /// An admin orders every live client to reconnect to `target` now (a target without a Vigil
    /// agent, or a recovery the health network did not see), or retries a recovery under way.
    ///
    /// A recovery is identified by (target, target instance). For a target its server reports
    /// recovering, the order is of that instance (with its addresses unless `addrs` names
    /// others): the same recovery ordered again, so a client that reconnected only reports so,
    /// and a client whose reconnect failed carries it out again. For a target its server
    /// reports up, the order names the instance it serves as, and its addresses unless `addrs`
    /// names others: clients reconnect to that instance (a client already on it only reports
    /// so). Otherwise (a target no live server reports) the instance is unknown (0) and every
    /// live client reconnects ([`Mgs::recover_instance`] names one).
    pub fn recover(
        &mut self,
        now: Instant,
        target: Name,
        addrs: Vec<Nid, MAX_TARGET_ADDRS>,
    ) -> Result<OrderId, RecoverError> {
        self.recover_instance(now, target, Generation(0), addrs)
    }

    /// [`Mgs::recover`] naming the target instance the order is about when its server does not
    /// report one. Several status holders given the same instance issue one recovery to
    /// clients, which act on a `(target, instance)` once, whichever holder's order comes first
    /// (the `vigil recover` CLI names one instance for every holder it is sent to). Instance 0
    /// names none: each such order is acted on.
    pub fn recover_instance(
        &mut self,
        now: Instant,
        target: Name,
        instance: Generation,
        addrs: Vec<Nid, MAX_TARGET_ADDRS>,
    ) -> Result<OrderId, RecoverError> {
        let grace = self.close_grace_ms();
        let manual_open = (self.recoveries.iter())
            .filter(|r| r.manual() && r.target != target && r.holds_a_place(now, grace))
            .count();
        if manual_open >= MAX_MANUAL_ORDERING {
            return Err(RecoverError::AdminLimit);
        }
        let reported = self.hub.targets().iter().find(|t| t.status.target == target);
        let addrs = match reported {
            Some(t) if addrs.is_empty() => t.status.addrs.clone(),
            _ => addrs,
        };
        let generation = match reported {
            Some(t) if t.status.state == TargetState::Recovering => t.status.generation,
            Some(t) if instance.0 == 0 && self.target_state(t, now) == TargetState::Up => t.status.generation,
            // Down, or its server is dead: the instance it comes back as is not known yet.
            _ => instance,
        };
        let serving = reported.is_some_and(|t| {
            t.status.generation == generation && self.target_state(t, now) == TargetState::Up
        });
        // The target's own window, when the order is of the instance its server reported: the
        // order lapses where it is held once that window must have run out. For an instance not
        // yet seen (its server down) the window has not started: none is given.
        let window_ms =
            reported.filter(|t| t.status.generation == generation).map_or(0, |t| t.status.window_ms);
        let action =
            Action::BeginRecovery { target: target.clone(), target_generation: generation, addrs, window_ms };
        let i = self
            .begin(now, target, generation, action, Origin::Admin { serving })
            .ok_or(RecoverError::Busy)?;
        // An admin's order is ordered now or refused, never queued.
        self.recoveries[i].order().ok_or(RecoverError::Busy)
    }

    /// An admin closes `target`'s recovery window now: its server is ordered to end recovery
    /// as when every live client is back. For a window held open by clients the health network
    /// cannot see (a router gone for good, a partition the admin gave up on): Lustre evicts them,
    /// as at the end of its own window. A queued recovery is dropped unordered. Returns the
    /// `CloseWindow` order, and whether it was issued now or earlier (the window was closed
    /// already: nothing happens again).
    pub fn close(&mut self, now: Instant, target: &Name) -> Result<Closed, CloseError> {
        let i = (self.recoveries.iter().position(|r| r.target == *target)).ok_or(CloseError::NoRecovery)?;
        let r = &self.recoveries[i];
        match r.phase {
            Phase::Closed { close, .. } => Ok(Closed::Already(close)),
            Phase::EndedByTarget { .. } => Err(CloseError::Over),
            Phase::Queued | Phase::Ordered(_) => Ok(Closed::Now(self.close_window(now, i, ClosedBy::Admin))),
        }
    }
}
