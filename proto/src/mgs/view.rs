//! Nodes, targets and recoveries as the MGS shows them.
//!
//! Partition vs death: a node's state is the best over its paths, and a path counts only while
//! the parent on it is itself live. A silent router leaves its subtree *unreachable*, never dead.

use heapless::Vec;

use crate::ids::{Generation, Name, NodeId, OrderId};
use crate::parent::ChildRouter;
use crate::table::{Entry, Slot};
use crate::time::Instant;
use crate::wire::{NodeState, Role, TargetReport, TargetState, MAX_MOUNTS, MAX_PATHS};

use super::{Mgs, Recovery};

/// Deepest router chain the MGS follows when judging reachability.
const MAX_DEPTH: u8 = 8;

/// A node as the MGS shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeView<'a> {
    /// The node's id.
    pub id: NodeId,
    /// Its name.
    pub name: &'a Name,
    /// What it is.
    pub role: Role,
    /// Its boot generation.
    pub generation: Generation,
    /// Its state: the best over its paths, a path counting only while its parent is live.
    pub state: NodeState,
    /// Its parents (the routers, or the MGS, its pings reach).
    pub parents: Vec<NodeId, MAX_PATHS>,
    /// How long ago it was last heard: by the MGS itself for a direct child, else as its parent
    /// reported when it last changed its verdict.
    pub last_heard_ms: u64,
    /// A client's filesystem mounts as it reported them ([`mount_tag`](crate::wire::mount_tag)).
    pub mounts: Vec<u64, MAX_MOUNTS>,
}

impl<S: AsRef<[Slot]> + AsMut<[Slot]>, const R: usize, const T: usize> Mgs<S, R, T> {
    /// Every node known, with its derived state.
    pub fn nodes(&self, now: Instant) -> impl Iterator<Item = NodeView<'_>> + '_ {
        self.hub.table().iter().map(move |e| self.view(e, now))
    }

    /// One node, with its derived state.
    pub fn node(&self, id: NodeId, now: Instant) -> Option<NodeView<'_>> {
        self.hub.table().get(id).map(|e| self.view(e, now))
    }

    fn view<'a>(&'a self, e: &'a Entry, now: Instant) -> NodeView<'a> {
        let last_heard_ms = match &e.direct {
            Some(d) => now.since(d.last_heard),
            None => e.paths.iter().map(|p| p.silent_ms(now)).min().unwrap_or(0),
        };
        NodeView {
            id: e.id,
            name: &e.name,
            role: e.role,
            generation: e.generation,
            state: self.state_of(e, 0),
            parents: e.paths.iter().map(|p| p.parent).collect(),
            last_heard_ms,
            mounts: e.mounts.to_vec(),
        }
    }

    /// How many clients the view shows live. Counted at most once per change of the table:
    /// a window about to close asks at every evaluation.
    pub(super) fn live_clients(&mut self) -> u32 {
        let key = (self.hub.version(), self.hub.table().len());
        if let Some((_, count)) = self.live_clients_seen.filter(|(seen, _)| *seen == key) {
            return count;
        }
        let live = |e: &&Entry| e.role == Role::Client && self.state_of(e, 0).is_live();
        let count = u32::try_from(self.hub.table().iter().filter(live).count()).unwrap_or(u32::MAX);
        self.live_clients_seen = Some((key, count));
        count
    }

    /// A node's state: the best over its paths, where a live verdict counts only while the
    /// parent on the path is itself live (else the node is unreachable, not dead).
    pub(super) fn state_of(&self, e: &Entry, depth: u8) -> NodeState {
        e.paths
            .iter()
            .map(|p| {
                let parent = p.parent;
                if parent == self.link.id || !p.state.is_live() {
                    return p.state;
                }
                let parent_live = depth < MAX_DEPTH
                    && self.hub.table().get(parent).is_some_and(|r| self.state_of(r, depth + 1).is_live());
                if parent_live {
                    p.state
                } else {
                    NodeState::Unreachable
                }
            })
            .min()
            .unwrap_or(NodeState::Dead)
    }

    /// The MGS's child routers a recovery's window waits for: those that have not reported
    /// holding its order (down, cut off, or waiting in turn for one of their own child routers),
    /// and expected routers not heard from since this MGS started. While any is listed the
    /// window stays open even with every visible client back; an admin who knows the subtree is
    /// gone can [`Mgs::close`] it (or [`Mgs::forget_router`] a router removed for good).
    pub fn waiting_for(&self, order: OrderId) -> impl Iterator<Item = NodeId> + '_ {
        // A direct child router is judged by whether it holds the order (above); one deeper
        // by whether this MGS sees it live: one that a restarted router above it no longer
        // reports (cut off below it) has a subtree nobody counts.
        let unheard = (self.expected.keys())
            .filter(|id| {
                self.hub
                    .table()
                    .get(**id)
                    .is_none_or(|e| e.direct.is_none() && !self.state_of(e, 0).is_live())
            })
            .copied();
        self.hub.routers_lacking(order).chain(unheard)
    }

    /// What the MGS's direct child routers last said of their subtrees.
    pub fn child_routers(&self) -> impl Iterator<Item = (&NodeId, &ChildRouter)> {
        self.hub.child_routers()
    }

    /// Targets as their servers last reported them.
    pub fn targets(&self) -> impl Iterator<Item = &TargetReport> {
        self.hub.targets().iter()
    }

    /// A target's state as operators should see it: what its server reported, or `Down` once
    /// that server is dead (a dead server's last report says nothing about its target).
    pub fn target_state(&self, target: &TargetReport, now: Instant) -> TargetState {
        match self.node(target.server, now) {
            Some(server) if server.state == NodeState::Dead => TargetState::Down,
            _ => target.status.state,
        }
    }

    /// Whether `target` is known: a server reports it, or the MGS holds a recovery of it. An
    /// admin's order for a target it does not know is most likely a typo; the admin API asks
    /// for it to be forced (a target without a Vigil agent).
    pub fn knows_target(&self, target: &Name) -> bool {
        self.hub.targets().iter().any(|t| t.status.target == *target)
            || self.recoveries.iter().any(|r| r.target == *target)
    }

    /// Recoveries under way or finished (the newest per target).
    pub fn recoveries(&self) -> &[Recovery] {
        &self.recoveries
    }
}
