//! What a scenario run reports: the figures (with stable JSON keys), the human table, and the
//! sweep's table and SVG plot.
//!
//! Every time is in ms after the target restarted. Ratios are baseline / Vigil, both measured in
//! the same run: above 1, Vigil is that many times sooner.

use std::fmt::Write as _;

use serde::Serialize;

/// The scenario's parameters.
#[derive(Clone, Debug, Serialize)]
pub struct Params {
    /// Clients.
    pub clients: usize,
    /// Routers on the first and second level.
    pub routers: [usize; 2],
    /// Clients' ping interval (routers update every half of it), ms.
    pub interval_ms: u32,
    /// Datagram loss probability.
    pub loss: f64,
    /// One-way latency, ms.
    pub latency_ms: u64,
    /// Uniform extra one-way latency, ms.
    pub jitter_ms: u64,
    /// Share of clients that die before the restart.
    pub dead_fraction: f64,
    /// Targets (one server each).
    pub targets: usize,
    /// Targets that restart at the same instant (the first `restarting`; e.g. an OSS failing
    /// over all its OSTs). The main figures are those of the first.
    pub restarting: usize,
    /// The seed.
    pub seed: u64,
    /// Status holders: MGS instances every top router lists as parents (1 to
    /// [`vigil_proto::MAX_UPSTREAMS`]).
    pub holders: usize,
    /// Stop the first holder mid-recovery (a client hook's time after it ordered the recovery,
    /// while clients reconnect): the others close the window alone.
    pub kill_holder: bool,
    /// After the recovery, restart the first holder and time how long it takes to see every
    /// running node alive again.
    pub restart_mgs: bool,
}

impl Params {
    /// Routers' update interval, ms: half the clients' ping interval.
    pub fn update_interval_ms(&self) -> u32 {
        (self.interval_ms / 2).max(1)
    }
}

impl Default for Params {
    fn default() -> Self {
        Params {
            clients: 100_000,
            routers: [10, 100],
            interval_ms: 2_000,
            loss: 0.01,
            latency_ms: 1,
            jitter_ms: 1,
            dead_fraction: 0.05,
            targets: 4,
            restarting: 1,
            seed: 1,
            holders: 1,
            kill_holder: false,
            restart_mgs: false,
        }
    }
}

impl Params {
    /// The default scenario scaled to `clients`: about 1,000 clients per second-level router and
    /// ten second-level routers per first-level one.
    pub fn scaled(&self, clients: usize) -> Params {
        let l2 = clients.div_ceil(1_000).max(1);
        let l1 = l2.div_ceil(10);
        Params { clients, routers: [l1, l2], ..self.clone() }
    }
}

/// Percentiles of a set of times (nearest rank); `None` when the set is empty.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Spread {
    /// Median.
    pub p50: Option<u64>,
    /// 99th percentile.
    pub p99: Option<u64>,
    /// Largest.
    pub max: Option<u64>,
}

impl Spread {
    /// The spread of `values`.
    pub fn of(values: &[u64]) -> Spread {
        let mut v = values.to_vec();
        v.sort_unstable();
        let rank = |q: f64| {
            let k = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len().max(1));
            v.get(k - 1).copied()
        };
        Spread { p50: rank(0.50), p99: rank(0.99), max: v.last().copied() }
    }
}

/// One recovery's timeline.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Times {
    /// Until the MGS knew of the restart (`None`: no MGS step in this model).
    pub mgs_knows_ms: Option<u64>,
    /// Until each live client was ordered (learnt it must reconnect).
    pub ordered_ms: Spread,
    /// Until each live client had reconnected.
    pub reconnected_ms: Spread,
    /// Until the target's window closed.
    pub window_closed_ms: u64,
}

/// Baseline / Vigil for the figures both have.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Ratios {
    /// Of the last live client ordered.
    pub ordered_max: Option<f64>,
    /// Of the median client ordered.
    pub ordered_p50: Option<f64>,
    /// Of the median client reconnected.
    pub reconnected_p50: Option<f64>,
    /// Of the last live client reconnected.
    pub reconnected_max: Option<f64>,
    /// Of the window closing.
    pub window_closed: Option<f64>,
}

fn ratio(base: Option<u64>, vigil: Option<u64>) -> Option<f64> {
    let (b, v) = (base? as f64, vigil? as f64);
    // Sub-millisecond Vigil figures count as one millisecond: the simulator's resolution.
    Some(b / v.max(1.0))
}

impl Ratios {
    /// `base` / `vigil`.
    pub fn of(base: &Times, vigil: &Times) -> Ratios {
        Ratios {
            ordered_max: ratio(base.ordered_ms.max, vigil.ordered_ms.max),
            ordered_p50: ratio(base.ordered_ms.p50, vigil.ordered_ms.p50),
            reconnected_p50: ratio(base.reconnected_ms.p50, vigil.reconnected_ms.p50),
            reconnected_max: ratio(base.reconnected_ms.max, vigil.reconnected_ms.max),
            window_closed: ratio(Some(base.window_closed_ms), Some(vigil.window_closed_ms)),
        }
    }
}

/// Datagrams and bytes per second.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Rate {
    /// Datagrams per second.
    pub datagrams_per_s: f64,
    /// Bytes per second (datagram payloads: header, body, tag).
    pub bytes_per_s: f64,
}

/// Steady-state traffic into one router level.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Level {
    /// 1 = children of the MGS.
    pub level: usize,
    /// Routers on the level.
    pub routers: usize,
    /// Into the whole level.
    pub total: Rate,
    /// Into one router on average.
    pub per_router: Rate,
}

/// Steady-state traffic.
#[derive(Clone, Debug, Serialize)]
pub struct Load {
    /// Length of the measurement, ms.
    pub window_ms: u64,
    /// Into the MGS (every status holder together: the routers' upstream traffic).
    pub mgs: Rate,
    /// Into each router level.
    pub levels: Vec<Level>,
    /// Into one client on average.
    pub client_in: Rate,
    /// Out of one client on average.
    pub client_out: Rate,
    /// Datagrams into one status holder per first-level router per update interval (target:
    /// at most 1).
    pub mgs_datagrams_per_router_per_update: f64,
}

/// The fullest router table seen on a level.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Occupancy {
    /// The level.
    pub level: usize,
    /// Most entries one router of the level held.
    pub peak_entries: usize,
    /// That router's capacity.
    pub capacity: usize,
}

/// Everything one run measured.
#[derive(Clone, Debug, Serialize)]
pub struct Figures {
    /// What was run.
    pub params: Params,
    /// Clients alive at the restart.
    pub live_clients: usize,
    /// Clients dead at the restart.
    pub dead_clients: usize,
    /// Until the MGS showed every node alive and the boot recoveries closed (from time zero).
    pub boot_ms: u64,
    /// Vigil's recovery.
    pub vigil: Times,
    /// When the first status holder issued `CloseWindow` (the server closes its window one hop
    /// and a hook later).
    pub mgs_close_ms: Option<u64>,
    /// Datagrams into the status holders from the restart until every restarted window closed
    /// (the routers' upstream traffic of the recovery).
    pub recovery_upstream_datagrams: u64,
    /// When the first holder was stopped (with `kill_holder`), ms after the restart.
    pub holder_killed_ms: Option<u64>,
    /// With `restart_mgs`: from the first holder's restart until its view showed every running
    /// node alive, ms (`None` when it never did within the phase's limit).
    pub mgs_restart_whole_ms: Option<u64>,
    /// Lustre's imperative recovery.
    pub lustre_ir: Times,
    /// Passive recovery.
    pub passive: Times,
    /// Lustre IR / Vigil.
    pub ratios_ir: Ratios,
    /// Passive / Vigil.
    pub ratios_passive: Ratios,
    /// Steady-state traffic.
    pub load: Load,
    /// Router table occupancy per level.
    pub occupancy: Vec<Occupancy>,
    /// Every restarted target's window: closed how long after the restart, and whether by
    /// Vigil's order (rather than the target's own time-out).
    pub restarted: Vec<Window>,
    /// Live clients the MGS showed dead at any sample.
    pub false_deaths: usize,
    /// Simulated time at the end, ms.
    pub simulated_ms: u64,
    /// Wall-clock time of the run, ms.
    pub wall_ms: u64,
}

/// One restarted target's window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Window {
    /// The target.
    pub target: String,
    /// Closed this long after the restart, ms.
    pub closed_ms: u64,
    /// Closed by Vigil's `CloseWindow` order.
    pub by_order: bool,
    /// Live clients the MGS counted reconnected, of those it counted live, at the end.
    pub reconnected: (u32, u32),
    /// When the last live client finished reconnecting, ms after the restart.
    pub last_reconnected_ms: Option<u64>,
    /// When the MGS ordered `CloseWindow`, ms after the restart.
    pub mgs_close_ms: Option<u64>,
}

fn ms(v: Option<u64>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

fn times(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v < 10.0 => format!("{v:.2}x"),
        Some(v) => format!("{v:.0}x"),
    }
}

/// The human table of one run.
pub fn table(f: &Figures) -> String {
    let p = &f.params;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Vigil sim: {} clients ({} live, {} dead), routers {}+{}, {} targets, interval {} ms, loss {}%, \
         latency {}+{} ms, seed {}",
        p.clients,
        f.live_clients,
        f.dead_clients,
        p.routers[0],
        p.routers[1],
        p.targets,
        p.interval_ms,
        p.loss * 100.0,
        p.latency_ms,
        p.jitter_ms,
        p.seed
    );
    let _ = writeln!(
        s,
        "\nms after the target restart     {:>10} {:>10} {:>10} {:>8} {:>8}",
        "vigil", "lustre-ir", "passive", "ir/v", "pass/v"
    );
    let (v, ir, pa) = (&f.vigil, &f.lustre_ir, &f.passive);
    let mut row =
        |name: &str, a: Option<u64>, b: Option<u64>, c: Option<u64>, rb: Option<f64>, rc: Option<f64>| {
            let _ = writeln!(
                s,
                "{name:<32}{:>10} {:>10} {:>10} {:>8} {:>8}",
                ms(a),
                ms(b),
                ms(c),
                times(rb),
                times(rc)
            );
        };
    row("MGS knows", v.mgs_knows_ms, ir.mgs_knows_ms, pa.mgs_knows_ms, None, None);
    row(
        "clients ordered p50",
        v.ordered_ms.p50,
        ir.ordered_ms.p50,
        pa.ordered_ms.p50,
        f.ratios_ir.ordered_p50,
        f.ratios_passive.ordered_p50,
    );
    row("clients ordered p99", v.ordered_ms.p99, ir.ordered_ms.p99, pa.ordered_ms.p99, None, None);
    row(
        "all live clients ordered",
        v.ordered_ms.max,
        ir.ordered_ms.max,
        pa.ordered_ms.max,
        f.ratios_ir.ordered_max,
        f.ratios_passive.ordered_max,
    );
    row(
        "reconnected p50",
        v.reconnected_ms.p50,
        ir.reconnected_ms.p50,
        pa.reconnected_ms.p50,
        f.ratios_ir.reconnected_p50,
        f.ratios_passive.reconnected_p50,
    );
    row("reconnected p99", v.reconnected_ms.p99, ir.reconnected_ms.p99, pa.reconnected_ms.p99, None, None);
    row(
        "all live clients reconnected",
        v.reconnected_ms.max,
        ir.reconnected_ms.max,
        pa.reconnected_ms.max,
        f.ratios_ir.reconnected_max,
        f.ratios_passive.reconnected_max,
    );
    row(
        "window closed",
        Some(v.window_closed_ms),
        Some(ir.window_closed_ms),
        Some(pa.window_closed_ms),
        f.ratios_ir.window_closed,
        f.ratios_passive.window_closed,
    );
    let _ = writeln!(s, "(Vigil's MGS ordered CloseWindow at {} ms)", ms(f.mgs_close_ms));
    if p.holders > 1 {
        let _ = writeln!(
            s,
            "{} status holders; upstream datagrams of the recovery: {}{}",
            p.holders,
            f.recovery_upstream_datagrams,
            f.holder_killed_ms.map_or(String::new(), |t| format!("; the first holder stopped at {t} ms"))
        );
    }
    if f.restarted.len() > 1 {
        let _ = writeln!(s, "\n{} targets restarted together; their windows:", f.restarted.len());
        for w in &f.restarted {
            let how = if w.by_order { "by order" } else { "by its own time-out" };
            let (back, live) = w.reconnected;
            let _ = writeln!(
                s,
                "  {:<28}{:>10} ms  {how} ({back} of {live} reconnected, the last at {} ms; MGS closed at {} ms)",
                w.target,
                w.closed_ms,
                ms(w.last_reconnected_ms),
                ms(w.mgs_close_ms)
            );
        }
    }
    let l = &f.load;
    let _ =
        writeln!(s, "\nsteady state over {} ms         {:>12} {:>12}", l.window_ms, "datagrams/s", "bytes/s");
    let _ = writeln!(
        s,
        "into the MGS                    {:>12.1} {:>12.0}",
        l.mgs.datagrams_per_s, l.mgs.bytes_per_s
    );
    for lv in &l.levels {
        let _ = writeln!(
            s,
            "into level {} ({} routers)       {:>12.1} {:>12.0}",
            lv.level, lv.routers, lv.total.datagrams_per_s, lv.total.bytes_per_s
        );
        let _ = writeln!(
            s,
            "  per router                    {:>12.1} {:>12.0}",
            lv.per_router.datagrams_per_s, lv.per_router.bytes_per_s
        );
    }
    let _ = writeln!(
        s,
        "per client, in                  {:>12.3} {:>12.1}",
        l.client_in.datagrams_per_s, l.client_in.bytes_per_s
    );
    let _ = writeln!(
        s,
        "per client, out                 {:>12.3} {:>12.1}",
        l.client_out.datagrams_per_s, l.client_out.bytes_per_s
    );
    let _ = writeln!(
        s,
        "MGS datagrams per top router per update interval: {:.2}",
        l.mgs_datagrams_per_router_per_update
    );
    if p.restart_mgs {
        let _ = writeln!(
            s,
            "MGS restarted: its view showed every running node alive {} ms later (update interval {} ms)",
            ms(f.mgs_restart_whole_ms),
            p.update_interval_ms()
        );
    }
    for o in &f.occupancy {
        let _ = writeln!(s, "peak table, level {}: {} of {} entries", o.level, o.peak_entries, o.capacity);
    }
    let _ = writeln!(s, "false deaths: {}", f.false_deaths);
    let _ = writeln!(
        s,
        "boot settled at {} ms; simulated {} ms in {} ms wall",
        f.boot_ms, f.simulated_ms, f.wall_ms
    );
    s
}

/// The sweep's table: how each figure grows with the number of clients.
pub fn sweep_table(runs: &[Figures]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:>9} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>10} {:>8} {:>6} {:>8}",
        "clients",
        "knows",
        "ord.p99",
        "ord.max",
        "recon",
        "closed",
        "ir.close",
        "pas.close",
        "mgs dg/s",
        "l1 dg/s",
        "cl dg/s",
        "false",
        "wall ms"
    );
    for f in runs {
        let _ = writeln!(
            s,
            "{:>9} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10.1} {:>10.1} {:>8.3} {:>6} {:>8}",
            f.params.clients,
            ms(f.vigil.mgs_knows_ms),
            ms(f.vigil.ordered_ms.p99),
            ms(f.vigil.ordered_ms.max),
            ms(f.vigil.reconnected_ms.max),
            f.vigil.window_closed_ms,
            f.lustre_ir.window_closed_ms,
            f.passive.window_closed_ms,
            f.load.mgs.datagrams_per_s,
            f.load.levels.first().map_or(0.0, |l| l.per_router.datagrams_per_s),
            f.load.client_in.datagrams_per_s + f.load.client_out.datagrams_per_s,
            f.false_deaths,
            f.wall_ms
        );
    }
    s
}

/// The holders comparison: one row per run (1, 2, 3 holders, one of two stopped mid-recovery),
/// with the window and the routers' upstream traffic, and the window against the first row's.
pub fn holders_table(runs: &[Figures]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<28} {:>9} {:>9} {:>9} {:>11} {:>13} {:>12}",
        "holders", "closed", "vs first", "mgs.close", "killed at", "up dg/s", "recovery dg"
    );
    let first = runs.first().map_or(1, |f| f.vigil.window_closed_ms.max(1));
    for f in runs {
        let what = match (f.params.holders, f.params.kill_holder) {
            (1, _) => "1".to_owned(),
            (n, false) => n.to_string(),
            (n, true) => format!("{n}, the first stopped"),
        };
        let _ = writeln!(
            s,
            "{what:<28} {:>9} {:>8.1}% {:>9} {:>11} {:>13.1} {:>12}",
            f.vigil.window_closed_ms,
            (f.vigil.window_closed_ms as f64 / first as f64 - 1.0) * 100.0,
            ms(f.mgs_close_ms),
            ms(f.holder_killed_ms),
            f.load.mgs.datagrams_per_s,
            f.recovery_upstream_datagrams,
        );
    }
    s
}

/// One plotted line: its legend, its points, its colour.
type Line = (&'static str, Vec<(f64, f64)>, plotters::style::RGBColor);

/// The sweep as an SVG plot: recovery times (left) and steady-state load (right) against the
/// number of clients, log-log.
pub fn sweep_svg(runs: &[Figures], path: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    let root = SVGBackend::new(path, (1200, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(600);
    let series = |get: &dyn Fn(&Figures) -> f64| -> Vec<(f64, f64)> {
        runs.iter().map(|f| (f.params.clients as f64, get(f).max(1.0))).collect()
    };
    let times: Vec<Line> = vec![
        ("vigil: all ordered", series(&|f| f.vigil.ordered_ms.max.unwrap_or(0) as f64), GREEN),
        ("vigil: window closed", series(&|f| f.vigil.window_closed_ms as f64), BLUE),
        (
            "lustre IR: all reconnected",
            series(&|f| f.lustre_ir.reconnected_ms.max.unwrap_or(0) as f64),
            MAGENTA,
        ),
        ("lustre IR: window closed", series(&|f| f.lustre_ir.window_closed_ms as f64), RED),
        ("passive: window closed", series(&|f| f.passive.window_closed_ms as f64), BLACK),
    ];
    panel(&left, "ms after a target restart", "ms", runs, &times)?;
    let loads: Vec<Line> = vec![
        ("into the MGS", series(&|f| f.load.mgs.datagrams_per_s), RED),
        ("into one top router", series(&|f| f.load.levels[0].per_router.datagrams_per_s), BLUE),
        (
            "into one 2nd-level router",
            series(&|f| f.load.levels.get(1).map_or(0.0, |l| l.per_router.datagrams_per_s)),
            GREEN,
        ),
    ];
    panel(&right, "steady-state datagrams/s", "datagrams/s", runs, &loads)?;
    root.present()?;
    Ok(())
}

fn panel(
    area: &plotters::drawing::DrawingArea<plotters::prelude::SVGBackend, plotters::coord::Shift>,
    caption: &str,
    y_desc: &str,
    runs: &[Figures],
    lines: &[Line],
) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    let xs = runs.iter().map(|f| f.params.clients as f64);
    let x0 = xs.clone().fold(f64::MAX, f64::min) * 0.8;
    let x1 = xs.fold(1.0, f64::max) * 1.25;
    let y1 = lines.iter().flat_map(|l| l.1.iter().map(|p| p.1)).fold(10.0, f64::max) * 3.0;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d((x0..x1).log_scale(), (1.0f64..y1).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("clients")
        .y_desc(y_desc)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()?;
    for (name, data, color) in lines.iter().cloned() {
        chart
            .draw_series(LineSeries::new(data.clone(), color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        chart.draw_series(data.into_iter().map(|p| Circle::new(p, 3, color.filled())))?;
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        let s = Spread::of(&v);
        assert_eq!((s.p50, s.p99, s.max), (Some(50), Some(99), Some(100)));
        assert_eq!(Spread::of(&[]).max, None);
        assert_eq!(Spread::of(&[7]).p50, Some(7));
    }
}
