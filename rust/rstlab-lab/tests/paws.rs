//! PAWS: an old timestamp on a synchronized connection (dup ACK) and in SYN-SENT (RST).
mod common;
use common::*;

#[test]
fn established_old_timestamp_gets_dup_ack_not_rst() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("paws_old_timestamp", v);
        assert!(r.observed.rsts().is_empty(), "{}", ladder(&r));
        let server = r.observed.segments_from(Role::Server);
        let stale = server.iter().find(|s| s.payload_len == 15).expect("the forged segment");
        // Older than TS.Recent (the server's previous TSval) — RFC 7323 §5.3 R1.
        let prev = server.iter().filter(|s| s.ts_ns < stale.ts_ns).filter_map(|s| s.options.tsval).next_back().unwrap();
        assert!((stale.options.tsval.unwrap().wrapping_sub(prev) as i32) < 0);
        // "Send an acknowledgment in reply ... and drop the segment": ACK = RCV.NXT = its SEQ.
        let reply = r.observed.segments_from(Role::Client).into_iter().find(|s| s.ts_ns > stale.ts_ns).unwrap();
        assert!(reply.flags.ack() && reply.payload_len == 0 && reply.ack == stale.seq, "{}", ladder(&r));
        let recvs = r.observed.results(Role::Client, "recv");
        assert_eq!(recvs[1], "timeout", "the stale data must not be delivered\n{}", ladder(&r));
        assert_eq!(recvs[2], "recv 10", "{}", ladder(&r));
        assert!(verdict(&r));
    });
}

#[test]
fn syn_sent_synack_with_stale_tsecr_is_reset() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("paws_synack_bad_tsecr", v);
        let rst = one_rst_from(&r, Role::Client);
        let synack = trigger(&r, rst);
        assert!(synack.flags.syn() && synack.flags.ack(), "{}", ladder(&r));
        let syn = r.observed.segments_from(Role::Client).into_iter().find(|s| s.flags.syn()).unwrap();
        assert_eq!(synack.ack, syn.seq + 1, "the SYN-ACK's ACK is acceptable");
        assert_ne!(synack.options.tsecr, syn.options.tsval, "it echoes a TSval never sent");
        assert_reply_to_ack(&r, rst, &synack);
        assert_reason(&r, rst, "TCP_RFC7323_PAWS");
        // RFC 9293 §3.10.7.3: the client stays in SYN-SENT and sends its SYN again.
        assert!(r.observed.segments_from(Role::Client).iter().any(|s| s.flags.syn() && s.seq == syn.seq && s.ts_ns > rst.ts_ns), "{}", ladder(&r));
        assert!(verdict(&r));
    });
}
