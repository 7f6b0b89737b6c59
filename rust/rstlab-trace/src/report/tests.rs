use super::*;

fn conn(id: u64, zeek_conns: u32, conn_state: &'static str, history: &str) -> ConnRow {
    let a: IpAddr = "10.0.0.1".parse().unwrap();
    let b: IpAddr = "10.0.0.2".parse().unwrap();
    ConnRow {
        conn_id: id,
        orig: (a, 40000 + id as u16),
        resp: (b, 80),
        ip_version: 4,
        first_ts: 0,
        last_ts: 0,
        first_frame: 1,
        last_frame: 1,
        orig_pkts: 1,
        resp_pkts: 0,
        orig_bytes: 0,
        resp_bytes: 0,
        orig_syn_frame: None,
        resp_syn_frame: None,
        orig_fin_frame: None,
        resp_fin_frame: None,
        orig_rst_frame: None,
        resp_rst_frame: None,
        rsts: 0,
        conn_state,
        history: history.into(),
        end_reason: "open",
        zeek_conns,
    }
}

fn part(id: u64, conn_state: &'static str, history: &str) -> ZeekRow {
    let c = conn(id, 1, conn_state, history);
    ZeekRow { conn_id: id, orig: c.orig, resp: c.resp, conn_state, history: history.into() }
}

fn tables(conns: Vec<ConnRow>, parts: Vec<ZeekRow>) -> Tables {
    let mut rows = ConnRows::default();
    for c in conns {
        let id = c.conn_id;
        *rows.slot(id) = Some(c);
    }
    Tables::build(rows, parts, SegmentRows::default(), crate::classify::ResetRows::new(), false)
}

/// (conn_id, conn_state, history) per row, and the conn_state dictionary.
fn zeek_rows(t: &Tables) -> (Vec<(u64, String, String)>, Vec<String>) {
    let b = t.zeek_conns.batch();
    let ids = b.column(0).as_primitive::<UInt64Type>();
    let states = b.column(5).as_dictionary::<Int32Type>();
    let values = states.values().as_string::<i32>();
    let history = b.column(6).as_string::<i32>();
    let rows = (0..b.num_rows())
        .map(|i| (ids.value(i), values.value(states.keys().value(i) as usize).to_string(), history.value(i).to_string()))
        .collect();
    (rows, values.iter().map(|v| v.unwrap().to_string()).collect())
}

#[test]
fn zeek_table_merges_whole_streams_and_split_parts_by_conn_id() {
    let t = tables(
        vec![conn(0, 1, "SF", "ShADadFf"), conn(1, 2, "RSTO", "R"), conn(2, 1, "S0", "S"), conn(3, 2, "SF", "D")],
        vec![part(1, "S1", "Sh"), part(1, "RSTO", "R"), part(3, "OTH", "Dd"), part(3, "SF", "D")],
    );
    let (rows, dictionary) = zeek_rows(&t);
    let want = [(0, "SF", "ShADadFf"), (1, "S1", "Sh"), (1, "RSTO", "R"), (2, "S0", "S"), (3, "OTH", "Dd"), (3, "SF", "D")];
    assert_eq!(rows, want.map(|(i, s, h)| (i, s.to_string(), h.to_string())));
    // The connections table's states first (as Arrow concatenates the two), then the parts' new ones.
    assert_eq!(dictionary, ["SF", "RSTO", "S0", "S1", "OTH"]);
    let names: Vec<_> = t.zeek_conns.batch().schema().fields().iter().map(|f| f.name().clone()).collect();
    assert_eq!(names, ["conn_id", "orig_addr", "orig_port", "resp_addr", "resp_port", "conn_state", "history"]);
    assert!(t.zeek_conns.batch().schema().fields().iter().all(|f| !f.is_nullable()));
    assert_eq!(t.connections.num_rows(), 4);
}

#[test]
fn zeek_table_is_built_on_first_use_with_whole_streams_addresses() {
    let mut c = conn(0, 1, "SF", "ShADadFf");
    c.orig = ("2001:db8::1".parse().unwrap(), 40000);
    c.resp = ("2001:db8::2".parse().unwrap(), 443);
    let t = tables(vec![c, conn(1, 2, "SF", "D")], vec![part(1, "S1", "Sh"), part(1, "SF", "D")]);
    assert!(t.zeek_conns.batch.get().is_none(), "nothing asked for the Zeek table yet");
    let b = t.zeek_conns.batch();
    let text = |col: usize| b.column(col).as_string::<i32>().iter().map(|v| v.unwrap().to_string()).collect::<Vec<_>>();
    let port = |col: usize| b.column(col).as_primitive::<UInt16Type>().values().to_vec();
    // The whole stream's row has its connection's endpoints; the parts have their own.
    assert_eq!(text(1), ["2001:db8::1", "10.0.0.1", "10.0.0.1"]);
    assert_eq!(port(2), [40000, 40001, 40001]);
    assert_eq!(text(3), ["2001:db8::2", "10.0.0.2", "10.0.0.2"]);
    assert_eq!(port(4), [443, 80, 80]);
    // Built once: later calls return the same table.
    assert!(std::ptr::eq(b, t.zeek_conns.batch()));
}

#[test]
fn zeek_table_of_split_streams_only_keeps_the_parts_dictionary() {
    let t = tables(vec![conn(0, 2, "SF", "D")], vec![part(0, "S1", "Sh"), part(0, "SF", "D")]);
    let (rows, dictionary) = zeek_rows(&t);
    assert_eq!(rows.len(), 2);
    assert_eq!(dictionary, ["S1", "SF"]);
}

#[test]
fn every_table_is_described_by_its_columns() {
    let mut conns = conn(0, 1, "SF", "S");
    conns.orig_syn_frame = NonZeroU64::new(1);
    let t = tables(vec![conns], vec![]);
    for (table, batch) in [("connections", &t.connections), ("segments", &t.segments), ("zeek_conns", t.zeek_conns.batch()), ("resets", &t.resets)] {
        let declared: Vec<_> = Tables::columns().filter(|c| c.table == table).map(|c| (c.name.to_string(), c.data_type())).collect();
        let schema: Vec<_> = batch.schema().fields().iter().map(|f| (f.name().clone(), f.data_type().clone())).collect();
        assert_eq!(declared, schema, "{table}");
    }
    for c in Tables::columns() {
        assert!(!c.doc().is_empty() && !c.doc().contains('\n'), "{}.{} needs a one-line doc", c.table, c.name);
    }
    // Nullable only where a value is missing.
    let f = t.connections.schema();
    assert!(!f.field_with_name("orig_syn_frame").unwrap().is_nullable());
    assert!(f.field_with_name("resp_syn_frame").unwrap().is_nullable());
}

/// Sequence space sent again, per sender, in ring arithmetic (RFC 9293 §3.4: SYN and FIN occupy
/// one number each; a RST none).
#[test]
fn retransmission_is_space_starting_below_what_the_sender_had_sent() {
    use crate::testkit::seg;
    let mut sent = FxHashMap::default();
    let c = (0, true);
    let s = (0, false);
    let near_wrap = u32::MAX - 99;
    let mut again = |who, b: crate::testkit::SegBuilder| retransmitted(&mut sent, who, &b.build());
    assert!(!again(c, seg().syn().seq(near_wrap)));
    assert!(again(c, seg().syn().seq(near_wrap)), "a second SYN");
    // 100 bytes from near_wrap + 1 cross 2^32; the next ones start at 1 after the wrap.
    assert!(!again(c, seg().ack_flag().seq(near_wrap + 1).payload(100)));
    assert!(!again(c, seg().ack_flag().seq(1).payload(10)));
    assert!(again(c, seg().ack_flag().seq(u32::MAX).payload(20)), "overlaps what was sent");
    // Neither a pure ACK nor a RST occupies sequence space; the other sender keeps its own count.
    assert!(!again(c, seg().ack_flag().seq(0)));
    assert!(!again(c, seg().rst().seq(5)));
    assert!(!again(s, seg().from_server().syn().ack_flag().seq(7)));
    // The overlap ended at 19 (u32::MAX + 20 in the ring): a FIN there is new, then sent again.
    assert!(!again(c, seg().fin().ack_flag().seq(19)));
    assert!(again(c, seg().fin().ack_flag().seq(19)), "the FIN again");
}
