//! The member's side toward its driver: events, orders handed to be carried out, and how they
//! went.
//!
//! Events queue as small [`Notice`]s; an order is kept once ([`Handed`]) and fetched when its
//! event is polled. A client runs its reconnect hook on a `BeginRecovery`; a failed or timed-out
//! hook is handed the order again, after one ping interval, then two ([`RECONNECT_TRIES`] in
//! all), and only then reported failed. A server's hook is handed the order once. How the hook
//! went ([`Member::order_done`]) becomes the report on the order, and goes up at once.

use crate::event::Event;
use crate::handed::{Handed, Kept, Notice};
use crate::ids::OrderId;
use crate::time::Instant;
use crate::wire::{Order, Outcome, Role};

use super::orders::Report;
use super::Member;

/// Most times a client's hook runs for one recovery order: a failed or timed-out reconnect is
/// tried again, after one ping interval, then two, and reported failed only after the last.
pub const RECONNECT_TRIES: u8 = 3;

impl<K: Kept> Member<K> {
    pub(super) fn emit(&mut self, notice: Notice) {
        if !self.events.push(notice) {
            self.counters.events_dropped += 1;
        }
    }

    /// The next event, its order or alternates fetched from where they are kept.
    pub(crate) fn poll_event(&mut self) -> Option<Event> {
        loop {
            let notice = self.events.pop()?;
            let parents = &self.parents;
            let alternates =
                |addr| (parents.iter().find(|p| p.uplink.addr == addr)).map(|p| p.alternates.clone());
            let handed = &mut self.handed;
            let order = |id| {
                let h = handed.iter_mut().find(|h| h.order.id() == id)?;
                h.queued -= 1;
                Some(h.order.order())
            };
            // An order is kept while its notice is queued, so this skips nothing a driver that
            // reports only orders it was handed could miss.
            if let Some(event) = notice.event(|addr| alternates(addr).unwrap_or_default(), order) {
                return Some(event);
            }
        }
    }

    /// Hands `order` to the driver: keeps it (to fetch when its event is polled, and for a
    /// client to hand again if the hook fails) and queues its event. False when it cannot be
    /// kept: every kept order still waits to be polled.
    pub(super) fn hand(&mut self, order: &Order) -> bool {
        let Some(kept) = K::keep(order) else { return false };
        // A server's hook is not tried again: it starts with no tries left.
        let tries = if self.role == Role::Client { 1 } else { RECONNECT_TRIES };
        if let Some(h) = self.handed.iter_mut().find(|h| h.order.id() == order.id) {
            (h.tries, h.at) = (tries, None);
            h.queued += 1;
        } else {
            if self.handed.is_full() {
                // The oldest polled gives way: its next failure is final at once.
                let Some(i) = self.handed.iter().position(|h| h.queued == 0) else { return false };
                self.handed.remove(i);
            }
            let _ = self.handed.push(Handed { order: kept, queued: 1, tries, at: None });
        }
        self.emit(Notice::Order(order.id));
        true
    }

    /// Records how an order the driver carried out went; false if the order is unknown. A
    /// failed reconnect is tried again ([`RECONNECT_TRIES`] in all, after one ping interval,
    /// then two: the hook is handed the order again) and reported failed only after the last;
    /// until then it stays applied.
    pub(crate) fn order_done(&mut self, now: Instant, order: OrderId, ok: bool) -> bool {
        if !self.reports.iter().any(|r| r.order == order) {
            return false;
        }
        let handed = self.handed.iter().position(|h| h.order.id() == order);
        match handed {
            Some(i) if !ok && self.handed[i].tries < RECONNECT_TRIES => {
                let wait = u64::from(self.interval_ms) << (self.handed[i].tries - 1);
                self.handed[i].at = Some(now.after(wait));
                return true;
            }
            // Reported before its event was polled: kept for the poll, never handed again.
            Some(i) if self.handed[i].queued > 0 => {
                (self.handed[i].tries, self.handed[i].at) = (RECONNECT_TRIES, None);
            }
            Some(i) => {
                self.handed.remove(i);
            }
            None => {}
        }
        let Some(r) = self.reports.iter().find(|r| r.order == order) else {
            return false;
        };
        let (about, outcome) = (r.about, if ok { Outcome::Reconnected } else { Outcome::Failed });
        // Re-issues of the same restart (by an MGS that restarted meanwhile) were answered with
        // this order's outcome so far: they finish with it too.
        let same = |r: &Report| r.order == order || (about.is_some() && r.about == about);
        let since = self.link.last_sequence();
        for r in self.reports.iter_mut().filter(|r| same(r)) {
            (r.outcome, r.riding, r.since) = (outcome, true, since);
        }
        for r in self.recovered.iter_mut().filter(|r| Some(r.about()) == about) {
            r.outcome = outcome;
        }
        self.ping_now(now);
        true
    }

    /// Hands the hook again the recovery orders whose retry is due.
    pub(super) fn retry_due(&mut self, now: Instant) {
        for i in 0..self.handed.len() {
            if self.handed[i].at.is_none_or(|at| at > now) {
                continue;
            }
            if self.events.is_full() {
                // Not taken: tried again at the next deadline.
                self.counters.events_dropped += 1;
                return;
            }
            let h = &mut self.handed[i];
            (h.at, h.tries) = (None, h.tries + 1);
            h.queued += 1;
            let id = h.order.id();
            self.emit(Notice::Order(id));
        }
    }
}
