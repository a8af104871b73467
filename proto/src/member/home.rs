//! The home: the one parent at which a member counts in order progress.
//!
//! Every parent hears the member (it is alive if any path hears it), but only the home counts it
//! in the sums that close a window: counted at two parents, a node only delays a window; counted
//! at none, it could let one close early. So the home moves only when it stops answering in
//! time (or refuses this node), to a parent that answers, and the old home is told it is home
//! until the new one has taken a ping that says so. Each ping says whether the parent is home (`Ping::home`).

use crate::counters::after;
use crate::handed::Kept;
use crate::time::Instant;
use crate::wire::Endpoint;

use super::{Member, Parent};

impl<K: Kept> Member<K> {
    /// Keeps the home while it answers in time and has room; otherwise moves it to the first
    /// parent that answers and has room, preferring one that answered lately. A home that falls
    /// silent is left at the suspect threshold, before it would give this node up as dead:
    /// counted at two parents for a while (which only delays a window), never at none (which
    /// could close one early). A home that answers again is not taken back while the new one
    /// answers: moving back and forth would count this node twice at every move.
    ///
    /// The new home is told at once. The old one is told it is home until the new one accepted
    /// a ping that said so ([`Member::confirm_move`]): a ping to the new home can be lost, and
    /// the old one, told first, would count this node nowhere meanwhile.
    pub(super) fn rehome(&mut self, now: Instant) {
        let keep = |p: &Parent| p.uplink.up && !p.refused && !p.late;
        if self.parents.get(self.home).is_some_and(keep) {
            return;
        }
        let home = (self.parents.iter())
            .position(keep)
            .or_else(|| self.parents.iter().position(|p| p.uplink.up && !p.refused))
            .or_else(|| self.parents.iter().position(|p| !p.refused))
            .unwrap_or(0);
        if home == self.home {
            return;
        }
        let old = core::mem::replace(&mut self.home, home);
        self.moving_from = Some((old, None));
        self.ping_soon(now, home);
    }

    /// The home accepted pings up to `ack`: once that covers the first ping that told it it is
    /// home, it counts this node, and the old home is told at once that it no longer does.
    pub(super) fn confirm_move(&mut self, now: Instant, ack: u32) {
        let Some((old, Some(told))) = self.moving_from else { return };
        if after(told, ack) {
            return;
        }
        self.moving_from = None;
        self.ping_soon(now, old);
    }

    /// Whether a ping to parent `p` tells it that this node counts there: the home, and the
    /// old home while a move is not confirmed.
    pub(super) fn counts_at(&self, p: usize) -> bool {
        p == self.home || self.moving_from.is_some_and(|(old, _)| old == p)
    }

    pub(crate) fn home_parent(&self) -> Option<Endpoint> {
        let p = &self.parents.get(self.home)?;
        p.uplink.up.then_some(p.uplink.addr)
    }
}
