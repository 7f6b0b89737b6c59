//! The crate's one error type.

use std::io;
use std::path::{Path, PathBuf};

/// What to run when a capability is missing: the lab builds namespaces, which need
/// CAP_SYS_ADMIN and CAP_NET_ADMIN in the user namespace that owns them (unshare(2),
/// user_namespaces(7)); only the kernel oracle's tracefs needs the initial namespace's root.
/// Catalogue runs enter a user namespace by themselves ([`crate::userns`]); a hand-composed
/// `Lab` lives in the calling process, so that process must be in one. Commands are the ones
/// a `pip install` provides (no Makefile).
pub const PRIVILEGE_HINT: &str = "as an ordinary user, catalogue runs (`rstlab run NAME`, `rstlab.lab.run()`) enter a user namespace by themselves where the kernel allows one, with every scenario but no kernel reasons; a composed Lab needs its process in one (`unshare -r python ...`); the kernel oracle (kernel_reason) needs real root: `sudo \"$(which python)\" -m rstlab run NAME`";

/// Everything that can stop a lab run. Messages are lowercase and carry their context
/// (scenario, host, command, errno) so they read well when surfaced in Python.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The process lacks a capability the run needs; [`PRIVILEGE_HINT`] says what to run.
    #[error("{what} needs {capability}: {}", PRIVILEGE_HINT)]
    Privilege { what: String, capability: &'static str },
    #[error("unknown scenario `{0}` (list them with scenarios())")]
    UnknownScenario(String),
    #[error("scenario {scenario} has no IPv{ip_version} variant")]
    Unsupported { scenario: String, ip_version: u8 },
    #[error("scenario {scenario}: bad parameter `{name}`: {why}")]
    Param { scenario: String, name: String, why: String },
    /// A bad option of a command that is not a scenario (`rstlab watch --filter ...`).
    #[error("{command} {option}: {why}")]
    Option { command: String, option: String, why: String },
    /// A system call failed; `context` says which and where, `path` names the file it was
    /// about, if any (a capture being written, a sysctl, a kept directory).
    #[error("{context}: {source}")]
    Os {
        context: String,
        path: Option<PathBuf>,
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
        LabError::Os { context: context.into(), path: None, source }
    }
}

/// `map_err` helper: `.map_err(os_err("opening the capture socket in host client"))`.
pub(crate) fn os_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> LabError {
    let context = context.into();
    move |source| LabError::Os { context, path: None, source }
}

/// [`os_err`] for a call on a file: `.map_err(os_err_at(format!("creating {}", p.display()), p))`.
pub(crate) fn os_err_at(context: impl Into<String>, path: impl AsRef<Path>) -> impl FnOnce(io::Error) -> LabError {
    let (context, path) = (context.into(), path.as_ref().to_path_buf());
    move |source| LabError::Os { context, path: Some(path), source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privilege_message_names_the_capability_then_the_hint() {
        let e = LabError::Privilege { what: "creating a network namespace for host client".into(), capability: "CAP_SYS_ADMIN" };
        assert_eq!(
            e.to_string(),
            format!("creating a network namespace for host client needs CAP_SYS_ADMIN: {PRIVILEGE_HINT}")
        );
    }

    #[test]
    fn os_error_on_a_file_keeps_the_path_and_the_message() {
        let e = os_err_at("creating /nowhere/x.pcapng", "/nowhere/x.pcapng")(io::Error::from_raw_os_error(libc::ENOENT));
        match &e {
            LabError::Os { path, source, .. } => {
                assert_eq!(path.as_deref(), Some(Path::new("/nowhere/x.pcapng")));
                assert_eq!(source.raw_os_error(), Some(libc::ENOENT));
            }
            other => panic!("not an Os error: {other:?}"),
        }
        assert!(e.to_string().starts_with("creating /nowhere/x.pcapng: "));
    }
}
