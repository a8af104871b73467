//! What a hub's event queue holds: the events a router or the MGS tells, with the MGS's issued
//! order as a mark.
//!
//! An [`Event`] is as large as an [`Order`] (about 530 bytes: a `CloseWindow` carries its dead
//! clients inline), though only two kinds carry one: a member's order to carry out (never a
//! hub's) and the MGS's issued order. Held as events, a hub's queue of 64 would take 34 KB of a
//! firmware router's RAM for room a router never fills. It holds [`Told`] instead, an event
//! whose order is the mark [`Issued`] (about 100 bytes, the room of a refusal with its
//! alternates); the MGS keeps each issued order in a queue of its own, in the same order, and
//! puts it back in the event when the driver polls it.

use crate::event::Event;
use crate::wire::Order;

/// An issued order's place in the MGS's own queue of issued orders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Issued;

/// An event as a hub's queue holds it.
pub(crate) type Told = Event<Issued>;

impl Told {
    /// The event, given the issued order (for [`Event::OrderIssued`]; `None` when there is none
    /// to give, and then no event). A hub never tells a member's [`Event::Order`].
    pub(crate) fn event(self, issued: impl FnOnce() -> Option<Order>) -> Option<Event> {
        Some(match self {
            Told::ChildJoined { id, role } => Event::ChildJoined { id, role },
            Told::ChildRebooted { id, generation } => Event::ChildRebooted { id, generation },
            Told::ChildState { id, state } => Event::ChildState { id, state },
            Told::MassSilence { count } => Event::MassSilence { count },
            Told::Stalled { late_ms } => Event::Stalled { late_ms },
            Told::TableFull { id } => Event::TableFull { id },
            Told::TargetTableFull { server, target } => Event::TargetTableFull { server, target },
            Told::ParentUp { addr } => Event::ParentUp { addr },
            Told::ParentDown { addr } => Event::ParentDown { addr },
            Told::ParentRestarted { addr, generation } => Event::ParentRestarted { addr, generation },
            Told::GenerationRaised { addr, generation } => Event::GenerationRaised { addr, generation },
            Told::Refused { addr, alternates } => Event::Refused { addr, alternates },
            Told::Order(Issued) => return None,
            Told::OrderHeld(id) => Event::OrderHeld(id),
            Told::OrderLapsed { order, target, target_generation } => {
                Event::OrderLapsed { order, target, target_generation }
            }
            Told::OrderIssued(Issued) => Event::OrderIssued(issued()?),
            Told::TargetRestarted { target, generation } => Event::TargetRestarted { target, generation },
            Told::WindowClosed { target, order, by_admin } => Event::WindowClosed { target, order, by_admin },
            Told::RouterExpected { id, name } => Event::RouterExpected { id, name },
            Told::DirectClientsExpected => Event::DirectClientsExpected,
            Told::DirectClientsRetired => Event::DirectClientsRetired,
            Told::RouterRetired { id, name } => Event::RouterRetired { id, name },
            Told::IdCollision { id, kept, ignored } => Event::IdCollision { id, kept, ignored },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The queue's room per event is that of its largest kind without an order: a refusal with
    /// its alternates, far below an `Event`.
    #[test]
    fn a_told_event_takes_under_a_quarter_of_an_events_room() {
        let told = core::mem::size_of::<Told>();
        assert!(told * 4 < core::mem::size_of::<Event>(), "{told} bytes");
    }
}
