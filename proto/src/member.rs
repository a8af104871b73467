//! The child side shared by clients and servers: pinging every parent, carrying out orders once,
//! and reporting progress until the parent has it.
//!
//! A member pings each of its parents every interval (multipath: it is alive if any path hears
//! it). It counts in order progress at one parent only, its *home*: the first parent that
//! answers, until that one's replies are late (see `Member::rehome`). Orders arrive pushed or
//! repeated in replies; the order id tells a repeat from a new order, and a repeat is only
//! reported again, never carried out twice. A report rides in every ping, re-sent while
//! unanswered, until a parent acknowledges one that carried it (the reply's `ack` names the
//! ping's sequence); a parent that still lacks it repeats the order, which arms it again.
//!
//! Pings are re-sent while unanswered too ([`PING_RESENDS`]), to a parent that answered lately:
//! random loss then silences a child for an interval only when three datagrams in a row are lost.
//! These re-sends (and a riding report's, every 400 ms) go only when they come before half an
//! interval: with short intervals the next regular ping does as well.

use heapless::{Deque, Vec};

use crate::counters::{after, Counters};
use crate::event::{Event, Events};
use crate::handed::{Handed, Kept, Notice};
use crate::ids::{fnv1a, Generation, Name, NodeId, OrderId};
use crate::link::Link;
use crate::time::Instant;
use crate::timers::{self, Timers};
use crate::timing::{Timing, PING_RESENDS, RESENDS};
use crate::uplink::{Heard, Uplink};
use crate::wire::OrderKeys;
use crate::wire::{
    Action, Endpoint, Header, Keyring, Message, Order, OrderReport, Outcome, Ping, PingReply, ReplyStatus,
    Role, TargetState, MAX_ALTERNATES, MAX_MOUNTS, MAX_REPORTS,
};

/// Most parents a node pings.
pub const MAX_PARENTS: usize = 2;

/// A member's deadlines (see [`crate::timers`]), in the order those due together run.
#[derive(Clone, Copy, Debug)]
enum Timer {
    /// A failed reconnect's hook is due again.
    Retry,
    /// Parent `k` has been silent for the dead threshold.
    Down(usize),
    /// Parent `k` has been silent for the suspect threshold.
    Late(usize),
    /// The next ping to parent `k` (sent by `poll_transmit`).
    Ping(usize),
}

const TIMERS: usize = 1 + 3 * MAX_PARENTS;

impl timers::Timer for Timer {
    const ALL: &'static [Self] = &{
        let mut all = [Timer::Retry; TIMERS];
        let mut k = 0;
        while k < MAX_PARENTS {
            all[1 + 2 * k] = Timer::Down(k);
            all[2 + 2 * k] = Timer::Late(k);
            all[1 + 2 * MAX_PARENTS + k] = Timer::Ping(k);
            k += 1;
        }
        all
    };

    fn index(self) -> usize {
        match self {
            Timer::Retry => 0,
            Timer::Down(k) => 1 + 2 * k,
            Timer::Late(k) => 2 + 2 * k,
            Timer::Ping(k) => 1 + 2 * MAX_PARENTS + k,
        }
    }
}
/// Order ids remembered to tell repeats from new orders.
const SEEN: usize = 32;
/// Shortest and longest interval a parent may impose.
const INTERVAL_BOUNDS: (u32, u32) = (50, 600_000);
/// Most times a client's hook runs for one recovery order: a failed or timed-out reconnect is
/// tried again, after one ping interval, then two, and reported failed only after the last.
pub const RECONNECT_TRIES: u8 = 3;
/// Recovery orders whose hook a client can try again at once (one per target that failed
/// together); beyond them a failure is final at once. Also the orders a member keeps for its
/// driver to fetch ([`Handed`]).
const RETRIES: usize = 4;
/// Events a member queues. A driver drains them after every input, which yields at most six
/// (a reply: a restart, up, a refusal or raised generation, and two orders; a deadline: two
/// parents down and four retries due).
const EVENTS: usize = 8;

/// Configuration shared by clients and servers.
#[derive(Clone, Debug)]
pub struct MemberConfig {
    /// The node's name (its id is derived from it).
    pub name: Name,
    /// The node's boot generation (strictly greater on every start).
    pub generation: Generation,
    /// Next hops toward the MGS, primary first.
    pub parents: Vec<Endpoint, MAX_PARENTS>,
    /// Cluster keys.
    pub keys: Keyring,
    /// Ping interval (until a parent says otherwise) and thresholds.
    pub timing: Timing,
}

/// A parent, and what a member keeps of it besides the [`Uplink`].
#[derive(Clone, Debug)]
struct Parent {
    uplink: Uplink,
    /// The sequence of the last ping that carried the name: only a reply that accepted it (or a
    /// later ping) confirms what it announced, not one to an older ping still on its way.
    announced: u32,
    /// Silent past the suspect threshold: still up, but no longer the home while another
    /// parent answers (see [`Member::rehome`]).
    late: bool,
    refused: bool,
    /// The sequence number of the last ping sent with a re-send armed: only a reply that
    /// acknowledges it (or a later ping) disarms the re-send.
    awaiting: u32,
    /// Where the parent's last refusal suggested to go instead, until its event is polled.
    alternates: Vec<Endpoint, MAX_ALTERNATES>,
    /// The parent answered our first contact and the addressed ping it asked for has not gone
    /// yet: that ping is the first the parent takes, and spreads the herd as a first ping does.
    met: bool,
}

#[derive(Clone, Copy, Debug)]
struct Report {
    order: OrderId,
    outcome: Outcome,
    /// It goes in every ping, until a parent acknowledges a ping sent after `since` (then it
    /// rests until its order is repeated to us).
    riding: bool,
    /// The sequence of the last datagram sent before it changed.
    since: u32,
    /// Which recovery it was about: (target, target instance) and whether it began or closed it.
    /// A recovery is the same whichever MGS issues it, so this tells a re-issued order for the
    /// same restart (by a restarted MGS, or another status holder) from a new restart.
    about: Option<u32>,
}

/// The newest instance of a target a client was ordered to recover, and how that went: an
/// order for that instance or an older one is not carried out again, however many orders came
/// since (the reports, which also tell repeats apart, keep only the last [`MAX_REPORTS`]). A stale
/// status holder (one that missed the target's last restart) can order an instance the client
/// recovered from long ago.
#[derive(Clone, Copy, Debug)]
struct Recovered {
    /// The target's name, hashed as in a report's `about`.
    target: u32,
    instance: Generation,
    outcome: Outcome,
}

impl Recovered {
    /// The `about` of reports on this recovery.
    fn about(&self) -> u32 {
        recovery_tag(self.target, self.instance)
    }
}

/// What a report on the recovery of `instance` of the target whose name hashes to `target` is
/// about (a `CloseWindow`'s is its complement).
fn recovery_tag(target: u32, instance: Generation) -> u32 {
    target ^ instance.0.rotate_left(16)
}

/// Targets whose newest recovery a client remembers; the least recently ordered gives way.
const RECOVERED: usize = 16;

/// Where an order came from is irrelevant once authenticated; what matters is whether it is new.
/// `K` is what the member keeps of the orders it acts on ([`Kept`]).
#[derive(Clone, Debug)]
pub(crate) struct Member<K: Kept> {
    pub(crate) link: Link,
    name: Name,
    role: Role,
    timing: Timing,
    interval_ms: u32,
    parents: Vec<Parent, MAX_PARENTS>,
    /// The parent this node counts at (see [`Member::rehome`]).
    home: usize,
    /// The home before the last move, while the new home has not confirmed it counts this node:
    /// until then it is still told it is home (see [`Member::rehome`]), and the sequence of the
    /// first ping that told the new one, once sent.
    moving_from: Option<(usize, Option<u32>)>,
    reports: Deque<Report, MAX_REPORTS>,
    seen: Deque<OrderId, SEEN>,
    recovered: Deque<Recovered, RECOVERED>,
    /// Orders handed to the driver: fetched when their event is polled, handed again when a
    /// client's hook failed.
    handed: Vec<Handed<K>, RETRIES>,
    pub(crate) target: K::Target,
    /// A client's filesystem mounts, sent with the name.
    mounts: Vec<u64, MAX_MOUNTS>,
    pub(crate) order_keys: OrderKeys,
    events: Events<EVENTS, Notice>,
    pub(crate) counters: Counters,
}

impl<K: Kept> Member<K> {
    pub(crate) fn new(config: MemberConfig, role: Role, now: Instant) -> Self {
        let id = NodeId::from_name(&config.name);
        let parents = config
            .parents
            .iter()
            .map(|&addr| Parent {
                uplink: Uplink::new(addr, now),
                announced: 0,
                late: false,
                refused: false,
                awaiting: 0,
                alternates: Vec::new(),
                met: false,
            })
            .collect();
        Member {
            link: Link::new(id, config.generation, config.keys),
            name: config.name,
            role,
            timing: config.timing,
            interval_ms: config.timing.ping_interval_ms,
            parents,
            home: 0,
            moving_from: None,
            reports: Deque::new(),
            seen: Deque::new(),
            recovered: Deque::new(),
            handed: Vec::new(),
            target: K::Target::default(),
            mounts: Vec::new(),
            order_keys: OrderKeys::default(),
            events: Events::new(),
            counters: Counters::default(),
        }
    }

    pub(crate) fn handle(&mut self, now: Instant, from: Endpoint, bytes: &[u8]) {
        let mut message = Message::default();
        let Some(header) = self.link.receive(bytes, &mut message, &mut self.counters) else {
            return;
        };
        let Some(p) = self.parent_index(from, &header) else {
            self.counters.unexpected += 1;
            return;
        };
        match message {
            Message::PingReply(reply) => self.handle_reply(now, p, &header, reply),
            Message::Order(order) => {
                if self.accept_from_parent(p, &header) {
                    self.handle_order(now, order);
                }
            }
            _ => self.counters.unexpected += 1,
        }
    }

    fn parent_index(&self, from: Endpoint, header: &Header) -> Option<usize> {
        Uplink::find(self.parents.iter().map(|p| &p.uplink), from, header)
    }

    /// Generation and replay checks for a datagram from parent `p`.
    fn accept_from_parent(&mut self, p: usize, header: &Header) -> bool {
        self.parents[p].uplink.accept(header, &mut self.counters)
    }

    fn handle_reply(&mut self, now: Instant, p: usize, header: &Header, reply: PingReply) {
        if !self.accept_from_parent(p, header) {
            return;
        }
        let parent = &mut self.parents[p];
        if !after(parent.awaiting, reply.ack) && parent.uplink.answered() {
            // Answered: no re-send; back to the interval unless something urgent is due.
            parent.uplink.resends = 0;
        }
        let Heard { restarted, came_up } = parent.uplink.heard(now, header);
        parent.late = false;
        let addr = parent.uplink.addr;
        let mut events: Vec<Notice, 3> = Vec::new();
        let mut raised = None;
        let accepted = matches!(reply.status, ReplyStatus::Accepted);
        if restarted {
            parent.uplink.known = false;
            let _ = events.push(Notice::ParentRestarted(addr, header.generation));
        }
        if came_up {
            let _ = events.push(Notice::ParentUp(addr));
        }
        match reply.status {
            ReplyStatus::Accepted => {
                parent.uplink.known = reply.ack.wrapping_sub(parent.announced) < u32::MAX / 2;
                parent.refused = false;
                // The parent took a ping sent after these reports changed: it has them.
                for r in self.reports.iter_mut().filter(|r| r.riding && after(reply.ack, r.since)) {
                    r.riding = false;
                }
            }
            ReplyStatus::Unknown => {
                parent.uplink.known = false;
                parent.uplink.next_send = now;
            }
            ReplyStatus::Stale { newest } => {
                parent.uplink.known = false;
                let old = self.link.generation;
                if let Some(generation) = self.link.raise_above(newest) {
                    raised = Some(old);
                    let _ = events.push(Notice::GenerationRaised(addr, generation));
                }
            }
            ReplyStatus::Unaddressed => {
                // Our first contact: nothing was taken. Ping again at once, addressed to the id
                // this reply named.
                parent.uplink.next_send = now;
                parent.met = true;
            }
            ReplyStatus::Refused { alternates } => {
                parent.refused = true;
                parent.uplink.known = false;
                // Back off: a full parent is asked again only after a dead-threshold's time.
                parent.uplink.next_send = now.after(self.timing.dead_ms(self.interval_ms));
                parent.alternates = alternates;
                let _ = events.push(Notice::Refused(addr));
            }
        }
        let (low, high) = INTERVAL_BOUNDS;
        if (low..=high).contains(&reply.interval_ms) && reply.interval_ms != self.interval_ms {
            self.interval_ms = reply.interval_ms;
            for q in self.parents.iter_mut() {
                q.uplink.next_send = q.uplink.next_send.min(now.after(u64::from(reply.interval_ms)));
            }
        }
        if let Some(old) = raised {
            // A target that restarted with this node is that instance too.
            let generation = self.link.generation;
            if let Some(t) = K::target_mut(&mut self.target).filter(|t| t.generation == old) {
                t.generation = generation;
            }
            // Every parent learns the new generation now (it reads as a reboot).
            self.ping_now(now);
        }
        if p == self.home && accepted {
            self.confirm_move(now, reply.ack);
        }
        self.rehome(now);
        for e in events {
            self.emit(e);
        }
        for order in reply.orders {
            self.handle_order(now, order);
        }
    }

    fn emit(&mut self, notice: Notice) {
        if !self.events.push(notice) {
            self.counters.events_dropped += 1;
        }
    }

    /// The next event, its order or alternates fetched from where they are kept.
    pub(crate) fn poll_event(&mut self) -> Option<Event> {
        loop {
            let notice = self.events.pop()?;
            let parents = &self.parents;
            let alternates =
                |addr| (parents.iter().find(|p| p.uplink.addr == addr)).map(|p| p.alternates.clone());
            let handed = &mut self.handed;
            let order = |id| {
                let h = handed.iter_mut().find(|h| h.order.id() == id)?;
                h.queued -= 1;
                Some(h.order.order())
            };
            // An order is kept while its notice is queued, so this skips nothing a driver that
            // reports only orders it was handed could miss.
            if let Some(event) = notice.event(|addr| alternates(addr).unwrap_or_default(), order) {
                return Some(event);
            }
        }
    }

    fn handle_order(&mut self, now: Instant, order: Order) {
        if self.seen.iter().any(|&id| id == order.id) {
            // Repeated: the parent lacks our report on it (or, while we report it applied, its
            // outcome). A report whose sends are spent goes again; a final one at once, since
            // the parent waits for it (it stops repeating once it has it, so this ends).
            let since = self.link.last_sequence();
            let Some(r) = self.reports.iter_mut().find(|r| r.order == order.id && !r.riding) else {
                return;
            };
            (r.riding, r.since) = (true, since);
            if r.outcome != Outcome::Applied {
                self.ping_now(now);
            }
            return;
        }
        if !self.order_keys.verify(&order) {
            self.counters.forged += 1;
            return;
        }
        // The recovery a client is ordered into (its target's name hashed, the instance; none for
        // an instance an admin left unknown), and what reports on the order are about.
        let (begin, about) = match &order.action {
            Action::BeginRecovery { target, target_generation, .. } if target_generation.0 != 0 => {
                let begin = (fnv1a(target.as_bytes()), *target_generation);
                (Some(begin), Some(recovery_tag(begin.0, begin.1)))
            }
            Action::CloseWindow { target, target_generation, .. } => {
                (None, Some(!recovery_tag(fnv1a(target.as_bytes()), *target_generation)))
            }
            _ => (None, None),
        };
        // What was done on an earlier order for the same recovery, unless it failed; or on a
        // newer instance of its target.
        let earlier = about
            .and_then(|a| {
                (self.reports.iter())
                    .find(|r| r.about == Some(a) && r.outcome != Outcome::Failed)
                    .map(|r| r.outcome)
            })
            .or_else(|| begin.and_then(|(target, instance)| self.superseded(target, instance)));
        let outcome = match earlier {
            // The same recovery ordered again (by an MGS that restarted, or another holder):
            // report what was done, do not do it twice. A failed attempt is not done: a new
            // order (an admin's retry) carries it out again.
            Some(outcome) => outcome,
            None if self.acts_on(&order.action) => {
                if self.events.is_full() || !self.hand(&order) {
                    // Not taken: the order is repeated until we report it.
                    self.counters.events_dropped += 1;
                    return;
                }
                if let Some((target, instance)) = begin {
                    self.remember(target, instance);
                }
                Outcome::Applied
            }
            None => Outcome::Applied,
        };
        if self.seen.is_full() {
            self.seen.pop_front();
        }
        let _ = self.seen.push_back(order.id);
        if self.reports.is_full() {
            self.reports.pop_front();
        }
        let since = self.link.last_sequence();
        let _ = self.reports.push_back(Report { order: order.id, outcome, about, riding: true, since });
        self.ping_now(now);
    }

    /// For a client, what it reports on a `BeginRecovery` of `instance` of `target` (its name
    /// hashed) by its newest recovery of the target: one of an older instance is stale (the
    /// client recovered the newer one), one of the same instance done, unless it failed (an
    /// admin's retry).
    fn superseded(&self, target: u32, instance: Generation) -> Option<Outcome> {
        if self.role != Role::Client {
            return None;
        }
        let newest = self.recovered.iter().find(|r| r.target == target)?;
        match newest.instance.cmp(&instance) {
            core::cmp::Ordering::Greater => Some(newest.outcome),
            core::cmp::Ordering::Equal if newest.outcome != Outcome::Failed => Some(newest.outcome),
            _ => None,
        }
    }

    /// Notes that this client carries out the recovery of `instance` of `target`.
    fn remember(&mut self, target: u32, instance: Generation) {
        self.recovered.retain(|r| r.target != target);
        if self.recovered.is_full() {
            self.recovered.pop_front();
        }
        let _ = self.recovered.push_back(Recovered { target, instance, outcome: Outcome::Applied });
    }

    fn acts_on(&self, action: &Action) -> bool {
        match (self.role, action) {
            (Role::Client, Action::BeginRecovery { .. }) => true,
            // Only while recovering: a window that ended (by an earlier order, or by the
            // target's own time-out) is not closed again.
            (Role::Server, Action::CloseWindow { target, target_generation, .. }) => K::target(&self.target)
                .is_some_and(|t| {
                    t.target == *target
                        && t.generation == *target_generation
                        && t.state == TargetState::Recovering
                }),
            _ => false,
        }
    }

    /// Hands `order` to the driver: keeps it (to fetch when its event is polled, and for a
    /// client to hand again if the hook fails) and queues its event. False when it cannot be
    /// kept: every kept order still waits to be polled.
    fn hand(&mut self, order: &Order) -> bool {
        let Some(kept) = K::keep(order) else { return false };
        // A server's hook is not tried again: it starts with no tries left.
        let tries = if self.role == Role::Client { 1 } else { RECONNECT_TRIES };
        if let Some(h) = self.handed.iter_mut().find(|h| h.order.id() == order.id) {
            (h.tries, h.at) = (tries, None);
            h.queued += 1;
        } else {
            if self.handed.is_full() {
                // The oldest polled gives way: its next failure is final at once.
                let Some(i) = self.handed.iter().position(|h| h.queued == 0) else { return false };
                self.handed.remove(i);
            }
            let _ = self.handed.push(Handed { order: kept, queued: 1, tries, at: None });
        }
        self.emit(Notice::Order(order.id));
        true
    }

    /// Records how an order the driver carried out went; false if the order is unknown. A
    /// failed reconnect is tried again ([`RECONNECT_TRIES`] in all, after one ping interval,
    /// then two: the hook is handed the order again) and reported failed only after the last;
    /// until then it stays applied.
    pub(crate) fn order_done(&mut self, now: Instant, order: OrderId, ok: bool) -> bool {
        if !self.reports.iter().any(|r| r.order == order) {
            return false;
        }
        let handed = self.handed.iter().position(|h| h.order.id() == order);
        match handed {
            Some(i) if !ok && self.handed[i].tries < RECONNECT_TRIES => {
                let wait = u64::from(self.interval_ms) << (self.handed[i].tries - 1);
                self.handed[i].at = Some(now.after(wait));
                return true;
            }
            // Reported before its event was polled: kept for the poll, never handed again.
            Some(i) if self.handed[i].queued > 0 => {
                (self.handed[i].tries, self.handed[i].at) = (RECONNECT_TRIES, None);
            }
            Some(i) => {
                self.handed.remove(i);
            }
            None => {}
        }
        let Some(r) = self.reports.iter().find(|r| r.order == order) else {
            return false;
        };
        let (about, outcome) = (r.about, if ok { Outcome::Reconnected } else { Outcome::Failed });
        // Re-issues of the same restart (by an MGS that restarted meanwhile) were answered with
        // this order's outcome so far: they finish with it too.
        let same = |r: &Report| r.order == order || (about.is_some() && r.about == about);
        let since = self.link.last_sequence();
        for r in self.reports.iter_mut().filter(|r| same(r)) {
            (r.outcome, r.riding, r.since) = (outcome, true, since);
        }
        for r in self.recovered.iter_mut().filter(|r| Some(r.about()) == about) {
            r.outcome = outcome;
        }
        self.ping_now(now);
        true
    }

    /// A client's filesystem mounts changed (a mount, a remount with a new client identity):
    /// every parent is told with the name again.
    pub(crate) fn set_mounts(&mut self, now: Instant, mounts: Vec<u64, MAX_MOUNTS>) {
        if self.mounts != mounts {
            self.mounts = mounts;
            for p in self.parents.iter_mut() {
                p.uplink.known = false;
            }
            self.ping_now(now);
        }
    }

    /// Sends the next pings now: something the parents should learn changed.
    pub(crate) fn ping_now(&mut self, now: Instant) {
        for k in 0..self.parents.len() {
            self.ping_soon(now, k);
        }
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        let mut downs: Vec<Endpoint, MAX_PARENTS> = Vec::new();
        for timer in self.timers().fired(now) {
            match timer {
                Timer::Retry => self.retry_due(now),
                Timer::Down(k) => {
                    let p = &mut self.parents[k];
                    p.uplink.went_down();
                    p.late = false;
                    let _ = downs.push(p.uplink.addr);
                }
                // Unless it went down just now.
                Timer::Late(k) => self.parents[k].late = self.parents[k].uplink.up,
                // Sent by `poll_transmit`.
                Timer::Ping(_) => {}
            }
        }
        self.rehome(now);
        for addr in downs {
            self.emit(Notice::ParentDown(addr));
        }
    }

    /// Hands the hook again the recovery orders whose retry is due.
    fn retry_due(&mut self, now: Instant) {
        for i in 0..self.handed.len() {
            if self.handed[i].at.is_none_or(|at| at > now) {
                continue;
            }
            if self.events.is_full() {
                // Not taken: tried again at the next deadline.
                self.counters.events_dropped += 1;
                return;
            }
            let h = &mut self.handed[i];
            (h.at, h.tries) = (None, h.tries + 1);
            h.queued += 1;
            let id = h.order.id();
            self.emit(Notice::Order(id));
        }
    }

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
    fn rehome(&mut self, now: Instant) {
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
    fn confirm_move(&mut self, now: Instant, ack: u32) {
        let Some((old, Some(told))) = self.moving_from else { return };
        if after(told, ack) {
            return;
        }
        self.moving_from = None;
        self.ping_soon(now, old);
    }

    /// Pings parent `k` now, unless it refused us. Unanswered, the news goes again after
    /// `resend_ms` if the parent is up: a lost report then costs that, not a ping interval.
    fn ping_soon(&mut self, now: Instant, k: usize) {
        let Some(p) = self.parents.get_mut(k).filter(|p| !p.refused) else { return };
        p.uplink.next_send = p.uplink.next_send.min(now);
        if p.uplink.up {
            p.uplink.resends = RESENDS;
        }
    }

    /// Whether a ping to parent `p` tells it that this node counts there: the home, and the
    /// old home while a move is not confirmed.
    fn counts_at(&self, p: usize) -> bool {
        p == self.home || self.moving_from.is_some_and(|(old, _)| old == p)
    }

    pub(crate) fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(Endpoint, usize)> {
        if let Some((to, parent, hint)) = self.parents.iter_mut().find_map(|p| p.uplink.take_stale()) {
            let len = self.link.send(parent, &Message::StaleParent(hint), buf, &mut self.counters)?;
            return Some((to, len));
        }
        let p = self.parents.iter().position(|p| p.uplink.next_send <= now)?;
        let home = self.counts_at(p);
        let interval = u64::from(self.interval_ms);
        let parent = &mut self.parents[p];
        let first =
            (parent.uplink.last_reply.is_none() && !parent.uplink.up) || core::mem::take(&mut parent.met);
        parent.uplink.regular = if parent.refused {
            now.after(self.timing.dead_ms(self.interval_ms))
        } else if first {
            // Spread the herd: nodes that start together ping again at different times.
            now.after(interval / 2 + u64::from(self.link.id.0) % (interval / 2).max(1))
        } else {
            now.after(interval)
        };
        // A re-send is worth it only well before the next regular ping.
        let worth = |left: u8| 2 * self.timing.resend_wait_ms(left) <= interval;
        if parent.uplink.up && !parent.late && !parent.refused {
            if parent.uplink.resend_at.is_none() && worth(PING_RESENDS) {
                // Not itself a re-send: goes again unless answered (see `PING_RESENDS`).
                parent.uplink.resends = parent.uplink.resends.max(PING_RESENDS);
            }
            if self.reports.iter().any(|r| r.riding) && worth(1) {
                // A report no parent acknowledged goes again until one does.
                parent.uplink.resends = parent.uplink.resends.max(1);
            }
        }
        parent.uplink.disarm();
        if let Some(at) = parent.uplink.resend_due(now, &self.timing) {
            parent.uplink.arm(at);
        }
        let addr = parent.uplink.addr;
        let ping = Ping {
            role: self.role,
            interval_ms: self.interval_ms,
            home,
            name: (!parent.uplink.known).then(|| self.name.clone()),
            mounts: if parent.uplink.known { Vec::new() } else { self.mounts.clone() },
            reports: (self.reports.iter())
                .filter(|r| r.riding)
                .map(|r| OrderReport { order: r.order, outcome: r.outcome })
                .collect(),
            target: K::target(&self.target).cloned(),
        };
        let receiver = self.parents[p].uplink.receiver();
        let len = self.link.send(receiver, &Message::Ping(ping), buf, &mut self.counters)?;
        if !self.parents[p].uplink.known {
            self.parents[p].announced = self.link.last_sequence();
        }
        if self.parents[p].uplink.resend_at.is_some() {
            self.parents[p].awaiting = self.link.last_sequence();
        }
        if let Some((_, told @ None)) = self.moving_from.as_mut().filter(|_| p == self.home) {
            *told = Some(self.link.last_sequence());
        }
        Some((addr, len))
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.timers().next()
    }

    /// Every deadline of this member, as its state stands.
    fn timers(&self) -> Timers<Timer, TIMERS> {
        let mut timers = Timers::default();
        let dead_ms = self.timing.dead_ms(self.interval_ms);
        let suspect_ms = self.timing.suspect_ms(self.interval_ms);
        timers.set(Timer::Retry, self.handed.iter().filter_map(|h| h.at).min());
        for (k, p) in self.parents.iter().enumerate() {
            timers.set(Timer::Down(k), p.uplink.down_at(dead_ms));
            let late = p.uplink.last_reply.filter(|_| p.uplink.up && !p.late).map(|t| t.after(suspect_ms));
            timers.set(Timer::Late(k), late);
            timers.set(Timer::Ping(k), Some(p.uplink.next_send));
        }
        timers
    }

    pub(crate) fn home_parent(&self) -> Option<Endpoint> {
        let p = &self.parents.get(self.home)?;
        p.uplink.up.then_some(p.uplink.addr)
    }

    pub(crate) fn parents_up(&self) -> usize {
        self.parents.iter().filter(|p| p.uplink.up).count()
    }
}
