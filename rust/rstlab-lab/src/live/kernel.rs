//! The kernel's side of a live RST: the `tcp:tcp_send_reset` event that made it (its reason)
//! and the local process whose socket sent or received it.
//!
//! Events come from the oracle's private instance ([`crate::oracle`], the lab's own), read from
//! its `trace_pipe` as they happen and parsed by the lab's parser. Each trace line also names
//! the task that was running (`comm-pid`) and whether it ran in interrupt context (the irq-info
//! column, `..s2.`: `s` softirq, `h`/`H` hard irq). Only a process-context event's task is the
//! socket's owner (close() with SO_LINGER 0, shutdown, listen, a connect that reset a stale
//! socket); an event in softirq context ran on behalf of whatever task the CPU interrupted. So:
//! 1. the matched `send_reset` / `receive_reset` event, if it ran in process context;
//! 2. else the owner learned from `sock:inet_sock_set_state` events in process context, by the
//!    socket's local address and port: close() moving it to FIN_WAIT1 or LAST_ACK, and a
//!    listener by its port from listen() (the watch's instance keeps only those transitions,
//!    with a kernel-side event filter, so churn does not flood the trace ring);
//! 3. else none (`pid` null): e.g. a connect refused by a closed port learns nothing, since
//!    connect() changes state before it picks its port.

use crate::oracle::{parse_line, sent, KernelEvent, KernelEventKind};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

/// The task a trace line ran in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    /// The thread id the trace shows (the process id of a single-threaded process).
    pub tid: u32,
    pub comm: String,
    /// Ran in softirq / hardirq context: the task is incidental.
    pub in_irq: bool,
}

/// Parses the `comm-pid [cpu] flags` head of a trace line.
pub fn parse_task(line: &str) -> Option<Task> {
    let b = line.find(" [")?;
    let (comm, tid) = line[..b].trim().rsplit_once('-')?;
    let tid = tid.parse().ok()?;
    let after = &line[b + 2..];
    let flags = after[after.find(']')? + 1..].split_whitespace().next()?;
    // Without the irq-info column the next token is the timestamp ("123.456:"): no context known.
    let in_irq = flags.len() == 5 && matches!(flags.as_bytes()[2], b's' | b'h' | b'H');
    Some(Task { tid, comm: comm.to_string(), in_irq })
}

/// The process id of thread `tid` (`Tgid:` in /proc/TID/status), if it still exists.
fn tgid(tid: u32) -> Option<u32> {
    let s = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    s.lines().find_map(|l| l.strip_prefix("Tgid:")).and_then(|v| v.trim().parse().ok())
}

/// Kernel events waiting to be joined, and the socket owners learned so far. Both are bounded:
/// events older than [`KEEP_NS`] and owners unseen for [`KEEP_OWNER_NS`] are forgotten.
#[derive(Default)]
pub struct Joiner {
    events: VecDeque<(KernelEvent, Option<Task>, bool)>,
    /// Local (address, port) -> owner, and its time.
    owners: HashMap<(IpAddr, u16), (u32, String, i64)>,
    /// Listening port -> owner.
    listeners: HashMap<u16, (u32, String, i64)>,
    reasons: BTreeMap<u32, String>,
    offset_ns: i64,
    /// Partial line carried between reads of the pipe.
    tail: String,
    pub events_seen: u64,
}

/// How long an event waits for its RST (well past the settle time).
const KEEP_NS: i64 = 30_000_000_000;
const KEEP_OWNER_NS: i64 = 600_000_000_000;

/// What the kernel says about one RST.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelSide {
    pub reason: Option<String>,
    pub state: Option<String>,
    pub pid: Option<u32>,
    pub comm: Option<String>,
}

impl Joiner {
    pub fn new(reasons: BTreeMap<u32, String>, offset_ns: i64) -> Self {
        Joiner { reasons, offset_ns, ..Default::default() }
    }

    /// Takes text read from `trace_pipe` (any chunking).
    pub fn feed_text(&mut self, chunk: &str) {
        self.tail.push_str(chunk);
        let Some(end) = self.tail.rfind('\n') else { return };
        let text: String = self.tail.drain(..=end).collect();
        for line in text.lines() {
            if let Some(e) = parse_line(line, self.offset_ns, &self.reasons) {
                let task = parse_task(line);
                self.add(e, task);
            }
        }
    }

    /// Takes one event (a lab run's events carry no task).
    pub fn add(&mut self, e: KernelEvent, task: Option<Task>) {
        self.events_seen += 1;
        if e.kind == KernelEventKind::SetState {
            if let Some(t) = task.as_ref().filter(|t| !t.in_irq) {
                let owner = (t.tid, t.comm.clone(), e.ts_ns);
                if e.newstate.as_deref() == Some("TCP_LISTEN") {
                    self.listeners.insert(e.sport, owner.clone());
                }
                if e.sport != 0 {
                    self.owners.insert((e.saddr, e.sport), owner);
                }
            }
            return;
        }
        self.events.push_back((e, task, false));
    }

    /// Forgets what is too old to be joined as of `now`.
    pub fn prune(&mut self, now: i64) {
        while self.events.front().is_some_and(|(e, _, _)| e.ts_ns < now - KEEP_NS) {
            self.events.pop_front();
        }
        if self.owners.len() > 65_536 {
            self.owners.retain(|_, o| o.2 >= now - KEEP_OWNER_NS);
        }
    }

    /// The kernel's side of the RST `src` -> `dst` captured at `ts_ns`.
    pub fn join(&mut self, src: SocketAddr, dst: SocketAddr, ts_ns: i64) -> KernelSide {
        let mut k = KernelSide::default();
        let mut who: Option<(u32, String)> = None;
        if let Some((e, task, used)) = self.events.iter_mut().find(|(e, _, used)| !*used && sent(e, src, dst, ts_ns, &[])) {
            *used = true;
            k.reason = e.reason.clone();
            k.state = e.state.clone();
            who = task.as_ref().filter(|t| !t.in_irq).map(|t| (t.tid, t.comm.clone()));
        }
        if who.is_none() {
            // The receiving socket's own event: its local end is the RST's destination.
            let recv = self.events.iter().find(|(e, t, _)| {
                e.kind == KernelEventKind::ReceiveReset
                    && e.saddr == dst.ip()
                    && e.sport == dst.port()
                    && e.daddr == src.ip()
                    && e.dport == src.port()
                    && (ts_ns - 500_000_000..=ts_ns + 500_000_000).contains(&e.ts_ns)
                    && t.as_ref().is_some_and(|t| !t.in_irq)
            });
            who = recv.and_then(|(_, t, _)| t.as_ref()).map(|t| (t.tid, t.comm.clone()));
        }
        let owner = |ep: SocketAddr| {
            self.owners.get(&(ep.ip(), ep.port())).or_else(|| self.listeners.get(&ep.port())).map(|o| (o.0, o.1.clone()))
        };
        // The sender's owner, else the receiver's.
        let who = who.or_else(|| owner(src)).or_else(|| owner(dst));
        if let Some((tid, comm)) = who {
            k.pid = Some(tgid(tid).unwrap_or(tid));
            k.comm = Some(comm);
        }
        k
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_head_of_process_and_softirq_lines() {
        let l = "      python3-4242    [001] .....   123.000456: tcp_send_reset: skbaddr=0 skaddr=0 src=127.0.0.1:80 dest=127.0.0.1:4000 state=TCP_ESTABLISHED reason=TCP_ABORT_ON_CLOSE";
        assert_eq!(parse_task(l), Some(Task { tid: 4242, comm: "python3".into(), in_irq: false }));
        let s = "          <idle>-0       [001] ..s2.   123.000456: tcp_send_reset: x";
        assert_eq!(parse_task(s), Some(Task { tid: 0, comm: "<idle>".into(), in_irq: true }));
        let dash = "  my-server-1-77 [000] d.h1. 5.5: tcp_receive_reset: x";
        assert_eq!(parse_task(dash), Some(Task { tid: 77, comm: "my-server-1".into(), in_irq: true }));
    }
}
