//! Logging of machine events, shared by the daemons and the order hooks of clients and servers:
//! each event at the level an operator must know it, children named from the machine's table.

use tracing::{debug, info, warn};
use vigil_proto::wire::NodeState;
use vigil_proto::{Event, NodeId};

/// A node's name as logs show it: its name if `name` knows it, else `#` and its id in hex (as
/// the status shows an unknown id).
pub fn node_name(id: NodeId, name: Option<&str>) -> String {
    match name {
        Some(name) if !name.is_empty() => name.to_owned(),
        _ => format!("#{:08x}", id.0),
    }
}

/// Logs one machine event at a level that matches what an operator must know; `name_of` names
/// the children it is about (from the machine's table).
pub fn log_event(node: &str, event: &Event, name_of: impl Fn(NodeId) -> String) {
    match event {
        Event::ChildJoined { id, role } => debug!(node, child = %name_of(*id), ?role, "child joined"),
        Event::ChildRebooted { id, generation } => {
            info!(node, child = %name_of(*id), generation = generation.0, "child rebooted")
        }
        Event::ChildState { id, state: NodeState::Alive } => {
            debug!(node, child = %name_of(*id), "child alive")
        }
        Event::ChildState { id, state } => info!(node, child = %name_of(*id), ?state, "child state"),
        Event::MassSilence { count } => {
            warn!(node, count, "many children silent at once: unreachable, not dead")
        }
        Event::Stalled { late_ms } => warn!(node, late_ms, "own loop was late; silence counters restarted"),
        Event::TableFull { id } => warn!(node, child = %name_of(*id), "table full: child refused"),
        Event::TargetTableFull { server, target } => warn!(
            node,
            server = %name_of(*server),
            target = target.as_str(),
            "target table full: target refused, its restart goes unseen (counter targets_refused counts every refusal)"
        ),
        Event::ParentUp { addr } => info!(node, %addr, "parent up"),
        Event::ParentDown { addr } => warn!(node, %addr, "parent down"),
        Event::ParentRestarted { addr, generation } => {
            info!(node, %addr, generation = generation.0, "parent restarted")
        }
        Event::GenerationRaised { addr, generation } => warn!(
            node,
            %addr,
            generation = generation.0,
            "the parent knew a newer instance of this node (state lost?): running as a higher generation"
        ),
        Event::Refused { addr, alternates } => {
            warn!(node, %addr, alternates = alternates.len(), "parent refused us: its table is full")
        }
        Event::Order(order) => info!(node, order = %order.id, "order"),
        Event::OrderHeld(id) => info!(node, order = %id, "order taken for the subtree"),
        Event::OrderLapsed { order, target, target_generation } => warn!(
            node,
            order = %order,
            target = target.as_str(),
            generation = target_generation.0,
            "recovery order let go: its target's window ran out and no holder closed it"
        ),
        Event::OrderIssued(order) => {
            info!(node, order = %order.id, action = ?order.action, "order issued")
        }
        Event::TargetRestarted { target, generation } => {
            info!(
                node,
                target = target.as_str(),
                generation = generation.0,
                "target restarted: recovery begins"
            )
        }
        Event::WindowClosed { target, order, by_admin: false } => {
            info!(node, target = target.as_str(), order = %order, "every live client reconnected: window closed")
        }
        Event::WindowClosed { target, order, by_admin: true } => {
            warn!(node, target = target.as_str(), order = %order, "window closed by an admin: the clients not reconnected are left to the target")
        }
        Event::RouterExpected { id, name } => {
            info!(
                node,
                router = name.as_str(),
                id = id.0,
                "new child router: expected from now on, across restarts"
            )
        }
        Event::DirectClientsExpected => info!(
            node,
            "first direct client: after a restart, windows wait a dead threshold for direct clients to be heard"
        ),
        Event::DirectClientsRetired => info!(
            node,
            "no direct client for the retirement bound: restarts no longer wait for direct clients"
        ),
        Event::RouterRetired { id, name } => {
            warn!(
                node,
                router = name.as_str(),
                id = id.0,
                "child router retired: windows no longer wait for it"
            )
        }
        Event::IdCollision { id, kept, ignored } => {
            warn!(
                node,
                id = %format_args!("{:08x}", id.0),
                kept = kept.as_str(),
                ignored = ignored.as_str(),
                "two names map to one node id"
            )
        }
    }
}
