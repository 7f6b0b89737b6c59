//! Packet decoding: from one captured frame to a small owned [`Segment`] (smoltcp-style: a
//! zero-copy view at the edge — pnet_packet's header views — and a small `Copy` repr inside).
//!
//! Decoding never panics and never allocates. A frame that is not a TCP segment comes back as a
//! [`Decoded`] variant saying what it was (IP fragment, other protocol, too short), so the caller
//! can count it and move on: none of these are errors of the capture file. An IP fragment goes
//! on to the [`Reassembler`] ([`reassemble_into`], `frag.rs`): a frame that completes a datagram
//! carrying TCP decodes to that segment.

mod link;
mod ip;
mod tcp;
mod frag;

pub use frag::{FragCounts, FragLimits, Reassembler};
pub use link::LinkType;
pub use tcp::{Checksum, OptionNames, TcpFlags, TcpOptions};

use crate::seq::SeqNumber;
use std::net::IpAddr;

/// One TCP segment as the classifier and the connection tracker see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// 1-based frame number in the capture (Wireshark's `frame.number`).
    pub frame: u64,
    /// Capture timestamp, nanoseconds since the Unix epoch.
    pub ts_ns: i64,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    /// 4 or 6.
    pub ip_version: u8,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// IPv4 identification; `None` for IPv6.
    pub ip_id: Option<u16>,
    /// IPv4 "don't fragment" bit (false for IPv6).
    pub dont_fragment: bool,
    pub flags: TcpFlags,
    pub seq: SeqNumber,
    pub ack: SeqNumber,
    /// Raw (unscaled) window field.
    pub window: u16,
    pub urgent: u16,
    /// The three reserved bits of the TCP header (RFC 9293 §3.1), right-aligned.
    pub reserved: u8,
    /// TCP header length in bytes (data offset × 4).
    pub header_len: u8,
    /// Payload length according to the IP header (what the sender sent).
    pub payload_len: u32,
    /// How much of that payload is present in the capture (snap length).
    pub captured_payload: u32,
    pub options: TcpOptions,
    pub checksum: Checksum,
    /// Index of the capture interface (pcapng) the frame came from.
    pub interface: u32,
    /// The tunnels the segment came through, as Zeek tells encapsulations apart
    /// (`EncapsulationStack` equality): 0 for none, else a 16-bit hash of each level's kind and
    /// its outer endpoints, unordered (Zeek's `EncapsulatingConn` is the outer connection, not
    /// the packet's direction). Two segments of one connection with different values came
    /// through different tunnels (`Connection::CheckEncapsulation`). Sixteen bits keep the
    /// segment at its size; two different tunnels collide once in 65,536.
    pub encap: u16,
}

impl Default for Segment {
    /// An all-zero segment between unspecified IPv4 addresses (a placeholder, never decoded).
    fn default() -> Self {
        let any = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
        Segment {
            frame: 0,
            ts_ns: 0,
            src: any,
            dst: any,
            sport: 0,
            dport: 0,
            ip_version: 4,
            ttl: 0,
            ip_id: None,
            dont_fragment: false,
            flags: TcpFlags(0),
            seq: SeqNumber(0),
            ack: SeqNumber(0),
            window: 0,
            urgent: 0,
            reserved: 0,
            header_len: 0,
            payload_len: 0,
            captured_payload: 0,
            options: TcpOptions::default(),
            checksum: Checksum::Unverified,
            interface: 0,
            encap: 0,
        }
    }
}

impl Segment {
    /// Sequence space the segment occupies: payload plus one for SYN and one for FIN
    /// (RFC 9293 §3.4, "SEG.LEN").
    #[inline]
    pub fn seg_len(&self) -> u32 {
        self.payload_len + self.flags.has(TcpFlags::SYN) as u32 + self.flags.has(TcpFlags::FIN) as u32
    }

    /// The sequence number just after this segment.
    #[inline]
    pub fn seq_end(&self) -> SeqNumber {
        self.seq + self.seg_len()
    }
}

/// What one frame turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded {
    Tcp(Segment),
    /// An IP fragment (first or later) that completes nothing: [`decode`] does not reassemble
    /// (see [`reassemble_into`]).
    Fragment,
    /// IP but not TCP (UDP, ICMP, ...), or not IP at all (ARP, LLDP, ...).
    NotTcp,
    /// Headers cut short by the snap length, or inconsistent; the reason is static text.
    Malformed(&'static str),
    /// A link type this decoder does not understand.
    UnsupportedLink(u32),
}

/// Options for [`decode`].
#[derive(Clone, Copy, Debug, Default)]
pub struct DecodeOptions {
    /// Verify IPv4 and TCP checksums (costs a pass over the payload). When off, every segment's
    /// checksum is [`Checksum::Unverified`].
    pub verify_checksums: bool,
    /// Zeek's skip analyzer (`PacketAnalyzer::SKIP::skip_bytes`): a frame on a link type rstlab
    /// does not read is taken as this many bytes of link header, then an IP packet. `None`
    /// (the default) leaves such frames unsupported.
    pub skip_link_bytes: Option<u32>,
}

/// Frame metadata the capture layer supplies with the bytes.
#[derive(Clone, Copy, Debug)]
pub struct FrameMeta {
    pub frame: u64,
    pub ts_ns: i64,
    pub linktype: LinkType,
    /// Original length on the wire (may exceed the captured bytes).
    pub orig_len: u32,
    pub interface: u32,
}

/// Network-layer facts the TCP decoder needs: what `ip` hands to `tcp` (kept here, so neither
/// decoder module depends on the other for it).
#[derive(Clone, Copy)]
pub(crate) struct IpFacts {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub version: u8,
    pub ttl: u8,
    pub ip_id: Option<u16>,
    pub dont_fragment: bool,
    /// Bytes of the transport segment the IP header declares.
    pub declared_len: u32,
    /// The tunnels around this IP header ([`Segment::encap`]).
    pub encap: u16,
}

/// What one frame turned out to be, for [`decode_into`] (the segment itself is written in place).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Tcp,
    Fragment,
    NotTcp,
    Malformed(&'static str),
    UnsupportedLink(u32),
}

/// What identifies the fragments of one datagram: source, destination, identification and
/// protocol for IPv4 (RFC 791 §3.2, "the identification field is used to distinguish the
/// fragments of one datagram from those of another"), source, destination and identification for
/// IPv6 (RFC 8200 §4.5; `proto` is 0). The addresses are those of the header carrying the
/// fragment header (inside a tunnel, the inner one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct FragKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub id: u32,
    pub proto: u8,
}

/// One IP fragment as the IP decoder found it (`ip` hands it to `frag`; kept here for the same
/// reason as [`IpFacts`]).
#[derive(Clone, Copy)]
pub(crate) struct Fragment<'a> {
    pub key: FragKey,
    /// Byte offset of `data` in the original datagram's fragmentable part.
    pub offset: u32,
    /// More Fragments: false on the one that ends the datagram.
    pub more: bool,
    /// IPv6: the fragment header's Next Header (only the offset-zero fragment's counts, RFC 8200
    /// §4.5); IPv4: the protocol.
    pub next: u8,
    /// The fragment's data, every declared byte present (a fragment cut by the snap length never
    /// gets here).
    pub data: &'a [u8],
}

/// What the IP decoder does with a fragment. The frame path uses [`NoReassembly`] (a fragment is
/// reported, nothing else: the path every packet takes pays nothing for reassembly); the
/// [`Reassembler`] keeps fragments and hands back a datagram once it is whole.
pub(crate) trait Fragments {
    const REASSEMBLES: bool;
    /// Keeps `f`; the whole datagram's fragmentable part and its next protocol if `f` completed
    /// one. The buffer goes back through [`Fragments::done`] after it is decoded.
    fn add(&mut self, meta: &FrameMeta, f: &Fragment<'_>) -> Option<(Vec<u8>, u8)>;
    fn done(&mut self, buf: Vec<u8>);
}

/// Reports fragments as [`Outcome::Fragment`], keeps nothing.
pub(crate) struct NoReassembly;

impl Fragments for NoReassembly {
    const REASSEMBLES: bool = false;
    #[inline(always)]
    fn add(&mut self, _meta: &FrameMeta, _f: &Fragment<'_>) -> Option<(Vec<u8>, u8)> {
        None
    }
    #[inline(always)]
    fn done(&mut self, _buf: Vec<u8>) {}
}

/// Decode one captured frame down to TCP.
#[inline]
pub fn decode(meta: &FrameMeta, data: &[u8], opts: DecodeOptions) -> Decoded {
    let mut seg = Segment::default();
    match decode_into(meta, data, opts, &mut seg) {
        Outcome::Tcp => Decoded::Tcp(seg),
        Outcome::Fragment => Decoded::Fragment,
        Outcome::NotTcp => Decoded::NotTcp,
        Outcome::Malformed(why) => Decoded::Malformed(why),
        Outcome::UnsupportedLink(lt) => Decoded::UnsupportedLink(lt),
    }
}

/// [`decode`] writing the segment into `out` (left as it was unless the frame is TCP): the
/// analysis decodes straight into its look-ahead ring, a copy fewer per packet. Always inlined:
/// the file pass and the parallel pass's reader each take it into their per-frame call (with two
/// callers LLVM would keep it apart, at ~5 % of the pass).
#[inline(always)]
pub fn decode_into(meta: &FrameMeta, data: &[u8], opts: DecodeOptions, out: &mut Segment) -> Outcome {
    match link::strip(meta.linktype, data) {
        link::Payload::Ip(bytes) => ip::decode(meta, bytes, opts, 0, 0, out, &mut NoReassembly),
        link::Payload::NotIp => Outcome::NotTcp,
        link::Payload::Truncated(why) => Outcome::Malformed(why),
        link::Payload::Unsupported(lt) => skip(meta, data, opts, lt, out, &mut NoReassembly),
    }
}

/// A frame [`decode_into`] called [`Outcome::Fragment`], decoded again with `frags` keeping its
/// fragment: [`Outcome::Tcp`] (the segment in `out`, numbered and timed as this frame) when it
/// completed a datagram carrying TCP, [`Outcome::Fragment`] while the datagram is incomplete,
/// otherwise what the whole datagram turned out to be. Decoding twice costs only fragments: the
/// path every other frame takes stays as it was.
#[cold]
#[inline(never)]
pub fn reassemble_into(meta: &FrameMeta, data: &[u8], opts: DecodeOptions, frags: &mut Reassembler, out: &mut Segment) -> Outcome {
    frags.expire(meta.ts_ns);
    match link::strip(meta.linktype, data) {
        link::Payload::Ip(bytes) => ip::decode(meta, bytes, opts, 0, 0, out, frags),
        link::Payload::NotIp => Outcome::NotTcp,
        link::Payload::Truncated(why) => Outcome::Malformed(why),
        link::Payload::Unsupported(lt) => skip(meta, data, opts, lt, out, frags),
    }
}

/// A link type rstlab does not read: Zeek's skip analyzer when the caller chose an offset.
#[inline(never)]
fn skip<F: Fragments>(meta: &FrameMeta, data: &[u8], opts: DecodeOptions, lt: u32, out: &mut Segment, frags: &mut F) -> Outcome {
    match opts.skip_link_bytes {
        None => Outcome::UnsupportedLink(lt),
        Some(n) => match data.get(n as usize..) {
            Some(ip) => ip::decode(meta, ip, opts, 0, 0, out, frags),
            None => Outcome::Malformed("frame shorter than skip_link_bytes"),
        },
    }
}
