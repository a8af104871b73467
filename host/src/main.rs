#![doc = include_str!("../README.md")]

mod config;
mod ctl;
mod daemon;
mod demo;
mod driver;
mod hook;
mod http;
mod key;
mod state;
mod status;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// Vigil: a health network and imperative recovery for Lustre-class filesystems.
#[derive(Parser)]
#[command(name = "vigil", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a new random cluster key file (mode 0600).
    Keygen {
        /// Where to write it.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The key id carried in every datagram (change it when rotating keys).
        #[arg(long, default_value_t = 1)]
        id: u8,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Run the MGS: the root of the health network, orders and the status API.
    Mgs(config::MgsOpts),
    /// Run a router: a relay toward the MGS.
    Router(config::RouterOpts),
    /// Run a client: pings its parents, runs a hook on recovery orders.
    Client(config::ClientOpts),
    /// Run a server: reports its target's status, runs a hook when its window may close.
    Server(config::ServerOpts),
    /// Show the cluster as the MGS sees it.
    Status {
        /// The MGS's HTTP API.
        #[arg(long, env = "VIGIL_MGS", default_value = ctl::DEFAULT_MGS_URL)]
        mgs: String,
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// Order every live client to reconnect to a target now (targets without a Vigil agent).
    Recover {
        /// The target, e.g. testfs-OST0001.
        #[arg(long)]
        target: String,
        /// Where clients reconnect (a NID); at most two.
        #[arg(long = "addr", value_name = "NID")]
        addrs: Vec<String>,
        /// The MGS's HTTP API.
        #[arg(long, env = "VIGIL_MGS", default_value = ctl::DEFAULT_MGS_URL)]
        mgs: String,
    },
    /// Run a whole cluster on loopback, restart a target, and print the recovery timeline.
    Demo(demo::DemoOpts),
}

/// Stack of each runtime thread. Decoding an update page builds its 48 node deltas on the stack,
/// which takes well over tokio's default 2 MiB in unoptimised builds; the memory is only reserved.
const WORKER_STACK: usize = 16 * 1024 * 1024;

fn init_logs(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Keygen { out, id, force } => {
            key::generate(&out, id, force)?;
            println!("wrote key id {id} to {}", out.display());
            Ok(())
        }
        Command::Mgs(opts) => daemon::mgs::run(opts).await,
        Command::Router(opts) => daemon::router::run(opts).await,
        Command::Client(opts) => daemon::member::run_client(opts).await,
        Command::Server(opts) => daemon::member::run_server(opts).await,
        Command::Status { mgs, json } => ctl::status(&mgs, json).await,
        Command::Recover { target, addrs, mgs } => ctl::recover(&mgs, target, addrs).await,
        Command::Demo(opts) => demo::run(opts).await,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let quiet = matches!(cli.command, Command::Demo(_) | Command::Status { .. } | Command::Recover { .. });
    init_logs(if quiet { "warn" } else { "info" });
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().thread_stack_size(WORKER_STACK).build();
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vigil: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vigil: {e:#}");
            ExitCode::FAILURE
        }
    }
}
