//! The crate's one error type.

use std::io;

/// Everything that can stop a lab run. Messages are lowercase and carry their context
/// (scenario, host, command, errno) so they read well when surfaced in Python.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The process lacks a capability the run needs.
    #[error("{what} needs {capability}: run as root, or under `unshare -rn` for the namespace scenarios without the kernel oracle")]
    Privilege { what: String, capability: &'static str },
    #[error("unknown scenario `{0}` (list them with scenarios())")]
    UnknownScenario(String),
    #[error("scenario {scenario} has no IPv{ip_version} variant")]
    Unsupported { scenario: String, ip_version: u8 },
    #[error("scenario {scenario}: bad parameter `{name}`: {why}")]
    Param { scenario: String, name: String, why: String },
    /// A system call failed; `context` says which and where.
    #[error("{context}: {source}")]
    Os {
        context: String,
        #[source]
        source: io::Error,
    },
    /// An external command (`ip`, `nft`, `ethtool`, a user program) failed.
    #[error("command `{command}` in host {host} failed ({status}): {stderr}")]
    Command { host: String, command: String, status: String, stderr: String },
    /// The run did not reach a point it waits for.
    #[error("scenario {scenario} timed out waiting for {what}")]
    Timeout { scenario: String, what: String },
    /// The endpoints did not behave as the scenario needs to go on (not a verdict: the run broke).
    #[error("scenario {scenario}: {what}")]
    Scenario { scenario: String, what: String },
}

pub type Result<T, E = LabError> = std::result::Result<T, E>;

impl LabError {
    pub(crate) fn os(context: impl Into<String>, source: io::Error) -> LabError {
        LabError::Os { context: context.into(), source }
    }
}

/// `map_err` helper: `.map_err(os_err("opening the capture socket in host client"))`.
pub(crate) fn os_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> LabError {
    let context = context.into();
    move |source| LabError::Os { context, source }
}
