//! `unsolicited` (a lone RST: nothing of the connection before it to judge it by) and the
//! `unknown` fallback (context, but no rule's predicates hold).

use super::facts::Facts;
use crate::classify::{text, Cause, Origin, Verdict};

pub(crate) fn judge(f: &Facts) -> Option<Verdict> {
    if !f.no_history() {
        return None;
    }
    let a = f.after();
    let after = text(|out| {
        if a.s_nonrst + a.r_nonrst == 0 {
            out.write_str("nothing but RSTs after it either")
        } else {
            write!(out, "{} non-RST segments follow", a.s_nonrst + a.r_nonrst)
        }
    });
    Some(
        Verdict::new(Cause::Unsolicited, Origin::Unknown, 0.2)
            .ev("context", "no segment of the connection before it")
            .ev("after", after),
    )
}

pub(crate) fn unknown(f: &Facts) -> Verdict {
    let rst = f.rst();
    let s = f.s();
    let nxt = text(|out| if s.seen() { write!(out, "SND.NXT {}", s.snd_max) } else { out.write_str("sender unseen") });
    let peer = text(|out| match f.r_last() {
        Some(m) => write!(out, "frame {} (SEQ {}, ACK {}, {})", f.frame_of(m), m.seq, m.ack, m.flags),
        None => out.write_str("none"),
    });
    Verdict::new(Cause::Unknown, Origin::Unknown, 0.1)
        .ev("reply_match", format_args!("none: {} SEQ {} ACK {} vs the receiver's last segment {peer}", rst.flags, rst.seq, rst.ack))
        .ev("active_match", format_args!("none: SEQ {} vs {nxt}", rst.seq))
}
