//! What `lctl dl` and `lctl get_param` show: devices and parameters, rendered as Lustre's
//! `lprocfs` files print them.

use std::collections::BTreeMap;

use super::{ExportState, Import, Release, Settings, Target, World};

impl World {
    /// Devices of `node` as `lctl dl` lists them: (type, name, uuid).
    pub(super) fn devices(&self, node: &str) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        let Some(n) = self.nodes.get(node) else { return out };
        for m in &n.mounts {
            for i in &m.imports {
                out.push((i.kind.clone(), format!("{}-{}-{}", i.target, i.kind, m.sb), m.uuid.clone()));
            }
        }
        for (name, t) in &self.targets {
            if t.server.as_deref() == Some(node) {
                out.push((Target::param_type(name).to_owned(), name.clone(), format!("{name}_UUID")));
            }
        }
        out
    }

    /// Every parameter `node` has, with its value.
    pub(super) fn params(&self, node: &str, now: u64) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let Some(n) = self.nodes.get(node) else { return out };
        for m in &n.mounts {
            // uuid_show (lproc_llite.c): the mount's ll_sb_uuid, under `<fsname>-<sb>`.
            if let Some((fsname, _)) = m.imports.first().and_then(|i| i.target.split_once('-')) {
                out.push((format!("llite.{fsname}-{}.uuid", m.sb), m.uuid.clone()));
            }
            for i in &m.imports {
                let dev = format!("{}-{}-{}", i.target, i.kind, m.sb);
                out.push((format!("{}.{dev}.import", i.kind), import_text(&dev, i, self.settings, now)));
                // conn_uuid_show: the UUID of the current connection (c_remote_uuid), also
                // under its older name (ost_conn_uuid, mds_conn_uuid), in every release.
                let old = if i.kind == "osc" { "ost_conn_uuid" } else { "mds_conn_uuid" };
                for file in ["conn_uuid", old] {
                    out.push((format!("{}.{dev}.{file}", i.kind), i.current_uuid().to_owned()));
                }
                out.push((format!("{}.{dev}.uuid", i.kind), m.uuid.clone()));
            }
        }
        for (name, t) in self.targets.iter().filter(|(_, t)| t.server.as_deref() == Some(node)) {
            let p = format!("{}.{name}", Target::param_type(name));
            out.push((format!("{p}.instance"), t.instance.to_string()));
            out.push((format!("{p}.recovery_status"), recovery_text(t, self.settings, now)));
            // lprocfs_recovery_stale_clients_seq_show: from 2.16 on (LU-14834).
            if self.settings.release >= Release::V2_16 {
                let stale: Vec<&str> = (t.exports.iter())
                    .filter(|(_, e)| e.state == ExportState::Stale && t.recovering())
                    .map(|(u, _)| u.as_str())
                    .collect();
                out.push((format!("{p}.recovery_stale_clients"), stale.join("\n")));
            }
            // lprocfs_exp_uuid_seq_show: one file a NID, a line for each client UUID connected
            // from it (two mounts on one client share its NID).
            let mut by_nid: BTreeMap<&str, String> = BTreeMap::new();
            for (uuid, e) in &t.exports {
                if let (Some(nid), ExportState::Connected) = (&e.nid, e.state) {
                    let value = by_nid.entry(nid).or_default();
                    value.push_str(uuid);
                    value.push('\n');
                }
            }
            for (nid, uuids) in by_nid {
                out.push((format!("{p}.exports.{nid}.uuid"), uuids));
            }
        }
        out
    }
}

/// `lprocfs_import_seq_show_locked` (`lustre/obdclass/lprocfs_status.c`), its first sections:
/// `instance:` is the `ocd_instance` of `connect_data:` (`obd_connect_data_seqprint`); since 2.16
/// (LU-10391) the NIDs are quoted and each connection has a line in `nids_stats:`.
pub(super) fn import_text(dev: &str, i: &Import, settings: Settings, now: u64) -> String {
    let quoted = settings.release >= Release::V2_16;
    let q = |nid: &str| if quoted { format!("\"{nid}\"") } else { nid.to_owned() };
    let version = match settings.release {
        Release::V2_15 => "2.15.0.0",
        Release::V2_16 => "2.16.0.0",
        Release::V2_17 => "2.17.0.0",
    };
    let since = now.saturating_sub(i.last_reply_ms) / 1000;
    let mut text = format!(
        "import:\n    name: {dev}\n    target: {}_UUID\n    state: {}\n    \
         connect_flags: [ write_grant, server_lock, version, request_portal, truncate_lock, \
         max_byte_per_rpc, early_lock_cancel, adaptive_timeouts, lru_resize, fid_is_enabled, \
         version_recovery, full20, layout_lock, 64bithash, object_max_bytes, jobstats, \
         einprogress, lvb_type, short_io, lfsck, bulk_mbits, second_flags, lockaheadv2, \
         increasing_xid, client_encryption ]\n    \
         connect_data:\n       flags: 0xa0425af2e3440478\n       instance: {}\n       \
         target_version: {version}\n       initial_grant: 8437760\n       max_brw_size: 4194304\n    \
         import_flags: [ replayable, pingable, connect_tried ]\n    connection:\n       \
         failover_nids: [ {} ]\n",
        i.target,
        i.state.name(),
        i.instance,
        i.connections.iter().map(|c| q(&c.peer)).collect::<Vec<_>>().join(", "),
    );
    if quoted {
        text.push_str("       nids_stats:");
        for (at, c) in i.connections.iter().enumerate() {
            let tried = at == i.current;
            text.push_str(&format!(
                "\n          \"{}\": {{ connects: {}, replied: {}, uptodate: {}, sec_ago: {} }}",
                c.peer,
                u8::from(tried),
                u8::from(tried && i.state.connected()),
                tried,
                if tried { since.to_string() } else { "never".to_owned() },
            ));
        }
        text.push('\n');
    }
    text.push_str(&format!(
        "       current_connection: {}\n       connection_attempts: 1\n       generation: 1\n       \
         in-progress_invalidations: 0\n       idle: {since} sec\n",
        q(i.current_nid())
    ));
    text
}

/// `lprocfs_recovery_status_seq_show`.
pub(super) fn recovery_text(t: &Target, settings: Settings, now: u64) -> String {
    let Some(r) = &t.recovery else { return "status: INACTIVE\n".to_owned() };
    let start_s = r.start_ms.unwrap_or(0) / 1000;
    if let Some(done) = r.done_ms {
        let duration = done.saturating_sub(r.start_ms.unwrap_or(done)) / 1000;
        // completed_clients: the recoverable ones less the evicted (obd_stale_clients); no
        // evicted_clients line once complete.
        return format!(
            "status: COMPLETE\nrecovery_start: {start_s}\nrecovery_duration: {duration}\n\
             completed_clients: {}/{}\nreplayed_requests: {}\nlast_transno: 0\nVBR: DISABLED\nIR: ENABLED\n",
            r.recoverable - r.evicted.min(r.recoverable),
            r.recoverable,
            r.replayed,
        );
    }
    // Until the first recoverable client connects (obd_recovery_start == 0), the status alone.
    let Some(start) = r.start_ms else { return "status: WAITING_FOR_CLIENTS\n".to_owned() };
    let connected = t.count(ExportState::Connected);
    let finished = t.exports.values().filter(|e| e.state == ExportState::Connected && e.finished).count();
    let req = t.exports.values().filter(|e| e.state == ExportState::Connected && e.queued > 0).count();
    let remaining = (start + settings.recovery_window_s * 1000).saturating_sub(now) / 1000;
    // completed_clients: connected less those still to replay locks; nothing after next_transno
    // (VBR and IR only once complete).
    format!(
        "status: RECOVERING\nrecovery_start: {start_s}\ntime_remaining: {remaining}\n\
         connected_clients: {connected}/{}\nreq_replay_clients: {req}\nlock_repay_clients: {}\n\
         completed_clients: {finished}\nevicted_clients: {}\nreplayed_requests: 0\nqueued_requests: {}\n\
         next_transno: 0\n",
        r.recoverable,
        connected as usize - finished,
        r.evicted,
        t.exports.values().map(|e| e.queued).sum::<u32>(),
    )
}

/// `*` matches any run of characters (NIDs have dots, so not per component).
pub(super) fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            let Some(rest) = name.strip_prefix(head) else { return false };
            (0..=rest.len()).any(|i| rest.is_char_boundary(i) && glob(tail, &rest[i..]))
        }
    }
}
