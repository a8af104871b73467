//! The router role: a relay toward the MGS (an appliance, a BMC, a SmartNIC, any host).
//!
//! Downward it is a parent ([`crate::parent`]): it judges its children's silence, pushes orders and
//! repeats them in replies, sums order progress. Upward it sends one [`Update`] per update
//! interval to each parent, which doubles as its ping: the changes since the version the parent
//! acknowledged, in pages, plus subtree totals and progress. The parent's reply carries the
//! version it applied (the implicit acknowledgement). A parent that restarted answers with
//! version 0, and the router sends its whole table again: a snapshot is just an update from 0.
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

use heapless::Vec;

use crate::counters::{after, Counters};
use crate::event::Event;
use crate::ids::{Generation, Name, NodeId};
use crate::link::Link;
use crate::parent::{ChildRouter, Hub, Urgency};
use crate::table::{Slot, Table};
use crate::time::Instant;
use crate::timers::{self, Timers};
use crate::timing::{Timing, RESENDS};
use crate::uplink::{Heard, Uplink};
use crate::wire::{
    encoded_len, Endpoint, Header, Keyring, Message, OrderProgress, PingReply, ReplyStatus, Totals, Update,
    HEADER_LEN, MAX_ALTERNATES, MAX_DATAGRAM, MAX_PROGRESS, TAG_LEN,
};
use crate::wire::{FailedClient, Order, OrderKeys, StaleParent, MAX_FAILED};

/// Most parents of a router: a router at the top lists every status holder (an MGS on the MGS
/// node and one on each MDS node of a failover pair), and updates go to each.
pub const MAX_UPSTREAMS: usize = 3;

/// Most update pages sent to a parent before waiting for its acknowledgement.
const PAGES_PER_ROUND: u32 = 32;

/// A router's deadlines (see [`crate::timers`]), in the order those due together run.
#[derive(Clone, Copy, Debug)]
enum Timer {
    /// The silence check of the children ([`Hub::check`]).
    Check,
    /// The end of the startup hold: the subtree's sums are whole.
    Whole,
    /// Parent `k` has been silent for the dead threshold.
    Down(usize),
    /// The next update page to parent `k` (sent by [`Router::poll_transmit`]).
    Send(usize),
    /// An order push due again (sent by [`Router::poll_transmit`]).
    Repush,
}

const TIMERS: usize = 3 + 2 * MAX_UPSTREAMS;

impl timers::Timer for Timer {
    const ALL: &'static [Self] = &{
        let mut all = [Timer::Check; TIMERS];
        all[1] = Timer::Whole;
        let mut k = 0;
        while k < MAX_UPSTREAMS {
            all[2 + k] = Timer::Down(k);
            all[2 + MAX_UPSTREAMS + k] = Timer::Send(k);
            k += 1;
        }
        all[TIMERS - 1] = Timer::Repush;
        all
    };

    fn index(self) -> usize {
        match self {
            Timer::Check => 0,
            Timer::Whole => 1,
            Timer::Down(k) => 2 + k,
            Timer::Send(k) => 2 + MAX_UPSTREAMS + k,
            Timer::Repush => TIMERS - 1,
        }
    }
}

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

/// Whether version `a` is past version `b`. Versions wrap (compared by [`after`]) and never take
/// 0, which stands for nothing acknowledged: before every version.
fn past(a: u32, b: u32) -> bool {
    a != 0 && (b == 0 || after(a, b))
}

/// What a router says of its whole subtree in every update: totals, order progress and the
/// clients whose reconnection failed.
type Summary = (Totals, Vec<OrderProgress, MAX_PROGRESS>, Vec<FailedClient, MAX_FAILED>);

/// A parent, and the rounds of update pages going to it.
#[derive(Clone, Debug)]
struct Upstream {
    uplink: Uplink,
    /// The version the parent acknowledged.
    acked: u32,
    /// The next page's base while a round of pages is going out.
    next_base: Option<u32>,
    /// The version the last page of the round brings the parent to.
    round_end: u32,
    pages_left: u32,
    /// While the parent rebuilds from a snapshot: the version the snapshot started at. Until
    /// the parent acknowledges it, every entry sent carries its name.
    snapshot: Option<u32>,
}

impl Upstream {
    /// Pages the whole table again from version 0 (a snapshot), starting now.
    fn resend_all(&mut self, now: Instant) {
        self.acked = 0;
        self.next_base = None;
        self.uplink.next_send = now;
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

    /// Continues the datagram sequence from `last`: a simulator starts it just below its wrap
    /// point. (The change version is not: the parent's acknowledgement starts at 0, so a
    /// version reaches its wrap point only by counting.)
    #[cfg(feature = "counter-start")]
    pub fn start_counters(&mut self, last: u32) {
        self.link.wind(last);
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

    /// The deadline from [`Router::poll_timeout`] passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut urgency = Urgency::Later;
        for timer in self.timers().fired(now) {
            match timer {
                Timer::Check => urgency |= self.hub.check(now),
                Timer::Whole => {
                    // The sums are whole from now: progress held back goes up soon.
                    self.whole_at = None;
                    urgency |= Urgency::from(self.hub.held_orders().next().is_some());
                }
                Timer::Down(k) => {
                    let u = &mut self.upstreams[k];
                    u.uplink.went_down();
                    let addr = u.uplink.addr;
                    self.hub.emit(Event::ParentDown { addr });
                }
                // Sent by `poll_transmit`.
                Timer::Send(_) | Timer::Repush => {}
            }
        }
        self.after_input(now, urgency);
    }

    /// Moves every parent's next send up to a batch delay from now if the input was urgent.
    fn after_input(&mut self, now: Instant, urgency: Urgency) {
        if urgency.is_soon() {
            let soon = now.after(u64::from(self.hub.timing().batch_ms));
            for u in self.upstreams.iter_mut() {
                u.uplink.next_send = u.uplink.next_send.min(soon);
            }
        }
    }

    fn upstream_index(&self, from: Endpoint, header: &Header) -> Option<usize> {
        Uplink::find(self.upstreams.iter().map(|u| &u.uplink), from, header)
    }

    fn accept_from_parent(&mut self, u: usize, header: &Header) -> bool {
        self.upstreams[u].uplink.accept(header, self.hub.counters_mut())
    }

    fn handle_reply(&mut self, now: Instant, u: usize, header: &Header, reply: PingReply) {
        if !self.accept_from_parent(u, header) {
            return;
        }
        let version = self.hub.version();
        let up = &mut self.upstreams[u];
        let mut events: Vec<Event, 3> = Vec::new();
        let mut raised = false;
        // Answered, unless the parent acknowledges less than the last round brought it to (a
        // reply to an older round, overtaken by a newer one that may be lost).
        let answered = reply.status != ReplyStatus::Accepted || !past(up.round_end, reply.ack);
        if answered {
            // No re-send; back to the regular schedule unless something urgent is due.
            up.uplink.answered();
        }
        let Heard { restarted, came_up } = up.uplink.heard(now, header);
        if restarted {
            // The parent restarted and knows nothing: send everything again.
            up.uplink.known = false;
            up.resend_all(now);
            let _ =
                events.push(Event::ParentRestarted { addr: up.uplink.addr, generation: header.generation });
        }
        if came_up {
            let _ = events.push(Event::ParentUp { addr: up.uplink.addr });
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
                let _ = events.push(Event::Refused { addr: up.uplink.addr, alternates });
            }
            ReplyStatus::Stale { newest } => {
                if let Some(generation) = self.link.raise_above(newest) {
                    let _ = events.push(Event::GenerationRaised { addr: up.uplink.addr, generation });
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
    fn handle_stale_parent(&mut self, now: Instant, from: Endpoint, header: &Header, hint: StaleParent) {
        if header.sender == self.link.id {
            self.hub.counters_mut().unexpected += 1;
            return;
        }
        if let Some(generation) = self.link.raise_above(hint.newest) {
            self.hub.emit(Event::GenerationRaised { addr: from, generation });
            for u in self.upstreams.iter_mut() {
                u.uplink.known = false;
                u.resend_all(now);
            }
        }
    }

    /// Holds an order from a parent, once its MGS signature verifies (checked once per order).
    fn take_order(&mut self, now: Instant, order: Order) -> Urgency {
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
            self.hub.emit(Event::OrderHeld(id));
        }
        urgency
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

    fn send_page(&mut self, now: Instant, u: usize, buf: &mut [u8]) -> Option<(Endpoint, usize)> {
        let up = &mut self.upstreams[u];
        let base = match up.next_base {
            Some(base) => base,
            None => {
                if up.uplink.resend_at.is_none() {
                    up.uplink.resends = RESENDS;
                }
                up.pages_left = PAGES_PER_ROUND;
                self.summary_due = true;
                up.acked
            }
        };
        if base == 0 {
            up.snapshot = Some(self.hub.version());
        } else if up.snapshot.is_some_and(|v| !past(v, up.acked)) {
            up.snapshot = None;
        }
        let names = up.snapshot.is_some();
        if self.summary_due {
            // An order's progress goes up only once every child router holds it too, once every
            // child alive before this boot had time to be heard again, and while no client
            // heard is counted nowhere, so a sum never stands for a subtree it does not cover.
            let whole = self.whole_at.is_none_or(|t| now >= t) && self.hub.sums_whole(now);
            let progress: Vec<OrderProgress, MAX_PROGRESS> = (self.hub.held_orders())
                .filter(|o| whole && self.hub.all_routers_hold(o.id))
                .map(|o| self.hub.progress(o.id))
                .collect();
            // Past `MAX_FAILED` the rest go unnamed: each order's `failed` still counts them.
            let failed = (progress.iter())
                .filter(|p| p.failed > 0)
                .flat_map(|p| {
                    self.hub
                        .failed_clients(p.order)
                        .map(move |client| FailedClient { order: p.order, client })
                })
                .take(MAX_FAILED)
                .collect();
            let summary = (self.hub.totals(), progress, failed);
            if self.reported.as_ref() != Some(&summary) {
                // A new summary takes a version of its own: the parent's acknowledgement then
                // tells whether it has it (a reply to an older round does not).
                self.hub.summary_changed();
                self.reported = Some(summary);
            }
            self.summary_due = false;
        }
        // Always `Some` here: the first page of all computed it.
        let (totals, progress, failed) = self.reported.clone().unwrap_or_default();
        let up = &self.upstreams[u];
        let mut update = Update {
            interval_ms: self.hub.timing().update_interval_ms,
            name: (!up.uplink.known).then(|| self.name.clone()),
            base,
            upto: base,
            more: false,
            deltas: Vec::new(),
            targets: Vec::new(),
            totals,
            progress,
            failed,
        };
        // Room for deltas: the datagram less header, tag, the fixed fields, and two bytes for
        // the deltas' length prefix and `upto` growing.
        let fixed = encoded_len(&update) + 2 * 5;
        let room = (MAX_DATAGRAM - HEADER_LEN - TAG_LEN).saturating_sub(fixed);
        let page = self.hub.page(base, room, names, now);
        let (upto, more) = (page.upto, page.more);
        update.deltas = page.deltas;
        update.targets = page.targets;
        update.upto = upto;
        update.more = more;
        let interval = u64::from(self.hub.timing().update_interval_ms);
        let up = &mut self.upstreams[u];
        up.pages_left = up.pages_left.saturating_sub(1);
        // A first contact is one page: the parent answers it with its id and takes nothing.
        if more && up.pages_left > 0 && up.uplink.identified() {
            up.next_base = Some(upto);
        } else {
            up.next_base = None;
            up.round_end = upto;
            // With more to send, the acknowledgement of this round starts the next one; this
            // deadline only covers a lost page.
            if up.uplink.resend_at.is_none() {
                up.uplink.regular = now.after(if more { (interval / 4).max(1) } else { interval });
            }
            // Unanswered, the round goes again soon: a lost update costs `resend_ms`, not an
            // interval (only toward a parent that answers: a silent one gets its interval).
            match up.uplink.resend_due(now, self.hub.timing()).filter(|_| up.uplink.up) {
                // Never past the next round.
                Some(at) => up.uplink.arm(up.uplink.regular.min(at)),
                None => up.uplink.disarm(),
            }
        }
        let (to, parent) = (up.uplink.addr, up.uplink.receiver());
        let len = self.link.send(parent, &Message::Update(update), buf, self.hub.counters_mut())?;
        Some((to, len))
    }

    /// When to call [`Router::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers().next()
    }

    /// Every deadline of this router, as its state stands.
    fn timers(&self) -> Timers<Timer, TIMERS> {
        let mut timers = Timers::default();
        let dead_ms = self.hub.timing().dead_ms(self.hub.timing().update_interval_ms);
        timers.set(Timer::Check, Some(self.hub.next_check()));
        timers.set(Timer::Whole, self.whole_at);
        for (k, u) in self.upstreams.iter().enumerate() {
            timers.set(Timer::Down(k), u.uplink.down_at(dead_ms));
            timers.set(Timer::Send(k), Some(u.uplink.next_send.max(self.settle_until)));
        }
        timers.set(Timer::Repush, self.hub.next_repush());
        timers
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.hub.poll_event()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::name;
    use crate::wire::{Key, NodeState};
    use crate::{Client, ClientConfig, Mgs, MgsConfig};

    fn keys() -> Keyring {
        Keyring::new(Key::new(1, &[7; 32]))
    }

    fn at(last: u8) -> Endpoint {
        Endpoint::V4 { ip: [10, 0, 0, last], port: 7000 }
    }

    type Slots = std::vec::Vec<Option<crate::table::Entry>>;

    fn new_mgs(generation: u32, now: u64) -> Mgs<Slots> {
        let mut config = MgsConfig::new(name("mgs").unwrap(), Generation(generation), keys());
        config.startup_hold_ms = 0;
        let mut mgs = Mgs::new(config, vec![None; 64], Instant(now));
        mgs.link.wind(u32::MAX - 20);
        mgs
    }

    /// Client `k` (at(20 + k)) pinging the router at(2), its sequence 20 short of the wrap.
    fn new_client(k: u8) -> Client {
        let config = ClientConfig {
            name: name(&std::format!("c{k}")).unwrap(),
            generation: Generation(1),
            parents: [at(2)].into_iter().collect(),
            keys: keys(),
            timing: Timing::default(),
        };
        let mut c = Client::new(config, Instant(0));
        c.member.link.wind(u32::MAX - 20);
        c
    }

    /// Runs the MGS at(1), the router at(2) and the clients from `from` to `to` ms.
    fn run(mgs: &mut Mgs<Slots>, r: &mut Router<Slots>, clients: &mut [Client], (from, to): (u64, u64)) {
        let mut buf = [0u8; MAX_DATAGRAM];
        for t in from..=to {
            let now = Instant(t);
            if mgs.poll_timeout().is_some_and(|d| d <= now) {
                mgs.handle_timeout(now);
            }
            if r.poll_timeout().is_some_and(|d| d <= now) {
                r.handle_timeout(now);
            }
            for c in clients.iter_mut() {
                if c.poll_timeout().is_some_and(|d| d <= now) {
                    c.handle_timeout(now);
                }
            }
            loop {
                let mut quiet = true;
                for (k, c) in clients.iter_mut().enumerate() {
                    while let Some((_, len)) = c.poll_transmit(now, &mut buf) {
                        quiet = false;
                        r.handle(now, at(20 + k as u8), &buf[..len]);
                    }
                }
                while let Some((dest, len)) = r.poll_transmit(now, &mut buf) {
                    quiet = false;
                    match dest {
                        Endpoint::V4 { ip: [_, _, _, last], .. } if last >= 20 => {
                            clients[usize::from(last - 20)].handle(now, at(2), &buf[..len])
                        }
                        _ => mgs.handle(now, at(2), &buf[..len]),
                    }
                }
                while let Some((_, len)) = mgs.poll_transmit(now, &mut buf) {
                    quiet = false;
                    r.handle(now, at(1), &buf[..len]);
                }
                if quiet {
                    break;
                }
            }
            for c in clients.iter_mut() {
                while c.poll_event().is_some() {}
            }
        }
    }

    fn alive_at_mgs(mgs: &Mgs<Slots>, now: u64) -> usize {
        mgs.nodes(Instant(now))
            .filter(|v| v.role == crate::wire::Role::Client && v.state == NodeState::Alive)
            .count()
    }

    #[test]
    fn sequences_and_versions_go_on_across_their_wrap() {
        let mut mgs = new_mgs(1, 0);
        let mut config =
            RouterConfig::new(name("r1").unwrap(), Generation(1), [at(1)].into_iter().collect(), keys());
        config.settle_ms = 0;
        let mut r: Router<Slots> = Router::new(config, vec![None; 64], Instant(0));
        r.link.wind(u32::MAX - 20);
        r.hub.start_versions_at(u32::MAX - 5);
        // Clients join one at a time, each join a few versions: the router's versions wrap.
        let mut clients: std::vec::Vec<Client> = std::vec::Vec::new();
        for k in 0..8u8 {
            clients.push(new_client(k));
            let t = u64::from(k) * 2_000;
            run(&mut mgs, &mut r, &mut clients, (t, t + 1_999));
        }
        assert!(r.hub.version() < 100, "the version wrapped: {}", r.hub.version());
        // A minute on: every sequence wrapped, and everything is still taken.
        run(&mut mgs, &mut r, &mut clients, (16_000, 76_000));
        assert_eq!(alive_at_mgs(&mgs, 76_000), 8);
        assert!(clients.iter().all(|c| c.member.link.last_sequence() < 1_000));
        for counters in [mgs.counters(), r.counters()].into_iter().chain(clients.iter().map(|c| c.counters()))
        {
            assert_eq!((counters.replayed, counters.out_of_order), (0, 0), "{counters:?}");
        }
        // A billion changes later (no entry changed meanwhile): entries are restamped before
        // their versions read as ahead, and a new MGS still gets them all in its snapshot.
        r.hub.skip_versions(3 << 29);
        run(&mut mgs, &mut r, &mut clients, (76_001, 80_000));
        r.hub.skip_versions(3 << 29);
        let mut mgs = new_mgs(2, 80_001);
        run(&mut mgs, &mut r, &mut clients, (80_001, 90_000));
        assert_eq!(alive_at_mgs(&mgs, 90_000), 8);
        let acked = r.upstreams[0].acked;
        assert!(r.hub.table().iter().all(|e| !after(e.changed, acked)), "everything acknowledged");
        assert!(r.hub.table().iter().all(|e| r.hub.version().wrapping_sub(e.changed) < 1 << 31));
    }

    #[test]
    fn a_router_acknowledged_ahead_of_what_its_parent_holds_goes_back_to_it() {
        let mut mgs = new_mgs(1, 0);
        let mut config =
            RouterConfig::new(name("r1").unwrap(), Generation(1), [at(1)].into_iter().collect(), keys());
        config.settle_ms = 0;
        let mut r: Router<Slots> = Router::new(config, vec![None; 64], Instant(0));
        let mut clients: std::vec::Vec<Client> = (0..4u8).map(new_client).collect();
        run(&mut mgs, &mut r, &mut clients, (0, 10_000));
        assert_eq!(alive_at_mgs(&mgs, 10_000), 4);
        // The MGS holds less than it acknowledged (a snapshot round sent again after it had the
        // first whole restarted its rebuild, and the later page was lost).
        let entry = mgs.hub.table_mut().get_mut(r.id()).and_then(|e| e.direct.as_mut()).unwrap();
        entry.applied = entry.applied.wrapping_sub(3).max(1);
        clients.push(new_client(4));
        run(&mut mgs, &mut r, &mut clients, (10_001, 20_000));
        assert_eq!(alive_at_mgs(&mgs, 20_000), 5, "the router's updates are taken again");
    }
}
