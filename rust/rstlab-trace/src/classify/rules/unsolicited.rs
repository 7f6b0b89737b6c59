//! `unsolicited` (a lone RST: nothing of the connection before it to judge it by) and the
//! `unknown` fallback (context, but no rule's predicates hold).

use super::facts::Facts;
use crate::classify::{Cause, Origin, Verdict};
use crate::classify::evidence::{owned, tpl, Owned};

pub(crate) fn judge(f: &Facts) -> Option<Verdict> {
    if !f.no_history() {
        return None;
    }
    let a = f.after();
    let after = if a.s_nonrst + a.r_nonrst == 0 {
        Owned::lit("nothing but RSTs after it either")
    } else {
        owned!("{} non-RST segments follow", a.s_nonrst + a.r_nonrst)
    };
    Some(
        Verdict::new(Cause::Unsolicited, Origin::Unknown, 0.2)
            .ev("context", "no segment of the connection before it")
            .ev("after", &after),
    )
}

pub(crate) fn unknown(f: &Facts) -> Verdict {
    let rst = f.rst();
    let s = f.s();
    let nxt = if s.seen() { owned!("SND.NXT {}", s.snd_max) } else { Owned::lit("sender unseen") };
    let peer = match f.r_last() {
        Some(m) => owned!("frame {} (SEQ {}, ACK {}, {})", f.frame_of(m), m.seq, m.ack, m.flags),
        None => Owned::lit("none"),
    };
    Verdict::new(Cause::Unknown, Origin::Unknown, 0.1)
        .ev("reply_match", tpl!("none: {} SEQ {} ACK {} vs the receiver's last segment {}", rst.flags, rst.seq, rst.ack, &peer))
        .ev("active_match", tpl!("none: SEQ {} vs {}", rst.seq, &nxt))
}
