//! `lctl`'s commands on the model: `dl`, `list_nids`, `get_param`, `set_param`, `--device D
//! recover` and `abort_recovery`, with the errnos real `lctl` exits with.

use std::path::Path;

use super::params::glob;
use super::{now_ms, Release, Target, World};

/// An `lctl` failure: the message and the errno it exits with.
#[derive(Debug)]
pub struct LctlError {
    /// What went wrong.
    pub message: String,
    /// The exit status (an errno, as lctl returns).
    pub errno: i32,
}

pub(super) fn err<T>(errno: i32, message: impl Into<String>) -> Result<T, LctlError> {
    Err(LctlError { message: message.into(), errno })
}

pub(super) const ENOENT: i32 = 2;
pub(super) const EIO: i32 = 5;
pub(super) const ENODEV: i32 = 19;
pub(super) const EINVAL: i32 = 22;
pub(super) const ETIMEDOUT: i32 = 110;
pub(super) const EALREADY: i32 = 114;

impl World {
    /// Runs `lctl ARGS` on `node`: its standard output, or the failure.
    pub fn lctl(&mut self, node: &str, args: &[String], now: u64) -> Result<String, LctlError> {
        if !self.nodes.get(node).is_some_and(|n| n.up) {
            return err(EIO, format!("node {node} is down"));
        }
        let words: Vec<&str> = args.iter().map(String::as_str).collect();
        if matches!(words.first(), Some(&("set_param" | "--device"))) {
            self.writes.push(format!("{node}: {}", words.join(" ")));
        }
        match words.as_slice() {
            ["dl"] => Ok(self
                .devices(node)
                .iter()
                .enumerate()
                .map(|(i, (kind, name, uuid))| format!("{i:3} UP {kind} {name} {uuid} 4\n"))
                .collect()),
            ["list_nids"] => Ok(self.nodes[node].nids.iter().map(|n| format!("{n}\n")).collect()),
            ["get_param", rest @ ..] => self.get_param(node, rest, now),
            ["set_param", rest @ ..] => {
                for p in rest {
                    self.set_param(node, p, now)?;
                }
                Ok(String::new())
            }
            ["--device", dev, "abort_recovery"] => {
                let target = self.target_device(node, dev)?;
                let t = self.targets.get_mut(&target).expect("target");
                if t.recovering() {
                    // target_stop_recovery_thread, then class_disconnect_stale_exports(obd,
                    // exp_finished): every client that has not sent its final ping is evicted,
                    // connected or not, and its replays dropped; it returns once recovery ended.
                    let uuids: Vec<String> =
                        t.exports.iter().filter(|(_, e)| !e.finished).map(|(u, _)| u.clone()).collect();
                    for uuid in uuids {
                        self.evict(&target, &uuid);
                    }
                    if let Some(r) = self.targets.get_mut(&target).and_then(|t| t.recovery.as_mut()) {
                        r.aborted = true;
                    }
                    self.step(now);
                }
                // ofd_iocontrol from 2.16 sets rc = -EINVAL before its switch and leaves it for
                // OBD_IOC_ABORT_RECOVERY (lctl: "error: abort_recovery: Invalid argument"), whether
                // or not the target recovered; 2.15's returned 0, as mdt_iocontrol does.
                if Target::param_type(&target) == "obdfilter" && self.settings.release >= Release::V2_16 {
                    return err(EINVAL, "abort_recovery: Invalid argument");
                }
                Ok(String::new())
            }
            ["--device", dev, "recover", nid @ ..] if nid.len() <= 1 => {
                // OBD_IOC_CLIENT_RECOVER: ptlrpc_recover_import(imp, uuid, async=0); its
                // -EALREADY still waits (run_lctl), its -ENOENT fails.
                let (m, i) = self.import_device(node, dev)?;
                match self.recover_import(node, m, i, nid.first().copied(), now) {
                    Err(ENOENT) => {
                        err(ENOENT, format!("{dev}: {} is not a connection UUID of the import", nid[0]))
                    }
                    _ => Ok(String::new()),
                }
            }
            _ => err(EINVAL, format!("unknown command: {}", words.join(" "))),
        }
    }

    pub(super) fn get_param(&self, node: &str, args: &[&str], now: u64) -> Result<String, LctlError> {
        let (bare, patterns) = match args {
            ["-n", rest @ ..] => (true, rest),
            rest => (false, rest),
        };
        if patterns.is_empty() {
            return err(EINVAL, "get_param: no parameter");
        }
        let params = self.params(node, now);
        let mut out = String::new();
        for pattern in patterns {
            let found: Vec<&(String, String)> =
                params.iter().filter(|(name, _)| glob(pattern, name)).collect();
            if found.is_empty() {
                return err(ENOENT, format!("get_param: param_path '{pattern}': No such file or directory"));
            }
            for (name, value) in found {
                // read_param (lustre/utils/lustre_cfg.c): nothing at all for an empty file;
                // else, unless -n, `name=` then the file as read (an lprocfs file ends with a
                // newline) on the next lines when `strnchr(buf, buflen - 1, '\n') != NULL ||
                // buflen + strlen(param_name) >= 80` (a newline before its last character, or
                // name and value too long for one line), else `name=value` on one line.
                if value.is_empty() {
                    continue;
                }
                let file = if value.ends_with('\n') { value.clone() } else { format!("{value}\n") };
                if !bare {
                    let body = &file[..file.len() - 1];
                    let long = body.contains('\n') || file.len() + name.len() >= 80;
                    out.push_str(name);
                    out.push_str(if long { "=\n" } else { "=" });
                }
                out.push_str(&file);
            }
        }
        Ok(out)
    }

    pub(super) fn set_param(&mut self, node: &str, assignment: &str, now: u64) -> Result<(), LctlError> {
        let Some((name, value)) = assignment.split_once('=') else {
            return err(EINVAL, format!("set_param: {assignment}: no value"));
        };
        let parts: Vec<&str> = name.splitn(3, '.').collect();
        match parts.as_slice() {
            [kind @ ("osc" | "mdc"), dev, "import"] => {
                let (m, i) = self.import_device(node, dev)?;
                if self.nodes[node].mounts[m].imports[i].kind != *kind {
                    return err(ENOENT, format!("set_param: {name}: No such file or directory"));
                }
                let Some(conn) = value.strip_prefix("connection=") else {
                    return err(
                        EINVAL,
                        format!("set_param: {name}: expected connection=<uuid>[::<instance>]"),
                    );
                };
                // ldebugfs_import_seq_write (lustre/ptlrpc/lproc_ptlrpc.c): since 2.16 (LU-10391)
                // the UUID must hold an '@', else -EINVAL; then the write succeeds whatever
                // ptlrpc_recover_import returns. A malformed instance or the instance the
                // import is already on means no reconnect.
                if self.settings.release >= Release::V2_16 && !conn.contains('@') {
                    return err(EINVAL, format!("set_param: {name}: Invalid argument"));
                }
                let (uuid, reconnect) = match conn.split_once("::") {
                    Some((uuid, inst)) => (
                        uuid,
                        inst.parse::<u32>()
                            .is_ok_and(|v| v != self.nodes[node].mounts[m].imports[i].instance),
                    ),
                    None => (conn, true),
                };
                if reconnect {
                    let _ = self.recover_import(node, m, i, Some(uuid), now);
                }
                Ok(())
            }
            [kind @ ("obdfilter" | "mdt"), target, "evict_client"] => {
                let target = target.to_string();
                let served = self.targets.get(&target).is_some_and(|t| t.server.as_deref() == Some(node));
                if !served || Target::param_type(&target) != *kind {
                    return err(ENOENT, format!("set_param: {name}: No such file or directory"));
                }
                let t = &self.targets[&target];
                let uuids: Vec<String> = if let Some(nid) = value.strip_prefix("nid:") {
                    t.exports
                        .iter()
                        .filter(|(_, e)| e.nid.as_deref() == Some(nid))
                        .map(|(u, _)| u.clone())
                        .collect()
                } else {
                    let uuid = value.strip_prefix("uuid:").unwrap_or(value);
                    t.exports.contains_key(uuid).then(|| uuid.to_owned()).into_iter().collect()
                };
                // The write succeeds even when nobody matches, as Lustre's does.
                for uuid in uuids {
                    self.evict(&target, &uuid);
                }
                self.step(now);
                Ok(())
            }
            _ => err(ENOENT, format!("set_param: {name}: No such file or directory")),
        }
    }

    /// The (mount, import) of client device `dev` (name or `lctl dl` index) on `node`.
    pub(super) fn import_device(&self, node: &str, dev: &str) -> Result<(usize, usize), LctlError> {
        let name = self.device_name(node, dev)?;
        for (m, mount) in self.nodes[node].mounts.iter().enumerate() {
            for (i, import) in mount.imports.iter().enumerate() {
                if format!("{}-{}-{}", import.target, import.kind, mount.sb) == name {
                    return Ok((m, i));
                }
            }
        }
        err(ENODEV, format!("{dev}: not a client import"))
    }

    /// The target served on `node` as device `dev`.
    pub(super) fn target_device(&self, node: &str, dev: &str) -> Result<String, LctlError> {
        let name = self.device_name(node, dev)?;
        match self.targets.get(&name) {
            Some(t) if t.server.as_deref() == Some(node) => Ok(name),
            _ => err(ENODEV, format!("{dev}: not a target")),
        }
    }

    pub(super) fn device_name(&self, node: &str, dev: &str) -> Result<String, LctlError> {
        let devices = self.devices(node);
        let found = match dev.parse::<usize>() {
            Ok(i) => devices.get(i).map(|d| d.1.clone()),
            Err(_) => devices.iter().find(|d| d.1 == dev).map(|d| d.1.clone()),
        };
        found.ok_or_else(|| LctlError { message: format!("device '{dev}' not found"), errno: ENODEV })
    }

    /// Whether the import of device `dev` on `node` has left recovery (for the synchronous
    /// `recover`): FULL, evicted or given up.
    pub fn recovered(&self, node: &str, dev: &str) -> Result<bool, LctlError> {
        let (m, i) = self.import_device(node, dev)?;
        let import = &self.nodes[node].mounts[m].imports[i];
        Ok(!import.state.in_recovery())
    }
}

/// `lctl ARGS` as the model's binary runs it for `node` on the world in `path`, synchronous
/// `recover` included: its output, or the failure.
pub fn run_lctl(path: &Path, node: &str, args: &[String]) -> Result<String, LctlError> {
    let io = |e: std::io::Error| LctlError { message: format!("world {}: {e}", path.display()), errno: EIO };
    let out = World::with(path, |w, now| w.lctl(node, args, now)).map_err(io)??;
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    if let ["--device", dev, "recover", ..] = words.as_slice() {
        // ptlrpc_recover_import(.., async=0): wait until the import left recovery.
        let timeout = World::with(path, |w, _| w.settings.obd_timeout_s).map_err(io)?;
        let until = now_ms() + timeout * 1000;
        loop {
            if World::with(path, |w, _| w.recovered(node, dev)).map_err(io)?? {
                break;
            }
            if now_ms() >= until {
                return err(ETIMEDOUT, format!("{dev}: recover: Connection timed out"));
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    Ok(out)
}
