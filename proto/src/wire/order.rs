//! Orders: what the MGS tells every node to do (signed by it, held and repeated by every parent on
//! the way), and the reports nodes send back on them.

use heapless::Vec;
use serde::{Deserialize, Serialize};

use super::{MAX_DEAD, MAX_TARGET_ADDRS};
use crate::ids::{Generation, Name, Nid, NodeId, OrderId};

/// How far a node got with one order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Outcome {
    /// Received and being carried out.
    Applied,
    /// Carried out: the client reconnected (or the server closed its window).
    Reconnected,
    /// Carried out and failed.
    Failed,
}

/// A node's report on one order. Every change goes in several pings (loss costs nothing), then
/// rests until the parent repeats the order (it lost them all).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct OrderReport {
    /// The order.
    pub order: OrderId,
    /// How far the node got.
    pub outcome: Outcome,
}

/// What an order tells nodes to do.
// No heap in proto: a `CloseWindow` holds its dead clients and their mounts inline (about
// 400 bytes), and a parent holds at most `MAX_HELD` orders, so the size is bounded and known.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Action {
    /// Reconnect to `target` now: it restarted as instance `target_generation`.
    BeginRecovery {
        /// The restarted target.
        target: Name,
        /// Its new instance (0 for a manual order without a known instance).
        target_generation: Generation,
        /// Where to reconnect.
        addrs: Vec<Nid, MAX_TARGET_ADDRS>,
        /// The target's own recovery window as its server reported it, in ms (0: unknown).
        /// Wherever the order is held it lapses once that long, and a server's dead threshold
        /// more, has passed since it was issued ([`Order::age_ms`]): the target's window has
        /// run out by then, heard
        /// or not, so the recovery is over even when no status holder is left to close it (one
        /// stopped for good, the others cut off from the target's server).
        window_ms: u32,
    },
    /// Every live client has reconnected to `target`: its server may close the recovery window.
    CloseWindow {
        /// The target.
        target: Name,
        /// The instance whose window closes.
        target_generation: Generation,
        /// The clients the MGS holds dead as it closes the window: the ones the server may evict
        /// from the target's recovery (it maps them to the filesystem's own client identities).
        /// Never a live client, nor one the MGS does not know.
        dead: Vec<NodeId, MAX_DEAD>,
        /// The mounts ([`mount_tag`](super::mount_tag)) of those dead clients, as they reported them: the
        /// filesystem's own identities of exactly the dead, for the server to evict.
        dead_mounts: Vec<u64, MAX_DEAD>,
    },
}

impl Action {
    /// The target the action is about.
    pub fn target(&self) -> &Name {
        match self {
            Action::BeginRecovery { target, .. } | Action::CloseWindow { target, .. } => target,
        }
    }

    /// The target instance the action is about.
    pub fn target_generation(&self) -> Generation {
        match self {
            Action::BeginRecovery { target_generation, .. }
            | Action::CloseWindow { target_generation, .. } => *target_generation,
        }
    }
}

/// An order from the MGS, pushed down the tree and repeated in replies until reported.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Order {
    /// Tells repeats from new orders.
    pub id: OrderId,
    /// What to do.
    pub action: Action,
    /// Id of the MGS key that signed the order.
    pub signer: u8,
    /// The MGS's signature over id and action ([`OrderSigner`](super::OrderSigner)).
    pub signature: super::Signature,
    /// How long ago, in ms, the MGS issued the order, as far as its sender knows: 0 from the
    /// MGS, and each holder sends the age it took the order at plus the time it has held it
    /// (the time in flight is not counted). A holder that takes an order late (it rebooted,
    /// or its link was cut) times the order's lapse ([`Action::BeginRecovery`]'s `window_ms`)
    /// from the issue, as every other holder does, not from its own take. Not signed: each
    /// holder sets it, and the datagram's tag vouches for the holder.
    pub age_ms: u32,
}
