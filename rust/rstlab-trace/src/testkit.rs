//! Builders for hand-made segments, for unit tests here and in the other crates (smoltcp-style
//! fixture helpers: each test states only what matters to it).

use crate::seq::SeqNumber;
use crate::wire::{Checksum, Segment, TcpFlags, TcpOptions};
use std::net::{IpAddr, Ipv4Addr};

/// The client and server every builder uses unless told otherwise.
pub const CLIENT: (IpAddr, u16) = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 40000);
pub const SERVER: (IpAddr, u16) = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 80);

/// A segment builder: `seg().from_client().syn().seq(100).build()`.
#[derive(Clone, Copy, Debug)]
pub struct SegBuilder {
    s: Segment,
}

pub fn seg() -> SegBuilder {
    SegBuilder {
        s: Segment {
            frame: 1,
            ts_ns: 1_000_000_000,
            src: CLIENT.0,
            dst: SERVER.0,
            sport: CLIENT.1,
            dport: SERVER.1,
            ttl: 64,
            ip_id: Some(1),
            dont_fragment: true,
            window: 64240,
            header_len: 20,
            ..Segment::default()
        },
    }
}

impl SegBuilder {
    pub fn from_client(mut self) -> Self {
        (self.s.src, self.s.sport, self.s.dst, self.s.dport) = (CLIENT.0, CLIENT.1, SERVER.0, SERVER.1);
        self
    }
    pub fn from_server(mut self) -> Self {
        (self.s.src, self.s.sport, self.s.dst, self.s.dport) = (SERVER.0, SERVER.1, CLIENT.0, CLIENT.1);
        self
    }
    pub fn addrs(mut self, src: (IpAddr, u16), dst: (IpAddr, u16)) -> Self {
        (self.s.src, self.s.sport, self.s.dst, self.s.dport) = (src.0, src.1, dst.0, dst.1);
        self.s.ip_version = if src.0.is_ipv4() { 4 } else { 6 };
        self
    }
    pub fn frame(mut self, n: u64) -> Self {
        self.s.frame = n;
        self
    }
    pub fn ts_ms(mut self, ms: i64) -> Self {
        self.s.ts_ns = ms * 1_000_000;
        self
    }
    fn flag(mut self, f: u16) -> Self {
        self.s.flags.0 |= f;
        self
    }
    pub fn syn(self) -> Self {
        self.flag(TcpFlags::SYN)
    }
    pub fn ack_flag(self) -> Self {
        self.flag(TcpFlags::ACK)
    }
    pub fn fin(self) -> Self {
        self.flag(TcpFlags::FIN)
    }
    pub fn rst(self) -> Self {
        self.flag(TcpFlags::RST)
    }
    pub fn psh(self) -> Self {
        self.flag(TcpFlags::PSH)
    }
    pub fn flags(mut self, f: u16) -> Self {
        self.s.flags = TcpFlags(f);
        self
    }
    pub fn seq(mut self, n: u32) -> Self {
        self.s.seq = SeqNumber(n);
        self
    }
    /// Sets the ACK flag and the acknowledgement number.
    pub fn ack(mut self, n: u32) -> Self {
        self.s.ack = SeqNumber(n);
        self.flag(TcpFlags::ACK)
    }
    /// Sets only the acknowledgement field, leaving the ACK flag as it is.
    pub fn ack_field(mut self, n: u32) -> Self {
        self.s.ack = SeqNumber(n);
        self
    }
    pub fn payload(mut self, n: u32) -> Self {
        self.s.payload_len = n;
        self.s.captured_payload = n;
        self
    }
    pub fn window(mut self, w: u16) -> Self {
        self.s.window = w;
        self
    }
    pub fn ttl(mut self, t: u8) -> Self {
        self.s.ttl = t;
        self
    }
    pub fn ip_id(mut self, id: u16) -> Self {
        self.s.ip_id = Some(id);
        self
    }
    pub fn reserved(mut self, r: u8) -> Self {
        self.s.reserved = r;
        self
    }
    /// Linux's usual options on an established segment (NOP, NOP, timestamps).
    pub fn ts_opt(mut self, tsval: u32, tsecr: u32) -> Self {
        self.s.options.present |= TcpOptions::NOP | TcpOptions::TIMESTAMP;
        self.s.options.tsval = Some(tsval);
        self.s.options.tsecr = Some(tsecr);
        self.s.header_len = 32;
        self
    }
    /// The segment came through tunnels fingerprinted `e` ([`Segment::encap`]; 0: none).
    pub fn encap(mut self, e: u16) -> Self {
        self.s.encap = e;
        self
    }
    pub fn bad_checksum(mut self) -> Self {
        self.s.checksum = Checksum::Bad;
        self
    }
    pub fn build(self) -> Segment {
        self.s
    }
}
