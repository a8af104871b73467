//! Replies to children. Every admitted, refused or unaddressed datagram queues a reply by kind;
//! the reply is built when it is sent, from the state then: the child's status here, the
//! acknowledgement (a router's applied version, a member's highest sequence), and the held
//! orders the child still needs or owes an outcome for, as many as the datagram holds.

use heapless::Vec;

use super::orders::owes_outcome;
use super::{Held, Hub, MAX_HELD};
use crate::ids::NodeId;
use crate::table::Slot;
use crate::time::Instant;
use crate::wire::{
    encoded_len, Endpoint, PingReply, ReplyStatus, Role, HEADER_LEN, MAX_DATAGRAM, MAX_REPLY_ORDERS, TAG_LEN,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ReplyKind {
    Accepted,
    Unknown,
    Refused,
    Stale,
    Unaddressed,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct PendingReply {
    to: Endpoint,
    id: NodeId,
    kind: ReplyKind,
}

impl<S: AsRef<[Slot]> + AsMut<[Slot]>, const R: usize, const T: usize> Hub<S, R, T> {
    pub(super) fn reply(&mut self, to: Endpoint, id: NodeId, kind: ReplyKind) {
        if self.replies.push_back(PendingReply { to, id, kind }).is_err() {
            self.counters.replies_dropped += 1;
        }
    }

    /// The next reply to send, built from the current state: where, to which child, what.
    pub(crate) fn poll_reply(&mut self, now: Instant) -> Option<(Endpoint, NodeId, PingReply)> {
        let pending = self.replies.pop_front()?;
        Some((pending.to, pending.id, self.build_reply(pending, now)))
    }

    fn build_reply(&self, pending: PendingReply, now: Instant) -> PingReply {
        let mut reply = PingReply {
            interval_ms: self.timing.ping_interval_ms,
            status: ReplyStatus::Unknown,
            ack: 0,
            orders: Vec::new(),
        };
        match pending.kind {
            ReplyKind::Unknown => return reply,
            ReplyKind::Unaddressed => {
                reply.status = ReplyStatus::Unaddressed;
                return reply;
            }
            ReplyKind::Refused => {
                reply.status = ReplyStatus::Refused { alternates: self.alternates.clone() };
                return reply;
            }
            ReplyKind::Accepted | ReplyKind::Stale => {}
        }
        let Some(entry) = self.table.get(pending.id) else {
            return reply;
        };
        if let ReplyKind::Stale = pending.kind {
            reply.status = ReplyStatus::Stale { newest: entry.generation };
            return reply;
        }
        let Some(d) = &entry.direct else { return reply };
        reply.status = ReplyStatus::Accepted;
        reply.ack = if entry.role == Role::Router { d.applied } else { d.replay.highest() };
        if entry.role == Role::Router {
            reply.interval_ms = self.timing.update_interval_ms;
        }
        // Orders the child has not reported first, then those whose outcome it still owes;
        // newest first within each.
        let mut wanted: Vec<(bool, &Held), MAX_HELD> = (self.held.iter())
            .filter_map(|h| {
                let needs = self.child_needs(entry, &h.order);
                (needs || owes_outcome(entry, h)).then_some((needs, h))
            })
            .collect();
        wanted.sort_unstable_by_key(|&(needs, h)| core::cmp::Reverse((needs, h.order.id)));
        // As many as the datagram holds: two orders naming many dead clients and their mounts
        // do not fit together; the second then comes in a later reply.
        let room = MAX_DATAGRAM - HEADER_LEN - TAG_LEN;
        for (_, h) in wanted.into_iter().take(MAX_REPLY_ORDERS) {
            let order = h.aged(now);
            if encoded_len(&reply) + encoded_len(&order) > room {
                break;
            }
            let _ = reply.orders.push(order);
        }
        reply
    }
}
