//! Pings: what a member sends each parent, and when.
//!
//! A ping goes to every parent each interval; the first to a parent, and the first after it
//! answered a first contact, spreads the herd (nodes that start together ping again at
//! different times); a parent that refused is asked again only after a dead threshold. It names
//! the node (until the parent confirmed it), says whether the parent is home, and carries the
//! target's status and the reports no parent has acknowledged. Something the parents should
//! learn (a report, a move of the home, new mounts) sends the next pings at once.
//!
//! Pings are re-sent while unanswered too ([`PING_RESENDS`]), to a parent that answered within
//! the dead threshold: random loss then silences a child for an interval only when three
//! datagrams in a row are lost.
//! These re-sends (and a riding report's, every 400 ms) go only when they come before half an
//! interval: with short intervals the next regular ping does as well. A server's first ping of a
//! boot, which tells that its target restarted, is re-sent as urgent news is
//! ([`RESENDS`]) although its parent has not answered yet: the recovery waits on it.

use heapless::Vec;

use crate::handed::Kept;
use crate::time::Instant;
use crate::timing::{PING_RESENDS, RESENDS};
use crate::wire::{Endpoint, Message, OrderReport, Ping, MAX_MOUNTS};

use super::Member;

impl<K: Kept> Member<K> {
    /// A client's filesystem mounts changed (a mount, a remount with a new client identity):
    /// every parent is told with the name again.
    pub(crate) fn set_mounts(&mut self, now: Instant, mounts: Vec<u64, MAX_MOUNTS>) {
        if self.mounts != mounts {
            self.mounts = mounts;
            for p in self.parents.iter_mut() {
                p.uplink.known = false;
            }
            self.ping_now(now);
        }
    }

    /// Sends the next pings now: something the parents should learn changed.
    pub(crate) fn ping_now(&mut self, now: Instant) {
        for k in 0..self.parents.len() {
            self.ping_soon(now, k);
        }
    }

    /// Pings parent `k` now, unless it refused us. Unanswered, the news goes again after
    /// `resend_ms` if the parent is up: a lost report then costs that, not a ping interval.
    pub(super) fn ping_soon(&mut self, now: Instant, k: usize) {
        let Some(p) = self.parents.get_mut(k).filter(|p| !p.refused) else { return };
        p.uplink.next_send = p.uplink.next_send.min(now);
        if p.uplink.up {
            p.uplink.resends = RESENDS;
        }
    }

    pub(crate) fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(Endpoint, usize)> {
        if let Some((to, parent, hint)) = self.parents.iter_mut().find_map(|p| p.uplink.take_stale()) {
            let len = self.link.send(parent, &Message::StaleParent(hint), buf, &mut self.counters)?;
            return Some((to, len));
        }
        let p = self.parents.iter().position(|p| p.uplink.next_send <= now)?;
        let home = self.counts_at(p);
        let interval = u64::from(self.interval_ms);
        let parent = &mut self.parents[p];
        let first =
            (parent.uplink.last_reply.is_none() && !parent.uplink.up) || core::mem::take(&mut parent.met);
        parent.uplink.regular = if parent.refused {
            now.after(self.timing.dead_ms(self.interval_ms))
        } else if first {
            // Spread the herd: nodes that start together ping again at different times.
            now.after(interval / 2 + u64::from(self.link.id.0) % (interval / 2).max(1))
        } else {
            now.after(interval)
        };
        // A re-send is worth it only well before the next regular ping.
        let worth = |left: u8| 2 * self.timing.resend_wait_ms(left) <= interval;
        if parent.uplink.up && !parent.refused {
            if parent.uplink.resend_at.is_none() && worth(PING_RESENDS) {
                // Not itself a re-send: goes again unless answered (see `PING_RESENDS`).
                parent.uplink.resends = parent.uplink.resends.max(PING_RESENDS);
            }
            if self.reports.iter().any(|r| r.riding) && worth(1) {
                // A report no parent acknowledged goes again until one does.
                parent.uplink.resends = parent.uplink.resends.max(1);
            }
        } else if core::mem::take(&mut parent.boot_news) && !parent.refused && worth(RESENDS) {
            // A restarted target's first word: lost, it would wait for the next regular ping
            // (half an interval or more, to spread the herd). Once per boot and parent, so a
            // parent that is down gets `RESENDS` datagrams more, then one an interval.
            parent.uplink.resends = RESENDS;
        }
        parent.uplink.disarm();
        if let Some(at) = parent.uplink.resend_due(now, &self.timing) {
            parent.uplink.arm(at);
        }
        let addr = parent.uplink.addr;
        let ping = Ping {
            role: self.role,
            interval_ms: self.interval_ms,
            home,
            name: (!parent.uplink.known).then(|| self.name.clone()),
            mounts: if parent.uplink.known { Vec::new() } else { self.mounts.clone() },
            reports: (self.reports.iter())
                .filter(|r| r.riding)
                .map(|r| OrderReport { order: r.order, outcome: r.outcome })
                .collect(),
            target: K::target(&self.target).cloned(),
        };
        let receiver = self.parents[p].uplink.receiver();
        let len = self.link.send(receiver, &Message::Ping(ping), buf, &mut self.counters)?;
        if !self.parents[p].uplink.known {
            self.parents[p].announced = self.link.last_sequence();
        }
        if self.parents[p].uplink.resend_at.is_some() {
            self.parents[p].awaiting = self.link.last_sequence();
        }
        if let Some((_, told @ None)) = self.moving_from.as_mut().filter(|_| p == self.home) {
            *told = Some(self.link.last_sequence());
        }
        Some((addr, len))
    }
}
