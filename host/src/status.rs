//! The MGS's view as operators get it: the status JSON (a stable contract: fields are only ever
//! added) and the Prometheus metrics, both rendered from one snapshot taken inside the MGS loop.
//!
//! `vigil status` reads the same types back, so the JSON and the CLI cannot drift apart.

use std::collections::HashMap;
use std::fmt::Write;

use serde::{Deserialize, Serialize};
use vigil_proto::mgs::{ClosedBy, Phase};
use vigil_proto::wire::{LustrePhase, LustreRecovery, NodeState, Role, TargetState};
use vigil_proto::{Counters, Instant, NodeId, Recovery};

use crate::driver::MgsMachine;

/// The whole status document of `GET /api/v1/status`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Status {
    /// The MGS itself.
    pub mgs: MgsInfo,
    /// Every node the MGS knows of (clients, servers, routers).
    pub nodes: Vec<NodeInfo>,
    /// Routers with the subtree below them.
    pub routers: Vec<RouterInfo>,
    /// Targets, with their current or last recovery.
    pub targets: Vec<TargetInfo>,
}

/// The MGS itself.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MgsInfo {
    /// Its name.
    pub name: String,
    /// Its node id in 8 hex digits: how its order ids (`<id>:<generation>/<seq>`) and the nodes
    /// that know it by id only name it.
    #[serde(default)]
    pub id: String,
    /// Its boot generation.
    pub generation: u32,
    /// Milliseconds since it started.
    pub uptime_ms: u64,
    /// Datagrams received and sent, and those dropped by reason.
    pub counters: Vec<CounterInfo>,
    /// Its UDP socket: datagrams and system calls each way (`received`, `receive_calls`, `sent`,
    /// `send_calls`), failed sends, and the kernel's drops (`kernel_drops`: its receive queue was
    /// full). Only in `/api/v1/status` (the machine's snapshot does not know its socket).
    #[serde(default)]
    pub udp: Vec<CounterInfo>,
}

/// One counter of the MGS machine.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CounterInfo {
    /// The field of `Counters`, e.g. `unauthenticated`.
    pub name: String,
    /// Its value.
    pub value: u64,
}

/// A node.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Its name.
    pub name: String,
    /// `client`, `server` or `router`.
    pub role: Role,
    /// `alive`, `suspect`, `dead` or `unreachable`.
    pub state: NodeState,
    /// Its boot generation.
    pub generation: u32,
    /// The names of its parents (the routers, or the MGS, its pings reach).
    pub parents: Vec<String>,
    /// How long ago it was last heard, in ms.
    pub last_heard_ms: u64,
    /// How many filesystem mounts the client reported (`vigil client --lustre`): those its
    /// targets' servers can evict if it dies.
    #[serde(default)]
    pub mounts: u32,
}

/// Node counts per state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateCounts {
    /// Alive.
    pub alive: u32,
    /// Suspect.
    pub suspect: u32,
    /// Dead.
    pub dead: u32,
    /// Unreachable.
    pub unreachable: u32,
}

impl StateCounts {
    fn add(&mut self, state: NodeState) {
        match state {
            NodeState::Alive => self.alive += 1,
            NodeState::Suspect => self.suspect += 1,
            NodeState::Dead => self.dead += 1,
            NodeState::Unreachable => self.unreachable += 1,
        }
    }

    /// `(state, count)` pairs in a fixed order.
    pub fn pairs(&self) -> [(NodeState, u32); 4] {
        [
            (NodeState::Alive, self.alive),
            (NodeState::Suspect, self.suspect),
            (NodeState::Dead, self.dead),
            (NodeState::Unreachable, self.unreachable),
        ]
    }
}

/// A router and the nodes below it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RouterInfo {
    /// Its name.
    pub name: String,
    /// Its own state.
    pub state: NodeState,
    /// Its direct children per state.
    pub children: StateCounts,
    /// Its whole subtree per state, as it last reported (for routers that report to the MGS
    /// directly; stacked routers are summed into their parent's subtree).
    pub subtree: Option<StateCounts>,
}

/// A target.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TargetInfo {
    /// Its name.
    pub name: String,
    /// `up`, `recovering` or `down` (for a target known only through a manual order:
    /// `recovering` while its window is open, else `up`).
    pub state: TargetState,
    /// Its instance.
    pub generation: u32,
    /// The server that reports it (none for a target known only through a manual order).
    pub server: Option<String>,
    /// Where clients reconnect to it.
    pub addrs: Vec<String>,
    /// Its current or last recovery.
    pub recovery: Option<RecoveryInfo>,
    /// Lustre's own view of its recovery, when its server follows Lustre (`vigil server
    /// --lustre`).
    #[serde(default)]
    pub lustre: Option<LustreInfo>,
}

/// A target's recovery as Lustre reports it (`recovery_status`), beside Vigil's
/// [`RecoveryInfo`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LustreInfo {
    /// `INACTIVE`, `WAITING`, `RECOVERING` or `COMPLETE`, as `recovery_status` says. While
    /// `WAITING` (`WAITING_FOR_CLIENTS` until the first client connects, or an MDT's `WAITING`
    /// for the other MDTs), Lustre prints no client counts and the counts below are 0: unknown.
    pub status: LustrePhase,
    /// Clients to recover (those of `last_rcvd` at the mount).
    pub recoverable: u32,
    /// Of them, those connected again (once complete: those that completed).
    pub connected: u32,
    /// Clients evicted during the recovery.
    pub evicted: u32,
    /// Clients Lustre still waits for: neither connected nor evicted.
    pub stale: u32,
    /// Vigil's window is closed and Lustre still waits for stale clients: clients Vigil does
    /// not know (no agent, refused by a full table), since at the close every live client Vigil
    /// knows had reconnected and the dead ones it knows were evicted. They are left to Lustre's
    /// own timer.
    pub partial: bool,
    /// Seconds the recovery took, once complete.
    pub duration_s: u32,
}

/// `recovery` is Vigil's newest of the target, which counts only if it is of `instance`.
fn lustre_info(view: &LustreRecovery, instance: u32, recovery: Option<&RecoveryInfo>) -> LustreInfo {
    let vigil_closed =
        recovery.is_some_and(|r| r.window == Window::Closed && r.target_generation == instance);
    LustreInfo {
        status: view.phase,
        recoverable: view.recoverable,
        connected: view.connected,
        evicted: view.evicted,
        stale: view.stale,
        partial: vigil_closed && view.phase == LustrePhase::Recovering && view.stale > 0,
        duration_s: view.duration_s,
    }
}

/// A recovery's progress.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecoveryInfo {
    /// The `BeginRecovery` order, `<holder>:<mgs_generation>/<seq>`.
    pub order_id: String,
    /// The target instance recovering (0 for a manual order).
    pub target_generation: u32,
    /// Issued by an admin.
    pub manual: bool,
    /// Live clients counted.
    pub live: u32,
    /// Of them, those that reported the order.
    pub applied: u32,
    /// Of them, those that reconnected.
    pub reconnected: u32,
    /// Of them, those whose reconnection failed.
    pub failed: u32,
    /// Those clients by name, as far as routers named them (each router names at most 8 per
    /// update, the MGS keeps 8 per recovery): which clients to look at.
    #[serde(default)]
    pub failed_clients: Vec<String>,
    /// Failed clients counted in `failed` but not named in `failed_clients` (past the bound).
    #[serde(default)]
    pub failed_unnamed: u32,
    /// `open`, `closed`, or `queued` (the target restarted while the most recoveries the MGS
    /// orders at once were under way: its order goes out when one of them ends; `order_id` is
    /// `0/0` until then).
    pub window: Window,
    /// Closed by an admin (`vigil close`) rather than by every live client reconnecting.
    pub closed_by_admin: bool,
    /// Once the window is closed: what ended it here, `order` (this MGS ordered it closed: every
    /// live client back), `admin` (`vigil close`) or `target` (the target came up with no close
    /// from this MGS: its own time-out, or another status holder's close). None while open.
    #[serde(default)]
    pub ended_by: Option<EndedBy>,
    /// While open: the MGS's child routers whose subtrees the window still waits for (down, cut
    /// off, or waiting for one of their own); with every visible client back, these are what
    /// keeps it open (`vigil close` if they are gone for good).
    pub waiting_for: Vec<String>,
    /// While open, once every client the sums count is back: live clients the MGS's view shows
    /// that no parent's sums count yet (a client between two parents, the news of its new home
    /// on its way). The window waits for them; this stays above 0 only for a few update
    /// intervals.
    #[serde(default)]
    pub uncounted: u32,
    /// Estimated ms until every live client reconnected (0 once closed; none before a rate is
    /// known).
    pub eta_ms: Option<u64>,
    /// Milliseconds from the order to the window's close, or to now while open.
    pub elapsed_ms: u64,
}

/// Where a recovery's window stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Window {
    /// The order is out; clients are reconnecting.
    Open,
    /// Closed: by order, by an admin, or the target's own end (see [`EndedBy`]).
    Closed,
    /// Waiting for a slot among the recoveries the MGS orders at once.
    Queued,
}

impl Window {
    /// Its name in the status.
    pub const fn as_str(self) -> &'static str {
        match self {
            Window::Open => "open",
            Window::Closed => "closed",
            Window::Queued => "queued",
        }
    }
}

/// What ended a recovery here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EndedBy {
    /// This MGS ordered the window closed: every live client back.
    Order,
    /// `vigil close`.
    Admin,
    /// The target came up with no close from this MGS.
    Target,
}

/// Every field of `Counters` by name, with whether it counts traffic (`true`) or drops. The
/// destructuring fails to compile when proto adds a field, so none is ever left out.
pub fn counter_fields(c: &Counters) -> [(&'static str, bool, u64); 19] {
    let Counters {
        received,
        sent,
        malformed,
        unknown_version,
        unauthenticated,
        forged,
        replayed,
        misdirected,
        stale_generation,
        unexpected,
        refused,
        reclaimed,
        overflow,
        targets_refused,
        out_of_order,
        events_dropped,
        replies_dropped,
        stalls,
        orders_lapsed,
    } = *c;
    [
        ("received", true, received),
        ("sent", true, sent),
        ("malformed", false, malformed),
        ("unknown_version", false, unknown_version),
        ("unauthenticated", false, unauthenticated),
        ("forged", false, forged),
        ("replayed", false, replayed),
        ("misdirected", false, misdirected),
        ("stale_generation", false, stale_generation),
        ("unexpected", false, unexpected),
        ("refused", false, refused),
        ("reclaimed", false, reclaimed),
        ("overflow", false, overflow),
        ("targets_refused", false, targets_refused),
        ("out_of_order", false, out_of_order),
        ("events_dropped", false, events_dropped),
        ("replies_dropped", false, replies_dropped),
        ("stalls", false, stalls),
        ("orders_lapsed", false, orders_lapsed),
    ]
}

fn recovery_info(
    r: &Recovery,
    now: Instant,
    waiting_for: Vec<String>,
    failed_clients: Vec<String>,
) -> RecoveryInfo {
    RecoveryInfo {
        // While queued the order is not out: the status says `0/0`.
        order_id: r.order().unwrap_or_default().to_string(),
        target_generation: r.target_generation.0,
        manual: r.manual(),
        live: r.progress.live,
        applied: r.progress.applied,
        reconnected: r.progress.reconnected,
        failed: r.progress.failed,
        failed_unnamed: r.progress.failed.saturating_sub(failed_clients.len() as u32),
        failed_clients,
        window: match r.phase {
            Phase::Queued => Window::Queued,
            Phase::Ordered(_) => Window::Open,
            Phase::Closed { .. } | Phase::EndedByTarget { .. } => Window::Closed,
        },
        closed_by_admin: r.closed_by_admin(),
        ended_by: match r.phase {
            Phase::Queued | Phase::Ordered(_) => None,
            Phase::Closed { by: ClosedBy::Order, .. } => Some(EndedBy::Order),
            Phase::Closed { by: ClosedBy::Admin, .. } => Some(EndedBy::Admin),
            Phase::EndedByTarget { .. } => Some(EndedBy::Target),
        },
        waiting_for,
        uncounted: match r.phase {
            Phase::Ordered(_) => r.uncounted,
            _ => 0,
        },
        eta_ms: r.eta_ms(now),
        elapsed_ms: r.ended_at().unwrap_or(now).since(r.began),
    }
}

/// Takes the snapshot: runs inside the MGS loop, with the machine at hand.
pub fn snapshot(mgs: &MgsMachine, name: &str, now: Instant) -> Status {
    let mut names: HashMap<NodeId, String> =
        mgs.nodes(now).map(|n| (n.id, n.name.as_str().to_owned())).collect();
    names.insert(mgs.id(), name.to_owned());
    let name_of = |id: NodeId| names.get(&id).cloned().unwrap_or_else(|| format!("#{:08x}", id.0));
    let nodes: Vec<NodeInfo> = mgs
        .nodes(now)
        .map(|n| NodeInfo {
            name: n.name.as_str().to_owned(),
            role: n.role,
            state: n.state,
            generation: n.generation.0,
            parents: n.parents.iter().map(|&p| name_of(p)).collect(),
            last_heard_ms: n.last_heard_ms,
            mounts: n.mounts.len() as u32,
        })
        .collect();
    let subtrees: HashMap<NodeId, StateCounts> = mgs
        .child_routers()
        .map(|(&id, r)| {
            let t = r.totals;
            (id, StateCounts { alive: t.alive, suspect: t.suspect, dead: t.dead, unreachable: t.unreachable })
        })
        .collect();
    let routers = mgs
        .nodes(now)
        .filter(|n| n.role == Role::Router)
        .map(|r| {
            let mut children = StateCounts::default();
            for n in nodes.iter().filter(|n| n.parents.iter().any(|p| p == r.name.as_str())) {
                children.add(n.state);
            }
            RouterInfo {
                name: r.name.as_str().to_owned(),
                state: r.state,
                children,
                subtree: subtrees.get(&r.id).copied(),
            }
        })
        .collect();
    let recoveries = mgs.recoveries();
    let info = |r: &Recovery| {
        let waiting_for = match r.phase {
            Phase::Ordered(order) => mgs.waiting_for(order).map(name_of).collect(),
            _ => Vec::new(),
        };
        recovery_info(r, now, waiting_for, r.failed.iter().map(|&id| name_of(id)).collect())
    };
    let mut targets: Vec<TargetInfo> = mgs
        .targets()
        .map(|t| {
            let s = &t.status;
            let recovery = recoveries.iter().find(|r| r.target == s.target).map(info);
            TargetInfo {
                name: s.target.as_str().to_owned(),
                state: mgs.target_state(t, now),
                generation: s.generation.0,
                server: Some(name_of(t.server)),
                addrs: s.addrs.iter().map(|a| a.as_str().to_owned()).collect(),
                lustre: s.lustre.as_ref().map(|v| lustre_info(v, s.generation.0, recovery.as_ref())),
                recovery,
            }
        })
        .collect();
    for r in recoveries {
        if !targets.iter().any(|t| t.name == r.target.as_str()) {
            let recovery = info(r);
            targets.push(TargetInfo {
                name: r.target.as_str().to_owned(),
                state: if recovery.window == Window::Closed {
                    TargetState::Up
                } else {
                    TargetState::Recovering
                },
                generation: r.target_generation.0,
                server: None,
                addrs: Vec::new(),
                recovery: Some(recovery),
                lustre: None,
            });
        }
    }
    let counters = counter_fields(mgs.counters())
        .into_iter()
        .map(|(name, _, value)| CounterInfo { name: name.to_owned(), value })
        .collect();
    Status {
        mgs: MgsInfo {
            name: name.to_owned(),
            id: format!("{:08x}", mgs.id().0),
            generation: mgs.generation().0,
            uptime_ms: now.as_millis(),
            counters,
            udp: Vec::new(),
        },
        nodes,
        routers,
        targets,
    }
}

impl Status {
    /// Nodes per state.
    pub fn node_counts(&self) -> StateCounts {
        let mut counts = StateCounts::default();
        for n in &self.nodes {
            counts.add(n.state);
        }
        counts
    }
}

/// A Prometheus label value, escaped.
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Prometheus text exposition of a machine's counters.
pub fn render_counters(out: &mut String, counters: &Counters) {
    let fields = counter_fields(counters);
    out.push_str("# HELP vigil_datagrams_total Datagrams received and sent.\n");
    out.push_str("# TYPE vigil_datagrams_total counter\n");
    for (name, _, value) in fields.iter().filter(|f| f.1) {
        let _ = writeln!(out, "vigil_datagrams_total{{dir=\"{name}\"}} {value}");
    }
    out.push_str(
        "# HELP vigil_dropped_total Datagrams, events, requests and lapsed orders dropped, by reason.\n",
    );
    out.push_str("# TYPE vigil_dropped_total counter\n");
    for (name, _, value) in fields.iter().filter(|f| !f.1) {
        let _ = writeln!(out, "vigil_dropped_total{{reason=\"{name}\"}} {value}");
    }
}

/// Reads one recovery gauge (none: not known yet).
type Gauge = fn(&RecoveryInfo) -> Option<f64>;

/// Prometheus text exposition of the MGS's view.
pub fn render_metrics(status: &Status, counters: &Counters) -> String {
    let mut out = String::new();
    out.push_str(
        "# HELP vigil_mgs_generation The MGS's boot generation.\n# TYPE vigil_mgs_generation gauge\n",
    );
    let _ = writeln!(out, "vigil_mgs_generation {}", status.mgs.generation);
    out.push_str("# HELP vigil_nodes Nodes known to the MGS, by state.\n# TYPE vigil_nodes gauge\n");
    for (state, n) in status.node_counts().pairs() {
        let _ = writeln!(out, "vigil_nodes{{state=\"{state}\"}} {n}");
    }
    out.push_str("# HELP vigil_targets Targets, by state.\n# TYPE vigil_targets gauge\n");
    for state in TargetState::ALL {
        let n = status.targets.iter().filter(|t| t.state == state).count();
        let _ = writeln!(out, "vigil_targets{{state=\"{state}\"}} {n}");
    }
    let recoveries: Vec<(&TargetInfo, &RecoveryInfo)> =
        status.targets.iter().filter_map(|t| t.recovery.as_ref().map(|r| (t, r))).collect();
    let gauges: [(&str, &str, Gauge); 6] = [
        ("live", "Live clients counted in the recovery.", |r| Some(r.live.into())),
        ("applied", "Live clients that reported the recovery order.", |r| Some(r.applied.into())),
        ("reconnected", "Live clients that reconnected.", |r| Some(r.reconnected.into())),
        ("failed", "Live clients whose reconnection failed.", |r| Some(r.failed.into())),
        ("window_open", "1 while the target's recovery window is open.", |r| {
            Some((r.window != Window::Closed).into())
        }),
        ("eta_seconds", "Estimated seconds until every live client reconnected.", |r| {
            r.eta_ms.map(|ms| ms as f64 / 1000.0)
        }),
    ];
    for (name, help, value) in gauges {
        let _ = writeln!(out, "# HELP vigil_recovery_{name} {help}\n# TYPE vigil_recovery_{name} gauge");
        for (t, r) in &recoveries {
            if let Some(v) = value(r) {
                let (target, order) = (label(&t.name), label(&r.order_id));
                let _ = writeln!(out, "vigil_recovery_{name}{{target=\"{target}\",order=\"{order}\"}} {v}");
            }
        }
    }
    render_counters(&mut out, counters);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queued_recovery_shows_as_queued_and_its_window_open() {
        let mut r = Recovery {
            target: vigil_proto::ids::name("testfs-OST0009").unwrap(),
            target_generation: vigil_proto::Generation(3),
            origin: vigil_proto::mgs::Origin::Restart,
            began: Instant(10),
            progress: Default::default(),
            failed: Default::default(),
            last_reconnect: Instant(10),
            uncounted: 0,
            phase: Phase::Queued,
        };
        let info = recovery_info(&r, Instant(20), Vec::new(), Vec::new());
        assert_eq!((info.window.as_str(), info.order_id.as_str()), ("queued", "00000000:0/0"));
        r.phase = Phase::Ordered(Default::default());
        assert_eq!(recovery_info(&r, Instant(20), Vec::new(), Vec::new()).window, Window::Open);
        r.phase = Phase::EndedByTarget { begin: Some(Default::default()), at: Instant(30) };
        assert_eq!(recovery_info(&r, Instant(40), Vec::new(), Vec::new()).window, Window::Closed);
    }

    #[test]
    fn metrics_carry_every_counter_and_escape_labels() {
        let counters = Counters { received: 5, unauthenticated: 2, ..Counters::default() };
        let status = Status {
            mgs: MgsInfo {
                name: "mgs".into(),
                id: String::new(),
                generation: 4,
                uptime_ms: 1,
                counters: Vec::new(),
                udp: Vec::new(),
            },
            nodes: vec![NodeInfo {
                mounts: 0,
                name: "c1".into(),
                role: Role::Client,
                state: NodeState::Dead,
                generation: 1,
                parents: vec!["r1".into()],
                last_heard_ms: 10,
            }],
            routers: Vec::new(),
            targets: vec![TargetInfo {
                name: "fs\"OST0".into(),
                state: TargetState::Recovering,
                generation: 2,
                server: Some("s0".into()),
                addrs: Vec::new(),
                recovery: Some(RecoveryInfo {
                    order_id: "4/1".into(),
                    target_generation: 2,
                    manual: false,
                    live: 10,
                    applied: 9,
                    reconnected: 8,
                    failed: 1,
                    failed_clients: vec!["c9".into()],
                    failed_unnamed: 0,
                    window: Window::Open,
                    closed_by_admin: false,
                    ended_by: None,
                    waiting_for: Vec::new(),
                    uncounted: 0,
                    eta_ms: None,
                    elapsed_ms: 100,
                }),
                lustre: None,
            }],
        };
        let text = render_metrics(&status, &counters);
        assert!(text.contains("vigil_mgs_generation 4\n"));
        assert!(text.contains("vigil_nodes{state=\"dead\"} 1\n"));
        assert!(text.contains("vigil_nodes{state=\"alive\"} 0\n"));
        assert!(text.contains("vigil_targets{state=\"recovering\"} 1\n"));
        assert!(text.contains("vigil_recovery_reconnected{target=\"fs\\\"OST0\",order=\"4/1\"} 8\n"));
        assert!(!text.contains("vigil_recovery_eta_seconds{"), "no estimate yet");
        assert!(text.contains("vigil_datagrams_total{dir=\"received\"} 5\n"));
        assert!(text.contains("vigil_dropped_total{reason=\"unauthenticated\"} 2\n"));
        assert_eq!(text.matches("vigil_dropped_total{").count(), 17);
        // The JSON names states as words (the contract scripts and the web view read).
        let json = serde_json::to_string(&status).unwrap();
        for field in
            [r#""role":"client""#, r#""state":"dead""#, r#""state":"recovering""#, r#""window":"open""#]
        {
            assert!(json.contains(field), "{field} in {json}");
        }
        let back: Status = serde_json::from_str(&json).unwrap();
        assert_eq!(back.targets[0].recovery.as_ref().map(|r| r.window), Some(Window::Open));
    }
}
