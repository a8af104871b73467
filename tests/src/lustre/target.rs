//! The target side: exports, `last_rcvd`'s stale clients and the recovery stages
//! (`target_handle_connect`, `target_recovery_thread`, `class_fail_export`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Import, ImportState, World};

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
    /// It sent its final ping during the recovery (`exp_finished`: in recovery, no lock replay
    /// needed): nothing to replay, no lock to replay.
    #[serde(default)]
    pub finished: bool,
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
    /// Something woke the recovery thread since it last looked (a request queued by a connect,
    /// `target_queue_recovery_request`); evictions do not.
    #[serde(default)]
    pub woken: bool,
    /// When it was first found ready (connected + evicted ≥ recoverable) with nothing to wake
    /// the recovery thread: it notices at its next tick.
    #[serde(default)]
    pub ready_ms: Option<u64>,
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
    pub(super) fn param_type(name: &str) -> &'static str {
        if name.contains("-MDT") {
            "mdt"
        } else {
            "obdfilter"
        }
    }

    pub(super) fn recovering(&self) -> bool {
        self.recovery.as_ref().is_some_and(|r| r.done_ms.is_none())
    }

    pub(super) fn count(&self, state: ExportState) -> u32 {
        self.exports.values().filter(|e| e.state == state).count() as u32
    }
}

impl World {
    /// A connect from mount `uuid` reaches the target where it serves (`target_handle_connect`).
    pub(super) fn connect(&mut self, _node: &str, uuid: &str, nid: &str, import: &mut Import, now: u64) {
        let t = self.targets.get_mut(&import.target).expect("target");
        let recovering = t.recovering();
        import.last_reply_ms = now;
        match t.exports.get_mut(uuid) {
            Some(e) if e.state == ExportState::Evicted => {
                import.state = ImportState::Evicted;
            }
            Some(e) if recovering => {
                e.state = ExportState::Connected;
                e.nid = Some(nid.to_owned());
                e.queued = import.uncommitted;
                import.instance = t.instance;
                // Its replays, else its lock replays, else its final ping (which clears
                // exp_lock_replay_needed as it is queued, target_process_req_flags) wait for
                // stage 0 to end.
                (import.state, e.finished) = if import.uncommitted > 0 {
                    (ImportState::Replay, false)
                } else if import.locks > 0 {
                    (ImportState::ReplayLocks, false)
                } else {
                    (ImportState::ReplayWait, true)
                };
                let r = t.recovery.as_mut().expect("recovering");
                // target_handle_connect: the first connect starts the timer
                // (check_and_start_recovery_timer); the request it queues wakes the thread.
                r.start_ms.get_or_insert(now);
                r.woken = true;
            }
            _ if recovering => {
                // A client the target does not know must wait for recovery to end (-EBUSY).
            }
            _ => {
                t.exports.insert(
                    uuid.to_owned(),
                    Export {
                        nid: Some(nid.to_owned()),
                        state: ExportState::Connected,
                        queued: 0,
                        finished: false,
                    },
                );
                import.instance = t.instance;
                import.state = ImportState::Full;
            }
        }
    }

    pub(super) fn advance_recovery(&mut self, target: &str, now: u64) {
        let settings = self.settings;
        let Some(t) = self.targets.get_mut(target) else { return };
        if !t.recovering() || t.server.is_none() {
            return;
        }
        let (connected, evicted) = (t.count(ExportState::Connected), t.count(ExportState::Evicted));
        let mounted = t.mounted_ms;
        let r = t.recovery.as_mut().expect("recovering");
        // target_recovery_overseer: wait_event_timeout(obd_next_transno_waitq,
        // check_for_recovery_ready, 60 s) in a loop. The check runs when something wakes the
        // queue (a connect's queued request, abort, the timer: target_recovery_expired) and at
        // each tick since the thread started (at the mount); an eviction wakes nothing
        // (class_export_recovery_cleanup only counts it).
        let woken = std::mem::take(&mut r.woken);
        let timer_out = r.start_ms.is_some_and(|s| now >= s + settings.recovery_window_s * 1000);
        let enough = connected + evicted >= r.recoverable;
        let done = if r.aborted || timer_out || (enough && woken) {
            now
        } else if enough {
            let since = *r.ready_ms.get_or_insert(now);
            let tick = settings.overseer_tick_s.max(1) * 1000;
            let at = mounted + since.saturating_sub(mounted).div_ceil(tick).max(1) * tick;
            if now < at {
                return;
            }
            at
        } else {
            return;
        };
        if timer_out && !enough {
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
        r.done_ms = Some(done);
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
                        i.last_reply_ms = now;
                    }
                }
            }
        }
    }

    /// Evicts client `uuid` from `target` (`class_fail_export`), counting it toward stage 0.
    pub(super) fn evict(&mut self, target: &str, uuid: &str) {
        let Some(t) = self.targets.get_mut(target) else { return };
        let recovering = t.recovering();
        let Some(e) = t.exports.get_mut(uuid) else { return };
        if e.state == ExportState::Evicted {
            return;
        }
        let lost = e.queued;
        e.state = ExportState::Evicted;
        e.queued = 0;
        e.finished = false;
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
}
