//! A model of Lustre's recovery, shared by every process of a test through one world file, and
//! reached the way real tools reach Lustre: the `lctl` binary of this crate (`src/bin/lctl.rs`),
//! put on the daemons' `PATH` under the name `lctl`, with `LUSTRE_MODEL_WORLD` naming the world
//! file and `LUSTRE_MODEL_NODE` the node it runs on.
//!
//! It models what Vigil's hooks depend on, as lustre-release implements it (read there, not
//! copied):
//!
//! - **Client imports** (`lustre/ptlrpc/import.c`, `ptlrpc_import_recovery_state_machine`):
//!   CONNECTING → REPLAY (requests to replay) → REPLAY_LOCKS → REPLAY_WAIT → RECOVER → FULL, or
//!   EVICTED. A reconnected client whose target still waits for others sits in REPLAY (its first
//!   replay is queued by the target) or REPLAY_LOCKS (nothing to replay, lock replay queued); only
//!   the reply to its final ping (`completed_replay_interpret`) takes it to FULL. An import that
//!   nobody tells reconnects on its own when its pinger notices ([`Settings::pinger_s`]), and a
//!   connect to a NID where the target does not serve moves on to the next failover NID after
//!   the connect time-out (`import_select_connection`).
//! - **Reconnects** (`lustre/ptlrpc/recover.c`, `ptlrpc_recover_import`): `lctl --device D
//!   recover [nid]` is synchronous (async=0): it returns when the import left recovery, or
//!   fails after `obd_timeout`. Writing `connection=<nid>::<instance>` to `<type>.<dev>.import`
//!   (`lprocfs_import_seq_write`, `lustre/obdclass/lprocfs_status.c`) reconnects asynchronously,
//!   and only when the import is connected to an instance other than `<instance>`.
//! - **Target recovery** (`lustre/ldlm/ldlm_lib.c`, `target_recovery_thread`): a mount bumps the
//!   target's `instance` and restores the clients of `last_rcvd` by UUID only
//!   (`tgt_clients_data_init`: no NID until they connect). Stage 0
//!   (`target_recovery_overseer(check_for_recovery_ready)`) ends when connected + evicted ≥
//!   recoverable clients, on abort, or when the timer started at the first connect
//!   (`target_start_recovery_timer`) expires (then the stale clients are evicted,
//!   `class_disconnect_stale_exports`). Request replays, lock replays and the final pings held
//!   on `obd_final_req_queue` are answered only after it; the model then finishes them at once.
//!   A client that is not in `last_rcvd` is refused (-EBUSY) until recovery ends.
//! - **Eviction** (`evict_client_store` via `lprocfs_evict_client_seq_write`): `evict_client=
//!   uuid:<uuid>`, `nid:<nid>` or a bare UUID. Evicting a stale client counts toward stage 0
//!   (`class_export_recovery_cleanup`, `lustre/obdclass/genops.c`); a stale client has no NID,
//!   so `nid:` cannot reach it. Evicting a connected client drops its queued replays.
//!   `abort_recovery` (`target_stop_recovery_thread`) evicts every client that has not sent its
//!   final ping, connected or not, and drops their replays.
//! - **Status** (`lprocfs_recovery_status_seq_show`): `recovery_status` with status
//!   (INACTIVE, RECOVERING, COMPLETE), connected_clients x/y, req_replay_clients,
//!   lock_repay_clients (sic), completed_clients, evicted_clients, time_remaining;
//!   `recovery_stale_clients` (the UUIDs still awaited), `instance`, `exports.<nid>.uuid`.
//!
//! What it leaves out: transaction numbers and ordering, version-based recovery, locks beyond a
//! count, the MGS and its IR notifications, LNet itself. Time is the wall clock, and the world
//! moves on lazily: every access through [`World::with`] first runs [`World::step`].

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The environment variable naming the world file.
pub const WORLD_VAR: &str = "LUSTRE_MODEL_WORLD";
/// The environment variable naming the node an `lctl` runs on.
pub const NODE_VAR: &str = "LUSTRE_MODEL_NODE";

/// Lustre's time constants, in seconds.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Settings {
    /// `obd_timeout` (100 s): the most a synchronous `recover` waits.
    pub obd_timeout_s: u64,
    /// The recovery window from the first connect (150 s with IR's soft window).
    pub recovery_window_s: u64,
    /// How long an import that nobody told takes to notice its target restarted (its pinger).
    pub pinger_s: u64,
    /// How long a connect to a NID where the target does not serve takes to time out.
    pub connect_timeout_s: u64,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings { obd_timeout_s: 100, recovery_window_s: 150, pinger_s: 75, connect_timeout_s: 5 }
    }
}

/// The state of a client import (`enum lustre_imp_state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ImportState {
    /// Lost its connection, not yet trying again.
    Disconn,
    /// Connecting to `current`.
    Connecting,
    /// Connected to a recovering target; replaying requests.
    Replay,
    /// Replaying locks.
    ReplayLocks,
    /// Final ping sent, waiting for its reply.
    ReplayWait,
    /// Recovering after replay.
    Recover,
    /// Connected and serving.
    Full,
    /// Evicted by the target.
    Evicted,
}

impl ImportState {
    /// The name `lctl` prints.
    pub fn name(self) -> &'static str {
        match self {
            ImportState::Disconn => "DISCONN",
            ImportState::Connecting => "CONNECTING",
            ImportState::Replay => "REPLAY",
            ImportState::ReplayLocks => "REPLAY_LOCKS",
            ImportState::ReplayWait => "REPLAY_WAIT",
            ImportState::Recover => "RECOVER",
            ImportState::Full => "FULL",
            ImportState::Evicted => "EVICTED",
        }
    }

    /// Whether the import is connected to its target (REPLAY … FULL).
    pub fn connected(self) -> bool {
        matches!(
            self,
            ImportState::Replay
                | ImportState::ReplayLocks
                | ImportState::ReplayWait
                | ImportState::Recover
                | ImportState::Full
        )
    }

    /// `ptlrpc_import_in_recovery`: not FULL, not given up.
    fn in_recovery(self) -> bool {
        !matches!(self, ImportState::Full | ImportState::Evicted | ImportState::Disconn)
    }
}

/// One import of a client mount: an `osc` or `mdc` device.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Import {
    /// The target, e.g. `testfs-OST0000`.
    pub target: String,
    /// `osc` or `mdc`.
    pub kind: String,
    /// Its state.
    pub state: ImportState,
    /// The target instance it last connected to (`ocd_instance`).
    pub instance: u32,
    /// The NID it uses (or tries).
    pub current: String,
    /// Every NID of the target it knows, in order.
    pub failover: Vec<String>,
    /// Requests not yet committed by the target: replayed after a target restart.
    pub uncommitted: u32,
    /// When the current connect attempt started (ms), while CONNECTING.
    pub since_ms: u64,
}

/// A client mount: one client UUID and its imports.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Mount {
    /// The client UUID every target knows this mount by.
    pub uuid: String,
    /// The superblock tag in its device names (`testfs-OST0000-osc-<sb>`).
    pub sb: String,
    /// Its imports.
    pub imports: Vec<Import>,
}

/// A host: a client, a server, or both.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Node {
    /// Its LNet NIDs (`lctl list_nids`).
    pub nids: Vec<String>,
    /// False once it crashed: its imports stay frozen and its `lctl` fails.
    pub up: bool,
    /// Its client mounts.
    pub mounts: Vec<Mount>,
}

/// How a target knows one client (an export, or a `last_rcvd` slot after a restart).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportState {
    /// Restored from `last_rcvd`, not reconnected.
    Stale,
    /// Connected (during recovery: its replays queued).
    Connected,
    /// Evicted.
    Evicted,
}

/// One client as a target knows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Export {
    /// The NID it connected from (none for a stale client).
    pub nid: Option<String>,
    /// Its state.
    pub state: ExportState,
    /// Requests it has queued for replay.
    pub queued: u32,
}

/// A recovery in progress or finished.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Recovery {
    /// Clients restored from `last_rcvd`.
    pub recoverable: u32,
    /// When the first client connected (ms): the timer runs from here.
    pub start_ms: Option<u64>,
    /// When it completed (ms).
    pub done_ms: Option<u64>,
    /// Clients evicted during it.
    pub evicted: u32,
    /// Requests replayed.
    pub replayed: u32,
    /// Requests dropped with an evicted client.
    pub lost: u32,
    /// Ended by `abort_recovery`.
    pub aborted: bool,
    /// Ended by its timer.
    pub timed_out: bool,
}

/// An OST or MDT.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Target {
    /// The node it is mounted on (none while unmounted).
    pub server: Option<String>,
    /// Bumped on every mount.
    pub instance: u32,
    /// When it was last mounted (ms).
    pub mounted_ms: u64,
    /// Its clients, by UUID.
    pub exports: BTreeMap<String, Export>,
    /// The recovery of the current mount, if it had one.
    pub recovery: Option<Recovery>,
}

impl Target {
    fn param_type(name: &str) -> &'static str {
        if name.contains("-MDT") {
            "mdt"
        } else {
            "obdfilter"
        }
    }

    fn recovering(&self) -> bool {
        self.recovery.as_ref().is_some_and(|r| r.done_ms.is_none())
    }

    fn count(&self, state: ExportState) -> u32 {
        self.exports.values().filter(|e| e.state == state).count() as u32
    }
}

/// The whole modelled world.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct World {
    /// Time constants.
    pub settings: Settings,
    /// Hosts by name.
    pub nodes: BTreeMap<String, Node>,
    /// Targets by name.
    pub targets: BTreeMap<String, Target>,
}

/// The wall clock in ms since the epoch.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// An `lctl` failure: the message and the errno it exits with.
#[derive(Debug)]
pub struct LctlError {
    /// What went wrong.
    pub message: String,
    /// The exit status (an errno, as lctl returns).
    pub errno: i32,
}

fn err<T>(errno: i32, message: impl Into<String>) -> Result<T, LctlError> {
    Err(LctlError { message: message.into(), errno })
}

const ENOENT: i32 = 2;
const EIO: i32 = 5;
const ENODEV: i32 = 19;
const EINVAL: i32 = 22;
const EALREADY: i32 = 114;
const ETIMEDOUT: i32 = 110;

impl World {
    // ----- the world file ------------------------------------------------------------------

    /// Creates the world file at `path` holding `self`.
    pub fn create(&self, path: &Path) {
        let text = serde_json::to_string_pretty(self).expect("a world serialises");
        std::fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }

    /// Runs `f` on the world in `path` under an exclusive lock, after moving it on to now, and
    /// writes it back.
    pub fn with<T>(path: &Path, f: impl FnOnce(&mut World, u64) -> T) -> std::io::Result<T> {
        let mut file = OpenOptions::new().read(true).write(true).open(path)?;
        lock(&file)?;
        let mut text = String::new();
        file.read_to_string(&mut text)?;
        let mut world: World = serde_json::from_str(&text).map_err(std::io::Error::other)?;
        let now = now_ms();
        world.step(now);
        let out = f(&mut world, now);
        world.step(now);
        let text = serde_json::to_string_pretty(&world).map_err(std::io::Error::other)?;
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        file.write_all(text.as_bytes())?;
        Ok(out)
    }

    // ----- set-up and events (the test's hand) ----------------------------------------------

    /// Adds a host with these NIDs.
    pub fn add_node(&mut self, name: &str, nids: &[&str]) {
        let nids = nids.iter().map(|n| n.to_string()).collect();
        self.nodes.insert(name.to_owned(), Node { nids, up: true, mounts: Vec::new() });
    }

    /// Mounts `target` on `server` (a first format, or a remount or failover): the instance goes
    /// up, and if the target had clients, its recovery starts with them as stale clients.
    pub fn mount_target(&mut self, target: &str, server: &str, now: u64) {
        let t = self.targets.entry(target.to_owned()).or_insert_with(|| Target {
            server: None,
            instance: 0,
            mounted_ms: now,
            exports: BTreeMap::new(),
            recovery: None,
        });
        t.instance += 1;
        t.mounted_ms = now;
        t.server = Some(server.to_owned());
        // last_rcvd keeps every client that had not disconnected; they come back by UUID only.
        t.exports.retain(|_, e| e.state == ExportState::Connected);
        for e in t.exports.values_mut() {
            *e = Export { nid: None, state: ExportState::Stale, queued: 0 };
        }
        t.recovery = (!t.exports.is_empty())
            .then(|| Recovery { recoverable: t.exports.len() as u32, ..Default::default() });
    }

    /// The target stops serving (its server crashed or it was unmounted).
    pub fn stop_target(&mut self, target: &str) {
        if let Some(t) = self.targets.get_mut(target) {
            t.server = None;
        }
    }

    /// Mounts the filesystem on client `node` as `uuid`: one import per target, connected now.
    /// `failover` lists each target's NIDs (primary server first).
    pub fn mount_client(&mut self, node: &str, uuid: &str, failover: &[(&str, &[&str])], now: u64) {
        let sb = format!("ffff{:012x}", crate::lustre::fnv(uuid));
        let mut imports = Vec::new();
        for (target, nids) in failover {
            let kind = if target.contains("-MDT") { "mdc" } else { "osc" };
            let nids: Vec<String> = nids.iter().map(|n| n.to_string()).collect();
            imports.push(Import {
                target: target.to_string(),
                kind: kind.to_owned(),
                state: ImportState::Connecting,
                instance: 0,
                current: nids[0].clone(),
                failover: nids,
                uncommitted: 0,
                since_ms: now,
            });
        }
        let n = self.nodes.get_mut(node).expect("mount on a known node");
        n.mounts.push(Mount { uuid: uuid.to_owned(), sb, imports });
        self.step(now);
    }

    /// Client `node` issues `n` requests to `target` that the target has not committed yet.
    pub fn write(&mut self, node: &str, target: &str, n: u32) {
        for m in self.nodes.get_mut(node).into_iter().flat_map(|n| n.mounts.iter_mut()) {
            for i in m.imports.iter_mut().filter(|i| i.target == target) {
                i.uncommitted += n;
            }
        }
    }

    /// Host `node` crashes: its imports freeze, its targets stop.
    pub fn crash(&mut self, node: &str) {
        if let Some(n) = self.nodes.get_mut(node) {
            n.up = false;
        }
        for t in self.targets.values_mut().filter(|t| t.server.as_deref() == Some(node)) {
            t.server = None;
        }
    }

    // ----- time ----------------------------------------------------------------------------

    /// Moves the world on to `now`: connects, stage changes, timers.
    pub fn step(&mut self, now: u64) {
        self.connect_imports(now);
        let names: Vec<String> = self.targets.keys().cloned().collect();
        for name in names {
            self.advance_recovery(&name, now);
        }
    }

    /// The NIDs where `target` serves now (none while it is down).
    fn serving(&self, target: &str) -> Vec<String> {
        let Some(t) = self.targets.get(target) else { return Vec::new() };
        let Some(server) = t.server.as_deref() else { return Vec::new() };
        self.nodes.get(server).filter(|n| n.up).map_or(Vec::new(), |n| n.nids.clone())
    }

    fn connect_imports(&mut self, now: u64) {
        let settings = self.settings;
        let names: Vec<String> = self.nodes.keys().cloned().collect();
        for name in names {
            if !self.nodes[&name].up {
                continue;
            }
            let client_nid = self.nodes[&name].nids.first().cloned().unwrap_or_default();
            for m in 0..self.nodes[&name].mounts.len() {
                for i in 0..self.nodes[&name].mounts[m].imports.len() {
                    let uuid = self.nodes[&name].mounts[m].uuid.clone();
                    let import = self.nodes[&name].mounts[m].imports[i].clone();
                    let Some(t) = self.targets.get(&import.target) else { continue };
                    let serving = self.serving(&import.target);
                    let mut import = import;
                    // Its pinger notices a restart (or a lost target) by itself, late.
                    if import.state.connected()
                        && import.instance != t.instance
                        && t.server.is_some()
                        && now >= t.mounted_ms + settings.pinger_s * 1000
                    {
                        import.state = ImportState::Connecting;
                        import.since_ms = now;
                    }
                    if import.state == ImportState::Disconn
                        && now >= import.since_ms + settings.connect_timeout_s * 1000
                    {
                        import.state = ImportState::Connecting;
                        import.since_ms = now;
                    }
                    if import.state == ImportState::Connecting {
                        if serving.contains(&import.current) && t.server.is_some() {
                            self.connect(&name, &uuid, &client_nid, &mut import, now);
                        } else if now >= import.since_ms + settings.connect_timeout_s * 1000 {
                            // import_select_connection: the next failover NID.
                            let at = import
                                .failover
                                .iter()
                                .position(|n| *n == import.current)
                                .map_or(0, |p| p + 1);
                            import.current = import.failover[at % import.failover.len()].clone();
                            import.since_ms = now;
                        }
                    }
                    self.nodes.get_mut(&name).expect("node").mounts[m].imports[i] = import;
                }
            }
        }
    }

    /// A connect from mount `uuid` reaches the target where it serves (`target_handle_connect`).
    fn connect(&mut self, _node: &str, uuid: &str, nid: &str, import: &mut Import, now: u64) {
        let t = self.targets.get_mut(&import.target).expect("target");
        let recovering = t.recovering();
        match t.exports.get_mut(uuid) {
            Some(e) if e.state == ExportState::Evicted => {
                import.state = ImportState::Evicted;
            }
            Some(e) if recovering => {
                e.state = ExportState::Connected;
                e.nid = Some(nid.to_owned());
                e.queued = import.uncommitted;
                import.instance = t.instance;
                import.state =
                    if import.uncommitted > 0 { ImportState::Replay } else { ImportState::ReplayLocks };
                let r = t.recovery.as_mut().expect("recovering");
                r.start_ms.get_or_insert(now);
            }
            _ if recovering => {
                // A client the target does not know must wait for recovery to end (-EBUSY).
            }
            _ => {
                t.exports.insert(
                    uuid.to_owned(),
                    Export { nid: Some(nid.to_owned()), state: ExportState::Connected, queued: 0 },
                );
                import.instance = t.instance;
                import.state = ImportState::Full;
            }
        }
    }

    fn advance_recovery(&mut self, target: &str, now: u64) {
        let settings = self.settings;
        let Some(t) = self.targets.get_mut(target) else { return };
        if !t.recovering() || t.server.is_none() {
            return;
        }
        let (connected, evicted) = (t.count(ExportState::Connected), t.count(ExportState::Evicted));
        let r = t.recovery.as_mut().expect("recovering");
        let timer_out = r.start_ms.is_some_and(|s| now >= s + settings.recovery_window_s * 1000);
        let ready = connected + evicted >= r.recoverable || r.aborted || timer_out;
        if !ready {
            return;
        }
        if timer_out && connected + evicted < r.recoverable {
            r.timed_out = true;
        }
        // class_disconnect_stale_exports: whoever did not come back is evicted.
        let mut evictions = 0;
        for e in t.exports.values_mut().filter(|e| e.state == ExportState::Stale) {
            e.state = ExportState::Evicted;
            evictions += 1;
        }
        let r = t.recovery.as_mut().expect("recovering");
        r.evicted += evictions;
        // Request replays, lock replays, final pings: every connected client completes.
        for e in t.exports.values_mut().filter(|e| e.state == ExportState::Connected) {
            r.replayed += e.queued;
            e.queued = 0;
        }
        r.done_ms = Some(now);
        let instance = t.instance;
        for n in self.nodes.values_mut().filter(|n| n.up) {
            for m in n.mounts.iter_mut() {
                let done = self.targets[target]
                    .exports
                    .get(&m.uuid)
                    .is_some_and(|e| e.state == ExportState::Connected);
                for i in m.imports.iter_mut().filter(|i| i.target == target && i.instance == instance) {
                    if done && i.state.connected() {
                        i.state = ImportState::Full;
                        i.uncommitted = 0;
                    }
                }
            }
        }
    }

    /// Evicts client `uuid` from `target` (`class_fail_export`), counting it toward stage 0.
    fn evict(&mut self, target: &str, uuid: &str) {
        let Some(t) = self.targets.get_mut(target) else { return };
        let recovering = t.recovering();
        let Some(e) = t.exports.get_mut(uuid) else { return };
        if e.state == ExportState::Evicted {
            return;
        }
        let lost = e.queued;
        e.state = ExportState::Evicted;
        e.queued = 0;
        if let Some(r) = t.recovery.as_mut().filter(|_| recovering) {
            r.evicted += 1;
            r.lost += lost;
        }
        let instance = t.instance;
        for n in self.nodes.values_mut() {
            for m in n.mounts.iter_mut().filter(|m| m.uuid == uuid) {
                for i in m.imports.iter_mut().filter(|i| i.target == target && i.instance == instance) {
                    i.state = ImportState::Evicted;
                    i.uncommitted = 0;
                }
            }
        }
    }

    // ----- what tests read -----------------------------------------------------------------

    /// The import of `node`'s first mount to `target`.
    pub fn import(&self, node: &str, target: &str) -> Option<&Import> {
        self.nodes.get(node)?.mounts.iter().flat_map(|m| m.imports.iter()).find(|i| i.target == target)
    }

    // ----- lctl ----------------------------------------------------------------------------

    /// Devices of `node` as `lctl dl` lists them: (type, name, uuid).
    fn devices(&self, node: &str) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        let Some(n) = self.nodes.get(node) else { return out };
        for m in &n.mounts {
            for i in &m.imports {
                out.push((i.kind.clone(), format!("{}-{}-{}", i.target, i.kind, m.sb), m.uuid.clone()));
            }
        }
        for (name, t) in &self.targets {
            if t.server.as_deref() == Some(node) {
                out.push((Target::param_type(name).to_owned(), name.clone(), format!("{name}_UUID")));
            }
        }
        out
    }

    /// Every parameter `node` has, with its value.
    fn params(&self, node: &str, now: u64) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let Some(n) = self.nodes.get(node) else { return out };
        for m in &n.mounts {
            for i in &m.imports {
                let dev = format!("{}-{}-{}", i.target, i.kind, m.sb);
                out.push((format!("{}.{dev}.import", i.kind), import_text(&dev, i)));
                out.push((format!("{}.{dev}.uuid", i.kind), m.uuid.clone()));
            }
        }
        for (name, t) in self.targets.iter().filter(|(_, t)| t.server.as_deref() == Some(node)) {
            let p = format!("{}.{name}", Target::param_type(name));
            out.push((format!("{p}.instance"), t.instance.to_string()));
            out.push((format!("{p}.recovery_status"), recovery_text(t, self.settings, now)));
            let stale: Vec<&str> = (t.exports.iter())
                .filter(|(_, e)| e.state == ExportState::Stale && t.recovering())
                .map(|(u, _)| u.as_str())
                .collect();
            out.push((format!("{p}.recovery_stale_clients"), stale.join("\n")));
            for (uuid, e) in &t.exports {
                if let (Some(nid), ExportState::Connected) = (&e.nid, e.state) {
                    out.push((format!("{p}.exports.{nid}.uuid"), uuid.clone()));
                }
            }
        }
        out
    }

    /// Runs `lctl ARGS` on `node`: its standard output, or the failure.
    pub fn lctl(&mut self, node: &str, args: &[String], now: u64) -> Result<String, LctlError> {
        if !self.nodes.get(node).is_some_and(|n| n.up) {
            return err(EIO, format!("node {node} is down"));
        }
        let words: Vec<&str> = args.iter().map(String::as_str).collect();
        match words.as_slice() {
            ["dl"] => Ok(self
                .devices(node)
                .iter()
                .enumerate()
                .map(|(i, (kind, name, uuid))| format!("{i:3} UP {kind} {name} {uuid} 4\n"))
                .collect()),
            ["list_nids"] => Ok(self.nodes[node].nids.iter().map(|n| format!("{n}\n")).collect()),
            ["get_param", rest @ ..] => self.get_param(node, rest, now),
            ["set_param", rest @ ..] => {
                for p in rest {
                    self.set_param(node, p, now)?;
                }
                Ok(String::new())
            }
            ["--device", dev, "abort_recovery"] => {
                let target = self.target_device(node, dev)?;
                let t = self.targets.get_mut(&target).expect("target");
                if !t.recovering() {
                    return err(EALREADY, format!("{target}: not in recovery"));
                }
                // target_stop_recovery_thread: nobody has sent a final ping while stage 0 waits.
                let uuids: Vec<String> = t.exports.keys().cloned().collect();
                for uuid in uuids {
                    self.evict(&target, &uuid);
                }
                if let Some(r) = self.targets.get_mut(&target).and_then(|t| t.recovery.as_mut()) {
                    r.aborted = true;
                }
                self.step(now);
                Ok(String::new())
            }
            ["--device", dev, "recover", nid @ ..] if nid.len() <= 1 => {
                let (m, i) = self.import_device(node, dev)?;
                if self.recover_import(node, m, i, nid.first().copied(), now) {
                    Ok(String::new())
                } else {
                    err(ENOENT, format!("{dev}: {} is not a connection of the import", nid[0]))
                }
            }
            _ => err(EINVAL, format!("unknown command: {}", words.join(" "))),
        }
    }

    fn get_param(&self, node: &str, args: &[&str], now: u64) -> Result<String, LctlError> {
        let (bare, patterns) = match args {
            ["-n", rest @ ..] => (true, rest),
            rest => (false, rest),
        };
        if patterns.is_empty() {
            return err(EINVAL, "get_param: no parameter");
        }
        let params = self.params(node, now);
        let mut out = String::new();
        for pattern in patterns {
            let found: Vec<&(String, String)> =
                params.iter().filter(|(name, _)| glob(pattern, name)).collect();
            if found.is_empty() {
                return err(ENOENT, format!("get_param: param_path '{pattern}': No such file or directory"));
            }
            for (name, value) in found {
                if !bare {
                    out.push_str(name);
                    out.push_str(if value.contains('\n') { "=\n" } else { "=" });
                }
                out.push_str(value.trim_end_matches('\n'));
                out.push('\n');
            }
        }
        Ok(out)
    }

    fn set_param(&mut self, node: &str, assignment: &str, now: u64) -> Result<(), LctlError> {
        let Some((name, value)) = assignment.split_once('=') else {
            return err(EINVAL, format!("set_param: {assignment}: no value"));
        };
        let parts: Vec<&str> = name.splitn(3, '.').collect();
        match parts.as_slice() {
            [kind @ ("osc" | "mdc"), dev, "import"] => {
                let (m, i) = self.import_device(node, dev)?;
                if self.nodes[node].mounts[m].imports[i].kind != *kind {
                    return err(ENOENT, format!("set_param: {name}: No such file or directory"));
                }
                let Some(conn) = value.strip_prefix("connection=") else {
                    return err(
                        EINVAL,
                        format!("set_param: {name}: expected connection=<uuid>[::<instance>]"),
                    );
                };
                // lprocfs_import_seq_write: the write always succeeds; a malformed instance
                // or the instance the import is already on means no reconnect.
                let (nid, reconnect) = match conn.split_once("::") {
                    Some((nid, inst)) => (
                        nid,
                        inst.parse::<u32>()
                            .is_ok_and(|v| v != self.nodes[node].mounts[m].imports[i].instance),
                    ),
                    None => (conn, true),
                };
                if reconnect {
                    self.recover_import(node, m, i, Some(nid), now);
                }
                Ok(())
            }
            [kind @ ("obdfilter" | "mdt"), target, "evict_client"] => {
                let target = target.to_string();
                let served = self.targets.get(&target).is_some_and(|t| t.server.as_deref() == Some(node));
                if !served || Target::param_type(&target) != *kind {
                    return err(ENOENT, format!("set_param: {name}: No such file or directory"));
                }
                let t = &self.targets[&target];
                let uuids: Vec<String> = if let Some(nid) = value.strip_prefix("nid:") {
                    t.exports
                        .iter()
                        .filter(|(_, e)| e.nid.as_deref() == Some(nid))
                        .map(|(u, _)| u.clone())
                        .collect()
                } else {
                    let uuid = value.strip_prefix("uuid:").unwrap_or(value);
                    t.exports.contains_key(uuid).then(|| uuid.to_owned()).into_iter().collect()
                };
                // The write succeeds even when nobody matches, as Lustre's does.
                for uuid in uuids {
                    self.evict(&target, &uuid);
                }
                self.step(now);
                Ok(())
            }
            _ => err(ENOENT, format!("set_param: {name}: No such file or directory")),
        }
    }

    /// `ptlrpc_recover_import`: disconnects the import, points it at `nid` if it is one of its
    /// connections (false if not: the import stays disconnected until its pinger retries), and
    /// starts connecting.
    fn recover_import(&mut self, node: &str, m: usize, i: usize, nid: Option<&str>, now: u64) -> bool {
        let import = &mut self.nodes.get_mut(node).expect("node").mounts[m].imports[i];
        import.state = ImportState::Disconn;
        import.since_ms = now;
        if let Some(nid) = nid {
            if !import.failover.iter().any(|n| n == nid) {
                return false;
            }
            import.current = nid.to_owned();
        }
        import.state = ImportState::Connecting;
        self.step(now);
        true
    }

    /// The (mount, import) of client device `dev` (name or `lctl dl` index) on `node`.
    fn import_device(&self, node: &str, dev: &str) -> Result<(usize, usize), LctlError> {
        let name = self.device_name(node, dev)?;
        for (m, mount) in self.nodes[node].mounts.iter().enumerate() {
            for (i, import) in mount.imports.iter().enumerate() {
                if format!("{}-{}-{}", import.target, import.kind, mount.sb) == name {
                    return Ok((m, i));
                }
            }
        }
        err(ENODEV, format!("{dev}: not a client import"))
    }

    /// The target served on `node` as device `dev`.
    fn target_device(&self, node: &str, dev: &str) -> Result<String, LctlError> {
        let name = self.device_name(node, dev)?;
        match self.targets.get(&name) {
            Some(t) if t.server.as_deref() == Some(node) => Ok(name),
            _ => err(ENODEV, format!("{dev}: not a target")),
        }
    }

    fn device_name(&self, node: &str, dev: &str) -> Result<String, LctlError> {
        let devices = self.devices(node);
        let found = match dev.parse::<usize>() {
            Ok(i) => devices.get(i).map(|d| d.1.clone()),
            Err(_) => devices.iter().find(|d| d.1 == dev).map(|d| d.1.clone()),
        };
        found.ok_or_else(|| LctlError { message: format!("device '{dev}' not found"), errno: ENODEV })
    }

    /// Whether the import of device `dev` on `node` has left recovery (for the synchronous
    /// `recover`): FULL, evicted or given up.
    pub fn recovered(&self, node: &str, dev: &str) -> Result<bool, LctlError> {
        let (m, i) = self.import_device(node, dev)?;
        let import = &self.nodes[node].mounts[m].imports[i];
        Ok(!import.state.in_recovery())
    }
}

/// `lprocfs_import_seq_show`, the fields hooks read.
fn import_text(dev: &str, i: &Import) -> String {
    format!(
        "import:\n    name: {dev}\n    target: {}_UUID\n    state: {}\n    instance: {}\n    \
         connection:\n       failover_nids: [ {} ]\n       current_connection: {}\n",
        i.target,
        i.state.name(),
        i.instance,
        i.failover.join(", "),
        i.current
    )
}

/// `lprocfs_recovery_status_seq_show`.
fn recovery_text(t: &Target, settings: Settings, now: u64) -> String {
    let Some(r) = &t.recovery else { return "status: INACTIVE\n".to_owned() };
    let start_s = r.start_ms.unwrap_or(0) / 1000;
    if let Some(done) = r.done_ms {
        let duration = done.saturating_sub(r.start_ms.unwrap_or(done)) / 1000;
        return format!(
            "status: COMPLETE\nrecovery_start: {start_s}\nrecovery_duration: {duration}\n\
             completed_clients: {}/{}\nreplayed_requests: {}\nevicted_clients: {}\nVBR: DISABLED\nIR: ENABLED\n",
            r.recoverable - r.evicted.min(r.recoverable),
            r.recoverable,
            r.replayed,
            r.evicted,
        );
    }
    let connected = t.count(ExportState::Connected);
    let req = t.exports.values().filter(|e| e.state == ExportState::Connected && e.queued > 0).count();
    let remaining = r.start_ms.map_or(settings.recovery_window_s, |s| {
        (s + settings.recovery_window_s * 1000).saturating_sub(now) / 1000
    });
    format!(
        "status: RECOVERING\nrecovery_start: {start_s}\ntime_remaining: {remaining}\n\
         connected_clients: {connected}/{}\nreq_replay_clients: {req}\nlock_repay_clients: {connected}\n\
         completed_clients: 0\nevicted_clients: {}\nreplayed_requests: 0\nqueued_requests: {}\n\
         next_transno: 0\nVBR: DISABLED\nIR: ENABLED\n",
        r.recoverable,
        r.evicted,
        t.exports.values().map(|e| e.queued).sum::<u32>(),
    )
}

/// `*` matches any run of characters (NIDs have dots, so not per component).
fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            let Some(rest) = name.strip_prefix(head) else { return false };
            (0..=rest.len()).any(|i| rest.is_char_boundary(i) && glob(tail, &rest[i..]))
        }
    }
}

/// A 32-bit FNV-1a, for stable fake superblock tags.
fn fnv(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

/// Takes an exclusive `flock` on the world file; closing the file releases it.
fn lock(file: &File) -> std::io::Result<()> {
    // SAFETY: flock on a descriptor `file` keeps open for the whole call.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// `lctl ARGS` as the model's binary runs it for `node` on the world in `path`, synchronous
/// `recover` included: its output, or the failure.
pub fn run_lctl(path: &Path, node: &str, args: &[String]) -> Result<String, LctlError> {
    let io = |e: std::io::Error| LctlError { message: format!("world {}: {e}", path.display()), errno: EIO };
    let out = World::with(path, |w, now| w.lctl(node, args, now)).map_err(io)??;
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    if let ["--device", dev, "recover", ..] = words.as_slice() {
        // ptlrpc_recover_import(.., async=0): wait until the import left recovery.
        let timeout = World::with(path, |w, _| w.settings.obd_timeout_s).map_err(io)?;
        let until = now_ms() + timeout * 1000;
        loop {
            if World::with(path, |w, _| w.recovered(node, dev)).map_err(io)?? {
                break;
            }
            if now_ms() >= until {
                return err(ETIMEDOUT, format!("{dev}: recover: Connection timed out"));
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OST: &str = "testfs-OST0000";

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    /// A server with the OST and three clients, each with one replay pending; then a restart.
    fn restarted() -> (World, u64) {
        let mut w = World::default();
        let now = 1_000_000;
        w.add_node("oss1", &["10.0.0.7@tcp"]);
        w.mount_target(OST, "oss1", now);
        for c in ["c1", "c2", "c3"] {
            w.add_node(c, &[&format!("10.0.1.{}@tcp", &c[1..])]);
            w.mount_client(c, &format!("uuid-{c}"), &[(OST, &["10.0.0.7@tcp"])], now);
            w.write(c, OST, 1);
        }
        assert!(w.nodes.values().all(|n| n.mounts.iter().all(|m| m.imports[0].state == ImportState::Full)));
        w.crash("oss1");
        w.nodes.get_mut("oss1").expect("oss1").up = true;
        w.mount_target(OST, "oss1", now);
        (w, now)
    }

    fn reconnect(w: &mut World, c: &str, now: u64) {
        let dev = w.devices(c)[0].1.clone();
        let instance = w.targets[OST].instance;
        let out =
            w.lctl(c, &args(&format!("set_param osc.{dev}.import=connection=10.0.0.7@tcp::{instance}")), now);
        assert!(out.is_ok(), "{out:?}");
    }

    #[test]
    fn a_missing_client_holds_everyone_in_replay_until_it_is_evicted() {
        let (mut w, now) = restarted();
        reconnect(&mut w, "c1", now);
        reconnect(&mut w, "c2", now);
        for c in ["c1", "c2"] {
            assert_eq!(w.import(c, OST).map(|i| i.state), Some(ImportState::Replay), "{c} waits in REPLAY");
        }
        let status = w.lctl("oss1", &args(&format!("get_param -n obdfilter.{OST}.recovery_status")), now);
        assert!(status.as_ref().is_ok_and(|s| s.contains("connected_clients: 2/3")), "{status:?}");
        let stale =
            w.lctl("oss1", &args(&format!("get_param -n obdfilter.{OST}.recovery_stale_clients")), now);
        assert_eq!(stale.ok().as_deref(), Some("uuid-c3\n"));
        // A stale client has no NID: nid: cannot reach it; uuid: can.
        let _ =
            w.lctl("oss1", &args(&format!("set_param obdfilter.{OST}.evict_client=nid:10.0.1.3@tcp")), now);
        assert!(w.targets[OST].recovering());
        let _ = w.lctl("oss1", &args(&format!("set_param obdfilter.{OST}.evict_client=uuid:uuid-c3")), now);
        let r = w.targets[OST].recovery.clone().expect("recovery");
        assert!(r.done_ms.is_some() && r.evicted == 1 && r.replayed == 2 && r.lost == 0, "{r:?}");
        for c in ["c1", "c2"] {
            assert_eq!(w.import(c, OST).map(|i| i.state), Some(ImportState::Full));
        }
    }

    #[test]
    fn an_import_nobody_tells_reconnects_when_its_pinger_notices() {
        let (mut w, now) = restarted();
        w.crash("c3");
        w.step(now + 74_000);
        assert_eq!(w.import("c1", OST).map(|i| (i.state, i.instance)), Some((ImportState::Full, 1)));
        w.step(now + 75_000);
        assert_eq!(w.import("c1", OST).map(|i| (i.state, i.instance)), Some((ImportState::Replay, 2)));
    }

    #[test]
    fn abort_recovery_evicts_connected_clients_and_drops_their_replays() {
        let (mut w, now) = restarted();
        reconnect(&mut w, "c1", now);
        assert!(w.lctl("oss1", &args(&format!("--device {OST} abort_recovery")), now).is_ok());
        let r = w.targets[OST].recovery.clone().expect("recovery");
        assert!(r.aborted && r.lost == 1 && r.evicted == 3, "{r:?}");
        assert_eq!(w.import("c1", OST).map(|i| i.state), Some(ImportState::Evicted));
    }

    #[test]
    fn the_timer_runs_from_the_first_connect() {
        let (mut w, now) = restarted();
        w.settings.pinger_s = 10_000;
        w.step(now + 1_000_000);
        assert!(w.targets[OST].recovering(), "no timer before a client connects");
        let later = now + 1_000_000;
        reconnect(&mut w, "c1", later);
        w.step(later + 149_000);
        assert!(w.targets[OST].recovering());
        w.step(later + 150_000);
        let r = w.targets[OST].recovery.clone().expect("recovery");
        assert!(r.timed_out && r.evicted == 2, "{r:?}");
    }

    #[test]
    fn the_async_reconnect_skips_an_import_already_on_that_instance() {
        let (mut w, now) = restarted();
        reconnect(&mut w, "c1", now);
        let dev = w.devices("c1")[0].1.clone();
        let before = w.import("c1", OST).cloned().expect("import");
        reconnect(&mut w, "c1", now);
        assert_eq!(w.import("c1", OST).map(|i| i.state), Some(before.state));
        // An unknown NID: the write succeeds, the import is left disconnected (as Lustre does).
        let bad = w.lctl("c1", &args(&format!("set_param osc.{dev}.import=connection=10.9.9.9@tcp::3")), now);
        assert!(bad.is_ok());
        assert_eq!(w.import("c1", OST).map(|i| i.state), Some(ImportState::Disconn));
        let bad = w.lctl("c1", &args(&format!("--device {dev} recover 10.9.9.9@tcp")), now);
        assert!(bad.is_err_and(|e| e.errno == ENOENT));
    }

    #[test]
    fn get_param_prints_names_unless_bare_and_globs_across_dots() {
        let (mut w, now) = restarted();
        reconnect(&mut w, "c1", now);
        let out = w.lctl("oss1", &args(&format!("get_param obdfilter.{OST}.exports.*.uuid")), now);
        assert_eq!(
            out.ok().as_deref(),
            Some(format!("obdfilter.{OST}.exports.10.0.1.1@tcp.uuid=uuid-c1\n").as_str())
        );
        let out = w.lctl("c1", &args("get_param osc.*.import"), now).expect("import");
        assert!(
            out.starts_with("osc.testfs-OST0000-osc-ffff") && out.contains(".import=\nimport:\n"),
            "{out}"
        );
        assert!(w.lctl("c1", &args("get_param osc.nothing.import"), now).is_err_and(|e| e.errno == ENOENT));
    }
}
