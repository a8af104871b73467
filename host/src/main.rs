//! The `vigil` command: the daemons of every role and the operator CLI, over the `vigil_host`
//! library (see its README).

mod help;
#[cfg(test)]
mod packaging_tests;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use vigil_host::{api_token, config, ctl, daemon, demo, key, order_key};

/// Vigil: a health network and imperative recovery for Lustre-class filesystems.
#[derive(Parser)]
#[command(name = "vigil", version, about, after_long_help = help::VIGIL)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a new random cluster key file (mode 0600), or with --order the MGS's order-signing
    /// key and its public key, or with --api-token the admin API token; --public-of prints the
    /// public key of an order key.
    #[command(after_long_help = help::KEYGEN)]
    Keygen {
        /// Where to write it (with --public-of: the public key file; default stdout).
        #[arg(long, value_name = "FILE", required_unless_present = "public_of")]
        out: Option<PathBuf>,
        /// The key id (carried in every datagram or order; change it when rotating keys).
        #[arg(long, default_value_t = 1)]
        id: u8,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
        /// An order-signing key for `vigil mgs --order-key`, instead of a cluster key.
        #[arg(long, conflicts_with = "public_of")]
        order: bool,
        /// The admin API token for `vigil mgs --api-token-file` and the CLI's `--token-file`,
        /// instead of a cluster key.
        #[arg(long, conflicts_with_all = ["public_of", "order", "id"])]
        api_token: bool,
        /// With --order: where to write the public key for `--order-pub` [default: OUT with
        /// extension .pub].
        #[arg(long, value_name = "FILE", requires = "order")]
        pub_out: Option<PathBuf>,
        /// The public key of this order key file (secret or public), as a `vigil-order-pub` line.
        #[arg(long, value_name = "FILE", conflicts_with = "id")]
        public_of: Option<PathBuf>,
    },
    /// Run the MGS: the root of the health network, orders and the status API.
    #[command(after_long_help = help::MGS)]
    Mgs(config::MgsOpts),
    /// Run a router: a relay toward the MGS.
    #[command(after_long_help = help::ROUTER)]
    Router(config::RouterOpts),
    /// Run a client: pings its parents, runs a hook on recovery orders.
    #[command(after_long_help = help::CLIENT)]
    Client(config::ClientOpts),
    /// Run a server: reports its target's status, runs a hook when its window may close.
    #[command(after_long_help = help::SERVER)]
    Server(config::ServerOpts),
    /// Show the cluster as the MGS sees it.
    #[command(after_long_help = help::STATUS)]
    Status {
        /// The MGS's HTTP API: a URL or HOST:PORT; several status holders separated by commas.
        #[arg(long, env = "VIGIL_MGS", default_value = ctl::DEFAULT_MGS_URL, value_delimiter = ',')]
        mgs: Vec<String>,
        /// The admin API token file (a copy of the MGS's, see `vigil keygen --api-token`).
        #[arg(long, value_name = "FILE", env = "VIGIL_API_TOKEN_FILE", default_value = api_token::DEFAULT_TOKEN_FILE)]
        token_file: PathBuf,
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// Order every live client to reconnect to a target now (targets without a Vigil agent).
    #[command(after_long_help = help::RECOVER)]
    Recover {
        /// The target, e.g. testfs-OST0001.
        #[arg(long)]
        target: String,
        /// Where clients reconnect (a NID); at most two. For the Lustre hooks, the first is the
        /// server's first NID: the UUID of its connection in the clients' imports.
        #[arg(long = "addr", value_name = "NID")]
        addrs: Vec<String>,
        /// The target instance the order is about (its Lustre instance, or any new number).
        /// Clients act on a (target, instance) once. Required with several status holders; alone,
        /// the default is 0, "unknown": clients act on every such order.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        instance: Option<u32>,
        /// Order it even if no status holder knows the target (no server reports it, no
        /// recovery of it): a target without a Vigil agent. Without it such a target (a typo?)
        /// is refused.
        #[arg(long)]
        force: bool,
        /// The MGS's HTTP API: a URL or HOST:PORT; several status holders separated by commas.
        #[arg(long, env = "VIGIL_MGS", default_value = ctl::DEFAULT_MGS_URL, value_delimiter = ',')]
        mgs: Vec<String>,
        /// The admin API token file (a copy of the MGS's, see `vigil keygen --api-token`).
        #[arg(long, value_name = "FILE", env = "VIGIL_API_TOKEN_FILE", default_value = api_token::DEFAULT_TOKEN_FILE)]
        token_file: PathBuf,
    },
    /// Close a target's recovery window now, not waiting for clients Vigil cannot see.
    #[command(after_long_help = help::CLOSE)]
    Close {
        /// The target, e.g. testfs-OST0001.
        #[arg(long)]
        target: String,
        /// The MGS's HTTP API: a URL or HOST:PORT; several status holders separated by commas.
        #[arg(long, env = "VIGIL_MGS", default_value = ctl::DEFAULT_MGS_URL, value_delimiter = ',')]
        mgs: Vec<String>,
        /// The admin API token file (a copy of the MGS's, see `vigil keygen --api-token`).
        #[arg(long, value_name = "FILE", env = "VIGIL_API_TOKEN_FILE", default_value = api_token::DEFAULT_TOKEN_FILE)]
        token_file: PathBuf,
    },
    /// Run a whole cluster on loopback, restart a target, and print the recovery timeline.
    #[command(after_long_help = help::DEMO)]
    Demo(demo::DemoOpts),
    /// Print a shell completion script for vigil.
    #[command(after_long_help = help::COMPLETIONS)]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

fn init_logs(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Colours only for a person at a terminal: journald and log files get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).init();
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Keygen { out, force, api_token: true, .. } => {
            let out = out.ok_or_else(|| anyhow::anyhow!("missing --out"))?;
            api_token::generate(&out, force)?;
            println!("wrote an admin API token to {} (the MGS and operators' CLI, mode 0600)", out.display());
            Ok(())
        }
        Command::Keygen { out, id, force, order, pub_out, public_of, api_token: false } => {
            keygen(out, id, force, order, pub_out, public_of)
        }
        Command::Mgs(opts) => daemon::mgs::run(opts).await,
        Command::Router(opts) => daemon::router::run(opts).await,
        Command::Client(opts) => daemon::member::run_client(opts).await,
        Command::Server(opts) => daemon::member::run_server(opts).await,
        Command::Status { mgs, token_file, json } => ctl::status(&mgs, &token_file, json).await,
        Command::Recover { target, addrs, instance, force, mgs, token_file } => {
            ctl::recover(&mgs, &token_file, target, addrs, instance, force).await
        }
        Command::Close { target, mgs, token_file } => ctl::close(&mgs, &token_file, target).await,
        Command::Demo(opts) => demo::run(opts).await,
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "vigil", &mut std::io::stdout());
            Ok(())
        }
    }
}

/// `vigil keygen`: a cluster key, an order key pair, or the public half of an order key.
fn keygen(
    out: Option<PathBuf>,
    id: u8,
    force: bool,
    order: bool,
    pub_out: Option<PathBuf>,
    public_of: Option<PathBuf>,
) -> anyhow::Result<()> {
    if let Some(secret) = public_of {
        let public = order_key::public_of(&secret)?;
        match out {
            Some(out) => {
                order_key::write_public(&out, &public, force)?;
                println!("wrote the public key of order key id {} to {}", public.id, out.display());
            }
            None => println!("{}", public.render()),
        }
        return Ok(());
    }
    let out = out.ok_or_else(|| anyhow::anyhow!("missing --out"))?;
    if order {
        let pub_out = pub_out.unwrap_or_else(|| out.with_extension("pub"));
        let public = order_key::generate(&out, &pub_out, id, force)?;
        println!("wrote order key id {id} to {} (the MGS only: --order-key)", out.display());
        println!("wrote its public key to {} (every other node: --order-pub)", pub_out.display());
        println!("{}", public.render());
    } else {
        key::generate(&out, id, force)?;
        println!("wrote key id {id} to {}", out.display());
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let quiet = matches!(
        cli.command,
        Command::Demo(_)
            | Command::Status { .. }
            | Command::Recover { .. }
            | Command::Close { .. }
            | Command::Completions { .. }
    );
    init_logs(if quiet { "warn" } else { "info" });
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build();
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
