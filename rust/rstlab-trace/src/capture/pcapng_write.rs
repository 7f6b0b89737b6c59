//! A small pcapng writer (draft-ietf-opsawg-pcapng): one section whose header can say what made
//! the capture, one IDB per interface with nanosecond timestamps, one EPB per frame with an
//! optional `opt_comment` (which Wireshark shows as `frame.comment`).

use std::io::{self, Write};

const SHB: u32 = 0x0a0d_0d0a;
const IDB: u32 = 0x0000_0001;
const EPB: u32 = 0x0000_0006;
const OPT_END: u16 = 0;
const OPT_COMMENT: u16 = 1;
// Section Header Block options (draft-ietf-opsawg-pcapng §4.1).
const SHB_HARDWARE: u16 = 2;
const SHB_OS: u16 = 3;
const SHB_USERAPPL: u16 = 4;
const IF_NAME: u16 = 2;
const IF_TSRESOL: u16 = 9;

fn pad4(n: usize) -> usize {
    (4 - n % 4) % 4
}

fn option(buf: &mut Vec<u8>, code: u16, value: &[u8]) {
    buf.extend_from_slice(&code.to_le_bytes());
    buf.extend_from_slice(&(value.len() as u16).to_le_bytes());
    buf.extend_from_slice(value);
    buf.extend(std::iter::repeat_n(0u8, pad4(value.len())));
}

/// An option value is at most 65535 bytes (its length is a u16): cut on a char boundary.
fn cut(s: &str) -> &[u8] {
    let mut end = s.len().min(65_000);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s.as_bytes()[..end]
}

/// What the section header says about the capture: `comment` (`opt_comment`), the machine
/// (`shb_hardware`), the operating system (`shb_os`) and the writing application
/// (`shb_userappl`) — capinfos prints them as "Capture comment", "Capture hardware", "Capture
/// oper-sys" and "Capture application".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SectionHeader {
    pub comment: Option<String>,
    pub hardware: Option<String>,
    pub os: Option<String>,
    pub userappl: String,
}

fn block<W: Write>(w: &mut W, kind: u32, body: &[u8]) -> io::Result<()> {
    let total = (12 + body.len()) as u32;
    w.write_all(&kind.to_le_bytes())?;
    w.write_all(&total.to_le_bytes())?;
    w.write_all(body)?;
    w.write_all(&total.to_le_bytes())
}

/// Writes pcapng blocks to any `Write`.
pub struct PcapNgWriter<W: Write> {
    out: W,
    scratch: Vec<u8>,
}

impl<W: Write> PcapNgWriter<W> {
    /// Writes the section header; `app` names the writer (`shb_userappl`).
    pub fn new(out: W, app: &str) -> io::Result<Self> {
        PcapNgWriter::with_section(out, &SectionHeader { userappl: app.into(), ..SectionHeader::default() })
    }

    /// Writes a section header carrying `section`'s options.
    pub fn with_section(mut out: W, section: &SectionHeader) -> io::Result<Self> {
        let mut body = Vec::with_capacity(256);
        body.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        // Section length unknown (-1): readers walk the blocks (§4.1).
        body.extend_from_slice(&(-1i64).to_le_bytes());
        if let Some(c) = &section.comment {
            option(&mut body, OPT_COMMENT, cut(c));
        }
        if let Some(h) = &section.hardware {
            option(&mut body, SHB_HARDWARE, cut(h));
        }
        if let Some(os) = &section.os {
            option(&mut body, SHB_OS, cut(os));
        }
        option(&mut body, SHB_USERAPPL, cut(&section.userappl));
        option(&mut body, OPT_END, &[]);
        block(&mut out, SHB, &body)?;
        Ok(PcapNgWriter { out, scratch: Vec::with_capacity(2048) })
    }

    /// Describes the next interface (they are numbered from 0 in the order written).
    pub fn interface(&mut self, linktype: u32, snaplen: u32, name: Option<&str>) -> io::Result<()> {
        let b = &mut self.scratch;
        b.clear();
        b.extend_from_slice(&(linktype as u16).to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&snaplen.to_le_bytes());
        if let Some(n) = name {
            option(b, IF_NAME, n.as_bytes());
        }
        option(b, IF_TSRESOL, &[9]);
        option(b, OPT_END, &[]);
        block(&mut self.out, IDB, &self.scratch)
    }

    /// Writes one frame; `ts_ns` is nanoseconds since the epoch.
    pub fn packet(&mut self, interface: u32, ts_ns: i64, orig_len: u32, data: &[u8], comment: Option<&str>) -> io::Result<()> {
        let b = &mut self.scratch;
        b.clear();
        let ts = ts_ns.max(0) as u64;
        b.extend_from_slice(&interface.to_le_bytes());
        b.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        b.extend_from_slice(&(ts as u32).to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(&orig_len.max(data.len() as u32).to_le_bytes());
        b.extend_from_slice(data);
        b.extend(std::iter::repeat_n(0u8, pad4(data.len())));
        if let Some(c) = comment {
            option(b, OPT_COMMENT, cut(c));
            option(b, OPT_END, &[]);
        }
        block(&mut self.out, EPB, &self.scratch)
    }

    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Copy a capture file to pcapng, attaching `comments` (by 1-based frame number) as each
/// frame's `opt_comment`. Interfaces keep their link types and names.
pub fn rewrite_with_comments(
    src: &std::path::Path,
    dst: &std::path::Path,
    comments: &std::collections::HashMap<u64, String>,
) -> Result<u64, crate::TraceError> {
    use super::{read_frames, FrameSink};
    use crate::wire::FrameMeta;
    use std::ops::ControlFlow;

    struct Copy<'a, W: Write> {
        w: PcapNgWriter<W>,
        /// Interfaces written so far, and where the current section's numbering starts.
        described: u32,
        section_base: u32,
        comments: &'a std::collections::HashMap<u64, String>,
        err: Option<io::Error>,
        written: u64,
    }
    impl<W: Write> FrameSink for Copy<'_, W> {
        fn section(&mut self) {
            // One output section: later sections' interfaces continue the numbering.
            self.section_base = self.described;
        }
        fn interface(&mut self, _index: u32, iface: &super::Interface) {
            if self.err.is_none() {
                match self.w.interface(iface.linktype.0, iface.snaplen, iface.name.as_deref()) {
                    Ok(()) => self.described += 1,
                    Err(e) => self.err = Some(e),
                }
            }
        }
        fn frame(&mut self, meta: &FrameMeta, data: &[u8]) -> ControlFlow<()> {
            if self.err.is_some() {
                return ControlFlow::Break(());
            }
            let c = self.comments.get(&meta.frame).map(String::as_str);
            match self.w.packet(self.section_base + meta.interface, meta.ts_ns, meta.orig_len, data, c) {
                Ok(()) => {
                    self.written += 1;
                    ControlFlow::Continue(())
                }
                Err(e) => {
                    self.err = Some(e);
                    ControlFlow::Break(())
                }
            }
        }
    }
    let io_err = |e: io::Error| crate::TraceError::Io { path: dst.into(), source: e };
    let file = std::fs::File::create(dst).map_err(io_err)?;
    let w = PcapNgWriter::new(io::BufWriter::new(file), "rstlab").map_err(io_err)?;
    let mut sink = Copy { w, described: 0, section_base: 0, comments, err: None, written: 0 };
    let (_, read_err) = read_frames(src, &mut sink);
    if let Some(e) = sink.err.take() {
        return Err(io_err(e));
    }
    sink.w.finish().map_err(io_err)?;
    match read_err {
        Some(e) => Err(e),
        None => Ok(sink.written),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The section header's options as capinfos (Wireshark's reader, an independent one) shows
    /// them; skipped where capinfos is not installed.
    #[test]
    fn section_header_options_read_back_with_capinfos() {
        let path = std::env::temp_dir().join(format!("rstlab-shb-{}.pcapng", std::process::id()));
        let section = SectionHeader {
            comment: Some("run s1 IPv4\nsysctl server net.ipv4.tcp_syncookies=0".into()),
            hardware: Some("x86_64".into()),
            os: Some("Linux 6.18.0-test".into()),
            userappl: "rstlab 9.9.9".into(),
        };
        let mut w = PcapNgWriter::with_section(std::fs::File::create(&path).unwrap(), &section).unwrap();
        w.interface(1, 65_535, Some("client:c0")).unwrap();
        w.packet(0, 1_700_000_000_000_000_000, 60, &[0u8; 60], None).unwrap();
        w.finish().unwrap();
        let out = std::process::Command::new("capinfos").arg(&path).output();
        std::fs::remove_file(&path).unwrap();
        let Ok(out) = out else {
            eprintln!("capinfos not installed: skipped");
            return;
        };
        let text = String::from_utf8_lossy(&out.stdout);
        let field = |name: &str| text.lines().find_map(|l| l.strip_prefix(name).map(|v| v.trim_start_matches(':').trim().to_string()));
        assert_eq!(field("Capture hardware").as_deref(), Some("x86_64"), "{text}");
        assert_eq!(field("Capture oper-sys").as_deref(), Some("Linux 6.18.0-test"), "{text}");
        assert_eq!(field("Capture application").as_deref(), Some("rstlab 9.9.9"), "{text}");
        assert!(field("Capture comment").is_some_and(|c| c.starts_with("run s1 IPv4") && c.ends_with("tcp_syncookies=0")), "{text}");
        assert_eq!(field("Number of packets").as_deref(), Some("1"), "{text}");
    }
}
