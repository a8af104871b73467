//! The MGS's web view in headless Chromium (Debian `chromium`), against a real cluster: a killed
//! client shows dead, a restarted target's progress bar reaches 100% with its window closed, and
//! a screenshot is saved (`$VIGIL_ARTIFACTS/web-view.png`, default cargo's test tmp dir). With two
//! status holders, the page one serves shows both holders' views merged, names the holder of
//! what only the other knows, flags where they disagree, and names a holder that stops answering.

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

#[test]
fn the_page_of_one_holder_merges_its_peers_view_and_flags_disagreements() {
    if !have_tool(CHROMIUM, "chromium", "VIGIL_CHROMIUM_REQUIRED") {
        return;
    }
    let scratch = Scratch::new("web-holders");
    let token = scratch.api_token().display().to_string();
    let holder = |name: &str, peers: &[&str]| {
        let mut args = vec!["mgs", "--name", name, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"];
        args.extend(["--api-token-file", &token]);
        for p in peers {
            args.extend(["--peer-api", p]);
        }
        let mgs = spawn(&scratch, name, &args);
        (mgs, scratch.ready(name, "udp"), scratch.ready(name, "http"))
    };
    // mgs-a merges mgs-b's view; r2 (and c2 below it) report to mgs-b only.
    let (mgs_b, udp_b, http_b) = holder("mgs-b", &[]);
    let (_mgs_a, udp_a, http_a) = holder("mgs-a", &[&format!("http://{http_b}")]);
    let _r1 = spawn(
        &scratch,
        "r1",
        &["router", "--name", "r1", "--listen", "127.0.0.1:0", "--parent", &udp_a, "--parent", &udp_b],
    );
    let _r2 =
        spawn(&scratch, "r2", &["router", "--name", "r2", "--listen", "127.0.0.1:0", "--parent", &udp_b]);
    let (r1, r2) = (scratch.ready("r1", "udp"), scratch.ready("r2", "udp"));
    let _c1 = spawn(&scratch, "c1", &["client", "--name", "c1", "--parent", &r1, "--on-order", "true"]);
    let _c2 = spawn(&scratch, "c2", &["client", "--name", "c2", "--parent", &r2, "--on-order", "true"]);

    let holders = || serde_json::from_str::<serde_json::Value>(&http_get(&http_a, "/api/v1/holders")?).ok();
    let disagree_on_c2 = |c: &serde_json::Value| {
        let alive = |n: &serde_json::Value| n["state"] == "alive";
        let nodes = c["merged"]["view"]["nodes"].as_array()?;
        let c2 = c["disagreements"].as_array()?.iter().any(|d| d["what"] == "node c2");
        (nodes.len() == 4 && nodes.iter().all(alive) && c2).then_some(())
    };
    let limit = Duration::from_secs(30);
    wait_for(limit, || holders().and_then(|c| disagree_on_c2(&c)), &"c2 known to mgs-b only, all 4 alive");

    let url = format!("http://{http_a}/#open-all");
    let dom = chromium(&scratch, &["--dump-dom"], &url);
    assert_on_page(&dom, "data-holder=\"mgs-a\"", "mgs-a listed");
    assert_on_page(&dom, "data-holder=\"mgs-b\"", "mgs-b listed");
    assert_on_page(&dom, "2 of 2 status holders", "both answered");
    // States may flicker on a loaded machine; what is shown, and from where, may not.
    assert_on_page(&dom, "data-node=\"c2\"", "c2, known to mgs-b only, in the tree");
    assert_on_page(&dom, "data-from=\"node c2\">from mgs-b<", "c2's row names its holder");
    assert_on_page(&dom, "data-disagree=\"node c2\"", "c2's row flagged");
    assert_on_page(&dom, "data-disagreement=\"node c2\"", "the disagreement listed");
    assert_on_page(&dom, "node c2</td><td>unknown at mgs-a; ", "each holder's value");
    assert_on_page(&dom, "id=\"conn\" class=\"\">live<", "the page polled the holders");
    screenshot(&scratch, &url, "web-view-holders.png");

    // mgs-b stops: mgs-a's page names it silent and shows its own view.
    drop(mgs_b);
    let silent = |c: &serde_json::Value| c["holders"][1]["error"].as_str().map(str::to_owned);
    wait_for(limit, || holders().and_then(|c| silent(&c)), &"mgs-b silent at mgs-a");
    let dom = chromium(&scratch, &["--dump-dom"], &url);
    assert_on_page(&dom, &format!("data-holder-silent=\"http://{http_b}\""), "mgs-b named silent");
    assert_on_page(&dom, "1 of 2 status holders", "one answered");
    assert_on_page(&dom, "data-node=\"c1\"", "mgs-a's own view");
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
