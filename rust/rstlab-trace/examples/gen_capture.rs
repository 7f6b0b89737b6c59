//! Deterministic synthetic capture for the benchmark: many interleaved TCP connections
//! (IPv4 and IPv6, handshakes, data both ways, FIN and RST endings), headers only with a
//! 128-byte snap length, as production captures often are.
//!
//! Usage: gen_capture OUT.pcap [PACKETS] [CONCURRENT]
//!        gen_capture OUT.pcap PACKETS --scan
//!
//! `--scan` writes the connection-heavy shape instead: a scanner's SYNs to closed ports of 16
//! hosts, each answered by the host's RST|ACK (RFC 9293 §3.10.7.1) a few dozen packets later, as
//! a masscan run or a SYN flood against a busy host looks: one connection and one RST per two
//! packets.

use std::io::{BufWriter, Write};

const SNAPLEN: usize = 128;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*: deterministic and fast.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct Flow {
    v6: bool,
    c_addr: [u8; 16],
    s_addr: [u8; 16],
    c_port: u16,
    s_port: u16,
    c_seq: u32,
    s_seq: u32,
    step: u32,
    data_steps: u32,
    ends_with_rst: bool,
    c_ipid: u16,
    s_ipid: u16,
}

fn csum(data: &[u8]) -> u32 {
    let mut s = 0u32;
    for c in data.chunks(2) {
        s += u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32;
    }
    s
}

fn fold(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

#[allow(clippy::too_many_arguments)]
fn frame(buf: &mut Vec<u8>, f: &Flow, from_client: bool, flags: u8, seq: u32, ack: u32, payload: u16, ipid: u16) -> u32 {
    buf.clear();
    let (src, dst, sp, dp) = if from_client { (&f.c_addr, &f.s_addr, f.c_port, f.s_port) } else { (&f.s_addr, &f.c_addr, f.s_port, f.c_port) };
    buf.extend_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
    let tcp_len = 32u16;
    if f.v6 {
        buf.extend_from_slice(&[0x86, 0xdd]);
        buf.extend_from_slice(&[0x60, 0, 0, 0]);
        buf.extend_from_slice(&(tcp_len + payload).to_be_bytes());
        buf.extend_from_slice(&[6, 64]);
        buf.extend_from_slice(src);
        buf.extend_from_slice(dst);
    } else {
        buf.extend_from_slice(&[0x08, 0x00]);
        let total = 20 + tcp_len + payload;
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip[4..6].copy_from_slice(&ipid.to_be_bytes());
        ip[6] = 0x40;
        ip[8] = 64;
        ip[9] = 6;
        ip[12..16].copy_from_slice(&src[12..16]);
        ip[16..20].copy_from_slice(&dst[12..16]);
        let c = fold(csum(&ip));
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        buf.extend_from_slice(&ip);
    }
    let mut tcp = [0u8; 32];
    tcp[0..2].copy_from_slice(&sp.to_be_bytes());
    tcp[2..4].copy_from_slice(&dp.to_be_bytes());
    tcp[4..8].copy_from_slice(&seq.to_be_bytes());
    tcp[8..12].copy_from_slice(&ack.to_be_bytes());
    tcp[12] = 8 << 4;
    tcp[13] = flags;
    tcp[14..16].copy_from_slice(&(if flags & 0x04 != 0 { 0u16 } else { 502 }).to_be_bytes());
    tcp[20..32].copy_from_slice(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
    buf.extend_from_slice(&tcp);
    // Payload bytes beyond the snap length are not captured; fill what is.
    let room = SNAPLEN.saturating_sub(buf.len()).min(payload as usize);
    buf.extend(std::iter::repeat_n(0x61u8, room));
    let hdr = if f.v6 { 14 + 40 } else { 14 + 20 };
    (hdr + tcp_len as usize + payload as usize) as u32
}

fn new_flow(rng: &mut Rng, n: u64) -> Flow {
    let v6 = rng.below(10) == 0;
    let mut c = [0u8; 16];
    let mut s = [0u8; 16];
    if v6 {
        c[0] = 0xfd;
        c[1] = 0x77;
        s[0] = 0xfd;
        s[1] = 0x77;
        c[8..16].copy_from_slice(&(rng.next() | 1).to_be_bytes());
        s[15] = 1 + rng.below(50) as u8;
    } else {
        c[12..16].copy_from_slice(&[10, 77, (n >> 8) as u8, n as u8]);
        s[12..16].copy_from_slice(&[10, 78, 0, 1 + rng.below(50) as u8]);
    }
    Flow {
        v6,
        c_addr: c,
        s_addr: s,
        c_port: 1024 + (n % 60000) as u16,
        s_port: [80, 443, 8080, 5432][rng.below(4) as usize],
        c_seq: rng.next() as u32,
        s_seq: rng.next() as u32,
        step: 0,
        data_steps: 10 + rng.below(70) as u32,
        ends_with_rst: rng.below(5) == 0,
        c_ipid: rng.next() as u16,
        s_ipid: rng.next() as u16,
    }
}

fn record(w: &mut impl Write, ts_us: u64, buf: &[u8], orig_len: u32) -> std::io::Result<()> {
    w.write_all(&((ts_us / 1_000_000) as u32).to_le_bytes())?;
    w.write_all(&((ts_us % 1_000_000) as u32).to_le_bytes())?;
    w.write_all(&(buf.len() as u32).to_le_bytes())?;
    w.write_all(&orig_len.to_le_bytes())?;
    w.write_all(buf)
}

/// The scan: probe `i` goes to port `1 + i % 65535` of host `10.78.0.(1 + i / 65535)`; its
/// RST|ACK comes back `LAG` probes later (the answers interleave with later probes).
fn write_scan(w: &mut impl Write, out: &str, packets: u64, rng: &mut Rng) -> std::io::Result<()> {
    const LAG: u64 = 48;
    let probes = packets / 2;
    let flow = |i: u64| {
        let mut c = [0u8; 16];
        let mut s = [0u8; 16];
        c[12..16].copy_from_slice(&[10, 77, 0, 1]);
        s[12..16].copy_from_slice(&[10, 78, (i / 65535 / 256) as u8, (1 + i / 65535 % 255) as u8]);
        Flow {
            v6: false,
            c_addr: c,
            s_addr: s,
            c_port: 40000 + (i % 7) as u16,
            s_port: 1 + (i % 65535) as u16,
            c_seq: (i as u32).wrapping_mul(0x9e37_79b9),
            s_seq: 0,
            step: 0,
            data_steps: 0,
            ends_with_rst: true,
            c_ipid: 0,
            s_ipid: 0,
        }
    };
    let mut buf = Vec::with_capacity(256);
    let mut ts_us: u64 = 1_700_000_000_000_000;
    let mut made = 0u64;
    for i in 0..probes + LAG {
        if i < probes {
            let f = flow(i);
            let len = frame(&mut buf, &f, true, 0x02, f.c_seq, 0, 0, 54321);
            ts_us += 1 + rng.below(4);
            record(w, ts_us, &buf, len)?;
            made += 1;
        }
        if i >= LAG {
            let f = flow(i - LAG);
            let len = frame(&mut buf, &f, false, 0x14, 0, f.c_seq.wrapping_add(1), 0, 0);
            ts_us += 1 + rng.below(4);
            record(w, ts_us, &buf, len)?;
            made += 1;
        }
    }
    w.flush()?;
    eprintln!("{out}: {made} packets, {probes} probes of closed ports (SYN, RST|ACK)");
    Ok(())
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let out = args.get(1).expect("usage: gen_capture OUT.pcap [PACKETS] [CONCURRENT]");
    let packets: u64 = args.get(2).map(|s| s.parse().expect("PACKETS")).unwrap_or(5_000_000);
    let scan = args.get(3).is_some_and(|a| a == "--scan");
    let concurrent: usize = if scan { 0 } else { args.get(3).map(|s| s.parse().expect("CONCURRENT")).unwrap_or(2000) };
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(out)?);
    // Classic pcap, microsecond, Ethernet, snaplen 128.
    w.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
    w.write_all(&2u16.to_le_bytes())?;
    w.write_all(&4u16.to_le_bytes())?;
    w.write_all(&0i32.to_le_bytes())?;
    w.write_all(&0u32.to_le_bytes())?;
    w.write_all(&(SNAPLEN as u32).to_le_bytes())?;
    w.write_all(&1u32.to_le_bytes())?;
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    if scan {
        return write_scan(&mut w, out, packets, &mut rng);
    }
    let mut flows: Vec<Flow> = Vec::with_capacity(concurrent);
    let mut made = 0u64;
    let mut conns = 0u64;
    let mut ts_us: u64 = 1_700_000_000_000_000;
    let mut buf = Vec::with_capacity(256);
    while made < packets {
        if flows.len() < concurrent {
            flows.push(new_flow(&mut rng, conns));
            conns += 1;
            continue;
        }
        let i = rng.below(flows.len() as u64) as usize;
        let f = &mut flows[i];
        let (from_client, flags, seq, ack, payload, done) = match f.step {
            0 => (true, 0x02, f.c_seq, 0, 0u16, false),
            1 => (false, 0x12, f.s_seq, f.c_seq.wrapping_add(1), 0, false),
            2 => (true, 0x10, f.c_seq.wrapping_add(1), f.s_seq.wrapping_add(1), 0, false),
            s if s < 3 + f.data_steps => {
                let client = s % 2 == 1;
                let len = if client { 200 } else { 1448 };
                let (seq, ack) = if client {
                    (f.c_seq.wrapping_add(1), f.s_seq.wrapping_add(1))
                } else {
                    (f.s_seq.wrapping_add(1), f.c_seq.wrapping_add(1))
                };
                (client, 0x18, seq, ack, len, false)
            }
            s if f.ends_with_rst => {
                let _ = s;
                (true, 0x14, f.c_seq.wrapping_add(1), f.s_seq.wrapping_add(1), 0, true)
            }
            s => match s - (3 + f.data_steps) {
                0 => (true, 0x11, f.c_seq.wrapping_add(1), f.s_seq.wrapping_add(1), 0, false),
                1 => (false, 0x11, f.s_seq.wrapping_add(1), f.c_seq.wrapping_add(2), 0, false),
                _ => (true, 0x10, f.c_seq.wrapping_add(2), f.s_seq.wrapping_add(2), 0, true),
            },
        };
        let ipid = if from_client {
            f.c_ipid = f.c_ipid.wrapping_add(1);
            f.c_ipid
        } else {
            f.s_ipid = f.s_ipid.wrapping_add(1);
            f.s_ipid
        };
        let orig_len = frame(&mut buf, f, from_client, flags, seq, ack, payload, ipid);
        if payload > 0 && f.step >= 3 {
            if from_client {
                f.c_seq = f.c_seq.wrapping_add(payload as u32);
            } else {
                f.s_seq = f.s_seq.wrapping_add(payload as u32);
            }
        }
        f.step += 1;
        ts_us += 1 + rng.below(20);
        record(&mut w, ts_us, &buf, orig_len)?;
        made += 1;
        if done {
            flows.swap_remove(i);
        }
    }
    w.flush()?;
    eprintln!("{out}: {made} packets, {conns} connections started, {concurrent} concurrent");
    Ok(())
}
