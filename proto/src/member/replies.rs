//! A parent's answer to a ping, and what it tells.
//!
//! A reply that passes the generation and replay checks says the parent is up (a new generation:
//! it restarted and knows nothing of this node). Its status says what it took: `Accepted` (the
//! reports carried by pings up to `ack` are acknowledged, and a move of the home is confirmed),
//! `Unknown` (it wants the name), `Stale` (this node's generation went backwards: a higher one is
//! taken), `Unaddressed` (a first contact, nothing taken) or `Refused` (a full table, with
//! alternates). It also imposes the ping interval, and repeats the orders whose reports it
//! lacks ([`super::orders`]).

use heapless::Vec;

use crate::counters::after;
use crate::handed::{Kept, Notice};
use crate::time::Instant;
use crate::uplink::Heard;
use crate::wire::{Header, PingReply, ReplyStatus};

use super::Member;

/// Shortest and longest interval a parent may impose.
const INTERVAL_BOUNDS: (u32, u32) = (50, 600_000);

impl<K: Kept> Member<K> {
    pub(super) fn handle_reply(&mut self, now: Instant, p: usize, header: &Header, reply: PingReply) {
        if !self.accept_from_parent(p, header) {
            return;
        }
        let parent = &mut self.parents[p];
        if !after(parent.awaiting, reply.ack) && parent.uplink.answered() {
            // Answered: no re-send; back to the interval unless something urgent is due.
            parent.uplink.resends = 0;
        }
        let Heard { restarted, came_up } = parent.uplink.heard(now, header);
        parent.late = false;
        let addr = parent.uplink.addr;
        let mut events: Vec<Notice, 3> = Vec::new();
        let mut raised = None;
        let accepted = matches!(reply.status, ReplyStatus::Accepted);
        if restarted {
            parent.uplink.known = false;
            let _ = events.push(Notice::ParentRestarted(addr, header.generation));
        }
        if came_up {
            let _ = events.push(Notice::ParentUp(addr));
        }
        match reply.status {
            ReplyStatus::Accepted => {
                parent.uplink.known = reply.ack.wrapping_sub(parent.announced) < u32::MAX / 2;
                parent.refused = false;
                // The parent took a ping sent after these reports changed: it has them.
                for r in self.reports.iter_mut().filter(|r| r.riding && after(reply.ack, r.since)) {
                    r.riding = false;
                }
            }
            ReplyStatus::Unknown => {
                parent.uplink.known = false;
                parent.uplink.next_send = now;
            }
            ReplyStatus::Stale { newest } => {
                parent.uplink.known = false;
                let old = self.link.generation;
                if let Some(generation) = self.link.raise_above(newest) {
                    raised = Some(old);
                    let _ = events.push(Notice::GenerationRaised(addr, generation));
                }
            }
            ReplyStatus::Unaddressed => {
                // Our first contact: nothing was taken. Ping again at once, addressed to the id
                // this reply named.
                parent.uplink.next_send = now;
                parent.met = true;
            }
            ReplyStatus::Refused { alternates } => {
                parent.refused = true;
                parent.uplink.known = false;
                // Back off: a full parent is asked again only after a dead-threshold's time.
                parent.uplink.next_send = now.after(self.timing.dead_ms(self.interval_ms));
                parent.alternates = alternates;
                let _ = events.push(Notice::Refused(addr));
            }
        }
        let (low, high) = INTERVAL_BOUNDS;
        if (low..=high).contains(&reply.interval_ms) && reply.interval_ms != self.interval_ms {
            self.interval_ms = reply.interval_ms;
            for q in self.parents.iter_mut() {
                q.uplink.next_send = q.uplink.next_send.min(now.after(u64::from(reply.interval_ms)));
            }
        }
        if let Some(old) = raised {
            // A target that restarted with this node is that instance too.
            let generation = self.link.generation;
            if let Some(t) = K::target_mut(&mut self.target).filter(|t| t.generation == old) {
                t.generation = generation;
            }
            // Every parent learns the new generation now (it reads as a reboot).
            self.ping_now(now);
        }
        if p == self.home && accepted {
            self.confirm_move(now, reply.ack);
        }
        self.rehome(now);
        for e in events {
            self.emit(e);
        }
        for order in reply.orders {
            self.handle_order(now, order);
        }
    }
}
