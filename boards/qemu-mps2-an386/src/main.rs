//! Vigil router firmware on QEMU's mps2-an386 (Cortex-M4F with a LAN9118 NIC).
//!
//! This crate owns the board bring-up only: the executor ([`executor`]), time
//! ([`time_driver`]), the NIC ([`lan9118`]), the console ([`logger`]), what comes from the host
//! ([`semihosting`]: command line, wall clock, exit), the stack's high-water mark ([`stack`]), and
//! the fault handlers. Everything the router does lives in `vigil-router-fw`, which the real
//! boards share.
//!
//! # Configuration
//! Three layers of `key=value` text (see `vigil_router_fw::config`), later ones winning:
//! [`DEFAULTS`] below, the build-time variable `VIGIL_ROUTER_CONFIG`, and the semihosting command
//! line (`qemu-system-arm ... -append "name=r2 parent=10.0.2.2:7002"`), so a test can boot one
//! image as several routers.
//!
//! # Generation
//! The host's clock in seconds, through semihosting: it grows across reboots of the guest, which
//! is what the router's parents need to see, as long as two boots are a second apart.

#![no_std]
#![no_main]

mod executor;
mod lan9118;
mod logger;
mod semihosting;
mod stack;
mod time_driver;

use core::cell::Cell;

use cortex_m::peripheral::NVIC;
use cortex_m_rt::{entry, exception, ExceptionFrame};
use critical_section::Mutex;
use embassy_executor::Spawner;
use embassy_net::{Runner, StackResources};
use static_cell::StaticCell;
use vigil_router_fw::{config, Config, Generation, Storage, CHILD_ROUTERS, TARGETS};

use lan9118::{IrqHandle, Lan9118};
use semihosting::fail;

/// Where mps2-an385/an386/an500 map the LAN9118.
const LAN9118_BASE: usize = 0x4020_0000;
/// The LAN9118's line on the NVIC of those machines.
const LAN9118_IRQ: u16 = 13;

/// What this board runs with when nothing overrides it: QEMU's user-mode network (the host is
/// 10.0.2.2), the parent on host port 7001, and a development key that is public by design.
const DEFAULTS: &str = "name=qemu-r0 ip=10.0.2.15/24 gateway=10.0.2.2 port=7000 \
    parent=10.0.2.2:7001 \
    key=1:766967696c2d6465762d6b65792d646f2d6e6f742d7573652d696e2d70726f64";

/// Nodes the router's table can hold. RAM is plentiful here (4 MiB); a real board sizes this
/// to its own memory.
const TABLE_SLOTS: usize = 1024;

/// The NIC's interrupt acknowledger, for `DefaultHandler`; `None` until the NIC is up.
static LAN9118_IRQ_HANDLE: Mutex<Cell<Option<IrqHandle>>> = Mutex::new(Cell::new(None));

#[derive(Clone, Copy)]
struct Irq(u16);

// SAFETY: `Irq` only ever holds a valid external interrupt number of this machine.
unsafe impl cortex_m::interrupt::InterruptNumber for Irq {
    fn number(self) -> u16 {
        self.0
    }
}

#[embassy_executor::task]
async fn net_task(mut runner: Runner<'static, Lan9118>) -> ! {
    runner.run().await
}

#[entry]
fn main() -> ! {
    stack::paint();
    logger::init(log::LevelFilter::Info);
    let core = cortex_m::Peripherals::take().expect("core peripherals are taken once, here");
    time_driver::init(core.SYST);
    log::info!("vigil router on mps2-an386");
    executor::run(|spawner| spawner.spawn(router_task(spawner).expect("router task spawns once")))
}

#[embassy_executor::task]
async fn router_task(spawner: Spawner) {
    let mut cmdline = [0u8; 512];
    let layers = [DEFAULTS, config::BUILD_LAYER, semihosting::cmdline(&mut cmdline)];
    let config = match Config::from_layers(&layers) {
        Ok(config) => config,
        Err(e) => fail(format_args!("configuration: {e}")),
    };
    let generation = Generation(semihosting::unix_time());

    // SAFETY: this machine maps a LAN9118 at LAN9118_BASE, and this is the only driver for it.
    let (nic, irq) = match unsafe { Lan9118::new(LAN9118_BASE) } {
        Ok(pair) => pair,
        Err(e) => fail(format_args!("LAN9118 bring-up failed: {e:?}")),
    };
    let mac = nic.mac();
    log::info!(
        "LAN9118 up, MAC {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        mac[0],
        mac[1],
        mac[2],
        mac[3],
        mac[4],
        mac[5]
    );
    critical_section::with(|cs| LAN9118_IRQ_HANDLE.borrow(cs).set(Some(irq)));
    NVIC::unpend(Irq(LAN9118_IRQ));
    // SAFETY: the handler below is ready and touches only the NIC's interrupt registers.
    unsafe { NVIC::unmask(Irq(LAN9118_IRQ)) };

    // One socket: the router's.
    static RESOURCES: StaticCell<StackResources<1>> = StaticCell::new();
    let (stack, runner) = embassy_net::new(
        nic,
        config.net_config(),
        RESOURCES.init(StackResources::new()),
        // Seeds smoltcp's ephemeral ports and TCP sequence numbers, neither of which the router
        // uses; the generation is as good as anything.
        u64::from(generation.0),
    );
    spawner.spawn(net_task(runner).expect("net task spawns once"));
    spawner.spawn(stack::watch().expect("stack watch spawns once"));

    // The router's figures, for `boards/build-all.sh` (see `vigil_router_fw::footprint`).
    static FOOTPRINT: [u8; vigil_router_fw::FOOTPRINT_LEN] =
        vigil_router_fw::footprint::<TABLE_SLOTS, CHILD_ROUTERS, TARGETS>();
    core::hint::black_box(&FOOTPRINT);
    static STORAGE: StaticCell<Storage<TABLE_SLOTS>> = StaticCell::new();
    let storage = Storage::init(STORAGE.uninit());
    let e = vigil_router_fw::run::<TABLE_SLOTS, CHILD_ROUTERS, TARGETS>(stack, &config, generation, storage)
        .await;
    fail(format_args!("router stopped: cannot bind udp/{}: {e:?}", config.port))
}

#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    if irqn == LAN9118_IRQ as i16 {
        if let Some(irq) = critical_section::with(|cs| LAN9118_IRQ_HANDLE.borrow(cs).get()) {
            irq.on_interrupt();
        }
    } else {
        fail(format_args!("unexpected interrupt {irqn}"));
    }
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    fail(format_args!("hard fault: {frame:?}"))
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    fail(format_args!("{info}"))
}
