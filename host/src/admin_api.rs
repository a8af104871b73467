//! The MGS's admin API as both sides see it: the bodies of `POST /api/v1/recover` and
//! `POST /api/v1/close` and their answers (the daemon serves them, `vigil recover`/`vigil close`
//! send them), and the words both use for a target no holder knows.

use serde::{Deserialize, Serialize};

/// The body of `POST /api/v1/recover`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoverRequest {
    /// The target clients should reconnect to.
    pub target: String,
    /// Where they reconnect (NIDs), at most two.
    #[serde(default)]
    pub addrs: Vec<String>,
    /// The target instance the order is about: every holder given the same one issues one
    /// recovery to clients (they act on a target instance once). 0 or absent: the one its
    /// server reports, or none.
    #[serde(default)]
    pub instance: u32,
    /// Order it even though the MGS does not know the target (no server reports it, no
    /// recovery of it is known): a target without a Vigil agent. Otherwise such an order is
    /// refused (404), as a typo would be.
    #[serde(default)]
    pub force: bool,
}

/// The answer to `POST /api/v1/recover`.
#[derive(Debug, Serialize, Deserialize)]
pub struct RecoverReply {
    /// The order issued, `<holder>:<mgs_generation>/<seq>`.
    pub order_id: String,
    /// The target instance the order names (0: unknown, every client reconnects whatever
    /// instance it is on).
    #[serde(default)]
    pub target_generation: Option<u32>,
    /// Where the order tells clients to reconnect.
    #[serde(default)]
    pub addrs: Option<Vec<String>>,
}

/// The answer to `POST /api/v1/close`.
#[derive(Debug, Serialize, Deserialize)]
pub struct CloseReply {
    /// The `CloseWindow` order, `<holder>:<mgs_generation>/<seq>`.
    pub order_id: String,
    /// The window was closed already (by every client reconnecting, or an earlier close):
    /// nothing was done now.
    #[serde(default)]
    pub already_closed: bool,
    /// The clients the order names dead: those the target's agent may evict.
    #[serde(default)]
    pub dead: Vec<String>,
}

/// The body of `POST /api/v1/close`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseRequest {
    /// The target whose recovery window closes now.
    pub target: String,
}

/// What to say about `target`, which no holder knows, given the targets it does know: a likely
/// typo's correction, or what is known. A sentence, ended.
pub fn unknown_target_hint(target: &str, known: &[String]) -> String {
    match crate::config::did_you_mean(target, known.iter().map(String::as_str)) {
        Some(k) => format!("did you mean {k}?"),
        None if known.is_empty() => "no target is known.".to_owned(),
        None if known.len() <= 8 => format!("known targets: {}.", known.join(", ")),
        None => format!("{} targets are known (`vigil status` lists them).", known.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_target_is_answered_with_a_correction_or_what_is_known() {
        let known = |n: usize| (1..=n).map(|k| format!("testfs-OST{k:04}")).collect::<Vec<_>>();
        assert_eq!(unknown_target_hint("testfs-OST0010", &known(2)), "did you mean testfs-OST0001?");
        assert_eq!(unknown_target_hint("x", &[]), "no target is known.");
        assert_eq!(
            unknown_target_hint("scratch-MDT0000", &known(2)),
            "known targets: testfs-OST0001, testfs-OST0002."
        );
        assert_eq!(
            unknown_target_hint("scratch-MDT0000", &known(9)),
            "9 targets are known (`vigil status` lists them)."
        );
    }
}
