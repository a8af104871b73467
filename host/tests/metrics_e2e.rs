//! `/metrics` of a real MGS through a whole recovery: tree shape, order latency and window
//! histograms.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;

#[test]
fn a_recovery_shows_in_the_histograms() {
    let scratch = Scratch::new("metrics");
    let (_mgs, udp, http) = start_mgs(&scratch);
    let mut clients = Vec::new();
    for name in ["c1", "c2"] {
        let child = vigil()
            .args(["client", "--name", name, "--parent", &udp, "--on-order", "sleep 0.3"])
            .args(TIMING)
            .args(scratch.node_args(name))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        clients.push(Daemon(child));
    }
    let limit = Duration::from_secs(20);
    let alive = "vigil_nodes_by_role{role=\"client\",state=\"alive\"}";
    wait_for(
        limit,
        || http_get(&http, "/metrics").filter(|m| metric(m, alive) == Some(2.0)),
        &"2 live clients",
    );

    recover(&scratch, &http, "testfs-OST0001");
    let text = wait_for(
        limit,
        || {
            http_get(&http, "/metrics").filter(|m| {
                metric(m, "vigil_recovery_window_seconds_count{closed_by=\"vigil\"}") == Some(1.0)
            })
        },
        &"the window closed by Vigil",
    );
    assert_eq!(metric(&text, "vigil_order_applied_seconds_count"), Some(2.0), "{text}");
    assert_eq!(metric(&text, "vigil_order_reconnected_seconds_count"), Some(2.0));
    assert_eq!(metric(&text, "vigil_order_failed_seconds_count"), Some(0.0));
    // The hooks took 0.3 s: no client can have been seen reconnected sooner.
    assert_eq!(metric(&text, "vigil_order_reconnected_seconds_bucket{le=\"0.25\"}"), Some(0.0));
    let sum = metric(&text, "vigil_order_reconnected_seconds_sum").unwrap();
    assert!((0.6..20.0).contains(&sum), "{sum}");
    assert_eq!(metric(&text, "vigil_partitions"), Some(0.0));
    assert_eq!(metric(&text, "vigil_dropped_total{reason=\"unauthenticated\"}"), Some(0.0));
    promtool_accepts(&text);
}

/// `promtool check metrics` (Debian package prometheus) passes `text`: names, units, types and
/// help lines as Prometheus wants them.
fn promtool_accepts(text: &str) {
    use std::io::Write;
    if !have_tool("promtool", "prometheus", "VIGIL_PROMTOOL_REQUIRED") {
        return;
    }
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool runs");
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("metrics to promtool");
    let out = child.wait_with_output().expect("promtool's verdict");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.trim().is_empty(), "promtool check metrics: {said}\n{text}");
}
