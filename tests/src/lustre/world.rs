//! The world: every host and target, kept in one file that each `lctl` locks, moves on to now,
//! changes and writes back.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{
    now_ms, Connection, Export, ExportState, Import, ImportState, Mount, Node, Recovery, Settings, Target,
};

/// The whole modelled world.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct World {
    /// Time constants.
    pub settings: Settings,
    /// Hosts by name.
    pub nodes: BTreeMap<String, Node>,
    /// Targets by name.
    pub targets: BTreeMap<String, Target>,
    /// Every write an `lctl` made (`set_param`, `--device`), as `<node>: <arguments>`.
    #[serde(default)]
    pub writes: Vec<String>,
}

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
            *e = Export { nid: None, state: ExportState::Stale, queued: 0, finished: false };
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
    /// `failover` lists, for each target, the NIDs the client reaches its servers through
    /// (primary server first). Each becomes a connection named, as the MGS names it, after the
    /// first NID of the node that has that NID (`niduuid`); two NIDs of one node are one
    /// connection.
    pub fn mount_client(&mut self, node: &str, uuid: &str, failover: &[(&str, &[&str])], now: u64) {
        let sb = format!("ffff{:012x}", fnv(uuid));
        let mut imports = Vec::new();
        for (target, nids) in failover {
            let kind = if target.contains("-MDT") { "mdc" } else { "osc" };
            let mut connections: Vec<Connection> = Vec::new();
            for nid in nids.iter() {
                let server = self.nodes.values().find(|n| n.nids.iter().any(|x| x == nid));
                let nids = server.map_or_else(|| vec![nid.to_string()], |n| n.nids.clone());
                if connections.iter().all(|c| c.uuid != nids[0]) {
                    connections.push(Connection { uuid: nids[0].clone(), nids, peer: nid.to_string() });
                }
            }
            imports.push(Import {
                target: target.to_string(),
                kind: kind.to_owned(),
                state: ImportState::Connecting,
                instance: 0,
                connections,
                current: 0,
                preferred: None,
                uncommitted: 0,
                locks: 1,
                since_ms: now,
                last_reply_ms: now,
            });
        }
        let n = self.nodes.get_mut(node).expect("mount on a known node");
        n.mounts.push(Mount { uuid: uuid.to_owned(), sb, imports });
        self.step(now);
    }

    /// The target commits every request of client `node` (the reply that says so counts as a
    /// reply at `now`): nothing left to replay.
    pub fn commit(&mut self, node: &str, target: &str, now: u64) {
        for m in self.nodes.get_mut(node).into_iter().flat_map(|n| n.mounts.iter_mut()) {
            for i in m.imports.iter_mut().filter(|i| i.target == target) {
                i.uncommitted = 0;
                i.last_reply_ms = now;
            }
        }
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
    pub(super) fn serving(&self, target: &str) -> Vec<String> {
        let Some(t) = self.targets.get(target) else { return Vec::new() };
        let Some(server) = t.server.as_deref() else { return Vec::new() };
        self.nodes.get(server).filter(|n| n.up).map_or(Vec::new(), |n| n.nids.clone())
    }

    // ----- what tests read -----------------------------------------------------------------

    /// The import of `node`'s first mount to `target`.
    pub fn import(&self, node: &str, target: &str) -> Option<&Import> {
        self.nodes.get(node)?.mounts.iter().flat_map(|m| m.imports.iter()).find(|i| i.target == target)
    }
}

/// A 32-bit FNV-1a, for stable fake superblock tags.
pub(super) fn fnv(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

/// Takes an exclusive `flock` on the world file; closing the file releases it.
pub(super) fn lock(file: &File) -> std::io::Result<()> {
    // SAFETY: flock on a descriptor `file` keeps open for the whole call.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
