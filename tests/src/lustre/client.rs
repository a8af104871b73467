//! The client side: mounts, their imports and the import state machine
//! (`ptlrpc_import_recovery_state_machine`, `ptlrpc_recover_import`, `import_select_connection`).

use serde::{Deserialize, Serialize};

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
    pub(super) fn in_recovery(self) -> bool {
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
    /// DLM locks it holds on the target (a mount holds 1 to begin with): replayed after a
    /// target restart; with none and nothing to replay, a reconnect sends its final ping at once.
    #[serde(default)]
    pub locks: u32,
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

    /// `ptlrpc_recover_import`: disconnects the import, points it at `nid` if it is one of its
    /// connections (false if not: the import stays disconnected until its pinger retries), and
    /// starts connecting.
    pub(super) fn recover_import(
        &mut self,
        node: &str,
        m: usize,
        i: usize,
        nid: Option<&str>,
        now: u64,
    ) -> bool {
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
}
