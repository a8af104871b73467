//! The examples and pointers `vigil <command> --help` prints after the options: how each command
//! is used on a real cluster, so that `--help` alone is enough to start.

/// `vigil --help`.
pub const VIGIL: &str = "\
Roles: one `vigil mgs`, `vigil router`s toward it, a `vigil client` on every filesystem client and
a `vigil server` beside every target. All of them read a TOML file (--config; every key is also a
long flag) and the cluster key (--key-file). Operators use `vigil status`, `vigil recover` and
`vigil close`.

Getting started:
  vigil keygen --out /etc/vigil/cluster.key          # once; copy to every node (mode 0600)
  vigil keygen --order --out /etc/vigil/order-1.key  # once, on the MGS; order-1.pub to all others
  vigil demo                                         # a whole cluster on loopback

Examples of configs and systemd units: contrib/config/, contrib/systemd/ in the source tree;
the operator guide: docs/operator-guide.md.";

/// `vigil mgs --help`.
pub const MGS: &str = "\
Examples:
  vigil mgs --config /etc/vigil/mgs.toml
  vigil mgs --listen [::]:7470 --http 127.0.0.1:7471 --order-key /etc/vigil/order-1.key

Serves the live web view at /, GET /api/v1/status (JSON), GET /metrics (Prometheus) and
POST /api/v1/recover and /api/v1/close on --http. Orders need the token of --api-token-file
(`vigil keygen --api-token`); reads too with --api-token-reads. Requests whose Host is not an
IP address, localhost or an --api-host name, or from a foreign Origin, are refused.
Persists its boot generation, order counter, expected routers and whether it has direct
clients in --state-dir.";

/// `vigil router --help`.
pub const ROUTER: &str = "\
Examples:
  vigil router --config /etc/vigil/router.toml
  vigil router --name rtr01 --listen [::]:7470 --parent mgs01:7470 --parent mgs02:7470 \\
               --order-pub /etc/vigil/order-1.pub --metrics 127.0.0.1:7472

Stack routers (router -> router -> MGS) when one level cannot hold every node: a router's
capacity is 7/8 of --table-slots, and the MGS receives one update per router per
--update-interval-ms.";

/// `vigil client --help`.
pub const CLIENT: &str = "\
Examples:
  vigil client --config /etc/vigil/client.toml
  vigil client --name c0042 --parent rtr01:7470 --parent rtr02:7470 \\
               --order-pub /etc/vigil/order-1.pub --lustre \\
               --on-order /usr/libexec/vigil/vigil-lustre-reconnect

The hook runs through `sh -c` with VIGIL_ORDER_ID, VIGIL_ORDER_KIND (begin_recovery),
VIGIL_TARGET, VIGIL_TARGET_GENERATION and VIGIL_TARGET_ADDRS (comma-separated NIDs) set;
exit 0 reports the client reconnected, anything else (or overrunning --hook-timeout-ms) failed.";

/// `vigil server --help`.
pub const SERVER: &str = "\
Examples:
  vigil server --config /etc/vigil/server.toml
  vigil server --name oss01 --target testfs-OST0001 --target-addr 10.1.0.7@o2ib \\
               --parent rtr01:7470 --order-pub /etc/vigil/order-1.pub \\
               --on-close-window /usr/libexec/vigil/vigil-lustre-close-window

A new boot generation of the server with its target recovering is what starts imperative
recovery. The hook gets the same environment as a client's, with VIGIL_ORDER_KIND close_window;
exit 0 reports the window closed. Without a hook the window counts as closed at once.";

/// `vigil status --help`.
pub const STATUS: &str = "\
Examples:
  vigil status
  vigil status --mgs http://mgs01:7471 --json | jq '.targets[].recovery'
  vigil status --mgs http://mgs01:7471,http://mds01:7471   # several status holders, merged

States: alive, suspect (missed pings), dead (silent past the dead threshold, reported by its
parent), unreachable (behind a silent router, or part of a mass silence: a partition, not a
death). With several status holders: which answered, one merged view, and where their views
disagree. Exits non-zero when no MGS can be reached.";

/// `vigil recover --help`.
pub const RECOVER: &str = "\
Examples:
  vigil recover --force --target testfs-OST0001 --addr 10.1.0.7@o2ib
  vigil recover --target testfs-OST0001 --mgs http://mgs01:7471,http://mds01:7471

For a target without a Vigil server agent (`--force`: no server reports it, so without it the
name is refused as a typo): every live client runs its hook now. Targets with an agent need no
manual order: their restart starts recovery by itself; a manual one names the instance and
addresses its server reports. It first asks the MGS what it knows and prints what it will
order, then what each MGS did. Follow it with `vigil status`. With several status holders the
order goes to each, naming one target instance (the one they report, or `--instance N` for a
target none knows: its Lustre instance, or any new number), so clients act once; it fails
naming any holder that did not take it: send the same order to that one again. Sends the token
of --token-file (a copy of the MGS's --api-token-file).";

/// `vigil close --help`.
pub const CLOSE: &str = "\
Examples:
  vigil close --target testfs-OST0001
  vigil close --target testfs-OST0001 --mgs http://mgs01:7471,http://mds01:7471

A window stays open while clients the health network cannot see may still be alive: behind a
router that died or a link that is cut. If they are gone for good, close it: it says first what
is still missing, then the target's server runs its close hook (the Lustre hook evicts the
clients Vigil holds dead, which the output names; the others are left to the target's own
window). A window closed already is not closed again. `vigil status` shows the window
\"closed by admin\".
Sends the token of --token-file (a copy of the MGS's --api-token-file).";

/// `vigil completions --help`.
pub const COMPLETIONS: &str = "\
Examples:
  vigil completions bash > /usr/share/bash-completion/completions/vigil
  vigil completions zsh  > /usr/share/zsh/vendor-completions/_vigil
  vigil completions fish > /usr/share/fish/vendor_completions.d/vigil.fish";

/// `vigil keygen --help`.
pub const KEYGEN: &str = "\
Examples:
  vigil keygen --out /etc/vigil/cluster.key                    # the cluster key, every node
  vigil keygen --order --id 2 --out /etc/vigil/order-2.key     # an order key and order-2.pub
  vigil keygen --public-of /etc/vigil/order-2.key              # print its public key again

A key file may hold a second, older key that is still accepted: rotate the cluster key in three
rolling steps (old+new, new+old, new), as docs/operator-guide.md (\"Rotate keys\") describes.";

/// `vigil demo --help`.
pub const DEMO: &str = "\
Examples:
  vigil demo
  vigil demo --clients 1000 --kill-percent 5

Everything runs in this process on loopback: an MGS, two routers, the clients and two targets;
one target restarts and the timeline is compared with Lustre's passive recovery.";
