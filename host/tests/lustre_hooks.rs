//! The Lustre hooks of `contrib/lustre/` against a fake `lctl` on PATH that records every call and
//! answers `lctl dl` and `lctl get_param -n` from canned fixtures: the exact command lines the
//! hooks run. How they behave against Lustre's recovery is tested on the Lustre model, with the
//! real daemons (`tests/tests/lustre.rs`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// The fake: logs its arguments (one call a line), prints `dl`, serves `param/<name>` (or
/// `param/<name>.<n>` on the n-th read, counting from 1, when that exists), and fails the
/// `--device` calls listed in `fail`.
const FAKE_LCTL: &str = r#"#!/bin/sh
d=$FAKE_LCTL_DIR
printf '%s\n' "$*" >>"$d/log"
case $1 in
  dl) cat "$d/dl" ;;
  get_param)
    [ "$2" = -n ] || exit 22
    n=$(($(cat "$d/reads.$3" 2>/dev/null || echo 0) + 1))
    echo "$n" >"$d/reads.$3"
    for f in "$d/param/$3.$n" "$d/param/$3"; do
      [ -f "$f" ] && exec cat "$f"
    done
    echo "error: get_param: param_path '$3': No such file or directory" >&2
    exit 2 ;;
  --device | set_param)
    if [ -f "$d/fail" ] && grep -qxF -- "$*" "$d/fail"; then
      echo "error: $3: Input/output error" >&2
      exit 5
    fi ;;
  *) exit 22 ;;
esac
"#;

/// `lctl dl` of a client with testfs mounted twice, and of the MDT side of an MDS (osp, lwp),
/// plus a target whose name has testfs-OST0001 as a prefix.
const DL: &str = "  0 UP mgc MGC10.0.0.1@o2ib 4b8c1d2e-61a3-7fd4-2e8b-5c3a1a7d0c11 5
  1 UP lov testfs-clilov-ffff8f1a2b3c4000 9d3a0b2a-6c0a-11ef-9a41-525400a1b2c3 4
  2 UP lmv testfs-clilmv-ffff8f1a2b3c4000 9d3a0b2a-6c0a-11ef-9a41-525400a1b2c3 4
  3 UP mdc testfs-MDT0000-mdc-ffff8f1a2b3c4000 9d3a0b2a-6c0a-11ef-9a41-525400a1b2c3 4
  4 UP osc testfs-OST0001-osc-ffff8f1a2b3c4000 9d3a0b2a-6c0a-11ef-9a41-525400a1b2c3 4
  5 UP osc testfs-OST00010-osc-ffff8f1a2b3c4000 9d3a0b2a-6c0a-11ef-9a41-525400a1b2c3 4
  6 UP osc testfs-OST0001-osc-ffff8f1a2b3c8000 1f0e2d3c-6c0a-11ef-9a41-525400a1b2c3 4
  7 UP osp testfs-OST0001-osc-MDT0000 testfs-MDT0000-mdtlov_UUID 4
  8 UP lwp testfs-MDT0000-lwp-OST0001 testfs-MDT0000-lwp-OST0001_UUID 4
  9 UP osp testfs-MDT0001-osp-MDT0000 testfs-MDT0000-mdtlov_UUID 4
";

/// An import file as `lprocfs_import_seq_show_locked` prints it (a 2.16 client's, up to
/// `idle:`): `instance:` under `connect_data:`, the NIDs quoted (LU-10391) and `nids_stats:`.
/// The client reaches the target's server through its second NID, 10.0.1.7@o2ib, not its
/// first, 10.0.0.7@o2ib, which names the connection.
fn import(name: &str, state: &str, instance: u32) -> String {
    format!(
        "import:\n    name: {name}\n    target: testfs-OST0001_UUID\n    state: {state}\n    \
         connect_flags: [ write_grant, server_lock, version, request_portal, truncate_lock, \
         max_byte_per_rpc, early_lock_cancel, adaptive_timeouts, lru_resize, fid_is_enabled, \
         version_recovery, full20, layout_lock, 64bithash, object_max_bytes, jobstats, einprogress, \
         lvb_type, short_io, lfsck, bulk_mbits, second_flags, lockaheadv2, increasing_xid, \
         client_encryption, lseek, reply_mbits ]\n    \
         connect_data:\n       flags: 0xa0425af2e3440478\n       instance: {instance}\n       \
         target_version: 2.16.0.0\n       initial_grant: 8437760\n       max_brw_size: 4194304\n       \
         grant_block_size: 4096\n       grant_inode_size: 32\n       grant_max_extent_size: 67108864\n       \
         grant_extent_tax: 24576\n       cksum_types: 0xf7\n       max_object_bytes: 17592186040320\n    \
         import_flags: [ replayable, pingable, connect_tried ]\n    connection:\n       \
         failover_nids: [ \"10.0.1.7@o2ib\", \"10.0.1.8@o2ib\" ]\n       nids_stats:\n          \
         \"10.0.1.7@o2ib\": {{ connects: 1, replied: 1, uptodate: true, sec_ago: 12 }}\n          \
         \"10.0.1.8@o2ib\": {{ connects: 0, replied: 0, uptodate: false, sec_ago: never }}\n       \
         current_connection: \"10.0.1.7@o2ib\"\n       connection_attempts: 1\n       generation: 1\n       \
         in-progress_invalidations: 0\n       idle: 12 sec\n"
    )
}

/// The same import as a 2.15 client prints it: the NIDs bare, no `nids_stats:`.
fn import_2_15(name: &str, state: &str, instance: u32) -> String {
    let text = import(name, state, instance).replace('"', "").replace("2.16.0.0", "2.15.6.0");
    let (head, rest) = text.split_once("       nids_stats:\n").expect("nids_stats");
    let tail = &rest[rest.find("       current_connection:").expect("current_connection")..];
    format!("{head}{tail}")
}

fn recovery_status(status: &str, req_replay: u32, lock_replay: u32) -> String {
    recovering(status, 8, 10, 0, req_replay, lock_replay)
}

/// `lprocfs_recovery_status_seq_show` while recovering: `connected`/`recoverable`, `evicted`;
/// no VBR or IR line (those come only once complete).
fn recovering(status: &str, connected: u32, recoverable: u32, evicted: u32, req: u32, lock: u32) -> String {
    format!(
        "status: {status}\nrecovery_start: 1700000000\ntime_remaining: 120\n\
         connected_clients: {connected}/{recoverable}\nreq_replay_clients: {req}\nlock_repay_clients: {lock}\n\
         completed_clients: {}\nevicted_clients: {evicted}\nreplayed_requests: 0\nqueued_requests: 0\n\
         next_transno: 4294967296\n",
        connected - lock
    )
}

const CLIENT_HOOK: &str = "vigil-lustre-reconnect";
const SERVER_HOOK: &str = "vigil-lustre-close-window";

/// A fake lctl in a fresh directory.
struct Fake {
    dir: PathBuf,
}

impl Fake {
    fn new() -> Fake {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "vigil-lctl-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        std::fs::create_dir_all(dir.join("param")).unwrap();
        let lctl = dir.join("bin/lctl");
        std::fs::write(&lctl, FAKE_LCTL).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&lctl, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(dir.join("dl"), DL).unwrap();
        Fake { dir }
    }

    fn param(&self, name: &str, text: &str) -> &Fake {
        std::fs::write(self.dir.join("param").join(name), text).unwrap();
        self
    }

    fn fail(&self, call: &str) -> &Fake {
        let path = self.dir.join("fail");
        let mut calls = std::fs::read_to_string(&path).unwrap_or_default();
        calls.push_str(call);
        calls.push('\n');
        std::fs::write(path, calls).unwrap();
        self
    }

    /// Runs `hook` with `env`; its exit code and the lctl calls it made.
    fn run(&self, hook: &str, env: &[(&str, &str)]) -> (i32, Vec<String>) {
        let (code, calls, _) = self.run_logged(hook, env);
        (code, calls)
    }

    /// Runs `hook` with `env`; its exit code, the lctl calls it made and what it logged.
    fn run_logged(&self, hook: &str, env: &[(&str, &str)]) -> (i32, Vec<String>, String) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/lustre").join(hook);
        let path = format!("{}:/usr/bin:/bin", self.dir.join("bin").display());
        let out = Command::new("sh")
            .arg(&script)
            .env_clear()
            .env("PATH", path)
            .env("FAKE_LCTL_DIR", &self.dir)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let log = std::fs::read_to_string(self.dir.join("log")).unwrap_or_default();
        let calls = log.lines().map(str::to_owned).collect();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        eprintln!("{hook}: {stderr}");
        (out.status.code().expect("exited"), calls, stderr)
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const OSC_A: &str = "testfs-OST0001-osc-ffff8f1a2b3c4000";
const OSC_B: &str = "testfs-OST0001-osc-ffff8f1a2b3c8000";

fn begin(target: &'static str, addrs: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("VIGIL_ORDER_ID", "5f0e2c1a:3/17"),
        ("VIGIL_ORDER_KIND", "begin_recovery"),
        ("VIGIL_TARGET", target),
        ("VIGIL_TARGET_GENERATION", "9"),
        ("VIGIL_TARGET_ADDRS", addrs),
    ]
}

/// The lctl calls that write to device `dev` (type `kind`): its import read, the UUID of its
/// current connection read from `uuid_files` (all but the last absent), the write.
fn write_to(kind: &str, dev: &str, uuid_files: &[&str], value: &str) -> Vec<String> {
    let mut calls = vec![format!("get_param -n {kind}.{dev}.import")];
    calls.extend(uuid_files.iter().map(|f| format!("get_param -n {kind}.{dev}.{f}")));
    calls.push(format!("set_param {kind}.{dev}.import=connection={value}"));
    calls
}

fn read(kind: &str, dev: &str) -> String {
    format!("get_param -n {kind}.{dev}.import")
}

#[test]
fn client_hook_writes_every_import_of_the_target_first_then_awaits_them_together() {
    for import in [import, import_2_15] {
        let fake = Fake::new();
        fake.param(&format!("osc.{OSC_A}.import"), &import(OSC_A, "REPLAY", 9))
            .param(&format!("osc.{OSC_A}.conn_uuid"), "10.0.0.7@o2ib\n")
            .param(&format!("osc.{OSC_B}.import"), &import(OSC_B, "REPLAY_LOCKS", 9))
            .param(&format!("osc.{OSC_B}.conn_uuid"), "10.0.0.7@o2ib\n");
        let (code, calls) = fake.run(CLIENT_HOOK, &begin("testfs-OST0001", "10.0.0.7@o2ib,10.0.1.7@o2ib"));
        assert_eq!(code, 0, "REPLAY and REPLAY_LOCKS on the new instance are connected");
        let mut expected = vec!["dl".to_owned()];
        expected.extend(write_to("osc", OSC_A, &["conn_uuid"], "10.0.0.7@o2ib::9"));
        expected.extend(write_to("osc", OSC_B, &["conn_uuid"], "10.0.0.7@o2ib::9"));
        expected.extend([read("osc", OSC_A), read("osc", OSC_B)]);
        assert_eq!(
            calls, expected,
            "both mounts, not OST00010, not the MDT's osp; the connection UUID, never the NID \
             in use (10.0.1.7@o2ib); never `recover`"
        );
    }
}

#[test]
fn client_hook_reconnects_an_mdt_through_its_mdc_and_osp_when_asked() {
    let fake = Fake::new();
    let mdc = "testfs-MDT0000-mdc-ffff8f1a2b3c4000";
    fake.param(&format!("mdc.{mdc}.import"), &import(mdc, "FULL", 9))
        .param(&format!("mdc.{mdc}.conn_uuid"), "10.0.0.7@o2ib\n");
    let (code, calls) = fake.run(CLIENT_HOOK, &begin("testfs-MDT0000", "10.0.0.7@o2ib"));
    assert_eq!(code, 0);
    let mut expected = vec!["dl".to_owned()];
    expected.extend(write_to("mdc", mdc, &["conn_uuid"], "10.0.0.7@o2ib::9"));
    expected.push(read("mdc", mdc));
    assert_eq!(calls, expected);

    // An MDT's osp device of an OST ("-osc-", ost_conn_uuid) and of another MDT ("-osp-",
    // mdt_conn_uuid, name_create_osp): osp has no conn_uuid.
    for (target, osp, tried) in [
        ("testfs-OST0001", "testfs-OST0001-osc-MDT0000", &["conn_uuid", "ost_conn_uuid"][..]),
        (
            "testfs-MDT0001",
            "testfs-MDT0001-osp-MDT0000",
            &["conn_uuid", "ost_conn_uuid", "mdt_conn_uuid"][..],
        ),
    ] {
        let fake = Fake::new();
        fake.param(&format!("osp.{osp}.import"), &import(osp, "FULL", 9))
            .param(&format!("osp.{osp}.{}", tried[tried.len() - 1]), "10.0.0.7@o2ib\n");
        let mut env = begin(target, "");
        env.push(("VIGIL_LUSTRE_TYPES", "osp"));
        let (code, calls) = fake.run(CLIENT_HOOK, &env);
        assert_eq!(code, 0);
        let mut expected = vec!["dl".to_owned()];
        expected.extend(write_to("osp", osp, tried, "10.0.0.7@o2ib::9"));
        expected.push(read("osp", osp));
        assert_eq!(calls, expected, "no NID given: the import's current connection UUID");
    }
}

#[test]
fn client_hook_writes_the_current_uuid_on_a_restart_and_the_first_addr_on_a_failover() {
    let fake = Fake::new();
    fake.param(&format!("osc.{OSC_A}.import"), &import(OSC_A, "FULL", 9))
        .param(&format!("osc.{OSC_A}.conn_uuid"), "10.0.0.7@o2ib\n")
        .param(&format!("osc.{OSC_B}.import"), &import(OSC_B, "FULL", 9))
        .param(&format!("osc.{OSC_B}.conn_uuid"), "10.0.0.7@o2ib\n");
    let mut env = begin("testfs-OST0001", "10.0.1.7@o2ib,10.0.0.7@o2ib");
    env[3] = ("VIGIL_TARGET_GENERATION", "0");
    let (code, calls) = fake.run(CLIENT_HOOK, &env);
    assert_eq!(code, 0);
    let mut expected = vec!["dl".to_owned()];
    expected.extend(write_to("osc", OSC_A, &["conn_uuid"], "10.0.0.7@o2ib"));
    expected.extend(write_to("osc", OSC_B, &["conn_uuid"], "10.0.0.7@o2ib"));
    expected.extend([read("osc", OSC_A), read("osc", OSC_B)]);
    assert_eq!(calls, expected, "the server's addresses list the current UUID: a restart; instance 0: any");

    let fake = Fake::new();
    fake.param(&format!("osc.{OSC_A}.import"), &import(OSC_A, "FULL", 8))
        .param(&format!("osc.{OSC_A}.conn_uuid"), "10.0.0.7@o2ib\n")
        .param(&format!("osc.{OSC_A}.import.2"), &import(OSC_A, "REPLAY", 9))
        .param(&format!("osc.{OSC_B}.import"), &import(OSC_B, "FULL", 9))
        .param(&format!("osc.{OSC_B}.conn_uuid"), "10.0.0.7@o2ib\n");
    let (code, calls) = fake.run(CLIENT_HOOK, &begin("testfs-OST0001", "10.0.0.8@o2ib,10.0.1.8@o2ib"));
    assert_eq!(code, 0);
    assert!(
        calls.contains(&format!("set_param osc.{OSC_A}.import=connection=10.0.0.8@o2ib::9")),
        "a failover: the new server's first NID is its connection UUID: {calls:?}"
    );
}

#[test]
fn client_hook_leaves_an_idle_import_alone() {
    let fake = Fake::new();
    fake.param(&format!("osc.{OSC_A}.import"), &import(OSC_A, "IDLE", 8))
        .param(&format!("osc.{OSC_B}.import"), &import(OSC_B, "REPLAY", 9))
        .param(&format!("osc.{OSC_B}.conn_uuid"), "10.0.0.7@o2ib\n");
    let (code, calls, log) = fake.run_logged(CLIENT_HOOK, &begin("testfs-OST0001", "10.0.0.7@o2ib"));
    assert_eq!(code, 0, "an idle import is no recoverable client: nothing to recover");
    let mut expected = vec!["dl".to_owned(), read("osc", OSC_A)];
    expected.extend(write_to("osc", OSC_B, &["conn_uuid"], "10.0.0.7@o2ib::9"));
    expected.push(read("osc", OSC_B));
    assert_eq!(calls, expected, "no write to the idle import");
    assert!(log.contains(&format!("{OSC_A} idle: nothing to recover")), "{log}");
}

#[test]
fn client_hook_fails_on_an_import_that_stays_down_or_is_evicted_but_tries_the_others() {
    let fake = Fake::new();
    fake.param(&format!("osc.{OSC_A}.import"), &import(OSC_A, "CONNECTING", 8))
        .param(&format!("osc.{OSC_A}.conn_uuid"), "10.0.0.7@o2ib\n")
        .param(&format!("osc.{OSC_B}.import"), &import(OSC_B, "EVICTED", 9))
        .param(&format!("osc.{OSC_B}.conn_uuid"), "10.0.0.7@o2ib\n");
    let mut env = begin("testfs-OST0001", "");
    env.push(("VIGIL_LUSTRE_WAIT_S", "1"));
    let (code, calls) = fake.run(CLIENT_HOOK, &env);
    assert_eq!(code, 1);
    let mut expected = vec!["dl".to_owned()];
    expected.extend(write_to("osc", OSC_A, &["conn_uuid"], "10.0.0.7@o2ib::9"));
    expected.extend(write_to("osc", OSC_B, &["conn_uuid"], "10.0.0.7@o2ib::9"));
    expected.extend([read("osc", OSC_A), read("osc", OSC_B), read("osc", OSC_A)]);
    assert_eq!(calls, expected, "polled once a second for VIGIL_LUSTRE_WAIT_S; an eviction ends the wait");

    let fake = Fake::new();
    fake.param(&format!("osc.{OSC_A}.import"), &import(OSC_A, "FULL", 8))
        .param(&format!("osc.{OSC_A}.conn_uuid"), "10.0.0.7@o2ib\n")
        .param(&format!("osc.{OSC_B}.import"), &import(OSC_B, "FULL", 9))
        .param(&format!("osc.{OSC_B}.conn_uuid"), "10.0.0.7@o2ib\n")
        .fail(&format!("set_param osc.{OSC_A}.import=connection=10.0.0.7@o2ib::9"));
    let (code, calls) = fake.run(CLIENT_HOOK, &begin("testfs-OST0001", ""));
    assert_eq!(code, 1, "a refused write fails the order");
    assert_eq!(calls.len(), 1 + 3 + 3 + 1, "the refused device is not polled; the other one is reconnected");
}

#[test]
fn client_hook_names_an_unknown_connection_uuid_instead_of_waiting_out_its_time() {
    let fake = Fake::new();
    fake.param(&format!("osc.{OSC_A}.import"), &import(OSC_A, "FULL", 8))
        .param(&format!("osc.{OSC_A}.conn_uuid"), "10.0.0.7@o2ib\n");
    for n in 2..=25 {
        fake.param(&format!("osc.{OSC_A}.import.{n}"), &import(OSC_A, "DISCONN", 8));
    }
    let mut env = begin("testfs-OST0001", "10.0.0.9@o2ib");
    env.push(("VIGIL_LUSTRE_TYPES", "osc"));
    let (code, calls, log) = fake.run_logged(CLIENT_HOOK, &env);
    assert_eq!(code, 1);
    let reads = calls.iter().filter(|c| **c == read("osc", OSC_A)).count();
    assert_eq!(reads, 1 + 3, "judged 2 s after the write, not after VIGIL_LUSTRE_WAIT_S (20 s): {calls:?}");
    assert!(log.contains("connection UUID not known to the import"), "{log}");
}

#[test]
fn client_hook_waits_for_the_new_instance() {
    let fake = Fake::new();
    let a = format!("osc.{OSC_A}.import");
    fake.param(&a, &import(OSC_A, "FULL", 8))
        .param(&format!("{a}.2"), &import(OSC_A, "FULL", 8))
        .param(&format!("{a}.3"), &import(OSC_A, "CONNECTING", 8))
        .param(&format!("{a}.4"), &import(OSC_A, "REPLAY", 9))
        .param(&format!("osc.{OSC_A}.conn_uuid"), "10.0.0.7@o2ib\n")
        .param(&format!("osc.{OSC_B}.import"), &import(OSC_B, "FULL", 9))
        .param(&format!("osc.{OSC_B}.conn_uuid"), "10.0.0.7@o2ib\n");
    let (code, calls) = fake.run(CLIENT_HOOK, &begin("testfs-OST0001", "10.0.0.7@o2ib"));
    assert_eq!(code, 0);
    assert_eq!(calls.iter().filter(|c| c.contains(OSC_A) && c.ends_with(".import")).count(), 4);
}

#[test]
fn client_hook_edge_cases_have_clear_exit_codes() {
    let fake = Fake::new();
    let (code, calls) = fake.run(CLIENT_HOOK, &begin("testfs-OST0002", "10.0.0.8@o2ib"));
    assert_eq!((code, calls), (0, vec!["dl".to_owned()]), "no import of the target: nothing to do");

    let mut env = begin("testfs-OST0001", "");
    env[1] = ("VIGIL_ORDER_KIND", "close_window");
    let (code, calls) = Fake::new().run(CLIENT_HOOK, &env);
    assert_eq!((code, calls.len()), (0, 0), "not a client order");

    let (code, calls) = Fake::new().run(CLIENT_HOOK, &begin("", ""));
    assert_eq!((code, calls.len()), (2, 0), "no target");
    let (code, _) = Fake::new().run(CLIENT_HOOK, &begin("testfs-OST0001;reboot", ""));
    assert_eq!(code, 2, "not a target name");
    let mut env = begin("testfs-OST0001", "");
    env[3] = ("VIGIL_TARGET_GENERATION", "9;reboot");
    assert_eq!(Fake::new().run(CLIENT_HOOK, &env).0, 2, "not an instance");

    let mut env = begin("testfs-OST0001", "");
    env.push(("LCTL", "/nonexistent/lctl"));
    assert_eq!(Fake::new().run(CLIENT_HOOK, &env).0, 3, "no lctl");

    // An import whose connection UUID cannot be read, and no address to use instead.
    let fake = Fake::new();
    fake.param(&format!("osc.{OSC_A}.import"), &import(OSC_A, "FULL", 8));
    let mut env = begin("testfs-OST0001", "");
    env.push(("VIGIL_LUSTRE_TYPES", "osc"));
    let (code, calls) = fake.run(CLIENT_HOOK, &env);
    assert_eq!(code, 1);
    assert!(calls.iter().all(|c| !c.starts_with("set_param")), "{calls:?}");
}

fn close(target: &'static str, policy: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("VIGIL_ORDER_ID", "5f0e2c1a:3/18"),
        ("VIGIL_ORDER_KIND", "close_window"),
        ("VIGIL_TARGET", target),
        ("VIGIL_TARGET_GENERATION", "9"),
        ("VIGIL_TARGET_ADDRS", ""),
        ("VIGIL_LUSTRE_CLOSE", policy),
        ("VIGIL_LUSTRE_WAIT_S", "1"),
    ]
}

const OST_STATUS: &str = "obdfilter.testfs-OST0001.recovery_status";

/// The close hook's read of testfs-OST0001's `recovery_status`.
fn read_status() -> String {
    format!("get_param -n {OST_STATUS}")
}

/// The close hook's eviction of the client `uuid` from testfs-OST0001.
fn evict(uuid: &str) -> String {
    format!("set_param obdfilter.testfs-OST0001.evict_client=uuid:{uuid}")
}

#[test]
fn server_hook_aborts_only_a_recovery_that_waits_for_absent_clients() {
    let read = read_status();
    let abort = "--device testfs-OST0001 abort_recovery";
    // An OST of 2.16 or later: lctl fails (ofd_iocontrol's EINVAL) although the abort ended
    // the recovery, which the status read again tells.
    let fake = Fake::new();
    fake.param(OST_STATUS, &recovery_status("RECOVERING", 0, 0))
        .param(&format!("{OST_STATUS}.2"), &recovery_status("COMPLETE", 0, 0))
        .fail(abort);
    let (code, calls) = fake.run(SERVER_HOOK, &close("testfs-OST0001", "abort"));
    assert_eq!(code, 0);
    assert_eq!(calls, [read.clone(), abort.into(), read.clone()]);

    let fake = Fake::new();
    fake.param(OST_STATUS, &recovery_status("RECOVERING", 2, 0))
        .param(&format!("{OST_STATUS}.2"), &recovery_status("RECOVERING", 0, 1));
    let (code, calls) = fake.run(SERVER_HOOK, &close("testfs-OST0001", "abort"));
    assert_eq!(code, 1, "replays never drained");
    assert_eq!(calls, [read.clone(), read.clone()]);

    let fake = Fake::new();
    fake.param(OST_STATUS, &recovery_status("RECOVERING", 2, 0))
        .param(&format!("{OST_STATUS}.2"), &recovery_status("RECOVERING", 0, 0))
        .param(&format!("{OST_STATUS}.3"), &recovery_status("COMPLETE", 0, 0));
    let (code, calls) = fake.run(SERVER_HOOK, &close("testfs-OST0001", "abort"));
    assert_eq!(code, 0, "aborted once the replays drained");
    assert_eq!(calls, [read.clone(), read.clone(), abort.into(), read.clone()]);

    // Nobody connected yet: nothing to lose.
    let fake = Fake::new();
    fake.param(OST_STATUS, "status: WAITING_FOR_CLIENTS\n")
        .param(&format!("{OST_STATUS}.2"), &recovery_status("COMPLETE", 0, 0));
    let (code, calls) = fake.run(SERVER_HOOK, &close("testfs-OST0001", "abort"));
    assert_eq!((code, calls), (0, vec![read.clone(), abort.into(), read]));

    // The abort did not end it, whatever lctl said.
    let mdt = "mdt.testfs-MDT0000.recovery_status";
    let fake = Fake::new();
    fake.param(mdt, &recovery_status("RECOVERING", 0, 0));
    let (code, calls) = fake.run(SERVER_HOOK, &close("testfs-MDT0000", "abort"));
    assert_eq!(code, 1, "still recovering after abort_recovery");
    let read = format!("get_param -n {mdt}");
    assert_eq!(calls, [read.clone(), "--device testfs-MDT0000 abort_recovery".into(), read]);
}

#[test]
fn server_hook_evicts_by_default_exactly_the_stale_clients_vigil_holds_dead() {
    let stale_param = "obdfilter.testfs-OST0001.recovery_stale_clients";
    let read = read_status();
    let fake = Fake::new();
    let exports = fake.dir.join("exports");
    std::fs::write(&exports, "u-dead 10.0.1.6@tcp\nu-live 10.0.1.1@tcp\nu-noagent 10.0.1.7@tcp\n").unwrap();
    let exports = exports.display().to_string();
    let mut env = close("testfs-OST0001", "");
    env.retain(|(k, _)| *k != "VIGIL_LUSTRE_CLOSE");
    env.extend([
        ("VIGIL_DEAD_CLIENTS", "c06"),
        ("VIGIL_DEAD_NIDS", "10.0.1.6@tcp"),
        ("VIGIL_LUSTRE_EXPORTS", exports.as_str()),
    ]);
    fake.param(OST_STATUS, &recovery_status("RECOVERING", 2, 2))
        .param(stale_param, "u-dead\nu-noagent\nu-gone\n");
    let (code, calls) = fake.run(SERVER_HOOK, &env);
    assert_eq!(code, 1, "partial: two stale clients Vigil does not hold dead");
    assert_eq!(
        calls,
        [read.clone(), format!("get_param -n {stale_param}"), evict("u-dead"), read.clone()],
        "never the client without an agent, nor one absent from the snapshot"
    );

    let fake = Fake::new();
    let exports_file = fake.dir.join("exports");
    std::fs::write(&exports_file, "u-dead 10.0.1.6@tcp\n").unwrap();
    fake.param(OST_STATUS, &recovery_status("RECOVERING", 2, 2))
        .param(&format!("{OST_STATUS}.2"), &recovery_status("COMPLETE", 0, 0))
        .param(stale_param, "u-dead\n");
    let exports = exports_file.display().to_string();
    let mut env = env.clone();
    env.retain(|(k, _)| *k != "VIGIL_LUSTRE_EXPORTS");
    env.push(("VIGIL_LUSTRE_EXPORTS", exports.as_str()));
    let (code, calls) = fake.run(SERVER_HOOK, &env);
    assert_eq!(code, 0, "the only stale client was dead: Lustre's recovery went on");
    assert_eq!(calls, [read.clone(), format!("get_param -n {stale_param}"), evict("u-dead"), read]);
}

#[test]
fn server_hook_evicts_the_mounts_dead_clients_reported_without_a_client_map() {
    let stale_param = "obdfilter.testfs-OST0001.recovery_stale_clients";
    let read = read_status();
    let fake = Fake::new();
    fake.param(OST_STATUS, &recovery_status("RECOVERING", 2, 2))
        .param(&format!("{OST_STATUS}.2"), &recovery_status("COMPLETE", 0, 0))
        .param(stale_param, "u-dead-a\nu-dead-b\n");
    let mut env = close("testfs-OST0001", "");
    env.retain(|(k, _)| *k != "VIGIL_LUSTRE_CLOSE");
    env.push(("VIGIL_DEAD_UUIDS", "u-dead-a,u-dead-b,u-elsewhere"));
    let (code, calls) = fake.run(SERVER_HOOK, &env);
    assert_eq!(code, 0, "both stale clients were dead clients' mounts: Lustre's recovery went on");
    assert_eq!(
        calls,
        [read.clone(), format!("get_param -n {stale_param}"), evict("u-dead-a"), evict("u-dead-b"), read]
    );
}

#[test]
fn server_hook_observe_never_touches_the_target() {
    let fake = Fake::new();
    fake.param(OST_STATUS, &recovery_status("RECOVERING", 0, 0));
    let env = close("testfs-OST0001", "observe");
    let (code, calls) = fake.run(SERVER_HOOK, &env);
    assert_eq!(code, 1, "still recovering: Lustre's own window stays in force");
    assert_eq!(calls, [format!("get_param -n {OST_STATUS}"), format!("get_param -n {OST_STATUS}")]);

    let fake = Fake::new();
    fake.param(OST_STATUS, &recovery_status("RECOVERING", 0, 0))
        .param(&format!("{OST_STATUS}.2"), &recovery_status("COMPLETE", 0, 0));
    assert_eq!(fake.run(SERVER_HOOK, &env).0, 0, "Lustre ended it meanwhile");

    let fake = Fake::new();
    fake.param(OST_STATUS, &recovery_status("COMPLETE", 0, 0));
    let (code, calls) = fake.run(SERVER_HOOK, &close("testfs-OST0001", "abort"));
    assert_eq!((code, calls.len()), (0, 1), "already over: nothing to abort");
}

#[test]
fn server_hook_edge_cases_have_clear_exit_codes() {
    assert_eq!(Fake::new().run(SERVER_HOOK, &close("testfs-OST0001", "evict-all")).0, 2, "unknown policy");
    assert_eq!(Fake::new().run(SERVER_HOOK, &close("c0042", "abort")).0, 2, "not a target");
    assert_eq!(Fake::new().run(SERVER_HOOK, &close("", "abort")).0, 2, "no target");
    assert_eq!(Fake::new().run(SERVER_HOOK, &close("testfs-OST0001", "abort")).0, 3, "no recovery_status");
    let mut env = close("testfs-OST0001", "abort");
    env[1] = ("VIGIL_ORDER_KIND", "begin_recovery");
    let (code, calls) = Fake::new().run(SERVER_HOOK, &env);
    assert_eq!((code, calls.len()), (0, 0), "not a server order");
}

#[test]
fn server_hook_succeeds_once_every_awaited_client_is_back_or_evicted_before_lustre_looks() {
    let stale_param = "obdfilter.testfs-OST0001.recovery_stale_clients";
    let read = read_status();
    let mut env = close("testfs-OST0001", "evict");
    env.push(("VIGIL_DEAD_UUIDS", "u-dead-a,u-dead-b"));
    // connected 8 + evicted 2 = 10 recoverable: check_for_recovery_ready holds, Lustre goes on
    // at its next check, still RECOVERING now.
    let fake = Fake::new();
    fake.param(OST_STATUS, &recovering("RECOVERING", 8, 10, 0, 8, 8))
        .param(&format!("{OST_STATUS}.2"), &recovering("RECOVERING", 8, 10, 2, 8, 8))
        .param(stale_param, "u-dead-a\nu-dead-b\n");
    let (code, calls) = fake.run(SERVER_HOOK, &env);
    assert_eq!(code, 0, "the window is closed: Lustre resumes within 60 s");
    assert_eq!(
        calls,
        [
            read.clone(),
            format!("get_param -n {stale_param}"),
            evict("u-dead-a"),
            evict("u-dead-b"),
            read.clone()
        ]
    );

    // Nobody back yet (WAITING_FOR_CLIENTS, no counts): the stale clients tell; once the dead
    // are evicted, none is left.
    let fake = Fake::new();
    fake.param(OST_STATUS, "status: WAITING_FOR_CLIENTS\n")
        .param(&format!("{stale_param}.1"), "u-dead-a\n")
        .param(stale_param, "");
    let (code, calls) = fake.run(SERVER_HOOK, &env);
    assert_eq!(code, 0, "the only client Lustre waited for was dead");
    let stale = format!("get_param -n {stale_param}");
    assert_eq!(calls, [read.clone(), stale.clone(), evict("u-dead-a"), read.clone(), stale]);
}

#[test]
fn server_hook_on_2_15_evicts_the_dead_vigil_names_that_are_not_connected() {
    // No recovery_stale_clients before 2.16: the dead clients' mounts and the snapshot's
    // clients of the dead NIDs, less the UUIDs connected now.
    let read = read_status();
    let exports_param = "obdfilter.testfs-OST0001.exports.*.uuid";
    let fake = Fake::new();
    let exports = fake.dir.join("exports");
    std::fs::write(
        &exports,
        "u-dead-a 10.0.1.6@tcp\nu-mapped 10.0.1.7@tcp\nu-live 10.0.1.1@tcp\nu-back 10.0.1.8@tcp\n",
    )
    .unwrap();
    let exports = exports.display().to_string();
    let mut env = close("testfs-OST0001", "evict");
    env.extend([
        ("VIGIL_DEAD_UUIDS", "u-dead-a,u-back"),
        ("VIGIL_DEAD_CLIENTS", "c07"),
        ("VIGIL_DEAD_NIDS", "10.0.1.7@tcp"),
        ("VIGIL_LUSTRE_EXPORTS", exports.as_str()),
    ]);
    fake.param(OST_STATUS, &recovering("RECOVERING", 2, 5, 0, 2, 2))
        .param(&format!("{OST_STATUS}.2"), &recovering("RECOVERING", 2, 5, 2, 2, 2))
        .param(exports_param, "u-live\nu-back\n");
    let (code, calls) = fake.run(SERVER_HOOK, &env);
    assert_eq!(code, 1, "partial: 5 - 2 connected - 2 evicted = 1 client Vigil does not hold dead");
    assert_eq!(
        calls,
        [
            read.clone(),
            "get_param -n obdfilter.testfs-OST0001.recovery_stale_clients".into(),
            format!("get_param -n {exports_param}"),
            evict("u-dead-a"),
            evict("u-mapped"),
            read,
        ],
        "never a client connected now, nor one Vigil does not hold dead"
    );

    // Nobody back yet: no counts and no stale list to count the clients still awaited by; the
    // hook evicts and waits for Lustre to move on, for VIGIL_LUSTRE_WAIT_S (1 s here).
    let fake = Fake::new();
    fake.param(OST_STATUS, "status: WAITING_FOR_CLIENTS\n");
    let mut env = close("testfs-OST0001", "evict");
    env.push(("VIGIL_DEAD_UUIDS", "u-dead-a"));
    let (code, calls) = fake.run(SERVER_HOOK, &env);
    assert_eq!(code, 1, "cannot tell whether Lustre still awaits anyone");
    let stale = "get_param -n obdfilter.testfs-OST0001.recovery_stale_clients".to_owned();
    let read = read_status();
    assert_eq!(
        calls,
        [
            read.clone(),
            stale.clone(),
            format!("get_param -n {exports_param}"),
            evict("u-dead-a"),
            read.clone(),
            stale.clone(),
            read,
            stale,
        ]
    );
}
