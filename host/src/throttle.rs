//! Warnings about what can repeat without bound (orders whose signature does not verify, refused
//! HTTP requests): each is said at most once per period, with how often it came up since it was
//! last said, so a flood neither fills the journal nor gets a daemon's other messages dropped by
//! journald's rate limit. The counters (`/metrics`) count every occurrence at once.

use std::time::{Duration, Instant};

/// When to say a repeated warning: at its first occurrence, then at the first occurrence (or
/// check) a period or more after it was last said, with the occurrences since.
#[derive(Debug)]
pub struct Throttle {
    every: Duration,
    said: Option<Instant>,
    unsaid: u64,
}

impl Throttle {
    /// A warning said at most once per `every`.
    pub const fn new(every: Duration) -> Throttle {
        Throttle { every, said: None, unsaid: 0 }
    }

    /// Notes `n` more occurrences at `now` (none, to ask whether held-back ones are due): the
    /// occurrences not yet told, these included, when the warning is to be said now.
    pub fn note(&mut self, n: u64, now: Instant) -> Option<u64> {
        self.unsaid = self.unsaid.saturating_add(n);
        let quiet = self.said.is_some_and(|at| now.saturating_duration_since(at) < self.every);
        if self.unsaid == 0 || quiet {
            return None;
        }
        self.said = Some(now);
        Some(std::mem::take(&mut self.unsaid))
    }
}

/// The targets of the warnings `f` logs on this thread (a capture for tests).
#[cfg(test)]
pub(crate) fn warnings_of(f: impl FnOnce()) -> Vec<&'static str> {
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::{Context, SubscriberExt};

    /// Keeps the target of every warning.
    struct Warnings(Arc<Mutex<Vec<&'static str>>>);

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Warnings {
        fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
            if *event.metadata().level() == tracing::Level::WARN {
                self.0.lock().unwrap().push(event.metadata().target());
            }
        }
    }

    let seen = Arc::new(Mutex::new(Vec::new()));
    let subscriber = tracing_subscriber::registry().with(Warnings(seen.clone()));
    tracing::subscriber::with_default(subscriber, f);
    let seen = seen.lock().unwrap().clone();
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_warning_is_said_at_once_then_once_a_period_with_the_occurrences_since() {
        let (every, start) = (Duration::from_secs(10), Instant::now());
        let mut throttle = Throttle::new(every);
        assert_eq!(throttle.note(0, start), None, "nothing to say");
        assert_eq!(throttle.note(1, start), Some(1), "the first at once");
        let within: Vec<_> =
            (1..=999).map(|ms| throttle.note(1, start + Duration::from_millis(ms))).collect();
        assert!(within.iter().all(Option::is_none), "held back within the period");
        assert_eq!(throttle.note(0, start + every - Duration::from_millis(1)), None);
        assert_eq!(throttle.note(0, start + every), Some(999), "told a period on, on a check");
        assert_eq!(throttle.note(0, start + 3 * every), None, "nothing since");
        assert_eq!(throttle.note(5, start + 3 * every), Some(5), "a period and more since: at once");
    }
}
