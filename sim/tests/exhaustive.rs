//! The exhaustive check of the smallest cluster (MGS, router, two clients, one server) within
//! small bounds: every interleaving, exactly once and no early close after every step. The full
//! run's bounds and figures are in BENCHMARKS.md (`vigil-sim check`).

use vigil_sim::exhaustive::{check, crash, Bounds, Report, Start};

fn assert_holds(report: &Report) {
    if let Some(v) = &report.violation {
        panic!("{}\n    {}\n{}", v.what, v.trace.join("\n    "), report.line());
    }
    eprintln!("{}", report.line());
}

/// Every interleaving of a target's recovery with no fault, deep enough that its window closes
/// by order on many paths: each close is checked for an early close.
#[test]
fn a_recovery_in_every_order_closes_on_time_and_once() {
    let bounds = Bounds {
        depth: 30,
        start: Start::TargetRestart,
        in_flight: 4,
        losses: 0,
        duplicates: 0,
        reorders: 0,
        crashes: 0,
    };
    let report = check(&bounds);
    assert_holds(&report);
    assert!(report.closes_checked > 0, "the depth reaches windows closing by order: {}", report.line());
    assert_eq!(report.depth, 30, "states as deep as the bound");
}

/// A loss, a duplicate, a reordering and a crash of each kind, anywhere in the first steps of
/// a target's recovery.
#[test]
fn every_fault_early_in_a_recovery_keeps_exactly_once() {
    let bounds = Bounds {
        depth: 6,
        start: Start::TargetRestart,
        in_flight: 4,
        losses: 1,
        duplicates: 1,
        reorders: 1,
        crashes: crash::ALL,
    };
    let report = check(&bounds);
    assert_holds(&report);
    assert!(report.states > 1_000, "faults branch: {}", report.line());
}

/// From every node booting: the target's first boot is a recovery too.
#[test]
fn the_first_boot_in_every_order_with_a_loss() {
    let bounds = Bounds {
        depth: 20,
        start: Start::Boot,
        in_flight: 4,
        losses: 1,
        duplicates: 0,
        reorders: 0,
        crashes: 0,
    };
    let report = check(&bounds);
    assert_holds(&report);
    assert_eq!(report.depth, 20, "states as deep as the bound");
    let without = check(&Bounds { losses: 0, ..bounds });
    assert!(
        report.states > 2 * without.states,
        "a loss anywhere branches the boot: {} against {}",
        report.line(),
        without.line()
    );
}
