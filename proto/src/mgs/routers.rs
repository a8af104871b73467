//! The routers and direct clients an MGS expects after a restart, and when it stops expecting
//! them.
//!
//! Direct clients have no router to vouch for them: one alive before the restart whose first
//! pings to the new instance are lost is in no sum until it is heard, and only a dead threshold
//! after the restart is its silence a death. An MGS with direct clients therefore holds its
//! closes for a dead threshold after it starts. It knows it has them when it hears one (the
//! hold is extended then), or from its last run ([`Event::DirectClientsExpected`], persisted by
//! a driver and given back with [`Mgs::expect_direct_clients`]), when every first ping is lost.
//! It stops expecting them when none has pinged it for [`MgsConfig::router_retire_ms`]
//! ([`Event::DirectClientsRetired`]): its clients moved behind routers, and its restarts need not
//! wait for clients it no longer has.
//! An MGS whose children are all routers keeps the short hold: its routers' snapshots carry
//! their subtrees, and the expected routers below wait for the ones it has not heard.
//!
//! An MGS given back nothing of its tree at start (no expected router, no direct clients: its
//! first start, or its state file was lost) cannot tell which routers to wait for: one that
//! restarted with it sends its first update only after its settle time, and until then its
//! subtree is in no sum. Such an MGS holds its closes for a dead threshold after it starts, as
//! one with direct clients does: every router alive below it has been heard by then, or its
//! silence is a death.
//!
//! ## Expected routers: closing only over a whole view
//!
//! The one thing the MGS keeps of its view across restarts is which routers it has: every
//! router that ever sent it an update, or that a child router reported alive deeper in the
//! tree, is *expected* ([`Event::RouterExpected`]; a driver persists the set and gives it back
//! with [`Mgs::expect_router`] at the next start). A window closes by order only when the MGS's
//! own view is whole: every expected child router has reported holding the order since this
//! MGS started (so its subtree is in the sum), every expected router deeper in the tree is live
//! from here, and every router on the path to a client is live from here. (A router that
//! restarts forgets its own child routers: one cut off below it is then missing from its
//! snapshot, and only the MGS still knows to wait for it.) A restarted MGS, or one of several status
//! holders cut off from one router, waits ([`Mgs::waiting_for`] names the router) instead of
//! closing over the subtrees it happens to see; the target's own window or an admin's
//! [`Mgs::close`] still ends such a recovery.
//!
//! An expected router is retired, its entry and subtree forgotten ([`Event::RouterRetired`]),
//! when it has been silent here for [`MgsConfig::router_retire_ms`] (an hour by default:
//! longer than any target's own recovery window, so retiring never shortens a window that
//! waited for the router) or when an admin says it is gone ([`Mgs::forget_router`]), as when
//! hardware is removed. A retired router that speaks again is simply expected again.
//!
//! The set holds every router of the tree, the deeper ones too, up to
//! [`MAX_EXPECTED_ROUTERS`] (at about 500 clients a router, a million clients); a router heard
//! past that is counted in `overflow` and not expected.
//!
//! [`Event::DirectClientsExpected`]: crate::Event::DirectClientsExpected
//! [`Event::DirectClientsRetired`]: crate::Event::DirectClientsRetired
//! [`Event::RouterExpected`]: crate::Event::RouterExpected
//! [`Event::RouterRetired`]: crate::Event::RouterRetired

use heapless::Vec;

use crate::ids::{Name, NodeId};
use crate::parent::direct_state;
use crate::parent::Told;
use crate::table::Slot;
use crate::time::Instant;
use crate::wire::{NodeState, Role};

use super::Mgs;
#[cfg(doc)]
use super::MgsConfig;

/// Most routers an MGS expects: every router of its tree, not only its child routers.
pub const MAX_EXPECTED_ROUTERS: usize = 2048;

/// A child router the MGS expects to report (see the module docs).
#[derive(Clone, Debug)]
pub(super) struct ExpectedRouter {
    name: Name,
    /// When it was last heard here, or when this MGS started if it has not been.
    heard: Instant,
}

impl<S: AsRef<[Slot]> + AsMut<[Slot]>, const R: usize, const T: usize> Mgs<S, R, T> {
    /// The driver gave back something of the tree: the hold of a blank start is lifted, to the
    /// startup hold (and a dead threshold with direct clients).
    fn given_back(&mut self, now: Instant) {
        if !core::mem::replace(&mut self.blank, false) {
            return;
        }
        self.hold_until = Some(self.hold_from.after(u64::from(self.startup_hold_ms)));
        if self.direct_clients.is_some() {
            self.hold_a_dead_threshold(now);
        }
    }

    /// Expects router `name` (one the driver persisted from an earlier start): no window
    /// closes by order until it has reported (or, deeper in the tree, is live), or was retired. False when the set is full.
    pub fn expect_router(&mut self, now: Instant, name: Name) -> bool {
        self.given_back(now);
        let id = NodeId::from_name(&name);
        self.expected.contains_key(&id)
            || self.expected.insert(id, ExpectedRouter { name, heard: now }).is_ok()
    }

    /// This MGS had direct clients at its last run (the driver persisted
    /// [`Event::DirectClientsExpected`]): it closes no window for a dead threshold after its
    /// start, until each of them has been heard or could be dead.
    ///
    /// [`Event::DirectClientsExpected`]: crate::Event::DirectClientsExpected
    pub fn expect_direct_clients(&mut self, now: Instant) {
        self.direct_clients = Some(now);
        self.given_back(now);
        self.hold_a_dead_threshold(now);
    }

    /// Holds closes until a dead threshold after the view began to fill, if that is still to
    /// come: a direct client or router alive before is heard by then, or its silence is a death.
    pub(super) fn hold_a_dead_threshold(&mut self, now: Instant) {
        let until = self.hold_from.after(self.direct_clients_hold_ms);
        if now < until {
            self.hold_until = Some(self.hold_until.map_or(until, |t| t.max(until)));
        }
    }

    /// A client pinged this MGS directly: from now on it holds its closes for direct clients
    /// (see the module docs), and the driver persists that it has them.
    pub(super) fn heard_direct_client(&mut self, now: Instant) {
        if self.direct_clients.replace(now).is_some() {
            return;
        }
        self.hold_a_dead_threshold(now);
        self.hub.emit(Told::DirectClientsExpected);
    }

    /// Stops expecting direct clients once none has pinged for [`MgsConfig::router_retire_ms`]:
    /// every one of them moved behind a router or is gone, and a restart need not wait for them.
    pub(super) fn retire_direct_clients(&mut self, now: Instant) {
        if self.direct_clients.is_some_and(|heard| now.since(heard) >= self.router_retire_ms) {
            self.direct_clients = None;
            self.hub.emit(Told::DirectClientsRetired);
        }
    }

    /// An admin says child router `id` is gone for good (hardware removed): it is no longer
    /// expected, and its entry and what it said of its subtree are forgotten, so windows stop
    /// waiting for it. Its subtree's nodes show unreachable until they are heard another way.
    /// False if the router is neither expected nor known.
    pub fn forget_router(&mut self, id: NodeId) -> bool {
        let entry = self.hub.table().get(id).filter(|e| e.role == Role::Router).map(|e| e.name.clone());
        let expected = self.expected.remove(&id).map(|x| x.name);
        if entry.is_some() {
            self.hub.forget_router(id);
        }
        let Some(name) = expected.or(entry) else { return false };
        self.hub.emit(Told::RouterRetired { id, name });
        true
    }

    /// The child routers this MGS expects (see the module docs): what a driver persists.
    pub fn expected_routers(&self) -> impl Iterator<Item = (NodeId, &Name)> + '_ {
        self.expected.iter().map(|(id, e)| (*id, &e.name))
    }

    /// A router was heard: a direct child (an update admitted) or one deeper in the tree (a
    /// child router reported it alive). It is expected from now on.
    pub(super) fn note_router(&mut self, now: Instant, id: NodeId) {
        let Some(e) = self.hub.table().get(id).filter(|e| e.role == Role::Router && !e.name.is_empty())
        else {
            return;
        };
        if e.direct.is_none() && !self.state_of(e, 0).is_live() {
            return;
        }
        if let Some(x) = self.expected.get_mut(&id) {
            x.heard = now;
            return;
        }
        let name = e.name.clone();
        if self.expected.insert(id, ExpectedRouter { name: name.clone(), heard: now }).is_err() {
            self.hub.counters_mut().overflow += 1;
            return;
        }
        self.hub.emit(Told::RouterExpected { id, name });
    }

    /// Retires expected routers silent for [`MgsConfig::router_retire_ms`].
    pub(super) fn retire_routers(&mut self, now: Instant) {
        let me = self.link.id;
        // A router deeper in the tree is heard only through the deltas of the routers above
        // it, which come when something changes: it counts as heard while it is live here.
        let live: Vec<bool, MAX_EXPECTED_ROUTERS> = (self.expected.keys())
            .map(|id| {
                self.hub.table().get(*id).is_some_and(|e| match &e.direct {
                    Some(_) => direct_state(me, e).is_some_and(NodeState::is_live),
                    None => self.state_of(e, 0).is_live(),
                })
            })
            .collect();
        let mut silent: Vec<NodeId, MAX_EXPECTED_ROUTERS> = Vec::new();
        for ((id, x), live) in self.expected.iter_mut().zip(live) {
            if live {
                x.heard = now;
            } else if now.since(x.heard) >= self.router_retire_ms {
                let _ = silent.push(*id);
            }
        }
        for id in silent {
            self.forget_router(id);
        }
    }
}
