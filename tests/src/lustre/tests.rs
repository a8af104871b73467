//! Unit tests of the model against the behaviour each source function gives.

use super::lctl::{EINVAL, ENOENT};
use super::*;

const OST: &str = "testfs-OST0000";

fn args(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

/// A server with the OST and three clients connected, each with a request not yet committed.
fn three_clients_with_a_request_each() -> (World, u64) {
    let mut w = World::default();
    let now = 1_000_000;
    w.add_node("oss1", &["10.0.0.7@tcp"]);
    w.mount_target(OST, "oss1", now);
    for c in ["c1", "c2", "c3"] {
        w.add_node(c, &[&format!("10.0.1.{}@tcp", &c[1..])]);
        w.mount_client(c, &format!("uuid-{c}"), &[(OST, &["10.0.0.7@tcp"])], now);
        w.write(c, OST, 1);
    }
    (w, now)
}

/// A server with the OST and three clients, each with one replay pending; then a restart.
fn restarted() -> (World, u64) {
    let (mut w, now) = three_clients_with_a_request_each();
    assert!(w.nodes.values().all(|n| n.mounts.iter().all(|m| m.imports[0].state == ImportState::Full)));
    w.crash("oss1");
    w.nodes.get_mut("oss1").expect("oss1").up = true;
    w.mount_target(OST, "oss1", now);
    (w, now)
}

fn reconnect(w: &mut World, c: &str, now: u64) {
    let dev = w.devices(c)[0].1.clone();
    let instance = w.targets[OST].instance;
    let out =
        w.lctl(c, &args(&format!("set_param osc.{dev}.import=connection=10.0.0.7@tcp::{instance}")), now);
    assert!(out.is_ok(), "{out:?}");
}

#[test]
fn a_missing_client_holds_everyone_in_replay_until_it_is_evicted() {
    let (mut w, now) = restarted();
    reconnect(&mut w, "c1", now);
    reconnect(&mut w, "c2", now);
    for c in ["c1", "c2"] {
        assert_eq!(w.import(c, OST).map(|i| i.state), Some(ImportState::Replay), "{c} waits in REPLAY");
    }
    let status = w.lctl("oss1", &args(&format!("get_param -n obdfilter.{OST}.recovery_status")), now);
    assert!(status.as_ref().is_ok_and(|s| s.contains("connected_clients: 2/3")), "{status:?}");
    let stale = w.lctl("oss1", &args(&format!("get_param -n obdfilter.{OST}.recovery_stale_clients")), now);
    assert_eq!(stale.ok().as_deref(), Some("uuid-c3\n"));
    // A stale client has no NID: nid: cannot reach it; uuid: can.
    let _ = w.lctl("oss1", &args(&format!("set_param obdfilter.{OST}.evict_client=nid:10.0.1.3@tcp")), now);
    assert!(w.targets[OST].recovering());
    let _ = w.lctl("oss1", &args(&format!("set_param obdfilter.{OST}.evict_client=uuid:uuid-c3")), now);
    // The eviction wakes nothing: the recovery thread notices at its next tick.
    w.step(now + 60_000);
    let r = w.targets[OST].recovery.clone().expect("recovery");
    assert!(r.done_ms.is_some() && r.evicted == 1 && r.replayed == 2 && r.lost == 0, "{r:?}");
    for c in ["c1", "c2"] {
        assert_eq!(w.import(c, OST).map(|i| i.state), Some(ImportState::Full));
    }
}

#[test]
fn an_import_nobody_tells_reconnects_when_its_pinger_notices() {
    let (mut w, now) = restarted();
    w.crash("c3");
    w.step(now + 74_000);
    assert_eq!(w.import("c1", OST).map(|i| (i.state, i.instance)), Some((ImportState::Full, 1)));
    w.step(now + 75_000);
    assert_eq!(w.import("c1", OST).map(|i| (i.state, i.instance)), Some((ImportState::Replay, 2)));
}

#[test]
fn abort_recovery_evicts_whoever_has_not_sent_a_final_ping_and_drops_their_replays() {
    let (mut w, now) = restarted();
    // c2 has nothing to replay and holds no lock: reconnected, it sends its final ping at once.
    let c2 = &mut w.nodes.get_mut("c2").expect("c2").mounts[0].imports[0];
    (c2.uncommitted, c2.locks) = (0, 0);
    reconnect(&mut w, "c1", now);
    reconnect(&mut w, "c2", now);
    assert_eq!(w.import("c2", OST).map(|i| i.state), Some(ImportState::ReplayWait));
    let status = w.lctl("oss1", &args(&format!("get_param -n obdfilter.{OST}.recovery_status")), now);
    let status = status.expect("recovery_status");
    assert!(
        status.contains(
            "connected_clients: 2/3\nreq_replay_clients: 1\nlock_repay_clients: 1\ncompleted_clients: 1\n"
        ),
        "{status}"
    );
    // ofd_iocontrol on 2.16 and later: -EINVAL, although the abort was done.
    let out = w.lctl("oss1", &args(&format!("--device {OST} abort_recovery")), now);
    assert!(out.is_err_and(|e| e.errno == EINVAL));
    let r = w.targets[OST].recovery.clone().expect("recovery");
    assert!(r.aborted && r.done_ms == Some(now) && r.lost == 1 && r.evicted == 2, "{r:?}");
    assert_eq!(w.import("c1", OST).map(|i| i.state), Some(ImportState::Evicted));
    assert_eq!(w.import("c2", OST).map(|i| i.state), Some(ImportState::Full), "exp_finished: spared");
    // Not recovering: the same code, never EALREADY.
    let again = w.lctl("oss1", &args(&format!("--device {OST} abort_recovery")), now);
    assert!(again.is_err_and(|e| e.errno == EINVAL));
    // An MDT (mdt_iocontrol), and an OST of 2.15: 0.
    w.mount_target("testfs-MDT0000", "oss1", now);
    assert!(w.lctl("oss1", &args("--device testfs-MDT0000 abort_recovery"), now).is_ok());
    let (mut w, now) = restarted();
    w.settings.release = Release::V2_15;
    assert!(w.lctl("oss1", &args(&format!("--device {OST} abort_recovery")), now).is_ok());
    assert!(w.targets[OST].recovery.as_ref().is_some_and(|r| r.aborted && r.evicted == 3));
}

#[test]
fn an_eviction_is_noticed_at_the_recovery_threads_next_tick_a_connect_at_once() {
    let (mut w, now) = restarted();
    reconnect(&mut w, "c1", now + 1_000);
    reconnect(&mut w, "c2", now + 2_000);
    let status = w.lctl("oss1", &args(&format!("get_param -n obdfilter.{OST}.recovery_status")), now + 2_000);
    let status = status.expect("recovery_status");
    assert!(status.ends_with("next_transno: 0\n"), "VBR and IR only once complete: {status}");
    let evict = format!("set_param obdfilter.{OST}.evict_client=uuid:uuid-c3");
    assert!(w.lctl("oss1", &args(&evict), now + 10_000).is_ok());
    w.step(now + 59_999);
    assert!(w.targets[OST].recovering(), "connected + evicted = recoverable, not yet looked at");
    w.step(now + 61_000);
    let r = w.targets[OST].recovery.clone().expect("recovery");
    assert_eq!((r.done_ms, r.evicted, r.replayed), (Some(now + 60_000), 1, 2), "{r:?}");
    // The last client's connect wakes the thread: at once.
    let (mut w, now) = restarted();
    let evict = format!("set_param obdfilter.{OST}.evict_client=uuid:uuid-c3");
    assert!(w.lctl("oss1", &args(&evict), now).is_ok());
    reconnect(&mut w, "c1", now + 1_000);
    assert!(w.targets[OST].recovering());
    reconnect(&mut w, "c2", now + 2_000);
    assert_eq!(w.targets[OST].recovery.as_ref().and_then(|r| r.done_ms), Some(now + 2_000));
}

#[test]
fn until_a_client_connects_the_target_waits_for_clients_with_no_timer() {
    let (mut w, now) = restarted();
    w.settings.pinger_s = 10_000;
    let read = |w: &mut World, at| {
        w.lctl("oss1", &args(&format!("get_param -n obdfilter.{OST}.recovery_status")), at).expect("status")
    };
    assert_eq!(read(&mut w, now + 500_000), "status: WAITING_FOR_CLIENTS\n");
    // Every recoverable client evicted: 0 connected + 3 evicted ≥ 3, seen at the next tick.
    for c in ["c1", "c2", "c3"] {
        let evict = format!("set_param obdfilter.{OST}.evict_client=uuid:uuid-{c}");
        assert!(w.lctl("oss1", &args(&evict), now + 500_000).is_ok());
    }
    assert_eq!(read(&mut w, now + 500_000), "status: WAITING_FOR_CLIENTS\n");
    w.step(now + 540_000);
    let r = w.targets[OST].recovery.clone().expect("recovery");
    assert!(r.done_ms == Some(now + 540_000) && r.evicted == 3 && !r.timed_out, "{r:?}");
    assert!(read(&mut w, now + 540_000).starts_with("status: COMPLETE\n"));
}

#[test]
fn recovery_stale_clients_exists_from_2_16() {
    let (mut w, now) = restarted();
    let stale = format!("get_param -n obdfilter.{OST}.recovery_stale_clients");
    assert_eq!(w.lctl("oss1", &args(&stale), now).ok().as_deref(), Some("uuid-c1\nuuid-c2\nuuid-c3\n"));
    w.settings.release = Release::V2_15;
    assert!(w.lctl("oss1", &args(&stale), now).is_err_and(|e| e.errno == ENOENT));
}

#[test]
fn the_timer_runs_from_the_first_connect() {
    let (mut w, now) = restarted();
    w.settings.pinger_s = 10_000;
    w.step(now + 1_000_000);
    assert!(w.targets[OST].recovering(), "no timer before a client connects");
    let later = now + 1_000_000;
    reconnect(&mut w, "c1", later);
    w.step(later + 149_000);
    assert!(w.targets[OST].recovering());
    w.step(later + 150_000);
    let r = w.targets[OST].recovery.clone().expect("recovery");
    assert!(r.timed_out && r.evicted == 2, "{r:?}");
}

#[test]
fn the_async_reconnect_skips_an_import_already_on_that_instance() {
    let (mut w, now) = restarted();
    reconnect(&mut w, "c1", now);
    let dev = w.devices("c1")[0].1.clone();
    let before = w.import("c1", OST).cloned().expect("import");
    reconnect(&mut w, "c1", now);
    assert_eq!(w.import("c1", OST).map(|i| i.state), Some(before.state));
    // An unknown UUID: the write succeeds and leaves an import in REPLAY as it is (only a FULL
    // one is disconnected first).
    let bad = w.lctl("c1", &args(&format!("set_param osc.{dev}.import=connection=10.9.9.9@tcp::3")), now);
    assert!(bad.is_ok());
    assert_eq!(w.import("c1", OST).map(|i| i.state), Some(before.state));
    let bad = w.lctl("c1", &args(&format!("--device {dev} recover 10.9.9.9@tcp")), now);
    assert!(bad.is_err_and(|e| e.errno == ENOENT));
}

#[test]
fn get_param_prints_names_unless_bare_and_globs_across_dots() {
    let (mut w, now) = restarted();
    reconnect(&mut w, "c1", now);
    let out = w.lctl("oss1", &args(&format!("get_param obdfilter.{OST}.exports.*.uuid")), now);
    assert_eq!(
        out.ok().as_deref(),
        Some(format!("obdfilter.{OST}.exports.10.0.1.1@tcp.uuid=uuid-c1\n").as_str())
    );
    let out = w.lctl("c1", &args("get_param osc.*.import"), now).expect("import");
    assert!(out.starts_with("osc.testfs-OST0000-osc-ffff") && out.contains(".import=\nimport:\n"), "{out}");
    assert!(w.lctl("c1", &args("get_param osc.nothing.import"), now).is_err_and(|e| e.errno == ENOENT));
}

#[test]
fn a_client_reads_its_mounts_uuid_as_its_targets_know_it() {
    let (mut w, now) = restarted();
    reconnect(&mut w, "c1", now);
    let own = w.lctl("c1", &args("get_param -n llite.*.uuid"), now).expect("llite uuid");
    assert_eq!(own, "uuid-c1\n");
    let dev = w.devices("c1")[0].1.clone();
    let osc = w.lctl("c1", &args(&format!("get_param -n osc.{dev}.uuid")), now).expect("osc uuid");
    assert_eq!(osc, own, "every device of the mount connects with the mount's UUID");
    let stale = w.lctl("oss1", &args(&format!("get_param -n obdfilter.{OST}.recovery_stale_clients")), now);
    assert!(stale.is_ok_and(|s| s.contains("uuid-c2") && !s.contains("uuid-c1")));
}

#[test]
fn get_param_prints_a_long_or_several_line_value_below_its_name() {
    let mut w = World::default();
    let now = 1_000_000;
    w.add_node("oss1", &["10.0.0.7@tcp"]);
    w.mount_target(OST, "oss1", now);
    // A client UUID as Lustre draws it (36 characters) with the name is 80 characters or more;
    // two mounts from one NID are a value of two lines; a short one fits on the name's line.
    let (uuid_a, uuid_b) = ("3f1c2b7a-9d4e-4b51-8a0e-5c2f6d7e8a91", "7e9d0a41-2222-4b51-8a0e-5c2f6d7e8a93");
    w.add_node("c1", &["10.0.1.1@tcp"]);
    w.mount_client("c1", uuid_a, &[(OST, &["10.0.0.7@tcp"])], now);
    w.add_node("c2", &["10.0.1.2@tcp"]);
    w.mount_client("c2", "u2a", &[(OST, &["10.0.0.7@tcp"])], now);
    w.mount_client("c2", "u2b", &[(OST, &["10.0.0.7@tcp"])], now);
    w.add_node("c3", &["10.0.1.3@tcp"]);
    w.mount_client("c3", "u3", &[(OST, &["10.0.0.7@tcp"])], now);
    w.add_node("c4", &["10.0.1.4@tcp"]);
    w.mount_client("c4", uuid_b, &[(OST, &["10.0.0.7@tcp"])], now);
    let out = w.lctl("oss1", &args(&format!("get_param obdfilter.{OST}.exports.*.uuid")), now);
    let head = format!("obdfilter.{OST}.exports");
    assert_eq!(
        out.ok(),
        Some(format!(
            "{head}.10.0.1.1@tcp.uuid=\n{uuid_a}\n{head}.10.0.1.2@tcp.uuid=\nu2a\nu2b\n\
             {head}.10.0.1.3@tcp.uuid=u3\n{head}.10.0.1.4@tcp.uuid=\n{uuid_b}\n"
        ))
    );
    let bare = w.lctl("oss1", &args(&format!("get_param -n obdfilter.{OST}.exports.*.uuid")), now);
    assert_eq!(bare.ok(), Some(format!("{uuid_a}\nu2a\nu2b\nu3\n{uuid_b}\n")));
    // An empty file prints nothing, not even its name: no client is stale before a restart.
    let stale = w.lctl("oss1", &args(&format!("get_param obdfilter.{OST}.recovery_stale_clients")), now);
    assert_eq!(stale.ok().as_deref(), Some(""));
}

/// A server with two NIDs, the first (its connection UUID) on o2ib; a client reaching it
/// through the second, so that `failover_nids` shows a NID that is not the UUID.
fn two_nid_server(release: Release) -> (World, String, u64) {
    let mut w = World { settings: Settings { release, ..Settings::default() }, ..World::default() };
    let now = 1_000_000;
    w.add_node("oss1", &["10.0.0.7@o2ib", "10.0.2.7@tcp"]);
    w.add_node("oss2", &["10.0.0.8@o2ib"]);
    w.mount_target(OST, "oss1", now);
    w.add_node("c1", &["10.0.1.1@tcp"]);
    w.mount_client("c1", "uuid-c1", &[(OST, &["10.0.2.7@tcp", "10.0.0.8@o2ib"])], now);
    w.write("c1", OST, 1);
    let dev = w.devices("c1")[0].1.clone();
    (w, dev, now)
}

#[test]
fn the_import_file_quotes_its_nids_from_2_16_and_shows_the_instance_under_connect_data() {
    for release in [Release::V2_15, Release::V2_16, Release::V2_17] {
        let (mut w, dev, now) = two_nid_server(release);
        let text = w.lctl("c1", &args(&format!("get_param -n osc.{dev}.import")), now).expect("import");
        assert!(
            text.contains("    connect_data:\n       flags: ") && text.contains("\n       instance: 1\n")
        );
        assert!(!text.contains("\n    instance:"), "never at 4 spaces: {text}");
        if release == Release::V2_15 {
            assert!(text.contains("failover_nids: [ 10.0.2.7@tcp, 10.0.0.8@o2ib ]\n"), "{text}");
            assert!(text.contains("current_connection: 10.0.2.7@tcp\n") && !text.contains("nids_stats"));
        } else {
            assert!(text.contains("failover_nids: [ \"10.0.2.7@tcp\", \"10.0.0.8@o2ib\" ]\n"), "{text}");
            assert!(
                text.contains("       nids_stats:\n          \"10.0.2.7@tcp\": { connects: 1,"),
                "{text}"
            );
            assert!(text.contains("current_connection: \"10.0.2.7@tcp\"\n"), "{text}");
        }
        // conn_uuid (and its old name) is the server's first NID, not the NID in use.
        for file in ["conn_uuid", "ost_conn_uuid"] {
            let uuid = w.lctl("c1", &args(&format!("get_param -n osc.{dev}.{file}")), now);
            assert_eq!(uuid.ok().as_deref(), Some("10.0.0.7@o2ib\n"));
        }
    }
}

#[test]
fn the_connection_write_matches_only_a_connection_uuid_else_leaves_the_import_disconnected() {
    for release in [Release::V2_15, Release::V2_16] {
        let (mut w, dev, now) = two_nid_server(release);
        w.crash("oss1");
        w.nodes.get_mut("oss1").expect("oss1").up = true;
        w.mount_target(OST, "oss1", now);
        let write = |w: &mut World, conn: &str| {
            w.lctl("c1", &args(&format!("set_param osc.{dev}.import=connection={conn}::2")), now)
        };
        // The NID in use is no connection UUID: a FULL import is disconnected first, then
        // nothing; the write succeeds all the same, and the import waits for its next ping.
        assert!(write(&mut w, "10.0.2.7@tcp").is_ok());
        assert_eq!(w.import("c1", OST).map(|i| i.state), Some(ImportState::Disconn));
        w.step(now + 24_000);
        assert_eq!(w.import("c1", OST).map(|i| i.state), Some(ImportState::Disconn), "until its next ping");
        // No '@': EINVAL from 2.16 (LU-10391); 2.15 takes it as an unknown UUID.
        let bare = write(&mut w, "oss1_UUID");
        if release == Release::V2_15 {
            assert!(bare.is_ok());
        } else {
            assert!(bare.is_err_and(|e| e.errno == super::lctl::EINVAL));
        }
        assert!(write(&mut w, "10.0.0.7@o2ib").is_ok());
        let i = w.import("c1", OST).cloned().expect("import");
        // Its only recoverable client is back: the recovery completes at once.
        assert_eq!((i.state, i.instance, i.current_nid()), (ImportState::Full, 2, "10.0.2.7@tcp"));
    }
}

#[test]
fn the_connection_write_moves_a_connecting_import_only_to_its_next_attempt() {
    let (mut w, dev, now) = two_nid_server(Release::V2_16);
    // The target fails over to oss2; the import is trying oss1 again when the write comes.
    w.crash("oss1");
    w.mount_target(OST, "oss2", now);
    w.nodes.get_mut("c1").expect("c1").mounts[0].imports[0].state = ImportState::Connecting;
    w.nodes.get_mut("c1").expect("c1").mounts[0].imports[0].since_ms = now;
    let out = w.lctl("c1", &args(&format!("set_param osc.{dev}.import=connection=10.0.0.8@o2ib::2")), now);
    assert!(out.is_ok());
    assert_eq!(w.import("c1", OST).map(|i| (i.state, i.current)), Some((ImportState::Connecting, 0)));
    // The connect in flight times out first; the next attempt goes to the connection written.
    w.step(now + 5_000);
    let i = w.import("c1", OST).cloned().expect("import");
    assert_eq!((i.state, i.instance, i.current_uuid()), (ImportState::Full, 2, "10.0.0.8@o2ib"));
}

#[test]
fn an_idle_osc_import_is_no_recoverable_client_and_the_write_leaves_it_idle() {
    let (mut w, dev, now) = restarted_before_crash();
    w.commit("c3", OST, now);
    w.step(now + 19_000);
    assert_eq!(w.import("c3", OST).map(|i| i.state), Some(ImportState::Full));
    w.step(now + 20_000);
    assert_eq!(w.import("c3", OST).map(|i| i.state), Some(ImportState::Idle));
    assert_eq!(w.import("c1", OST).map(|i| i.state), Some(ImportState::Full), "c1 has requests to replay");
    assert!(!w.targets[OST].exports.contains_key("uuid-c3"), "tgt_client_del");
    let later = now + 20_000;
    w.crash("oss1");
    w.nodes.get_mut("oss1").expect("oss1").up = true;
    w.mount_target(OST, "oss1", later);
    assert_eq!(w.targets[OST].recovery.as_ref().map(|r| r.recoverable), Some(2));
    let out = w.lctl("c3", &args(&format!("set_param osc.{dev}.import=connection=10.0.0.7@tcp::2")), later);
    assert!(out.is_ok());
    assert_eq!(w.import("c3", OST).map(|i| (i.state, i.instance)), Some((ImportState::Idle, 1)));
    let status = w.lctl("oss1", &args(&format!("get_param -n obdfilter.{OST}.import")), later);
    assert!(status.is_err());
    let text = w.lctl("c3", &args(&format!("get_param -n osc.{dev}.import")), later).expect("import");
    assert!(text.contains("    state: IDLE\n"), "{text}");
}

/// Three clients connected with a request each, before any crash; `c3`'s device name.
fn restarted_before_crash() -> (World, String, u64) {
    let (w, now) = three_clients_with_a_request_each();
    let dev = w.devices("c3")[0].1.clone();
    (w, dev, now)
}
