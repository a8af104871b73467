//! The parent side of the tree, shared by routers and the MGS: it takes pings and updates from
//! children, judges their silence (DCD), merges what child routers report of their subtrees,
//! holds orders and pushes them down, and sums order progress.
//!
//! What is *not* here: a router's upward side ([`crate::router`]) and the MGS's decisions
//! ([`crate::mgs`]). Both wrap a `Hub` and drain its replies and pushes from their `poll_transmit`.

use heapless::{Deque, LinearMap, Vec};

use crate::counters::{after, Counters, ReplayWindow};
use crate::event::{Event, Events};
use crate::ids::{Name, NodeId, OrderId};
use crate::table::{Direct, Entry, Path, Reports, Slot, Table};
use crate::time::Instant;
use crate::timing::{Timing, RESENDS};
use crate::wire::{
    encoded_len, Endpoint, Header, NodeDelta, NodeState, Order, OrderProgress, PathReport, Ping, PingReply,
    ReplyStatus, Role, TargetStatus, Totals, Update, HEADER_LEN, MAX_ALTERNATES, MAX_DATAGRAM, MAX_DELTAS,
    MAX_PATHS, MAX_PROGRESS, MAX_REPLY_ORDERS, TAG_LEN,
};
use crate::wire::{
    Action, FailedClient, OrderReport, Outcome, TargetReport, TargetState, MAX_FAILED, MAX_REPORTS,
    MAX_TARGET_REPORTS,
};

/// Most orders a parent holds (and repeats) at once: one per target, a newer order for the same
/// target superseding the older. Sixteen targets can recover at once (an OSS failing over all
/// its OSTs); past that a `CloseWindow` makes room first, then the oldest order.
pub const MAX_HELD: usize = 16;
// Each held order has a slot with two bits in every child's `Reports`.
const _: () = assert!(MAX_HELD <= MAX_REPORTS && MAX_HELD <= MAX_PROGRESS && MAX_HELD <= 16);
/// Most clients a parent keeps in mind that reach it only by first contacts (see
/// [`Stranger`]); past that a newcomer is counted as overflow.
const MAX_STRANGERS: usize = 16;
const REPLY_QUEUE: usize = 64;
const EVENT_QUEUE: usize = 64;

/// An order being distributed to direct children.
#[derive(Clone, Debug)]
pub(crate) struct Held {
    pub(crate) order: Order,
    /// When it was taken here, and how old it was then ([`Order::age_ms`]): a `BeginRecovery`
    /// lapses a while after its issue (see [`Hub::lapse`]).
    taken: Instant,
    /// Its slot in the children's `Reports` (stable while held).
    slot: u8,
    /// Next table slot to push to; `None` once every child had its push.
    cursor: Option<usize>,
    /// Push rounds left for children that have not reported the order yet, and when the next
    /// one starts.
    repushes: u8,
    repush_at: Option<Instant>,
}

impl Held {
    /// The order as this holder passes it on: aged by the time it has held it.
    fn aged(&self, now: Instant) -> Order {
        let held_ms = u32::try_from(now.since(self.taken)).unwrap_or(u32::MAX);
        Order { age_ms: self.order.age_ms.saturating_add(held_ms), ..self.order.clone() }
    }
}

/// A client heard but not admitted: its first contacts reach this parent while none of the
/// addressed pings that follow the answer did, or its addressed pings reach a parent that lost
/// its table (a restart) and asks for its name, while every answer is lost (at heavy loss, for
/// a while). Nothing of such a datagram is taken into the table (a first contact could be a
/// replay, and a nameless ping makes no entry), but the client may be alive and on its way to
/// reconnect: it counts as live and not back in the order sums until it is admitted or silent
/// for a dead threshold. A replayed datagram can only keep a window open longer, never close
/// one early.
#[derive(Clone, Copy, Debug)]
struct Stranger {
    id: NodeId,
    heard: Instant,
    dead_ms: u64,
}

/// What a child router last said of its subtree as a whole.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChildRouter {
    /// Progress of the orders it holds.
    pub progress: Vec<OrderProgress, MAX_PROGRESS>,
    /// Its subtree's totals.
    pub totals: Totals,
    /// The clients of its subtree it named as failed ([`Update::failed`]).
    pub failed: Vec<FailedClient, MAX_FAILED>,
}

/// What a child says of itself in every ping or update.
#[derive(Clone, Copy)]
struct Announce<'a> {
    role: Role,
    interval_ms: u32,
    name: Option<&'a Name>,
    home: bool,
}

/// One update page: see [`Hub::page`].
pub(crate) struct Page {
    pub(crate) deltas: Vec<NodeDelta, MAX_DELTAS>,
    pub(crate) targets: Vec<TargetReport, MAX_TARGET_REPORTS>,
    pub(crate) upto: u32,
    pub(crate) more: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReplyKind {
    Accepted,
    Unknown,
    Refused,
    Stale,
    Unaddressed,
}

#[derive(Clone, Copy, Debug)]
struct PendingReply {
    to: Endpoint,
    id: NodeId,
    kind: ReplyKind,
}

#[derive(Clone, Debug)]
pub(crate) struct Hub<S, const R: usize, const T: usize> {
    pub(crate) me: NodeId,
    pub(crate) timing: Timing,
    pub(crate) table: Table<S>,
    pub(crate) alternates: Vec<Endpoint, MAX_ALTERNATES>,
    /// Change counter: every change to an entry takes the next version (and, in a router, every
    /// change to the summary it sends up). It wraps, so versions compare by serial-number
    /// arithmetic ([`after`]); [`Hub::restamp`] keeps every entry's version within a quarter of
    /// the number space behind it, where that comparison holds.
    pub(crate) version: u32,
    /// The version at the last [`Hub::restamp`].
    pub(crate) restamped: u32,
    pub(crate) held: Vec<Held, MAX_HELD>,
    pub(crate) routers: LinearMap<NodeId, ChildRouter, R>,
    pub(crate) targets: Vec<TargetReport, T>,
    /// [`Event::TargetTableFull`] was told.
    targets_full_told: bool,
    /// A target's record changed since the owner last looked ([`Hub::set_target`]): the MGS
    /// looks for restarts only then.
    pub(crate) targets_changed: bool,
    replies: Deque<PendingReply, REPLY_QUEUE>,
    strangers: Vec<Stranger, MAX_STRANGERS>,
    /// The last `BeginRecovery` orders let go here because their window ran out
    /// ([`Hub::lapse`]), newest last: not taken again when a parent hands one back.
    lapsed: Deque<OrderId, MAX_HELD>,
    /// The last stranger that found the list full, while it may be alive: someone heard and
    /// counted nowhere, so the sums are not whole ([`Hub::sums_whole`]).
    unlisted: Option<Stranger>,
    /// A client convicted on one path while another still calls it live may be counted nowhere
    /// (its home convicted it; its other parent does not count it): until its other parent's
    /// verdict (or its move there) had time to arrive, the sums are not whole.
    split_until: Option<Instant>,
    last_check: Instant,
    /// Something changed that the owner should act on (send up, re-evaluate) soon.
    pub(crate) urgent: bool,
    pub(crate) counters: Counters,
    pub(crate) events: Events<EVENT_QUEUE>,
}

impl<S: AsRef<[Slot]> + AsMut<[Slot]>, const R: usize, const T: usize> Hub<S, R, T> {
    pub(crate) fn new(me: NodeId, timing: Timing, slots: S, now: Instant) -> Self {
        Hub {
            me,
            timing,
            table: Table::new(slots),
            alternates: Vec::new(),
            version: 0,
            restamped: 0,
            held: Vec::new(),
            routers: LinearMap::new(),
            targets: Vec::new(),
            targets_full_told: false,
            targets_changed: false,
            replies: Deque::new(),
            strangers: Vec::new(),
            lapsed: Deque::new(),
            unlisted: None,
            split_until: None,
            last_check: now,
            urgent: false,
            counters: Counters::default(),
            events: Events::new(),
        }
    }

    pub(crate) fn bump(&mut self) -> u32 {
        self.version = self.version.wrapping_add(1).max(1);
        self.version
    }

    pub(crate) fn emit(&mut self, event: Event) {
        if !self.events.push(event) {
            self.counters.events_dropped += 1;
        }
    }

    fn reply(&mut self, to: Endpoint, id: NodeId, kind: ReplyKind) {
        if self.replies.push_back(PendingReply { to, id, kind }).is_err() {
            self.counters.replies_dropped += 1;
        }
    }

    // ----- inputs -------------------------------------------------------------------------

    /// A ping or update that names no receiver: a child's first contact. Answered with this
    /// parent's identity (the reply's header) and nothing else: taking anything of it (liveness,
    /// a path, a name, a report) would take it from whoever replays a first contact captured on
    /// its way to another parent. A client's `ping` that names this parent its home makes the
    /// client a [`Stranger`] until it is admitted or falls silent.
    pub(crate) fn handle_first_contact(
        &mut self,
        now: Instant,
        from: Endpoint,
        header: &Header,
        ping: Option<&Ping>,
    ) {
        let id = header.sender;
        if id == self.me {
            self.counters.unexpected += 1;
            return;
        }
        self.reply(from, id, ReplyKind::Unaddressed);
        let Some(ping) = ping.filter(|p| p.role == Role::Client && p.home) else { return };
        // Kept even while its entry counts (a client that restarted meets its parent again,
        // its old instance not yet judged): the sums count it once, from whichever is live.
        self.heard_stranger(now, id, ping.interval_ms);
    }

    /// Keeps client `id`, heard but not admitted, in mind as a [`Stranger`] for a dead
    /// threshold of its ping interval.
    fn heard_stranger(&mut self, now: Instant, id: NodeId, interval_ms: u32) {
        let dead_ms = self.timing.dead_ms(interval_ms);
        if let Some(s) = self.strangers.iter_mut().find(|s| s.id == id) {
            (s.heard, s.dead_ms) = (now, dead_ms);
            return;
        }
        let stranger = Stranger { id, heard: now, dead_ms };
        if self.strangers.push(stranger).is_err() {
            self.counters.overflow += 1;
            // Not known by name, but known to exist: until it would be dead, no sum is whole.
            if self.unlisted.is_none_or(|u| u.heard.after(u.dead_ms) <= now.after(dead_ms)) {
                self.unlisted = Some(stranger);
            }
            return;
        }
        self.urgent = true;
    }

    /// Whether the order sums cover every client this parent heard: not while a client heard
    /// but not admitted, past the list of strangers, may be alive (a dead threshold after it was
    /// last heard so). Until then a router reports no progress and the MGS closes no window.
    pub(crate) fn sums_whole(&self, now: Instant) -> bool {
        self.unlisted.is_none_or(|u| now.since(u.heard) >= u.dead_ms)
            && self.split_until.is_none_or(|t| now >= t)
    }

    /// A client's path was just convicted while another path still calls it live: it may be
    /// counted nowhere (its home convicted it, its other parent does not count it), so the sums
    /// wait until the other parent's verdict, or the client's move there, can have arrived. Both
    /// parents hear the client every `interval_ms`, so the other verdict follows within one and
    /// travels up as urgently as this one; an update interval covers its loss and the skew
    /// between the two ways up.
    fn split_verdicts(&mut self, now: Instant, interval_ms: u64) {
        let until = now.after(interval_ms + u64::from(self.timing.update_interval_ms));
        self.split_until = Some(self.split_until.map_or(until, |t| t.max(until)));
    }

    /// A ping from a child (client or server).
    pub(crate) fn handle_ping(&mut self, now: Instant, from: Endpoint, header: &Header, ping: Ping) {
        let admitted = self.admit(
            now,
            from,
            header,
            Announce {
                role: ping.role,
                interval_ms: ping.interval_ms,
                name: ping.name.as_ref(),
                home: ping.home,
            },
        );
        let Some(id) = admitted else { return };
        // Met at last: counted from its entry from now on.
        self.strangers.retain(|s| s.id != id);
        let mut changed = false;
        let held: Vec<(OrderId, u8), MAX_HELD> = self.held.iter().map(|h| (h.order.id, h.slot)).collect();
        if let Some(d) = self.table.get_mut(id).and_then(|e| e.direct.as_mut()) {
            if merge_reports(&mut d.reports, &ping.reports, &held) {
                // Progress moved: worth sending up soon, not at the next interval.
                self.urgent = true;
            }
        }
        if let Some(status) = ping.target {
            changed = self.set_target(id, status);
        }
        if ping.name.is_some() {
            if let Some(e) = self.table.get_mut(id).filter(|e| e.mounts != ping.mounts) {
                e.mounts = ping.mounts;
                self.urgent = true;
                changed = true;
            }
        }
        if changed {
            let v = self.bump();
            if let Some(e) = self.table.get_mut(id) {
                e.changed = v;
            }
        }
    }

    /// An update (and implicit ping) from a child router.
    pub(crate) fn handle_update(&mut self, now: Instant, from: Endpoint, header: &Header, update: Update) {
        // How far this generation of the router had got before this datagram.
        let newest = (self.table.get(header.sender))
            .filter(|e| e.generation == header.generation)
            .and_then(|e| e.direct.as_ref())
            .map(|d| d.replay.highest());
        let Some(id) = self.admit(
            now,
            from,
            header,
            Announce {
                role: Role::Router,
                interval_ms: update.interval_ms,
                name: update.name.as_ref(),
                home: true,
            },
        ) else {
            return;
        };
        if newest.is_some_and(|n| after(n, header.sequence)) {
            // Overtaken by a newer update: its summary is stale, and its page would be too (a
            // late snapshot page would even restart a resync and sweep what came since). Only
            // its liveness counts.
            self.counters.out_of_order += 1;
            return;
        }
        let summary = ChildRouter { progress: update.progress, totals: update.totals, failed: update.failed };
        if self.routers.get(&id) != Some(&summary) {
            self.urgent = true;
            if self.routers.insert(id, summary).is_err() {
                self.counters.overflow += 1;
            }
        }
        if update.base == 0 {
            self.begin_resync(id);
        }
        let Some(applied) = self.table.get(id).and_then(|e| e.direct.as_ref()).map(|d| d.applied) else {
            return;
        };
        if update.base != applied {
            self.counters.out_of_order += 1;
            return;
        }
        for delta in update.deltas {
            self.apply_delta(id, delta, now);
        }
        for report in update.targets {
            self.set_target(report.server, report.status);
        }
        let mut finished_resync = false;
        if let Some(d) = self.table.get_mut(id).and_then(|e| e.direct.as_mut()) {
            d.applied = update.upto;
            if d.resync && !update.more {
                d.resync = false;
                finished_resync = true;
            }
        }
        if finished_resync {
            self.sweep_stale(id);
        }
    }

    /// Admits a datagram from a direct child: authenticates its place (generation, replay,
    /// capacity), refreshes its liveness and queues the reply. `None`: dropped or refused.
    fn admit(
        &mut self,
        now: Instant,
        from: Endpoint,
        header: &Header,
        announce: Announce<'_>,
    ) -> Option<NodeId> {
        let Announce { role, interval_ms, name, home } = announce;
        let id = header.sender;
        if id == self.me {
            self.counters.unexpected += 1;
            return None;
        }
        let me = self.me;
        let Some(entry) = self.table.get_mut(id) else {
            return self.admit_new(now, from, header, announce);
        };
        let given_up = !entry.best_state().is_some_and(NodeState::is_live);
        // A node whose generation went backwards (a lost state file, a clock behind, a random
        // draw) is told so, given up or not, and takes one above: taken back as it was, it
        // would be an older instance to every ancestor that saw the newer one through us.
        if header.generation < entry.generation {
            self.counters.stale_generation += 1;
            self.reply(from, id, ReplyKind::Stale);
            return None;
        }
        let mut rebooted = header.generation != entry.generation;
        if let Some(n) = name {
            if entry.name.is_empty() {
                entry.name = n.clone();
            } else if *n != entry.name {
                let event = Event::IdCollision { id, kept: entry.name.clone(), ignored: n.clone() };
                self.counters.unexpected += 1;
                self.emit(event);
                self.reply(from, id, ReplyKind::Refused);
                return None;
            }
        }
        if entry.direct.is_none() {
            // Known so far only through a child router: the node now pings us too.
            entry.direct = Some(new_direct(from, now, interval_ms, home));
        }
        let d = entry.direct.as_mut()?;
        if rebooted {
            *d = new_direct(from, now, interval_ms, home);
        }
        if !d.replay.accept(header.sequence) {
            if !given_up {
                self.counters.replayed += 1;
                return None;
            }
            // The same generation starting its sequence over, after the node was given up: an
            // instance that booted with the same generation (a wiped state file, as the first
            // boot had). Taken back like a smaller generation would be.
            *d = new_direct(from, now, interval_ms, home);
            d.replay.accept(header.sequence);
            rebooted = true;
        }
        d.addr = from;
        d.last_heard = now;
        d.interval_ms = interval_ms;
        // Whether the child counts here is what its newest datagram says: an older one overtaken
        // on the way (reordered, duplicated late) may say what the child no longer does, and
        // taken, would count here a child that moved its home to its other parent.
        let home_changed = d.replay.highest() == header.sequence && d.home != home;
        if home_changed {
            d.home = home;
        }
        entry.role = role;
        entry.generation = header.generation;
        let mut changed = rebooted;
        match entry.direct_path_mut(me) {
            Some(p) if p.state == NodeState::Alive => {}
            Some(p) => {
                p.state = NodeState::Alive;
                p.silent_ms = 0;
                p.at = now;
                changed = true;
            }
            None => {
                let path = direct_path(me, id, now);
                if entry.paths.is_full() {
                    // Two paths already: the one through us is the one we are sure of.
                    entry.paths.pop();
                }
                let _ = entry.paths.push(path);
                changed = true;
            }
        }
        if changed {
            let v = self.bump();
            if let Some(e) = self.table.get_mut(id) {
                e.changed = v;
            }
            self.urgent = true;
            self.emit(if rebooted {
                Event::ChildRebooted { id, generation: header.generation }
            } else {
                Event::ChildState { id, state: NodeState::Alive }
            });
        }
        if home_changed {
            self.urgent = true;
        }
        self.reply(from, id, ReplyKind::Accepted);
        Some(id)
    }

    fn admit_new(
        &mut self,
        now: Instant,
        from: Endpoint,
        header: &Header,
        announce: Announce<'_>,
    ) -> Option<NodeId> {
        let Announce { role, interval_ms, name, home } = announce;
        let id = header.sender;
        let Some(name) = name else {
            // We lost it (or it lost us): ask for its name. A client that calls us home is alive
            // meanwhile, and not back as far as we know: a stranger until it is admitted.
            if role == Role::Client && home {
                self.heard_stranger(now, id, interval_ms);
            }
            self.reply(from, id, ReplyKind::Unknown);
            return None;
        };
        if self.table.is_full() && !self.reclaim_dead() {
            self.counters.refused += 1;
            self.emit(Event::TableFull { id });
            self.reply(from, id, ReplyKind::Refused);
            return None;
        }
        let v = self.bump();
        let mut entry = Entry::new(id, name.clone(), role, header.generation);
        entry.changed = v;
        entry.created = v;
        let _ = entry.paths.push(direct_path(self.me, id, now));
        let mut direct = new_direct(from, now, interval_ms, home);
        direct.replay.accept(header.sequence);
        entry.direct = Some(direct);
        if self.table.insert(entry).is_err() {
            self.counters.overflow += 1;
            return None;
        }
        self.urgent = true;
        self.emit(Event::ChildJoined { id, role });
        self.reply(from, id, ReplyKind::Accepted);
        Some(id)
    }

    /// Makes room in a full table: forgets the client or server dead the longest (the one whose
    /// entry changed least recently). Routers are kept (paths run through them), and so is every
    /// node that may be alive (suspect, or unreachable behind a partition): a flood of newcomers
    /// can only take the places of the dead. False when none is dead.
    fn reclaim_dead(&mut self) -> bool {
        let dead = (self.table.iter())
            .filter(|e| e.role != Role::Router && e.best_state().is_none_or(|s| s == NodeState::Dead))
            .min_by_key(|e| e.changed)
            .map(|e| e.id);
        let Some(id) = dead else { return false };
        self.table.remove(id);
        self.counters.reclaimed += 1;
        true
    }

    /// A snapshot from child router `via` begins: what it told before is stale until repeated.
    fn begin_resync(&mut self, via: NodeId) {
        for e in self.table.iter_mut() {
            if e.id == via {
                if let Some(d) = e.direct.as_mut() {
                    d.resync = true;
                    d.applied = 0;
                }
                continue;
            }
            for p in e.paths.iter_mut().filter(|p| p.via == via) {
                p.stale = true;
            }
        }
    }

    /// The snapshot from `via` is complete: drop every path it did not repeat.
    fn sweep_stale(&mut self, via: NodeId) {
        let mut version = self.version;
        let mut swept = false;
        for e in self.table.iter_mut() {
            if e.paths.iter().any(|p| p.stale && p.via == via) {
                e.paths.retain(|p| !(p.stale && p.via == via));
                version = version.wrapping_add(1).max(1);
                e.changed = version;
                swept = true;
            }
        }
        self.version = version;
        self.urgent |= swept;
    }

    fn apply_delta(&mut self, via: NodeId, delta: NodeDelta, now: Instant) {
        if delta.id == self.me || delta.id == via {
            self.counters.unexpected += 1;
            return;
        }
        let me = self.me;
        let v = self.bump();
        if self.table.get(delta.id).is_none() {
            if delta.paths.is_empty() {
                return;
            }
            // A full table makes room for a node that may be alive, not for another dead one.
            let live = delta.paths.iter().any(|p| p.state != NodeState::Dead);
            if self.table.is_full() && !(live && self.reclaim_dead()) {
                self.counters.overflow += 1;
                return;
            }
            let name = delta.name.clone().unwrap_or_default();
            let mut entry = Entry::new(delta.id, name, delta.role, delta.generation);
            entry.created = v;
            if self.table.insert(entry).is_err() {
                self.counters.overflow += 1;
                return;
            }
        }
        let Some(e) = self.table.get_mut(delta.id) else {
            return;
        };
        // The greater generation wins while another path hears the node too (its parent there
        // answers `Stale` to a node whose generation went backwards, and it takes one above). A
        // smaller one from the only path is the node as it runs: its parent, restarted, had
        // nothing to correct it with.
        let heard_elsewhere = e.paths.iter().any(|p| p.via != via && p.state.is_live());
        e.generation = if heard_elsewhere { e.generation.max(delta.generation) } else { delta.generation };
        e.role = delta.role;
        e.mounts = delta.mounts;
        let mut collision = None;
        if let Some(n) = delta.name {
            if e.name.is_empty() {
                e.name = n;
            } else if n != e.name {
                collision = Some(Event::IdCollision { id: e.id, kept: e.name.clone(), ignored: n });
            }
        }
        let was_live: Vec<NodeId, MAX_PATHS> =
            e.paths.iter().filter(|p| p.via == via && p.state.is_live()).map(|p| p.parent).collect();
        e.paths.retain(|p| p.via != via);
        let mut overflow = 0;
        for p in delta.paths.iter().filter(|p| p.parent != me) {
            let path =
                Path { parent: p.parent, via, state: p.state, silent_ms: p.silent_ms, at: now, stale: false };
            if e.paths.push(path).is_err() {
                overflow += 1;
            }
        }
        e.changed = v;
        let convicted = (e.paths.iter())
            .find(|p| p.via == via && !p.state.is_live() && was_live.contains(&p.parent))
            .filter(|c| {
                e.role == Role::Client && e.paths.iter().any(|p| p.parent != c.parent && p.state.is_live())
            })
            .map(|c| u64::from(c.silent_ms) / u64::from(self.timing.dead_after.max(1)));
        self.counters.overflow += overflow;
        if let Some(interval_ms) = convicted {
            self.split_verdicts(now, interval_ms);
        }
        if let Some(event) = collision {
            self.counters.unexpected += 1;
            self.emit(event);
        }
        self.urgent = true;
    }

    /// Records a target's status; true if it changed. A failover pair has two servers that
    /// report one target, and the one where it is not mounted reports it down: that report
    /// never hides the other server's (up or recovering), or the record would flip between the
    /// two at every ping. The partner takes the record over once it reports the target mounted.
    /// A full table keeps what it has and refuses a new target: counted, and told once.
    fn set_target(&mut self, server: NodeId, status: TargetStatus) -> bool {
        let record = TargetReport { server, status };
        // Names are unique in the table: the record its server holds is the target's, if it
        // names it (the common case, found by id alone: the table may hold a thousand targets,
        // each reported at every ping of its server).
        let same = |t: &TargetReport| t.status.target == record.status.target;
        let k = (self.targets.iter().position(|t| t.server == server && same(t)))
            .or_else(|| self.targets.iter().position(same));
        match k.map(|k| &mut self.targets[k]) {
            Some(t) if *t == record => false,
            Some(t)
                if t.server != server
                    && record.status.state == TargetState::Down
                    && t.status.state != TargetState::Down =>
            {
                false
            }
            Some(t) => {
                *t = record;
                self.urgent = true;
                self.targets_changed = true;
                true
            }
            None => {
                if let Err(record) = self.targets.push(record) {
                    self.counters.targets_refused += 1;
                    if !self.targets_full_told {
                        self.targets_full_told = true;
                        self.emit(Event::TargetTableFull { server, target: record.status.target });
                    }
                    return false;
                }
                self.urgent = true;
                self.targets_changed = true;
                true
            }
        }
    }

    /// The orders held for the direct children.
    pub(crate) fn held_orders(&self) -> impl Iterator<Item = &Order> + '_ {
        self.held.iter().map(|h| &h.order)
    }

    /// Whether an order is held.
    pub(crate) fn holds(&self, id: OrderId) -> bool {
        self.held.iter().any(|h| h.order.id == id)
    }

    /// Holds an order for the direct children: pushes it now and repeats it in replies until
    /// each child reports it. Returns false for a repeat or an order older than one held.
    pub(crate) fn hold(&mut self, now: Instant, order: Order) -> bool {
        let target = order.action.target().clone();
        // One order per target and holder: a holder's newer order replaces its older one; another
        // holder's orders are neither newer nor older (their ids are not ranked across holders),
        // so a stopped or cut-off holder's last order never blocks or undoes a running one's.
        let same = |h: &Held| *h.order.action.target() == target && h.order.id.mgs == order.id.mgs;
        if self.held.iter().any(|h| same(h) && h.order.id.supersedes(&order.id)) {
            return false;
        }
        // A recovery is one per (target, instance), whichever holder orders it: a `CloseWindow`
        // of a known instance from one holder ends the other holders' `BeginRecovery` of it, or
        // of an older instance, here too, and one of theirs that comes after it is stale (a
        // holder stopped or cut off mid-recovery would otherwise leave its own held for good,
        // handed to every child that joins later). Instance 0 (an admin's, unknown) names no one
        // recovery. A holder's own orders replace each other as above.
        let ends = |close: &Order, begin: &Order| {
            let (closed, begun) = (close.action.target_generation().0, begin.action.target_generation().0);
            closed != 0
                && begun != 0
                && begun <= closed
                && close.id.mgs != begin.id.mgs
                && matches!(close.action, Action::CloseWindow { .. })
                && matches!(begin.action, Action::BeginRecovery { .. })
                && *close.action.target() == *begin.action.target()
        };
        if self.held.iter().any(|h| ends(&h.order, &order)) {
            return false;
        }
        // Its window ran out here already. Every holder times the window from the order's
        // issue, but judges it at its own checks (and the age it was given leaves out the time
        // in flight), so a parent can still hold the order, and hand it back to a child that no
        // longer reports it, a little after the child let it go.
        if self.lapsed.iter().any(|id| *id == order.id) {
            return false;
        }
        // Taken late (this node rebooted mid-recovery, or was cut off): its window ran out
        // already where it was issued, and does here too.
        if self.ran_out(&order, 0) {
            self.let_lapse(&order);
            return false;
        }
        let ended = |h: &Held| ends(&order, &h.order);
        self.held.retain(|h| !same(h) && !ended(h));
        if self.held.is_full() {
            // Make room: the oldest `CloseWindow` that every child has, else the oldest
            // `CloseWindow` (its recovery is over but for the server's hook), else the oldest
            // order (a recovery's progress is summed over held orders only).
            let rank = |h: &Held| match h.order.action {
                Action::CloseWindow { .. } if !self.anyone_needs(&h.order) => 0,
                Action::CloseWindow { .. } => 1,
                _ => 2,
            };
            if let Some(oldest) =
                (0..self.held.len()).min_by_key(|&i| (rank(&self.held[i]), self.held[i].order.id))
            {
                self.held.remove(oldest);
                self.counters.overflow += 1;
            }
        }
        // A free slot (there is one: at most MAX_HELD - 1 are held here), cleared of the
        // reports on the order that had it before.
        let slot = (0..MAX_HELD as u8).find(|k| self.held.iter().all(|h| h.slot != *k)).unwrap_or(0);
        for d in self.table.iter_mut().filter_map(|e| e.direct.as_mut()) {
            d.reports.set(slot, None);
        }
        let _ = self.held.push(Held {
            order,
            taken: now,
            slot,
            cursor: Some(0),
            repushes: RESENDS,
            repush_at: None,
        });
        self.urgent = true;
        true
    }

    /// Judges the silence of direct children. Call at [`Hub::next_check`].
    pub(crate) fn check(&mut self, now: Instant) {
        self.restamp();
        self.lapse(now);
        let late = now.since(self.last_check);
        self.last_check = now;
        let stall_ms = 2 * u64::from(self.timing.ping_interval_ms.max(self.timing.update_interval_ms));
        if late > stall_ms {
            // Our own loop was late: the silence we see is ours, not the children's. Only the
            // live get a fresh start: a child already judged dead stays dead until it is heard.
            self.counters.stalls += 1;
            self.emit(Event::Stalled { late_ms: late });
            let me = self.me;
            for e in self.table.iter_mut() {
                let live = direct_state(me, e).is_some_and(NodeState::is_live);
                if let (true, Some(d)) = (live, e.direct.as_mut()) {
                    d.last_heard = d.last_heard.max(now);
                }
            }
            for s in self.strangers.iter_mut().chain(self.unlisted.as_mut()) {
                s.heard = s.heard.max(now);
            }
            return;
        }
        if self.unlisted.is_some() && self.sums_whole(now) {
            // Whole again: progress held back goes up.
            self.unlisted = None;
            self.urgent = true;
        }
        let strangers = self.strangers.len();
        self.strangers.retain(|s| now.since(s.heard) < s.dead_ms);
        if self.strangers.len() != strangers {
            self.urgent = true;
        }
        // A partition silences children together, but they cross the dead threshold over one
        // interval (their ping phases differ): the cohort is everyone silent that long, those
        // already judged unreachable included.
        let me = self.me;
        let timing = self.timing;
        let (mut population, mut cohort, mut dying) = (0u32, 0u32, 0u32);
        for e in self.table.iter() {
            let (Some(d), Some(state)) = (&e.direct, direct_state(me, e)) else { continue };
            if state == NodeState::Dead {
                continue;
            }
            population += 1;
            let silent = now.since(d.last_heard);
            let dead_ms = timing.dead_ms(d.interval_ms);
            // Half an interval of slack: a ping's phase and the check's own period blur the edge.
            if silent + u64::from(d.interval_ms) * 3 / 2 >= dead_ms {
                cohort += 1;
            }
            if state.is_live() && silent >= dead_ms {
                dying += 1;
            }
        }
        let mass = dying > 0
            && cohort >= timing.mass_silence_min
            && u64::from(cohort) * 100 > u64::from(population) * u64::from(timing.mass_silence_percent);
        if mass {
            self.emit(Event::MassSilence { count: cohort });
        }
        let mut version = self.version;
        let mut verdicts: Vec<(NodeId, NodeState), 16> = Vec::new();
        let mut more_verdicts = 0u32;
        let mut split_interval_ms = None;
        for e in self.table.iter_mut() {
            let id = e.id;
            let Some(d) = e.direct.as_ref() else { continue };
            let silent = now.since(d.last_heard);
            let interval = d.interval_ms;
            let live_elsewhere =
                e.role == Role::Client && e.paths.iter().any(|p| p.parent != me && p.state.is_live());
            let Some(p) = e.direct_path_mut(me) else {
                continue;
            };
            let verdict = if silent >= timing.dead_ms(interval) {
                match p.state {
                    NodeState::Alive | NodeState::Suspect if mass => NodeState::Unreachable,
                    NodeState::Alive | NodeState::Suspect => NodeState::Dead,
                    other => other,
                }
            } else if silent >= timing.suspect_ms(interval) && p.state.is_live() {
                // Silence only worsens a verdict: a dead child comes back by being heard.
                NodeState::Suspect
            } else {
                p.state
            };
            if verdict != p.state {
                if live_elsewhere && p.state.is_live() && !verdict.is_live() {
                    split_interval_ms = split_interval_ms.max(Some(u64::from(interval)));
                }
                p.state = verdict;
                p.silent_ms = u32::try_from(silent).unwrap_or(u32::MAX);
                p.at = now;
                version = version.wrapping_add(1).max(1);
                e.changed = version;
                if verdicts.push((id, verdict)).is_err() {
                    more_verdicts += 1;
                }
            }
        }
        self.version = version;
        if let Some(interval_ms) = split_interval_ms {
            self.split_verdicts(now, interval_ms);
        }
        for (id, state) in verdicts {
            self.urgent |= !state.is_live();
            self.emit(Event::ChildState { id, state });
        }
        if more_verdicts > 0 {
            // Too many to list one by one this round: the totals carry them.
            self.urgent = true;
        }
    }

    /// Lets go of every `BeginRecovery` whose target's own window must have run out: held for
    /// the window its holder gave ([`Action::BeginRecovery`]'s `window_ms`; 0: unknown, held until
    /// superseded) and a server's dead threshold more. Its target came up by then, heard or not,
    /// and the order must not reach clients that join or reboot later. A holder that is running
    /// and sees the target supersedes it sooner with a `CloseWindow`; this ends it where none
    /// will: its holder stopped for good or restarted knowing nothing of it, and no other holder
    /// sees the target to close the instance. A lapsed order is remembered
    /// ([`Hub::hold`] does not take it again) and told ([`Event::OrderLapsed`]).
    fn lapse(&mut self, now: Instant) {
        while let Some(i) = self.held.iter().position(|h| self.ran_out(&h.order, now.since(h.taken))) {
            let order = self.held.remove(i).order;
            self.let_lapse(&order);
        }
    }

    /// Whether `order`, held `ms` here, is a `BeginRecovery` whose window and grace ran out
    /// since its issue ([`Hub::lapse`]).
    fn ran_out(&self, order: &Order, ms: u64) -> bool {
        let grace = self.timing.dead_ms(self.timing.ping_interval_ms);
        match order.action {
            Action::BeginRecovery { window_ms, .. } if window_ms != 0 => {
                u64::from(order.age_ms).saturating_add(ms) >= u64::from(window_ms).saturating_add(grace)
            }
            _ => false,
        }
    }

    /// Remembers a lapsed order (never taken again) and tells so.
    fn let_lapse(&mut self, order: &Order) {
        if self.lapsed.is_full() {
            self.lapsed.pop_front();
        }
        let _ = self.lapsed.push_back(order.id);
        let (target, target_generation) = (order.action.target().clone(), order.action.target_generation());
        self.counters.orders_lapsed += 1;
        self.emit(Event::OrderLapsed { order: order.id, target, target_generation });
        self.urgent = true;
    }

    /// Gives a fresh version to every entry whose version fell a quarter of the number space
    /// behind the counter, so that no version is ever half the space behind (where it would read
    /// as ahead). Such an entry goes up once more: one delta per node per 2³⁰ changes. A pass
    /// over the table once per 2²⁸ changes.
    fn restamp(&mut self) {
        if self.version.wrapping_sub(self.restamped) < 1 << 28 {
            return;
        }
        let mut version = self.version;
        for e in self.table.iter_mut() {
            if version.wrapping_sub(e.changed) >= 1 << 30 {
                version = version.wrapping_add(1).max(1);
                e.changed = version;
            }
            if version.wrapping_sub(e.created) >= 1 << 30 {
                // Created long ago, so long known upstream; a name sent once more costs bytes only.
                e.created = e.changed;
            }
        }
        self.version = version;
        self.restamped = version;
    }

    pub(crate) fn next_check(&self) -> Instant {
        self.last_check.after(self.timing.check_ms())
    }

    // ----- outputs ------------------------------------------------------------------------

    /// The next reply to send, built from the current state: where, to which child, what.
    pub(crate) fn poll_reply(&mut self, now: Instant) -> Option<(Endpoint, NodeId, PingReply)> {
        let pending = self.replies.pop_front()?;
        Some((pending.to, pending.id, self.build_reply(pending, now)))
    }

    fn build_reply(&self, pending: PendingReply, now: Instant) -> PingReply {
        let mut reply = PingReply {
            interval_ms: self.timing.ping_interval_ms,
            status: ReplyStatus::Unknown,
            ack: 0,
            orders: Vec::new(),
        };
        match pending.kind {
            ReplyKind::Unknown => return reply,
            ReplyKind::Unaddressed => {
                reply.status = ReplyStatus::Unaddressed;
                return reply;
            }
            ReplyKind::Refused => {
                reply.status = ReplyStatus::Refused { alternates: self.alternates.clone() };
                return reply;
            }
            ReplyKind::Accepted | ReplyKind::Stale => {}
        }
        let Some(entry) = self.table.get(pending.id) else {
            return reply;
        };
        if let ReplyKind::Stale = pending.kind {
            reply.status = ReplyStatus::Stale { newest: entry.generation };
            return reply;
        }
        let Some(d) = &entry.direct else { return reply };
        reply.status = ReplyStatus::Accepted;
        reply.ack = if entry.role == Role::Router { d.applied } else { d.replay.highest() };
        if entry.role == Role::Router {
            reply.interval_ms = self.timing.update_interval_ms;
        }
        // Orders the child has not reported first, then those whose outcome it still owes;
        // newest first within each.
        let mut wanted: Vec<(bool, &Held), MAX_HELD> = (self.held.iter())
            .filter_map(|h| {
                let needs = self.child_needs(entry, &h.order);
                (needs || owes_outcome(entry, h)).then_some((needs, h))
            })
            .collect();
        wanted.sort_unstable_by_key(|&(needs, h)| core::cmp::Reverse((needs, h.order.id)));
        // As many as the datagram holds: two orders naming many dead clients and their mounts
        // do not fit together; the second then comes in a later reply.
        let room = MAX_DATAGRAM - HEADER_LEN - TAG_LEN;
        for (_, h) in wanted.into_iter().take(MAX_REPLY_ORDERS) {
            let order = h.aged(now);
            if encoded_len(&reply) + encoded_len(&order) > room {
                break;
            }
            let _ = reply.orders.push(order);
        }
        reply
    }

    /// Whether a child still needs an order: one its role acts on or relays, not yet reported.
    /// Clients get no `CloseWindow` and servers no `BeginRecovery`: a report they would spend on
    /// it could push out one that a recovery still waits for.
    fn child_needs(&self, e: &Entry, order: &Order) -> bool {
        let relevant = match (e.role, &order.action) {
            (Role::Router, _) => true,
            (Role::Client, action) => matches!(action, Action::BeginRecovery { .. }),
            (Role::Server, action) => matches!(action, Action::CloseWindow { .. }),
        };
        relevant && !self.child_has(e, order.id)
    }

    /// Whether a live direct child still needs an order.
    fn anyone_needs(&self, order: &Order) -> bool {
        (self.table.iter())
            .filter(|e| e.direct.is_some() && direct_state(self.me, e).is_some_and(NodeState::is_live))
            .any(|e| self.child_needs(e, order))
    }

    /// Whether a child reported an order (so it needs no more repeats). A child router counts
    /// only while it is live here: one that went silent no longer covers its subtree, whatever
    /// it last said.
    fn child_has(&self, e: &Entry, order: OrderId) -> bool {
        if e.role == Role::Router {
            self.router_summary(e.id).is_some_and(|r| r.progress.iter().any(|p| p.order == order))
        } else {
            self.report(e, order).is_some()
        }
    }

    /// What a direct client or server child reported on a held order.
    fn report(&self, e: &Entry, order: OrderId) -> Option<Outcome> {
        let slot = self.held.iter().find(|h| h.order.id == order)?.slot;
        e.direct.as_ref()?.reports.get(slot)
    }

    /// The next order push to a live direct child that still needs it. A round walks the whole
    /// table; `RESENDS` more rounds follow, `resend_ms` and then doubling waits apart, for
    /// children that have not reported the order yet (a lost push then costs `resend_ms`, not a
    /// ping interval).
    pub(crate) fn poll_push(&mut self, now: Instant) -> Option<(Endpoint, NodeId, Order)> {
        for k in 0..self.held.len() {
            if self.held[k].cursor.is_none() && self.held[k].repush_at.is_some_and(|t| t <= now) {
                self.held[k].repush_at = None;
                self.held[k].cursor = Some(0);
            }
            while let Some(i) = self.held[k].cursor {
                if i >= self.table.slot_count() {
                    let h = &mut self.held[k];
                    h.cursor = None;
                    if h.repushes > 0 {
                        h.repush_at = Some(now.after(self.timing.resend_wait_ms(h.repushes)));
                        h.repushes -= 1;
                    }
                    break;
                }
                self.held[k].cursor = Some(i + 1);
                let Some(e) = self.table.at(i) else { continue };
                let Some(d) = &e.direct else { continue };
                let live = direct_state(self.me, e).is_some_and(NodeState::is_live);
                if live && self.child_needs(e, &self.held[k].order) {
                    return Some((d.addr, e.id, self.held[k].aged(now)));
                }
            }
        }
        None
    }

    /// When the next round of re-pushes is due.
    pub(crate) fn next_repush(&self) -> Option<Instant> {
        self.held.iter().filter_map(|h| h.repush_at).min()
    }

    // ----- views --------------------------------------------------------------------------

    /// Progress of an order in this hub's subtree: its home client children plus what child
    /// routers last reported.
    pub(crate) fn progress(&self, order: OrderId) -> OrderProgress {
        let mut sum = OrderProgress { order, ..OrderProgress::default() };
        for e in self.table.iter().filter(|e| e.role == Role::Client) {
            if !counted_home(self.me, e) {
                continue;
            }
            sum.live += 1;
            if let Some(outcome) = self.report(e, order) {
                sum.applied += 1;
                match outcome {
                    Outcome::Reconnected => sum.reconnected += 1,
                    Outcome::Failed => sum.failed += 1,
                    Outcome::Applied => {}
                }
            }
        }
        // Clients heard but not admitted: alive, and not back as far as we know. One whose
        // entry counts above (its old instance, not yet judged dead) is not counted twice.
        let strangers =
            self.strangers.iter().filter(|s| !self.table.get(s.id).is_some_and(|e| counted_home(self.me, e)));
        sum.live += strangers.count() as u32;
        for (&id, _) in self.routers.iter() {
            let summary = self.router_summary(id);
            if let Some(p) = summary.and_then(|r| r.progress.iter().find(|p| p.order == order)) {
                sum.add(p);
            }
        }
        sum
    }

    /// The clients of this hub's subtree whose reconnection for `order` failed on every try,
    /// as far as they are named: its home client children that report it failed, then those
    /// its live child routers named. Exactly the clients [`Hub::progress`] counts as failed
    /// when no child router had more than [`MAX_FAILED`] to name.
    pub(crate) fn failed_clients(&self, order: OrderId) -> impl Iterator<Item = NodeId> + '_ {
        let direct = (self.table.iter())
            .filter(move |e| e.role == Role::Client && counted_home(self.me, e))
            .filter(move |e| self.report(e, order) == Some(Outcome::Failed))
            .map(|e| e.id);
        let below = (self.routers.keys())
            .filter_map(|&id| self.router_summary(id))
            .flat_map(|r| r.failed.iter())
            .filter(move |f| f.order == order)
            .map(|f| f.client);
        direct.chain(below)
    }

    /// What a child router last said of its subtree, while it is live here (a silent router's
    /// last word is frozen: its subtree is not covered).
    fn router_summary(&self, id: NodeId) -> Option<&ChildRouter> {
        let live =
            self.table.get(id).is_some_and(|e| direct_state(self.me, e).is_some_and(NodeState::is_live));
        self.routers.get(&id).filter(|_| live)
    }

    /// Whether every child router reported holding the order (so the sum covers its subtree).
    pub(crate) fn all_routers_hold(&self, order: OrderId) -> bool {
        self.routers_lacking(order).next().is_none()
    }

    /// The child routers that have not reported holding the order (down, partitioned, or
    /// themselves waiting for one of theirs): the subtrees a sum over it does not cover yet.
    pub(crate) fn routers_lacking(&self, order: OrderId) -> impl Iterator<Item = NodeId> + '_ {
        (self.table.iter())
            .filter(move |e| e.role == Role::Router && e.direct.is_some() && !self.child_has(e, order))
            .map(|e| e.id)
    }

    /// Node counts per state over the whole table, by each node's best path.
    pub(crate) fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for e in self.table.iter() {
            match e.best_state() {
                Some(NodeState::Alive) => t.alive += 1,
                Some(NodeState::Suspect) => t.suspect += 1,
                Some(NodeState::Unreachable) => t.unreachable += 1,
                Some(NodeState::Dead) | None => t.dead += 1,
            }
        }
        t
    }

    /// One page of changes after `base`: the oldest changes first, as many as fit `room` bytes,
    /// each server's delta with its target's status. Returns the page (deltas and target
    /// reports), the version it brings the parent to, and whether more remain.
    ///
    /// Names go with entries created after `base`, and with every entry while the parent is
    /// rebuilding from a snapshot (`names`).
    pub(crate) fn page(&self, base: u32, room: usize, names: bool, now: Instant) -> Page {
        // The MAX_DELTAS oldest changes after base (a max-heap keeps the smallest). Versions
        // wrap: they are ordered by their distance from base, or for a snapshot from a point
        // behind every entry's version (see `restamp`).
        let origin = if base == 0 { self.version.wrapping_sub(1 << 31) } else { base };
        let newer = |v: u32| base == 0 || after(v, base);
        let mut oldest: heapless::BinaryHeap<(u32, NodeId), heapless::binary_heap::Max, MAX_DELTAS> =
            heapless::BinaryHeap::new();
        let mut capped = false;
        for e in self.table.iter().filter(|e| newer(e.changed)) {
            let key = (e.changed.wrapping_sub(origin), e.id);
            if oldest.len() < MAX_DELTAS {
                let _ = oldest.push(key);
            } else if oldest.peek().is_some_and(|top| key < *top) {
                let _ = oldest.pop();
                let _ = oldest.push(key);
                capped = true;
            } else {
                capped = true;
            }
        }
        let mut order: Vec<(u32, NodeId), MAX_DELTAS> = oldest.into_vec();
        order.sort_unstable();
        let mut page = Page { deltas: Vec::new(), targets: Vec::new(), upto: base, more: true };
        let mut used = 0;
        for (_, id) in order.iter().copied() {
            let Some(e) = self.table.get(id) else {
                continue;
            };
            let changed = e.changed;
            let delta = self.delta(e, names || newer(e.created), now);
            let target = self.targets.iter().find(|t| t.server == e.id);
            let len = encoded_len(&delta) + target.map_or(0, encoded_len);
            if used + len > room || page.deltas.is_full() || (target.is_some() && page.targets.is_full()) {
                return page;
            }
            used += len;
            let _ = page.deltas.push(delta);
            if let Some(t) = target {
                let _ = page.targets.push(t.clone());
            }
            page.upto = changed;
        }
        if !capped {
            page.upto = self.version;
            page.more = false;
        }
        page
    }

    fn delta(&self, e: &Entry, with_name: bool, now: Instant) -> NodeDelta {
        let mut paths = Vec::new();
        for p in &e.paths {
            let silent_ms = u32::try_from(p.silent_ms(now)).unwrap_or(u32::MAX);
            let _ = paths.push(PathReport { parent: p.parent, state: p.state, silent_ms });
        }
        NodeDelta {
            id: e.id,
            generation: e.generation,
            role: e.role,
            name: with_name.then(|| e.name.clone()),
            paths,
            mounts: e.mounts.clone(),
        }
    }
}

/// Whether a client reported applying a recovery order but not yet how its reconnect went. Its
/// replies keep repeating the order, so a client whose final report was lost sends it again.
fn owes_outcome(e: &Entry, held: &Held) -> bool {
    e.role == Role::Client
        && matches!(held.order.action, Action::BeginRecovery { .. })
        && e.direct.as_ref().is_some_and(|d| d.reports.get(held.slot) == Some(Outcome::Applied))
}

/// Merges a ping's reports into what a parent keeps of its child, for the orders it holds
/// (`(order, slot)`): a report absent from the ping stays (a child sends each change a few times,
/// not forever); a final outcome never goes back to `Applied` (an older ping overtaken by a newer
/// one). Returns whether anything changed.
fn merge_reports(kept: &mut Reports, ping: &[OrderReport], held: &[(OrderId, u8)]) -> bool {
    let mut changed = false;
    for r in ping {
        let Some(&(_, slot)) = held.iter().find(|(id, _)| *id == r.order) else { continue };
        match kept.get(slot) {
            Some(k) if k == r.outcome || r.outcome == Outcome::Applied => {}
            _ => {
                kept.set(slot, Some(r.outcome));
                changed = true;
            }
        }
    }
    changed
}

fn new_direct(addr: Endpoint, now: Instant, interval_ms: u32, home: bool) -> Direct {
    Direct {
        addr,
        last_heard: now,
        interval_ms,
        home,
        reports: Reports::default(),
        applied: 0,
        resync: false,
        replay: ReplayWindow::default(),
    }
}

fn direct_path(me: NodeId, id: NodeId, now: Instant) -> Path {
    Path { parent: me, via: id, state: NodeState::Alive, silent_ms: 0, at: now, stale: false }
}

/// The verdict of the path through which `me` hears `e` directly.
pub(crate) fn direct_state(me: NodeId, e: &Entry) -> Option<NodeState> {
    e.paths.iter().find(|p| p.parent == me && p.via == e.id).map(|p| p.state)
}

/// Whether this parent counts the child in its order sums: a live direct child that calls it
/// home (a stranger is counted only while this is false, so never twice).
fn counted_home(me: NodeId, e: &Entry) -> bool {
    e.direct.as_ref().is_some_and(|d| d.home) && direct_state(me, e).is_some_and(NodeState::is_live)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Generation;

    fn oid(seq: u64) -> OrderId {
        OrderId { mgs: NodeId(1), mgs_generation: Generation(1), seq }
    }

    fn report(seq: u64, outcome: Outcome) -> OrderReport {
        OrderReport { order: oid(seq), outcome }
    }

    #[test]
    fn merged_reports_keep_what_a_ping_leaves_out_and_never_go_back_to_applied() {
        let held = [(oid(1), 0), (oid(2), 5), (oid(3), 15)];
        let mut kept = Reports::default();
        assert!(merge_reports(&mut kept, &[report(1, Outcome::Applied), report(9, Outcome::Applied)], &held));
        assert_eq!((kept.get(0), kept.get(5)), (Some(Outcome::Applied), None), "order 9 is not held here");
        assert!(merge_reports(&mut kept, &[report(1, Outcome::Reconnected)], &held));
        // An older ping overtaken by the newer one, then a ping without reports: nothing moves.
        assert!(!merge_reports(&mut kept, &[report(1, Outcome::Applied)], &held));
        assert!(!merge_reports(&mut kept, &[], &held));
        assert!(merge_reports(&mut kept, &[report(3, Outcome::Failed), report(2, Outcome::Applied)], &held));
        let all = [0, 5, 15].map(|k| kept.get(k));
        assert_eq!(all, [Some(Outcome::Reconnected), Some(Outcome::Applied), Some(Outcome::Failed)]);
        // A slot given to another order starts empty.
        kept.set(5, None);
        assert_eq!(
            [0, 5, 15].map(|k| kept.get(k)),
            [Some(Outcome::Reconnected), None, Some(Outcome::Failed)]
        );
    }
}
