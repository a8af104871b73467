//! When recoveries begin, queue and close, and the orders that say so.

use heapless::Vec;

use crate::ids::{fnv1a, Generation, Name, NodeId, OrderId};
use crate::parent::{Issued, Told};
use crate::table::Slot;
use crate::time::Instant;
use crate::wire::{Action, NodeState, Order, Role, Signature, TargetState, MAX_DEAD, MAX_FAILED};

use super::recovery::{ClosedBy, Origin, Phase};
use super::{Mgs, Recovery, MAX_ORDERING};

/// Positions in a list of names, looked up by the names' hash: a thousand targets each looked
/// up among a thousand recoveries (or the other way round) would be a million comparisons of
/// names at every look.
struct ByName<const N: usize>(Vec<(u32, usize), N>);

impl<const N: usize> ByName<N> {
    /// Indexes at most `N` names by their position.
    fn new<'a>(names: impl Iterator<Item = &'a Name>) -> Self {
        let mut index: Vec<(u32, usize), N> = Vec::new();
        for (k, name) in names.enumerate() {
            let _ = index.push((fnv1a(name.as_bytes()), k));
        }
        index.sort_unstable();
        ByName(index)
    }

    /// The first position, in list order, whose name hashes like `name` and that `is` the one.
    fn find(&self, name: &Name, is: impl Fn(usize) -> bool) -> Option<usize> {
        let hash = fnv1a(name.as_bytes());
        let from = self.0.partition_point(|&(h, _)| h < hash);
        (self.0[from..].iter()).take_while(|&&(h, _)| h == hash).map(|&(_, k)| k).find(|&k| is(k))
    }
}

impl<S: AsRef<[Slot]> + AsMut<[Slot]>, const R: usize, const T: usize> Mgs<S, R, T> {
    /// Orders recovery `i`'s window closed (`by` an admin, or every live client is back).
    pub(super) fn close_window(&mut self, now: Instant, i: usize, by: ClosedBy) -> OrderId {
        let r = &self.recoveries[i];
        let (target, target_generation) = (r.target.clone(), r.target_generation);
        let dead = self.dead_clients();
        let dead_mounts = self.mounts_of(&dead);
        let close = self
            .issue(now, Action::CloseWindow { target: target.clone(), target_generation, dead, dead_mounts });
        self.recoveries[i].closed_now(close.id, now, by);
        self.hub.emit(Told::WindowClosed { target, order: close.id, by_admin: by == ClosedBy::Admin });
        close.id
    }

    /// The clients held dead on every path, lowest ids first (as many as a `CloseWindow` names).
    fn dead_clients(&self) -> Vec<NodeId, MAX_DEAD> {
        let mut dead: Vec<NodeId, MAX_DEAD> = Vec::new();
        let all = self
            .hub
            .table()
            .iter()
            .filter(|e| e.role == Role::Client && e.best_state() == Some(NodeState::Dead));
        for id in all.map(|e| e.id) {
            if dead.is_full() {
                // Keep the lowest ids: the choice does not depend on table order.
                match dead.iter().enumerate().max_by_key(|(_, d)| **d) {
                    Some((i, max)) if id < *max => dead[i] = id,
                    _ => {}
                }
            } else {
                let _ = dead.push(id);
            }
        }
        dead.sort_unstable();
        dead
    }

    /// The mounts the clients `dead` reported, in their order (as many as a `CloseWindow` holds).
    fn mounts_of(&self, dead: &[NodeId]) -> Vec<u64, MAX_DEAD> {
        let mut mounts = Vec::new();
        for tag in dead.iter().filter_map(|&id| self.hub.table().get(id)).flat_map(|e| e.mounts.iter()) {
            if mounts.push(tag).is_err() {
                break;
            }
        }
        mounts
    }

    fn issue(&mut self, now: Instant, action: Action) -> Order {
        self.last_seq += 1;
        let id = OrderId { mgs: self.link.id, mgs_generation: self.link.generation, seq: self.last_seq };
        let mut order = Order { id, action, signer: 0, signature: Signature::default(), age_ms: 0 };
        if let Some(signer) = &self.signer {
            signer.sign(&mut order);
        }
        let (_, urgency) = self.hub.hold(now, order.clone());
        self.evaluate_due |= urgency.is_soon();
        // The hub's queue takes the mark, and this queue the order, or neither (counted dropped):
        // each holds at most EVENT_QUEUE.
        if self.hub.emit(Told::OrderIssued(Issued)) {
            let _ = self.issued.push_back(order.clone());
        }
        order
    }

    /// Starts a recovery: orders it now, or (not an admin's) queues it while [`MAX_ORDERING`]
    /// others are under way. Its index, or `None` when it can be neither (an admin's order
    /// then, or no room).
    pub(super) fn begin(
        &mut self,
        now: Instant,
        target: Name,
        generation: Generation,
        action: Action,
        origin: Origin,
    ) -> Option<usize> {
        let manual = origin != Origin::Restart;
        // An admin's recovery may replace one of the instance its server reports.
        self.rescan |= manual;
        let grace = self.close_grace_ms();
        let others_open =
            (self.recoveries.iter()).filter(|r| r.holds_a_place(now, grace) && r.target != target).count()
                >= MAX_ORDERING;
        if others_open && manual {
            return None;
        }
        let slot = match self.recoveries.iter().position(|r| r.target == target) {
            Some(i) => i,
            None => {
                if self.recoveries.is_full() {
                    // Forget the oldest finished recovery to make room (its target, if still
                    // recovering in that instance, is a restart without a recovery again).
                    let finished = self.recoveries.iter().enumerate().filter(|(_, r)| r.window_closed());
                    let (oldest, _) = finished.min_by_key(|(_, r)| r.began)?;
                    self.recoveries.remove(oldest);
                    self.rescan = true;
                }
                let _ = self.recoveries.push(Recovery::new(
                    target.clone(),
                    generation,
                    origin,
                    now,
                    Phase::Queued,
                ));
                self.recoveries.len() - 1
            }
        };
        let phase = if others_open { Phase::Queued } else { Phase::Ordered(self.issue(now, action).id) };
        self.recoveries[slot] = Recovery::new(target, generation, origin, now, phase);
        Some(slot)
    }

    /// How long a closed recovery keeps its place while its server has not come up: the time
    /// after which the server would be declared dead.
    pub(super) fn close_grace_ms(&self) -> u64 {
        self.hub.timing().dead_ms(self.hub.timing().ping_interval_ms)
    }

    /// Orders queued recoveries, oldest first, while fewer than [`MAX_ORDERING`] are under way;
    /// a queued recovery whose target came up meanwhile (its own window ran out) just ends.
    /// Only with a target's record `changed` since the last look can a queued recovery's target
    /// have come up, so without one the look ends when the places are taken.
    fn order_queued(&mut self, now: Instant, changed: bool) {
        let grace = self.close_grace_ms();
        let mut open = self.recoveries.iter().filter(|r| r.holds_a_place(now, grace)).count();
        let mut waiting: Vec<usize, T> =
            (0..self.recoveries.len()).filter(|&i| self.recoveries[i].phase == Phase::Queued).collect();
        waiting.sort_unstable_by_key(|&i| self.recoveries[i].began);
        if waiting.is_empty() {
            return;
        }
        let targets = ByName::<T>::new(self.hub.targets().iter().map(|t| &t.status.target));
        for i in waiting {
            if open >= MAX_ORDERING && !changed {
                break;
            }
            let r = &self.recoveries[i];
            let status = (targets.find(&r.target, |k| self.hub.targets()[k].status.target == r.target))
                .map(|k| &self.hub.targets()[k].status)
                .filter(|s| s.generation == r.target_generation);
            match status {
                Some(s) if s.state == TargetState::Up => self.recoveries[i].ended_by_target(now),
                Some(s) if s.state == TargetState::Recovering && open < MAX_ORDERING => {
                    let action = Action::BeginRecovery {
                        target: s.target.clone(),
                        target_generation: s.generation,
                        addrs: s.addrs.clone(),
                        window_ms: s.window_ms,
                    };
                    let order = self.issue(now, action).id;
                    self.recoveries[i].ordered(order, now);
                    open += 1;
                }
                _ => {}
            }
        }
    }

    /// Starts recoveries for targets that restarted and closes windows whose clients are back.
    pub(super) fn evaluate(&mut self, now: Instant) {
        // Every target recovering in an instance without a recovery yet (whoever started one of
        // that instance: an admin's retry included). Each is begun or queued now, however many.
        // Only a target's new record, or a recovery replaced or forgotten, makes one (a
        // thousand targets recovering at once would be a million comparisons at every update).
        let changed = self.hub.take_targets_changed();
        let scan = core::mem::take(&mut self.rescan) || changed;
        let mut restarted: Vec<usize, T> = Vec::new();
        if scan {
            let recoveries = ByName::<T>::new(self.recoveries.iter().map(|r| &r.target));
            restarted = (0..self.hub.targets().len())
                .filter(|&k| {
                    let s = &self.hub.targets()[k].status;
                    s.state == TargetState::Recovering
                        && (recoveries.find(&s.target, |i| self.recoveries[i].target == s.target))
                            .is_none_or(|i| self.recoveries[i].target_generation != s.generation)
                })
                .collect();
        }
        for k in restarted {
            let s = &self.hub.targets()[k].status;
            let (target, generation, addrs, window_ms) =
                (s.target.clone(), s.generation, s.addrs.clone(), s.window_ms);
            self.hub.emit(Told::TargetRestarted { target: target.clone(), generation });
            let action = Action::BeginRecovery {
                target: target.clone(),
                target_generation: generation,
                addrs,
                window_ms,
            };
            if self.begin(now, target, generation, action, Origin::Restart).is_none() {
                self.hub.counters_mut().overflow += 1;
                self.rescan = true;
            }
        }
        for i in 0..self.recoveries.len() {
            let r = &self.recoveries[i];
            let Phase::Ordered(order) = r.phase else {
                continue;
            };
            let serving = r.serving();
            let target_up = !serving
                && (r.target_is_up(self.hub.targets())
                    || r.ran_out(now, self.hub.targets(), self.close_grace_ms()));
            let progress = self.hub.progress(order);
            // A window of the target's waits for every router on the way: a client behind one
            // that is down or cut off may still be reconnecting. An admin's order for a target
            // that is up opens no window of the target's (nothing can close early), and nothing
            // else would end it: it waits for the routers only until a silent node would be
            // dead, so a subtree that stays cut off does not keep it ordered, and its
            // BeginRecovery held, for good; and a client whose tries all failed is done with it.
            let gave_up_on_routers = serving && now.since(r.began) >= self.close_grace_ms();
            let whole = self.hold_until.is_none_or(|t| now >= t)
                && self.hub.sums_whole(now)
                && (gave_up_on_routers || self.waiting_for(order).next().is_none());
            let done = if serving {
                progress.reconnected.saturating_add(progress.failed)
            } else {
                progress.reconnected
            };
            // The sums count a client at its home only. While one whose home moved is counted
            // at neither parent (the old home was told before the new home's count came up
            // the other way), or its home convicted it while another path still hears it, the
            // view shows more clients live than the sums count: no window closes on them. (An
            // admin's order for a target that is up closes no window of the target's.)
            let counted_back = whole && done >= progress.live;
            let uncounted = match counted_back && !serving {
                true => self.live_clients().saturating_sub(progress.live),
                false => 0,
            };
            let all_back = counted_back && uncounted == 0;
            let failed = self.hub.failed_clients(order).take(MAX_FAILED).collect();
            let r = &mut self.recoveries[i];
            if progress.reconnected > r.progress.reconnected {
                r.last_reconnect = now;
            }
            r.progress = progress;
            r.failed = failed;
            r.uncounted = uncounted;
            if target_up {
                // The target ended its window itself (its own time-out, heard or past its
                // length). Its BeginRecovery must
                // not reach clients that join or reboot from now on: a CloseWindow of the
                // instance supersedes it in every router, and the server, up already, only
                // reports it.
                let r = &mut self.recoveries[i];
                r.ended_by_target(now);
                let (target, target_generation) = (r.target.clone(), r.target_generation);
                self.issue(
                    now,
                    Action::CloseWindow {
                        target,
                        target_generation,
                        dead: Vec::new(),
                        dead_mounts: Vec::new(),
                    },
                );
            } else if all_back {
                self.close_window(now, i, ClosedBy::Order);
            }
        }
        // Its server carried the `CloseWindow` out. The order stays held until a newer one for
        // the target supersedes it: a router that missed it still holds the `BeginRecovery` it
        // replaces, and would hand it to clients that join or reboot later. (A full set of held
        // orders drops a close no child needs first.)
        for r in self.recoveries.iter_mut() {
            if matches!(r.phase, Phase::Closed { target_up: None, .. }) && r.target_is_up(self.hub.targets())
            {
                r.carried_out(now);
            }
        }
        self.order_queued(now, changed);
    }
}
