//! `vigil-sim`: runs the scale scenario (default: 100,000 clients under two router levels, 4
//! targets, 1% loss, 5% of clients dead, one target restarting) with Vigil's real machines, and
//! prints Vigil's recovery beside Lustre's passive and imperative recoveries.
//!
//! `vigil-sim swarm --seeds A..B [--json]` runs the swarm instead (see `vigil_sim::swarm`): it
//! exits 0 iff no invariant was violated, and its last line is `swarm: N seeds, V violations, ...`.
//!
//! `vigil-sim check [--depth D ...]` explores the smallest cluster exhaustively (see
//! `vigil_sim::exhaustive`): it exits 0 iff no invariant was broken within the bounds, prints a
//! broken one's steps, and its last line is `check: S states, ..., depth D, ..., T s, ...`.

mod huge_pages;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use vigil_sim::exhaustive::{self, crash, Bounds, Start};
use vigil_sim::report::{self, Params};
use vigil_sim::scenario;
use vigil_sim::swarm::{self, Known};

#[global_allocator]
static ALLOCATOR: huge_pages::HugePages = huge_pages::HugePages;

/// Deterministic scale simulation of Vigil's imperative recovery against Lustre's.
#[derive(Parser, Debug)]
#[command(name = "vigil-sim", version)]
struct Cli {
    /// Clients.
    #[arg(long, default_value_t = 100_000)]
    clients: usize,
    /// Routers on the first and second level (the second spread evenly over the first).
    #[arg(long, value_name = "A,B", default_value = "10,100", value_parser = pair)]
    routers_per_level: (u64, u64),
    /// Clients' ping interval in ms (routers update every half of it).
    #[arg(long, default_value_t = 2_000)]
    interval_ms: u32,
    /// Datagram loss probability.
    #[arg(long, default_value_t = 0.01)]
    loss: f64,
    /// One-way latency in ms, with optional uniform jitter: `L` or `L,J`.
    #[arg(long, value_name = "L[,J]", default_value = "1,1", value_parser = latency)]
    latency_ms: (u64, u64),
    /// Share of clients that die before the target restarts.
    #[arg(long, default_value_t = 0.05)]
    dead_fraction: f64,
    /// Targets (one server each); the first restarts.
    #[arg(long, default_value_t = 4)]
    targets: usize,
    /// Targets that restart at the same instant (an OSS failing over all its OSTs).
    #[arg(long, default_value_t = 1)]
    restarting: usize,
    /// Seed: the same seed replays the same run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Status holders: MGS instances every top router lists as parents (1 to 3).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=3))]
    holders: u8,
    /// Stop the first holder mid-recovery (a client hook's time after it ordered the recovery).
    #[arg(long)]
    kill_holder: bool,
    /// After the recovery, restart the (first) MGS and time how long until its view is whole.
    #[arg(long)]
    restart_mgs: bool,
    /// Run 1, 2 and 3 holders, and 2 with the first stopped mid-recovery, side by side.
    #[arg(long)]
    holders_compare: bool,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
    /// Run N = 1k, 10k, 100k (routers scaled with N) and print how each figure grows.
    #[arg(long)]
    sweep: bool,
    /// Largest N of the sweep (e.g. 1000000 adds 1M).
    #[arg(long, default_value_t = 100_000)]
    sweep_max: usize,
    /// Where the sweep's plot goes.
    #[arg(long, default_value = "sim-sweep.svg")]
    svg: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Random clusters under random faults, every invariant checked at every step.
    Swarm {
        /// Seeds to run, inclusive: `A..B` (or one seed).
        #[arg(long, value_name = "A..B", value_parser = seeds)]
        seeds: (u64, u64),
        /// Print every failing seed's report and the summary as JSON.
        #[arg(long)]
        json: bool,
        /// Known bugs to draw around, comma-separated (default: those still open on main;
        /// `none` for none). Names: counter-wrap, mgs-lost-state, mgs-with-router,
        /// router-after-order, recover-while-recovering, held-after-close, two-parent-home,
        /// client-lost-state, mgs-restart, router-restart.
        #[arg(long, value_name = "NAMES")]
        exclude: Option<String>,
        /// The share of seeds with routers drawn with a second status holder, from a random
        /// stream of its own (0: every seed draws what it draws with one holder).
        #[arg(long, value_name = "SHARE", default_value_t = swarm::TWO_HOLDERS_IN_CI)]
        two_holders: f64,
        /// Threads (default: every core).
        #[arg(long)]
        threads: Option<usize>,
        /// Print what every seed drew.
        #[arg(long)]
        verbose: bool,
        /// Print the story of the node with this name in each seed run (its verdicts at every
        /// parent, its home, and every holder's sums as they change): for triage of one seed.
        #[arg(long, value_name = "NODE")]
        trace: Option<String>,
    },
    /// Every interleaving of faults in the smallest cluster (MGS, router, two clients, one
    /// server), to a bounded depth, exactly once and no early close checked after every step.
    Check {
        /// Steps explored from the start.
        #[arg(long, default_value_t = 12)]
        depth: u32,
        /// Start from every node booting (`boot`) or from a target restart after the first
        /// window closed (`restart`).
        #[arg(long, default_value = "restart", value_parser = start)]
        from: Start,
        /// Datagrams in flight at once.
        #[arg(long, default_value_t = 4)]
        in_flight: usize,
        /// Datagrams lost per path.
        #[arg(long, default_value_t = 1)]
        losses: u8,
        /// Datagrams duplicated per path.
        #[arg(long, default_value_t = 1)]
        duplicates: u8,
        /// Datagrams reordered per path.
        #[arg(long, default_value_t = 1)]
        reorders: u8,
        /// Kinds of node that may crash once each, comma-separated: mgs, router, client,
        /// server; `none` for none.
        #[arg(long, default_value = "mgs,router,client,server", value_parser = crashes)]
        crashes: u8,
    },
}

fn start(s: &str) -> Result<Start, String> {
    match s {
        "boot" => Ok(Start::Boot),
        "restart" => Ok(Start::TargetRestart),
        _ => Err(format!("unknown start {s:?} (boot, restart)")),
    }
}

fn crashes(s: &str) -> Result<u8, String> {
    let mut kinds = 0;
    for name in s.split(',').map(str::trim).filter(|n| *n != "none") {
        kinds |= match name {
            "mgs" => crash::MGS,
            "router" => crash::ROUTER,
            "client" => crash::CLIENT,
            "server" => crash::SERVER,
            _ => return Err(format!("unknown kind {name:?} (mgs, router, client, server, none)")),
        };
    }
    Ok(kinds)
}

fn run_check(bounds: Bounds) -> ExitCode {
    let report = exhaustive::check(&bounds);
    if let Some(v) = &report.violation {
        println!("violated: {}", v.what);
        for line in &v.trace {
            println!("    {line}");
        }
    }
    println!("{}", report.line());
    match report.violation {
        None => ExitCode::SUCCESS,
        Some(_) => ExitCode::FAILURE,
    }
}

fn seeds(s: &str) -> Result<(u64, u64), String> {
    let parse = |x: &str| x.trim().parse::<u64>().map_err(|e| format!("{e}"));
    match s.split_once("..") {
        Some((a, b)) => {
            let (a, b) = (parse(a)?, parse(b.trim_start_matches('='))?);
            if a > b {
                return Err("empty range".into());
            }
            Ok((a, b))
        }
        None => parse(s).map(|a| (a, a)),
    }
}

fn run_swarm(
    (from, to): (u64, u64),
    json: bool,
    exclude: Option<String>,
    drawn: swarm::Config,
    threads: Option<usize>,
    verbose: bool,
) -> ExitCode {
    let config = match exclude.as_deref() {
        None => swarm::Config::ci(),
        Some("none") => swarm::Config::default(),
        Some(names) => {
            let mut exclude = Vec::new();
            for name in names.split(',') {
                match Known::parse(name.trim()) {
                    Some(k) => exclude.push(k),
                    None => {
                        eprintln!("unknown exclusion {name:?}");
                        return ExitCode::FAILURE;
                    }
                }
            }
            swarm::Config { exclude, ..swarm::Config::default() }
        }
    };
    let config = swarm::Config { exclude: config.exclude, ..drawn };
    let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let (summary, failing) = swarm::run_range(from, to, &config, threads, |r| {
        if verbose {
            eprintln!("seed {}: {}", r.seed, r.drew);
        }
        for line in &r.trace {
            eprintln!("seed {}: {line}", r.seed);
        }
        if !json {
            for v in &r.violations {
                eprint!("{v}");
            }
        }
    });
    if json {
        let out = serde_json::json!({ "failing": failing, "summary": summary });
        println!("{}", serde_json::to_string_pretty(&out).expect("reports serialise"));
    } else if !failing.is_empty() {
        println!("failing seeds: {:?}", summary.failing_seeds);
    }
    println!("{}", summary.line());
    if summary.violations == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn pair(s: &str) -> Result<(u64, u64), String> {
    let (a, b) = s.split_once(',').ok_or("expected A,B")?;
    Ok((a.trim().parse().map_err(|e| format!("{e}"))?, b.trim().parse().map_err(|e| format!("{e}"))?))
}

fn latency(s: &str) -> Result<(u64, u64), String> {
    match s.split_once(',') {
        Some(_) => pair(s),
        None => Ok((s.trim().parse().map_err(|e| format!("{e}"))?, 0)),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Swarm { seeds, json, exclude, two_holders, threads, verbose, trace }) = cli.command {
        return run_swarm(
            seeds,
            json,
            exclude,
            swarm::Config { two_holders, trace, ..swarm::Config::default() },
            threads,
            verbose,
        );
    }
    if let Some(Command::Check { depth, from, in_flight, losses, duplicates, reorders, crashes }) =
        cli.command
    {
        return run_check(Bounds { depth, start: from, in_flight, losses, duplicates, reorders, crashes });
    }
    let params = Params {
        clients: cli.clients,
        routers: [cli.routers_per_level.0 as usize, cli.routers_per_level.1 as usize],
        interval_ms: cli.interval_ms,
        loss: cli.loss,
        latency_ms: cli.latency_ms.0,
        jitter_ms: cli.latency_ms.1,
        dead_fraction: cli.dead_fraction,
        targets: cli.targets.max(1),
        restarting: cli.restarting.clamp(1, cli.targets.max(1)),
        seed: cli.seed,
        holders: cli.holders.into(),
        kill_holder: cli.kill_holder,
        restart_mgs: cli.restart_mgs,
    };
    if cli.holders_compare {
        let runs: Vec<_> = [(1, false), (2, false), (3, false), (2, true)]
            .into_iter()
            .map(|(holders, kill_holder)| {
                let f = scenario::run(&Params { holders, kill_holder, ..params.clone() }).figures;
                if !cli.json {
                    eprintln!(
                        "{holders} holders{}: {} ms wall",
                        if kill_holder { ", one stopped" } else { "" },
                        f.wall_ms
                    );
                }
                f
            })
            .collect();
        if cli.json {
            println!("{}", serde_json::to_string_pretty(&runs).expect("figures serialise"));
        } else {
            print!("{}", report::holders_table(&runs));
        }
        return ExitCode::SUCCESS;
    }
    if !cli.sweep {
        let f = scenario::run(&params).figures;
        if cli.json {
            println!("{}", serde_json::to_string_pretty(&f).expect("figures serialise"));
        } else {
            print!("{}", report::table(&f));
        }
        return ExitCode::SUCCESS;
    }
    let mut runs = Vec::new();
    let mut n = 1_000;
    while n <= cli.sweep_max {
        let f = scenario::run(&params.scaled(n)).figures;
        if !cli.json {
            eprintln!("{n} clients: {} ms wall", f.wall_ms);
        }
        runs.push(f);
        n *= 10;
    }
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&runs).expect("figures serialise"));
    } else {
        print!("{}", report::sweep_table(&runs));
    }
    if let Err(e) = report::sweep_svg(&runs, &cli.svg) {
        eprintln!("cannot write {}: {e}", cli.svg.display());
        return ExitCode::FAILURE;
    }
    eprintln!("plot written to {}", cli.svg.display());
    ExitCode::SUCCESS
}
