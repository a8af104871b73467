//! Criterion benchmarks of the proto machines: the codec per message kind, a router's pings per
//! second, the MGS's updates per second, and a router's order fan-out per child.
//!
//! `cargo bench -p vigil-sim --bench proto` (figures and their bounds in `BENCHMARKS.md`).

use std::hint::black_box;
use std::time::{Duration, Instant as Wall};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use vigil_proto::wire::{self, Message, MAX_DATAGRAM};
use vigil_proto::{Instant, NodeId};
use vigil_sim::cluster_keys;
use vigil_sim::fixture::{self, Datagram};

/// Children of the benchmarked router.
const CHILDREN: usize = 10_000;

fn codec(c: &mut Criterion) {
    let messages = [
        ("ping", Message::Ping(fixture::client_ping(false, 1))),
        ("ping_reply_with_order", Message::PingReply(fixture::reply_with_order())),
        ("update_full_page", Message::Update(fixture::full_update(0, 1))),
        ("order", Message::Order(fixture::recovery_order(1))),
    ];
    let keys = cluster_keys();
    let mut g = c.benchmark_group("codec");
    for (name, message) in &messages {
        let bytes = fixture::encode(NodeId(1), fixture::ROUTER, 1, message);
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        let mut buf = [0u8; MAX_DATAGRAM];
        g.bench_function(format!("encode/{name}"), |b| {
            b.iter(|| {
                wire::encode(
                    NodeId(1),
                    fixture::ROUTER,
                    vigil_proto::Generation(1),
                    1,
                    black_box(message),
                    &keys.current,
                    &mut buf,
                )
            })
        });
        g.bench_function(format!("decode/{name}"), |b| b.iter(|| wire::decode(black_box(&bytes), &keys)));
    }
    g.finish();
}

/// Feeds pre-encoded datagrams to a machine in order, handing it a fresh batch (untimed) when
/// the current one runs out; each datagram is handled and every output drained.
fn drive<M>(
    iters: u64,
    machine: &mut M,
    batch: &mut dyn FnMut(&mut M) -> Vec<Datagram>,
    mut step: impl FnMut(&mut M, &Datagram),
) -> Duration {
    let mut spent = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let datagrams = batch(machine);
        let n = (datagrams.len() as u64).min(left);
        let start = Wall::now();
        for d in &datagrams[..n as usize] {
            step(machine, d);
        }
        spent += start.elapsed();
        left -= n;
    }
    spent
}

fn router_pings(c: &mut Criterion) {
    let mut g = c.benchmark_group("router");
    g.throughput(Throughput::Elements(1));
    g.bench_function(format!("ping_and_reply/{CHILDREN}_children"), |b| {
        let mut router = fixture::router_with_children(CHILDREN, Instant(0));
        let mut round = 0u32;
        let mut buf = [0u8; MAX_DATAGRAM];
        b.iter_custom(|iters| {
            // Each child pings once per 2 s round: time moves on by 2 s / CHILDREN per ping.
            let mut k = u64::from(round + 1) * CHILDREN as u64;
            let mut batch = |_: &mut _| {
                round += 1;
                fixture::ping_round(CHILDREN, round)
            };
            drive(iters, &mut router, &mut batch, |r, (from, bytes)| {
                k += 1;
                let now = Instant(k * 2_000 / CHILDREN as u64);
                r.handle(now, *from, bytes);
                while r.poll_transmit(now, &mut buf).is_some() {}
                while r.poll_event().is_some() {}
            })
        });
    });
    g.finish();
}

fn mgs_updates(c: &mut Criterion) {
    const ROUTERS: usize = 100;
    let mut g = c.benchmark_group("mgs");
    g.throughput(Throughput::Elements(1));
    let mut buf = [0u8; MAX_DATAGRAM];
    g.bench_function(format!("keepalive_update/{ROUTERS}_routers"), |b| {
        b.iter_custom(|iters| {
            // A fresh MGS per batch: the keep-alives chain on each router's opening update.
            let mut batch = |m: &mut vigil_proto::Mgs<vigil_sim::Slots>| {
                *m = fixture::mgs(1_000, Instant(0));
                let (updates, _) = fixture::router_updates(ROUTERS, 0, 200);
                for (from, bytes) in &updates[..ROUTERS] {
                    m.handle(Instant(0), *from, bytes);
                    while m.poll_transmit(Instant(0), &mut buf).is_some() {}
                    while m.poll_event().is_some() {}
                }
                updates[ROUTERS..].to_vec()
            };
            let mut mgs = fixture::mgs(1_000, Instant(0));
            let mut out = [0u8; MAX_DATAGRAM];
            drive(iters, &mut mgs, &mut batch, |m, (from, bytes)| {
                m.handle(Instant(1), *from, bytes);
                while m.poll_transmit(Instant(1), &mut out).is_some() {}
                while m.poll_event().is_some() {}
            })
        });
    });
    let (_, per_page) = fixture::router_updates(1, 1, 0);
    g.throughput(Throughput::Elements(per_page as u64));
    g.bench_function(format!("full_page_of_{per_page}_new_nodes/{ROUTERS}_routers"), |b| {
        b.iter_custom(|iters| {
            let pages = 20;
            let mut batch = |m: &mut vigil_proto::Mgs<vigil_sim::Slots>| {
                let (updates, nodes) = fixture::router_updates(ROUTERS, pages, 0);
                *m = fixture::mgs(nodes + ROUTERS, Instant(0));
                for (from, bytes) in &updates[..ROUTERS] {
                    m.handle(Instant(0), *from, bytes);
                    while m.poll_transmit(Instant(0), &mut buf).is_some() {}
                    while m.poll_event().is_some() {}
                }
                updates[ROUTERS..].to_vec()
            };
            let mut mgs = fixture::mgs(1_000, Instant(0));
            let mut out = [0u8; MAX_DATAGRAM];
            drive(iters, &mut mgs, &mut batch, |m, (from, bytes)| {
                m.handle(Instant(1), *from, bytes);
                while m.poll_transmit(Instant(1), &mut out).is_some() {}
                while m.poll_event().is_some() {}
            })
        });
    });
    g.finish();
}

fn order_fan_out(c: &mut Criterion) {
    let mut g = c.benchmark_group("router");
    g.throughput(Throughput::Elements(CHILDREN as u64));
    g.sample_size(20);
    g.bench_function(format!("order_fan_out/{CHILDREN}_children"), |b| {
        let mut router = fixture::router_under_parent(CHILDREN, Instant(0));
        let mut seq = 0u32;
        let mut buf = [0u8; MAX_DATAGRAM];
        let parent = NodeId::from_name("mgs");
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                seq += 1;
                let order = fixture::encode(
                    parent,
                    fixture::ROUTER,
                    seq,
                    &Message::Order(fixture::recovery_order(seq)),
                );
                let start = Wall::now();
                router.handle(Instant(1), fixture::PARENT, &order);
                let mut pushed = 0;
                while router.poll_transmit(Instant(1), &mut buf).is_some() {
                    pushed += 1;
                }
                while router.poll_event().is_some() {}
                spent += start.elapsed();
                assert_eq!(pushed, CHILDREN, "one push per child");
            }
            spent
        });
    });
    g.finish();
}

criterion_group!(benches, codec, router_pings, mgs_updates, order_fan_out);
criterion_main!(benches);
