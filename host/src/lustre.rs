//! Following a Lustre target from its server (`vigil server --lustre`).
//!
//! The target's identity in a recovery is Lustre's own `instance`
//! (`obdfilter.<target>.instance`, `mdt.<target>.instance`), bumped on every mount of the target
//! wherever it mounts: a remount, or a failover to the partner server. The daemon reads it with
//! `recovery_status` (`lprocfs_recovery_status_seq_show`) at start and then every [`POLL`], and
//! hands both to its machine ([`Server::follow_target`]): a new instance is a target restart, and
//! a daemon that restarts while the target stays mounted reports the same instance, so nothing is
//! ordered. A target not mounted on this server (the passive partner) is reported down.
//!
//! It also keeps what the close-window hook needs to evict exactly the dead: after a restart the
//! target knows the clients of its `last_rcvd` by UUID only (`tgt_clients_data_init`), while
//! Vigil knows them by name. A client agent run with `--lustre` reads its mounts' client UUIDs
//! ([`read_mounts`]) and reports their [`mount_tag`]s, which a `CloseWindow` carries for the dead
//! clients. While the target runs, the server's daemon keeps the UUIDs the target knows in its
//! state directory ([`Exports`]: its exports with the NID each connected from, and its stale
//! clients while it recovers, which Lustre lists from 2.16 only), never pruned while the target
//! recovers; the hook gets those whose tag is a dead client's mount. The site's client map ([`ClientMap`]: Vigil name → LNet NIDs,
//! what `lctl list_nids` prints on each client) is an override for clients that do not report
//! their mounts: the hook also evicts the stale clients whose snapshot NID is one of theirs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tracing::warn;
use vigil_proto::wire::{mount_tag, LustrePhase, LustreRecovery, TargetState};
use vigil_proto::{Client, Generation, NodeId, Server};

use crate::driver::Commands;
use crate::state::{off_runtime, write_atomically};

/// How often the target is read.
pub const POLL: Duration = Duration::from_secs(1);
/// The most one `lctl` call may take.
const LCTL_TIMEOUT: Duration = Duration::from_secs(10);

/// The `lctl` parameter prefix of a target: `mdt.<target>` or `obdfilter.<target>`.
pub fn param_prefix(target: &str) -> String {
    let kind = if target.contains("-MDT") { "mdt" } else { "obdfilter" };
    format!("{kind}.{target}")
}

/// The `lctl` binary: `$LCTL`, else `lctl` on `PATH` (as the hooks use it).
fn lctl() -> String {
    std::env::var("LCTL").unwrap_or_else(|_| "lctl".to_owned())
}

/// Runs `lctl ARGS`: its standard output, `None` when it ran and failed (e.g. the parameter does
/// not exist here), an error when it could not run.
pub async fn run(args: &[String]) -> anyhow::Result<Option<String>> {
    let mut cmd = tokio::process::Command::new(lctl());
    cmd.args(args).stdin(Stdio::null()).stderr(Stdio::null()).kill_on_drop(true);
    let out = tokio::time::timeout(LCTL_TIMEOUT, cmd.output())
        .await
        .with_context(|| format!("lctl {} took over {LCTL_TIMEOUT:?}", args.join(" ")))?
        .with_context(|| format!("cannot run {}", lctl()))?;
    Ok(out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// The target as Lustre reports it on this server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reading {
    /// Its `instance`, bumped on every mount.
    pub instance: Generation,
    /// What Vigil reports of it: recovering while Lustre recovers, else up.
    pub state: TargetState,
    /// Lustre's own view of its recovery, shown beside Vigil's.
    pub view: LustreRecovery,
    /// The clients it still awaits, by UUID (`recovery_stale_clients`, 2.16 and later; empty
    /// before).
    pub stale: Vec<String>,
}

/// The target as Lustre reports it on this server, or `None` when it is not mounted here.
pub async fn read(target: &str) -> anyhow::Result<Option<Reading>> {
    let p = param_prefix(target);
    let args = ["get_param", "-n", &format!("{p}.instance"), &format!("{p}.recovery_status")];
    let Some(text) = run(&args.map(str::to_owned)).await? else { return Ok(None) };
    let Some(mut reading) = parse(&text) else { return Ok(None) };
    if matches!(reading.view.phase, LustrePhase::Recovering | LustrePhase::Waiting) {
        // The UUIDs still awaited, one a line, for the exports snapshot only (the count comes
        // from recovery_status): `recovery_stale_clients` exists from 2.16 (LU-14834); a
        // Lustre without it names none.
        let args = ["get_param".to_owned(), "-n".to_owned(), format!("{p}.recovery_stale_clients")];
        let stale = run(&args).await?.unwrap_or_default();
        reading.stale = stale.split_whitespace().map(str::to_owned).collect();
    }
    Ok(Some(reading))
}

impl Reading {
    /// Hands the reading to the server's machine: the instance and state it follows, and
    /// Lustre's view it relays.
    pub fn hand_to(self, server: &mut Server, now: vigil_proto::Instant) {
        server.follow_target(now, self.instance, self.state);
        server.report_lustre(now, Some(self.view));
    }
}

/// `<instance>\n<recovery_status>` (`lprocfs_recovery_status_seq_show`) into a reading, with no
/// stale client named yet.
fn parse(text: &str) -> Option<Reading> {
    let mut lines = text.lines();
    let instance = lines.next()?.trim().parse::<u32>().ok()?;
    let fields: Vec<(&str, &str)> =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim(), v.trim())).collect();
    let field = |key: &str| fields.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    let number = |key: &str| field(key).and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
    // `x/y`: x, y.
    let ratio = |key: &str| {
        let (x, y) = field(key)?.split_once('/')?;
        Some((x.trim().parse::<u32>().ok()?, y.trim().parse::<u32>().ok()?))
    };
    // RECOVERING, or WAITING / WAITING_FOR_CLIENTS (an MDT waiting for its peers); COMPLETE or
    // INACTIVE (nothing to recover) is up.
    let phase = match field("status")? {
        "INACTIVE" => LustrePhase::Inactive,
        "COMPLETE" => LustrePhase::Complete,
        s if s.starts_with("WAITING") => LustrePhase::Waiting,
        _ => LustrePhase::Recovering,
    };
    let state = match phase {
        LustrePhase::Inactive | LustrePhase::Complete => TargetState::Up,
        _ => TargetState::Recovering,
    };
    let view = match phase {
        LustrePhase::Inactive => {
            LustreRecovery { phase, recoverable: 0, connected: 0, evicted: 0, stale: 0, duration_s: 0 }
        }
        // completed_clients is the recoverable ones less those evicted (obd_stale_clients).
        LustrePhase::Complete => {
            let (completed, recoverable) = ratio("completed_clients").unwrap_or((0, 0));
            LustreRecovery {
                phase,
                recoverable,
                connected: completed,
                evicted: recoverable.saturating_sub(completed),
                stale: 0,
                duration_s: number("recovery_duration"),
            }
        }
        // WAITING_FOR_CLIENTS (until the first recoverable client connects) and an MDT's
        // WAITING (for the other MDTs) print no client counts: none is reported (0, which the
        // status shows as no counts; the target stays recovering, so nothing ends early).
        LustrePhase::Waiting => {
            LustreRecovery { phase, recoverable: 0, connected: 0, evicted: 0, stale: 0, duration_s: 0 }
        }
        // Still awaited: neither connected nor evicted (check_for_recovery_ready's terms).
        LustrePhase::Recovering => {
            let (connected, recoverable) = ratio("connected_clients").unwrap_or((0, 0));
            let evicted = number("evicted_clients");
            LustreRecovery {
                phase,
                recoverable,
                connected,
                evicted,
                stale: recoverable.saturating_sub(connected).saturating_sub(evicted),
                duration_s: 0,
            }
        }
    };
    Some(Reading { instance: Generation(instance), state, view, stale: Vec::new() })
}

/// The target's exports, (UUID, NID) for each client connected, and how many lines of `lctl`'s
/// output [`parse_exports`] skipped.
///
/// One `lctl get_param <prefix>.exports.*.uuid`, names and values, read by [`parse_exports`];
/// not a `get_param -n` for each NID, which would run one `lctl` for each client NID every
/// [`POLL`] and could miss a NID that connects between the listing and the reads.
async fn read_exports(target: &str) -> anyhow::Result<(Vec<(String, String)>, usize)> {
    let p = param_prefix(target);
    let args = ["get_param".to_owned(), format!("{p}.exports.*.uuid")];
    // No export at all is an error of the glob: an empty list.
    let text = run(&args).await?.unwrap_or_default();
    Ok(parse_exports(&text, &p))
}

/// `lctl get_param <prefix>.exports.*.uuid` into (UUID, NID) pairs, and how many lines it
/// skipped as neither form below.
///
/// Each `<prefix>.exports.<nid>.uuid` holds the client UUIDs of the exports from that NID, one
/// a line (`lprocfs_exp_uuid_seq_show`; two mounts on one client share its NID). `lctl`
/// (`read_param`, `lustre/utils/lustre_cfg.c`) prints it in one of two forms: `<name>=<uuid>`
/// on one line when the value is one line and value and name come to under 80 characters,
/// else `<name>=` and then the value on the lines after it, which is the usual form (a client
/// UUID is 36 characters, the name 45 or more). So a line `<prefix>.exports.<nid>.uuid=` names
/// the NID (with its first UUID after the `=` when on one line), and each line without `=`
/// after it is one more UUID of that NID. A line of another name, and the lines after it, or a
/// UUID line with blanks in it or no name before it, is skipped and counted.
fn parse_exports(text: &str, prefix: &str) -> (Vec<(String, String)>, usize) {
    let head = format!("{prefix}.exports.");
    let mut seen = Vec::new();
    let mut skipped = 0;
    // The NID the lines read now belong to.
    let mut nid: Option<&str> = None;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let uuid = match line.split_once('=') {
            Some((name, value)) => {
                nid =
                    name.strip_prefix(&head).and_then(|n| n.strip_suffix(".uuid")).filter(|n| !n.is_empty());
                if nid.is_none() {
                    skipped += 1;
                    continue;
                }
                value.trim()
            }
            None => line,
        };
        match nid {
            // `<name>=` alone: the UUIDs follow.
            Some(_) if uuid.is_empty() => {}
            Some(n) if !uuid.contains(char::is_whitespace) => seen.push((uuid.to_owned(), n.to_owned())),
            _ => skipped += 1,
        }
    }
    (seen, skipped)
}

/// Client UUID → the NID it connected from, as last seen in the target's exports, kept in a
/// file for the close-window hook (`<uuid> <nid>` a line).
pub struct Exports {
    path: PathBuf,
    known: BTreeMap<String, String>,
}

impl Exports {
    /// The snapshot in `path` (empty if there is none yet).
    pub fn load(path: PathBuf) -> Exports {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let known = text
            .lines()
            .filter_map(|l| l.split_once(' ').map(|(u, n)| (u.to_owned(), n.trim().to_owned())))
            .collect();
        Exports { path, known }
    }

    /// Adds the exports seen now, and the stale clients (`-` for their NID: a target knows them
    /// by UUID only); forgets the clients gone only while the target is up (during a recovery,
    /// the clients that have not come back are exactly the ones to keep).
    pub fn update(
        &mut self,
        seen: Vec<(String, String)>,
        stale: &[String],
        state: TargetState,
    ) -> std::io::Result<()> {
        let mut known = self.known.clone();
        if state == TargetState::Up {
            known.retain(|uuid, _| seen.iter().any(|(u, _)| u == uuid));
        }
        known.extend(seen);
        for uuid in stale {
            known.entry(uuid.clone()).or_insert_with(|| "-".to_owned());
        }
        if known == self.known && self.path.exists() {
            return Ok(());
        }
        let text: String = known.iter().map(|(u, n)| format!("{u} {n}\n")).collect();
        // Synced, file and directory: the snapshot is needed right after a power loss of the
        // server, when its target restarts.
        off_runtime(|| write_atomically(&self.path, text.as_bytes()))?;
        self.known = known;
        Ok(())
    }
}

/// The site's map of Vigil client names to their LNet NIDs: `<name> <nid> [<nid>...]` a line,
/// `#` comments. Keyed by the node id the name gives, as a `CloseWindow` names clients.
#[derive(Debug, Default)]
pub struct ClientMap {
    clients: BTreeMap<NodeId, (String, Vec<String>)>,
}

impl ClientMap {
    /// Reads the map in `path`; a malformed line is an error that names it.
    pub fn load(path: &Path) -> anyhow::Result<ClientMap> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    fn parse(text: &str) -> anyhow::Result<ClientMap> {
        let mut clients = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default();
            let mut words = line.split_whitespace();
            let Some(name) = words.next() else { continue };
            let nids: Vec<String> = words.map(str::to_owned).collect();
            if nids.is_empty() || nids.iter().any(|n| !n.contains('@')) {
                anyhow::bail!(
                    "line {}: expected `<client name> <nid> [<nid>...]` (a NID looks like 10.0.0.5@tcp)",
                    i + 1
                );
            }
            if clients.insert(NodeId::from_name(name), (name.to_owned(), nids)).is_some() {
                anyhow::bail!(
                    "line {}: client {name} is listed twice (or its id collides with another)",
                    i + 1
                );
            }
        }
        Ok(ClientMap { clients })
    }
}

/// What a server following Lustre adds to its close-window hook's environment.
pub struct HookContext {
    /// The site's client map (empty without one: no client can be mapped, none is evicted).
    pub clients: ClientMap,
    /// The exports snapshot the daemon keeps.
    pub exports: PathBuf,
}

impl HookContext {
    /// `VIGIL_DEAD_UUIDS` (the client UUIDs of the snapshot whose [`mount_tag`] is one of the
    /// dead clients' mounts), `VIGIL_DEAD_CLIENTS` and `VIGIL_DEAD_NIDS` (the dead clients the
    /// site's map lists and their NIDs), all comma separated, and `VIGIL_LUSTRE_EXPORTS` (the
    /// snapshot file).
    pub fn vars(&self, dead: &[NodeId], dead_mounts: &[u64]) -> Vec<(&'static str, String)> {
        let snapshot = std::fs::read_to_string(&self.exports).unwrap_or_default();
        let uuids: Vec<&str> = (snapshot.lines())
            .filter_map(|l| l.split_whitespace().next())
            .filter(|uuid| dead_mounts.contains(&mount_tag(uuid)))
            .collect();
        let mapped: Vec<&(String, Vec<String>)> =
            dead.iter().filter_map(|id| self.clients.clients.get(id)).collect();
        let names: Vec<&str> = mapped.iter().map(|(n, _)| n.as_str()).collect();
        let nids: Vec<&str> = mapped.iter().flat_map(|(_, nids)| nids.iter().map(String::as_str)).collect();
        vec![
            ("VIGIL_DEAD_UUIDS", uuids.join(",")),
            ("VIGIL_DEAD_CLIENTS", names.join(",")),
            ("VIGIL_DEAD_NIDS", nids.join(",")),
            ("VIGIL_LUSTRE_EXPORTS", self.exports.display().to_string()),
        ]
    }
}

/// How often a client reads its mounts: they change only with a mount or a remount.
pub const MOUNTS_POLL: Duration = Duration::from_secs(10);

/// The client UUIDs of this host's Lustre mounts (`llite.<fs>-<sb>.uuid`, `uuid_show` in
/// `lustre/llite/lproc_llite.c`: the `ll_sb_uuid` each mount draws at random,
/// `ll_generate_random_uuid`). Every import of a mount connects with it (the configuration log
/// attaches the mount's devices under it, `class_config_llog_handler`), so it is the UUID the
/// targets list in their exports and, after a restart, in `recovery_stale_clients`. None when
/// nothing is mounted.
pub async fn read_mounts() -> anyhow::Result<Vec<String>> {
    let args = ["get_param".to_owned(), "-n".to_owned(), "llite.*.uuid".to_owned()];
    let text = run(&args).await?.unwrap_or_default();
    Ok(text.split_whitespace().map(str::to_owned).collect())
}

/// Reads the client's mounts now and every [`MOUNTS_POLL`], and hands their tags to the client's
/// loop (which tells its parents when they change), until the loop ends.
pub async fn report_mounts(commands: Commands<Client>) {
    let mut failing = false;
    loop {
        let tags: Vec<u64> = match read_mounts().await {
            Ok(uuids) => {
                failing = false;
                uuids.iter().map(|u| mount_tag(u)).collect()
            }
            Err(e) => {
                if !failing {
                    warn!("cannot read this client's Lustre mounts: {e:#}");
                }
                failing = true;
                Vec::new()
            }
        };
        if !commands.send(move |m: &mut Client, now| m.set_mounts(now, &tags)).await {
            return;
        }
        tokio::time::sleep(MOUNTS_POLL).await;
    }
}

/// Reads the target every [`POLL`], hands what Lustre says to the server's loop and keeps the
/// exports snapshot, until the loop ends.
pub async fn follow(target: String, mut exports: Exports, commands: Commands<Server>) {
    let mut failing = false;
    // Whether the last read of the exports skipped lines (told once until a read skips none).
    let mut skipping = false;
    let mut first = true;
    loop {
        // At once the first time: the snapshot is there as early as possible.
        if !std::mem::take(&mut first) {
            tokio::time::sleep(POLL).await;
        }
        let sent = match read(&target).await {
            Ok(Some(reading)) => {
                failing = false;
                match read_exports(&target).await {
                    Ok((seen, skipped)) => {
                        if skipped > 0 && !skipping {
                            let what = "lines of lctl's exports that are neither a name nor a UUID";
                            warn!(target, skipped, "{what}: skipped");
                        }
                        skipping = skipped > 0;
                        if let Err(e) = exports.update(seen, &reading.stale, reading.state) {
                            warn!(target, "cannot write the exports snapshot: {e}");
                        }
                    }
                    Err(e) => warn!(target, "cannot read the exports: {e:#}"),
                }
                commands.send(move |m: &mut Server, now| reading.hand_to(m, now)).await
            }
            Ok(None) => {
                let down = |m: &mut Server, now| {
                    m.set_target_state(now, TargetState::Down);
                    m.report_lustre(now, None);
                };
                commands.send(down).await
            }
            Err(e) => {
                if !failing {
                    warn!(target, "cannot read the target from Lustre: {e:#}");
                }
                failing = true;
                true
            }
        };
        if !sent {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_and_status_give_the_reported_state_and_lustres_view() {
        let state = |text: &str| parse(text).map(|r| (r.instance, r.state));
        let recovering = "7\nstatus: RECOVERING\nrecovery_start: 1700000000\ntime_remaining: 140\n\
                          connected_clients: 5/6\nreq_replay_clients: 5\nevicted_clients: 0\n";
        assert_eq!(state(recovering), Some((Generation(7), TargetState::Recovering)));
        let view = parse(recovering).map(|r| r.view);
        assert_eq!(
            view,
            Some(LustreRecovery {
                phase: LustrePhase::Recovering,
                recoverable: 6,
                connected: 5,
                evicted: 0,
                stale: 1,
                duration_s: 0
            })
        );
        // The clients still awaited are counted from the status, on every release (2.15 has no
        // recovery_stale_clients): 10 recoverable, 6 connected, 3 evicted.
        let counted = "7\nstatus: RECOVERING\nconnected_clients: 6/10\nevicted_clients: 3\n";
        assert_eq!(parse(counted).map(|r| r.view.stale), Some(1));
        // WAITING_FOR_CLIENTS (nobody connected yet) and an MDT's WAITING print no counts:
        // none is made up, and the target stays recovering.
        for waiting in ["3\nstatus: WAITING_FOR_CLIENTS\n", "3\nstatus: WAITING\nnon-ready MDTs: 0001\n"] {
            let r = parse(waiting).expect("a reading");
            assert_eq!((r.state, r.view.phase), (TargetState::Recovering, LustrePhase::Waiting));
            let v = r.view;
            assert_eq!((v.recoverable, v.connected, v.evicted, v.stale, v.duration_s), (0, 0, 0, 0, 0));
        }
        // Once complete, the evicted are the recoverable ones that did not complete.
        let complete = "7\nstatus: COMPLETE\nrecovery_start: 1700000000\nrecovery_duration: 3\n\
                        completed_clients: 5/6\nreplayed_requests: 10\n";
        assert_eq!(state(complete), Some((Generation(7), TargetState::Up)));
        let view =
            parse(complete).map(|r| (r.view.phase, r.view.connected, r.view.evicted, r.view.duration_s));
        assert_eq!(view, Some((LustrePhase::Complete, 5, 1, 3)));
        assert_eq!(state("3\nstatus: INACTIVE\n"), Some((Generation(3), TargetState::Up)));
        assert_eq!(state("3\nstatus: WAITING_FOR_CLIENTS\n"), Some((Generation(3), TargetState::Recovering)));
        assert_eq!(parse("3\nstatus: WAITING\n").map(|r| r.view.phase), Some(LustrePhase::Waiting));
        assert_eq!(parse("x\nstatus: COMPLETE\n"), None);
        assert_eq!(parse("3\n"), None);
        assert_eq!(param_prefix("testfs-MDT0000"), "mdt.testfs-MDT0000");
        assert_eq!(param_prefix("testfs-OST0001"), "obdfilter.testfs-OST0001");
    }

    #[test]
    fn dead_clients_are_named_by_their_mounts_and_by_the_map() {
        let dir = std::env::temp_dir().join(format!("vigil-vars-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let exports = dir.join("oss1.lustre-exports");
        // u3 is a stale client of a failover partner's target: known by UUID only.
        std::fs::write(&exports, "u1 10.0.1.1@tcp\nu2 10.0.1.2@tcp\nu3 -\n").unwrap();
        let map =
            ClientMap::parse("# site map\nc01 10.0.1.1@tcp\nc02 10.0.1.2@tcp 10.1.1.2@o2ib # two rails\n\n")
                .expect("parses");
        let ctx = HookContext { clients: map, exports: exports.clone() };
        let dead = [NodeId::from_name("c02"), NodeId::from_name("c01"), NodeId::from_name("unknown")];
        let mounts = [mount_tag("u3"), mount_tag("u2"), mount_tag("a mount this server never saw")];
        assert_eq!(
            ctx.vars(&dead, &mounts),
            [
                ("VIGIL_DEAD_UUIDS", "u2,u3".to_owned()),
                ("VIGIL_DEAD_CLIENTS", "c02,c01".to_owned()),
                ("VIGIL_DEAD_NIDS", "10.0.1.2@tcp,10.1.1.2@o2ib,10.0.1.1@tcp".to_owned()),
                ("VIGIL_LUSTRE_EXPORTS", exports.display().to_string()),
            ]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_client_map_is_checked_line_by_line() {
        let err = format!("{:#}", ClientMap::parse("c01\n").unwrap_err());
        assert!(err.contains("line 1"), "{err}");
        let err = format!("{:#}", ClientMap::parse("c01 10.0.1.1@tcp\nc01 10.0.1.9@tcp\n").unwrap_err());
        assert!(err.contains("line 2") && err.contains("twice"), "{err}");
    }

    #[test]
    fn exports_are_read_in_both_forms_lctl_prints() {
        let p = "obdfilter.testfs-OST0000";
        let pair = |u: &str, n: &str| (u.to_owned(), n.to_owned());
        // Name and value over 80 characters, or a value of several lines (two mounts from one
        // NID): `name=` alone, then the value, one UUID a line.
        let long = "obdfilter.testfs-OST0000.exports.10.0.1.1@tcp.uuid=\n\
                    3f1c2b7a-9d4e-4b51-8a0e-5c2f6d7e8a91\n\
                    obdfilter.testfs-OST0000.exports.10.0.1.2@tcp.uuid=\n\
                    0b6c1d2e-1111-4b51-8a0e-5c2f6d7e8a92\n\
                    7e9d0a41-2222-4b51-8a0e-5c2f6d7e8a93\n";
        assert_eq!(
            parse_exports(long, p),
            (
                vec![
                    pair("3f1c2b7a-9d4e-4b51-8a0e-5c2f6d7e8a91", "10.0.1.1@tcp"),
                    pair("0b6c1d2e-1111-4b51-8a0e-5c2f6d7e8a92", "10.0.1.2@tcp"),
                    pair("7e9d0a41-2222-4b51-8a0e-5c2f6d7e8a93", "10.0.1.2@tcp"),
                ],
                0
            )
        );
        // Short enough (a short UUID and name): `name=value` on one line, beside the other form.
        let short = "mdt.a-MDT0000.exports.0@lo.uuid=u1\nmdt.a-MDT0000.exports.10.0.0.2@tcp.uuid=\nu2\nu3\n";
        assert_eq!(
            parse_exports(short, "mdt.a-MDT0000"),
            (vec![pair("u1", "0@lo"), pair("u2", "10.0.0.2@tcp"), pair("u3", "10.0.0.2@tcp")], 0)
        );
        // A name with no UUID after it gives none. Lines of another name, the lines after them, a
        // UUID with no name before it and one with a blank in it are skipped and counted.
        let odd = "stray-uuid\n\
                   obdfilter.testfs-OST0000.exports.10.0.1.1@tcp.uuid=\n\
                   obdfilter.testfs-OST0000.exports.10.0.1.2@tcp.nodemap=\n\
                   not-a-uuid-of-10.0.1.2\n\
                   obdfilter.testfs-OST0000.exports.10.0.1.3@tcp.uuid=\n\
                   \n\
                   u3\n\
                   u 4\n";
        assert_eq!(parse_exports(odd, p), (vec![pair("u3", "10.0.1.3@tcp")], 4));
        assert_eq!(parse_exports("", p), (vec![], 0));
    }

    #[test]
    fn the_exports_snapshot_keeps_absent_clients_while_the_target_recovers() {
        let dir = std::env::temp_dir().join(format!("vigil-exports-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("oss1.lustre-exports");
        let _ = std::fs::remove_file(&path);
        let pair = |u: &str, n: &str| (u.to_owned(), n.to_owned());
        let mut exports = Exports::load(path.clone());
        exports
            .update(vec![pair("u1", "10.0.1.1@tcp"), pair("u2", "10.0.1.2@tcp")], &[], TargetState::Up)
            .unwrap();
        // Restarted: only u1 is back; u2's NID must stay for the hook; u3, stale, was never
        // seen connected here (the target failed over from the partner).
        let mut exports = Exports::load(path.clone());
        let stale = ["u2".to_owned(), "u3".to_owned()];
        exports.update(vec![pair("u1", "10.0.1.1@tcp")], &stale, TargetState::Recovering).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "u1 10.0.1.1@tcp\nu2 10.0.1.2@tcp\nu3 -\n");
        exports.update(vec![pair("u1", "10.0.1.1@tcp")], &[], TargetState::Up).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "u1 10.0.1.1@tcp\n");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
