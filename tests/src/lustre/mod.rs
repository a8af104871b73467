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
//!   nobody tells reconnects on its own when its pinger notices ([`Settings::pinger_s`]); a
//!   DISCONN one is reconnected by its next ping (`PING_INTERVAL`, `obd_timeout` / 4); a connect
//!   to a server where the target does not serve moves on to the next connection after the
//!   connect time-out (`import_select_connection`).
//! - **Connections** (`struct obd_import_conn`, `import_set_conn` in `lustre/ldlm/ldlm_lib.c`):
//!   an import has one connection a server of the target, named by a UUID that the MGS makes of
//!   the server's first NID (`niduuid`, `lustre/mgs/mgs_llog.c`), and reached through the NID LNet
//!   chose (`c_peer`), which need not be the first. [`World::mount_client`] builds them from the
//!   NIDs the client reaches the servers through. `<type>.<dev>.conn_uuid` (and its older name
//!   `ost_conn_uuid` / `mds_conn_uuid`, `conn_uuid_show`) is the current connection's UUID.
//! - **Idle imports** (`ptlrpc_check_import_is_idle`, `lustre/ptlrpc/pinger.c`;
//!   `osc_idle_timeout`): an OSC import with no request to replay and no reply for
//!   [`Settings::idle_timeout_s`] goes IDLE (`ptlrpc_disconnect_and_idle_import`), and the target
//!   forgets the client (`ofd_obd_disconnect` → `tgt_client_del`): a restart does not await it.
//!   Its next request would reconnect it; the model sends none.
//! - **The import file** (`lprocfs_import_seq_show_locked`, `lustre/obdclass/lprocfs_status.c`):
//!   `state:`, then `instance:` inside `connect_data:` (`obd_connect_data_seqprint`), then
//!   `failover_nids:` (each connection's `c_peer`) and `current_connection:`; from 2.16
//!   ([`Settings::release`], LU-10391) the NIDs are quoted and a `nids_stats:` block lists each.
//! - **Reconnects** (`lustre/ptlrpc/recover.c`, `ptlrpc_recover_import`): it disconnects a FULL
//!   import (`ptlrpc_set_import_discon`, FULL only), puts the connection named by the UUID first
//!   (`import_set_conn_priority`: UUIDs only, -ENOENT and nothing more if none matches), and
//!   connects only a DISCONN import; any other (IDLE, CONNECTING, replaying, EVICTED) gets
//!   -EALREADY and nothing starts, a CONNECTING one trying the named connection on its next
//!   attempt. `lctl --device D recover [uuid]` is synchronous (async=0): it returns when the
//!   import left recovery, or fails after `obd_timeout`. Writing `connection=<uuid>::<instance>`
//!   to `<type>.<dev>.import` (`ldebugfs_import_seq_write`, `lustre/ptlrpc/lproc_ptlrpc.c`)
//!   calls it asynchronously, only when the import is connected to an instance other than
//!   `<instance>`, and succeeds whatever it returns; from 2.16 a UUID without `@` is -EINVAL.
//! - **Target recovery** (`lustre/ldlm/ldlm_lib.c`, `target_recovery_thread`): a mount bumps the
//!   target's `instance` and restores the clients of `last_rcvd` by UUID only
//!   (`tgt_clients_data_init`: no NID until they connect). Stage 0
//!   (`target_recovery_overseer(check_for_recovery_ready)`) ends when connected + evicted ≥
//!   recoverable clients, on abort, or when the timer expires (`target_recovery_expired`; then
//!   the stale clients are evicted, `class_disconnect_stale_exports`). The timer starts at the
//!   first connect (`target_handle_connect` → `check_and_start_recovery_timer` →
//!   `target_start_recovery_timer`): until then there is none, and the target waits for ever.
//!   The overseer checks only when woken (`obd_next_transno_waitq`: a connect's queued replay,
//!   lock replay or final ping, `target_queue_recovery_request`; an abort; the timer) and at
//!   every tick of its `wait_event_timeout` ([`Settings::overseer_tick_s`], 60 s, counted from
//!   the mount): an eviction wakes nothing (`class_export_recovery_cleanup` only counts it), so
//!   readiness that comes from evictions alone is noticed at the next tick. A reconnected client
//!   queues its replays (REPLAY), else its lock replays (REPLAY_LOCKS; a mount holds a lock to
//!   begin with, [`Import::locks`]), else its final ping at once (REPLAY_WAIT; queuing it clears
//!   `exp_lock_replay_needed`, `target_process_req_flags`, so the export is `exp_finished`).
//!   Request replays, lock replays and the final pings held on `obd_final_req_queue` are
//!   answered only after stage 0; the model then finishes them at once. A client that is not
//!   in `last_rcvd` is refused (-EBUSY) until recovery ends.
//! - **Eviction** (`evict_client_store` via `lprocfs_evict_client_seq_write`): `evict_client=
//!   uuid:<uuid>`, `nid:<nid>` or a bare UUID. Evicting a stale client counts toward stage 0
//!   (`class_export_recovery_cleanup`, `lustre/obdclass/genops.c`); a stale client has no NID,
//!   so `nid:` cannot reach it. Evicting a connected client drops its queued replays.
//!   `lctl --device D abort_recovery` (`target_stop_recovery_thread`, then
//!   `class_disconnect_stale_exports(obd, exp_finished)`) evicts every client that has not sent
//!   its final ping, connected or not, drops their replays, and returns once recovery ended. Its
//!   exit status is that of the device's `iocontrol`: an MDT's (`mdt_iocontrol`) 0; an OST's
//!   (`ofd_iocontrol`) 0 in 2.15, EINVAL from 2.16 (`rc = -EINVAL` before the switch, left as
//!   it is by `OBD_IOC_ABORT_RECOVERY`), whether or not the target was recovering.
//! - **Status** (`lprocfs_recovery_status_seq_show`): `recovery_status` with status INACTIVE (no
//!   recoverable client); WAITING_FOR_CLIENTS alone until the first recoverable client connects;
//!   RECOVERING with recovery_start, time_remaining, connected_clients x/y, req_replay_clients,
//!   lock_repay_clients (sic), completed_clients (connected less those to replay locks),
//!   evicted_clients, replayed_requests, queued_requests, next_transno; COMPLETE with
//!   recovery_duration, completed_clients (recoverable less evicted), VBR and IR.
//!   `recovery_stale_clients` (the UUIDs still awaited, `lprocfs_recovery_stale_clients_seq_show`)
//!   exists from 2.16 only (LU-14834; [`Settings::release`]). Also `instance` and
//!   `exports.<nid>.uuid` (the UUIDs of the clients connected from that NID, one a line,
//!   `lprocfs_exp_uuid_seq_show`).
//! - **`lctl get_param`'s output** (`read_param`, `lustre/utils/lustre_cfg.c`): nothing for an
//!   empty file; else, unless `-n`, `name=value` on one line, or `name=` alone and the value on
//!   the lines after it when the value has several lines or value and name reach 80 characters.
//! - **A client's own identity** (`uuid_show`, `lustre/llite/lproc_llite.c`): each mount has a
//!   random client UUID (`ll_sb_uuid`, `ll_generate_random_uuid`), shown as
//!   `llite.<fsname>-<sb>.uuid`; every device of the mount is attached under it
//!   (`class_config_llog_handler` overrides the log's UUID for clients), so `<type>.<dev>.uuid`
//!   and the target's exports show the same one.
//!
//! Its rooms: `world` ([`World`]: the shared file and the test's hand: mounts, writes, commits,
//! crashes; and [`World::writes`], every `set_param` or `--device` an `lctl` ran),
//! `client` (mounts and the import state machine), `target` (exports, stale clients, the
//! recovery stages), `params` (what `lctl dl` and `get_param` print) and `lctl` (the commands).
//!
//! What it leaves out: transaction numbers and ordering, version-based recovery, locks beyond a
//! count, an MDT's WAITING for the other MDTs, the MGS and its IR notifications, LNet itself.
//! Time is the wall clock, and the world moves on lazily: every access through [`World::with`]
//! first runs [`World::step`].

mod client;
mod lctl;
mod params;
mod target;
mod world;

#[cfg(test)]
mod tests;

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

pub use client::{Connection, Import, ImportState, Mount, Node};
pub use lctl::{run_lctl, LctlError};
pub use target::{Export, ExportState, Recovery, Target};
pub use world::World;

/// The environment variable naming the world file.
pub const WORLD_VAR: &str = "LUSTRE_MODEL_WORLD";
/// The environment variable naming the node an `lctl` runs on.
pub const NODE_VAR: &str = "LUSTRE_MODEL_NODE";

/// The Lustre release the model behaves as, where what Vigil reads or writes differs between
/// releases.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Release {
    /// 2.15, the long-term release.
    V2_15,
    /// 2.16.
    #[default]
    V2_16,
    /// 2.17.
    V2_17,
}

/// Lustre's release and time constants (in seconds).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Settings {
    /// The release modelled.
    pub release: Release,
    /// `obd_timeout` (100 s): the most a synchronous `recover` waits.
    pub obd_timeout_s: u64,
    /// The recovery window from the first connect (150 s with IR's soft window).
    pub recovery_window_s: u64,
    /// How long an import that nobody told takes to notice its target restarted (its pinger).
    pub pinger_s: u64,
    /// How long a connect to a NID where the target does not serve takes to time out.
    pub connect_timeout_s: u64,
    /// `osc_idle_timeout` (20 s): how long an OSC import with nothing to send or replay and no
    /// reply stays connected before it goes IDLE.
    pub idle_timeout_s: u64,
    /// How often the target's recovery thread looks again when nothing wakes it: the 60 s of
    /// `target_recovery_overseer`'s `wait_event_timeout` (tests set it small to run fast).
    pub overseer_tick_s: u64,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            release: Release::default(),
            obd_timeout_s: 100,
            recovery_window_s: 150,
            pinger_s: 75,
            connect_timeout_s: 5,
            idle_timeout_s: 20,
            overseer_tick_s: 60,
        }
    }
}

/// The wall clock in ms since the epoch.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
