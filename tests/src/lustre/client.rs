//! The client side: mounts, their imports and the import state machine
//! (`ptlrpc_import_recovery_state_machine`, `ptlrpc_recover_import`, `import_select_connection`).

use serde::{Deserialize, Serialize};

use super::lctl::{EALREADY, ENOENT};
use super::World;

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
    /// Disconnected on purpose after `osc_idle_timeout` with nothing to send
    /// (`ptlrpc_disconnect_and_idle_import`): the target has dropped this client.
    Idle,
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
            ImportState::Idle => "IDLE",
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
    pub(super) fn in_recovery(self) -> bool {
        !matches!(self, ImportState::Full | ImportState::Evicted | ImportState::Disconn | ImportState::Idle)
    }
}

/// One connection of an import (`struct obd_import_conn`): a server, known by the UUID the
/// configuration log gave it (the MGS names it after the server's first NID, `niduuid`), and the
/// NID LNet chose to reach it (`oic_conn->c_peer`, what `failover_nids` prints).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Connection {
    /// `oic_uuid`: the server's first NID.
    pub uuid: String,
    /// Every NID of the server.
    pub nids: Vec<String>,
    /// The NID the client reaches it through.
    pub peer: String,
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
    /// Its connections (`imp_conn_list`), one a server of the target, primary first.
    pub connections: Vec<Connection>,
    /// The one it uses or tries (`imp_conn_current`), an index of `connections`.
    pub current: usize,
    /// The one a `connection=` write put first (`import_set_conn_priority`): the next
    /// connect tries it.
    pub preferred: Option<usize>,
    /// Requests not yet committed by the target: replayed after a target restart.
    pub uncommitted: u32,
    /// DLM locks it holds on the target (a mount holds 1 to begin with): replayed after a
    /// target restart; with none and nothing to replay, a reconnect sends its final ping at once.
    #[serde(default)]
    pub locks: u32,
    /// When the current connect attempt started, or when it was disconnected (ms).
    pub since_ms: u64,
    /// When it last had a reply to a request (ms; `imp_last_reply_time`, pings aside).
    pub last_reply_ms: u64,
}

impl Import {
    /// The NID of its current connection (`current_connection`).
    pub fn current_nid(&self) -> &str {
        &self.connections[self.current].peer
    }

    /// The UUID of its current connection (`conn_uuid`).
    pub fn current_uuid(&self) -> &str {
        &self.connections[self.current].uuid
    }

    /// `import_select_connection`: the connection a write put first, else the next one.
    fn select_connection(&mut self) {
        self.current = match self.preferred.take() {
            Some(at) => at,
            None => (self.current + 1) % self.connections.len(),
        };
    }
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

impl World {
    pub(super) fn connect_imports(&mut self, now: u64) {
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
                    // A disconnected import is reconnected by its next ping (PING_INTERVAL,
                    // obd_timeout / 4), through the connection import_select_connection picks.
                    if import.state == ImportState::Disconn
                        && now >= import.since_ms + settings.obd_timeout_s / 4 * 1000
                    {
                        if import.preferred.is_some() {
                            import.select_connection();
                        }
                        import.state = ImportState::Connecting;
                        import.since_ms = now;
                    }
                    let reachable =
                        |i: &Import| t.server.is_some() && serving.iter().any(|n| n == i.current_nid());
                    if import.state == ImportState::Connecting
                        && !reachable(&import)
                        && now >= import.since_ms + settings.connect_timeout_s * 1000
                    {
                        // The connect timed out; import_select_connection: the next connection.
                        import.select_connection();
                        import.since_ms = now;
                    }
                    if import.state == ImportState::Connecting && reachable(&import) {
                        self.connect(&name, &uuid, &client_nid, &mut import, now);
                    }
                    // ptlrpc_check_import_is_idle: an OSC import with no request in flight or
                    // to replay and no reply for osc_idle_timeout disconnects
                    // (ptlrpc_disconnect_and_idle_import); the target then forgets the client
                    // (ofd_obd_disconnect -> tgt_client_del), so it is no recoverable client.
                    if import.kind == "osc"
                        && import.state == ImportState::Full
                        && import.uncommitted == 0
                        && now >= import.last_reply_ms + settings.idle_timeout_s * 1000
                        && serving.iter().any(|n| n == import.current_nid())
                    {
                        import.state = ImportState::Idle;
                        if let Some(t) = self.targets.get_mut(&import.target) {
                            t.exports.remove(&uuid);
                        }
                    }
                    self.nodes.get_mut(&name).expect("node").mounts[m].imports[i] = import;
                }
            }
        }
    }

    /// `ptlrpc_recover_import`: `ptlrpc_set_import_discon` disconnects a FULL import (only a
    /// FULL one); `import_set_conn_priority` puts the connection named `uuid` first (matched
    /// against the connections' UUIDs only, `import_set_conn`: -ENOENT if none, and nothing
    /// more happens); then, if the import is DISCONN, it connects through that connection,
    /// else (IDLE, CONNECTING, a replay state, EVICTED) a connect is in flight or not wanted:
    /// -EALREADY and nothing starts.
    pub(super) fn recover_import(
        &mut self,
        node: &str,
        m: usize,
        i: usize,
        uuid: Option<&str>,
        now: u64,
    ) -> Result<(), i32> {
        let import = &mut self.nodes.get_mut(node).expect("node").mounts[m].imports[i];
        if import.state == ImportState::Full {
            import.state = ImportState::Disconn;
            import.since_ms = now;
        }
        if let Some(uuid) = uuid {
            let Some(at) = import.connections.iter().position(|c| c.uuid == uuid) else {
                return Err(ENOENT);
            };
            import.preferred = Some(at);
        }
        if import.state != ImportState::Disconn {
            return Err(EALREADY);
        }
        // ptlrpc_connect_import: CONNECTING at once, through import_select_connection.
        if import.preferred.is_some() {
            import.select_connection();
        }
        import.state = ImportState::Connecting;
        import.since_ms = now;
        self.step(now);
        Ok(())
    }
}
