//! A TPACKET_V3 receive ring on a packet socket (packet(7), the kernel's
//! Documentation/networking/packet_mmap.rst): the kernel writes frames into blocks of a ring
//! shared with this process, and hands over a block when it is full or `retire_ms` after its
//! first frame. Reading costs no system call per frame and no copy beyond the kernel's own, and
//! the ring (not the socket's receive buffer) absorbs bursts: `BLOCKS` × `BLOCK` bytes hold
//! about 100,000 frames cut to the watch's snaplen. Frames that find the ring full are dropped
//! and counted in `PACKET_STATISTICS`.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

const TPACKET_V3: libc::c_int = 2;
const PACKET_VERSION: libc::c_int = 10;
const PACKET_RX_RING: libc::c_int = 5;
const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
const BLOCK: u32 = 1 << 20;
const BLOCKS: u32 = 32;
const FRAME: u32 = 2048;

/// `struct tpacket_req3`.
#[repr(C)]
struct Req3 {
    block_size: u32,
    block_nr: u32,
    frame_size: u32,
    frame_nr: u32,
    retire_blk_tov: u32,
    sizeof_priv: u32,
    feature_req_word: u32,
}

/// The ring mapped into this process.
pub struct Ring {
    map: *mut u8,
    len: usize,
    next: u32,
}

// SAFETY: the mapping is owned by the Ring and only touched through &mut self.
unsafe impl Send for Ring {}

/// One frame in the ring: its bytes (as cut by the filter), wire length and kernel timestamp.
pub struct RingFrame<'a> {
    pub data: &'a [u8],
    pub orig_len: u32,
    pub ts_ns: i64,
}

impl Ring {
    /// Switches `fd` (not yet bound) to TPACKET_V3 and maps its receive ring.
    pub fn new(fd: &OwnedFd, retire_ms: u32) -> io::Result<Ring> {
        super::packet::setsockopt(fd, libc::SOL_PACKET, PACKET_VERSION, &TPACKET_V3)?;
        let req = Req3 {
            block_size: BLOCK,
            block_nr: BLOCKS,
            frame_size: FRAME,
            frame_nr: BLOCK / FRAME * BLOCKS,
            retire_blk_tov: retire_ms,
            sizeof_priv: 0,
            feature_req_word: 0,
        };
        super::packet::setsockopt(fd, libc::SOL_PACKET, PACKET_RX_RING, &req)?;
        let len = (BLOCK * BLOCKS) as usize;
        // SAFETY: maps the socket's ring, as packet_mmap.rst describes; checked for failure.
        let map = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd.as_raw_fd(), 0) };
        if map == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Ring { map: map as *mut u8, len, next: 0 })
    }

    fn block(&self, i: u32) -> *mut u8 {
        // SAFETY: i < BLOCKS, inside the mapping.
        unsafe { self.map.add((i * BLOCK) as usize) }
    }

    /// Hands every frame of the blocks the kernel has released to `f`, then gives the blocks
    /// back; returns how many frames there were.
    pub fn drain(&mut self, mut f: impl FnMut(RingFrame<'_>)) -> usize {
        let mut n = 0;
        loop {
            let b = self.block(self.next);
            // struct tpacket_block_desc: version, offset_to_priv, then tpacket_hdr_v1
            // { block_status, num_pkts, offset_to_first_pkt, blk_len, ... }.
            // SAFETY: reads the block header inside the mapping; the status word is shared with
            // the kernel, so it is read volatile and followed by an acquire fence.
            let status = unsafe { std::ptr::read_volatile(b.add(8) as *const u32) };
            if status & TP_STATUS_USER == 0 {
                return n;
            }
            std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
            // SAFETY: the kernel handed this block over (TP_STATUS_USER): its frames are laid
            // out as tpacket3_hdr records chained by tp_next_offset, all inside the block.
            unsafe {
                let num = std::ptr::read(b.add(12) as *const u32);
                let mut p = b.add(std::ptr::read(b.add(16) as *const u32) as usize);
                for _ in 0..num {
                    // struct tpacket3_hdr: next_offset, sec, nsec, snaplen, len, status, mac, net.
                    let h = p as *const u32;
                    let (next, sec, nsec, snap, len) = (*h, *h.add(1), *h.add(2), *h.add(3), *h.add(4));
                    let mac = std::ptr::read(p.add(24) as *const u16);
                    let data = std::slice::from_raw_parts(p.add(mac as usize), snap as usize);
                    f(RingFrame { data, orig_len: len, ts_ns: sec as i64 * 1_000_000_000 + nsec as i64 });
                    n += 1;
                    p = p.add(next as usize);
                }
                std::sync::atomic::fence(std::sync::atomic::Ordering::Release);
                std::ptr::write_volatile(b.add(8) as *mut u32, TP_STATUS_KERNEL);
            }
            self.next = (self.next + 1) % BLOCKS;
        }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly what new() mapped.
        unsafe { libc::munmap(self.map as *mut libc::c_void, self.len) };
    }
}
