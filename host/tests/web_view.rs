//! The MGS's web view in headless Chromium (Debian `chromium`), against a real cluster: a killed
//! client shows dead, a restarted target's progress bar reaches 100% with its window closed, and
//! a screenshot is saved (`$VIGIL_ARTIFACTS/web-view.png`, default cargo's test tmp dir).

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const CHROMIUM: &str = "/usr/bin/chromium";

fn chromium(scratch: &Scratch, args: &[&str], url: &str) -> String {
    let out = Command::new(CHROMIUM)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        .args(["--no-first-run", "--hide-scrollbars", "--virtual-time-budget=4000"])
        .arg(format!("--user-data-dir={}", scratch.dir.join("chromium").display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{CHROMIUM} (Debian package chromium): {e}"));
    assert!(out.status.success(), "chromium: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn spawn(scratch: &Scratch, name: &str, args: &[&str]) -> Daemon {
    let child = vigil()
        .args(args)
        .args(TIMING)
        .args(scratch.node_args(name))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    Daemon(child)
}

fn status(http: &str) -> Option<serde_json::Value> {
    serde_json::from_str(&http_get(http, "/api/v1/status")?).ok()
}

fn artifact_dir() -> PathBuf {
    std::env::var_os("VIGIL_ARTIFACTS")
        .map_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")), PathBuf::from)
}

#[test]
fn the_page_shows_deaths_partitions_and_recoveries() {
    if !have_tool(CHROMIUM, "chromium", "VIGIL_CHROMIUM_REQUIRED") {
        return;
    }
    let scratch = Scratch::new("web");
    let (_mgs, udp, http) = start_mgs(&scratch);
    let router =
        spawn(&scratch, "r1", &["router", "--name", "r1", "--listen", "127.0.0.1:0", "--parent", &udp]);
    let r1 = scratch.ready("r1", "udp");
    let mut clients: Vec<Daemon> = ["c1", "c2", "c3"]
        .iter()
        .map(|c| spawn(&scratch, c, &["client", "--name", c, "--parent", &r1, "--on-order", "true"]))
        .collect();
    let server = ["server", "--name", "oss1", "--target", "testfs-OST0001", "--target-addr", "10.0.0.7@o2ib"];
    let server_args: Vec<&str> = server.iter().copied().chain(["--parent", r1.as_str()]).collect();
    let mut oss = spawn(&scratch, "oss1", &server_args);
    let limit = Duration::from_secs(30);
    let alive = |s: &serde_json::Value, n: usize| {
        s["nodes"].as_array().is_some_and(|a| a.iter().filter(|n| n["state"] == "alive").count() == n)
    };
    wait_for(limit, || status(&http).filter(|s| alive(s, 5)), &"router, 3 clients and a server alive");

    clients.pop(); // kills c3
    let dead = |s: &serde_json::Value| {
        s["nodes"].as_array().unwrap().iter().any(|n| n["name"] == "c3" && n["state"] == "dead")
    };
    wait_for(limit, || status(&http).filter(dead), &"c3 dead");

    // Restart the target: a new generation starts a recovery among the two live clients.
    let generation = |s: &serde_json::Value| s["targets"][0]["generation"].as_u64();
    let before = wait_for(limit, || status(&http).and_then(|s| generation(&s)), &"the target");
    drop(oss);
    oss = spawn(&scratch, "oss1", &server_args);
    let recovered = |s: &serde_json::Value| {
        let r = &s["targets"][0]["recovery"];
        generation(s) > Some(before)
            && r["target_generation"].as_u64() == generation(s)
            && r["window"] == "closed"
            && r["reconnected"] == 2
            && r["live"] == 2
    };
    wait_for(limit, || status(&http).filter(recovered), &"the restarted target recovered");

    // `poll`: `--virtual-time-budget` stalls while a fetch is in flight, and the event stream
    // never ends, so the page polls here (tests/events_e2e.rs covers the stream).
    let url = format!("http://{http}/#open-all,poll");
    let dom = chromium(&scratch, &["--dump-dom"], &url);
    assert_on_page(&dom, "data-node=\"c3\" data-state=\"dead\"", "c3 dead on the page");
    assert_on_page(&dom, "data-node=\"c1\" data-state=\"alive\"", "the tree is open");
    assert_on_page(&dom, "data-target-progress=\"100\"", "the progress bar at 100%");
    assert_on_page(&dom, "data-window=\"closed\"", "the window closed");
    assert_on_page(&dom, "2 of 2 (100%)", "two of two clients reconnected");
    assert_on_page(&dom, "id=\"conn\" class=\"\">live<", "the page polled the MGS");

    screenshot(&scratch, &url, "web-view.png");

    // The router goes silent: its subtree is cut off, a partition, not deaths.
    drop(router);
    // Suspect is not yet a partition: wait for the verdict.
    let cut = |s: &serde_json::Value| {
        s["routers"][0]["state"] == "dead" || s["routers"][0]["state"] == "unreachable"
    };
    wait_for(limit, || status(&http).filter(cut), &"r1 silent");
    let dom = chromium(&scratch, &["--dump-dom"], &url);
    assert_on_page(&dom, "class=\"router partition\" data-router=\"r1\"", "r1 outlined");
    assert_on_page(&dom, "partition: 4 node(s) cut off", "the partition's size");
    screenshot(&scratch, &url, "web-view-partition.png");
    drop(oss);
}

/// Saves a screenshot of `url` as an artifact and checks it is a PNG with something in it.
fn screenshot(scratch: &Scratch, url: &str, name: &str) {
    let dir = artifact_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let shot = dir.join(name);
    let _ = std::fs::remove_file(&shot);
    chromium(scratch, &[&format!("--screenshot={}", shot.display()), "--window-size=1280,1000"], url);
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{} bytes", png.len());
    eprintln!("screenshot: {}", shot.display());
}
