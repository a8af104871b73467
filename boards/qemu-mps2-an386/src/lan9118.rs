//! SMSC LAN9118 Ethernet controller, as an [`embassy_net_driver::Driver`].
//!
//! This module owns the controller's register block: bring-up ([`Lan9118::new`]), moving frames
//! between its FIFOs and embassy-net, and acknowledging its interrupt ([`IrqHandle`]). Nothing
//! else may touch the registers.
//!
//! # How frames move
//! - **Receive**: the controller queues one status word per frame in the RX status FIFO and the
//!   frame itself, FCS included, in the RX data FIFO as little-endian dwords. [`Driver::receive`]
//!   pops a status, copies the frame into the driver's buffer and hands it to the stack; frames
//!   with a receive error or a size the stack cannot take are drained and dropped.
//! - **Transmit**: each frame is one segment: TX command A (first and last segment, byte count),
//!   command B (frame length), then the data as little-endian dwords. Status words are never read
//!   (TXSAO lets the status FIFO overrun), because a failed transmission has no one to retry it
//!   but the protocol above.
//! - **Waking**: the controller raises its interrupt line when an RX status is queued (RSFL).
//!   The board routes that interrupt to [`IrqHandle::on_interrupt`], which acknowledges it and
//!   wakes the network task. The TX data FIFO (4.5 KiB) drains at line rate in microseconds, so a
//!   full FIFO is retried on the next executor pass rather than given its own interrupt.
//! - **Link**: read from the PHY's basic status register each time the stack asks. There is no
//!   link-change interrupt: the stack asks again whenever anything wakes it, and the router
//!   sends on a timer, so a link coming up is seen within one ping interval.
//!
//! # QEMU's model
//! Written against the datasheet and checked on QEMU's `lan9118` (mps2-an386). The model
//! differs from the chip in ways this driver respects: MAC_CR holds only PRMS after reset (so RX
//! and TX must be enabled explicitly), the MAC CSR busy bit never sets, the RX status *peek*
//! register returns the wrong word (so it is not used), reading an empty status FIFO returns a
//! stale word (so `RX_FIFO_INF` is always checked first), and touching an unimplemented register
//! aborts the emulator (so only the registers below are used).

use core::ptr::{read_volatile, write_volatile};
use core::task::Context;

use embassy_net_driver::{
    Capabilities, Driver, HardwareAddress, LinkState, RxToken as RxTokenTrait, TxToken as TxTokenTrait,
};
use embassy_sync::waitqueue::AtomicWaker;

/// Largest Ethernet frame handed to or taken from the stack: header and payload, no FCS.
pub const MTU: usize = 1514;

/// Bytes of frame check sequence the controller leaves at the end of every received frame.
const FCS_LEN: usize = 4;

// Register offsets from the base of the block (datasheet section 5).
const RX_DATA_FIFO: usize = 0x00;
const TX_DATA_FIFO: usize = 0x20;
const RX_STATUS_FIFO: usize = 0x40;
const ID_REV: usize = 0x50;
const IRQ_CFG: usize = 0x54;
const INT_STS: usize = 0x58;
const INT_EN: usize = 0x5c;
const BYTE_TEST: usize = 0x64;
const FIFO_INT: usize = 0x68;
const TX_CFG: usize = 0x70;
const HW_CFG: usize = 0x74;
const RX_FIFO_INF: usize = 0x7c;
const TX_FIFO_INF: usize = 0x80;
const MAC_CSR_CMD: usize = 0xa4;
const MAC_CSR_DATA: usize = 0xa8;

/// What BYTE_TEST reads on a correctly wired 32-bit bus.
const BYTE_TEST_PATTERN: u32 = 0x8765_4321;
/// The chip id in the top half of ID_REV.
const CHIP_ID_9118: u32 = 0x0118;

const IRQ_CFG_IRQ_EN: u32 = 1 << 8;
const IRQ_CFG_IRQ_POL: u32 = 1 << 4;
const IRQ_CFG_IRQ_TYPE: u32 = 1 << 0;
/// INT_STS/INT_EN: RX status FIFO level reached.
const INT_RSFL: u32 = 1 << 3;
const HW_CFG_SRST: u32 = 1 << 0;
const TX_CFG_TX_ON: u32 = 1 << 1;
const TX_CFG_TXSAO: u32 = 1 << 2;
const TX_CMD_A_FIRST_SEG: u32 = 1 << 13;
const TX_CMD_A_LAST_SEG: u32 = 1 << 12;
const RX_STS_ERROR: u32 = 1 << 15;
const MAC_CSR_BUSY: u32 = 1 << 31;
const MAC_CSR_READ: u32 = 1 << 30;

// MAC registers, reached through MAC_CSR_CMD/MAC_CSR_DATA.
const MAC_CR: u32 = 1;
const MAC_ADDRH: u32 = 2;
const MAC_ADDRL: u32 = 3;
const MAC_MII_ACC: u32 = 6;
const MAC_MII_DATA: u32 = 7;
const MAC_CR_FDPX: u32 = 1 << 20;
const MAC_CR_TXEN: u32 = 1 << 3;
const MAC_CR_RXEN: u32 = 1 << 2;
const MII_ACC_BUSY: u32 = 1 << 0;
/// The internal PHY answers at MII address 1.
const PHY_ADDR: u32 = 1;
const PHY_BSR: u32 = 1;
const PHY_BSR_LINK_UP: u32 = 1 << 2;

/// Upper bound on polls of a self-clearing busy bit. The chip clears them within microseconds;
/// the bound only keeps a dead or absent chip from hanging the firmware.
const BUSY_POLLS: u32 = 100_000;

/// Woken when the controller signals a received frame. One waker suffices: embassy-net drives
/// the whole device from a single task.
static WAKER: AtomicWaker = AtomicWaker::new();

/// Why bring-up failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// BYTE_TEST did not read back its fixed pattern: nothing, or something else, is mapped there.
    NotPresent,
    /// ID_REV names another chip.
    WrongChip(u32),
    /// A soft reset or a MAC register access never completed.
    Timeout,
}

/// The register block at a fixed address. All MMIO of this module goes through it.
#[derive(Clone, Copy)]
struct Regs {
    base: usize,
}

impl Regs {
    fn read(self, offset: usize) -> u32 {
        // SAFETY: `Lan9118::new`'s caller guarantees `base` maps a LAN9118 register block;
        // `offset` is one of this module's register constants, so the access is aligned and in
        // the block, and volatile because every read has side effects on the chip.
        unsafe { read_volatile((self.base + offset) as *const u32) }
    }

    fn write(self, offset: usize, value: u32) {
        // SAFETY: as in `read`.
        unsafe { write_volatile((self.base + offset) as *mut u32, value) }
    }

    fn wait_clear(self, offset: usize, bit: u32) -> Result<(), Error> {
        wait(|| Ok(self.read(offset) & bit == 0))
    }

    fn mac_read(self, reg: u32) -> Result<u32, Error> {
        self.wait_clear(MAC_CSR_CMD, MAC_CSR_BUSY)?;
        self.write(MAC_CSR_CMD, MAC_CSR_BUSY | MAC_CSR_READ | reg);
        self.wait_clear(MAC_CSR_CMD, MAC_CSR_BUSY)?;
        Ok(self.read(MAC_CSR_DATA))
    }

    fn mac_write(self, reg: u32, value: u32) -> Result<(), Error> {
        self.wait_clear(MAC_CSR_CMD, MAC_CSR_BUSY)?;
        self.write(MAC_CSR_DATA, value);
        self.write(MAC_CSR_CMD, MAC_CSR_BUSY | reg);
        self.wait_clear(MAC_CSR_CMD, MAC_CSR_BUSY)
    }

    fn phy_read(self, reg: u32) -> Result<u32, Error> {
        let mii_idle = || Ok(self.mac_read(MAC_MII_ACC)? & MII_ACC_BUSY == 0);
        wait(mii_idle)?;
        self.mac_write(MAC_MII_ACC, (PHY_ADDR << 11) | (reg << 6) | MII_ACC_BUSY)?;
        wait(mii_idle)?;
        Ok(self.mac_read(MAC_MII_DATA)? & 0xffff)
    }
}

/// Polls `done` until it holds, at most [`BUSY_POLLS`] times; an access that fails inside ends
/// the wait at once.
fn wait(mut done: impl FnMut() -> Result<bool, Error>) -> Result<(), Error> {
    for _ in 0..BUSY_POLLS {
        if done()? {
            return Ok(());
        }
    }
    Err(Error::Timeout)
}

/// Acknowledges the controller's interrupt from the interrupt handler.
///
/// A copy of the register address, separate from [`Lan9118`] because the driver itself is owned
/// by the network task while the interrupt may fire at any time.
#[derive(Clone, Copy)]
pub struct IrqHandle {
    regs: Regs,
}

impl IrqHandle {
    /// Call from the controller's interrupt handler (IRQ 13 on mps2-an385/an386/an500).
    pub fn on_interrupt(&self) {
        // INT_STS is write-one-to-clear: acknowledge exactly what was seen, so an event raised
        // between the read and the write keeps the line asserted.
        let status = self.regs.read(INT_STS);
        self.regs.write(INT_STS, status);
        WAKER.wake();
    }
}

/// The LAN9118 as an embassy-net device.
pub struct Lan9118 {
    regs: Regs,
    mac: [u8; 6],
    rx: [u8; MTU],
    tx: [u8; MTU],
}

impl Lan9118 {
    /// Resets the controller and starts its MAC.
    ///
    /// Keeps the MAC address the controller loaded at reset (from its EEPROM, or QEMU's `-nic
    /// mac=`), receives unicast to it and broadcast, and raises the interrupt line, active high,
    /// when a frame arrives. The caller then routes that interrupt to the returned
    /// [`IrqHandle`].
    ///
    /// # Safety
    /// `base` must be the address of a LAN9118 register block that nothing else accesses, and at
    /// most one `Lan9118` may exist (the wake-up signal is a single static).
    pub unsafe fn new(base: usize) -> Result<(Self, IrqHandle), Error> {
        let regs = Regs { base };
        if regs.read(BYTE_TEST) != BYTE_TEST_PATTERN {
            return Err(Error::NotPresent);
        }
        let id = regs.read(ID_REV) >> 16;
        if id != CHIP_ID_9118 {
            return Err(Error::WrongChip(id));
        }

        regs.write(HW_CFG, HW_CFG_SRST);
        regs.wait_clear(HW_CFG, HW_CFG_SRST)?;

        let low = regs.mac_read(MAC_ADDRL)?.to_le_bytes();
        let high = regs.mac_read(MAC_ADDRH)?.to_le_bytes();
        let mac = [low[0], low[1], low[2], low[3], high[0], high[1]];

        regs.write(TX_CFG, TX_CFG_TX_ON | TX_CFG_TXSAO);
        // Clearing PRMS (set at reset) turns on address filtering; broadcast stays accepted
        // because ARP needs it.
        regs.mac_write(MAC_CR, MAC_CR_FDPX | MAC_CR_TXEN | MAC_CR_RXEN)?;

        // Interrupt as soon as one RX status is queued (level 0: "more than zero").
        regs.write(FIFO_INT, regs.read(FIFO_INT) & !0xff);
        regs.write(INT_STS, u32::MAX);
        regs.write(INT_EN, INT_RSFL);
        // Active-high push-pull, which is what the NVIC expects of a level interrupt.
        regs.write(IRQ_CFG, IRQ_CFG_IRQ_EN | IRQ_CFG_IRQ_POL | IRQ_CFG_IRQ_TYPE);

        let driver = Self { regs, mac, rx: [0; MTU], tx: [0; MTU] };
        Ok((driver, IrqHandle { regs }))
    }

    /// The MAC address in use.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// Pops the next good frame into `self.rx` and returns its length, dropping bad ones.
    fn pop_frame(&mut self) -> Option<usize> {
        loop {
            if (self.regs.read(RX_FIFO_INF) >> 16) & 0xff == 0 {
                return None;
            }
            let status = self.regs.read(RX_STATUS_FIFO);
            let with_fcs = ((status >> 16) & 0x3fff) as usize;
            // The whole frame must leave the FIFO whatever happens to it, or the next status
            // would be paired with the rest of this one.
            let dwords = with_fcs.div_ceil(4);
            let frame_len = with_fcs.saturating_sub(FCS_LEN);
            let keep = status & RX_STS_ERROR == 0 && frame_len <= MTU;
            for i in 0..dwords {
                let word = self.regs.read(RX_DATA_FIFO).to_le_bytes();
                if keep {
                    let at = i * 4;
                    let end = (at + 4).min(frame_len);
                    if at < end {
                        self.rx[at..end].copy_from_slice(&word[..end - at]);
                    }
                }
            }
            if keep {
                return Some(frame_len);
            }
        }
    }

    fn tx_has_room(&self) -> bool {
        // Free bytes in the TX data FIFO; a frame needs its padded data plus two command dwords.
        let free = (self.regs.read(TX_FIFO_INF) & 0xffff) as usize;
        free >= MTU.div_ceil(4) * 4 + 8
    }
}

/// A received frame, already copied out of the controller.
pub struct RxToken<'a> {
    frame: &'a mut [u8],
}

impl RxTokenTrait for RxToken<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        f(self.frame)
    }
}

/// Room for one frame, written to the controller when consumed.
pub struct TxToken<'a> {
    regs: Regs,
    buf: &'a mut [u8; MTU],
}

impl TxTokenTrait for TxToken<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        // embassy-net never asks for more than `capabilities().max_transmission_unit`.
        let frame = &mut self.buf[..len];
        let result = f(frame);
        let len32 = len as u32;
        self.regs.write(TX_DATA_FIFO, TX_CMD_A_FIRST_SEG | TX_CMD_A_LAST_SEG | len32);
        self.regs.write(TX_DATA_FIFO, len32);
        for chunk in frame.chunks(4) {
            let mut word = [0u8; 4];
            word[..chunk.len()].copy_from_slice(chunk);
            self.regs.write(TX_DATA_FIFO, u32::from_le_bytes(word));
        }
        result
    }
}

impl Driver for Lan9118 {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, cx: &mut Context) -> Option<(RxToken<'_>, TxToken<'_>)> {
        // Register before looking, so a frame arriving in between still wakes us.
        WAKER.register(cx.waker());
        if !self.tx_has_room() {
            cx.waker().wake_by_ref();
            return None;
        }
        let len = self.pop_frame()?;
        Some((RxToken { frame: &mut self.rx[..len] }, TxToken { regs: self.regs, buf: &mut self.tx }))
    }

    fn transmit(&mut self, cx: &mut Context) -> Option<TxToken<'_>> {
        if !self.tx_has_room() {
            cx.waker().wake_by_ref();
            return None;
        }
        Some(TxToken { regs: self.regs, buf: &mut self.tx })
    }

    fn link_state(&mut self, _cx: &mut Context) -> LinkState {
        match self.regs.phy_read(PHY_BSR) {
            Ok(bsr) if bsr & PHY_BSR_LINK_UP != 0 => LinkState::Up,
            _ => LinkState::Down,
        }
    }

    fn capabilities(&self) -> Capabilities {
        // Defaults: no checksum offload (the LAN9118 has none), no burst limit.
        let mut caps = Capabilities::default();
        caps.max_transmission_unit = MTU;
        caps
    }

    fn hardware_address(&self) -> HardwareAddress {
        HardwareAddress::Ethernet(self.mac)
    }
}
