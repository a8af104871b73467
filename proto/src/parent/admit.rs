//! Admission: how a child's datagram earns it a place in this parent's table.
//!
//! A ping or update that names no receiver is a first contact: it is answered with this
//! parent's identity and nothing of it is taken (it could be a replay of one meant for another
//! parent). An addressed datagram is checked in place: its generation (one that went backwards
//! is told `Stale`), its sequence against the child's replay window, its name against the one
//! on record (a different name is an id collision, refused), and room in the table (a full one
//! forgets the client or server dead the longest, else refuses and names alternates). A child
//! that is new here must give its name; one that does not is asked for it (`Unknown`).
//!
//! A client heard but not admitted (only its first contacts arrive, or its name is not known
//! here) is a [`Stranger`]: it counts as live and not back in the order sums until it is
//! admitted or silent for a dead threshold, so that a window never closes without it.

use heapless::Vec;

use super::orders::merge_reports;
use super::replies::ReplyKind;
use super::Told;
use super::{Hub, Urgency, MAX_HELD};
use crate::counters::ReplayWindow;
use crate::ids::{Name, NodeId, OrderId};
use crate::table::{Direct, Entry, Mounts, Path, Reports, Slot};
use crate::time::Instant;
use crate::timing::{PING_INTERVAL_MS, UPDATE_INTERVAL_MS};
use crate::wire::{Endpoint, Header, NodeState, Ping, Role};

/// A client heard but not admitted: its first contacts reach this parent while none of the
/// addressed pings that follow the answer did, or its addressed pings reach a parent that lost
/// its table (a restart) and asks for its name, while every answer is lost (at heavy loss, for
/// a while). Nothing of such a datagram is taken into the table (a first contact could be a
/// replay, and a nameless ping makes no entry), but the client may be alive and on its way to
/// reconnect: it counts as live and not back in the order sums until it is admitted or silent
/// for a dead threshold. A replayed datagram can only keep a window open longer, never close
/// one early.
#[derive(Clone, Copy, Debug)]
pub(super) struct Stranger {
    pub(super) id: NodeId,
    pub(super) heard: Instant,
    pub(super) dead_ms: u64,
}

/// What a child says of itself in every ping or update.
#[derive(Clone, Copy)]
pub(super) struct Announce<'a> {
    role: Role,
    interval_ms: u32,
    name: Option<&'a Name>,
    home: bool,
}

impl<'a> Announce<'a> {
    /// What a child announces, its interval held within the limits of a configured one: a
    /// child announcing 0 would flap between dead and alive at every check, one announcing
    /// `u32::MAX` would never be dead.
    pub(super) fn new(role: Role, interval_ms: u32, name: Option<&'a Name>, home: bool) -> Self {
        let limit = if role == Role::Router { UPDATE_INTERVAL_MS } else { PING_INTERVAL_MS };
        Announce { role, interval_ms: limit.clamp(interval_ms), name, home }
    }
}

impl<S: AsRef<[Slot]> + AsMut<[Slot]>, const R: usize, const T: usize> Hub<S, R, T> {
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
    ) -> Urgency {
        self.first_contact(now, from, header, ping);
        self.take_urgency()
    }

    fn first_contact(&mut self, now: Instant, from: Endpoint, header: &Header, ping: Option<&Ping>) {
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
        let dead_ms = self.timing.dead_ms(PING_INTERVAL_MS.clamp(interval_ms));
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

    /// A ping from a child (client or server).
    pub(crate) fn handle_ping(
        &mut self,
        now: Instant,
        from: Endpoint,
        header: &Header,
        ping: Ping,
    ) -> Urgency {
        self.ping(now, from, header, ping);
        self.take_urgency()
    }

    fn ping(&mut self, now: Instant, from: Endpoint, header: &Header, ping: Ping) {
        let admitted = self.admit(
            now,
            from,
            header,
            Announce::new(ping.role, ping.interval_ms, ping.name.as_ref(), ping.home),
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
            if let Some(e) = self.table.get_mut(id).filter(|e| !e.mounts.same_as(&ping.mounts)) {
                e.mounts = Mounts::new(&ping.mounts);
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

    /// Admits a datagram from a direct child: authenticates its place (generation, replay,
    /// capacity), refreshes its liveness and queues the reply. `None`: dropped or refused.
    pub(super) fn admit(
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
                let event = Told::IdCollision { id, kept: entry.name.clone(), ignored: n.clone() };
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
        entry.generation_via = id;
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
                Told::ChildRebooted { id, generation: header.generation }
            } else {
                Told::ChildState { id, state: NodeState::Alive }
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
            self.emit(Told::TableFull { id });
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
        self.emit(Told::ChildJoined { id, role });
        self.reply(from, id, ReplyKind::Accepted);
        Some(id)
    }

    /// Makes room in a full table: forgets the client or server dead the longest (the one whose
    /// entry changed least recently: the farthest behind the counter, as versions wrap).
    /// Routers are kept (paths run through them), and so is every node that may be alive
    /// (suspect, or unreachable behind a partition): a flood of newcomers can only take the
    /// places of the dead. False when none is dead.
    pub(super) fn reclaim_dead(&mut self) -> bool {
        let version = self.version;
        let dead = (self.table.iter())
            .filter(|e| e.role != Role::Router && e.best_state().is_none_or(|s| s == NodeState::Dead))
            .min_by_key(|e| core::cmp::Reverse(version.wrapping_sub(e.changed)))
            .map(|e| e.id);
        let Some(id) = dead else { return false };
        self.table.remove(id);
        self.counters.reclaimed += 1;
        true
    }
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
