//! A verdict's evidence: named items, each a template and its values, rendered to text only
//! when someone reads it.
//!
//! A rule writes `v.ev("answers", tpl!("frame {} at +{} ms", frame, Ms(dt)))`: the template is
//! a `&'static str` and each value a number with how it shows ([`Kind`]). Nothing is formatted
//! while a capture is read. A table keeps each distinct sequence of templates once
//! ([`EvidenceStore`]) and per RST only its numbers, so a million RSTs of one shape (a port scan)
//! cost their numbers, not a million sentences. The text — `name: value; name: value` — is
//! rendered by [`Evidence`]'s `Display`, [`EvidenceStore::render`], or, for a table, from its
//! `evidence_template` and `evidence_values` columns.

use crate::wire::{OptionNames, TcpFlags};
use rustc_hash::FxHashMap;
use std::fmt::{self, Write};

/// How one value of a template shows in the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// An unsigned number (`{}` of a `u64`).
    Uint,
    /// A signed number (`{}` of an `i64`).
    Int,
    /// A signed number with its sign always shown (`{:+}`).
    Plus,
    /// `{:#06x}` of a 16-bit value (an IP ID).
    Hex4,
    /// `{:#x}`.
    Hex,
    /// Nanoseconds shown as milliseconds with one decimal ([`Ms`]).
    Ms,
    /// Nanoseconds shown as seconds with one decimal.
    Secs1,
    /// Nanoseconds shown as seconds with three decimals.
    Secs3,
    /// TCP flags in tcpdump's notation.
    Flags,
    /// TCP option names (`ts,nop`), from the option bit set.
    Options,
    /// Cause ids (`abort, no_connection`), from a [`super::CauseSet`]'s bits.
    Causes,
}

impl Kind {
    fn write(self, v: u64, out: &mut impl Write) -> fmt::Result {
        match self {
            Kind::Uint => write!(out, "{v}"),
            Kind::Int => write!(out, "{}", v as i64),
            Kind::Plus => write!(out, "{:+}", v as i64),
            Kind::Hex4 => write!(out, "{:#06x}", v as u16),
            Kind::Hex => write!(out, "{v:#x}"),
            Kind::Ms => write!(out, "{}", Ms(v as i64)),
            // Milliseconds first, then seconds: the arithmetic the rules' `ms_before` does.
            Kind::Secs1 => write!(out, "{:.1}", v as i64 as f64 / 1e6 / 1e3),
            Kind::Secs3 => write!(out, "{:.3}", v as i64 as f64 / 1e6 / 1e3),
            Kind::Flags => write!(out, "{}", TcpFlags(v as u16)),
            Kind::Options => write!(out, "{}", OptionNames::of(v as u16)),
            Kind::Causes => write!(out, "{}", super::CauseSet::from_bits(v as u16)),
        }
    }
}

/// A value as a template shows it. Built with `From` (numbers, sequence numbers, flags,
/// `&'static str`, a nested template) or the helpers [`plus`], [`hex4`], [`hex`], [`secs3`].
#[derive(Clone, Copy, Debug)]
pub enum Arg<'a> {
    Val(Kind, u64),
    /// Fixed text: part of the template, not a value.
    Str(&'static str),
    /// A template inside a template.
    Tpl(&'a Tpl<'a>),
    /// A template inside a template, with its values in it.
    Owned(&'a Owned),
}

macro_rules! arg_from {
    ($kind:ident: $($t:ty),*) => {$(
        impl From<$t> for Arg<'_> {
            #[inline]
            fn from(v: $t) -> Self {
                Arg::Val(Kind::$kind, v as u64)
            }
        }
    )*};
}
arg_from!(Uint: u64, u32, u16, u8, usize);
arg_from!(Int: i64, i32);

impl From<crate::seq::SeqNumber> for Arg<'_> {
    #[inline]
    fn from(v: crate::seq::SeqNumber) -> Self {
        Arg::Val(Kind::Uint, v.0 as u64)
    }
}
impl From<TcpFlags> for Arg<'_> {
    #[inline]
    fn from(v: TcpFlags) -> Self {
        Arg::Val(Kind::Flags, v.0 as u64)
    }
}
impl From<OptionNames> for Arg<'_> {
    #[inline]
    fn from(v: OptionNames) -> Self {
        Arg::Val(Kind::Options, v.bits() as u64)
    }
}
impl From<super::CauseSet> for Arg<'_> {
    #[inline]
    fn from(v: super::CauseSet) -> Self {
        Arg::Val(Kind::Causes, v.bits() as u64)
    }
}
impl From<Ms> for Arg<'_> {
    #[inline]
    fn from(v: Ms) -> Self {
        Arg::Val(Kind::Ms, v.0 as u64)
    }
}
impl From<&'static str> for Arg<'_> {
    #[inline]
    fn from(s: &'static str) -> Self {
        Arg::Str(s)
    }
}
impl<'a> From<&'a Owned> for Arg<'a> {
    #[inline]
    fn from(t: &'a Owned) -> Self {
        Arg::Owned(t)
    }
}
impl<'a> From<&'a Tpl<'a>> for Arg<'a> {
    #[inline]
    fn from(t: &'a Tpl<'a>) -> Self {
        Arg::Tpl(t)
    }
}

/// `{:+}`.
pub fn plus(v: impl Into<i64>) -> Arg<'static> {
    Arg::Val(Kind::Plus, v.into() as u64)
}
/// `{:#06x}`.
pub fn hex4(v: u16) -> Arg<'static> {
    Arg::Val(Kind::Hex4, v as u64)
}
/// `{:#x}`.
pub fn hex(v: impl Into<u64>) -> Arg<'static> {
    Arg::Val(Kind::Hex, v.into())
}
/// Nanoseconds as seconds with one decimal.
pub fn secs1(ns: i64) -> Arg<'static> {
    Arg::Val(Kind::Secs1, ns as u64)
}
/// Nanoseconds as seconds with three decimals.
pub fn secs3(ns: i64) -> Arg<'static> {
    Arg::Val(Kind::Secs3, ns as u64)
}

/// A template and its values: `fmt` takes `{}` for each value in order (`{{` and `}}` for
/// braces), or is shown as it is when `verbatim`.
#[derive(Clone, Copy, Debug)]
pub struct Tpl<'a> {
    pub fmt: &'static str,
    pub args: &'a [Arg<'a>],
    pub verbatim: bool,
}

impl Tpl<'static> {
    /// Fixed text, shown as it is.
    pub const fn lit(s: &'static str) -> Self {
        Tpl { fmt: s, args: &[], verbatim: true }
    }
}

impl From<&'static str> for Tpl<'static> {
    fn from(s: &'static str) -> Self {
        Tpl::lit(s)
    }
}

/// A template that holds its values (at most four, none of them a nested template): what a
/// function returns for its caller to put into evidence or into another template.
#[derive(Clone, Copy, Debug)]
pub struct Owned {
    fmt: &'static str,
    args: [Arg<'static>; 4],
    n: u8,
    verbatim: bool,
}

impl Owned {
    pub fn new(fmt: &'static str, values: &[Arg<'static>]) -> Self {
        assert!(values.len() <= 4, "`{fmt}`: at most four values");
        let mut args = [Arg::Str(""); 4];
        args[..values.len()].copy_from_slice(values);
        Owned { fmt, args, n: values.len() as u8, verbatim: false }
    }
    /// Fixed text, shown as it is.
    pub const fn lit(s: &'static str) -> Self {
        Owned { fmt: s, args: [Arg::Str(""); 4], n: 0, verbatim: true }
    }
}

impl<'a> From<&'a Owned> for Tpl<'a> {
    fn from(o: &'a Owned) -> Self {
        Tpl { fmt: o.fmt, args: &o.args[..o.n as usize], verbatim: o.verbatim }
    }
}

/// [`tpl!`] as an [`Owned`] (values only, at most four).
macro_rules! owned {
    ($fmt:literal $(, $a:expr)* $(,)?) => {
        $crate::classify::evidence::Owned::new($fmt, &[$($crate::classify::evidence::Arg::from($a)),*])
    };
}
pub(crate) use owned;

/// A template with its values, for [`Evidence::push`]: `tpl!("frame {} (+{} ms)", f, Ms(dt))`.
/// Only `{}` placeholders (the value's [`Kind`] says how it shows).
macro_rules! tpl {
    ($fmt:literal $(, $a:expr)* $(,)?) => {
        $crate::classify::evidence::Tpl { fmt: $fmt, args: &[$($crate::classify::evidence::Arg::from($a)),*], verbatim: false }
    };
}
pub(crate) use tpl;

/// One piece of evidence's shape: an item's name, fixed text, or where a value goes.
///
/// Two pieces are the same when they are the same text in the program (address and length):
/// a shape is recognised without reading its text, and the same words written twice in the
/// rules are two pieces that render alike.
#[derive(Clone, Copy, Debug)]
pub enum Part {
    Item(&'static str),
    Lit(&'static str),
    Val(Kind),
}

impl Part {
    /// `h` with this piece folded in (FxHash's step on the piece's identity).
    #[inline]
    fn mix(&self, h: u64) -> u64 {
        const K: u64 = 0xf135_7aea_2e62_a9c5;
        let (t, a, b) = self.key();
        let x = (a as u64).wrapping_mul(31).wrapping_add(b as u64).wrapping_mul(4).wrapping_add(t as u64);
        (h.rotate_left(26) ^ x).wrapping_mul(K)
    }
    fn key(&self) -> (u8, usize, usize) {
        match *self {
            Part::Item(s) => (0, s.as_ptr() as usize, s.len()),
            Part::Lit(s) => (1, s.as_ptr() as usize, s.len()),
            Part::Val(k) => (2, k as usize, 0),
        }
    }
}

impl PartialEq for Part {
    fn eq(&self, other: &Part) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Part {}

impl std::hash::Hash for Part {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.key().hash(h);
    }
}

/// Named predicates with their values, kept as their shape ([`Part`]s) and numbers; rendered
/// `name: value; name: value` by `Display`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Evidence {
    parts: Vec<Part>,
    values: Vec<u64>,
    /// A hash of `parts`, kept as they are added (an [`EvidenceStore`] finds the shape by it).
    hash: u64,
}

impl Evidence {
    pub fn new() -> Self {
        Evidence::default()
    }
    /// Room for `parts` pieces and `values` numbers before anything is reallocated.
    pub fn with_capacity(parts: usize, values: usize) -> Self {
        Evidence { parts: Vec::with_capacity(parts), values: Vec::with_capacity(values), hash: 0 }
    }
    /// Appends `name: value`.
    pub fn push<'a>(&mut self, name: &'static str, value: impl Into<Tpl<'a>>) {
        self.part(Part::Item(name));
        self.put(&value.into());
    }
    /// Appends `value` to the last item's value.
    pub fn append<'a>(&mut self, value: impl Into<Tpl<'a>>) {
        debug_assert!(matches!(self.parts.first(), Some(Part::Item(_))), "an item first");
        self.put(&value.into());
    }
    fn put(&mut self, t: &Tpl<'_>) {
        if t.verbatim {
            if !t.fmt.is_empty() {
                self.part(Part::Lit(t.fmt));
            }
            return;
        }
        let (fmt, b) = (t.fmt, t.fmt.as_bytes());
        let mut args = t.args.iter();
        let (mut start, mut i) = (0, 0);
        while let Some(at) = memchr::memchr2(b'{', b'}', &b[i..]) {
            i += at;
            match (b[i], b.get(i + 1)) {
                (b'{', Some(b'}')) => {
                    self.lit(&fmt[start..i]);
                    match args.next() {
                        Some(&Arg::Val(k, v)) => {
                            self.part(Part::Val(k));
                            self.values.push(v);
                        }
                        Some(&Arg::Str(s)) => self.lit(s),
                        Some(Arg::Tpl(inner)) => self.put(inner),
                        Some(Arg::Owned(o)) => self.put(&Tpl::from(*o)),
                        None => debug_assert!(false, "`{fmt}`: fewer values than placeholders"),
                    }
                    i += 2;
                    start = i;
                }
                // `{{` / `}}`: the first brace is the text, the second is skipped.
                (c @ (b'{' | b'}'), Some(&d)) if d == c => {
                    self.lit(&fmt[start..=i]);
                    i += 2;
                    start = i;
                }
                _ => i += 1,
            }
        }
        self.lit(&fmt[start..]);
        debug_assert!(args.next().is_none(), "`{fmt}`: more values than placeholders");
    }
    #[inline]
    fn lit(&mut self, s: &'static str) {
        if !s.is_empty() {
            self.part(Part::Lit(s));
        }
    }
    #[inline]
    fn part(&mut self, p: Part) {
        self.hash = p.mix(self.hash);
        self.parts.push(p);
    }
    /// Appends all of `other`'s items after this one's.
    pub fn extend(&mut self, other: Evidence) {
        other.parts.iter().for_each(|&p| self.part(p));
        self.values.extend(other.values);
    }
    /// The rendered value of the first item called `name`.
    pub fn get(&self, name: &str) -> Option<String> {
        self.items().into_iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
    /// `(name, rendered value)` in order.
    pub fn items(&self) -> Vec<(&'static str, String)> {
        let mut out: Vec<(&'static str, String)> = Vec::new();
        let mut values = self.values.iter();
        for p in &self.parts {
            match *p {
                Part::Item(n) => out.push((n, String::new())),
                Part::Lit(s) => out.last_mut().expect("an item first").1.push_str(s),
                Part::Val(k) => {
                    let _ = k.write(*values.next().unwrap_or(&0), &mut out.last_mut().expect("an item first").1);
                }
            }
        }
        out
    }
    pub fn len(&self) -> usize {
        self.parts.iter().filter(|p| matches!(p, Part::Item(_))).count()
    }
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }
    /// Evidence of shape `parts` with `values` (as an [`EvidenceStore`] keeps it).
    pub fn restore(&mut self, parts: &[Part], values: &[u64]) {
        self.parts.clear();
        self.hash = 0;
        parts.iter().for_each(|&p| self.part(p));
        self.values.clear();
        self.values.extend_from_slice(values);
    }
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }
    pub fn values(&self) -> &[u64] {
        &self.values
    }
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        render(&self.parts, &self.values, f)
    }
}

/// Writes the text of evidence of shape `parts` with `values`.
fn render(parts: &[Part], values: &[u64], out: &mut impl Write) -> fmt::Result {
    let mut values = values.iter();
    let mut first = true;
    for p in parts {
        match *p {
            Part::Item(n) => {
                if !first {
                    out.write_str("; ")?;
                }
                first = false;
                out.write_str(n)?;
                out.write_str(": ")?;
            }
            Part::Lit(s) => out.write_str(s)?,
            Part::Val(k) => k.write(*values.next().unwrap_or(&0), out)?,
        }
    }
    Ok(())
}

/// A value as the text shows it.
#[derive(Clone, Copy, Debug)]
pub struct Shown(Kind, u64);

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.write(self.1, f)
    }
}

/// Where one RST's evidence sits in an [`EvidenceStore`]: its shape and its first value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvidenceRef {
    pub template: u32,
    pub at: u32,
}

/// The evidence of many RSTs: each distinct shape once, and every RST's numbers in one array.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EvidenceStore {
    shapes: Vec<Box<[Part]>>,
    /// Per shape: how many values it takes.
    arity: Vec<u32>,
    /// Shapes by the hash of their pieces; one whose hash another shape already holds is in
    /// `collided`.
    ids: FxHashMap<u64, u32>,
    collided: Vec<u32>,
    values: Vec<u64>,
}

impl EvidenceStore {
    /// Keeps `e`; returns where.
    pub fn add(&mut self, e: &Evidence) -> EvidenceRef {
        let template = self.shape_id(&e.parts, e.hash);
        let at = self.values.len() as u32;
        self.values.extend_from_slice(&e.values);
        EvidenceRef { template, at }
    }
    fn shape_id(&mut self, parts: &[Part], hash: u64) -> u32 {
        let id = self.shapes.len() as u32;
        match self.ids.get(&hash) {
            Some(&held) if *self.shapes[held as usize] == *parts => return held,
            Some(_) => {
                if let Some(&c) = self.collided.iter().find(|&&c| *self.shapes[c as usize] == *parts) {
                    return c;
                }
                self.collided.push(id);
            }
            None => {
                self.ids.insert(hash, id);
            }
        }
        self.arity.push(parts.iter().filter(|p| matches!(p, Part::Val(_))).count() as u32);
        self.shapes.push(parts.into());
        id
    }
    /// Moves `other`'s evidence in; `f` then maps each of `other`'s references to its new one.
    pub fn absorb(&mut self, other: EvidenceStore) -> impl Fn(EvidenceRef) -> EvidenceRef {
        let remap: Vec<u32> = other.shapes.iter().map(|s| self.shape_id(s, s.iter().fold(0, |h, p| p.mix(h)))).collect();
        let shift = self.values.len() as u32;
        self.values.extend(other.values);
        move |r| EvidenceRef { template: remap[r.template as usize], at: r.at + shift }
    }
    /// One RST's values.
    pub fn values(&self, r: EvidenceRef) -> &[u64] {
        let n = self.arity[r.template as usize] as usize;
        &self.values[r.at as usize..r.at as usize + n]
    }
    /// One RST's text, `name: value; name: value`.
    pub fn render(&self, r: EvidenceRef, out: &mut impl Write) -> fmt::Result {
        render(&self.shapes[r.template as usize], self.values(r), out)
    }
    pub fn text(&self, r: EvidenceRef) -> String {
        let mut s = String::new();
        let _ = self.render(r, &mut s);
        s
    }
    /// Shape `id`'s pieces.
    pub fn shape(&self, id: u32) -> &[Part] {
        &self.shapes[id as usize]
    }
    /// Number of distinct shapes.
    pub fn templates(&self) -> usize {
        self.shapes.len()
    }
    /// Shape `id` as a template: the text with `{}` where each value goes, braces of the text
    /// doubled (Python's `str.format` and Rust's `format!` syntax).
    pub fn template_text(&self, id: u32) -> String {
        let mut out = String::new();
        let mut first = true;
        let esc = |s: &str, out: &mut String| {
            for c in s.chars() {
                match c {
                    '{' => out.push_str("{{"),
                    '}' => out.push_str("}}"),
                    c => out.push(c),
                }
            }
        };
        for p in self.shapes[id as usize].iter() {
            match *p {
                Part::Item(n) => {
                    if !first {
                        out.push_str("; ");
                    }
                    first = false;
                    esc(n, &mut out);
                    out.push_str(": ");
                }
                Part::Lit(s) => esc(s, &mut out),
                Part::Val(_) => out.push_str("{}"),
            }
        }
        out
    }
    /// One RST's values as the text shows them, in template order.
    pub fn shown_values(&self, r: EvidenceRef) -> impl Iterator<Item = Shown> + '_ {
        let kinds = self.shapes[r.template as usize].iter().filter_map(|p| match p {
            Part::Val(k) => Some(*k),
            _ => None,
        });
        kinds.zip(self.values(r)).map(|(k, &v)| Shown(k, v))
    }
}

/// A duration in nanoseconds shown in milliseconds with one decimal: exactly the text of
/// `format!("{:.1}", ns as f64 / 1e6)`, without formatting a float where integers give the
/// same digits.
///
/// Why they are the same for `0 <= ns < 2^50` with `ns % 100_000 != 50_000`: `ns` converts to
/// `f64` exactly, and the quotient `q = ns / 1e6` (below 2^31) is rounded to a double `d`
/// within half an ulp, at most 2^-23 < 1e-6. The nearest tenths boundary `q` could round
/// across is at least 1e-6 (one nanosecond) away from `q`, so `d` and `q` lie strictly on the
/// same side of it and round to the same tenth: `ns / 100_000`, plus one when the remainder
/// is above 50_000. Anything else (negative, huge, or an exact half-tenth, where the double's
/// own rounding decides) is left to the float formatting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ms(pub i64);

impl fmt::Display for Ms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0;
        if !(0..1 << 50).contains(&ns) || ns % 100_000 == 50_000 {
            return write!(f, "{:.1}", ns as f64 / 1e6);
        }
        let tenths = ns / 100_000 + (ns % 100_000 > 50_000) as i64;
        write!(f, "{}.{}", tenths / 10, tenths % 10)
    }
}
