//! The two recoveries a Lustre user has today, modelled beside Vigil's in the same run.
//!
//! Both models take the same live and dead clients, the same network conditions and the same
//! reconnect cost as the Vigil run they are compared with; only the way clients learn of the
//! restart and the way the target ends its window differ. Every figure is a Lustre default,
//! unchanged since 2.2 (lustre-release: `lustre/include/obd_support.h`,
//! `lustre/obdclass/class_obd.c`; the IR share of the window in `lustre/ldlm/ldlm_lib.c`, the
//! clients' IR delay in `lustre/mgc/mgc_request.c`), and a named constant here.
//!
//! - **Passive** ([`passive`]): nobody tells the clients. Each notices on its own next ping to the
//!   target (every [`PING_INTERVAL_MS`], at a phase uniform over the interval), whose error reply
//!   makes it reconnect. A lost ping or reply is noticed only at the next ping.
//! - **Lustre IR** ([`imperative_recovery`]): the target registers with the MGS, which revokes the
//!   lock every client holds; the lock callback is the notification. Each client waits
//!   [`IR_DELAY_MS`] plus uniform `0..`[`IR_SPREAD_MS`], re-fetches the target table from the MGS,
//!   then reconnects. A lost request is sent again after [`RPC_RESEND_MS`].
//!
//! The window: a Lustre target starts its recovery timer when the first client reconnects, and
//! ends recovery early only when every client it knew has reconnected. A dead client never does,
//! so with any client dead the window runs the full soft time-out: [`RECOVERY_TIME_SOFT_MS`]
//! passive, [`IR_WINDOW_MS`] with IR. Timer extensions by replayed requests are not modelled (they
//! only lengthen the window).

use crate::Rng;

/// `obd_timeout`, Lustre's base time-out.
pub const OBD_TIMEOUT_MS: u64 = 100_000;
/// A client pings each target every `obd_timeout / 4`.
pub const PING_INTERVAL_MS: u64 = OBD_TIMEOUT_MS / 4;
/// `recovery_time_soft`: the window a target keeps open for clients that do not come.
pub const RECOVERY_TIME_SOFT_MS: u64 = 300_000;
/// The shortest recovery window a target uses.
pub const RECOVERY_TIME_MIN_MS: u64 = 120_000;
/// `ir_factor` (out of 10): the share of the soft window a target keeps when IR is enabled.
pub const IR_FACTOR: u64 = 5;
/// The window with IR: `max(120 s, 300 s × 5/10)`.
pub const IR_WINDOW_MS: u64 = max(RECOVERY_TIME_MIN_MS, RECOVERY_TIME_SOFT_MS * IR_FACTOR / 10);
/// An IR client waits this long after the lock callback before re-fetching the target table ...
pub const IR_DELAY_MS: u64 = 5_000;
/// ... plus a uniform share of this, to spread the load on the MGS.
pub const IR_SPREAD_MS: u64 = 5_000;
/// A request (registration, lock callback, table fetch) lost on the way is sent again after the
/// connect time-out, Lustre's shortest RPC time-out (5 s).
pub const RPC_RESEND_MS: u64 = 5_000;

const fn max(a: u64, b: u64) -> u64 {
    if a > b {
        a
    } else {
        b
    }
}

/// What both models share with the Vigil run.
#[derive(Clone, Copy, Debug)]
pub struct Setting {
    /// Live clients.
    pub live: usize,
    /// Dead clients (they never reconnect).
    pub dead: usize,
    /// Datagram loss probability.
    pub loss: f64,
    /// One-way latency, ms.
    pub latency_ms: u64,
    /// Uniform extra one-way latency in `[0, jitter_ms]`.
    pub jitter_ms: u64,
    /// A reconnect takes `hook_ms + U[0, hook_ms]`, as the simulated Vigil hook does.
    pub hook_ms: u64,
}

/// One model's timeline, in ms after the target restarted.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    /// When the MGS learnt of the restart (`None`: the model has no MGS step).
    pub mgs_knows_ms: Option<u64>,
    /// When each live client learnt it must reconnect.
    pub ordered_ms: Vec<u64>,
    /// When each live client had reconnected.
    pub reconnected_ms: Vec<u64>,
    /// When the target's window closed.
    pub window_closed_ms: u64,
}

impl Setting {
    fn one_way(&self, rng: &mut Rng) -> u64 {
        self.latency_ms + rng.below(self.jitter_ms + 1)
    }

    /// A request and its answer: the round trip, plus a resend period for every lost attempt.
    fn rpc(&self, rng: &mut Rng, resend_ms: u64) -> u64 {
        let mut waited = 0;
        loop {
            if !rng.chance(self.loss) && !rng.chance(self.loss) {
                return waited + self.one_way(rng) + self.one_way(rng);
            }
            waited += resend_ms;
        }
    }

    fn reconnect(&self, rng: &mut Rng) -> u64 {
        self.hook_ms + rng.below(self.hook_ms + 1)
    }

    /// When the window closes: at once when every client is back, else a full window after the
    /// first reconnect started the target's timer.
    fn window(&self, reconnected: &[u64], window_ms: u64) -> u64 {
        let last = reconnected.iter().copied().max().unwrap_or(0);
        if self.dead == 0 {
            return last;
        }
        let first = reconnected.iter().copied().min().unwrap_or(0);
        (first + window_ms).max(last)
    }
}

/// Passive recovery: clients notice on their own next ping.
pub fn passive(s: &Setting, rng: &mut Rng) -> Timeline {
    let mut t = Timeline::default();
    for _ in 0..s.live {
        let mut noticed = rng.below(PING_INTERVAL_MS);
        // The ping's error reply tells the client; a lost one waits for the next ping.
        while rng.chance(s.loss) || rng.chance(s.loss) {
            noticed += PING_INTERVAL_MS;
        }
        noticed += s.one_way(rng) + s.one_way(rng);
        t.ordered_ms.push(noticed);
        t.reconnected_ms.push(noticed + s.reconnect(rng));
    }
    t.window_closed_ms = s.window(&t.reconnected_ms, RECOVERY_TIME_SOFT_MS);
    t
}

/// Lustre's imperative recovery: the MGS's lock callback tells every client.
pub fn imperative_recovery(s: &Setting, rng: &mut Rng) -> Timeline {
    let mut t = Timeline::default();
    // The restarted target registers with the MGS.
    let knows = s.rpc(rng, RPC_RESEND_MS) / 2;
    t.mgs_knows_ms = Some(knows);
    for _ in 0..s.live {
        let mut callback = knows + s.one_way(rng);
        while rng.chance(s.loss) {
            callback += RPC_RESEND_MS;
        }
        let fetched = callback + IR_DELAY_MS + rng.below(IR_SPREAD_MS) + s.rpc(rng, RPC_RESEND_MS);
        t.ordered_ms.push(callback);
        t.reconnected_ms.push(fetched + s.reconnect(rng));
    }
    t.window_closed_ms = s.window(&t.reconnected_ms, IR_WINDOW_MS);
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(dead: usize) -> Setting {
        Setting { live: 1_000, dead, loss: 0.0, latency_ms: 1, jitter_ms: 0, hook_ms: 20 }
    }

    #[test]
    fn ir_window_is_lustres_150_s() {
        assert_eq!(IR_WINDOW_MS, 150_000);
        assert_eq!(PING_INTERVAL_MS, 25_000);
    }

    #[test]
    fn a_dead_client_holds_the_window_for_the_full_time_out() {
        let mut rng = Rng::new(1);
        let p = passive(&setting(1), &mut rng);
        let first = *p.reconnected_ms.iter().min().unwrap();
        assert_eq!(p.window_closed_ms, first + RECOVERY_TIME_SOFT_MS);
        let ir = imperative_recovery(&setting(1), &mut rng);
        let first = *ir.reconnected_ms.iter().min().unwrap();
        assert_eq!(ir.window_closed_ms, first + IR_WINDOW_MS);
        assert!(ir.ordered_ms.iter().all(|&t| t < 10));
        assert!(ir.reconnected_ms.iter().all(|&t| (5_000..10_100).contains(&t)));
    }

    #[test]
    fn without_dead_clients_the_window_closes_at_the_last_reconnect() {
        let mut rng = Rng::new(2);
        let p = passive(&setting(0), &mut rng);
        assert_eq!(p.window_closed_ms, *p.reconnected_ms.iter().max().unwrap());
        assert!(p.window_closed_ms < PING_INTERVAL_MS + 100);
    }
}
