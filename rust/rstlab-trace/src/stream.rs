//! The incremental pass: frames fed one at a time (a live capture), each RST judged once it has
//! settled — the same connection tracker, Zeek view and classifier as [`crate::analyze_file`],
//! driven by a clock instead of the end of a file.
//!
//! A RST's verdict reads what followed it (did the receiver go silent, answer with a challenge
//! ACK, keep talking?), so it is judged when its connection is retired (idle past the timeouts,
//! or the stream ends) or `settle` after the RST, whichever comes first; the later verdict is
//! the file pass's own, the earlier one reads what the connection showed up to then. Memory
//! follows the connections alive at once: ended connections are retired after
//! `closed_idle_secs`, quiet ones after `idle_secs`.

use crate::analyze::{decode_counted, ConnExtra, FrameCounts};
use crate::classify::{ConnMeta, ResetRow, ResetRows};
use crate::flow::zeek::{ZeekOptions, ZEEK_LIKELY_SERVER_PORTS};
use crate::flow::{Conn, ConnSink, Dir, Tracker};
use crate::wire::{DecodeOptions, FrameMeta, LinkType, Reassembler, Segment};
use std::net::SocketAddr;

/// How the incremental pass judges and forgets.
#[derive(Clone, Copy, Debug)]
pub struct StreamOptions {
    /// Judge a RST this long after it (capture time) if its connection is still tracked.
    pub settle_ns: i64,
    /// Retire a quiet connection after this long, seconds.
    pub idle_secs: u32,
    /// Retire an ended (FIN both ways or RST) connection after this long, seconds.
    pub closed_idle_secs: u32,
    pub verify_checksums: bool,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions { settle_ns: 1_000_000_000, idle_secs: 300, closed_idle_secs: 5, verify_checksums: false }
    }
}

/// One judged RST with the connection context a live reader prints.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamReset {
    /// The resets table's row (its `frame` numbers the frames fed to the stream, 1-based),
    /// its evidence rendered.
    pub row: ResetRow,
    /// The same row as a one-row table (evidence as template and values), to gather rows
    /// into a resets table with [`ResetRows::append`].
    pub table: ResetRows,
    /// The RST's source (its sender) and destination.
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// Zeek's `history` and `conn_state` of the connection when the RST was judged.
    pub history: String,
    pub conn_state: &'static str,
    /// Judged when its connection was retired (the file pass's verdict), not after `settle`.
    pub at_close: bool,
}

/// Per connection: the file pass's state, and how many of its RSTs were already emitted.
pub struct LiveState {
    extra: ConnExtra,
    emitted: u32,
}

struct LiveSink {
    zeek: ZeekOptions,
    out: Vec<StreamReset>,
    /// RSTs recorded and not yet emitted, over all live connections.
    pending: u64,
    /// No pending RST is due before this capture time.
    next_due: i64,
    settle_ns: i64,
}

impl LiveSink {
    fn emit(&mut self, conn: &Conn, st: &LiveState, rows: ResetRows, at_close: bool) {
        let orig_is_fwd = st.extra.orig_is_fwd();
        for (i, row) in rows.rows().into_iter().enumerate() {
            let sender_fwd = row.sender_is_orig == orig_is_fwd;
            let (s, d) = if sender_fwd { (conn.a(), conn.b()) } else { (conn.b(), conn.a()) };
            self.out.push(StreamReset {
                row,
                table: rows.one(i),
                src: SocketAddr::new(s.0, s.1),
                dst: SocketAddr::new(d.0, d.1),
                history: st.extra.history().to_owned(),
                conn_state: st.extra.conn_state(),
                at_close,
            });
        }
        self.pending = self.pending.saturating_sub(rows.len() as u64);
    }
}

impl ConnSink for LiveSink {
    type State = LiveState;
    fn open(&mut self, _conn: &Conn, first: &Segment) -> LiveState {
        LiveState { extra: ConnExtra::new(first, self.zeek, ZEEK_LIKELY_SERVER_PORTS, true), emitted: 0 }
    }
    fn segment(&mut self, conn: &Conn, st: &mut LiveState, dir: Dir, seg: &Segment) {
        st.extra.on_segment(conn, dir, seg, self.zeek, ZEEK_LIKELY_SERVER_PORTS);
        if seg.flags.rst() {
            self.pending += 1;
            self.next_due = self.next_due.min(seg.ts_ns.saturating_add(self.settle_ns));
        }
    }
    fn close(&mut self, conn: Conn, mut st: LiveState) {
        let Some(r) = st.extra.take_resets() else { return };
        let mut rows = ResetRows::new();
        let meta = ConnMeta { conn_id: conn.id, orig_is_fwd: st.extra.orig_is_fwd() };
        r.finish_from(st.emitted as usize, &meta, &mut rows);
        self.emit(&conn, &st, rows, true);
    }
}

/// The incremental pass (see the module docs).
pub struct Stream {
    tracker: Tracker<LiveSink>,
    decode: DecodeOptions,
    counts: FrameCounts,
    frags: Reassembler,
    place: Segment,
}

impl Stream {
    pub fn new(opts: &StreamOptions) -> Self {
        let sink = LiveSink {
            zeek: ZeekOptions { ignore_checksums: true },
            out: Vec::new(),
            pending: 0,
            next_due: i64::MAX,
            settle_ns: opts.settle_ns,
        };
        Stream {
            tracker: Tracker::new(sink, opts.idle_secs, opts.closed_idle_secs),
            decode: DecodeOptions { verify_checksums: opts.verify_checksums, ..DecodeOptions::default() },
            counts: FrameCounts::default(),
            frags: Reassembler::default(),
            place: Segment::default(),
        }
    }

    /// Feeds one frame; returns its frame number (1-based, over every frame fed).
    pub fn frame(&mut self, ts_ns: i64, linktype: LinkType, data: &[u8], orig_len: u32) -> u64 {
        let meta = FrameMeta { frame: self.counts.frames + 1, ts_ns, linktype, orig_len, interface: 0 };
        let fragments = self.counts.fragments;
        // Decoded and counted as the file pass does; a TCP segment a fragment completes is
        // tracked like any other.
        if decode_counted(&meta, data, self.decode, &mut self.frags, &mut self.counts, &mut self.place) {
            self.tracker.push(&self.place);
            let alive = self.tracker.alive() as u64;
            self.counts.peak_alive = self.counts.peak_alive.max(alive);
        }
        if self.counts.fragments != fragments {
            self.counts.reassembly = self.frags.counts();
        }
        self.counts.frames
    }

    /// The RSTs that can be judged as of capture time `now`: those of connections retired by
    /// now, then those `settle` old, in capture order.
    pub fn poll(&mut self, now: i64) -> Vec<StreamReset> {
        self.tracker.sweep_at(now);
        let sink = &self.tracker.sink;
        if sink.pending > 0 && now >= sink.next_due {
            let settle = sink.settle_ns;
            let mut next_due = i64::MAX;
            self.tracker.visit(|sink, conn, st| {
                let Some(r) = st.extra.resets() else { return };
                let n = r.rsts();
                if n as u32 <= st.emitted {
                    return;
                }
                // Emit every recorded RST up to the last one that is due (they are in order).
                let due = (st.emitted as usize..n).take_while(|&i| r.rst_ts(i).is_some_and(|t| t.saturating_add(settle) <= now)).count();
                if let Some(t) = r.rst_ts(st.emitted as usize + due) {
                    next_due = next_due.min(t.saturating_add(settle));
                }
                if due == 0 {
                    return;
                }
                let mut rows = ResetRows::new();
                let meta = ConnMeta { conn_id: conn.id, orig_is_fwd: st.extra.orig_is_fwd() };
                r.rows_from(st.emitted as usize, &meta, &mut rows);
                rows.truncate(due);
                st.emitted += due as u32;
                sink.emit(conn, st, rows, false);
            });
            self.tracker.sink.next_due = next_due;
        }
        let mut out = std::mem::take(&mut self.tracker.sink.out);
        out.sort_by_key(|r| r.row.frame);
        out
    }

    /// Judges every RST still pending (the stream ended) and returns them in capture order.
    pub fn finish(self) -> (Vec<StreamReset>, FrameCounts) {
        let counts = self.counts;
        let mut out = self.tracker.finish().out;
        out.sort_by_key(|r| r.row.frame);
        (out, counts)
    }

    /// Connections tracked now.
    pub fn alive(&self) -> usize {
        self.tracker.alive()
    }

    pub fn counts(&self) -> &FrameCounts {
        &self.counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::{analyze_frames, AnalyzeOptions};
    use crate::capture::CapturedFrame;
    use crate::testkit::seg;

    /// The segment as a raw IPv4 packet (no options, zero payload bytes, checksums left 0).
    fn raw_ipv4(s: &crate::wire::Segment) -> Vec<u8> {
        let (std::net::IpAddr::V4(src), std::net::IpAddr::V4(dst)) = (s.src, s.dst) else { panic!("v4 only") };
        let total = 40 + s.payload_len as u16;
        let mut p = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, s.ttl, 6, 0, 0];
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p[4..6].copy_from_slice(&s.ip_id.unwrap_or(0).to_be_bytes());
        p.extend_from_slice(&src.octets());
        p.extend_from_slice(&dst.octets());
        p.extend_from_slice(&s.sport.to_be_bytes());
        p.extend_from_slice(&s.dport.to_be_bytes());
        p.extend_from_slice(&s.seq.0.to_be_bytes());
        p.extend_from_slice(&s.ack.0.to_be_bytes());
        p.push(0x50);
        p.push(s.flags.0 as u8);
        p.extend_from_slice(&s.window.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 0]);
        p.resize(total as usize, 0);
        p
    }

    /// A raw IPv4 frame (LinkType::RAW) for a testkit segment.
    fn frames_of(segs: &[crate::wire::Segment]) -> Vec<CapturedFrame> {
        segs.iter().map(|s| CapturedFrame { ts_ns: s.ts_ns, linktype: LinkType::RAW, interface: 0, data: raw_ipv4(s), orig_len: 0 }).collect()
    }

    #[test]
    fn a_closed_port_reset_is_judged_at_settle_and_agrees_with_the_file_pass() {
        // RFC 9293 §3.10.7.1: a SYN to a closed port gets <SEQ=0><ACK=SEG.SEQ+1><CTL=RST,ACK>.
        let segs = [seg().from_client().syn().seq(100).ts_ms(0).frame(1).build(), seg().from_server().rst().ack_flag().seq(0).ack(101).ts_ms(1).frame(2).build()];
        let frames = frames_of(&segs);
        let mut st = Stream::new(&StreamOptions::default());
        for f in &frames {
            st.frame(f.ts_ns, f.linktype, &f.data, f.data.len() as u32);
        }
        assert!(st.poll(segs[1].ts_ns + 500_000_000).is_empty(), "not yet settled");
        let live = st.poll(segs[1].ts_ns + 1_000_000_000);
        assert_eq!(live.len(), 1);
        assert_eq!(live[0].row.cause.as_str(), "refused");
        assert!(!live[0].at_close);
        assert_eq!(live[0].src.port(), segs[1].sport);
        let offline = analyze_frames(&frames, &AnalyzeOptions { keep_reset_rows: true, ..AnalyzeOptions::default() });
        assert_eq!(offline.tables.reset_rows[0].cause, live[0].row.cause);
        assert_eq!(offline.tables.reset_rows[0].frame, live[0].row.frame);
        let (rest, counts) = st.finish();
        assert!(rest.is_empty(), "emitted once");
        assert_eq!(counts.tcp, 2);
    }

    /// An IPv4 packet cut in two fragments at byte `cut` of its payload (a multiple of 8).
    fn fragments(p: &[u8], cut: usize) -> [Vec<u8>; 2] {
        let (hdr, body) = p.split_at(20);
        let frag = |data: &[u8], off: usize, more: bool| {
            let mut f = hdr.to_vec();
            f[2..4].copy_from_slice(&((20 + data.len()) as u16).to_be_bytes());
            f[6..8].copy_from_slice(&(((off / 8) as u16) | if more { 0x2000 } else { 0 }).to_be_bytes());
            f.extend_from_slice(data);
            f
        };
        [frag(&body[..cut], 0, true), frag(&body[cut..], cut, false)]
    }

    #[test]
    fn a_reset_answering_a_fragmented_syn_is_judged_like_the_file_pass() {
        // A SYN with 40 bytes of data (RFC 9293 §3.10.7.2 allows it) in two fragments, then the
        // closed port's RST: the incremental pass reassembles as the file pass does, so the SYN
        // is tracked (on the frame of its last fragment) and the RST answers it.
        let syn = seg().from_client().syn().seq(100).payload(40).ts_ms(0).frame(1).build();
        let rst = seg().from_server().rst().ack_flag().seq(0).ack(141).ts_ms(1).frame(3).build();
        let [f1, f2] = fragments(&raw_ipv4(&syn), 32);
        let frames: Vec<CapturedFrame> = [f1, f2, raw_ipv4(&rst)]
            .into_iter()
            .map(|data| CapturedFrame { ts_ns: 0, linktype: LinkType::RAW, interface: 0, data, orig_len: 0 })
            .collect();
        let mut st = Stream::new(&StreamOptions::default());
        for f in &frames {
            st.frame(f.ts_ns, f.linktype, &f.data, f.data.len() as u32);
        }
        let (live, counts) = st.finish();
        assert_eq!((counts.frames, counts.fragments, counts.tcp, counts.reassembly.reassembled), (3, 2, 2, 1));
        let offline = analyze_frames(&frames, &AnalyzeOptions { keep_reset_rows: true, ..AnalyzeOptions::default() });
        assert_eq!(offline.counts, counts);
        assert_eq!(live.len(), 1);
        assert_eq!(live[0].row.cause.as_str(), "refused");
        assert_eq!((live[0].row.frame, live[0].row.cause), (offline.tables.reset_rows[0].frame, offline.tables.reset_rows[0].cause));
    }

    #[test]
    fn a_retired_connection_emits_its_rsts_with_the_file_verdict() {
        let segs = [seg().from_client().syn().seq(100).ts_ms(0).frame(1).build(), seg().from_server().rst().ack_flag().seq(0).ack(101).ts_ms(1).frame(2).build()];
        let frames = frames_of(&segs);
        let mut st = Stream::new(&StreamOptions { settle_ns: i64::MAX / 4, closed_idle_secs: 1, ..StreamOptions::default() });
        for f in &frames {
            st.frame(f.ts_ns, f.linktype, &f.data, f.data.len() as u32);
        }
        let live = st.poll(segs[1].ts_ns + 2_000_000_000);
        assert_eq!(live.len(), 1);
        assert!(live[0].at_close);
        assert_eq!(st.alive(), 0, "idle eviction");
    }
}
