//! The MGS's live web view at `/`: one self-contained page (styles and script inline, nothing
//! from elsewhere) that follows the server-sent events of `GET /api/v1/events` (falling back to
//! polling `GET /api/v1/status` every second if the stream keeps failing) and redraws in place:
//! totals per state, the nodes that are not alive, targets with recovery progress bars and ETA,
//! and the tree MGS → routers → nodes, collapsed per router (counts per state) with drill-down on
//! click, and routers that are dead or unreachable outlined as partitions.

use crate::http::Reply;

/// The page, embedded in the binary.
pub const INDEX: &str = include_str!("web/index.html");

/// `GET /`.
pub fn index() -> Reply {
    Reply::ok("text/html; charset=utf-8", INDEX.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_self_contained_and_reads_the_status_api() {
        assert!(INDEX.contains("new EventSource(\"/api/v1/events\")"));
        assert!(INDEX.contains("fetch(\"/api/v1/status\""), "the fallback");
        for outside in ["http://", "https://", "src=\"//", "href=\"//", "@import"] {
            assert!(!INDEX.contains(outside), "the page loads nothing from elsewhere: {outside}");
        }
        assert_eq!(index().content_type, "text/html; charset=utf-8");
    }
}
