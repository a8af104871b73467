//! The update a router sends up: rounds of pages of its changes, and its subtree's summary.
//!
//! A round starts at the version the parent acknowledged (0: a snapshot, every entry with its
//! name until the parent acknowledges it) and sends up to [`PAGES_PER_ROUND`] pages, each as many
//! changes as fit in a datagram, before it waits for the acknowledgement; with more to send, that
//! acknowledgement starts the next round. Every page carries the summary of the whole subtree:
//! totals, order progress and the clients that failed. Progress goes up only while the sums are
//! whole (the startup hold passed, every child router holds the order, no client heard is
//! counted nowhere); a new summary takes a version of its own, so that the acknowledgement tells
//! whether the parent has it. Unanswered, a round goes again after the re-send wait (toward a
//! parent that answers; a silent one gets its interval).

use heapless::Vec;

use crate::table::Slot;
use crate::time::Instant;
use crate::timing::RESENDS;
use crate::wire::{
    encoded_len, Endpoint, Message, OrderProgress, Totals, Update, HEADER_LEN, MAX_DATAGRAM, MAX_PROGRESS,
    TAG_LEN,
};
use crate::wire::{FailedClient, MAX_FAILED};

use super::upstream::past;
use super::Router;

/// Most update pages sent to a parent before waiting for its acknowledgement.
const PAGES_PER_ROUND: u32 = 32;

/// What a router says of its whole subtree in every update: totals, order progress and the
/// clients whose reconnection failed.
pub(super) type Summary = (Totals, Vec<OrderProgress, MAX_PROGRESS>, Vec<FailedClient, MAX_FAILED>);

impl<S: AsRef<[Slot]> + AsMut<[Slot]>, const R: usize, const T: usize> Router<S, R, T> {
    pub(super) fn send_page(&mut self, now: Instant, u: usize, buf: &mut [u8]) -> Option<(Endpoint, usize)> {
        let up = &mut self.upstreams[u];
        let base = match up.next_base {
            Some(base) => base,
            None => {
                if !self.hub.in_reach(up.acked) {
                    // Cut off so long that the changes since can no longer be told: all again.
                    up.acked = 0;
                }
                if up.uplink.resend_at.is_none() {
                    up.uplink.resends = RESENDS;
                }
                up.pages_left = PAGES_PER_ROUND;
                self.summary_due = true;
                up.acked
            }
        };
        if base == 0 {
            up.snapshot = Some(self.hub.version());
        } else if up.snapshot.is_some_and(|v| !past(v, up.acked)) {
            up.snapshot = None;
        }
        let names = up.snapshot.is_some();
        if self.summary_due {
            // An order's progress goes up only once every child router holds it too, once every
            // child alive before this boot had time to be heard again, and while no client
            // heard is counted nowhere, so a sum never stands for a subtree it does not cover.
            let whole = self.whole_at.is_none_or(|t| now >= t) && self.hub.sums_whole(now);
            let progress: Vec<OrderProgress, MAX_PROGRESS> = (self.hub.held_orders())
                .filter(|o| whole && self.hub.all_routers_hold(o.id))
                .map(|o| self.hub.progress(o.id))
                .collect();
            // Past `MAX_FAILED` the rest go unnamed: each order's `failed` still counts them.
            let failed = (progress.iter())
                .filter(|p| p.failed > 0)
                .flat_map(|p| {
                    self.hub
                        .failed_clients(p.order)
                        .map(move |client| FailedClient { order: p.order, client })
                })
                .take(MAX_FAILED)
                .collect();
            let summary = (self.hub.totals(), progress, failed);
            if self.reported.as_ref() != Some(&summary) {
                // A new summary takes a version of its own: the parent's acknowledgement then
                // tells whether it has it (a reply to an older round does not).
                self.hub.summary_changed();
                self.reported = Some(summary);
            }
            self.summary_due = false;
        }
        // Always `Some` here: the first page of all computed it.
        let (totals, progress, failed) = self.reported.clone().unwrap_or_default();
        let up = &self.upstreams[u];
        let mut update = Update {
            interval_ms: self.hub.timing().update_interval_ms,
            name: (!up.uplink.known).then(|| self.name.clone()),
            base,
            upto: base,
            more: false,
            deltas: Vec::new(),
            targets: Vec::new(),
            totals,
            progress,
            failed,
        };
        // Room for deltas: the datagram less header, tag, the fixed fields, and two bytes for
        // the deltas' length prefix and `upto` growing.
        let fixed = encoded_len(&update) + 2 * 5;
        let room = (MAX_DATAGRAM - HEADER_LEN - TAG_LEN).saturating_sub(fixed);
        let page = self.hub.page(base, room, names, now);
        let (upto, more) = (page.upto, page.more);
        update.deltas = page.deltas;
        update.targets = page.targets;
        update.upto = upto;
        update.more = more;
        let interval = u64::from(self.hub.timing().update_interval_ms);
        let up = &mut self.upstreams[u];
        up.pages_left = up.pages_left.saturating_sub(1);
        // A first contact is one page: the parent answers it with its id and takes nothing.
        if more && up.pages_left > 0 && up.uplink.identified() {
            up.next_base = Some(upto);
        } else {
            up.next_base = None;
            up.round_end = upto;
            // With more to send, the acknowledgement of this round starts the next one; this
            // deadline only covers a lost page.
            if up.uplink.resend_at.is_none() {
                up.uplink.regular = now.after(if more { (interval / 4).max(1) } else { interval });
            }
            // Unanswered, the round goes again soon: a lost update costs `resend_ms`, not an
            // interval (only toward a parent that answers: a silent one gets its interval).
            match up.uplink.resend_due(now, self.hub.timing()).filter(|_| up.uplink.up) {
                // Never past the next round.
                Some(at) => up.uplink.arm(up.uplink.regular.min(at)),
                None => up.uplink.disarm(),
            }
        }
        let (to, parent) = (up.uplink.addr, up.uplink.receiver());
        let len = self.link.send(parent, &Message::Update(update), buf, self.hub.counters_mut())?;
        Some((to, len))
    }
}
