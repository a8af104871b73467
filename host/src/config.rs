//! Daemon configuration: one options struct per role that is both the command line (clap) and
//! the TOML file (`--config`), with the blocks every role shares (node, timing, upstream)
//! flattened into it; merged once for all roles ([`Layered::load`]) so that a flag overrides the
//! file and the file overrides the built-in default; then checked and resolved into what the
//! daemon runs with.
//!
//! A config file holds the same names as the long flags, with `_` for `-` and plural lists
//! (`parents = [...]`, `target_addrs = [...]`); timing goes in a `[timing]` table. Unknown keys
//! are errors, so a typo never silently leaves a default in force:
//!
//! ```toml
//! name = "c0042"
//! parents = ["10.0.0.1:7470", "10.0.0.2:7470"]
//! key_file = "/etc/vigil/cluster.key"
//! on_order = "/usr/local/sbin/vigil-reconnect"
//!
//! [timing]
//! ping_interval_ms = 2000
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use vigil_proto::ids::{name, nid};
use vigil_proto::timing::{self, Limit};
use vigil_proto::{Name, Nid, Timing};

use crate::api_guard::ApiOpts;

/// Where nodes keep their state unless told otherwise.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/vigil";
/// Where nodes read the cluster key unless told otherwise.
pub const DEFAULT_KEY_FILE: &str = "/etc/vigil/cluster.key";
/// Where the MGS serves its HTTP API unless told otherwise (loopback: the API is unauthenticated).
pub const DEFAULT_HTTP: &str = "127.0.0.1:7471";
/// How long an order hook may run before it is killed and the order counts as failed.
pub const DEFAULT_HOOK_TIMEOUT_MS: u64 = 30_000;
/// A target's own recovery window: Lustre's `recovery_time_soft` (300 s).
pub const DEFAULT_WINDOW_MS: u32 = 300_000;
/// Table slots of an MGS (capacity is 7/8 of it): room for a large cluster.
pub const DEFAULT_MGS_SLOTS: usize = 65_536;
/// Table slots of a router.
pub const DEFAULT_ROUTER_SLOTS: usize = 8_192;

/// Timing of dead-client detection; unset fields keep the proto defaults.
#[derive(Args, Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TimingOpts {
    /// How often clients and servers ping their parents, in ms.
    #[arg(long, value_name = "MS")]
    pub ping_interval_ms: Option<u32>,
    /// How often routers send an update to their parents, in ms.
    #[arg(long, value_name = "MS")]
    pub update_interval_ms: Option<u32>,
    /// Intervals of silence before a child is suspect.
    #[arg(long, value_name = "N")]
    pub suspect_after: Option<u32>,
    /// Intervals of silence before a child is dead.
    #[arg(long, value_name = "N")]
    pub dead_after: Option<u32>,
}

impl TimingOpts {
    /// The timing to run with, checked.
    pub fn resolve(&self) -> anyhow::Result<Timing> {
        let d = Timing::default();
        let timing = Timing {
            ping_interval_ms: self.ping_interval_ms.unwrap_or(d.ping_interval_ms),
            update_interval_ms: self.update_interval_ms.unwrap_or(d.update_interval_ms),
            suspect_after: self.suspect_after.unwrap_or(d.suspect_after),
            dead_after: self.dead_after.unwrap_or(d.dead_after),
            ..d
        };
        timing.validate().map_err(|e| anyhow::anyhow!("bad timing (flags or [timing]): {e}"))?;
        Ok(timing)
    }
}

/// Options every daemon takes.
#[derive(Args, Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NodeOpts {
    /// The cluster key file (see `vigil keygen`) [default: /etc/vigil/cluster.key].
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Where the boot generation is kept [default: /var/lib/vigil].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Once listening, write the bound addresses to this file (for supervisors and tests).
    #[arg(long, value_name = "PATH")]
    pub ready_file: Option<PathBuf>,
    /// UDP receive buffer (SO_RCVBUF) in bytes, room for bursts; the kernel caps it at
    /// net.core.rmem_max [default: 8388608].
    #[arg(long, value_name = "BYTES")]
    pub udp_recv_buffer: Option<usize>,
    /// Timing (also a `[timing]` table in the config file).
    #[command(flatten)]
    #[serde(default)]
    pub timing: TimingOpts,
}

impl NodeOpts {
    /// The key file to read.
    pub fn key_file(&self) -> PathBuf {
        self.key_file.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_KEY_FILE))
    }

    /// The state directory.
    pub fn state_dir(&self) -> PathBuf {
        self.state_dir.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR))
    }
}

/// Options of every node below the MGS: where its parents are, and whose orders it trusts.
#[derive(Args, Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamOpts {
    /// Next hop toward the MGS (a router or the MGS), primary first; at most two (three for a
    /// router, which lists every status holder).
    #[arg(long = "parent", value_name = "ADDR")]
    #[serde(default)]
    pub parents: Vec<String>,
    /// Verify orders with this MGS public key (`vigil keygen --order`) and drop unsigned or
    /// forged ones; at most two (the current key and the next, during a rotation).
    #[arg(long = "order-pub", value_name = "FILE")]
    #[serde(default)]
    pub order_pubs: Vec<PathBuf>,
}

/// `vigil mgs`.
#[derive(Args, Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MgsOpts {
    /// A TOML file with these options (flags override it).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The MGS's name as nodes see it [default: mgs].
    #[arg(long)]
    pub name: Option<String>,
    /// UDP address for children (routers, clients, servers); port 0 picks one.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// HTTP address of the status API and metrics [default: 127.0.0.1:7471].
    #[arg(long, value_name = "ADDR")]
    pub http: Option<SocketAddr>,
    /// Node table slots (capacity is 7/8 of it) [default: 65536].
    #[arg(long, value_name = "N")]
    pub table_slots: Option<usize>,
    /// Sign every order with this secret key (`vigil keygen --order`); without it orders go
    /// unsigned and only nodes given no `--order-pub` accept them.
    #[arg(long, value_name = "FILE")]
    pub order_key: Option<PathBuf>,
    /// Another status holder's HTTP API (`http://host:port` or `host:port`), whose view the web
    /// view and `GET /api/v1/holders` merge with this one's; repeatable. Only its read-only
    /// status is asked, without a token.
    #[arg(long = "peer-api", value_name = "URL")]
    #[serde(default)]
    pub peer_apis: Vec<String>,
    /// A router this MGS expects to report before any window closes by order, whatever its state
    /// file says (a lost state file then forgets none of them); repeatable. List every router
    /// of its tree.
    #[arg(long = "expect-router", value_name = "NAME")]
    #[serde(default)]
    pub expect_routers: Vec<String>,
    /// Who may use the HTTP API.
    #[command(flatten)]
    #[serde(flatten)]
    pub api: ApiOpts,
    #[command(flatten)]
    #[serde(flatten)]
    pub node: NodeOpts,
}

/// `vigil router`.
#[derive(Args, Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouterOpts {
    /// A TOML file with these options (flags override it).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The router's name, unique in the cluster.
    #[arg(long)]
    pub name: Option<String>,
    /// UDP address for children; port 0 picks one.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Node table slots (capacity is 7/8 of it) [default: 8192].
    #[arg(long, value_name = "N")]
    pub table_slots: Option<usize>,
    /// Serve Prometheus metrics of this router's counters over HTTP at this address.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
    #[command(flatten)]
    #[serde(flatten)]
    pub upstream: UpstreamOpts,
    #[command(flatten)]
    #[serde(flatten)]
    pub node: NodeOpts,
}

/// `vigil client`.
#[derive(Args, Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientOpts {
    /// A TOML file with these options (flags override it).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The client's name, unique in the cluster.
    #[arg(long)]
    pub name: Option<String>,
    /// Local UDP address [default: any address of the parents' family, port chosen by the OS].
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<SocketAddr>,
    /// Command run through `sh -c` on a recovery order (exit 0 = reconnected).
    #[arg(long, value_name = "CMD")]
    pub on_order: Option<String>,
    /// Milliseconds after which a hook is killed and the order counts as failed [default: 30000].
    #[arg(long, value_name = "MS")]
    pub hook_timeout_ms: Option<u64>,
    /// Report this client's Lustre mounts (their client UUIDs, `lctl get_param llite.*.uuid`,
    /// lctl on PATH), so that when it dies the target's server can evict exactly it.
    #[arg(long)]
    #[serde(default)]
    pub lustre: bool,
    #[command(flatten)]
    #[serde(flatten)]
    pub upstream: UpstreamOpts,
    #[command(flatten)]
    #[serde(flatten)]
    pub node: NodeOpts,
}

/// `vigil server`.
#[derive(Args, Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerOpts {
    /// A TOML file with these options (flags override it).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The server's name, unique in the cluster.
    #[arg(long)]
    pub name: Option<String>,
    /// The target it serves, e.g. testfs-OST0001.
    #[arg(long)]
    pub target: Option<String>,
    /// Where clients reconnect to the target (a Lustre NID); at most two. For the Lustre hooks,
    /// the first is the server's first NID: the UUID of its connection in the clients' imports.
    #[arg(long = "target-addr", value_name = "NID")]
    #[serde(default)]
    pub target_addrs: Vec<String>,
    /// Local UDP address [default: any address of the parents' family, port chosen by the OS].
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<SocketAddr>,
    /// The target's own recovery window in ms [default: 300000, Lustre's recovery_time_soft].
    #[arg(long, value_name = "MS")]
    pub window_ms: Option<u32>,
    /// Follow the target's Lustre instance and recovery through `lctl` (`$LCTL`, else `lctl` on
    /// PATH): a remount or a failover to this server is a restart; a daemon restart is not.
    #[arg(long)]
    #[serde(default)]
    pub lustre: bool,
    /// With --lustre: the site's map of client names to LNet NIDs (`<name> <nid>...` a line), an
    /// override for clients that do not report their mounts (`vigil client --lustre`): the
    /// close-window hook also evicts the dead clients it lists, by the NIDs they connected from.
    #[arg(long, value_name = "FILE")]
    pub lustre_clients: Option<PathBuf>,
    /// Command run through `sh -c` when the MGS orders the window closed (exit 0 = closed).
    #[arg(long, value_name = "CMD")]
    pub on_close_window: Option<String>,
    /// Milliseconds after which a hook is killed and the order counts as failed [default: 30000].
    #[arg(long, value_name = "MS")]
    pub hook_timeout_ms: Option<u64>,
    #[command(flatten)]
    #[serde(flatten)]
    pub upstream: UpstreamOpts,
    #[command(flatten)]
    #[serde(flatten)]
    pub node: NodeOpts,
}

/// Reads a config file, or the empty configuration when there is none.
fn read_file<T: DeserializeOwned + Default + Args>(path: Option<&Path>) -> anyhow::Result<T> {
    let Some(path) = path else { return Ok(T::default()) };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    parse_file(&text).with_context(|| format!("bad config file {}", path.display()))
}

/// Parses a config file for the options `T`: TOML syntax first, then every key checked by name
/// (a did-you-mean for a typo) and every number against its [`LIMITS`], each error naming the
/// key and its line, before the values are taken.
fn parse_file<T: DeserializeOwned + Args>(text: &str) -> anyhow::Result<T> {
    let table: toml::Table = toml::from_str(text)?;
    let timing_keys = keys_of::<TimingOpts>(&[]);
    let top_keys = keys_of::<T>(&timing_keys);
    check_keys(text, &table, None, &top_keys)?;
    if let Some(timing) = table.get("timing") {
        let Some(timing) = timing.as_table() else {
            bail!("line {}: `timing` must be a table ([timing])", line_of(text, None, "timing"));
        };
        check_keys(text, timing, Some("timing"), &timing_keys)?;
    }
    Ok(table.try_into()?)
}

/// Bounds of the numeric keys a config file or the flags may set.
pub const LIMITS: [Limit; 7] = [
    timing::PING_INTERVAL_MS,
    timing::UPDATE_INTERVAL_MS,
    timing::SUSPECT_AFTER,
    timing::DEAD_AFTER,
    timing::HOOK_TIMEOUT_MS,
    timing::WINDOW_MS,
    timing::TABLE_SLOTS,
];

/// The config keys of options `T` (its flags' names, less `--config` and `--ready-file`, which
/// only flags set, and less `except`).
fn keys_of<T: Args>(except: &[String]) -> Vec<String> {
    T::augment_args(clap::Command::new("config"))
        .get_arguments()
        .map(|a| a.get_id().as_str().to_owned())
        .filter(|k| !matches!(k.as_str(), "config" | "ready_file") && !except.contains(k))
        .collect()
}

fn check_keys(
    text: &str,
    table: &toml::Table,
    section: Option<&str>,
    known: &[String],
) -> anyhow::Result<()> {
    for (key, value) in table {
        if section.is_none() && key == "timing" {
            continue;
        }
        let line = line_of(text, section, key);
        if !known.iter().any(|k| k == key) {
            let hint = match did_you_mean(key, known.iter().map(String::as_str)) {
                Some(k) => format!("did you mean `{k}`?"),
                None => format!("known keys: {}", known.join(", ")),
            };
            let place = section.map_or(String::new(), |s| format!(" in [{s}]"));
            bail!("line {line}: unknown key `{key}`{place}; {hint}");
        }
        if let Some(limit) = LIMITS.iter().find(|l| l.key == key) {
            let Some(n) = value.as_integer() else { bail!("line {line}: `{key}` must be a whole number") };
            let Ok(n) = u64::try_from(n) else {
                bail!("line {line}: {key} = {n} is out of range: allowed {} to {}", limit.min, limit.max)
            };
            limit.check(n).map_err(|e| anyhow::anyhow!("line {line}: {e}"))?;
        }
    }
    Ok(())
}

/// The 1-based line where `key` is set in `section` (`None`: before any table header), or 0
/// when it cannot be told (a quoted or dotted key).
fn line_of(text: &str, section: Option<&str>, key: &str) -> usize {
    let mut current: Option<&str> = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
            current = Some(header.trim());
        } else if current == section
            && line.strip_prefix(key).is_some_and(|rest| rest.trim_start().starts_with('='))
        {
            return n + 1;
        }
    }
    0
}

/// The known name closest to `typo`, if it is close enough to be what was meant: two edits
/// away, or the name with a part left off (`ping_interval` for `ping_interval_ms`).
pub(crate) fn did_you_mean<'a>(typo: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let partial = |k: &str| typo.len() >= 4 && (k.starts_with(typo) || typo.starts_with(k));
    known
        .map(|k| (if partial(k) { 0 } else { edit_distance(typo, k) }, k))
        .filter(|&(d, _)| d <= 2)
        .min()
        .map(|(_, k)| k)
}

/// Levenshtein distance between `a` and `b`.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (row[j + 1] + 1).min(row[j] + 1).min(prev + usize::from(ca != cb));
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The node table's slots: `value` or `default`, checked against [`timing::TABLE_SLOTS`].
pub fn table_slots(value: Option<usize>, default: usize) -> anyhow::Result<usize> {
    let wide = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    let n = bounded(value.map(wide), wide(default), timing::TABLE_SLOTS)?;
    Ok(usize::try_from(n).unwrap_or(default))
}

/// `value` (a flag or config key) or `default`, checked against `limit`.
pub fn bounded(value: Option<u64>, default: u64, limit: Limit) -> anyhow::Result<u64> {
    limit.check(value.unwrap_or(default)).map_err(|e| {
        anyhow::anyhow!("{e} (--{} or `{}` in the config file)", limit.key.replace('_', "-"), limit.key)
    })
}

/// The options of one role (`vigil mgs|router|client|server`), from flags and a config file.
pub trait Layered: Args + Default + Serialize + DeserializeOwned {
    /// The config file the flags name (`--config`).
    fn config_file(&self) -> Option<&Path>;

    /// These flags over the config file they name: a flag given wins, one not given (unset, an
    /// empty list, a switch left off) leaves the file's value, and the file's the default.
    fn load(self) -> anyhow::Result<Self> {
        let file: Self = read_file(self.config_file())?;
        let mut merged = serde_json::to_value(&file).context("cannot merge the config file")?;
        // Only a path that is not UTF-8 fails here: the file's values came from UTF-8 text.
        let flags = serde_json::to_value(&self).context("cannot merge the flags: a path is not UTF-8")?;
        overlay(&mut merged, flags);
        serde_json::from_value(merged).context("cannot merge the flags with the config file")
    }
}

/// Lays the options set in `flags` over `base`, table by table (the flattened common blocks
/// serialize into the role's own table, `[timing]` into a table of its own).
fn overlay(base: &mut Value, flags: Value) {
    match (base, flags) {
        (Value::Object(base), Value::Object(flags)) => {
            for (key, value) in flags {
                match base.get_mut(&key) {
                    Some(slot) => overlay(slot, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (_, Value::Null | Value::Bool(false)) => {}
        (_, Value::Array(list)) if list.is_empty() => {}
        (base, value) => *base = value,
    }
}

macro_rules! layered {
    ($($opts:ty),*) => {$(
        impl Layered for $opts {
            fn config_file(&self) -> Option<&Path> {
                self.config.as_deref()
            }
        }
    )*};
}
layered!(MgsOpts, RouterOpts, ClientOpts, ServerOpts);

/// A required option, or an error naming both the flag and the config key.
pub fn required<T>(value: Option<T>, flag: &str) -> anyhow::Result<T> {
    value.with_context(|| format!("missing --{flag} (or `{}` in the config file)", flag.replace('-', "_")))
}

/// A node or target name as the wire carries it.
pub fn wire_name(s: &str, what: &str) -> anyhow::Result<Name> {
    if s.is_empty() {
        bail!("the {what} name is empty");
    }
    name(s)
        .with_context(|| format!("the {what} name {s:?} is longer than {} bytes", vigil_proto::ids::NAME_LEN))
}

/// Target addresses as the wire carries them.
pub fn wire_nids<const N: usize>(addrs: &[String]) -> anyhow::Result<heapless::Vec<Nid, N>> {
    if addrs.len() > N {
        bail!("at most {N} target addresses, got {}", addrs.len());
    }
    addrs
        .iter()
        .map(|a| {
            nid(a).with_context(|| {
                format!("the target address {a:?} is longer than {} bytes", vigil_proto::ids::NID_LEN)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        client: ClientOpts,
    }

    fn client_with_file(flags: &[&str], file: &str) -> anyhow::Result<ClientOpts> {
        let dir = std::env::temp_dir().join(format!("vigil-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // One file per call: tests run in parallel.
        static FILES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let path = dir.join(format!("c{}.toml", FILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
        std::fs::write(&path, file).unwrap();
        let mut args = vec!["vigil", "--config", path.to_str().unwrap()];
        args.extend_from_slice(flags);
        let opts = Cli::try_parse_from(args).unwrap().client.load();
        std::fs::remove_file(&path).unwrap();
        opts
    }

    const FILE: &str = r#"
        name = "c0042"
        parents = ["10.0.0.1:7470", "[fd00::1]:7470"]
        on_order = "lctl recover"
        state_dir = "/tmp/vigil"

        [timing]
        ping_interval_ms = 500
        dead_after = 10
    "#;

    #[test]
    fn the_file_fills_in_and_flags_override() {
        let opts = client_with_file(&["--name", "c7", "--ping-interval-ms", "200"], FILE).unwrap();
        assert_eq!(opts.name.as_deref(), Some("c7"));
        assert_eq!(opts.upstream.parents, ["10.0.0.1:7470", "[fd00::1]:7470"]);
        assert_eq!(opts.on_order.as_deref(), Some("lctl recover"));
        assert_eq!(opts.node.state_dir(), PathBuf::from("/tmp/vigil"));
        assert_eq!(opts.node.key_file(), PathBuf::from(DEFAULT_KEY_FILE));
        let timing = opts.node.timing.resolve().unwrap();
        assert_eq!((timing.ping_interval_ms, timing.dead_after), (200, 10));
        assert_eq!(timing.suspect_after, Timing::default().suspect_after);
        let opts = client_with_file(&["--parent", "127.0.0.1:1"], FILE).unwrap();
        assert_eq!(opts.upstream.parents, ["127.0.0.1:1"], "a list on the command line replaces the file's");
    }

    #[test]
    fn switches_lists_and_flag_only_options_merge_in_every_block() {
        let opts =
            client_with_file(&["--ready-file", "/run/r", "--dead-after", "12"], "lustre = true\n").unwrap();
        assert!(opts.lustre, "a switch the file sets stays set when the flag is left off");
        assert_eq!(opts.node.ready_file, Some(PathBuf::from("/run/r")));
        assert!(opts.config.is_some(), "--config itself is kept");
        assert_eq!(opts.node.timing.dead_after, Some(12));
        let dir = std::env::temp_dir().join(format!("vigil-config-mgs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("mgs.toml");
        std::fs::write(
            &path,
            "api_hosts = [\"mgs.example\"]\napi_token_reads = true\nexpect_routers = [\"r1\", \"r2\"]\n[timing]\ndead_after = 9\n",
        )
        .unwrap();
        let flags = MgsOpts { config: Some(path.clone()), ..MgsOpts::default() };
        let opts = flags.load().unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(opts.api.api_hosts, ["mgs.example"]);
        assert!(opts.api.api_token_reads);
        assert_eq!(opts.node.timing.dead_after, Some(9));
        assert_eq!(opts.expect_routers, ["r1", "r2"]);
    }

    #[test]
    fn without_a_file_flags_alone_count() {
        let opts = Cli::try_parse_from(["vigil", "--name", "c1", "--parent", "1.2.3.4:5"]).unwrap().client;
        let opts = opts.load().unwrap();
        assert_eq!(opts.upstream.parents, ["1.2.3.4:5"]);
        assert!(opts.on_order.is_none());
    }

    #[test]
    fn unknown_keys_and_bad_values_are_clear_errors() {
        let err = format!("{:#}", client_with_file(&[], "nmae = \"c1\"").unwrap_err());
        assert!(err.contains("bad config file") && err.contains("nmae"), "{err}");
        let err = format!("{:#}", client_with_file(&[], "[timing]\nping_interval = 5").unwrap_err());
        assert!(err.contains("ping_interval"), "{err}");
        let err = format!("{:#}", client_with_file(&[], "hook_timeout_ms = -1").unwrap_err());
        assert!(err.contains("hook_timeout_ms"), "{err}");
        let err = format!("{:#}", client_with_file(&[], "ready_file = \"/x\"").unwrap_err());
        assert!(err.contains("ready_file"), "command-line only: {err}");
    }

    /// The error of a client config file, one line.
    fn error_of(file: &str) -> String {
        format!("{:#}", client_with_file(&[], file).unwrap_err())
    }

    #[test]
    fn errors_name_the_key_its_line_and_what_is_allowed() {
        let err = error_of("name = \"c1\"\n\nparent = [\"10.0.0.1:7470\"]\n");
        assert!(err.contains("line 3: unknown key `parent`; did you mean `parents`?"), "{err}");
        let err = error_of("name = \"c1\"\n[timing]\nping_interval_ms = 1\n");
        assert!(err.contains("line 3: ping_interval_ms = 1 is out of range: allowed 50 to 600000"), "{err}");
        let err = error_of("[timing]\n\nupdate_interval_ms = 4294967295\n");
        assert!(err.contains("line 3: update_interval_ms = 4294967295 is out of range"), "{err}");
        let err = error_of("name = \"c1\"\nhook_timeout_ms = 0\n");
        assert!(err.contains("line 2: hook_timeout_ms = 0 is out of range: allowed 100 to 3600000"), "{err}");
        let err = error_of("name = \"c1\"\n[timing]\nping_interval = 500\n");
        assert!(
            err.contains("line 3: unknown key `ping_interval` in [timing]; did you mean `ping_interval_ms`?"),
            "{err}"
        );
        // A syntax error is at its own line, not at line 1.
        let err = error_of("name = \"c1\"\non_order = \"x\"\nparents = [\n");
        assert!(err.contains("line 3") || err.contains("line 4"), "{err}");
        // Flags are held to the same limits, naming the flag.
        let opts = Cli::try_parse_from(["vigil", "--ping-interval-ms", "1"]).unwrap().client.load().unwrap();
        let err = format!("{:#}", opts.node.timing.resolve().unwrap_err());
        assert!(err.contains("ping_interval_ms = 1 is out of range: allowed 50 to 600000"), "{err}");
        let err = bounded(Some(0), 30_000, timing::HOOK_TIMEOUT_MS).unwrap_err().to_string();
        assert!(err.contains("--hook-timeout-ms") && err.contains("allowed 100 to 3600000"), "{err}");
        assert!(table_slots(Some(1), 8192).is_err() && table_slots(None, 8192).is_ok());
    }

    #[test]
    fn bad_timing_is_refused() {
        let bad = TimingOpts { suspect_after: Some(6), dead_after: Some(6), ..TimingOpts::default() };
        assert!(format!("{:#}", bad.resolve().unwrap_err()).contains("suspect_after"));
        let zero = TimingOpts { ping_interval_ms: Some(0), ..TimingOpts::default() };
        assert!(zero.resolve().is_err());
    }

    #[test]
    fn every_role_reads_its_own_keys() {
        let mgs: MgsOpts = parse_file("listen = \"[::]:7470\"\ntable_slots = 1024\n").unwrap();
        assert_eq!(mgs.table_slots, Some(1024));
        let server: ServerOpts =
            parse_file("target = \"testfs-OST0001\"\ntarget_addrs = [\"10.1.0.7@o2ib\"]\nwindow_ms = 1000")
                .unwrap();
        assert_eq!(server.target_addrs, ["10.1.0.7@o2ib"]);
        assert!(parse_file::<RouterOpts>("on_order = \"x\"").is_err(), "a client key in a router file");
        let router: RouterOpts = parse_file("order_pubs = [\"/etc/vigil/order-1.pub\"]").unwrap();
        assert_eq!(router.upstream.order_pubs, [PathBuf::from("/etc/vigil/order-1.pub")]);
        let mgs: MgsOpts = parse_file("order_key = \"/etc/vigil/order.key\"").unwrap();
        assert_eq!(mgs.order_key, Some(PathBuf::from("/etc/vigil/order.key")));
        assert!(parse_file::<MgsOpts>("order_pubs = []").is_err(), "the MGS signs, it does not verify");
        let missing = required::<String>(None, "key-file").unwrap_err().to_string();
        assert!(missing.contains("--key-file") && missing.contains("key_file"), "{missing}");
    }

    #[test]
    fn wire_names_and_nids_are_bounded() {
        assert!(wire_name("c1", "node").is_ok());
        assert!(wire_name("", "node").is_err());
        assert!(wire_name(&"x".repeat(33), "node").unwrap_err().to_string().contains("longer than 32"));
        assert_eq!(wire_nids::<2>(&["a@tcp".into()]).unwrap().len(), 1);
        assert!(wire_nids::<2>(&["a".into(), "b".into(), "c".into()]).is_err());
    }
}
