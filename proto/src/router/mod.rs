//! The router role: a relay toward the MGS (an appliance, a BMC, a SmartNIC, any host).
//!
//! Downward it is a parent (a `Hub`, the parent side it shares with the MGS): it judges its
//! children's silence, pushes orders and repeats them in replies, sums order progress. Upward it
//! sends one [`Update`](crate::wire::Update) per update interval to each parent, which doubles as
//! its ping: the changes since the version the parent acknowledged, in pages, plus subtree
//! totals and progress. The parent's reply carries the version it applied (the implicit
//! acknowledgement). A parent that restarted answers with version 0, and the router sends its
//! whole table again: a snapshot is just an update from 0.
//!
//! After its own boot a router waits `settle_ms` before its first update, so that its children
//! re-announce themselves first and its snapshot does not report them missing.
//!
//! A restarted router knows only the children it has heard since it booted: one that was alive
//! before and has not pinged yet (its pings lost, or its link cut) is in no table and no sum. So
//! for the dead threshold after its boot ([`RouterConfig::startup_hold_ms`]) a router reports
//! no order progress: its parents count its subtree as not yet covered (as when it lacks the
//! order) and no window closes over it. By then every child alive before the boot was heard
//! again, or has been silent for the dead threshold, as a death requires.
//!
//! One [`Router`], its rooms by concern (here: its configuration, its inputs and outputs):
//! - `upstream`: the parents above: their replies and what they acknowledge, the orders taken
//!   from them, a newer instance of this router heard of, and sending up soon after an urgent
//!   input;
//! - `pages`: the update sent up: rounds of pages of the changes since the acknowledged version
//!   (from 0, a snapshot) and the subtree's summary;
//! - `deadlines`: the router's timers: the children's silence check, the end of the startup
//!   hold, a parent down, the next page, an order push due again.
//!
//! The children's datagrams, the replies to them and the orders pushed down are the hub's: a
//! router hands it what comes from below and drains its replies and pushes first.

mod deadlines;
mod pages;
#[cfg(test)]
mod tests;
mod upstream;

use heapless::Vec;

use crate::counters::Counters;
use crate::event::Event;
use crate::ids::{Generation, Name, NodeId};
use crate::link::Link;
use crate::parent::{ChildRouter, Hub, Urgency};
use crate::table::{Slot, Table};
use crate::time::Instant;
use crate::timing::Timing;
use crate::uplink::Uplink;
use crate::wire::{Endpoint, Keyring, Message, Order, OrderKeys, Totals, MAX_ALTERNATES};

use pages::Summary;
use upstream::Upstream;

/// Most parents of a router: a router at the top lists every status holder (an MGS on the MGS
/// node and one on each MDS node of a failover pair), and updates go to each.
pub const MAX_UPSTREAMS: usize = 3;

/// A router's configuration.
#[derive(Clone, Debug)]
pub struct RouterConfig {
    /// The router's name (its id is derived from it).
    pub name: Name,
    /// Its boot generation (strictly greater on every start).
    pub generation: Generation,
    /// Next hops toward the MGS (routers or MGSes), primary first; updates go to each.
    pub parents: Vec<Endpoint, MAX_UPSTREAMS>,
    /// Cluster keys.
    pub keys: Keyring,
    /// Intervals and thresholds.
    pub timing: Timing,
    /// Parents a refused child is pointed to when the table is full.
    pub alternates: Vec<Endpoint, MAX_ALTERNATES>,
    /// Quiet time after boot before the first update (children re-announce meanwhile).
    pub settle_ms: u32,
    /// Time after boot during which no order progress is reported, since a child alive before
    /// the boot may not have been heard again yet: the dead threshold of a child (see the
    /// module docs).
    pub startup_hold_ms: u64,
    /// Public keys of the MGS: orders that do not verify are dropped, not relayed.
    pub order_keys: OrderKeys,
}

impl RouterConfig {
    /// A configuration with default timing, no alternates, and the settle time
    /// ([`Timing::settle_ms`]) and startup hold ([`Timing::router_startup_hold_ms`]) that follow.
    pub fn new(
        name: Name,
        generation: Generation,
        parents: Vec<Endpoint, MAX_UPSTREAMS>,
        keys: Keyring,
    ) -> Self {
        let timing = Timing::default();
        RouterConfig {
            name,
            generation,
            parents,
            keys,
            timing,
            alternates: Vec::new(),
            settle_ms: timing.settle_ms(),
            startup_hold_ms: timing.router_startup_hold_ms(),
            order_keys: OrderKeys::default(),
        }
    }

    /// The same configuration with another timing, and the settle time and startup hold that
    /// follow from it.
    pub fn with_timing(mut self, timing: Timing) -> Self {
        self.timing = timing;
        self.settle_ms = timing.settle_ms();
        self.startup_hold_ms = timing.router_startup_hold_ms();
        self
    }
}

/// A router's sans-IO state machine over caller-owned table slots `S`, with room for `R` child
/// routers and `T` targets: the status of every target in its subtree, which it sends up with
/// its server's delta (again in every snapshot). The default suits firmware; hosts keep
/// [`MAX_TARGETS`](crate::MAX_TARGETS). Past `T` a target is refused explicitly (see there).
#[derive(Clone, Debug)]
pub struct Router<S, const R: usize = 32, const T: usize = 32> {
    hub: Hub<S, R, T>,
    link: Link,
    name: Name,
    upstreams: Vec<Upstream, MAX_UPSTREAMS>,
    settle_until: Instant,
    /// Until then a child alive before this boot may not have been heard again yet, so the
    /// subtree's sums are not whole (see the module docs); `None` once passed.
    whole_at: Option<Instant>,
    order_keys: OrderKeys,
    /// The summary last sent up, and so the one the current version stands for.
    reported: Option<Summary>,
    /// Whether `reported` is to be computed again before the next page: once per round, since
    /// totals and progress are each a pass over the table.
    summary_due: bool,
}

impl<S: AsRef<[Slot]> + AsMut<[Slot]>, const R: usize, const T: usize> Router<S, R, T> {
    /// A router that boots at `now` with table storage `slots`.
    pub fn new(config: RouterConfig, slots: S, now: Instant) -> Self {
        let id = NodeId::from_name(&config.name);
        let settle_until = now.after(u64::from(config.settle_ms));
        let upstreams = config
            .parents
            .iter()
            .map(|&addr| Upstream {
                uplink: Uplink::new(addr, settle_until),
                acked: 0,
                next_base: None,
                round_end: 0,
                pages_left: 0,
                snapshot: None,
            })
            .collect();
        let hub = Hub::new(id, config.timing, config.alternates, slots, now);
        Router {
            hub,
            link: Link::new(id, config.generation, config.keys),
            name: config.name,
            upstreams,
            settle_until,
            whole_at: Some(now.after(config.startup_hold_ms)),
            order_keys: config.order_keys,
            reported: None,
            summary_due: true,
        }
    }

    // ----- getters ------------------------------------------------------------------------

    /// This router's node id.
    pub fn id(&self) -> NodeId {
        self.link.id
    }

    /// The node table (direct children and the subtrees below them).
    pub fn table(&self) -> &Table<S> {
        self.hub.table()
    }

    /// What child routers last said of their subtrees.
    pub fn child_routers(&self) -> impl Iterator<Item = (&NodeId, &ChildRouter)> {
        self.hub.child_routers()
    }

    /// Subtree totals.
    pub fn totals(&self) -> Totals {
        self.hub.totals()
    }

    /// What was dropped and why.
    pub fn counters(&self) -> &Counters {
        self.hub.counters()
    }

    /// How many parents currently answer.
    pub fn parents_up(&self) -> usize {
        self.upstreams.iter().filter(|u| u.uplink.up).count()
    }

    /// The orders this router holds and repeats to its children.
    pub fn held_orders(&self) -> impl Iterator<Item = &Order> + '_ {
        self.hub.held_orders()
    }

    /// Continues the datagram sequence and the change version from `last`: a simulator starts
    /// them just below their wrap point.
    #[cfg(feature = "counter-start")]
    pub fn start_counters(&mut self, last: u32) {
        self.link.wind(last);
        self.hub.start_versions_at(last);
    }

    // ----- inputs -------------------------------------------------------------------------

    /// A datagram arrived from `from`.
    pub fn handle(&mut self, now: Instant, from: Endpoint, bytes: &[u8]) {
        let mut message = Message::default();
        let Some(header) = self.link.receive(bytes, &mut message, self.hub.counters_mut()) else {
            return;
        };
        let urgency = match message {
            Message::Ping(ping) if header.unaddressed() => {
                self.hub.handle_first_contact(now, from, &header, Some(&ping))
            }
            Message::Update(_) if header.unaddressed() => {
                self.hub.handle_first_contact(now, from, &header, None)
            }
            Message::Ping(ping) => self.hub.handle_ping(now, from, &header, ping),
            Message::Update(update) => self.hub.handle_update(now, from, &header, update),
            Message::PingReply(reply) => {
                match self.upstream_index(from, &header) {
                    Some(u) => self.handle_reply(now, u, &header, reply),
                    None => self.hub.counters_mut().unexpected += 1,
                }
                Urgency::Later
            }
            Message::Order(order) => match self.upstream_index(from, &header) {
                Some(u) if self.accept_from_parent(u, &header) => self.take_order(now, order),
                Some(_) => Urgency::Later,
                None => {
                    self.hub.counters_mut().unexpected += 1;
                    Urgency::Later
                }
            },
            Message::StaleParent(hint) => {
                self.handle_stale_parent(now, from, &header, hint);
                Urgency::Later
            }
        };
        self.after_input(now, urgency);
    }

    // ----- outputs ------------------------------------------------------------------------

    /// The next datagram to send, written into `buf`: its destination and length. Replies go
    /// first, then order pushes, then updates.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(Endpoint, usize)> {
        if let Some((to, child, reply)) = self.hub.poll_reply(now) {
            let len = self.link.send(child, &Message::PingReply(reply), buf, self.hub.counters_mut())?;
            return Some((to, len));
        }
        if let Some((to, child, order)) = self.hub.poll_push(now) {
            let len = self.link.send(child, &Message::Order(order), buf, self.hub.counters_mut())?;
            return Some((to, len));
        }
        if let Some((to, parent, hint)) = self.upstreams.iter_mut().find_map(|u| u.uplink.take_stale()) {
            let len = self.link.send(parent, &Message::StaleParent(hint), buf, self.hub.counters_mut())?;
            return Some((to, len));
        }
        if now < self.settle_until {
            return None;
        }
        let u = self.upstreams.iter().position(|u| u.uplink.next_send <= now)?;
        self.send_page(now, u, buf)
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        // A router issues no order: its hub's queue never holds one.
        self.hub.poll_event(|| None)
    }
}
