//! The MGS's live web view at `/`: one self-contained page (styles and script inline, nothing
//! from elsewhere) that follows the server-sent events of `GET /api/v1/events` (falling back to
//! polling `GET /api/v1/status` every second if the stream keeps failing) and redraws in place:
//! totals per state, the nodes that are not alive, targets with recovery progress bars and ETA,
//! and the tree MGS → routers → nodes, collapsed per router (counts per state) with drill-down on
//! click, and routers that are dead or unreachable outlined as partitions.
//!
//! An MGS given other status holders (`--peer-api`) serves the cluster as every holder sees it:
//! the page then polls `GET /api/v1/holders` (the MGS asks its peers' read-only status itself,
//! so the page never calls another origin, which the API's `Origin` check would refuse anyway)
//! and shows which holders answered, the merged view ([`crate::holders`]: figures from the first
//! holder, a row known only to another holder names it), and where the holders disagree, both
//! listed and flagged on the rows concerned.

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
        assert!(INDEX.contains("fetch(\"/api/v1/holders\""), "the holders' merged view");
        for outside in ["http://", "https://", "src=\"//", "href=\"//", "@import"] {
            assert!(!INDEX.contains(outside), "the page loads nothing from elsewhere: {outside}");
        }
        assert_eq!(index().content_type, "text/html; charset=utf-8");
    }
}
