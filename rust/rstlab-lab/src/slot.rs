//! A run's address slot, claimed so that no two live runs on one host share it.
//!
//! The slot picks the run's addresses (10.77.x.y, fd77:slot::). Inside its own namespaces any
//! address would do, but the kernel oracle's tracepoints are global: a run keeps the events whose
//! addresses are its own, so two runs alive at once with the same slot would read each other's
//! RSTs. A random pick alone collides often enough (8 parallel runs over a catalogue of ~80 runs:
//! several percent per catalogue), so each slot is claimed by binding an abstract `AF_UNIX` name
//! (unix(7)): the bind is atomic across threads and processes (pytest-xdist workers), and the
//! name goes away with the descriptor — when the lab drops, and when the process dies, even by
//! SIGKILL — so a crashed run leaves nothing to reap.

use crate::error::{LabError, Result};
use crate::netns::owned;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

/// Tries before giving up: with 8192 slots, only a host running thousands of runs at once fails.
const TRIES: usize = 256;

/// A claimed slot; the claim ends when this value drops.
#[derive(Debug)]
pub(crate) struct SlotClaim {
    slot: u32,
    _name: Option<OwnedFd>,
}

impl SlotClaim {
    /// Claims the first free slot `pick` proposes. Where abstract sockets are refused (a
    /// sandbox), the proposal is taken unclaimed: the run still works, only the oracle's
    /// guarantee against a twin weakens.
    pub(crate) fn claim(mut pick: impl FnMut() -> u32) -> Result<SlotClaim> {
        for _ in 0..TRIES {
            let slot = pick();
            match bind_abstract(&format!("rstlab-slot-{slot}")) {
                Ok(fd) => return Ok(SlotClaim { slot, _name: Some(fd) }),
                Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => continue,
                Err(_) => return Ok(SlotClaim { slot, _name: None }),
            }
        }
        Err(LabError::os(format!("claiming an address slot: {TRIES} tried, all in use by other runs"), io::Error::from_raw_os_error(libc::EADDRINUSE)))
    }

    pub(crate) fn slot(&self) -> u32 {
        self.slot
    }
}

fn bind_abstract(name: &str) -> io::Result<OwnedFd> {
    // SAFETY: plain socket syscalls; sockaddr_un is zeroed and the name fits in sun_path.
    unsafe {
        let fd = owned(libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0))?;
        let mut addr: libc::sockaddr_un = std::mem::zeroed();
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        // Abstract namespace: sun_path starts with a NUL and the name is the next bytes.
        for (i, b) in name.bytes().enumerate() {
            addr.sun_path[1 + i] = b as libc::c_char;
        }
        let len = std::mem::size_of::<libc::sa_family_t>() + 1 + name.len();
        if libc::bind(fd.as_raw_fd(), &addr as *const _ as *const libc::sockaddr, len as libc::socklen_t) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(fd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claimed_slot_is_skipped_until_released() {
        // Slots far above the 8192 runs use, so a lab running meanwhile cannot interfere.
        let a = SlotClaim::claim(|| 900_001).unwrap();
        let mut proposals = [900_001, 900_002].into_iter();
        let b = SlotClaim::claim(|| proposals.next().unwrap()).unwrap();
        assert_eq!((a.slot(), b.slot()), (900_001, 900_002));
        drop(a);
        assert_eq!(SlotClaim::claim(|| 900_001).unwrap().slot(), 900_001);
    }
}
