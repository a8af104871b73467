//! Vigil router firmware on the NUCLEO-H743ZI / NUCLEO-H743ZI2 (STM32H743, LAN8742A RMII PHY).
//!
//! This crate owns the board bring-up only: clocks, the Ethernet MAC and PHY, the hardware RNG,
//! and the defmt log over RTT. Everything the router does lives in `vigil-router-fw`, shared
//! with the other boards.
//!
//! # Memory
//! `memory.x` puts all RAM use in the AXI SRAM: the Ethernet DMA cannot reach the DTCM, and
//! descriptors or buffers there would leave the MAC sending and receiving nothing, without error.
//!
//! # Configuration
//! [`DEFAULTS`] below, overridden key by key by the build-time variable `VIGIL_ROUTER_CONFIG`
//! (same `key=value` text, see `vigil_router_fw::config`). The MAC address is derived from the
//! chip's unique id, so boards built from one image differ on the wire.
//!
//! # Generation
//! From the hardware RNG: different on every boot with overwhelming probability, though not
//! increasing (this board keeps no counter in flash yet).

#![no_std]
#![no_main]

use defmt::{info, unwrap};
use embassy_executor::Spawner;
use embassy_net::{Runner, StackResources};
use embassy_stm32::eth::{Ethernet, GenericPhy, PacketQueue, Sma};
use embassy_stm32::peripherals::{ETH, ETH_SMA, RNG};
use embassy_stm32::rng::Rng;
use embassy_stm32::{bind_interrupts, eth, rng, Config as HalConfig};
use static_cell::StaticCell;
use vigil_router_fw::{config, Config, Generation, Storage, CHILD_ROUTERS, TARGETS};
use {defmt_rtt as _, panic_probe as _};

/// What this board runs with when the build sets nothing else. The addresses are placeholders
/// for a lab network; the key is the public development key and must be replaced in production.
const DEFAULTS: &str = "name=nucleo-r0 ip=192.168.1.50/24 gateway=192.168.1.1 port=7000 \
    parent=192.168.1.10:7001 \
    key=1:766967696c2d6465762d6b65792d646f2d6e6f742d7573652d696e2d70726f64";

/// Nodes the router's table can hold: a few hundred KiB of the 512 KiB AXI SRAM.
const TABLE_SLOTS: usize = 1024;

type Device = Ethernet<'static, ETH, GenericPhy<Sma<'static, ETH_SMA>>>;

bind_interrupts!(struct Irqs {
    ETH => eth::InterruptHandler;
    RNG => rng::InterruptHandler<RNG>;
});

#[embassy_executor::task]
async fn net_task(mut runner: Runner<'static, Device>) -> ! {
    runner.run().await
}

/// 400 MHz from the internal oscillator, so the image does not depend on how the board's HSE
/// solder bridges are set.
fn clocks() -> HalConfig {
    use embassy_stm32::rcc::*;
    let mut config = HalConfig::default();
    config.rcc.hsi = Some(HSIPrescaler::DIV1);
    config.rcc.csi = true;
    // The RNG runs from HSI48.
    config.rcc.hsi48 = Some(Default::default());
    config.rcc.pll1 = Some(Pll {
        source: PllSource::HSI,
        prediv: PllPreDiv::DIV4,
        mul: PllMul::MUL50,
        fracn: None,
        divp: Some(PllDiv::DIV2),
        divq: None,
        divr: None,
    });
    config.rcc.sys = Sysclk::PLL1_P;
    config.rcc.ahb_pre = AHBPrescaler::DIV2;
    config.rcc.apb1_pre = APBPrescaler::DIV2;
    config.rcc.apb2_pre = APBPrescaler::DIV2;
    config.rcc.apb3_pre = APBPrescaler::DIV2;
    config.rcc.apb4_pre = APBPrescaler::DIV2;
    config.rcc.voltage_scale = VoltageScale::Scale1;
    config
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let p = embassy_stm32::init(clocks());
    info!("vigil router on nucleo-h743zi");

    let layers = [DEFAULTS, config::BUILD_LAYER];
    let config = match Config::from_layers(&layers) {
        Ok(config) => config,
        Err(e) => defmt::panic!("configuration: {}", e),
    };

    let mut rng = Rng::new(p.RNG, Irqs);
    // No persistent counter: a random generation. When it falls below the one the parent
    // holds, the parent answers `Stale` and the router takes one above (proto README).
    let generation = Generation::below_limit(rng.next_u32());

    // Locally administered, unicast, unique per chip.
    let uid = embassy_stm32::uid::uid();
    let mac = [0x02, uid[0], uid[1], uid[2], uid[3], uid[4]];

    static PACKETS: StaticCell<PacketQueue<4, 4>> = StaticCell::new();
    // NUCLEO-H743ZI RMII wiring: REF_CLK PA1, CRS_DV PA7, RXD0 PC4, RXD1 PC5, TXD0 PG13,
    // TXD1 PB13, TX_EN PG11; MDIO PA2, MDC PC1.
    let device = Ethernet::new(
        PACKETS.init(PacketQueue::new()),
        p.ETH,
        Irqs,
        p.PA1,
        p.PA7,
        p.PC4,
        p.PC5,
        p.PG13,
        p.PB13,
        p.PG11,
        mac,
        p.ETH_SMA,
        p.PA2,
        p.PC1,
    );

    static RESOURCES: StaticCell<StackResources<1>> = StaticCell::new();
    let (stack, runner) =
        embassy_net::new(device, config.net_config(), RESOURCES.init(StackResources::new()), rng.next_u64());
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
