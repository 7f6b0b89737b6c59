//! Classic BPF programs for the watch socket (filter.txt in the kernel's networking docs).
//!
//! The built-in program keeps TCP over IPv4 and IPv6 (next header 6 right after the fixed
//! header; TCP behind IPv6 extension headers is not kept) and returns [`SNAPLEN`] bytes of it.
//! A user expression (`--filter`) is compiled by libpcap, opened with `dlopen` only when one is
//! given, so the wheel links no libpcap. Both run behind a prefix that drops the outgoing copy
//! of every packet on `lo` (packet(7): a loopback packet is seen leaving and arriving; ifindex 1
//! is `lo` in every namespace, registered first by `loopback_net_init`).

use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};

/// Bytes kept of each packet: an IPv4 or IPv6 header with options or extension headers and a
/// TCP header with every option (60 bytes each at most) fit.
pub const SNAPLEN: u32 = 192;

/// `struct sock_filter`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SockFilter {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

const fn op(code: u16, jt: u8, jf: u8, k: u32) -> SockFilter {
    SockFilter { code, jt, jf, k }
}

// Opcodes (linux/bpf_common.h).
const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const LD_H_ABS: u16 = 0x28; // BPF_LD | BPF_H | BPF_ABS
const LD_B_ABS: u16 = 0x30; // BPF_LD | BPF_B | BPF_ABS
const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const RET_K: u16 = 0x06; // BPF_RET | BPF_K
// Ancillary loads (linux/filter.h): SKF_AD_OFF + SKF_AD_*.
const SKF_AD_OFF: u32 = (-0x1000i32) as u32;
const SKF_AD_PROTOCOL: u32 = 0;
const SKF_AD_PKTTYPE: u32 = 4;
const SKF_AD_IFINDEX: u32 = 8;
const PACKET_OUTGOING: u32 = 4;
const LOOPBACK_IFINDEX: u32 = 1;

/// Drops `lo`'s outgoing copies, then falls through to the program that follows.
const PREFIX: [SockFilter; 5] = [
    op(LD_W_ABS, 0, 0, SKF_AD_OFF + SKF_AD_PKTTYPE),
    op(JEQ_K, 0, 3, PACKET_OUTGOING),
    op(LD_W_ABS, 0, 0, SKF_AD_OFF + SKF_AD_IFINDEX),
    op(JEQ_K, 0, 1, LOOPBACK_IFINDEX),
    op(RET_K, 0, 0, 0),
];

/// TCP over IPv4 / IPv6, on a socket that delivers from the network header on.
const TCP: [SockFilter; 9] = [
    op(LD_H_ABS, 0, 0, SKF_AD_OFF + SKF_AD_PROTOCOL),
    op(JEQ_K, 0, 2, 0x0800),
    op(LD_B_ABS, 0, 0, 9), // IPv4 protocol
    op(JEQ_K, 3, 4, 6),
    op(JEQ_K, 0, 3, 0x86dd),
    op(LD_B_ABS, 0, 0, 6), // IPv6 next header
    op(JEQ_K, 0, 1, 6),
    op(RET_K, 0, 0, SNAPLEN),
    op(RET_K, 0, 0, 0),
];

/// The built-in program.
pub fn default_program() -> Vec<SockFilter> {
    PREFIX.iter().chain(TCP.iter()).copied().collect()
}

/// The prefix followed by `user` (its jumps are relative, so it runs unchanged after it).
pub fn with_prefix(user: &[SockFilter]) -> Vec<SockFilter> {
    PREFIX.iter().chain(user.iter()).copied().collect()
}

/// `struct bpf_program` (pcap/bpf.h).
#[repr(C)]
struct BpfProgram {
    bf_len: c_uint,
    bf_insns: *mut SockFilter,
}

const LIBPCAP: [&CStr; 3] = [c"libpcap.so.1", c"libpcap.so.0.8", c"libpcap.so"];
/// DLT_RAW as Linux's libpcap numbers it: the packet starts at the IP header.
const DLT_RAW: c_int = 12;
const PCAP_NETMASK_UNKNOWN: c_uint = 0xffff_ffff;

/// Compiles a pcap filter expression for bare IP packets with the libpcap found at run time.
/// `Err` says what is wrong (no libpcap, or its compiler's message).
pub fn compile(expr: &str) -> Result<Vec<SockFilter>, String> {
    type OpenDead = unsafe extern "C" fn(c_int, c_int) -> *mut c_void;
    type Compile = unsafe extern "C" fn(*mut c_void, *mut BpfProgram, *const c_char, c_int, c_uint) -> c_int;
    type GetErr = unsafe extern "C" fn(*mut c_void) -> *const c_char;
    type FreeCode = unsafe extern "C" fn(*mut BpfProgram);
    type Close = unsafe extern "C" fn(*mut c_void);
    let c_expr = CString::new(expr).map_err(|_| "the filter expression contains a NUL byte".to_string())?;
    // SAFETY: dlopen/dlsym with NUL-terminated names; the symbols are cast to libpcap's
    // documented signatures (pcap_open_dead(3PCAP), pcap_compile(3PCAP), ...).
    unsafe {
        let lib = LIBPCAP.iter().map(|n| libc::dlopen(n.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL)).find(|h| !h.is_null());
        let Some(lib) = lib else {
            return Err("--filter needs libpcap at run time and none was found (libpcap.so.1 / libpcap.so.0.8): install it (Debian: `apt-get install libpcap0.8`), or leave --filter out to watch all TCP".into());
        };
        let sym = |name: &CStr| libc::dlsym(lib, name.as_ptr());
        let (od, co, ge, fc, cl) = (sym(c"pcap_open_dead"), sym(c"pcap_compile"), sym(c"pcap_geterr"), sym(c"pcap_freecode"), sym(c"pcap_close"));
        if [od, co, ge, fc, cl].iter().any(|p| p.is_null()) {
            libc::dlclose(lib);
            return Err("the libpcap found lacks pcap_open_dead / pcap_compile".into());
        }
        let open_dead: OpenDead = std::mem::transmute::<*mut c_void, OpenDead>(od);
        let compile: Compile = std::mem::transmute::<*mut c_void, Compile>(co);
        let geterr: GetErr = std::mem::transmute::<*mut c_void, GetErr>(ge);
        let freecode: FreeCode = std::mem::transmute::<*mut c_void, FreeCode>(fc);
        let close: Close = std::mem::transmute::<*mut c_void, Close>(cl);
        let p = open_dead(DLT_RAW, SNAPLEN as c_int);
        let out = if p.is_null() {
            Err("pcap_open_dead failed".to_string())
        } else {
            let mut prog = BpfProgram { bf_len: 0, bf_insns: std::ptr::null_mut() };
            let r = if compile(p, &mut prog, c_expr.as_ptr(), 1, PCAP_NETMASK_UNKNOWN) != 0 {
                Err(format!("bad filter `{expr}`: {}", CStr::from_ptr(geterr(p)).to_string_lossy()))
            } else {
                let v = std::slice::from_raw_parts(prog.bf_insns, prog.bf_len as usize).to_vec();
                freecode(&mut prog);
                Ok(v)
            };
            close(p);
            r
        };
        libc::dlclose(lib);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal cBPF interpreter for the opcodes above, to check the jumps land where meant.
    fn run(prog: &[SockFilter], pkttype: u32, ifindex: u32, proto: u32, pkt: &[u8]) -> u32 {
        let (mut a, mut pc) = (0u32, 0usize);
        loop {
            let i = prog[pc];
            match i.code {
                LD_W_ABS | LD_H_ABS | LD_B_ABS if i.k >= SKF_AD_OFF => {
                    a = match i.k - SKF_AD_OFF {
                        SKF_AD_PKTTYPE => pkttype,
                        SKF_AD_IFINDEX => ifindex,
                        SKF_AD_PROTOCOL => proto,
                        _ => panic!("ancillary"),
                    }
                }
                LD_B_ABS => a = pkt[i.k as usize] as u32,
                JEQ_K => {
                    pc += if a == i.k { i.jt } else { i.jf } as usize;
                }
                RET_K => return i.k,
                c => panic!("opcode {c:#x}"),
            }
            pc += 1;
        }
    }

    #[test]
    fn default_program_keeps_tcp_and_drops_loopback_outgoing_copies() {
        let p = default_program();
        let mut v4 = [0u8; 40];
        v4[9] = 6;
        let mut v6 = [0u8; 60];
        v6[6] = 6;
        // Incoming (PACKET_HOST = 0) TCP on lo and on a veth: kept, cut to SNAPLEN.
        assert_eq!(run(&p, 0, 1, 0x0800, &v4), SNAPLEN);
        assert_eq!(run(&p, 0, 7, 0x86dd, &v6), SNAPLEN);
        // Outgoing on lo: the same packet will be seen arriving.
        assert_eq!(run(&p, PACKET_OUTGOING, 1, 0x0800, &v4), 0);
        // Outgoing on a veth: its only copy here.
        assert_eq!(run(&p, PACKET_OUTGOING, 7, 0x0800, &v4), SNAPLEN);
        // UDP (17), ICMPv6 (58), ARP: dropped.
        v4[9] = 17;
        v6[6] = 58;
        assert_eq!(run(&p, 0, 1, 0x0800, &v4), 0);
        assert_eq!(run(&p, 0, 1, 0x86dd, &v6), 0);
        assert_eq!(run(&p, 0, 2, 0x0806, &v4), 0);
    }
}
