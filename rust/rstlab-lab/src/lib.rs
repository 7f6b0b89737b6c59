//! # rstlab-lab
//!
//! The Linux-facing half of rstlab: it makes every kind of abnormal TCP termination happen on
//! the real kernel stack, in seconds, inside throwaway network namespaces; captures the packets;
//! records what each application saw (errno, EOF); and reads the kernel's own reason for every
//! RST it sent (the `tcp:tcp_send_reset` tracepoint).
//!
//! Contract:
//! - Traffic stays inside namespaces a run created (addresses 10.77.x.y / fd77::/16 exist only
//!   there). Nothing in the root namespace is changed: no links, sysctls or nft tables.
//! - Everything a run creates is gone when it ends — on success, error, panic, and after
//!   SIGKILL (namespaces are anonymous; child processes carry `PR_SET_PDEATHSIG`; trace
//!   instances, the one named resource, are reaped by the next run).
//! - Without CAP_NET_ADMIN / CAP_SYS_ADMIN, [`run`] happens in a child that enters a user
//!   namespace first ([`userns`]): same causes and verdicts, no kernel reasons. A composed
//!   [`Lab`] lives in the calling process and fails early with [`LabError::Privilege`] there.
//!   Without tracefs access (or outside the initial user namespace) a run still works and
//!   reports `oracle_available: false` with an `oracle_note` saying why.
//!
//! Entry points: [`scenarios`], [`scenario()`], [`run`], [`run_all`] for the catalogue; [`Lab`] to compose new
//! cases from the same primitives. Hosts are named by [`Role`] (its strings — "client",
//! "server", … — exist only at the Python edge and in outputs); a run's result is one
//! [`RunResult`], which embeds the [`Observed`] capture, events and RSTs, and the run's
//! [`RunMeta`] (kernel release, pinned sysctls, rstlab's version).

pub mod capture;
pub mod endpoint;
pub mod error;
pub mod fault;
pub mod generate;
pub mod lab;
pub mod link;
pub mod live;
pub mod meta;
pub mod netns;
pub mod observed;
pub mod oracle;
pub mod role;
pub mod runner;
pub mod scenario;
mod slot;
pub mod userns;
pub mod verdicts;

pub use capture::{write_pcapng, write_pcapng_with, CapturedFrame, SectionHeader};
pub use endpoint::{AppEvent, Sock};
pub use error::LabError;
pub use fault::{Action, Fault, Forged, Hook};
pub use lab::{Lab, LabBuilder, Topology};
pub use meta::{PinnedSysctl, RunMeta};
pub use observed::{Observed, WireReset};
pub use oracle::{KernelEvent, KernelEventKind};
pub use role::{Role, UnknownRole};
pub use verdicts::{classify_run, ClassifiedReset};
pub use runner::{run, run_all};
pub use scenario::{scenario, scenarios, RunOptions, RunResult, ScenarioInfo, Verdict};

/// The `log` target of this crate's records (Python's `logging` sees it as the `rstlab.lab`
/// logger): once per run, never per packet or system call.
pub const LOG_TARGET: &str = "rstlab::lab";
