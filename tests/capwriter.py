"""An independent capture writer for tests: pcap, pcapng and the packets inside, in plain ``struct``.

It deliberately shares nothing with rstlab (not its pcapng writer, not its decoder), so a fixture
built here checks rstlab against the format specifications, not against itself:
- pcap: https://www.tcpdump.org/manpages/pcap-savefile.5.html and draft-ietf-opsawg-pcap
- pcapng: draft-ietf-opsawg-pcapng (block layouts §4, options §3.5, if_tsresol / if_tsoffset §4.2)
- link types: https://www.tcpdump.org/linktypes.html (LINKTYPE_LINUX_SLL / SLL2 / NULL / LOOP)
- IPv4 RFC 791, IPv6 RFC 8200 (extension headers §4), TCP RFC 9293 §3.1, UDP RFC 768.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

# --- checksums -----------------------------------------------------------------------------------


def inet_sum(data: bytes) -> int:
    """RFC 1071 one's-complement checksum."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _addr(a: str) -> bytes:
    return ipaddress.ip_address(a).packed


# --- transport -----------------------------------------------------------------------------------

FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80


def tcp(sport: int, dport: int, seq: int, ack: int, flags: int, payload: bytes = b"", *,
        window: int = 64240, options: bytes = b"", data_offset: int | None = None,
        src: str | None = None, dst: str | None = None) -> bytes:
    """A TCP header + payload. With ``src``/``dst`` the checksum is computed (RFC 9293 §3.1)."""
    opts = options + b"\0" * (-len(options) % 4)
    doff = data_offset if data_offset is not None else (20 + len(opts)) // 4
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                      (doff & 0xF) << 4, flags & 0xFF, window, 0, 0) + opts
    seg = hdr + payload
    if src is not None and dst is not None:
        s, d = _addr(src), _addr(dst)
        if len(s) == 4:
            pseudo = s + d + struct.pack("!BBH", 0, 6, len(seg))
        else:
            pseudo = s + d + struct.pack("!IxxxB", len(seg), 6)
        c = inet_sum(pseudo + seg)
        seg = seg[:16] + struct.pack("!H", c) + seg[18:]
    return seg


def udp(sport: int, dport: int, payload: bytes = b"") -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def icmp_echo(ident: int = 1, seq: int = 1, payload: bytes = b"ping") -> bytes:
    body = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + payload
    c = inet_sum(body)
    return body[:2] + struct.pack("!H", c) + body[4:]


# --- network -------------------------------------------------------------------------------------


def ipv4(src: str, dst: str, proto: int, payload: bytes, *, ident: int = 1, ttl: int = 64,
         df: bool = True, mf: bool = False, frag_offset: int = 0, ihl: int | None = None,
         total_length: int | None = None, options: bytes = b"") -> bytes:
    """An IPv4 header + payload (RFC 791). ``frag_offset`` is in 8-byte units."""
    opts = options + b"\0" * (-len(options) % 4)
    hl = ihl if ihl is not None else 5 + len(opts) // 4
    tot = total_length if total_length is not None else 20 + len(opts) + len(payload)
    flags = (0x4000 if df else 0) | (0x2000 if mf else 0) | (frag_offset & 0x1FFF)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | (hl & 0xF), 0, tot & 0xFFFF, ident, flags, ttl, proto, 0,
                      _addr(src), _addr(dst)) + opts
    c = inet_sum(hdr)
    return hdr[:10] + struct.pack("!H", c) + hdr[12:] + payload


def ipv6(src: str, dst: str, next_header: int, payload: bytes, *, hop_limit: int = 64,
         payload_length: int | None = None) -> bytes:
    plen = payload_length if payload_length is not None else len(payload)
    return struct.pack("!IHBB16s16s", 0x6 << 28, plen, next_header, hop_limit, _addr(src), _addr(dst)) + payload


def v6_ext(next_header: int, body: bytes = b"") -> bytes:
    """A hop-by-hop or destination-options header (RFC 8200 §4.3, §4.6), padded with PadN."""
    raw = bytes([next_header, 0]) + body
    pad = -len(raw) % 8
    if pad == 1:
        raw += b"\x00"  # Pad1
    elif pad:
        raw += bytes([1, pad - 2]) + b"\0" * (pad - 2)  # PadN
    return bytes([next_header, len(raw) // 8 - 1]) + raw[2:]


def v6_frag(next_header: int, offset: int = 0, more: bool = False, ident: int = 0x1234) -> bytes:
    """An IPv6 fragment header (RFC 8200 §4.5); offset in 8-byte units."""
    return struct.pack("!BBHI", next_header, 0, (offset << 3) | int(more), ident)


# --- link layers ---------------------------------------------------------------------------------

MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")


def ethernet(ethertype: int, payload: bytes, *, vlans: list[tuple[int, int]] = (), dst: bytes = MAC_B,
             src: bytes = MAC_A) -> bytes:
    """Ethernet II; ``vlans`` is a list of (TPID, VID) tags, outermost first (IEEE 802.1Q/ad)."""
    tags = b""
    for tpid, vid in vlans:
        tags += struct.pack("!HH", tpid, vid)
    return dst + src + tags + struct.pack("!H", ethertype) + payload


def sll(proto: int, payload: bytes, *, pkttype: int = 0) -> bytes:
    """LINKTYPE_LINUX_SLL: pkttype, ARPHRD, addr len, 8 addr bytes, protocol (16 bytes)."""
    return struct.pack("!HHH8sH", pkttype, 1, 6, MAC_A + b"\0\0", proto) + payload


def sll2(proto: int, payload: bytes, *, ifindex: int = 2, pkttype: int = 0) -> bytes:
    """LINKTYPE_LINUX_SLL2: protocol, reserved, ifindex, ARPHRD, pkttype, addr len, 8 addr bytes."""
    return struct.pack("!HHIHBB8s", proto, 0, ifindex, 1, pkttype, 6, MAC_A + b"\0\0") + payload


def null(af: int, payload: bytes, *, byteorder: str = "<") -> bytes:
    """LINKTYPE_NULL: the address family in the capturing host's byte order."""
    return struct.pack(f"{byteorder}I", af) + payload


def loop(af: int, payload: bytes) -> bytes:
    """LINKTYPE_LOOP: the address family in network byte order."""
    return struct.pack("!I", af) + payload


# --- pcap ----------------------------------------------------------------------------------------

PCAP_US = 0xA1B2C3D4
PCAP_NS = 0xA1B23C4D


@dataclass
class Rec:
    """One pcap record: ``frac`` is µs or ns depending on the file's magic."""
    sec: int
    frac: int
    data: bytes
    orig_len: int | None = None


def pcap(linktype: int, records: list[Rec], *, endian: str = "<", nano: bool = False,
         snaplen: int = 65535, cut: bool = True) -> bytes:
    """A classic pcap file. With ``cut``, data longer than ``snaplen`` is cut (orig_len kept)."""
    out = [struct.pack(f"{endian}IHHiIII", PCAP_NS if nano else PCAP_US, 2, 4, 0, 0, snaplen, linktype)]
    for r in records:
        data = r.data[:snaplen] if cut else r.data
        orig = r.orig_len if r.orig_len is not None else len(r.data)
        out += [struct.pack(f"{endian}IIII", r.sec, r.frac, len(data), orig), data]
    return b"".join(out)  # joined once: `bytes +=` per record is quadratic in the file size


# --- pcapng --------------------------------------------------------------------------------------

SHB, IDB, SPB, NRB, ISB, EPB = 0x0A0D0D0A, 1, 3, 4, 5, 6


def ng_option(code: int, value: bytes, endian: str = "<") -> bytes:
    return struct.pack(f"{endian}HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def ng_options(opts: list[tuple[int, bytes]], endian: str = "<") -> bytes:
    if not opts:
        return b""
    return b"".join(ng_option(c, v, endian) for c, v in opts) + ng_option(0, b"", endian)


def ng_block(kind: int, body: bytes, endian: str = "<") -> bytes:
    body += b"\0" * (-len(body) % 4)
    total = 12 + len(body)
    return struct.pack(f"{endian}II", kind, total) + body + struct.pack(f"{endian}I", total)


def ng_shb(endian: str = "<", options: list[tuple[int, bytes]] = ()) -> bytes:
    body = struct.pack(f"{endian}IHHq", 0x1A2B3C4D, 1, 0, -1) + ng_options(list(options), endian)
    return ng_block(SHB, body, endian)


def tsresol_decimal(exp: int) -> bytes:
    return bytes([exp])


def tsresol_binary(exp: int) -> bytes:
    return bytes([0x80 | exp])


def ng_idb(linktype: int, *, snaplen: int = 0, tsresol: bytes | None = None, tsoffset: int | None = None,
           name: str | None = None, endian: str = "<") -> bytes:
    opts: list[tuple[int, bytes]] = []
    if name is not None:
        opts.append((2, name.encode()))
    if tsresol is not None:
        opts.append((9, tsresol))
    if tsoffset is not None:
        opts.append((14, struct.pack(f"{endian}q", tsoffset)))
    body = struct.pack(f"{endian}HHI", linktype, 0, snaplen) + ng_options(opts, endian)
    return ng_block(IDB, body, endian)


def ng_epb(if_id: int, ts_units: int, data: bytes, *, orig_len: int | None = None,
           caplen: int | None = None, endian: str = "<", comment: str | None = None) -> bytes:
    """Enhanced Packet Block; ``ts_units`` is in the interface's if_tsresol units."""
    cap = caplen if caplen is not None else len(data)
    orig = orig_len if orig_len is not None else len(data)
    body = struct.pack(f"{endian}IIIII", if_id, ts_units >> 32, ts_units & 0xFFFFFFFF, cap, orig)
    body += data + b"\0" * (-len(data) % 4)
    if comment is not None:
        body += ng_options([(1, comment.encode())], endian)
    return ng_block(EPB, body, endian)


def ng_spb(data: bytes, *, orig_len: int | None = None, endian: str = "<") -> bytes:
    """Simple Packet Block: original length, then the packet (cut to the interface's snaplen)."""
    orig = orig_len if orig_len is not None else len(data)
    return ng_block(SPB, struct.pack(f"{endian}I", orig) + data, endian)


def ng_nrb(endian: str = "<") -> bytes:
    """A Name Resolution Block with one IPv4 record (readers that do not use it must skip it)."""
    rec = struct.pack(f"{endian}HH", 1, 4 + 10) + bytes([10, 0, 0, 1]) + b"host.test\0"
    rec += b"\0" * (-len(rec) % 4)
    return ng_block(NRB, rec + struct.pack(f"{endian}HH", 0, 0), endian)


# --- conversations -------------------------------------------------------------------------------


@dataclass
class Conv:
    """A client/server pair that writes the frames of one connection, tracking seq/ack."""
    client: str
    server: str
    cport: int
    sport: int
    c_isn: int = 1000
    s_isn: int = 5000
    v6: bool = False
    c_next: int = field(init=False)
    s_next: int = field(init=False)

    def __post_init__(self) -> None:
        self.c_next = self.c_isn
        self.s_next = self.s_isn

    @property
    def proto_ethertype(self) -> int:
        return 0x86DD if self.v6 else 0x0800

    def ip(self, from_client: bool, seg: bytes, **kw: object) -> bytes:
        src, dst = (self.client, self.server) if from_client else (self.server, self.client)
        if self.v6:
            return ipv6(src, dst, 6, seg, **kw)
        return ipv4(src, dst, 6, seg, **kw)

    def seg(self, from_client: bool, flags: int, payload: bytes = b"", **kw: object) -> bytes:
        """The IP packet of the next segment in that direction (seq/ack follow RFC 9293 §3.4)."""
        return self.ip(from_client, self.tcp_seg(from_client, flags, payload), **kw)

    def tcp_seg(self, from_client: bool, flags: int, payload: bytes = b"") -> bytes:
        """The TCP segment alone (header + payload) of the next segment in that direction."""
        src, dst = (self.client, self.server) if from_client else (self.server, self.client)
        sp, dp = (self.cport, self.sport) if from_client else (self.sport, self.cport)
        seq = self.c_next if from_client else self.s_next
        ack = (self.s_next if from_client else self.c_next) if flags & ACK else 0
        t = tcp(sp, dp, seq, ack, flags, payload, src=src, dst=dst)
        used = len(payload) + (1 if flags & SYN else 0) + (1 if flags & FIN else 0)
        if from_client:
            self.c_next += used
        else:
            self.s_next += used
        return t

    def handshake_data_rst(self, data: bytes = b"hello rst!") -> list[bytes]:
        """SYN, SYN-ACK, ACK, PSH-ACK with data from the client, RST-ACK from the server."""
        return [
            self.seg(True, SYN),
            self.seg(False, SYN | ACK),
            self.seg(True, ACK),
            self.seg(True, PSH | ACK, data),
            self.seg(False, RST | ACK),
        ]
