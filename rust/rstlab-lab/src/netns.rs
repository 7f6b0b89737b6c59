//! Anonymous network namespaces.
//!
//! A host is a network namespace made by a short-lived thread with `unshare(CLONE_NEWNET)`;
//! we keep only a file descriptor to it. Nothing is named (no `/var/run/netns` entry), so
//! when the last descriptor closes — at the end of the run, or when the process dies, even
//! by SIGKILL — the kernel destroys the namespace with its links, sockets and nft tables.
//!
//! Work runs "inside" a host on a thread that has `setns`'d into it (net sysctls, `/proc/net`
//! and socket creation all follow the calling *thread*'s namespace). External commands get the
//! namespace in `pre_exec` plus `PR_SET_PDEATHSIG`, so they die with the thread that made them.

use crate::error::{os_err, os_err_at, LabError, Result};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// One network namespace, alive as long as this value (and anything created inside it).
#[derive(Debug)]
pub struct Netns {
    fd: OwnedFd,
    label: String,
}

impl Netns {
    /// Creates a fresh, empty network namespace (only `lo`, down).
    pub fn new(label: &str) -> Result<Netns> {
        let fd = std::thread::spawn(|| -> io::Result<OwnedFd> {
            // SAFETY: plain syscalls on this thread only.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                return Err(io::Error::last_os_error());
            }
            let f = File::open("/proc/thread-self/ns/net")?;
            Ok(OwnedFd::from(f))
        })
        .join()
        .map_err(|_| LabError::Scenario { scenario: label.into(), what: "namespace thread panicked".into() })?
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::EPERM) {
                LabError::Privilege { what: format!("creating a network namespace for host {label}"), capability: "CAP_SYS_ADMIN" }
            } else {
                LabError::os(format!("creating a network namespace for host {label}"), e)
            }
        })?;
        Ok(Netns { fd, label: label.to_string() })
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn raw_fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    /// A path other processes (e.g. `ip link ... netns PATH`) can open to reach this namespace.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/fd/{}", std::process::id(), self.fd.as_raw_fd()))
    }

    /// Moves the calling thread into this namespace (for threads dedicated to this host).
    pub fn enter(&self) -> io::Result<()> {
        // SAFETY: setns on a valid namespace fd affects only the calling thread for CLONE_NEWNET.
        if unsafe { libc::setns(self.fd.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Runs `f` on a scoped thread inside this namespace and returns its result.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T> {
        std::thread::scope(|s| {
            s.spawn(|| -> Result<T> {
                self.enter().map_err(os_err(format!("entering the namespace of host {}", self.label)))?;
                Ok(f())
            })
            .join()
            .map_err(|_| LabError::Scenario { scenario: self.label.clone(), what: "work inside the namespace panicked".into() })?
        })
    }

    /// A command that will run inside this namespace and die with the spawning thread.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        let fd = self.fd.as_raw_fd();
        // SAFETY: only async-signal-safe syscalls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                    return Err(io::Error::last_os_error());
                }
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd
    }

    /// Runs a short command to completion inside the namespace, feeding `stdin`.
    pub fn exec(&self, program: &str, args: &[&str], stdin: Option<&str>) -> Result<String> {
        let mut cmd = self.command(program);
        cmd.args(args).stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let shown = format!("{program} {}", args.join(" "));
        let mut child = cmd.spawn().map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                LabError::Command { host: self.label.clone(), command: shown.clone(), status: "not found".into(), stderr: format!("install {program}") }
            } else {
                LabError::os(format!("spawning `{shown}` in host {}", self.label), e)
            }
        })?;
        if let Some(text) = stdin {
            use std::io::Write;
            let mut pipe = child.stdin.take().expect("piped stdin");
            pipe.write_all(text.as_bytes()).map_err(os_err(format!("writing to `{shown}`")))?;
        }
        let out = child.wait_with_output().map_err(os_err(format!("waiting for `{shown}`")))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
            let status = out.status.to_string();
            if stderr.contains("Operation not permitted") {
                return Err(LabError::Privilege { what: format!("`{shown}` in host {}", self.label), capability: "CAP_NET_ADMIN" });
            }
            let command = match stdin {
                Some(s) => format!("{shown} <<< {}", s.trim().replace('\n', "; ")),
                None => shown,
            };
            return Err(LabError::Command { host: self.label.clone(), command, status, stderr });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Writes a net sysctl in this namespace only (`net.ipv4.tcp_fin_timeout` style key).
    pub fn sysctl(&self, key: &str, value: &str) -> Result<()> {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        let label = self.label.clone();
        self.run(|| std::fs::write(&path, value))?
            .map_err(os_err_at(format!("setting sysctl {key}={value} in host {label}"), &path))
    }

    /// Reads a net sysctl of this namespace.
    pub fn sysctl_get(&self, key: &str) -> Result<String> {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        let label = self.label.clone();
        self.run(|| std::fs::read_to_string(&path))?
            .map(|s| s.trim().to_string())
            .map_err(os_err_at(format!("reading sysctl {key} in host {label}"), &path))
    }

    /// Reads a file under `/proc/thread-self/` as seen from inside the namespace (e.g. `net/tcp`).
    /// (`/proc/net` would show the namespace of the thread-group leader, not ours.)
    pub fn read_proc(&self, rel: &str) -> Result<String> {
        let path = format!("/proc/thread-self/{rel}");
        let label = self.label.clone();
        self.run(|| std::fs::read_to_string(&path))?
            .map_err(os_err(format!("reading {path} in host {label}")))
    }

    /// Index of a network interface inside this namespace.
    pub fn ifindex(&self, dev: &str) -> Result<u32> {
        let name = std::ffi::CString::new(dev).expect("interface name without NUL");
        // SAFETY: if_nametoindex reads a NUL-terminated string.
        let idx = self.run(|| unsafe { libc::if_nametoindex(name.as_ptr()) })?;
        if idx == 0 {
            return Err(LabError::os(format!("looking up interface {dev} in host {}", self.label), io::Error::from_raw_os_error(libc::ENODEV)));
        }
        Ok(idx)
    }
}

/// Bits of the effective capability set (`CapEff` in /proc/self/status).
pub fn effective_caps() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0)
}

pub const CAP_NET_ADMIN: u32 = 12;
pub const CAP_NET_RAW: u32 = 13;
pub const CAP_SYS_ADMIN: u32 = 21;

pub fn has_cap(cap: u32) -> bool {
    effective_caps() & (1u64 << cap) != 0
}

/// Whether this process is in the initial user namespace (its `uid_map` is the identity).
pub fn in_initial_userns() -> bool {
    std::fs::read_to_string("/proc/self/uid_map").is_ok_and(|m| m.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"])
}

/// Checks, before anything is built, that namespaces can be made and configured.
pub fn check_privileges(scenario: &str) -> Result<()> {
    for (cap, name) in [(CAP_SYS_ADMIN, "CAP_SYS_ADMIN"), (CAP_NET_ADMIN, "CAP_NET_ADMIN")] {
        if !has_cap(cap) {
            return Err(LabError::Privilege { what: format!("scenario {scenario} (network namespaces)"), capability: name });
        }
    }
    Ok(())
}

/// Wraps a raw descriptor we own (used by capture and forging sockets).
pub(crate) fn owned(fd: i32) -> io::Result<OwnedFd> {
    if fd < 0 {
        Err(io::Error::last_os_error())
    } else {
        // SAFETY: fd was just returned by a successful syscall and is owned by nobody else.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}
