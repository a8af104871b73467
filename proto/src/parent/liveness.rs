//! The silence check (DCD): at every check a direct child silent for its suspect threshold is
//! suspect, and for its dead threshold dead, or unreachable when many fall silent together (a
//! partition, not a mass death). Silence only worsens a verdict: a child comes back by being
//! heard. A check that comes late (this node's own loop stalled) judges no one.

use heapless::Vec;

use super::Told;
use super::{direct_state, Hub, Urgency};
use crate::ids::NodeId;
use crate::table::Slot;
use crate::time::Instant;
use crate::wire::NodeState;

impl<S: AsRef<[Slot]> + AsMut<[Slot]>, const R: usize, const T: usize> Hub<S, R, T> {
    /// Judges the silence of direct children. Call at [`Hub::next_check`].
    pub(crate) fn check(&mut self, now: Instant) -> Urgency {
        self.judge_silence(now);
        self.take_urgency()
    }

    fn judge_silence(&mut self, now: Instant) {
        self.restamp();
        self.lapse(now);
        let late = now.since(self.last_check);
        self.last_check = now;
        let stall_ms = 2 * u64::from(self.timing.ping_interval_ms.max(self.timing.update_interval_ms));
        if late > stall_ms {
            // Our own loop was late: the silence we see is ours, not the children's. Only the
            // live get a fresh start: a child already judged dead stays dead until it is heard.
            self.counters.stalls += 1;
            self.emit(Told::Stalled { late_ms: late });
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
            self.emit(Told::MassSilence { count: cohort });
        }
        let mut version = self.version;
        let mut verdicts: Vec<(NodeId, NodeState), 16> = Vec::new();
        let mut more_verdicts = 0u32;
        for e in self.table.iter_mut() {
            let id = e.id;
            let Some(d) = e.direct.as_ref() else { continue };
            let silent = now.since(d.last_heard);
            let interval = d.interval_ms;
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
        for (id, state) in verdicts {
            self.urgent |= !state.is_live();
            self.emit(Told::ChildState { id, state });
        }
        if more_verdicts > 0 {
            // Too many to list one by one this round: the totals carry them.
            self.urgent = true;
        }
    }

    pub(crate) fn next_check(&self) -> Instant {
        self.last_check.after(self.timing.check_ms())
    }
}
