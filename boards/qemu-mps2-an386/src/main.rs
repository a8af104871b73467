//! Vigil router firmware on QEMU's mps2-an386 (Cortex-M4F with a LAN9118 NIC).
//!
//! This crate owns the board bring-up only: clocks and time ([`time_driver`]), the NIC
//! ([`lan9118`]), the console ([`logger`]), the fault handlers, and where the configuration comes
//! from. Everything the router does lives in `vigil-router-fw`, which real boards share.

#![no_std]
#![no_main]

mod lan9118;
mod logger;
mod time_driver;

use core::cell::Cell;

use cortex_m::peripheral::NVIC;
use cortex_m_rt::{exception, ExceptionFrame};
use cortex_m_semihosting::debug::{self, EXIT_FAILURE};
use cortex_m_semihosting::hprintln;
use critical_section::Mutex;
use embassy_executor::Spawner;
use embassy_net::udp::{PacketMetadata, UdpSocket};
use embassy_net::{Ipv4Address, Ipv4Cidr, Runner, StackResources, StaticConfigV4};
use static_cell::StaticCell;

use lan9118::{IrqHandle, Lan9118};

/// Where mps2-an385/an386/an500 map the LAN9118.
const LAN9118_BASE: usize = 0x4020_0000;
/// The LAN9118's line on the NVIC of those machines.
const LAN9118_IRQ: u16 = 13;

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

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    logger::init(log::LevelFilter::Info);
    let core = cortex_m::Peripherals::take().expect("core peripherals are taken once, here");
    time_driver::init(core.SYST);
    log::info!("vigil router on mps2-an386");

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

    let config = embassy_net::Config::ipv4_static(StaticConfigV4 {
        address: Ipv4Cidr::new(Ipv4Address::new(10, 0, 2, 15), 24),
        gateway: Some(Ipv4Address::new(10, 0, 2, 2)),
        dns_servers: Default::default(),
    });
    static RESOURCES: StaticCell<StackResources<2>> = StaticCell::new();
    let (stack, runner) = embassy_net::new(nic, config, RESOURCES.init(StackResources::new()), 1);
    spawner.spawn(net_task(runner).expect("net task spawns once"));

    static RX_META: StaticCell<[PacketMetadata; 4]> = StaticCell::new();
    static TX_META: StaticCell<[PacketMetadata; 4]> = StaticCell::new();
    static RX_BUF: StaticCell<[u8; 4096]> = StaticCell::new();
    static TX_BUF: StaticCell<[u8; 4096]> = StaticCell::new();
    let mut socket = UdpSocket::new(
        stack,
        RX_META.init([PacketMetadata::EMPTY; 4]),
        RX_BUF.init([0; 4096]),
        TX_META.init([PacketMetadata::EMPTY; 4]),
        TX_BUF.init([0; 4096]),
    );
    if let Err(e) = socket.bind(7000) {
        fail(format_args!("bind: {e:?}"));
    }
    log::info!("echo on udp/7000");
    let mut buf = [0u8; 1500];
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((n, meta)) => {
                log::info!("{} bytes from {}", n, meta.endpoint);
                if let Err(e) = socket.send_to(&buf[..n], meta.endpoint).await {
                    log::warn!("send: {e:?}");
                }
            }
            Err(e) => log::warn!("recv: {e:?}"),
        }
    }
}

/// Reports a fatal error on the console and ends QEMU with a failure status.
fn fail(message: core::fmt::Arguments) -> ! {
    hprintln!("FATAL: {}", message);
    debug::exit(EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
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
