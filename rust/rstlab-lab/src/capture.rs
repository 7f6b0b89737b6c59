//! Packet capture inside a run's namespaces.
//!
//! An `AF_PACKET` socket opened inside the host's namespace and bound to one veth end sees every
//! frame on that link once (outgoing and incoming), before the receiver's nft input hook — so
//! frames a fault drops still show. Kernel timestamps come from `SO_TIMESTAMPNS`
//! (CLOCK_REALTIME, the same clock as the application events). Frames are the trace crate's
//! [`CapturedFrame`], so the classifier reads a run's capture as it is.

use crate::error::{os_err, os_err_at, LabError, Result};
use crate::netns::Netns;
pub use rstlab_trace::capture::pcapng_write::SectionHeader;
pub use rstlab_trace::capture::CapturedFrame;
use rstlab_trace::wire::LinkType;
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

const SNAPLEN: usize = 65_535;

/// Captures on one or more interfaces, each read by its own thread until stopped.
#[derive(Default)]
pub struct Capture {
    stop: Arc<AtomicBool>,
    frames: Arc<Mutex<Vec<CapturedFrame>>>,
    threads: Vec<JoinHandle<()>>,
    interfaces: Vec<String>,
}

impl Capture {
    pub fn new() -> Capture {
        Capture::default()
    }

    /// Starts capturing on `dev` inside `ns`; `label` names the interface in results and pcapng.
    pub fn start(&mut self, ns: &Netns, dev: &str, label: &str) -> Result<u32> {
        let ifindex = ns.ifindex(dev)?;
        let ctx = format!("opening a packet socket on {dev} in host {}", ns.label());
        let sock = ns.run(|| open_packet_socket(ifindex))?.map_err(|e| {
            if e.raw_os_error() == Some(libc::EPERM) {
                LabError::Privilege { what: ctx.clone(), capability: "CAP_NET_RAW" }
            } else {
                LabError::os(ctx.clone(), e)
            }
        })?;
        let interface = self.interfaces.len() as u32;
        self.interfaces.push(label.to_string());
        let (stop, frames) = (self.stop.clone(), self.frames.clone());
        let handle = std::thread::Builder::new()
            .name(format!("capture-{label}"))
            .spawn(move || read_loop(sock, interface, stop, frames))
            .map_err(os_err("spawning a capture thread"))?;
        self.threads.push(handle);
        Ok(interface)
    }

    /// The frames captured so far (see [`merge_in_order`]).
    pub fn snapshot(&self) -> Vec<CapturedFrame> {
        merge_in_order(self.frames.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }

    pub fn interfaces(&self) -> &[String] {
        &self.interfaces
    }

    /// Stops every reader (each drains its socket first) and returns the frames in time order.
    pub fn stop(&mut self) -> Vec<CapturedFrame> {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        merge_in_order(std::mem::take(&mut *self.frames.lock().unwrap_or_else(|e| e.into_inner())))
    }
}

/// Orders frames for the run: each interface keeps the order its packet socket delivered them
/// (causal; an outgoing segment's timestamp can be taken later than the reply it provoked), and
/// interfaces are merged by timestamp.
pub fn merge_in_order(frames: Vec<CapturedFrame>) -> Vec<CapturedFrame> {
    let n = 1 + frames.iter().map(|f| f.interface as usize).max().unwrap_or(0);
    let mut lanes: Vec<std::collections::VecDeque<CapturedFrame>> = vec![Default::default(); n];
    for f in frames {
        lanes[f.interface as usize].push_back(f);
    }
    let mut out = Vec::with_capacity(lanes.iter().map(|l| l.len()).sum());
    while let Some(i) = (0..n).filter(|i| !lanes[*i].is_empty()).min_by_key(|i| lanes[*i][0].ts_ns) {
        out.push(lanes[i].pop_front().expect("non-empty lane"));
    }
    out
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop();
    }
}

fn open_packet_socket(ifindex: u32) -> io::Result<OwnedFd> {
    crate::live::packet::open(ifindex, crate::live::packet::Framing::Link, None, 4 << 20, 20_000)
}

fn read_loop(sock: OwnedFd, interface: u32, stop: Arc<AtomicBool>, frames: Arc<Mutex<Vec<CapturedFrame>>>) {
    let mut buf = vec![0u8; SNAPLEN];
    loop {
        // After the stop flag, drain what is queued without waiting, then leave.
        let stopping = stop.load(Ordering::SeqCst);
        let r = match crate::live::packet::recv(&sock, &mut buf, stopping) {
            Ok(r) => r,
            Err(e) => match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::EINTR) if !stopping => continue,
                _ => break,
            },
        };
        let caplen = r.orig_len.min(buf.len());
        let frame = CapturedFrame {
            ts_ns: r.ts_ns.unwrap_or_else(crate::endpoint::now_ns),
            linktype: LinkType::ETHERNET,
            interface,
            data: buf[..caplen].to_vec(),
            orig_len: r.orig_len as u32,
        };
        frames.lock().unwrap_or_else(|e| e.into_inner()).push(frame);
    }
}

/// Writes frames as pcapng (one section whose header carries `section` — for a run, its
/// [`RunMeta::section`](crate::meta::RunMeta::section) —, one interface block per interface,
/// nanosecond timestamps, enhanced packet blocks) — Wireshark, tshark and pcap-parser read it.
pub fn write_pcapng(path: &Path, frames: &[CapturedFrame], interfaces: &[String], section: &SectionHeader) -> Result<()> {
    write_pcapng_with(path, frames, interfaces, section, &std::collections::HashMap::new(), true)
}

/// Writes a run's frames as pcapng with the trace crate's writer: `comments` are keyed by the
/// 1-based frame number among interface 0's frames (the numbering the classifier uses);
/// `all_interfaces: false` keeps only interface 0 (one copy of every packet).
pub fn write_pcapng_with(
    path: &Path,
    frames: &[CapturedFrame],
    interfaces: &[String],
    section: &SectionHeader,
    comments: &std::collections::HashMap<u64, String>,
    all_interfaces: bool,
) -> Result<()> {
    use rstlab_trace::capture::pcapng_write::PcapNgWriter;
    let ctx = || format!("writing {}", path.display());
    let seen = 1 + frames.iter().map(|f| f.interface as usize).max().unwrap_or(0);
    let count = if all_interfaces { interfaces.len().max(seen) } else { 1 };
    let file = std::fs::File::create(path).map_err(os_err_at(format!("creating {}", path.display()), path))?;
    let mut w = PcapNgWriter::with_section(std::io::BufWriter::new(file), section).map_err(os_err_at(ctx(), path))?;
    for i in 0..count {
        let linktype = frames.iter().find(|f| f.interface as usize == i).map_or(LinkType::ETHERNET, |f| f.linktype);
        let name = interfaces.get(i).cloned().unwrap_or_else(|| format!("if{i}"));
        w.interface(linktype.0, SNAPLEN as u32, Some(&name)).map_err(os_err_at(ctx(), path))?;
    }
    let mut n0 = 0u64;
    for f in frames.iter().filter(|f| (f.interface as usize) < count) {
        let c = if f.interface == 0 {
            n0 += 1;
            comments.get(&n0).map(String::as_str)
        } else {
            None
        };
        w.packet(f.interface, f.ts_ns, f.orig_len, &f.data, c).map_err(os_err_at(ctx(), path))?;
    }
    w.finish().map_err(os_err_at(ctx(), path))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcapng_blocks_are_well_formed() {
        let frames = vec![CapturedFrame { ts_ns: 1_700_000_000_123_456_789, linktype: LinkType::ETHERNET, interface: 0, data: vec![0xaa; 61], orig_len: 61 }];
        let dir = std::env::temp_dir().join(format!("rstlab-pcapng-{}", std::process::id()));
        write_pcapng(&dir, &frames, &["client:c0".into()], &SectionHeader::default()).unwrap();
        let bytes = std::fs::read(&dir).unwrap();
        std::fs::remove_file(&dir).unwrap();
        // Walk the blocks: each one's leading and trailing lengths agree and are 4-aligned.
        let mut off = 0;
        let mut types = vec![];
        while off < bytes.len() {
            let t = u32::from_le_bytes(bytes[off..off + 4].try_into().unwrap());
            let len = u32::from_le_bytes(bytes[off + 4..off + 8].try_into().unwrap()) as usize;
            assert_eq!(len % 4, 0);
            let trailer = u32::from_le_bytes(bytes[off + len - 4..off + len].try_into().unwrap()) as usize;
            assert_eq!(len, trailer);
            types.push(t);
            off += len;
        }
        assert_eq!(types, vec![0x0A0D_0D0A, 1, 6]);
    }
}
