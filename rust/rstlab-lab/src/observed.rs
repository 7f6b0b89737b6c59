//! What a finished run observed: the capture, the hosts, what the applications saw, what the
//! kernel said, and every RST on the wire paired with the kernel event that made it — with the
//! queries scenario judges and tests ask of it.

use crate::capture::CapturedFrame;
use crate::endpoint::AppEvent;
use crate::meta::RunMeta;
use crate::oracle::{KernelEvent, KernelEventKind};
use crate::role::Role;
use rstlab_trace::wire::{decode, DecodeOptions, Decoded, FrameMeta, Segment, TcpFlags};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// What a finished run observed; a [`RunResult`](crate::RunResult) embeds it with the verdict and
/// the classifier's reading.
#[derive(Clone, Debug)]
pub struct Observed {
    pub frames: Vec<CapturedFrame>,
    pub interfaces: Vec<String>,
    pub hosts: Vec<(Role, IpAddr)>,
    pub app_events: Vec<AppEvent>,
    pub kernel_events: Vec<KernelEvent>,
    pub oracle_available: bool,
    /// Why the oracle was unavailable, when it was.
    pub oracle_note: Option<String>,
    pub resets: Vec<WireReset>,
    pub metrics: BTreeMap<String, f64>,
    pub duration: Duration,
    /// Kernel, pinned sysctls and rstlab's version.
    pub meta: RunMeta,
}

impl Observed {
    /// TCP segments on the first interface (the client's link), with frame indices.
    pub fn segments(&self) -> Vec<(usize, Segment)> {
        decode_frames(&self.frames).into_iter().filter(|(_, s)| s.interface == 0).collect()
    }

    /// Role owning an address (None: no host of the run has it).
    pub fn role(&self, ip: IpAddr) -> Option<Role> {
        role_of(&self.hosts, ip)
    }

    /// RSTs seen on the first interface.
    pub fn rsts(&self) -> Vec<&WireReset> {
        self.resets.iter().filter(|r| r.interface == 0).collect()
    }

    /// RSTs on the first interface whose source address belongs to `role`.
    pub fn rsts_from(&self, role: Role) -> Vec<&WireReset> {
        self.rsts().into_iter().filter(|r| r.from == Some(role)).collect()
    }

    /// The segment a RST answers: the last one before it travelling the other way on the same
    /// 4-tuple (RFC 9293 §3.10.7 computes the RST's fields from it).
    pub fn trigger_of(&self, rst: &WireReset) -> Option<Segment> {
        self.segments()
            .into_iter()
            .filter(|(i, s)| *i < rst.frame_index && SocketAddr::new(s.src, s.sport) == rst.dst && SocketAddr::new(s.dst, s.dport) == rst.src)
            .map(|(_, s)| s)
            .next_back()
    }

    /// Segments sent from `role`'s address (first interface).
    pub fn segments_from(&self, role: Role) -> Vec<Segment> {
        self.segments().into_iter().map(|(_, s)| s).filter(|s| self.role(s.src) == Some(role)).collect()
    }

    pub fn app(&self, host: Role) -> Vec<&AppEvent> {
        self.app_events.iter().filter(|e| e.host == host).collect()
    }

    /// The errno names `host`'s calls of kind `call` ("" for any) failed with, in order.
    pub fn errnos(&self, host: Role, call: &str) -> Vec<&'static str> {
        self.app(host).into_iter().filter(|e| call.is_empty() || e.call == call).filter_map(|e| e.errno_name).collect()
    }

    /// Results ("ok", "eof", "recv 5", "timeout", "error") of `host`'s `call`s, in order.
    pub fn results(&self, host: Role, call: &str) -> Vec<String> {
        self.app(host).into_iter().filter(|e| e.call == call).map(|e| e.result.clone()).collect()
    }

    pub fn kernel(&self, kind: KernelEventKind) -> Vec<&KernelEvent> {
        self.kernel_events.iter().filter(|e| e.kind == kind).collect()
    }

    /// Kernel `send_reset` reasons, in order.
    pub fn send_reset_reasons(&self) -> Vec<String> {
        self.kernel(KernelEventKind::SendReset).into_iter().filter_map(|e| e.reason.clone()).collect()
    }

    /// Bytes of TCP payload `role` put on the wire (first interface; retransmissions counted once
    /// per sequence range's end).
    pub fn payload_bytes_from(&self, role: Role) -> u64 {
        let segs = self.segments_from(role);
        let Some(first) = segs.iter().find(|s| s.flags.syn()) else { return 0 };
        let isn = first.seq;
        segs.iter().filter(|s| s.payload_len > 0).map(|s| (s.seq_end() - isn - 1).max(0) as u64).max().unwrap_or(0)
    }
}

/// One RST on the wire, with the kernel event that made it (if any).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireReset {
    /// Index into `frames`.
    pub frame_index: usize,
    pub interface: u32,
    pub ts_ns: i64,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// Role owning the source address (None: no host of the run owns it).
    pub from: Option<Role>,
    pub seq: u32,
    /// The acknowledgement number when the ACK bit is set.
    pub ack: Option<u32>,
    pub ttl: u8,
    /// `tcp_send_reset` reason when the TCP stack sent it.
    pub kernel_reason: Option<String>,
    pub kernel_state: Option<String>,
    /// Some(true): a `tcp_send_reset` event matches; Some(false): none does (netfilter, forged);
    /// None: the oracle was unavailable.
    pub stack_sent: Option<bool>,
}

/// Decodes every frame down to TCP; returns (frame index, segment).
pub fn decode_frames(frames: &[CapturedFrame]) -> Vec<(usize, Segment)> {
    frames
        .iter()
        .enumerate()
        .filter_map(|(i, f)| {
            let meta = FrameMeta { frame: i as u64 + 1, ts_ns: f.ts_ns, linktype: f.linktype, orig_len: f.orig_len, interface: f.interface };
            match decode(&meta, &f.data, DecodeOptions { verify_checksums: true, ..DecodeOptions::default() }) {
                Decoded::Tcp(s) => Some((i, s)),
                _ => None,
            }
        })
        .collect()
}

/// The role owning an address (None: no host of the run has it).
pub fn role_of(hosts: &[(Role, IpAddr)], ip: IpAddr) -> Option<Role> {
    hosts.iter().find(|(_, a)| *a == ip).map(|(r, _)| *r)
}

/// Pairs each RST on the wire with the `tcp_send_reset` event that made it: same 4-tuple, event
/// not after the frame (by more than clock skew) and not long before it, earliest first.
pub fn match_resets(frames: &[CapturedFrame], hosts: &[(Role, IpAddr)], events: &[KernelEvent], oracle: bool) -> Vec<WireReset> {
    let mut used = vec![vec![false; events.len()]; 1 + frames.iter().map(|f| f.interface as usize).max().unwrap_or(0)];
    let mut out = vec![];
    for (idx, s) in decode_frames(frames) {
        if !s.flags.has(TcpFlags::RST) {
            continue;
        }
        let (src, dst) = (SocketAddr::new(s.src, s.sport), SocketAddr::new(s.dst, s.dport));
        let used_here = &mut used[s.interface as usize];
        let hit = events.iter().enumerate().find(|(i, e)| !used_here[*i] && crate::oracle::sent(e, src, dst, s.ts_ns));
        let (reason, state) = match hit {
            Some((i, e)) => {
                used_here[i] = true;
                (e.reason.clone(), e.state.clone())
            }
            None => (None, None),
        };
        out.push(WireReset {
            frame_index: idx,
            interface: s.interface,
            ts_ns: s.ts_ns,
            src,
            dst,
            from: role_of(hosts, s.src),
            seq: s.seq.0,
            ack: s.flags.has(TcpFlags::ACK).then_some(s.ack.0),
            ttl: s.ttl,
            stack_sent: oracle.then_some(hit.is_some()),
            kernel_reason: reason,
            kernel_state: state,
        });
    }
    out
}
