//! A router between an MGS and clients, run together over a network without loss: its
//! sequences and change versions go on across their wrap, and it goes back to what its parent
//! holds when acknowledged ahead of it.

use super::*;
use crate::counters::after;
use crate::ids::name;
use crate::wire::{Key, NodeState, MAX_DATAGRAM};
use crate::{Client, ClientConfig, Mgs, MgsConfig};

fn keys() -> Keyring {
    Keyring::new(Key::new(1, &[7; 32]))
}

fn at(last: u8) -> Endpoint {
    Endpoint::V4 { ip: [10, 0, 0, last], port: 7000 }
}

type Slots = std::vec::Vec<Option<crate::table::Entry>>;

fn new_mgs(generation: u32, now: u64) -> Mgs<Slots> {
    let mut config = MgsConfig::new(name("mgs").unwrap(), Generation(generation), keys());
    config.startup_hold_ms = 0;
    let mut mgs = Mgs::new(config, vec![None; 64], Instant(now));
    mgs.link.wind(u32::MAX - 20);
    mgs
}

/// Client `k` (at(20 + k)) pinging the router at(2), its sequence 20 short of the wrap.
fn new_client(k: u8) -> Client {
    let config = ClientConfig {
        name: name(&std::format!("c{k}")).unwrap(),
        generation: Generation(1),
        parents: [at(2)].into_iter().collect(),
        keys: keys(),
        timing: Timing::default(),
    };
    let mut c = Client::new(config, Instant(0));
    c.member.link.wind(u32::MAX - 20);
    c
}

/// Runs the MGS at(1), the router at(2) and the clients from `from` to `to` ms.
fn run(mgs: &mut Mgs<Slots>, r: &mut Router<Slots>, clients: &mut [Client], span: (u64, u64)) {
    let up = std::vec![true; clients.len()];
    run_with_faults(mgs, r, clients, &up, false, span);
}

/// [`run`], with only the clients `up` says running, and nothing passing between the router
/// and the MGS while `cut` (both keep running).
fn run_with_faults(
    mgs: &mut Mgs<Slots>,
    r: &mut Router<Slots>,
    clients: &mut [Client],
    up: &[bool],
    cut: bool,
    (from, to): (u64, u64),
) {
    let mut buf = [0u8; MAX_DATAGRAM];
    for t in from..=to {
        let now = Instant(t);
        if mgs.poll_timeout().is_some_and(|d| d <= now) {
            mgs.handle_timeout(now);
        }
        if r.poll_timeout().is_some_and(|d| d <= now) {
            r.handle_timeout(now);
        }
        for (c, _) in clients.iter_mut().zip(up).filter(|(_, up)| **up) {
            if c.poll_timeout().is_some_and(|d| d <= now) {
                c.handle_timeout(now);
            }
        }
        loop {
            let mut quiet = true;
            for (k, c) in clients.iter_mut().enumerate().filter(|(k, _)| up[*k]) {
                while let Some((_, len)) = c.poll_transmit(now, &mut buf) {
                    quiet = false;
                    r.handle(now, at(20 + k as u8), &buf[..len]);
                }
            }
            while let Some((dest, len)) = r.poll_transmit(now, &mut buf) {
                quiet = false;
                match dest {
                    Endpoint::V4 { ip: [_, _, _, last], .. } if last >= 20 => {
                        let k = usize::from(last - 20);
                        if up[k] {
                            clients[k].handle(now, at(2), &buf[..len]);
                        }
                    }
                    _ if cut => {}
                    _ => mgs.handle(now, at(2), &buf[..len]),
                }
            }
            while let Some((_, len)) = mgs.poll_transmit(now, &mut buf) {
                quiet = false;
                if !cut {
                    r.handle(now, at(1), &buf[..len]);
                }
            }
            if quiet {
                break;
            }
        }
        for c in clients.iter_mut() {
            while c.poll_event().is_some() {}
        }
    }
}

/// The router r1 at(2) with `slots` table slots, its parent the MGS at(1), reporting at once.
fn new_router(slots: usize) -> Router<Slots> {
    let mut config =
        RouterConfig::new(name("r1").unwrap(), Generation(1), [at(1)].into_iter().collect(), keys());
    config.settle_ms = 0;
    Router::new(config, vec![None; slots], Instant(0))
}

fn alive_at_mgs(mgs: &Mgs<Slots>, now: u64) -> usize {
    mgs.nodes(Instant(now))
        .filter(|v| v.role == crate::wire::Role::Client && v.state == NodeState::Alive)
        .count()
}

#[test]
fn sequences_and_versions_go_on_across_their_wrap() {
    let mut mgs = new_mgs(1, 0);
    let mut r = new_router(64);
    r.link.wind(u32::MAX - 20);
    r.hub.start_versions_at(u32::MAX - 5);
    // Clients join one at a time, each join a few versions: the router's versions wrap.
    let mut clients: std::vec::Vec<Client> = std::vec::Vec::new();
    for k in 0..8u8 {
        clients.push(new_client(k));
        let t = u64::from(k) * 2_000;
        run(&mut mgs, &mut r, &mut clients, (t, t + 1_999));
    }
    assert!(r.hub.version() < 100, "the version wrapped: {}", r.hub.version());
    // A minute on: every sequence wrapped, and everything is still taken.
    run(&mut mgs, &mut r, &mut clients, (16_000, 76_000));
    assert_eq!(alive_at_mgs(&mgs, 76_000), 8);
    assert!(clients.iter().all(|c| c.member.link.last_sequence() < 1_000));
    for counters in [mgs.counters(), r.counters()].into_iter().chain(clients.iter().map(|c| c.counters())) {
        assert_eq!((counters.replayed, counters.out_of_order), (0, 0), "{counters:?}");
    }
    // A billion changes later (no entry changed meanwhile): entries are restamped before
    // their versions read as ahead, and a new MGS still gets them all in its snapshot.
    r.hub.skip_versions(3 << 29);
    run(&mut mgs, &mut r, &mut clients, (76_001, 80_000));
    r.hub.skip_versions(3 << 29);
    let mut mgs = new_mgs(2, 80_001);
    run(&mut mgs, &mut r, &mut clients, (80_001, 90_000));
    assert_eq!(alive_at_mgs(&mgs, 90_000), 8);
    let acked = r.upstreams[0].acked;
    assert!(r.hub.table().iter().all(|e| !after(e.changed, acked)), "everything acknowledged");
    assert!(r.hub.table().iter().all(|e| r.hub.version().wrapping_sub(e.changed) < 1 << 31));
}

#[test]
fn a_router_acknowledged_ahead_of_what_its_parent_holds_goes_back_to_it() {
    let mut mgs = new_mgs(1, 0);
    let mut r = new_router(64);
    let mut clients: std::vec::Vec<Client> = (0..4u8).map(new_client).collect();
    run(&mut mgs, &mut r, &mut clients, (0, 10_000));
    assert_eq!(alive_at_mgs(&mgs, 10_000), 4);
    // The MGS holds less than it acknowledged (a snapshot round sent again after it had the
    // first whole restarted its rebuild, and the later page was lost).
    let entry = mgs.hub.table_mut().get_mut(r.id()).and_then(|e| e.direct.as_mut()).unwrap();
    entry.applied = entry.applied.wrapping_sub(3).max(1);
    clients.push(new_client(4));
    run(&mut mgs, &mut r, &mut clients, (10_001, 20_000));
    assert_eq!(alive_at_mgs(&mgs, 20_000), 5, "the router's updates are taken again");
}

/// Runs four clients under a router and the MGS, cuts the two apart while client 0 dies and the
/// router's change counter moves on by `changes`, heals the cut, and counts the clients the MGS
/// shows alive.
fn alive_after_a_partition_of(changes: u32) -> usize {
    let mut mgs = new_mgs(1, 0);
    let mut r = new_router(64);
    let mut clients: std::vec::Vec<Client> = (0..4u8).map(new_client).collect();
    let mut up = [true; 4];
    run(&mut mgs, &mut r, &mut clients, (0, 10_000));
    assert_eq!(alive_at_mgs(&mgs, 10_000), 4);
    r.hub.skip_versions(changes);
    up[0] = false;
    run_with_faults(&mut mgs, &mut r, &mut clients, &up, true, (10_001, 40_000));
    let dead = r.table().get(clients[0].id()).and_then(|e| e.best_state());
    assert_eq!(dead, Some(NodeState::Dead), "the router convicted client 0 during the cut");
    run_with_faults(&mut mgs, &mut r, &mut clients, &up, false, (40_001, 70_000));
    alive_at_mgs(&mgs, 70_000)
}

#[test]
fn a_death_during_a_partition_reaches_the_parent_however_far_the_versions_moved_meanwhile() {
    assert_eq!(alive_after_a_partition_of(0), 3);
    // Past 2^31 changes every version made during the cut reads as older than the base the
    // parent acknowledged before it: paged from that base, the death would never go up.
    assert_eq!(alive_after_a_partition_of((1 << 31) + (1 << 29)), 3);
}

#[test]
fn a_full_table_forgets_the_client_dead_the_longest_also_across_the_version_wrap() {
    let mut mgs = new_mgs(1, 0);
    let mut r = new_router(4);
    r.hub.start_versions_at(u32::MAX - 10_000);
    let mut clients: std::vec::Vec<Client> = (0..5u8).map(new_client).collect();
    let mut up = [true, true, true, true, false];
    run_with_faults(&mut mgs, &mut r, &mut clients, &up, false, (0, 10_000));
    assert_eq!(r.table().len(), 4);
    up[0] = false;
    run_with_faults(&mut mgs, &mut r, &mut clients, &up, false, (10_001, 30_000));
    let first = r.table().get(clients[0].id()).map(|e| e.changed);
    r.hub.skip_versions(20_000);
    up[1] = false;
    run_with_faults(&mut mgs, &mut r, &mut clients, &up, false, (30_001, 50_000));
    let second = r.table().get(clients[1].id()).map(|e| e.changed);
    let (Some(first), Some(second)) = (first, second) else { panic!("both dead clients are kept") };
    assert!(after(second, first) && second < first, "the versions wrapped between the deaths");
    up[4] = true;
    run_with_faults(&mut mgs, &mut r, &mut clients, &up, false, (50_001, 60_000));
    assert!(r.table().get(clients[4].id()).is_some(), "the newcomer took a dead client's place");
    assert!(r.table().get(clients[0].id()).is_none(), "client 0, dead the longest, is forgotten");
    assert!(r.table().get(clients[1].id()).is_some(), "client 1, dead since just now, is kept");
}
