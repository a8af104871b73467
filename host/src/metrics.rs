//! Prometheus metrics of the MGS beyond the snapshot's gauges (`status::render_metrics`): the
//! shape of the tree (routers per state, partitions, nodes per role and state) and histograms
//! of how recoveries went.
//!
//! The MGS knows per-order *counts* (live, applied, reconnected, failed, summed up the tree), not
//! per-client times, so the latency histograms are approximated from the counts: a sampler asks
//! the MGS loop for its recoveries every [`SAMPLE_PERIOD`], and each rise of a count by `k`
//! between two samples is `k` observations of the time from the order to that sample. An
//! observation is therefore late by up to one sample period plus the routers' update delay
//! (batching and update interval), never early; a count that falls (a client died and dropped
//! out) observes nothing.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use vigil_proto::mgs::{ClosedBy, Phase};
use vigil_proto::wire::{NodeState, Role};
use vigil_proto::{Generation, Instant, Name, Recovery};

use crate::driver::{Commands, MgsMachine};
use crate::status::Status;

/// How often the sampler reads the MGS's recoveries.
pub const SAMPLE_PERIOD: Duration = Duration::from_millis(250);

/// Bucket bounds (seconds) of every histogram: sub-second for Vigil's own orders, up to Lustre's
/// hard recovery window (900 s) for windows that ran out.
const BUCKETS: [f64; 14] =
    [0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 150.0, 300.0, 600.0, 900.0];

/// A Prometheus histogram with fixed [`BUCKETS`].
#[derive(Clone, Debug, Default, PartialEq)]
struct Histogram {
    /// Observations at or below each bound (not cumulative; summed when rendered).
    counts: [u64; BUCKETS.len()],
    /// Observations above the last bound.
    over: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64, times: u64) {
        match BUCKETS.iter().position(|&b| seconds <= b) {
            Some(i) => self.counts[i] += times,
            None => self.over += times,
        }
        self.sum += seconds * times as f64;
    }

    fn count(&self) -> u64 {
        self.counts.iter().sum::<u64>() + self.over
    }

    /// The series of one histogram; `labels` is empty or `key="value",` pairs ending in a comma.
    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (bound, n) in BUCKETS.iter().zip(self.counts) {
            cumulative += n;
            let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {}", self.count());
        let labels = labels.trim_end_matches(',');
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count());
    }
}

/// Who closed a recovery window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Closer {
    /// The MGS's `CloseWindow` order: every live client reconnected.
    Vigil,
    /// The MGS's `CloseWindow` order, asked for by an admin (`vigil close`).
    Admin,
    /// The target reported itself up first (its own window ran out, or it needed nobody).
    Target,
}

/// What the sampler reads of one recovery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    target: Name,
    target_generation: Generation,
    began: Instant,
    applied: u32,
    reconnected: u32,
    failed: u32,
    closed: Option<(Instant, Closer)>,
}

impl Sample {
    /// Reads a recovery of the MGS machine.
    pub fn of(r: &Recovery) -> Sample {
        // A window this MGS closed ended then, whenever its target came up after.
        let closed = match r.phase {
            Phase::Queued | Phase::Ordered(_) => None,
            Phase::Closed { at, by: ClosedBy::Order, .. } => Some((at, Closer::Vigil)),
            Phase::Closed { at, by: ClosedBy::Admin, .. } => Some((at, Closer::Admin)),
            Phase::EndedByTarget { at, .. } => Some((at, Closer::Target)),
        };
        Sample {
            target: r.target.clone(),
            target_generation: r.target_generation,
            began: r.began,
            applied: r.progress.applied,
            reconnected: r.progress.reconnected,
            failed: r.progress.failed,
            closed,
        }
    }

    fn key(&self) -> RecoveryKey {
        (self.target.clone(), self.target_generation, self.began)
    }
}

/// What tells recoveries apart from one sample to the next: the target, its instance and when
/// the recovery began. The MGS holds one recovery per target; the next one of a target is of
/// another instance or (an admin's of the same instance) begins later. A queued recovery's `began` moves to its order, so it is seen
/// anew once ordered (nothing was observed of it while queued: no counts, no close).
type RecoveryKey = (Name, Generation, Instant);

/// What was last seen of a recovery.
#[derive(Clone, Copy, Debug, Default)]
struct Seen {
    applied: u32,
    reconnected: u32,
    failed: u32,
    closed: bool,
}

/// Recovery histograms, fed by samples of the MGS's recoveries.
#[derive(Debug, Default)]
pub struct RecoveryMetrics {
    seen: HashMap<RecoveryKey, Seen>,
    applied: Histogram,
    reconnected: Histogram,
    failed: Histogram,
    closed_by_vigil: Histogram,
    closed_by_admin: Histogram,
    closed_by_target: Histogram,
}

/// Shared between the sampler and the HTTP side.
pub type SharedRecoveryMetrics = Arc<Mutex<RecoveryMetrics>>;

impl RecoveryMetrics {
    /// Takes in the recoveries as they are at `now`.
    pub fn observe(&mut self, now: Instant, samples: &[Sample]) {
        // Only the recoveries sampled are kept: those the MGS forgot are forgotten here too.
        let mut kept = HashMap::with_capacity(samples.len());
        for s in samples {
            let key = s.key();
            let mut seen = self.seen.remove(&key).unwrap_or_default();
            // Counts freeze when the window closes: rises seen later happened by then.
            let at = s.closed.map_or(now, |(closed, _)| closed.min(now));
            let seconds = at.since(s.began) as f64 / 1000.0;
            for (histogram, before, after) in [
                (&mut self.applied, &mut seen.applied, s.applied),
                (&mut self.reconnected, &mut seen.reconnected, s.reconnected),
                (&mut self.failed, &mut seen.failed, s.failed),
            ] {
                if after > *before {
                    histogram.observe(seconds, u64::from(after - *before));
                }
                *before = after;
            }
            if let (Some((closed, closer)), false) = (s.closed, seen.closed) {
                seen.closed = true;
                let window = match closer {
                    Closer::Vigil => &mut self.closed_by_vigil,
                    Closer::Admin => &mut self.closed_by_admin,
                    Closer::Target => &mut self.closed_by_target,
                };
                window.observe(closed.since(s.began) as f64 / 1000.0, 1);
            }
            kept.insert(key, seen);
        }
        self.seen = kept;
    }

    /// The histograms in Prometheus text.
    pub fn render(&self, out: &mut String) {
        for (name, help, histogram) in [
            ("applied", "reported it (any outcome)", &self.applied),
            ("reconnected", "reconnected", &self.reconnected),
            ("failed", "failed to reconnect", &self.failed),
        ] {
            let _ = writeln!(
                out,
                "# HELP vigil_order_{name}_seconds Time from a BeginRecovery order until a live client \
                 {help}, as the MGS saw its counts rise (late by up to {} ms plus the routers' update \
                 delay).\n# TYPE vigil_order_{name}_seconds histogram",
                SAMPLE_PERIOD.as_millis()
            );
            histogram.render(out, &format!("vigil_order_{name}_seconds"), "");
        }
        out.push_str(
            "# HELP vigil_recovery_window_seconds Recovery windows from the order to their close, by \
             who closed them (vigil: every live client reconnected; admin: `vigil close`; target: its \
             own window ended first).\n# TYPE vigil_recovery_window_seconds histogram\n",
        );
        self.closed_by_vigil.render(out, "vigil_recovery_window_seconds", "closed_by=\"vigil\",");
        self.closed_by_admin.render(out, "vigil_recovery_window_seconds", "closed_by=\"admin\",");
        self.closed_by_target.render(out, "vigil_recovery_window_seconds", "closed_by=\"target\",");
    }
}

/// Samples the MGS's recoveries every [`SAMPLE_PERIOD`] until its loop ends.
pub async fn sample(commands: Commands<MgsMachine>, metrics: SharedRecoveryMetrics) {
    let mut tick = tokio::time::interval(SAMPLE_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let read = |m: &mut MgsMachine, now| (now, m.recoveries().iter().map(Sample::of).collect::<Vec<_>>());
        let Some((now, samples)) = commands.ask(read).await else { return };
        metrics.lock().unwrap_or_else(|e| e.into_inner()).observe(now, &samples);
    }
}

/// The tree's shape in Prometheus text: routers per state, partitions, nodes per role and state.
pub fn render_tree(status: &Status, out: &mut String) {
    let routers = |state: NodeState| status.routers.iter().filter(|r| r.state == state).count();
    out.push_str("# HELP vigil_routers Routers known to the MGS, by state.\n# TYPE vigil_routers gauge\n");
    for state in NodeState::ALL {
        let _ = writeln!(out, "vigil_routers{{state=\"{state}\"}} {}", routers(state));
    }
    out.push_str(
        "# HELP vigil_partitions Subtrees cut off from the MGS: routers that are dead or unreachable \
         (their children count as unreachable, not dead).\n# TYPE vigil_partitions gauge\n",
    );
    let _ = writeln!(out, "vigil_partitions {}", routers(NodeState::Dead) + routers(NodeState::Unreachable));
    out.push_str(
        "# HELP vigil_nodes_by_role Nodes known to the MGS, by role and state.\n\
         # TYPE vigil_nodes_by_role gauge\n",
    );
    for role in Role::ALL {
        for state in NodeState::ALL {
            let n = status.nodes.iter().filter(|n| n.role == role && n.state == state).count();
            let _ = writeln!(out, "vigil_nodes_by_role{{role=\"{role}\",state=\"{state}\"}} {n}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_proto::{NodeId, OrderId};

    fn order(seq: u32) -> OrderId {
        OrderId { mgs: NodeId(1), mgs_generation: Generation(1), seq: seq.into() }
    }

    fn sample(target: &str, applied: u32, reconnected: u32, closed: Option<(u64, Closer)>) -> Sample {
        Sample {
            target: vigil_proto::ids::name(target).unwrap(),
            target_generation: Generation(2),
            began: Instant(1_000),
            applied,
            reconnected,
            failed: applied - reconnected,
            closed: closed.map(|(at, c)| (Instant(at), c)),
        }
    }

    fn line<'a>(text: &'a str, series: &str) -> &'a str {
        text.lines().find(|l| l.starts_with(series)).unwrap_or_else(|| panic!("no {series} in\n{text}"))
    }

    #[test]
    fn rises_of_the_counts_become_observations_at_the_time_seen() {
        let mut m = RecoveryMetrics::default();
        m.observe(Instant(1_200), &[sample("a", 3, 2, None)]);
        m.observe(Instant(2_000), &[sample("a", 3, 2, None)]);
        m.observe(Instant(4_000), &[sample("a", 10, 9, None)]);
        m.observe(Instant(5_000), &[sample("a", 8, 8, None)]); // two died and dropped out
        assert_eq!(m.applied.count(), 10);
        assert_eq!(m.reconnected.count(), 9);
        assert_eq!(m.failed.count(), 1);
        // 2 reconnected at 0.2 s, 7 at 3 s.
        assert_eq!(m.reconnected.counts[BUCKETS.iter().position(|&b| b == 0.25).unwrap()], 2);
        assert_eq!(m.reconnected.counts[BUCKETS.iter().position(|&b| b == 5.0).unwrap()], 7);
        assert!((m.reconnected.sum - (2.0 * 0.2 + 7.0 * 3.0)).abs() < 1e-9);
        assert_eq!(m.closed_by_vigil.count() + m.closed_by_target.count(), 0);
    }

    #[test]
    fn a_window_is_observed_once_with_who_closed_it_and_counts_freeze_at_the_close() {
        let mut m = RecoveryMetrics::default();
        m.observe(Instant(1_500), &[sample("a", 1, 1, None)]);
        // Closed by Vigil at 3.5 s, sampled at 9 s: the rise happened by the close.
        m.observe(Instant(10_000), &[sample("a", 4, 4, Some((4_500, Closer::Vigil)))]);
        m.observe(Instant(11_000), &[sample("a", 4, 4, Some((4_500, Closer::Vigil)))]);
        assert_eq!(m.closed_by_vigil.count(), 1);
        assert!((m.closed_by_vigil.sum - 3.5).abs() < 1e-9);
        assert!((m.reconnected.sum - (0.5 + 3.0 * 3.5)).abs() < 1e-9);
        // A second recovery that the target's own window ended; the first one is gone by now.
        m.observe(Instant(400_000), &[sample("b", 0, 0, Some((301_000, Closer::Target)))]);
        assert_eq!(m.closed_by_target.count(), 1);
        assert_eq!(m.seen.len(), 1, "recoveries the MGS forgot are forgotten here too");
    }

    /// A recovery of `target` in instance 2, queued at 1 s.
    fn queued(target: &str) -> Recovery {
        Recovery {
            target: vigil_proto::ids::name(target).unwrap(),
            target_generation: Generation(2),
            origin: vigil_proto::mgs::Origin::Restart,
            began: Instant(1_000),
            progress: Default::default(),
            failed: Default::default(),
            last_reconnect: Instant(1_000),
            uncounted: 0,
            phase: Phase::Queued,
        }
    }

    #[test]
    fn the_phase_names_who_ended_the_window_and_when() {
        let closed_by = |by| Phase::Closed {
            begin: Some(order(1)),
            close: order(2),
            at: Instant(50),
            by,
            target_up: Some(Instant(60)),
        };
        let mut r = Recovery { phase: Phase::Ordered(order(1)), ..queued("t") };
        assert_eq!(Sample::of(&r).closed, None);
        r.phase = closed_by(ClosedBy::Order);
        assert_eq!(
            Sample::of(&r).closed,
            Some((Instant(50), Closer::Vigil)),
            "the close, not the target up after"
        );
        r.phase = closed_by(ClosedBy::Admin);
        assert_eq!(Sample::of(&r).closed, Some((Instant(50), Closer::Admin)));
        r.phase = Phase::EndedByTarget { begin: Some(order(1)), at: Instant(40) };
        assert_eq!(Sample::of(&r).closed, Some((Instant(40), Closer::Target)));
    }

    #[test]
    fn each_recovery_its_target_ended_while_queued_is_observed() {
        let mut m = RecoveryMetrics::default();
        let (mut a, mut b) = (queued("a"), queued("b"));
        m.observe(Instant(1_500), &[Sample::of(&a), Sample::of(&b)]);
        a.phase = Phase::EndedByTarget { begin: None, at: Instant(3_000) };
        m.observe(Instant(3_500), &[Sample::of(&a), Sample::of(&b)]);
        b.phase = Phase::EndedByTarget { begin: None, at: Instant(4_000) };
        m.observe(Instant(4_500), &[Sample::of(&a), Sample::of(&b)]);
        m.observe(Instant(5_000), &[Sample::of(&a), Sample::of(&b)]);
        assert_eq!(m.closed_by_target.count(), 2, "a's window and b's, each once");
        assert!((m.closed_by_target.sum - (2.0 + 3.0)).abs() < 1e-9);
    }

    #[test]
    fn histograms_render_cumulative_buckets() {
        let mut m = RecoveryMetrics::default();
        m.observe(Instant(1_100), &[sample("a", 2, 2, None)]);
        m.observe(Instant(3_000_000), &[sample("a", 3, 3, Some((2_000_000, Closer::Target)))]);
        let mut text = String::new();
        m.render(&mut text);
        assert!(text.contains("# TYPE vigil_order_reconnected_seconds histogram\n"));
        assert_eq!(
            line(&text, "vigil_order_reconnected_seconds_bucket{le=\"0.1\"}"),
            "vigil_order_reconnected_seconds_bucket{le=\"0.1\"} 2"
        );
        assert_eq!(
            line(&text, "vigil_order_reconnected_seconds_bucket{le=\"900\"}"),
            "vigil_order_reconnected_seconds_bucket{le=\"900\"} 2"
        );
        assert_eq!(
            line(&text, "vigil_order_reconnected_seconds_bucket{le=\"+Inf\"}"),
            "vigil_order_reconnected_seconds_bucket{le=\"+Inf\"} 3"
        );
        assert_eq!(
            line(&text, "vigil_order_reconnected_seconds_count"),
            "vigil_order_reconnected_seconds_count 3"
        );
        assert_eq!(
            line(&text, "vigil_recovery_window_seconds_count{closed_by=\"target\"}"),
            "vigil_recovery_window_seconds_count{closed_by=\"target\"} 1"
        );
        assert_eq!(
            line(&text, "vigil_recovery_window_seconds_bucket{closed_by=\"vigil\",le=\"+Inf\"}"),
            "vigil_recovery_window_seconds_bucket{closed_by=\"vigil\",le=\"+Inf\"} 0"
        );
        assert_eq!(text.matches("# TYPE").count(), 4, "one family each");
    }

    #[test]
    fn the_tree_shows_partitions_and_roles() {
        use crate::status::{MgsInfo, NodeInfo, RouterInfo};
        let node = |name: &str, role: &str, state: &str| NodeInfo {
            mounts: 0,
            name: name.into(),
            role: serde_json::from_value(serde_json::json!(role)).expect("a name the status uses"),
            state: serde_json::from_value(serde_json::json!(state)).expect("a name the status uses"),
            generation: 1,
            parents: Vec::new(),
            last_heard_ms: 0,
        };
        let router = |name: &str, state: &str| RouterInfo {
            name: name.into(),
            state: serde_json::from_value(serde_json::json!(state)).expect("a name the status uses"),
            children: Default::default(),
            subtree: None,
        };
        let status = Status {
            mgs: MgsInfo {
                name: "mgs".into(),
                id: String::new(),
                generation: 1,
                uptime_ms: 0,
                counters: Vec::new(),
                udp: Vec::new(),
            },
            nodes: vec![
                node("r1", "router", "alive"),
                node("r2", "router", "dead"),
                node("r3", "router", "unreachable"),
                node("c1", "client", "unreachable"),
                node("c2", "client", "alive"),
            ],
            routers: vec![router("r1", "alive"), router("r2", "dead"), router("r3", "unreachable")],
            targets: Vec::new(),
        };
        let mut text = String::new();
        render_tree(&status, &mut text);
        assert_eq!(line(&text, "vigil_partitions "), "vigil_partitions 2");
        assert_eq!(line(&text, "vigil_routers{state=\"alive\"}"), "vigil_routers{state=\"alive\"} 1");
        assert_eq!(
            line(&text, "vigil_nodes_by_role{role=\"client\",state=\"unreachable\"}"),
            "vigil_nodes_by_role{role=\"client\",state=\"unreachable\"} 1"
        );
        assert_eq!(text.matches("vigil_nodes_by_role{").count(), 12);
    }
}
