//! # rstlab-trace
//!
//! The pure half of rstlab: capture formats, packet decoding, TCP connection tracking (with
//! Wireshark-compatible stream numbering and Zeek-compatible `conn_state` / `history`) and the
//! classification of every RST.
//!
//! Contract:
//! - Inputs: pcap (both byte orders, µs and ns) and pcapng (several interfaces, per-interface
//!   timestamp resolution, EPB / SPB / OPB), link types Ethernet (802.1Q / QinQ / MPLS),
//!   Linux SLL / SLL2, raw IPv4 / IPv6, BSD NULL / LOOP; IPv4 and IPv6 with extension headers;
//!   frames cut by the snap length; common tunnels (IP-in-IP, GRE, VXLAN, GTP-U); IP fragments,
//!   reassembled with bounded memory (`wire/frag.rs` states the policy).
//! - No panics on any input. Damage in a file ends reading with a [`TraceError`] that names the
//!   byte offset and what was wrong, after everything readable before it was analysed.
//! - No OS calls beyond reading the file it is given, and nothing about Python.
//! - No `unsafe` code but the cache prefetch hint (`flow::prefetch`, the one module allowed it).

#![deny(unsafe_code)]

pub mod error;
pub mod seq;
pub mod wire;
pub mod flow;
pub mod classify;
pub mod capture;
pub mod columns;
pub mod report;
pub mod analyze;
pub mod drill;
pub mod batches;
pub mod stream;

pub use analyze::{analyze_bytes, analyze_file, analyze_frames, AnalyzeOptions, Analysis, SegmentFilter};
#[doc(hidden)]
pub mod testkit;
#[doc(hidden)]
pub mod fuzzing;

pub use error::TraceError;
pub use seq::SeqNumber;

/// The `log` target of this crate's records (Python's `logging` sees it as the `rstlab.trace`
/// logger). A pass logs what a user would otherwise have to find in its counters or its error
/// — once per file, after reading, never per packet.
pub const LOG_TARGET: &str = "rstlab::trace";
