//! The speed reference issue #2 states its target against: "a minimal Rust loop that only walks
//! such a file and counts flows does about 10 M packets/s here". `bench/run.py` times it in the
//! same run as rstlab, so the machine's speed at that moment is measured next to the figure.
//!
//! Deliberately minimal and independent of rstlab's code: classic pcap in the writer's byte
//! order, Ethernet, IPv4 or IPv6 without extension headers, TCP; a flow is the unordered
//! address/port pair. Anything else is counted as skipped. Prints one JSON line.
use std::collections::HashMap;
use std::io::Read;
use std::time::Instant;

type Key = ([u8; 16], [u8; 16], u16, u16);

fn flow_key(frame: &[u8]) -> Option<Key> {
    let ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    let ip = frame.get(14..)?;
    let (src, dst, proto, l4) = match ethertype {
        0x0800 => {
            let ihl = (*ip.first()? & 0x0f) as usize * 4;
            let mut s = [0; 16];
            let mut d = [0; 16];
            s[..4].copy_from_slice(ip.get(12..16)?);
            d[..4].copy_from_slice(ip.get(16..20)?);
            (s, d, *ip.get(9)?, ip.get(ihl..)?)
        }
        0x86dd => (ip.get(8..24)?.try_into().ok()?, ip.get(24..40)?.try_into().ok()?, *ip.get(6)?, ip.get(40..)?),
        _ => return None,
    };
    if proto != 6 {
        return None;
    }
    let sport = u16::from_be_bytes([*l4.first()?, *l4.get(1)?]);
    let dport = u16::from_be_bytes([*l4.get(2)?, *l4.get(3)?]);
    Some(if (src, sport) <= (dst, dport) { (src, dst, sport, dport) } else { (dst, src, dport, sport) })
}

fn main() {
    let path = std::env::args().nth(1).expect("usage: walk_count FILE.pcap");
    let t0 = Instant::now();
    let mut file = std::fs::File::open(&path).expect("open");
    let mut buf = vec![0u8; 256 << 10];
    let (mut start, mut end) = (0usize, 0usize);
    let mut flows: HashMap<Key, u64, rustc_hash::FxBuildHasher> = HashMap::default();
    let (mut packets, mut skipped) = (0u64, 0u64);
    let mut swap: Option<bool> = None;
    loop {
        // Records are walked in place; a record cut by the buffer's end moves to its front.
        let need = match swap {
            None => 24,
            Some(_) => 16,
        };
        if end - start >= need {
            let h = &buf[start..];
            match swap {
                None => {
                    let magic = u32::from_le_bytes(h[..4].try_into().unwrap());
                    swap = Some(match magic {
                        0xa1b2c3d4 | 0xa1b23c4d => false,
                        0xd4c3b2a1 | 0x4d3cb2a1 => true,
                        _ => panic!("not a classic pcap file"),
                    });
                    start += 24;
                    continue;
                }
                Some(sw) => {
                    let raw: [u8; 4] = h[8..12].try_into().unwrap();
                    let caplen = if sw { u32::from_be_bytes(raw) } else { u32::from_le_bytes(raw) } as usize;
                    if end - start >= 16 + caplen {
                        match flow_key(&h[16..16 + caplen]) {
                            Some(k) => *flows.entry(k).or_insert(0) += 1,
                            None => skipped += 1,
                        }
                        packets += 1;
                        start += 16 + caplen;
                        continue;
                    }
                    if 16 + caplen > buf.len() {
                        buf.resize(16 + caplen, 0);
                    }
                }
            }
        }
        buf.copy_within(start..end, 0);
        end -= start;
        start = 0;
        let n = file.read(&mut buf[end..]).expect("read");
        if n == 0 {
            break;
        }
        end += n;
    }
    let seconds = t0.elapsed().as_secs_f64();
    println!(r#"{{"seconds": {seconds:.6}, "packets": {packets}, "flows": {}, "skipped": {skipped}}}"#, flows.len());
}
