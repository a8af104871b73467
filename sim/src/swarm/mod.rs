//! Swarm testing: random clusters × random faults × invariants checked at every step, each run
//! reproducible from its seed.
//!
//! Each seed draws ([`draw`]) a cluster: an MGS (and, for a share of the seeds with routers,
//! [`Config::two_holders`], a second status holder every top router reports to; a holder may be
//! stopped mid-recovery, and restarted with the other restarting in turn, and the second cut off
//! from a top router), 0–3 levels of routers (some with two parents),
//! 1–4 targets, 2–300 clients (some with two parents); a ping interval of 0.5, 1 or 2 s (routers
//! update twice as often; thresholds are the defaults); latency and jitter; loss per link from 0
//! to 30%, reordering and duplication; a target window of 15–40 intervals; and a schedule of
//! faults: target restarts (some twice in a row, the second while recovering), crashes of any
//! node with or without a restart, a client losing its state file, the MGS restarting (alone,
//! with a router, or having lost its state), a router crashing right after it takes an order,
//! cut links and partitioned subtrees that heal or not, and admin `recover` and `close` at
//! random moments. A share of the seeds starts every datagram sequence, the order sequence
//! and every generation within 1,000 of the 32-bit wrap point (router versions start at 0: the
//! parent's acknowledgement does too, so they reach the wrap point only by counting). Faults end by a drawn time;
//! then loss stops and the run goes on until every target's own window has run out.
//!
//! The invariants ([`check`]), each violation reported with its seed and a trace of the last
//! faults and orders:
//! - **exactly once**: a client instance runs its reconnect hook at most once per (target,
//!   target instance); a server its close hook at most once per target instance, over every
//!   holder's orders;
//! - **no early close**: when a window closes by order of any holder, every client that is up, was up when
//!   the target restarted and has not reconnected has been silent on every path for the dead
//!   threshold, or came back from such a silence so lately that the news cannot have reached
//!   the holder (within an update interval per router level, and one more). An admin's
//!   `recover` of a target already up opens no window of the target's: its `CloseWindow` closes
//!   nothing at the server, and is not checked;
//! - **liveness**: at the end every target is up, no running holder orders a recovery of a
//!   target instance that is up and that it reaches, and neither a holder nor a router a running
//!   holder reaches holds a `BeginRecovery` of a target that is up (a router cut off for good
//!   cannot be told);
//! - **view**: [`draw::VIEW_BOUND_INTERVALS`] update intervals past the dead threshold after
//!   faults healed, each holder that is up shows every node that is up and reachable from it
//!   alive with its generation, and no other node live;
//! - **consistency**: at every update interval, each recovery's progress counts
//!   `reconnected + failed ≤ applied ≤ live ≤ clients`;
//! - **no false death**: a parent declares a child dead only if it was down, (re)started within
//!   the dead threshold (it or the parent), or its link was cut within it. On links up to 5% loss
//!   a false death is a violation; above, it is counted. The loss is the one the silence was
//!   judged over: within a dead threshold after faults ended, the link's loss before.
//!
//! Known bugs the swarm can be told to draw around are [`Known`]; the summary line names each
//! exclusion in force. To triage a failing seed, [`Config::trace`] (`--trace NODE`) tells one
//! node's story through it ([`trace`]).

pub mod check;
pub mod draw;
pub mod trace;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::Serialize;
use vigil_proto::{ids, Event, Generation};

use self::check::Checker;
use self::draw::{target_name, Act, Draw};
use self::trace::Tracer;
use crate::Net;

/// A known bug the swarm draws around (or whose check it skips) until it is fixed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Known {
    /// Counters wrap but are compared plainly: no seed starts them near the wrap point.
    CounterWrap,
    /// An MGS whose generation went backwards is dropped as stale, and one back with the same
    /// generation has its replies taken for replays and reissues order ids clients have seen: the
    /// MGS never loses its state. (Fixed: a host boots with at least the wall clock's reading,
    /// above every generation it used. Drawn only with MGS restarts.)
    MgsLostState,
    /// An MGS restarting with a router may close a window early: they never restart together.
    MgsWithRouter,
    /// A router dying after it took an order keeps a frozen summary: none crashes just then.
    RouterAfterOrder,
    /// `recover` on a recovering target is replaced by the next automatic order: no admin
    /// `recover`.
    RecoverWhileRecovering,
    /// A router that missed a `CloseWindow` before the MGS released it (its target came up)
    /// keeps the `BeginRecovery` it replaces: held orders are not checked.
    HeldAfterClose,
    /// A two-parent client counts nowhere when its home link fails, and is counted at both
    /// parents while its home moves back and forth: every client has one parent. (Fixed: a
    /// client keeps its new home while it answers, its old home counts it until the new one
    /// accepted the move, and a parent takes the home flag from a child's newest ping only.)
    TwoParentHome,
    /// A holder that restarts forgets the recoveries it ordered; a router that rebooted meanwhile
    /// takes such an order again from a parent that still holds it, and holds it past its
    /// window (seed 122): the MGS never restarts. (Fixed: a restarted MGS with direct clients,
    /// or given back nothing of its tree, holds its closes for a dead threshold; its earlier
    /// `BeginRecovery` that it never superseded lapses a window after its issue, its age
    /// travelling with it.)
    MgsRestart,
    /// A router that restarted forgot the children it did not hear from before its first
    /// snapshot, and the MGS could close a window without them: no router crashes. (Fixed:
    /// kept for the seeds drawn around it.)
    RouterRestart,
    /// A client that lost its state file boots with the generation it had (1): its parents take
    /// its pings for replays until they declared its old instance dead, which can take several
    /// dead thresholds. No client loses its state file. (Fixed as [`Known::MgsLostState`].)
    ClientLostState,
}

impl Known {
    /// Every known bug, in the order the summary names them.
    pub const ALL: [Known; 10] = [
        Known::CounterWrap,
        Known::MgsLostState,
        Known::MgsWithRouter,
        Known::RouterAfterOrder,
        Known::RecoverWhileRecovering,
        Known::HeldAfterClose,
        Known::TwoParentHome,
        Known::ClientLostState,
        Known::MgsRestart,
        Known::RouterRestart,
    ];

    /// Its name on the command line and in the summary.
    pub fn name(self) -> &'static str {
        match self {
            Known::CounterWrap => "counter-wrap",
            Known::MgsLostState => "mgs-lost-state",
            Known::MgsWithRouter => "mgs-with-router",
            Known::RouterAfterOrder => "router-after-order",
            Known::RecoverWhileRecovering => "recover-while-recovering",
            Known::HeldAfterClose => "held-after-close",
            Known::TwoParentHome => "two-parent-home",
            Known::ClientLostState => "client-lost-state",
            Known::MgsRestart => "mgs-restart",
            Known::RouterRestart => "router-restart",
        }
    }

    /// The known bug with this name.
    pub fn parse(name: &str) -> Option<Known> {
        Known::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// What a swarm run draws around, and what it draws more of.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// Known bugs drawn around.
    pub exclude: Vec<Known>,
    /// The share of seeds with routers drawn with a second status holder (0: none, the
    /// default, so that a seed pinned by a regression test keeps its cluster).
    pub two_holders: f64,
    /// The node whose story [`SeedReport::trace`] tells ([`trace`]), if any.
    pub trace: Option<String>,
}

/// The share of seeds with routers the CI swarm (and `vigil-sim swarm` by default) draws with two
/// status holders: a quarter. Seeds found failing with two holders are tests in
/// `sim/tests/holders.rs`, run with this share.
pub const TWO_HOLDERS_IN_CI: f64 = 0.25;

impl Config {
    /// What CI runs with: the known bugs not yet fixed on main drawn around, and
    /// [`TWO_HOLDERS_IN_CI`] of the seeds with two holders.
    pub fn ci() -> Config {
        Config { exclude: EXCLUDED_IN_CI.to_vec(), two_holders: TWO_HOLDERS_IN_CI, trace: None }
    }

    /// Whether this known bug is drawn around.
    pub fn excluded(&self, known: Known) -> bool {
        self.exclude.contains(&known)
    }
}

/// Known bugs still open, which the default swarm draws around (each has an ignored regression
/// test in `sim/tests/swarm.rs` until its fix lands).
pub const EXCLUDED_IN_CI: &[Known] = &[];

/// One invariant broken in one seed.
#[derive(Clone, Debug, Serialize)]
pub struct Violation {
    /// The seed that reproduces it.
    pub seed: u64,
    /// Which invariant.
    pub invariant: &'static str,
    /// What was seen, the first time.
    pub detail: String,
    /// How often it was seen in this seed.
    pub count: u64,
    /// The last faults and orders before it, with their times.
    pub trace: Vec<String>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "seed {}: {} ({}x): {}", self.seed, self.invariant, self.count, self.detail)?;
        for line in &self.trace {
            writeln!(f, "    {line}")?;
        }
        Ok(())
    }
}

/// What one seed gave.
#[derive(Clone, Debug, Serialize)]
pub struct SeedReport {
    /// The seed.
    pub seed: u64,
    /// What it drew.
    pub drew: String,
    /// Invariants broken.
    pub violations: Vec<Violation>,
    /// Live nodes declared dead on links lossier than 5%.
    pub false_deaths_lossy: u64,
    /// Windows closed by order (each justified, or reported).
    pub closed_by_order: u64,
    /// Simulated time, ms.
    pub simulated_ms: u64,
    /// Datagrams sent.
    pub datagrams: u64,
    /// Whether counters started near their wrap point.
    pub near_wrap: bool,
    /// Status holders drawn.
    pub holders: usize,
    /// The story of [`Config::trace`]'s node ([`trace::Tracer`]); empty without one.
    #[serde(skip)]
    pub trace: Vec<String>,
}

/// Runs one seed.
pub fn run_seed(seed: u64, config: &Config) -> SeedReport {
    let (mut net, draw) = draw::draw(seed, config);
    let mut checker = Checker::new(seed, net.nodes().len());
    let mut schedule = draw.schedule.clone();
    schedule.reverse();
    let mut armed: Vec<(usize, Option<u64>)> = Vec::new();
    let sample_ms = u64::from(net.timing.update_interval_ms);
    let mut next_sample = sample_ms;
    let mut viewed = false;
    let mut tracer = config.trace.as_deref().and_then(|name| Tracer::new(&net, name));
    for i in 0..net.nodes().len() {
        checker.started(&net, &draw, i);
    }
    loop {
        let next_act = schedule.last().map_or(u64::MAX, |(t, _)| *t);
        let view_at = if viewed { u64::MAX } else { draw.view_at };
        let until = next_act.min(next_sample).min(view_at).min(draw.end_at);
        while let Some(touched) = net.step(until) {
            let Some(i) = touched else { continue };
            drain(&mut net, &draw, &mut checker, &mut armed, &mut schedule, &mut tracer, i);
        }
        if net.now() >= draw.end_at {
            break;
        }
        if net.now() >= next_act {
            if let Some((_, act)) = schedule.pop() {
                apply(&mut net, &draw, &mut checker, &mut armed, &mut schedule, &mut tracer, act);
            }
        }
        if net.now() >= next_sample {
            next_sample += sample_ms;
            checker.consistency(&net, &draw);
        }
        if !viewed && net.now() >= draw.view_at {
            viewed = true;
            checker.view(&net, &draw);
        }
    }
    checker.liveness(&net, &draw, config);
    SeedReport {
        seed,
        drew: draw.summary.clone(),
        violations: checker.violations,
        false_deaths_lossy: checker.false_deaths_lossy,
        closed_by_order: checker.closed_by_order,
        simulated_ms: net.now(),
        datagrams: net.outbound.iter().map(|t| t.datagrams).sum(),
        near_wrap: draw.near_wrap,
        holders: draw.holders.len(),
        trace: tracer.map(Tracer::lines).unwrap_or_default(),
    }
}

/// Hands node `i`'s events to the checker (and the tracer), and crashes a router armed to die
/// after an order.
fn drain(
    net: &mut Net,
    draw: &Draw,
    checker: &mut Checker,
    armed: &mut Vec<(usize, Option<u64>)>,
    schedule: &mut Vec<(u64, Act)>,
    tracer: &mut Option<Tracer>,
    i: usize,
) {
    checker.homes(net, draw, i);
    let events = net.take_events(i);
    if let Some(tracer) = tracer.as_mut() {
        tracer.drained(net, i, &events);
    }
    for (at, event) in &events {
        checker.event(net, draw, i, *at, event);
        if let Event::OrderHeld(order) = event {
            if let Some(k) = armed.iter().position(|(r, _)| *r == i) {
                let (_, back) = armed.remove(k);
                checker.note(*at, format!("{} crashes right after taking {order:?}", net.node(i).name));
                net.stop(i);
                if let Some(after) = back {
                    let at = (net.now() + after).min(draw.calm_at);
                    insert(schedule, at, Act::Start(i));
                }
                return;
            }
        }
    }
}

/// Queues an act into the reversed schedule (soonest last), after those at the same time.
fn insert(schedule: &mut Vec<(u64, Act)>, at: u64, act: Act) {
    let k = schedule.iter().position(|(t, _)| *t <= at).unwrap_or(schedule.len());
    schedule.insert(k, (at, act));
}

fn apply(
    net: &mut Net,
    draw: &Draw,
    checker: &mut Checker,
    armed: &mut Vec<(usize, Option<u64>)>,
    schedule: &mut Vec<(u64, Act)>,
    tracer: &mut Option<Tracer>,
    act: Act,
) {
    let now = net.now();
    let name = |net: &Net, i: usize| net.node(i).name.clone();
    match act {
        Act::Stop(i) => {
            if net.node(i).up {
                checker.note(now, format!("{} crashes", name(net, i)));
                net.stop(i);
            }
        }
        Act::StartLost(i) => {
            // A host daemon without its state file waits for the wall clock's next second before
            // it reads it ([`Generation::at_boot`]): a restart goes down now and boots then.
            if net.node(i).up {
                checker.note(now, format!("{} crashes", name(net, i)));
                net.stop(i);
            }
            insert(schedule, (now / 1000 + 1) * 1000, Act::BootLost(i));
        }
        Act::Start(i) | Act::BootLost(i) => {
            // As a host daemon boots: above its persisted generation, never below the clock.
            let lost = matches!(act, Act::BootLost(_));
            let persisted = (!lost).then(|| Generation(net.node(i).generation));
            let Some(Generation(generation)) = Generation::at_boot(persisted, net.wall_clock_s()) else {
                checker.note(now, format!("{} cannot boot: generations exhausted", name(net, i)));
                return;
            };
            checker.note(
                now,
                format!(
                    "{} boots, generation {generation}{}",
                    name(net, i),
                    if lost { " (state file lost)" } else { "" }
                ),
            );
            if lost {
                net.lose_state(i);
            }
            net.restart_as(i, generation);
            checker.started(net, draw, i);
            drain(net, draw, checker, armed, schedule, tracer, i);
        }
        Act::Cut(a, b) => {
            checker.note(now, format!("link {} - {} cut", name(net, a), name(net, b)));
            net.cut(a, b);
            checker.cut(now, a, b, true);
        }
        Act::Heal(a, b) => {
            checker.note(now, format!("link {} - {} heals", name(net, a), name(net, b)));
            net.heal(a, b);
            checker.cut(now, a, b, false);
        }
        Act::CrashAfterOrder(r, back) => {
            checker.note(now, format!("{} will crash right after its next order", name(net, r)));
            armed.push((r, back));
        }
        // An admin's order goes to every holder, as `vigil recover|close --mgs A,B` sends it.
        Act::Recover(k) => {
            for &h in &draw.holders {
                let target = ids::name(&target_name(k)).unwrap_or_default();
                let addrs = [ids::nid("oss@tcp").unwrap_or_default()].into_iter().collect();
                let result = net.admin_at(h, |m, now| m.recover(now, target, addrs));
                checker.note(
                    now,
                    format!("admin: recover {} at {} -> {result:?}", target_name(k), name(net, h)),
                );
                drain(net, draw, checker, armed, schedule, tracer, h);
            }
        }
        Act::Close(k) => {
            for &h in &draw.holders {
                let target = ids::name(&target_name(k)).unwrap_or_default();
                let result = net.admin_at(h, |m, now| m.close(now, &target));
                checker
                    .note(now, format!("admin: close {} at {} -> {result:?}", target_name(k), name(net, h)));
                if let Some(Ok(closed)) = result {
                    checker.admin_closed(closed.order());
                }
                drain(net, draw, checker, armed, schedule, tracer, h);
            }
        }
        Act::Calm => {
            checker.note(now, "faults over: no more loss, reordering or duplication".into());
            checker.calm(net, draw);
            armed.clear();
            net.conditions.loss = 0.0;
            net.conditions.reorder = 0.0;
            net.conditions.duplicate = 0.0;
            net.clear_link_loss();
        }
    }
}

/// Figures over a range of seeds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    /// Seeds run.
    pub seeds: u64,
    /// Violations (one per invariant and seed).
    pub violations: u64,
    /// Seeds with a violation.
    pub failing_seeds: Vec<u64>,
    /// Known bugs drawn around.
    pub excluded: Vec<&'static str>,
    /// Windows closed by order, each with every remaining client justified.
    pub closed_by_order: u64,
    /// False deaths on links lossier than 5% (counted, not violations).
    pub false_deaths_lossy: u64,
    /// Seeds whose counters started near their wrap point.
    pub near_wrap_seeds: u64,
    /// Seeds drawn with two status holders.
    pub two_holder_seeds: u64,
    /// Simulated time over all seeds, hours.
    pub simulated_hours: f64,
    /// Datagrams sent over all seeds.
    pub datagrams: u64,
    /// Wall time, s.
    pub wall_s: f64,
}

impl Summary {
    /// The stable last line: `swarm: N seeds, V violations, ...`.
    pub fn line(&self) -> String {
        format!(
            "swarm: {} seeds, {} violations ({} failing seeds), excluded: {}, {} windows closed by order, \
             {} false deaths above 5% loss, {} seeds near counter wrap, {} seeds with two holders, {:.1} h simulated, \
             {} datagrams, {:.1} s wall",
            self.seeds,
            self.violations,
            self.failing_seeds.len(),
            if self.excluded.is_empty() { "none".to_string() } else { self.excluded.join(",") },
            self.closed_by_order,
            self.false_deaths_lossy,
            self.near_wrap_seeds,
            self.two_holder_seeds,
            self.simulated_hours,
            self.datagrams,
            self.wall_s
        )
    }
}

/// Runs seeds `from..=to` on `threads` threads; `each` sees every seed's report as it finishes
/// (in no particular order).
pub fn run_range(
    from: u64,
    to: u64,
    config: &Config,
    threads: usize,
    each: impl Fn(&SeedReport) + Sync,
) -> (Summary, Vec<SeedReport>) {
    let started = std::time::Instant::now();
    let next = AtomicU64::new(from);
    let failing = Mutex::new(Vec::new());
    let summary = Mutex::new(Summary {
        excluded: config.exclude.iter().map(|k| k.name()).collect(),
        ..Summary::default()
    });
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| loop {
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed > to {
                    break;
                }
                let report = run_seed(seed, config);
                each(&report);
                let mut sum = summary.lock().unwrap_or_else(|e| e.into_inner());
                sum.seeds += 1;
                sum.violations += report.violations.len() as u64;
                sum.closed_by_order += report.closed_by_order;
                sum.false_deaths_lossy += report.false_deaths_lossy;
                sum.near_wrap_seeds += u64::from(report.near_wrap);
                sum.two_holder_seeds += u64::from(report.holders > 1);
                sum.simulated_hours += report.simulated_ms as f64 / 3_600_000.0;
                sum.datagrams += report.datagrams;
                drop(sum);
                if !report.violations.is_empty() {
                    failing.lock().unwrap_or_else(|e| e.into_inner()).push(report);
                }
            });
        }
    });
    let mut summary = summary.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut failing = failing.into_inner().unwrap_or_else(|e| e.into_inner());
    failing.sort_by_key(|r| r.seed);
    summary.failing_seeds = failing.iter().map(|r| r.seed).collect();
    summary.wall_s = started.elapsed().as_secs_f64();
    (summary, failing)
}
