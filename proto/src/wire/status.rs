//! What nodes and targets are, as messages carry them: roles, a parent's verdicts, a target's
//! state and Lustre's own recovery as its server reads it, and the tags of filesystem mounts.

use heapless::Vec;
use serde::{Deserialize, Serialize};

use super::MAX_TARGET_ADDRS;
use crate::ids::{Generation, Name, Nid};

/// A filesystem mount's client identity as Vigil carries it: the 64-bit FNV-1a hash of the
/// identity's text (Lustre: the mount's client UUID, `llite.<fs>-<sb>.uuid`, with which every
/// import of the mount connects, so the one a target lists in `recovery_stale_clients`). A
/// client reports its mounts' tags; a `CloseWindow` carries the dead clients' tags, and the
/// target's server evicts the stale clients whose UUID hashes to one of them.
pub fn mount_tag(identity: &str) -> u64 {
    identity.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// What a node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
// Names in self-describing formats (the host's status JSON); postcard sends the variant's index.
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A filesystem client: takes part in recovery.
    Client,
    /// A target host (OST/MDT): reports its target's status.
    Server,
    /// A relay toward the MGS.
    Router,
}

/// The liveness of a node on one path, as its parent judges it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
// Names in self-describing formats (the host's status JSON); postcard sends the variant's index.
#[serde(rename_all = "lowercase")]
pub enum NodeState {
    /// Heard within the suspect threshold.
    Alive,
    /// Silent past the suspect threshold.
    Suspect,
    /// Silent past the dead threshold, alone: its parent still hears others.
    Dead,
    /// Silent together with too many others at once (a partition, not deaths), or behind a silent
    /// router.
    Unreachable,
}

impl Role {
    /// Every role, in the order the status lists them.
    pub const ALL: [Role; 3] = [Role::Client, Role::Server, Role::Router];

    /// Its name in the status and the logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Server => "server",
            Role::Router => "router",
        }
    }
}

impl core::fmt::Display for Role {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.pad(self.as_str())
    }
}

impl NodeState {
    /// Every state, in the order the status lists them.
    pub const ALL: [NodeState; 4] =
        [NodeState::Alive, NodeState::Suspect, NodeState::Dead, NodeState::Unreachable];

    /// Its name in the status and the logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            NodeState::Alive => "alive",
            NodeState::Suspect => "suspect",
            NodeState::Dead => "dead",
            NodeState::Unreachable => "unreachable",
        }
    }

    /// Whether orders and recovery still count on the node.
    pub fn is_live(self) -> bool {
        matches!(self, NodeState::Alive | NodeState::Suspect)
    }
}

impl core::fmt::Display for NodeState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.pad(self.as_str())
    }
}

/// The state of a target as its server reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
// Names in self-describing formats (the host's status JSON); postcard sends the variant's index.
#[serde(rename_all = "lowercase")]
pub enum TargetState {
    /// Serving.
    Up,
    /// Restarted, recovery window open.
    Recovering,
    /// Not serving.
    Down,
}

impl TargetState {
    /// Every state, in the order the status lists them.
    pub const ALL: [TargetState; 3] = [TargetState::Up, TargetState::Recovering, TargetState::Down];

    /// Its name in the status and the logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            TargetState::Up => "up",
            TargetState::Recovering => "recovering",
            TargetState::Down => "down",
        }
    }
}

impl core::fmt::Display for TargetState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.pad(self.as_str())
    }
}

/// A target's status, carried by its server's pings and relayed up the tree.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TargetStatus {
    /// The target's name, e.g. `testfs-OST0001`.
    pub target: Name,
    /// The target's instance: the filesystem's own when its server follows it (Lustre's
    /// `instance`, bumped on every mount), else its server's boot generation when it started.
    pub generation: Generation,
    /// Up, recovering or down.
    pub state: TargetState,
    /// Where clients reconnect.
    pub addrs: Vec<Nid, MAX_TARGET_ADDRS>,
    /// Length of the target's own recovery window in ms: the most a recovery can take without
    /// Vigil closing it sooner.
    pub window_ms: u32,
    /// Lustre's own view of the target's recovery, when its server follows Lustre.
    pub lustre: Option<LustreRecovery>,
}

/// Where Lustre's recovery of a target stands (`status:` of its `recovery_status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
// Lustre's own words in self-describing formats (the host's status JSON).
#[serde(rename_all = "UPPERCASE")]
pub enum LustrePhase {
    /// No recovery since the mount (no client to recover).
    Inactive,
    /// `WAITING_FOR_CLIENTS` (no recoverable client connected yet; Lustre has no timer then)
    /// or an MDT's `WAITING` (for the other MDTs): no client counts (all 0).
    Waiting,
    /// Recovering: waiting for clients, replaying.
    Recovering,
    /// Recovery over.
    Complete,
}

/// A target's recovery as Lustre itself reports it on its server (`recovery_status` and
/// `recovery_stale_clients`), relayed beside Vigil's own view of the recovery. Only counts that
/// change a few times per recovery, so that it costs an update only when Lustre moves on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LustreRecovery {
    /// Where the recovery stands.
    pub phase: LustrePhase,
    /// Clients to recover: those of `last_rcvd` at the mount (`connected_clients` x/**y**).
    pub recoverable: u32,
    /// Of them, those connected again (**x**/y; once complete, `completed_clients`).
    pub connected: u32,
    /// Clients evicted during the recovery (`evicted_clients`).
    pub evicted: u32,
    /// Clients still awaited: neither connected nor evicted (recoverable − connected − evicted
    /// of `recovery_status`, on every release; `recovery_stale_clients` lists them from 2.16).
    pub stale: u32,
    /// How long the recovery took in seconds, once complete (`recovery_duration`), else 0.
    pub duration_s: u32,
}
