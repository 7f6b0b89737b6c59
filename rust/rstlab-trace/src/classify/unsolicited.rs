//! `unsolicited` (a lone RST: nothing of the connection before it to judge it by) and the
//! `unknown` fallback (context, but no rule's predicates hold).

use super::facts::Facts;
use super::{Cause, Origin, Verdict};

pub(crate) fn judge(f: &Facts) -> Option<Verdict> {
    if !f.no_history() {
        return None;
    }
    let a = f.after();
    let after = if a.s_nonrst + a.r_nonrst == 0 {
        "nothing but RSTs after it either".to_string()
    } else {
        format!("{} non-RST segments follow", a.s_nonrst + a.r_nonrst)
    };
    Some(
        Verdict::new(Cause::Unsolicited, Origin::Unknown, 0.2)
            .ev("context", "no segment of the connection before it")
            .ev("after", after),
    )
}

pub(crate) fn unknown(f: &Facts) -> Verdict {
    let rst = f.rst();
    let s = f.s();
    let nxt = if s.seen() { format!("SND.NXT {}", s.snd_max) } else { "sender unseen".into() };
    let peer = match f.r_last() {
        Some(m) => format!("frame {} (SEQ {}, ACK {}, {})", f.frame_of(m), m.seq, m.ack, m.flags.tcpdump()),
        None => "none".into(),
    };
    Verdict::new(Cause::Unknown, Origin::Unknown, 0.1)
        .ev("reply_match", format!("none: {} SEQ {} ACK {} vs the receiver's last segment {peer}", rst.flags.tcpdump(), rst.seq, rst.ack))
        .ev("active_match", format!("none: SEQ {} vs {nxt}", rst.seq))
}
