//! The status as an operator reads it in a terminal (`vigil status`): counts per state, routers
//! and their subtrees, the nodes not alive, and each target's recovery with every figure named.

use std::fmt::Write;

use vigil_proto::wire::{LustrePhase, NodeState};

use crate::status::{LustreInfo, RecoveryInfo, Status, TargetInfo, Window};

fn secs(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

/// ` (waiting for r1, r2)` while a window waits for child routers' subtrees.
pub fn waiting(routers: &[String]) -> String {
    if routers.is_empty() {
        String::new()
    } else {
        format!(" (waiting for {})", routers.join(", "))
    }
}

/// ` (1 live client not counted yet)` while the view shows live clients no parent's sums
/// count (see [`RecoveryInfo::uncounted`]).
fn uncounted(count: u32) -> String {
    match count {
        0 => String::new(),
        1 => " (1 live client not counted yet)".to_owned(),
        n => format!(" ({n} live clients not counted yet)"),
    }
}

/// One recovery, every figure named: `order 7/3: 2 of 4 reconnected (50%), 4 applied, 0 failed,
/// window open for 1.5 s, eta 1.5 s`; failed clients by name: `1 failed (c07)`.
fn recovery_line(t: &TargetInfo) -> String {
    let Some(r) = &t.recovery else { return "-".to_owned() };
    let pct = if r.live == 0 { 100 } else { u64::from(r.reconnected) * 100 / u64::from(r.live) };
    let window = match r.window {
        Window::Closed if r.closed_by_admin => format!("window closed by admin after {}", secs(r.elapsed_ms)),
        Window::Closed => format!("window closed after {}", secs(r.elapsed_ms)),
        Window::Queued => format!("queued for {}", secs(r.elapsed_ms)),
        Window::Open => format!(
            "window open{}{} for {}, eta {}",
            waiting(&r.waiting_for),
            uncounted(r.uncounted),
            secs(r.elapsed_ms),
            r.eta_ms.map_or_else(|| "unknown".to_owned(), secs)
        ),
    };
    format!(
        "order {}{}: {} of {} reconnected ({pct}%), {} applied, {} failed{}, {window}",
        r.order_id,
        if r.manual { " (manual)" } else { "" },
        r.reconnected,
        r.live,
        r.applied,
        r.failed,
        failed_names(r),
    )
}

/// ` (c07, c12 and 3 more)`: the failed clients the MGS names, and how many it does not.
fn failed_names(r: &RecoveryInfo) -> String {
    match (r.failed_clients.as_slice(), r.failed_unnamed) {
        ([], _) => String::new(),
        (names, 0) => format!(" ({})", names.join(", ")),
        (names, more) => format!(" ({} and {more} more)", names.join(", ")),
    }
}

/// Lustre's view of a target's recovery, as a line under the target's row.
fn lustre_line(l: &LustreInfo) -> String {
    let mut line = match l.status {
        LustrePhase::Inactive => "Lustre: no recovery (no client to recover)".to_owned(),
        LustrePhase::Complete => format!(
            "Lustre: COMPLETE in {} s, {}/{} recovered, {} evicted",
            l.duration_s, l.connected, l.recoverable, l.evicted
        ),
        // WAITING_FOR_CLIENTS or an MDT's WAITING: Lustre prints no client counts.
        LustrePhase::Waiting => {
            "Lustre: WAITING (for a first client, or other MDTs), no client counts yet".to_owned()
        }
        LustrePhase::Recovering => format!(
            "Lustre: RECOVERING, {}/{} connected, {} evicted, {} stale",
            l.connected, l.recoverable, l.evicted, l.stale
        ),
    };
    if l.partial {
        let _ = write!(
            line,
            "; partial: waits for {} client(s) Vigil does not know, left to Lustre's timer",
            l.stale
        );
    }
    line
}

/// The readable status: counts per state, routers and their subtrees, nodes not alive, targets.
pub fn render(status: &Status) -> String {
    let mut out = String::new();
    let counts = status.node_counts();
    let _ = writeln!(
        out,
        "MGS {} (id {}) generation {}, up {:.0} s, {} nodes",
        status.mgs.name,
        status.mgs.id,
        status.mgs.generation,
        status.mgs.uptime_ms as f64 / 1000.0,
        status.nodes.len()
    );
    let per_state: Vec<String> = counts.pairs().iter().map(|(s, n)| format!("{s} {n}")).collect();
    let _ = writeln!(out, "  {}", per_state.join(", "));
    if !status.routers.is_empty() {
        let _ = writeln!(
            out,
            "\nROUTER                           STATE        CHILDREN (alive/suspect/dead/unreachable)"
        );
        for r in &status.routers {
            let c = &r.children;
            let mut line = format!(
                "{:<32} {:<12} {}/{}/{}/{}",
                r.name, r.state, c.alive, c.suspect, c.dead, c.unreachable
            );
            if let Some(s) = &r.subtree {
                let _ = write!(line, "   subtree {}/{}/{}/{}", s.alive, s.suspect, s.dead, s.unreachable);
            }
            let _ = writeln!(out, "{line}");
        }
    }
    let troubled: Vec<_> = status.nodes.iter().filter(|n| n.state != NodeState::Alive).collect();
    if !troubled.is_empty() {
        let _ = writeln!(out, "\nNOT ALIVE                        ROLE     STATE        LAST HEARD   VIA");
        for n in troubled {
            let _ = writeln!(
                out,
                "{:<32} {:<8} {:<12} {:>8.1} s   {}",
                n.name,
                n.role,
                n.state,
                n.last_heard_ms as f64 / 1000.0,
                n.parents.join(",")
            );
        }
    }
    if !status.targets.is_empty() {
        let _ = writeln!(out, "\nTARGET                           STATE        GEN   RECOVERY");
        for t in &status.targets {
            let _ = writeln!(out, "{:<32} {:<12} {:<5} {}", t.name, t.state, t.generation, recovery_line(t));
            if let Some(l) = &t.lustre {
                let _ = writeln!(out, "{:<51} {}", "", lustre_line(l));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{MgsInfo, NodeInfo};
    use vigil_proto::wire::{Role, TargetState};

    #[test]
    fn the_table_shows_counts_troubles_and_progress() {
        let node = |name: &str, state: &str| NodeInfo {
            mounts: 0,
            name: name.into(),
            role: Role::Client,
            state: serde_json::from_value(serde_json::json!(state)).expect("a name the status uses"),
            generation: 1,
            parents: vec!["r1".into()],
            last_heard_ms: 4200,
        };
        let status = Status {
            mgs: MgsInfo {
                name: "mgs".into(),
                id: "5f0e2c1a".into(),
                generation: 2,
                uptime_ms: 60_000,
                counters: Vec::new(),
                udp: Vec::new(),
            },
            nodes: vec![node("c1", "alive"), node("c2", "dead")],
            routers: Vec::new(),
            targets: vec![TargetInfo {
                name: "fs-OST0001".into(),
                state: TargetState::Recovering,
                generation: 3,
                server: Some("s1".into()),
                addrs: Vec::new(),
                recovery: Some(RecoveryInfo {
                    order_id: "2/1".into(),
                    target_generation: 3,
                    manual: false,
                    live: 4,
                    applied: 4,
                    reconnected: 2,
                    failed: 0,
                    failed_clients: Vec::new(),
                    failed_unnamed: 0,
                    window: Window::Open,
                    closed_by_admin: false,
                    ended_by: None,
                    waiting_for: vec!["r2".into(), "r3".into()],
                    uncounted: 0,
                    eta_ms: Some(1500),
                    elapsed_ms: 1500,
                }),
                lustre: Some(LustreInfo {
                    status: LustrePhase::Recovering,
                    recoverable: 6,
                    connected: 4,
                    evicted: 1,
                    stale: 1,
                    partial: true,
                    duration_s: 0,
                }),
            }],
        };
        let text = render(&status);
        assert!(text.contains("Lustre: RECOVERING, 4/6 connected, 1 evicted, 1 stale"), "{text}");
        let mut waiting = status.clone();
        let l = waiting.targets[0].lustre.as_mut().unwrap();
        (l.status, l.recoverable, l.connected, l.evicted, l.stale, l.partial) =
            (LustrePhase::Waiting, 0, 0, 0, 0, false);
        let text_waiting = render(&waiting);
        assert!(text_waiting
            .contains("Lustre: WAITING (for a first client, or other MDTs), no client counts yet"));
        assert!(!text_waiting.contains("0/0"), "{text_waiting}");
        assert!(text.contains("partial: waits for 1 client(s) Vigil does not know"), "{text}");
        assert!(text.contains("alive 1, suspect 0, dead 1, unreachable 0"), "{text}");
        assert!(text.contains("c2") && !text.contains("c1 "), "{text}");
        assert!(
            text.contains("order 2/1: 2 of 4 reconnected (50%), 4 applied, 0 failed, window open (waiting for r2, r3) for 1.5 s, eta 1.5 s"),
            "{text}"
        );
        // Every counted client back, one live client the sums do not count yet: named.
        let mut uncounted = status.clone();
        let r = uncounted.targets[0].recovery.as_mut().unwrap();
        (r.reconnected, r.waiting_for, r.uncounted) = (4, Vec::new(), 1);
        assert!(
            render(&uncounted).contains("4 of 4 reconnected (100%), 4 applied, 0 failed, window open (1 live client not counted yet) for"),
            "{}",
            render(&uncounted)
        );
        // Closed, or with no rate to go by: no figure without its name, no estimate made up.
        let mut closed = status.clone();
        let r = closed.targets[0].recovery.as_mut().unwrap();
        (r.window, r.closed_by_admin, r.elapsed_ms) = (Window::Closed, true, 7_100);
        let text = render(&closed);
        assert!(text.contains("0 failed, window closed by admin after 7.1 s\n"), "{text}");
        // Failed clients by name, and how many went unnamed.
        let mut failed = status.clone();
        let r = failed.targets[0].recovery.as_mut().unwrap();
        (r.failed, r.failed_clients, r.failed_unnamed) = (11, vec!["c07".into(), "c12".into()], 9);
        assert!(
            render(&failed).contains("4 applied, 11 failed (c07, c12 and 9 more), window open"),
            "{}",
            render(&failed)
        );
        let mut stuck = status.clone();
        stuck.targets[0].recovery.as_mut().unwrap().eta_ms = None;
        assert!(render(&stuck).contains("for 1.5 s, eta unknown\n"), "{}", render(&stuck));
    }
}
