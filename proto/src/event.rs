//! Events: what a machine tells its driver (to log, to act on, to show).

use crate::ids::{Generation, Name, NodeId, OrderId};
use crate::wire::{Endpoint, NodeState, Order, Role, MAX_ALTERNATES};

/// Something the driver should know. Drain with `poll_event` after every input.
///
/// `O` is what carries an order: the [`Order`] itself for a driver; inside a router or the MGS,
/// whose queue of events must not take an order's room per event, a mark the MGS redeems from
/// a queue of its own (`parent::told`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Event<O = Order> {
    /// A new child pinged this parent.
    ChildJoined {
        /// The child.
        id: NodeId,
        /// What it is.
        role: Role,
    },
    /// A child came back with a new generation: it rebooted.
    ChildRebooted {
        /// The child.
        id: NodeId,
        /// Its new generation.
        generation: Generation,
    },
    /// This parent's verdict on a direct child changed.
    ChildState {
        /// The child.
        id: NodeId,
        /// The new verdict.
        state: NodeState,
    },
    /// Many children fell silent at once: marked unreachable (a partition), not dead.
    MassSilence {
        /// How many.
        count: u32,
    },
    /// The machine's own loop was late by this much; silence counters restarted.
    Stalled {
        /// Lateness in ms.
        late_ms: u64,
    },
    /// A new child was refused: the table is full.
    TableFull {
        /// The refused child.
        id: NodeId,
    },
    /// A target's status was not kept: the target table is full. Its restart is not seen here
    /// (nor above, where the report would have gone), so its window runs its own course. Told
    /// for the first target refused (the table keeps every target it took, so it stays full);
    /// [`Counters::targets_refused`] counts every report refused, of that target and others.
    ///
    /// [`Counters::targets_refused`]: crate::Counters::targets_refused
    TargetTableFull {
        /// The server whose report was refused.
        server: NodeId,
        /// Its target.
        target: Name,
    },
    /// A parent answers (again).
    ParentUp {
        /// The parent.
        addr: Endpoint,
    },
    /// A parent has not answered for the dead threshold.
    ParentDown {
        /// The parent.
        addr: Endpoint,
    },
    /// A parent answered with a new generation: it restarted.
    ParentRestarted {
        /// The parent.
        addr: Endpoint,
        /// Its new generation.
        generation: Generation,
    },
    /// A parent (or, for a parent, a child) held a newer instance of this node (its generation
    /// had gone backwards: wiped state, another host at its address, or drawn at random): it now
    /// runs as `generation`, above that one. A driver that
    /// persists its generation should store this one.
    GenerationRaised {
        /// The parent that said so.
        addr: Endpoint,
        /// The node's generation from now on.
        generation: Generation,
    },
    /// A parent refused this node: its table is full.
    Refused {
        /// The parent.
        addr: Endpoint,
        /// Where it suggests to go instead.
        alternates: heapless::Vec<Endpoint, MAX_ALTERNATES>,
    },
    /// Carry out this order, then report with `order_done` (clients: reconnect; servers: close
    /// the window). Delivered once per order id, however often the order is repeated.
    Order(O),
    /// A router took a new order from its parent and pushes it to its children.
    OrderHeld(OrderId),
    /// A parent (router or MGS) let go of a `BeginRecovery` whose target's own window must have
    /// run out: no `CloseWindow` superseded it (its holder stopped, or no holder saw the target
    /// come up). Clients that join later no longer get it. Worth a look: a holder lost sight of
    /// a recovery.
    OrderLapsed {
        /// The order let go.
        order: OrderId,
        /// Its target.
        target: Name,
        /// The instance it was the recovery of.
        target_generation: Generation,
    },
    /// The MGS issued an order (persist the sequence to keep ids unique).
    OrderIssued(O),
    /// A target restarted (new instance): its recovery begins.
    TargetRestarted {
        /// The target.
        target: Name,
        /// Its new instance.
        generation: Generation,
    },
    /// The target's window was ordered closed: every live client reconnected, or an admin
    /// closed it ([`Mgs::close`](crate::Mgs::close)) whoever was still missing.
    WindowClosed {
        /// The target.
        target: Name,
        /// The `CloseWindow` order.
        order: OrderId,
        /// Closed by an admin, not by every live client reconnecting.
        by_admin: bool,
    },
    /// The MGS heard a router it did not expect (a child router, or one a child router reported
    /// alive deeper in the tree): from now on no window closes by order until it has reported
    /// (or, deeper in the tree, is live). A driver persists the set ([`crate::Mgs::expected_routers`]) and
    /// gives it back at the next start ([`crate::Mgs::expect_router`]).
    RouterExpected {
        /// The router.
        id: NodeId,
        /// Its name.
        name: Name,
    },
    /// The MGS heard its first direct client (not through a router): persist that it has them,
    /// and give it back at the next start ([`crate::Mgs::expect_direct_clients`]), so that a
    /// restarted MGS holds its closes until they could have been heard (see [`crate::mgs`]).
    DirectClientsExpected,
    /// No direct client pinged the MGS for [`crate::MgsConfig::router_retire_ms`]: persist that it
    /// has none, so that its next start does not hold for them.
    DirectClientsRetired,
    /// The MGS no longer expects a child router: silent past the retirement bound, or forgotten
    /// by an admin. Persist the set again.
    RouterRetired {
        /// The router.
        id: NodeId,
        /// Its name.
        name: Name,
    },
    /// Two names map to one node id: the second is ignored.
    IdCollision {
        /// The id.
        id: NodeId,
        /// The name tracked.
        kept: Name,
        /// The name ignored.
        ignored: Name,
    },
}

/// A bounded queue of events (or of what stands for them, `T`) that counts what it drops.
#[derive(Clone, Debug)]
pub(crate) struct Events<const N: usize, T = Event> {
    queue: heapless::Deque<T, N>,
}

impl<const N: usize, T> Events<N, T> {
    pub(crate) const fn new() -> Self {
        Events { queue: heapless::Deque::new() }
    }

    /// Queues an event; returns false (and the caller counts) when the driver has not drained.
    pub(crate) fn push(&mut self, event: T) -> bool {
        self.queue.push_back(event).is_ok()
    }

    pub(crate) fn is_full(&self) -> bool {
        self.queue.is_full()
    }

    pub(crate) fn pop(&mut self) -> Option<T> {
        self.queue.pop_front()
    }
}
