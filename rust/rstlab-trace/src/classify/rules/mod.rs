//! The rules: one file per [`Family`], each a pure function from a RST's [`Facts`] to a
//! [`Verdict`] with evidence, or `None` when its predicates do not hold. [`judge`] asks them in
//! [`Family::ALL`]'s order and adds the facts every verdict shows.

mod abort;
mod close;
pub(crate) mod facts;
mod handshake;
mod injection;
mod no_connection;
mod timeout;
mod unsolicited;
mod violation;

use super::{CauseSet, Evidence, Family, Judgement, Origin, Verdict};
use facts::{Facts, ReplyRule};
use crate::classify::evidence::{tpl};

type Rule = fn(&Facts) -> Option<Verdict>;

/// Each family's rule (a family without its rule file does not compile).
const fn rule(family: Family) -> Rule {
    match family {
        Family::Injection => injection::judge,
        Family::Unsolicited => unsolicited::judge,
        Family::Handshake => handshake::judge,
        Family::Close => close::judge,
        Family::Timeout => timeout::judge,
        Family::Violation => violation::judge,
        Family::NoConnection => no_connection::judge,
        Family::Abort => abort::judge,
    }
}

/// The rules in the order they are asked; the first that answers wins.
const RULES: [Rule; Family::ALL.len()] = {
    let mut out: [Rule; Family::ALL.len()] = [injection::judge; Family::ALL.len()];
    let mut i = 0;
    while i < out.len() {
        out[i] = rule(Family::ALL[i]);
        i += 1;
    }
    out
};

/// The highest confidence a verdict keeps when [`CauseSet`] alternatives answer too: medium,
/// the band for "another cause is possible and named in the evidence" (`classify` docs).
pub(crate) const ALTERNATIVES_CAP: f64 = 0.85;

/// The least confidence a later rule's answer needs to count as an alternative: the medium band.
pub(crate) const ALTERNATIVE_FLOOR: f64 = 0.6;

/// Classify one RST from its facts.
pub(crate) fn judge(f: &Facts) -> Judgement {
    let mut answers = RULES.iter().filter_map(|rule| rule(f));
    let Verdict { cause, origin, confidence, evidence: found } = answers.next().unwrap_or_else(|| unsolicited::unknown(f));
    // The later rules that answer too, each at least at the medium band: what the packets leave
    // open beside the first answer. A low-band answer is a rule's best guess from little (an
    // abort read from a SEQ at SND.NXT alone), not a reading the packets support.
    let mut alternatives = CauseSet::EMPTY;
    for v in answers {
        if v.cause != cause && v.confidence >= ALTERNATIVE_FLOOR {
            alternatives.insert(v.cause);
        }
    }
    let trigger = match origin {
        Origin::EndpointActiveReset => None,
        _ => f.trigger,
    };
    // The facts every verdict shows around the rule's own (a few dozen pieces).
    let mut evidence = Evidence::with_capacity(found.parts().len() + 24, found.values().len() + 8);
    f.push_shape(&mut evidence);
    if let Some(t) = trigger {
        // RFC 9293 §3.10.7.1's two reply forms.
        match t.rule {
            ReplyRule::SeqIsAck => evidence.push("seq_eq_trigger_ack", tpl!("frame {}", t.frame)),
            ReplyRule::AckIsEnd => evidence.push("ack_eq_trigger_end", tpl!("frame {}", t.frame)),
        }
    }
    evidence.extend(found);
    // Calibration: where another rule answers too, the packets cannot tell the two causes
    // apart, so the confidence stays below the high band, and the evidence names the others.
    let confidence = if alternatives.is_empty() {
        confidence
    } else {
        evidence.push("alternatives", tpl!("{} (their rules answer for these packets too)", alternatives));
        confidence.min(ALTERNATIVES_CAP)
    };
    evidence.push("ttl_delta", &f.ttl_text());
    let acceptability = f.acceptability(&mut evidence);
    let effect = f.effect(acceptability, &mut evidence);
    Judgement {
        trigger: trigger.map(|t| t.frame),
        wire: f.kernel_context(),
        phase: f.phase(),
        acceptability,
        effect,
        verdict: Verdict { cause, origin, confidence, evidence },
        alternatives,
    }
}
