//! The program model: what a generated scenario is, as data (serde: any case replays from JSON).
//!
//! A [`Program`] is a set of connections between the client and the server host, and a list of
//! [`Step`]s — socket calls by one endpoint of one connection, or network faults — each at a
//! time offset from the start of the run. The steps of one endpoint, in time order, are that
//! endpoint's program; the executor interleaves all endpoints by time (a sleep is the gap
//! between two steps). Connections are independent of each other unless a global fault (a
//! reboot, NAT state loss) touches them all.

use crate::role::Role;
use serde::{Deserialize, Serialize};

/// The version of the JSON format below (bumped on an incompatible change).
pub const FORMAT: u32 = 1;

/// One generated scenario.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Program {
    /// `gen-<seed>-<index>`; a shrunk program keeps its origin's id with a `-shrunk` suffix.
    pub id: String,
    pub format: u32,
    pub ip_version: u8,
    /// `true`: client — router — server (router rejects and NAT need it).
    pub routed: bool,
    /// The router masquerades the client (NAT state loss needs it).
    pub nat: bool,
    /// `(host, key, value)` net sysctls pinned inside the run's namespaces only.
    pub sysctls: Vec<(String, String, String)>,
    /// Listening ports are `run port + index` for each listener index a `listen` step names.
    pub conns: Vec<Conn>,
    pub steps: Vec<Step>,
}

/// A connection slot: the client's fixed local port and the server port (listener index) it
/// targets. Fixed ports make forged segments and reconnects from the same port possible.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conn {
    pub cport: u16,
    /// Server port = run port + `listener` (a listener that never listens is a closed port).
    pub listener: u8,
}

/// One thing that happens at `at_ms` after the start of the run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub at_ms: u32,
    #[serde(flatten)]
    pub op: Op,
}

/// Which of the two endpoints of a connection acts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Client,
    Server,
}

impl Side {
    pub fn role(self) -> Role {
        match self {
            Side::Client => Role::Client,
            Side::Server => Role::Server,
        }
    }
    pub fn peer(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
}

/// How much a `recv` step reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Read {
    /// Until EOF, an error or a quiet 100 ms.
    All,
    /// One `recv` of at most this many bytes.
    Some(u32),
}

/// Which segments a silence drops.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Only {
    All,
    SynAck,
    /// ACK with no other flag (a handshake's third segment, pure ACKs; data has PSH).
    BareAck,
}

/// A sequence or acknowledgement number of a forged or replayed segment, relative to the
/// connection's state as the capture shows it at that moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Num {
    /// The sender's next sequence number (for `seq`), or what the receiver sends next (for
    /// `ack`), plus `offset` (wrapping, RFC 9293 §3.4 sequence space).
    Next(i64),
    /// An absolute value (a fresh ISN for a forged SYN).
    Abs(u32),
}

/// A socket call or a network fault.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// The server listens on `run port + listener` with this backlog.
    Listen { listener: u8, backlog: i32 },
    /// The server closes that listener (its queued, unaccepted children are reset: `inet_child_forget`).
    CloseListener { listener: u8 },
    /// The client connects `conn` from its fixed port; waits at most `wait_ms` (0: leaves it in
    /// progress — a SYN_SENT socket the application does not wait for).
    Connect { conn: u8, wait_ms: u32 },
    /// The server accepts `conn` from its listener (waits at most 200 ms).
    Accept { conn: u8 },
    /// `send` of up to `bytes` without blocking (what the socket buffer takes).
    Send { conn: u8, side: Side, bytes: u32 },
    Recv { conn: u8, side: Side, read: Read },
    ShutdownRd { conn: u8, side: Side },
    ShutdownWr { conn: u8, side: Side },
    ShutdownRdwr { conn: u8, side: Side },
    Close { conn: u8, side: Side },
    /// The process holding the socket ends: SIGKILL (`kill: true`) or a normal exit; the
    /// kernel closes the descriptor as close() would, with whatever data was unread.
    Exit { conn: u8, side: Side, kill: bool },
    /// An administrator kills the socket (`ss -K`: SOCK_DESTROY → `tcp_abort`).
    Destroy { conn: u8, side: Side },
    /// `connect(AF_UNSPEC)`: `tcp_disconnect`.
    Disconnect { conn: u8, side: Side },
    /// SO_LINGER {1, secs} (0: close() aborts with RST, RFC 9293 §3.10.4 ABORT).
    Linger { conn: u8, side: Side, secs: u32 },
    /// TCP_LINGER2 (seconds in FIN_WAIT2 for an orphan; negative: none).
    Linger2 { conn: u8, side: Side, secs: i32 },
    /// SO_KEEPALIVE with TCP_KEEPIDLE / TCP_KEEPINTVL / TCP_KEEPCNT.
    Keepalive { conn: u8, side: Side, idle: u32, intvl: u32, cnt: u32 },
    /// TCP_USER_TIMEOUT (RFC 5482).
    UserTimeout { conn: u8, side: Side, ms: u32 },
    /// SO_RCVBUF before connect / accept (a small one makes a zero window).
    RcvBuf { conn: u8, side: Side, bytes: u32 },
    /// Drop `conn`'s segments arriving at `toward` (all, or only SYN-ACKs, or only bare ACKs):
    /// a silent peer or broken path in one direction, a late SYN-ACK, held-back handshake
    /// ACKs — until `heal`.
    Silence { conn: u8, toward: Side, only: Only },
    /// Remove every silence and reject of `conn`.
    Heal { conn: u8 },
    /// A host firewall on the server (`router: false`) or the router's forward chain rejects
    /// `conn`'s segments toward the server with a TCP reset (netfilter's, not the stack's).
    Reject { conn: u8, router: bool },
    /// The host crashes and reboots (a fresh namespace, same address; its sockets are gone).
    Reboot { side: Side },
    /// The host vanishes (its link stays up, nothing answers).
    Vanish { side: Side },
    /// The router forgets its conntrack/NAT state.
    NatLoss,
    /// A segment from `from`'s address and port of `conn`, made by a raw socket.
    Forge {
        conn: u8,
        from: Side,
        /// "S", "SA", "A", "PA", "FA", "R", "RA".
        flags: String,
        seq: Num,
        ack: Num,
        ttl: u8,
        ip_id: u16,
        payload: u16,
        /// TSecr relative to the receiver's last TSval seen (a timestamp option is added).
        tsecr: Option<i64>,
    },
    /// Re-sends the `back`-th last captured segment from `from` on `conn` (0: the last):
    /// a duplicate, or — once later ones went by — a reordered one.
    Replay { conn: u8, from: Side, back: u8 },
}

impl Op {
    /// The connection a step concerns (None: global).
    pub fn conn(&self) -> Option<u8> {
        use Op::*;
        match self {
            Connect { conn, .. } | Accept { conn } | Send { conn, .. } | Recv { conn, .. } | ShutdownRd { conn, .. } | ShutdownWr { conn, .. } | ShutdownRdwr { conn, .. } | Close { conn, .. } | Exit { conn, .. } | Destroy { conn, .. } | Disconnect { conn, .. } | Linger { conn, .. } | Linger2 { conn, .. } | Keepalive { conn, .. } | UserTimeout { conn, .. } | RcvBuf { conn, .. } | Silence { conn, .. } | Heal { conn } | Reject { conn, .. } | Forge { conn, .. } | Replay { conn, .. } => Some(*conn),
            Listen { .. } | CloseListener { .. } | Reboot { .. } | Vanish { .. } | NatLoss => None,
        }
    }

    /// Short name (the JSON `op`).
    pub fn name(&self) -> String {
        serde_json::to_value(self).ok().and_then(|v| v.get("op").and_then(|o| o.as_str()).map(String::from)).unwrap_or_default()
    }
}

impl Program {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a program always serializes")
    }

    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("a program always serializes")
    }

    pub fn from_json(text: &str) -> std::result::Result<Program, String> {
        let p: Program = serde_json::from_str(text).map_err(|e| format!("not a generated program: {e}"))?;
        if p.format != FORMAT {
            return Err(format!("program format {} (this rstlab reads format {FORMAT})", p.format));
        }
        if p.ip_version != 4 && p.ip_version != 6 {
            return Err(format!("ip_version {} (must be 4 or 6)", p.ip_version));
        }
        if let Some(s) = p.steps.iter().find(|s| s.op.conn().is_some_and(|c| c as usize >= p.conns.len())) {
            return Err(format!("step at {} ms names connection {:?} of {}", s.at_ms, s.op.conn(), p.conns.len()));
        }
        Ok(p)
    }

    /// Every listener index a step or connection names.
    pub fn listeners(&self) -> Vec<u8> {
        let mut v: Vec<u8> = self.conns.iter().map(|c| c.listener).collect();
        v.extend(self.steps.iter().filter_map(|s| match s.op {
            Op::Listen { listener, .. } | Op::CloseListener { listener } => Some(listener),
            _ => None,
        }));
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The steps in the order they run: by time, ties in list order.
    pub fn schedule(&self) -> Vec<&Step> {
        let mut v: Vec<&Step> = self.steps.iter().collect();
        v.sort_by_key(|s| s.at_ms);
        v
    }

    /// The host whose link end carries the first capture: the server's when the client host
    /// reboots or vanishes (a capture socket stops when its device leaves the namespace).
    pub fn capture_at(&self) -> Role {
        let client_moves = self.steps.iter().any(|s| matches!(s.op, Op::Reboot { side: Side::Client } | Op::Vanish { side: Side::Client }));
        if client_moves && !self.routed {
            Role::Server
        } else {
            Role::Client
        }
    }

    /// The host that sends the RSTs no TCP stack makes, other than the forger's (those carry
    /// the forger's window: `exec.rs`), when there is one candidate: the router, when only it
    /// rejects.
    pub fn non_stack_host(&self) -> Option<Role> {
        let rejects = |router: bool| self.steps.iter().any(|s| matches!(s.op, Op::Reject { router: r, .. } if r == router));
        (rejects(true) && !rejects(false)).then_some(Role::Router)
    }
}
