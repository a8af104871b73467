//! A router's parents: what their replies acknowledge, the orders they send, and when to send
//! up again.
//!
//! A parent's reply passes the generation and replay checks and carries the version the parent
//! applied: the router pages on from there ([`super::pages`]). It answers the last round only if
//! it acknowledges what that round brought the parent to; a reply to an older round does not
//! disarm the re-send. A parent that restarted, lost what it had (version 0) or does not know
//! this router gets everything again from 0, a snapshot. A refusal or a raised generation is an
//! event for the driver.
//!
//! Orders come from the parents, pushed or repeated in replies: one that verifies (an MGS
//! signature) is held and pushed down by the hub. A child that heard a newer instance of this
//! router makes it take a generation above it. An urgent input (a change the parents should
//! learn soon) moves the next update of every parent up to a batch delay.

use heapless::Vec;

use crate::counters::after;
use crate::parent::Told;
use crate::parent::Urgency;
use crate::table::Slot;
use crate::time::Instant;
use crate::uplink::{Heard, Uplink};
use crate::wire::{Endpoint, Header, Order, PingReply, ReplyStatus, StaleParent};

use super::Router;

/// Whether version `a` is past version `b`. Versions wrap (compared by [`after`]) and never take
/// 0, which stands for nothing acknowledged: before every version.
pub(super) fn past(a: u32, b: u32) -> bool {
    a != 0 && (b == 0 || after(a, b))
}

/// A parent, and the rounds of update pages going to it.
#[derive(Clone, Debug)]
pub(super) struct Upstream {
    pub(super) uplink: Uplink,
    /// The version the parent acknowledged.
    pub(super) acked: u32,
    /// The next page's base while a round of pages is going out.
    pub(super) next_base: Option<u32>,
    /// The version the last page of the round brings the parent to.
    pub(super) round_end: u32,
    pub(super) pages_left: u32,
    /// While the parent rebuilds from a snapshot: the version the snapshot started at. Until
    /// the parent acknowledges it, every entry sent carries its name.
    pub(super) snapshot: Option<u32>,
}

impl Upstream {
    /// Pages the whole table again from version 0 (a snapshot), starting now.
    fn resend_all(&mut self, now: Instant) {
        self.acked = 0;
        self.next_base = None;
        self.uplink.next_send = now;
    }
}

impl<S: AsRef<[Slot]> + AsMut<[Slot]>, const R: usize, const T: usize> Router<S, R, T> {
    /// Moves every parent's next send up to a batch delay from now if the input was urgent.
    pub(super) fn after_input(&mut self, now: Instant, urgency: Urgency) {
        if urgency.is_soon() {
            let soon = now.after(u64::from(self.hub.timing().batch_ms));
            for u in self.upstreams.iter_mut() {
                u.uplink.next_send = u.uplink.next_send.min(soon);
            }
        }
    }

    pub(super) fn upstream_index(&self, from: Endpoint, header: &Header) -> Option<usize> {
        Uplink::find(self.upstreams.iter().map(|u| &u.uplink), from, header)
    }

    pub(super) fn accept_from_parent(&mut self, u: usize, header: &Header) -> bool {
        self.upstreams[u].uplink.accept(header, self.hub.counters_mut())
    }

    pub(super) fn handle_reply(&mut self, now: Instant, u: usize, header: &Header, reply: PingReply) {
        if !self.accept_from_parent(u, header) {
            return;
        }
        let version = self.hub.version();
        let up = &mut self.upstreams[u];
        let mut events: Vec<Told, 3> = Vec::new();
        let mut raised = false;
        // Answered, unless the parent acknowledges less than the last round brought it to (a
        // reply to an older round, overtaken by a newer one that may be lost).
        let answered = reply.status != ReplyStatus::Accepted || !past(up.round_end, reply.ack);
        if answered {
            // No re-send; back to the regular schedule unless something urgent is due.
            up.uplink.answered();
        } else {
            up.uplink.answered_behind(now, self.hub.timing());
        }
        let Heard { restarted, came_up } = up.uplink.heard(now, header);
        if restarted {
            // The parent restarted and knows nothing: send everything again.
            up.uplink.known = false;
            up.resend_all(now);
            let _ =
                events.push(Told::ParentRestarted { addr: up.uplink.addr, generation: header.generation });
        }
        if came_up {
            let _ = events.push(Told::ParentUp { addr: up.uplink.addr });
        }
        match reply.status {
            ReplyStatus::Accepted => {
                up.uplink.known = true;
                if reply.ack == 0 && up.acked != 0 {
                    // The parent lost what we sent: snapshot.
                    up.resend_all(now);
                } else {
                    // What the parent has applied, even behind what it acknowledged before: a
                    // snapshot round sent again after the parent had it whole makes the parent
                    // rebuild from its first page, and if a later page is lost the parent has
                    // less than it once acknowledged. Going on from the higher version, every
                    // update would have a base the parent never reached (refused for good). A
                    // reply overtaken by a newer one costs a round from its older version,
                    // which the parent refuses, answering with the newer.
                    up.acked = reply.ack;
                }
            }
            ReplyStatus::Unknown => {
                up.uplink.known = false;
                up.resend_all(now);
            }
            ReplyStatus::Refused { alternates } => {
                let _ = events.push(Told::Refused { addr: up.uplink.addr, alternates });
            }
            ReplyStatus::Stale { newest } => {
                if let Some(generation) = self.link.raise_above(newest) {
                    let _ = events.push(Told::GenerationRaised { addr: up.uplink.addr, generation });
                    raised = true;
                }
            }
            ReplyStatus::Unaddressed => {
                // Our first contact: nothing was taken. The round goes again at once, now
                // addressed to the id this reply named.
                up.next_base = None;
                up.uplink.next_send = now;
            }
        }
        if up.next_base.is_none() && !past(up.round_end, up.acked) && past(version, up.acked) {
            // The round arrived whole and more changes wait: keep the pages coming.
            up.uplink.next_send = up.uplink.next_send.min(now);
        }
        if raised {
            // Every parent learns the new generation now (it reads as a reboot), with everything.
            for u in self.upstreams.iter_mut() {
                u.uplink.known = false;
                u.resend_all(now);
            }
        }
        for e in events {
            self.hub.emit(e);
        }
        let mut urgency = Urgency::Later;
        for order in reply.orders {
            urgency |= self.take_order(now, order);
        }
        self.after_input(now, urgency);
    }

    /// A child heard a newer instance of this router than this one: take a generation above it
    /// (children then see a restart and re-announce, parents get a snapshot). The child need
    /// not be known here: a parent that lost its state does not know its children yet, and
    /// they cannot announce themselves to an instance they drop as stale.
    pub(super) fn handle_stale_parent(
        &mut self,
        now: Instant,
        from: Endpoint,
        header: &Header,
        hint: StaleParent,
    ) {
        if header.sender == self.link.id {
            self.hub.counters_mut().unexpected += 1;
            return;
        }
        if let Some(generation) = self.link.raise_above(hint.newest) {
            self.hub.emit(Told::GenerationRaised { addr: from, generation });
            for u in self.upstreams.iter_mut() {
                u.uplink.known = false;
                u.resend_all(now);
            }
        }
    }

    /// Holds an order from a parent, once its MGS signature verifies (checked once per order).
    pub(super) fn take_order(&mut self, now: Instant, order: Order) -> Urgency {
        if self.hub.holds(order.id) {
            return Urgency::Later;
        }
        if !self.order_keys.verify(&order) {
            self.hub.counters_mut().forged += 1;
            return Urgency::Later;
        }
        let id = order.id;
        let (taken, urgency) = self.hub.hold(now, order);
        if taken {
            self.hub.emit(Told::OrderHeld(id));
        }
        urgency
    }
}
