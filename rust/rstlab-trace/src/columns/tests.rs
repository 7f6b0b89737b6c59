use super::*;
use arrow_array::cast::AsArray;
use arrow_array::types::{UInt16Type, UInt64Type};

#[test]
fn addresses_as_text_match_display() {
    let mut buf = String::new();
    for a in ["0.0.0.0", "10.0.0.1", "192.168.100.255", "255.255.255.255", "1.20.3.109", "::1", "2001:db8::ff00:42:8329", "::ffff:10.0.0.1"] {
        let ip: IpAddr = a.parse().unwrap();
        assert_eq!(addr_text(&mut buf, ip), ip.to_string());
        assert_eq!(addr_text(&mut buf, ip), a);
    }
    for o in 0..=255u8 {
        let ip = IpAddr::from([o, 255 - o, o / 2, 7]);
        assert_eq!(addr_text(&mut buf, ip), ip.to_string());
    }
}

struct Row {
    id: u64,
    port: Option<u16>,
    state: &'static str,
    flag: u8,
}

columns! {
    struct Seen: "seen", nulls Seen, |r: &Row| {
        /// An id.
        id: Num<UInt64Type> = r.id,
        /// A port that may be missing.
        port: OptNum<UInt16Type> = r.port,
        /// A state.
        state: Label = r.state,
        /// A flag shown by name.
        flag: Keyed<u8> = (r.flag, || if r.flag == 0 { "off" } else { "on" }),
    }
}

columns! {
    struct Declared: "declared", nulls Declared, |r: &Row| {
        /// A port that may be missing.
        port: OptNum<UInt16Type> = r.port,
    }
}

fn rows() -> Vec<Row> {
    vec![
        Row { id: 7, port: Some(80), state: "SF", flag: 2 },
        Row { id: 8, port: Some(443), state: "S0", flag: 0 },
        Row { id: 9, port: Some(22), state: "SF", flag: 1 },
        // The same text at another address is the same dictionary value.
        Row { id: 10, port: Some(25), state: String::from("S0").leak(), flag: 0 },
    ]
}

fn build<'a>(rows: impl IntoIterator<Item = &'a Row>) -> RecordBatch {
    let mut t = Seen::with_capacity(0);
    for r in rows {
        t.append(r);
    }
    t.finish()
}

#[test]
fn the_declaration_gives_names_types_and_docs_in_order() {
    let names: Vec<_> = Seen::COLUMNS.iter().map(|c| (c.table, c.name, c.type_name(), c.nullable, c.doc())).collect();
    assert_eq!(
        names,
        [
            ("seen", "id", "uint64".to_string(), false, "An id."),
            ("seen", "port", "uint16".to_string(), true, "A port that may be missing."),
            ("seen", "state", "dictionary<values=string, indices=int32, ordered=0>".to_string(), false, "A state."),
            ("seen", "flag", "dictionary<values=string, indices=int32, ordered=0>".to_string(), false, "A flag shown by name."),
        ]
    );
    let b = build(&rows());
    let schema: Vec<_> = b.schema().fields().iter().map(|f| (f.name().clone(), f.data_type().clone())).collect();
    let declared: Vec<_> = Seen::COLUMNS.iter().map(|c| (c.name.to_string(), c.data_type())).collect();
    assert_eq!(schema, declared);
    assert_eq!(b.column(0).as_primitive::<UInt64Type>().values(), &[7, 8, 9, 10]);
}

#[test]
fn nullable_when_seen_only_with_a_null() {
    let mut r = rows();
    assert!(!build(&r).schema().field(1).is_nullable());
    r[1].port = None;
    let b = build(&r);
    assert!(b.schema().field(1).is_nullable());
    assert!(b.column(1).is_null(1));
    assert!(!Seen::schema().field(1).is_nullable());
}

#[test]
fn nullable_when_declared_whatever_the_rows() {
    let mut t = Declared::with_capacity(1);
    t.append(&rows()[0]);
    assert!(t.finish().schema().field(0).is_nullable());
    assert!(Declared::with_capacity(0).finish().schema().field(0).is_nullable());
    assert_eq!(Declared::schema(), Declared::with_capacity(0).finish().schema());
}

fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| x.to_string()).collect()
}

fn dict_text(b: &RecordBatch, col: usize) -> (Vec<String>, Vec<String>) {
    let d = b.column(col).as_dictionary::<Int32Type>();
    let values = d.values().as_string::<i32>();
    let dictionary = values.iter().map(|v| v.unwrap().to_string()).collect();
    let rows = d.keys().values().iter().map(|&k| values.value(k as usize).to_string()).collect();
    (dictionary, rows)
}

#[test]
fn dictionaries_hold_each_text_once_in_order_of_first_appearance() {
    let mut r = rows();
    // Two keys with one text: the dictionary still has it once.
    r.push(Row { id: 10, port: None, state: "REJ", flag: 3 });
    let b = build(&r);
    assert_eq!(dict_text(&b, 2), (strings(&["SF", "S0", "REJ"]), strings(&["SF", "S0", "SF", "S0", "REJ"])));
    assert_eq!(dict_text(&b, 3), (strings(&["on", "off"]), strings(&["on", "off", "on", "off", "on"])));
}

#[test]
fn a_dictionary_led_by_another_starts_with_its_texts() {
    let mut lead = Seen::with_capacity(2);
    lead.append(&Row { id: 1, port: None, state: "RSTO", flag: 0 });
    lead.append(&Row { id: 2, port: None, state: "SF", flag: 0 });
    let mut t = Seen::with_capacity(3);
    for r in &rows() {
        t.append(r);
    }
    t.state.lead_with(lead.state.texts());
    let b = t.finish();
    // Arrow's concatenation of the two columns: the lead's dictionary, then the new texts.
    assert_eq!(dict_text(&b, 2), (strings(&["RSTO", "SF", "S0"]), strings(&["SF", "S0", "SF", "S0"])));
    // The lead is untouched.
    assert_eq!(dict_text(&lead.finish(), 2).0, ["RSTO", "SF"]);
}
