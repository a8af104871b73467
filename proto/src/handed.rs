//! Orders a member handed its driver, kept until they are done, and the small notices its event
//! queue holds instead of whole events.
//!
//! An [`Order`] is about 530 bytes, because a `CloseWindow` carries its dead clients inline. A
//! member keeps each order it acts on once, here, and its event queue only names the order
//! ([`Notice::Order`]): the order is fetched when the driver polls the event. What is kept
//! depends on the role ([`Kept`]): a client acts only on `BeginRecovery` and keeps it without
//! the room of a `CloseWindow` ([`Recovery`]); a server keeps the whole order.

use heapless::Vec;

use crate::event::Event;
use crate::ids::{Generation, Name, Nid, OrderId};
use crate::time::Instant;
use crate::wire::{Action, Endpoint, Order, Signature, TargetStatus, MAX_ALTERNATES, MAX_TARGET_ADDRS};

/// What a member keeps of an order it acts on, to hand it (again) to its driver, and where it
/// keeps its target's status (a client has none, and keeps no room for one).
pub(crate) trait Kept: Clone + core::fmt::Debug {
    /// The target's status as kept.
    type Target: Clone + core::fmt::Debug + Default;
    /// The target's status, if any.
    fn target(target: &Self::Target) -> Option<&TargetStatus>;
    /// The target's status, to change it.
    fn target_mut(target: &mut Self::Target) -> Option<&mut TargetStatus>;
    /// What to keep of `order`; `None` for an action this kind of member never acts on.
    fn keep(order: &Order) -> Option<Self>;
    /// The kept order's id.
    fn id(&self) -> OrderId;
    /// The order as it came.
    fn order(&self) -> Order;
}

/// A server keeps whole orders: a `CloseWindow` names the dead its driver evicts.
impl Kept for Order {
    type Target = Option<TargetStatus>;

    fn target(target: &Self::Target) -> Option<&TargetStatus> {
        target.as_ref()
    }

    fn target_mut(target: &mut Self::Target) -> Option<&mut TargetStatus> {
        target.as_mut()
    }

    fn keep(order: &Order) -> Option<Self> {
        Some(order.clone())
    }

    fn id(&self) -> OrderId {
        self.id
    }

    fn order(&self) -> Order {
        self.clone()
    }
}

/// A `BeginRecovery` order, all of it, in about a third of an [`Order`]'s room: what a client
/// keeps.
#[derive(Clone, Debug)]
pub(crate) struct Recovery {
    id: OrderId,
    target: Name,
    target_generation: Generation,
    addrs: Vec<Nid, MAX_TARGET_ADDRS>,
    window_ms: u32,
    signer: u8,
    signature: Signature,
}

impl Kept for Recovery {
    type Target = ();

    fn target((): &()) -> Option<&TargetStatus> {
        None
    }

    fn target_mut((): &mut ()) -> Option<&mut TargetStatus> {
        None
    }

    fn keep(order: &Order) -> Option<Self> {
        match &order.action {
            Action::BeginRecovery { target, target_generation, addrs, window_ms } => Some(Recovery {
                id: order.id,
                target: target.clone(),
                target_generation: *target_generation,
                addrs: addrs.clone(),
                window_ms: *window_ms,
                signer: order.signer,
                signature: order.signature,
            }),
            Action::CloseWindow { .. } => None,
        }
    }

    fn id(&self) -> OrderId {
        self.id
    }

    fn order(&self) -> Order {
        Order {
            id: self.id,
            action: Action::BeginRecovery {
                target: self.target.clone(),
                target_generation: self.target_generation,
                addrs: self.addrs.clone(),
                window_ms: self.window_ms,
            },
            signer: self.signer,
            signature: self.signature,
            // Its age matters to holders only, and a member holds nothing for children.
            age_ms: 0,
        }
    }
}

/// An order handed to the driver and not yet done.
#[derive(Clone, Debug)]
pub(crate) struct Handed<K> {
    pub(crate) order: K,
    /// Notices naming it in the event queue, not yet polled: it stays kept until they are.
    pub(crate) queued: u8,
    /// Times the hook was handed the order so far.
    pub(crate) tries: u8,
    /// When to hand it again, once it failed.
    pub(crate) at: Option<Instant>,
}

/// A member's event, as its queue holds it: an order by its id ([`Handed`] keeps the order), a
/// refusal without its alternates (the refusing parent keeps them).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Notice {
    ParentUp(Endpoint),
    ParentDown(Endpoint),
    ParentRestarted(Endpoint, Generation),
    GenerationRaised(Endpoint, Generation),
    Refused(Endpoint),
    Order(OrderId),
}

impl Notice {
    /// The event, given the refusing parent's alternates (for [`Notice::Refused`]) and the
    /// handed order (for [`Notice::Order`]).
    pub(crate) fn event(
        self,
        alternates: impl FnOnce(Endpoint) -> Vec<Endpoint, MAX_ALTERNATES>,
        order: impl FnOnce(OrderId) -> Option<Order>,
    ) -> Option<Event> {
        Some(match self {
            Notice::ParentUp(addr) => Event::ParentUp { addr },
            Notice::ParentDown(addr) => Event::ParentDown { addr },
            Notice::ParentRestarted(addr, generation) => Event::ParentRestarted { addr, generation },
            Notice::GenerationRaised(addr, generation) => Event::GenerationRaised { addr, generation },
            Notice::Refused(addr) => Event::Refused { addr, alternates: alternates(addr) },
            Notice::Order(id) => Event::Order(order(id)?),
        })
    }
}
