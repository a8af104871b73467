//! Vigil router firmware on the WIZnet W5500-EVB-Pico (RP2040 with a W5500 on SPI0).
//!
//! This crate owns the board bring-up only: the SPI bus and the W5500 (in MACRAW mode, through
//! `embassy-net-wiznet`), the MAC address, and the defmt log over RTT. Everything the router does
//! lives in `vigil-router-fw`, shared with the other boards.
//!
//! # Configuration
//! [`DEFAULTS`] below, overridden key by key by the build-time variable `VIGIL_ROUTER_CONFIG`
//! (same `key=value` text, see `vigil_router_fw::config`). The MAC address is derived from the
//! flash chip's unique id, so boards built from one image differ on the wire.
//!
//! # Generation
//! From the ring-oscillator RNG: different on every boot with high probability, though not
//! increasing (this board keeps no counter in flash yet).

#![no_std]
#![no_main]

use defmt::{info, unwrap};
use embassy_executor::Spawner;
use embassy_net::StackResources;
use embassy_net_wiznet::chip::W5500;
use embassy_net_wiznet::{Device, Runner, State};
use embassy_rp::clocks::RoscRng;
use embassy_rp::flash::{Blocking, Flash};
use embassy_rp::gpio::{Input, Level, Output, Pull};
use embassy_rp::peripherals::{DMA_CH0, DMA_CH1, SPI0};
use embassy_rp::spi::{Async, Config as SpiConfig, Spi};
use embassy_rp::{bind_interrupts, dma};
use embassy_time::Delay;
use embedded_hal_bus::spi::ExclusiveDevice;
use static_cell::StaticCell;
use vigil_router_fw::{config, Config, Generation, Storage};
use {defmt_rtt as _, panic_probe as _};

/// What this board runs with when the build sets nothing else. The addresses are placeholders
/// for a lab network; the key is the public development key and must be replaced in production.
const DEFAULTS: &str = "name=pico-r0 ip=192.168.1.51/24 gateway=192.168.1.1 port=7000 \
    parent=192.168.1.10:7001 \
    key=1:766967696c2d6465762d6b65792d646f2d6e6f742d7573652d696e2d70726f64";

/// Nodes the router's table can hold (children and their descendants). With the other statics
/// this board keeps small (below), 1,024 slots of 172 bytes leave room in the 264 KiB of SRAM for
/// the stack and a margin (boards/README.md).
const TABLE_SLOTS: usize = 1024;

/// Child routers whose subtree summaries the router keeps: this board is a leaf router, with
/// clients below it. A fifth child router is tracked, but while it is live this router reports
/// no order progress up, so no window closes by order over its subtree (counted in `overflow`;
/// see `vigil_router_fw`).
const CHILD_ROUTERS: usize = 4;

/// Targets whose status the router relays up, from servers below it (an OSS with eight OSTs;
/// a leaf with clients only has none): past that many a report is refused and counted, and that
/// target's restart is not seen here (see `vigil_router_fw`).
const TARGETS: usize = 8;

/// Ethernet frames queued between the W5500 driver and the network stack, each way (1,514 bytes
/// each). The W5500 itself buffers 16 KiB each way, so frames wait there while the router is
/// busy, and two here keep the driver a frame ahead. The rate does not need more: 1,024 children
/// pinging every 2 s are 512 datagrams a second in and as many replies out, frames of about 100
/// bytes; at an estimated 150 µs of SPI each (31.25 MHz, a few register transactions per frame)
/// that is some 15% of the bus's time.
const FRAMES: usize = 2;

/// The on-board flash (W25Q16JV), which the unique id is read from.
const FLASH_SIZE: usize = 2 * 1024 * 1024;

/// Requested SPI clock; the RP2040 rounds it down to what its prescaler makes from clk_peri,
/// well inside the W5500's 80 MHz.
const SPI_HZ: u32 = 50_000_000;

type SpiDevice = ExclusiveDevice<Spi<'static, SPI0, Async>, Output<'static>, Delay>;

bind_interrupts!(struct Irqs {
    DMA_IRQ_0 => dma::InterruptHandler<DMA_CH0>, dma::InterruptHandler<DMA_CH1>;
});

#[embassy_executor::task]
async fn wiznet_task(runner: Runner<'static, W5500, SpiDevice, Input<'static>, Output<'static>>) -> ! {
    runner.run().await
}

#[embassy_executor::task]
async fn net_task(mut runner: embassy_net::Runner<'static, Device<'static>>) -> ! {
    runner.run().await
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let p = embassy_rp::init(Default::default());
    info!("vigil router on w5500-evb-pico");

    let layers = [DEFAULTS, config::BUILD_LAYER];
    let config = match Config::from_layers(&layers) {
        Ok(config) => config,
        Err(e) => defmt::panic!("configuration: {}", e),
    };

    let mut rng = RoscRng;
    // No persistent counter: a random generation. When it falls below the one the parent
    // holds, the parent answers `Stale` and the router takes one above (proto README).
    let generation = Generation::below_limit(rng.next_u32());

    // Locally administered, unicast, unique per board.
    let mut uid = [0u8; 8];
    let mut flash = Flash::<_, Blocking, FLASH_SIZE>::new_blocking(p.FLASH);
    unwrap!(flash.blocking_unique_id(&mut uid));
    let mac = [0x02, uid[3], uid[4], uid[5], uid[6], uid[7]];

    let mut spi_config = SpiConfig::default();
    spi_config.frequency = SPI_HZ;
    // Board wiring: SCK GP18, MOSI GP19, MISO GP16, CSn GP17, INTn GP21, RSTn GP20.
    let spi = Spi::new(p.SPI0, p.PIN_18, p.PIN_19, p.PIN_16, p.DMA_CH0, p.DMA_CH1, Irqs, spi_config);
    let cs = Output::new(p.PIN_17, Level::High);
    let int = Input::new(p.PIN_21, Pull::Up);
    let reset = Output::new(p.PIN_20, Level::High);
    // The chip-select pin cannot fail to drive.
    let Ok(spi_dev) = ExclusiveDevice::new(spi, cs, Delay);

    static STATE: StaticCell<State<FRAMES, FRAMES>> = StaticCell::new();
    let (device, runner) =
        match embassy_net_wiznet::new(mac, STATE.init(State::new()), spi_dev, int, reset).await {
            Ok(pair) => pair,
            Err(e) => defmt::panic!("W5500 bring-up failed: {}", defmt::Debug2Format(&e)),
        };
    spawner.spawn(unwrap!(wiznet_task(runner)));

    static RESOURCES: StaticCell<StackResources<1>> = StaticCell::new();
    let seed = u64::from(rng.next_u32()) << 32 | u64::from(rng.next_u32());
    let (stack, runner) =
        embassy_net::new(device, config.net_config(), RESOURCES.init(StackResources::new()), seed);
    spawner.spawn(unwrap!(net_task(runner)));

    info!("waiting for the Ethernet link");
    stack.wait_link_up().await;

    // The router's figures, for `boards/build-all.sh` (see `vigil_router_fw::footprint`).
    static FOOTPRINT: [u8; vigil_router_fw::FOOTPRINT_LEN] =
        vigil_router_fw::footprint::<TABLE_SLOTS, CHILD_ROUTERS, TARGETS>();
    core::hint::black_box(&FOOTPRINT);
    static STORAGE: StaticCell<Storage<TABLE_SLOTS>> = StaticCell::new();
    let storage = Storage::init(STORAGE.uninit());
    let e = vigil_router_fw::run::<TABLE_SLOTS, CHILD_ROUTERS, TARGETS>(stack, &config, generation, storage)
        .await;
    defmt::panic!("router stopped: cannot bind udp/{}: {}", config.port, e);
}
