//! The byte format between a user-namespace child and its parent: a run request one way, a
//! run's observations (or its error) the other. Both ends are this crate at the same build, so
//! the format has no versioning; it is length-prefixed little-endian and never panics on short
//! or corrupt input (a child that died mid-write is an error, not a crash).

use crate::capture::CapturedFrame;
use crate::endpoint::{errno_name, AppEvent};
use crate::error::LabError;
use crate::meta::{PinnedSysctl, RunMeta, RSTLAB_VERSION};
use crate::observed::{match_resets, Observed};
use crate::role::Role;
use crate::scenario::{RunOptions, Verdict};
use rstlab_trace::wire::LinkType;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Default)]
pub(crate) struct Writer(pub Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.0.extend_from_slice(b);
    }
    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
            None => self.u8(0),
        }
    }
    fn ip(&mut self, ip: IpAddr) {
        self.str(&ip.to_string());
    }
}

/// Reads what [`Writer`] wrote; every getter fails (None) instead of reading past the end.
pub(crate) struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn str(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?.to_vec()).ok()
    }
    fn opt_str(&mut self) -> Option<Option<String>> {
        match self.u8()? {
            0 => Some(None),
            _ => Some(Some(self.str()?)),
        }
    }
    fn ip(&mut self) -> Option<IpAddr> {
        self.str()?.parse().ok()
    }
    fn role(&mut self) -> Option<Role> {
        self.str()?.parse().ok()
    }
}

pub(crate) fn encode_request(name: &str, opts: &RunOptions) -> Vec<u8> {
    let mut w = Writer::default();
    w.str(name);
    w.u8(opts.ip_version);
    w.u32(opts.params.len() as u32);
    for (k, v) in &opts.params {
        w.str(k);
        w.str(v);
    }
    w.opt_str(opts.keep_dir.as_ref().and_then(|p| p.to_str()));
    w.u8(opts.oracle as u8);
    w.0
}

pub(crate) fn decode_request(b: &[u8]) -> Option<(String, RunOptions)> {
    let mut r = Reader(b);
    let name = r.str()?;
    let ip_version = r.u8()?;
    let mut params = BTreeMap::new();
    for _ in 0..r.u32()? {
        params.insert(r.str()?, r.str()?);
    }
    let keep_dir = r.opt_str()?.map(PathBuf::from);
    let oracle = r.u8()? != 0;
    Some((name, RunOptions { ip_version, params, keep_dir, oracle }))
}

/// What the child sends back: the observation the parent classifies, the verdict the scenario's
/// judge gave in the child, and the pcapng the child kept. Kernel events are not carried: a
/// child in a user namespace never has the oracle.
pub(crate) struct Outcome {
    pub observed: Observed,
    pub verdict: Option<Verdict>,
    pub pcapng: Option<PathBuf>,
}

pub(crate) fn encode_outcome(o: &Observed, verdict: Option<&Verdict>, pcapng: Option<&PathBuf>) -> Vec<u8> {
    let mut w = Writer::default();
    w.u8(0);
    w.u32(o.frames.len() as u32);
    for f in &o.frames {
        w.u64(f.ts_ns as u64);
        w.u32(f.linktype.0);
        w.u32(f.interface);
        w.u32(f.orig_len);
        w.bytes(&f.data);
    }
    w.u32(o.interfaces.len() as u32);
    for i in &o.interfaces {
        w.str(i);
    }
    w.u32(o.hosts.len() as u32);
    for (role, ip) in &o.hosts {
        w.str(role.as_str());
        w.ip(*ip);
    }
    w.u32(o.app_events.len() as u32);
    for e in &o.app_events {
        w.str(e.host.as_str());
        w.str(&e.call);
        w.str(&e.result);
        w.opt_str(e.errno.map(|n| n.to_string()).as_deref());
        w.u64(e.ts_ns as u64);
        w.u64(e.start_ns as u64);
    }
    w.opt_str(o.oracle_note.as_deref());
    w.u32(o.metrics.len() as u32);
    for (k, v) in &o.metrics {
        w.str(k);
        w.u64(v.to_bits());
    }
    w.u64(o.duration.as_nanos() as u64);
    match verdict {
        Some(v) => {
            w.u8(1);
            w.u8(v.holds as u8);
            w.str(&v.evidence);
        }
        None => w.u8(0),
    }
    w.opt_str(pcapng.and_then(|p| p.to_str()));
    w.str(&o.meta.kernel);
    w.str(&o.meta.machine);
    w.u32(o.meta.sysctls.len() as u32);
    for p in &o.meta.sysctls {
        w.str(p.host.as_str());
        w.str(&p.key);
        w.str(&p.value);
    }
    w.0
}

pub(crate) fn decode_outcome(b: &[u8]) -> Option<Result<Outcome, LabError>> {
    let mut r = Reader(b);
    if r.u8()? != 0 {
        return Some(Err(decode_error(&mut r)?));
    }
    let mut frames = vec![];
    for _ in 0..r.u32()? {
        frames.push(CapturedFrame { ts_ns: r.u64()? as i64, linktype: LinkType(r.u32()?), interface: r.u32()?, orig_len: r.u32()?, data: r.bytes()?.to_vec() });
    }
    let interfaces = (0..r.u32()?).map(|_| r.str()).collect::<Option<Vec<_>>>()?;
    let mut hosts = vec![];
    for _ in 0..r.u32()? {
        hosts.push((r.role()?, r.ip()?));
    }
    let mut app_events = vec![];
    for _ in 0..r.u32()? {
        let (host, call, result) = (r.role()?, r.str()?, r.str()?);
        let errno = match r.opt_str()? {
            Some(n) => Some(n.parse::<i32>().ok()?),
            None => None,
        };
        app_events.push(AppEvent { host, call, result, errno, errno_name: errno.and_then(errno_name), ts_ns: r.u64()? as i64, start_ns: r.u64()? as i64 });
    }
    let oracle_note = r.opt_str()?;
    let mut metrics = BTreeMap::new();
    for _ in 0..r.u32()? {
        metrics.insert(r.str()?, f64::from_bits(r.u64()?));
    }
    let duration = Duration::from_nanos(r.u64()?);
    let verdict = match r.u8()? {
        0 => None,
        _ => Some(Verdict { holds: r.u8()? != 0, evidence: r.str()? }),
    };
    let pcapng = r.opt_str()?.map(PathBuf::from);
    let (kernel, machine) = (r.str()?, r.str()?);
    let mut sysctls = vec![];
    for _ in 0..r.u32()? {
        sysctls.push(PinnedSysctl { host: r.role()?, key: r.str()?, value: r.str()? });
    }
    // Both ends are the same build: the version is this one's.
    let meta = RunMeta { kernel, machine, sysctls, rstlab_version: RSTLAB_VERSION };
    // The wire RSTs are derived data: rebuilt here exactly as `Lab::finish` builds them, with
    // no kernel events (the child had no oracle).
    let resets = match_resets(&frames, &hosts, &[], false);
    let observed = Observed { frames, interfaces, hosts, app_events, kernel_events: vec![], oracle_available: false, oracle_note, resets, metrics, duration, meta };
    Some(Ok(Outcome { observed, verdict, pcapng }))
}

/// An error crosses as its variant and fields, so the parent raises what a direct run would
/// (a `PrivilegeError` stays one in Python, an `Os` error keeps its errno and path).
pub(crate) fn encode_error(e: &LabError) -> Vec<u8> {
    let mut w = Writer::default();
    w.u8(1);
    match e {
        LabError::Privilege { what, capability } => {
            w.u8(0);
            w.str(what);
            w.str(capability);
        }
        LabError::UnknownScenario(n) => {
            w.u8(1);
            w.str(n);
        }
        LabError::Unsupported { scenario, ip_version } => {
            w.u8(2);
            w.str(scenario);
            w.u8(*ip_version);
        }
        LabError::Param { scenario, name, why } => {
            w.u8(3);
            w.str(scenario);
            w.str(name);
            w.str(why);
        }
        LabError::Os { context, path, source } => {
            w.u8(4);
            w.str(context);
            w.opt_str(path.as_ref().and_then(|p| p.to_str()));
            w.u32(source.raw_os_error().unwrap_or(0) as u32);
            w.str(&source.to_string());
        }
        LabError::Command { host, command, status, stderr } => {
            w.u8(5);
            for s in [host, command, status, stderr] {
                w.str(s);
            }
        }
        LabError::Timeout { scenario, what } => {
            w.u8(6);
            w.str(scenario);
            w.str(what);
        }
        LabError::Scenario { scenario, what } => {
            w.u8(7);
            w.str(scenario);
            w.str(what);
        }
        LabError::Option { command, option, why } => {
            w.u8(8);
            for s in [command, option, why] {
                w.str(s);
            }
        }
    }
    w.0
}

fn decode_error(r: &mut Reader<'_>) -> Option<LabError> {
    Some(match r.u8()? {
        0 => {
            let what = r.str()?;
            let cap = r.str()?;
            // The capability names are the crate's own constants; anything else is kept generic.
            let capability = ["CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_NET_RAW"].into_iter().find(|c| *c == cap).unwrap_or("a capability");
            LabError::Privilege { what, capability }
        }
        1 => LabError::UnknownScenario(r.str()?),
        2 => LabError::Unsupported { scenario: r.str()?, ip_version: r.u8()? },
        3 => LabError::Param { scenario: r.str()?, name: r.str()?, why: r.str()? },
        4 => {
            let (context, path) = (r.str()?, r.opt_str()?.map(PathBuf::from));
            let errno = r.u32()? as i32;
            let text = r.str()?;
            let source = if errno != 0 { std::io::Error::from_raw_os_error(errno) } else { std::io::Error::other(text) };
            LabError::Os { context, path, source }
        }
        5 => LabError::Command { host: r.str()?, command: r.str()?, status: r.str()?, stderr: r.str()? },
        6 => LabError::Timeout { scenario: r.str()?, what: r.str()? },
        7 => LabError::Scenario { scenario: r.str()?, what: r.str()? },
        8 => LabError::Option { command: r.str()?, option: r.str()?, why: r.str()? },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trips() {
        let o = RunOptions::v(6).param("linger", "0");
        let (name, back) = decode_request(&encode_request("s11_linger_zero", &o)).unwrap();
        assert_eq!(name, "s11_linger_zero");
        assert_eq!((back.ip_version, back.params, back.keep_dir, back.oracle), (6, o.params, None, true));
    }

    #[test]
    fn errors_keep_their_variant_errno_and_path() {
        let e = LabError::Os { context: "creating /x".into(), path: Some("/x".into()), source: std::io::Error::from_raw_os_error(libc::EACCES) };
        match decode_outcome(&encode_error(&e)) {
            Some(Err(LabError::Os { path, source, .. })) => {
                assert_eq!(path, Some(PathBuf::from("/x")));
                assert_eq!(source.raw_os_error(), Some(libc::EACCES));
            }
            _ => panic!("not an Os error"),
        }
        let p = LabError::Privilege { what: "x".into(), capability: "CAP_NET_RAW" };
        assert!(matches!(decode_outcome(&encode_error(&p)), Some(Err(LabError::Privilege { capability: "CAP_NET_RAW", .. }))));
        let o = LabError::Option { command: "watch".into(), option: "--filter".into(), why: "bad filter `x`".into() };
        match decode_outcome(&encode_error(&o)) {
            Some(Err(d @ LabError::Option { .. })) => assert_eq!(d.to_string(), "watch --filter: bad filter `x`"),
            _ => panic!("not an Option error"),
        }
    }

    #[test]
    fn a_truncated_outcome_is_none_never_a_panic() {
        let bytes = encode_error(&LabError::Timeout { scenario: "s".into(), what: "a RST".into() });
        for n in 0..bytes.len() {
            assert!(decode_outcome(&bytes[..n]).is_none(), "prefix {n}");
        }
    }
}
