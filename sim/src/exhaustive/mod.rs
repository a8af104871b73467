//! An exhaustive check of the smallest cluster: every interleaving of deliveries, losses,
//! duplicates, reorderings, timer firings, hook completions and crashes, to a bounded depth, over
//! the real `proto` machines.
//!
//! The cluster is an MGS, one router under it, and two clients and the server of one target
//! under the router, each node the simulator's own machine ([`crate::Net`] builds them; a
//! [`World`] drives them as the simulator's driver loop does: bytes in, every `poll_*` drained
//! after each input). A state is the five machines (shared between states until a step touches
//! one, then cloned), the datagrams in flight, the hooks running, what is left of each fault
//! budget and the ground truth the invariants read. From each state the checker tries every
//! [`Step`]:
//!
//! - **deliver** any datagram in flight, **lose** it, or deliver it and keep a **duplicate** in
//!   flight;
//! - fire a **timer**: time is abstract, it jumps to the earliest deadline any running machine
//!   asks for (`poll_timeout`), and only the machines due then may fire. Datagrams in flight
//!   arrive (in any order across links, in order on each) before the next deadline fires, unless
//!   **held back**: a held-back datagram may arrive after any number of deadlines. Holding one
//!   back, or delivering one past an older one of its link, is a **reordering**;
//! - a running **hook** reports done (clients' reconnects and the server's close succeed; a
//!   hook may run across any number of deadlines);
//! - **crash** a node (one crash of each kind: the MGS, the router, the server, client `c0`; the
//!   clients are symmetric) and later **boot** it with its next generation, state lost.
//!
//! The search starts ([`Start`]) either from every node booting, or from a target restart: the
//! cluster runs with no fault until the target's first window closed by order (its first boot
//! is a recovery too), then the server crashes and boots as the target's next instance; the
//! search explores that instance's recovery (the server may crash once more).
//!
//! States are told apart by a 64-bit fingerprint of everything in them (the machines through
//! their `Debug`, which shows every field; the flight sorted by link, as only a link's own order
//! is observable); a state met again is explored again only with more depth left than before,
//! so every state within the depth bound is visited (up to a fingerprint collision, about 1 in
//! 10^7 at 10^6 states). Checked after every step:
//!
//! - **exactly once**: a client instance's reconnect hook is handed to it at most once per
//!   target instance; the server's close hook at most once per target instance;
//! - **no early close**: when the MGS closes a window by order, every client that is up, was up
//!   when the target instance booted and has not finished its reconnect hook for it has been
//!   silent (no datagram of it reached a running node) for the dead threshold.
//!
//! The bounds ([`Bounds`]), per path: the depth (steps from the start), datagrams in flight (one
//! sent while the flight is full is lost), losses, duplicates, reorderings, and which kinds of
//! node may crash. The timing is valid and short: pings and updates every second, suspect after
//! one silent interval, dead after two, a 10 s target window.
//!
//! `vigil-sim check` runs it and prints the states explored, the depth and the time; a broken
//! invariant is printed with the steps that lead to it.

mod world;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use vigil_proto::Timing;

pub use world::{Step, World};
use world::{C0, MGS, ROUTER, SERVER};

use crate::{Net, Spec};

/// How far the search goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Steps explored from the start.
    pub depth: u32,
    /// Where the search starts.
    pub start: Start,
    /// Datagrams in flight at once.
    pub in_flight: usize,
    /// Datagrams lost, per path.
    pub losses: u8,
    /// Datagrams duplicated, per path.
    pub duplicates: u8,
    /// Datagrams delivered past an older one of their link, per path.
    pub reorders: u8,
    /// Kinds of node that may crash (once each, per path): bits of [`crash`].
    pub crashes: u8,
}

/// Kinds of node that may crash.
pub mod crash {
    /// The MGS.
    pub const MGS: u8 = 1;
    /// The router.
    pub const ROUTER: u8 = 2;
    /// Client `c0`.
    pub const CLIENT: u8 = 4;
    /// The server (booting again is a target restart).
    pub const SERVER: u8 = 8;
    /// Every kind.
    pub const ALL: u8 = MGS | ROUTER | CLIENT | SERVER;
}

/// Where the search starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// Every node booting at 0 (the target's first boot is a recovery too: its clients are
    /// ordered to reconnect, but started with it, so no early close can be judged).
    Boot,
    /// The target restarting: every node booted, the first window closed by order with no
    /// fault (the first possible step each time: the oldest datagram, else a hook, else the
    /// earliest timer), nothing left in flight; then the server crashed and booted again.
    TargetRestart,
}

/// A broken invariant and the steps that lead to it from the start of the search.
#[derive(Clone, Debug)]
pub struct Counterexample {
    /// The invariant and what was seen.
    pub what: String,
    /// The warm-up's length, then every step of the search, in words with its time.
    pub trace: Vec<String>,
}

/// What a search found.
#[derive(Clone, Debug)]
pub struct Report {
    /// The bounds searched.
    pub bounds: Bounds,
    /// Distinct states reached.
    pub states: u64,
    /// Steps taken (states reached again included).
    pub transitions: u64,
    /// The deepest step at which a new state was reached.
    pub depth: u32,
    /// Steps at which the MGS closed a window by order (each checked for an early close).
    pub closes_checked: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// The first broken invariant (the search stops there).
    pub violation: Option<Counterexample>,
}

impl Report {
    /// One line of figures.
    pub fn line(&self) -> String {
        let b = &self.bounds;
        format!(
            "check: {} states, {} transitions, depth {} (bound {}, from {}), in flight ≤ {}, losses ≤ {}, duplicates ≤ {}, reorderings ≤ {}, crashes {}, {} closes checked, {:.1} s, {}",
            self.states,
            self.transitions,
            self.depth,
            b.depth,
            match b.start {
                Start::Boot => "boot",
                Start::TargetRestart => "a target restart",
            },
            b.in_flight,
            b.losses,
            b.duplicates,
            b.reorders,
            crash_names(b.crashes),
            self.closes_checked,
            self.elapsed.as_secs_f64(),
            if self.violation.is_some() { "1 violation" } else { "0 violations" }
        )
    }
}

fn crash_names(crashes: u8) -> String {
    let names: Vec<_> = [
        (crash::MGS, "mgs"),
        (crash::ROUTER, "router"),
        (crash::CLIENT, "client"),
        (crash::SERVER, "server"),
    ]
    .into_iter()
    .filter(|(k, _)| crashes & k != 0)
    .map(|(_, n)| n)
    .collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join("+")
    }
}

/// The timing the cluster runs with: valid, and short, so that thresholds are few steps away.
pub fn timing() -> Timing {
    Timing {
        ping_interval_ms: 1_000,
        update_interval_ms: 1_000,
        suspect_after: 1,
        dead_after: 2,
        ..Timing::default()
    }
}

/// The smallest cluster, as a simulator network whose nodes the checker rebuilds its machines
/// from (the network itself never runs).
pub fn cluster() -> Net {
    let mut net = Net::new(0);
    net.timing = timing();
    net.window_ms = 10_000;
    net.mgs_slots = 16;
    net.router_slots = 16;
    net.keep_events = false;
    let mgs = net.add("mgs", Spec::Mgs);
    let router = net.add("router", Spec::Router { parents: vec![mgs], slots: 0 });
    for name in ["c0", "c1"] {
        net.add(name, Spec::Client { parents: vec![router] });
    }
    let target = "testfs-OST0000".to_string();
    net.add("server", Spec::Server { parents: vec![router], target });
    debug_assert_eq!((MGS, ROUTER, C0, SERVER), (0, 1, 2, 4));
    net
}

/// Explores every state within `bounds`; stops at the first broken invariant.
pub fn check(bounds: &Bounds) -> Report {
    let started = Instant::now();
    let mut net = cluster();
    let mut root = World::boot(&mut net, bounds);
    let warmup = match bounds.start {
        Start::Boot => 0,
        Start::TargetRestart => root.restart_target(&mut net, bounds),
    };
    let mut search = Search {
        net,
        bounds: *bounds,
        seen: HashMap::new(),
        path: vec![match bounds.start {
            Start::Boot => "every node boots at 0".into(),
            Start::TargetRestart => format!("{warmup} fault-free steps, then the server restarts"),
        }],
        report: Report {
            bounds: *bounds,
            states: 1,
            transitions: 0,
            depth: 0,
            closes_checked: 0,
            elapsed: Duration::ZERO,
            violation: None,
        },
    };
    search.seen.insert(root.fingerprint(), bounds.depth);
    search.visit(&root, 0);
    search.report.elapsed = started.elapsed();
    search.report
}

/// A depth-first search with a table of fingerprints and the depth left when each was seen.
struct Search {
    net: Net,
    bounds: Bounds,
    seen: HashMap<u64, u32>,
    path: Vec<String>,
    report: Report,
}

impl Search {
    /// Explores the successors of `world`, reached in `depth` steps; true once a violation is
    /// found.
    fn visit(&mut self, world: &World, depth: u32) -> bool {
        let mut steps = Vec::new();
        world.steps(&mut steps);
        let left = self.bounds.depth - depth - 1;
        for step in steps {
            let mut next = world.clone();
            let line = world.describe(step);
            next.take(&mut self.net, step, &self.bounds);
            self.report.transitions += 1;
            if next.closed_by_order > world.closed_by_order {
                self.report.closes_checked += 1;
            }
            if let Some(what) = next.violation.take() {
                let mut trace = self.path.clone();
                trace.push(line);
                self.report.violation = Some(Counterexample { what, trace });
                return true;
            }
            let fingerprint = next.fingerprint();
            match self.seen.get(&fingerprint) {
                Some(&seen_left) if seen_left >= left => continue,
                Some(_) => {}
                None => {
                    self.report.states += 1;
                    self.report.depth = self.report.depth.max(depth + 1);
                }
            }
            self.seen.insert(fingerprint, left);
            if left > 0 {
                self.path.push(line);
                if self.visit(&next, depth + 1) {
                    return true;
                }
                self.path.pop();
            }
        }
        false
    }
}
