//! What a run was made on: the kernel, the sysctls the run pinned inside its namespaces, and
//! rstlab's version — so a result (its JSON, its Python object, its pcapng) says which stack
//! produced it. A RST's reason is a property of the kernel release and of sysctls such as
//! `tcp_abort_on_overflow`, so a result without them cannot be compared with another one.

use crate::role::Role;
use rstlab_trace::capture::pcapng_write::SectionHeader;

/// rstlab's version: the workspace's (`Cargo.toml`), the same one the Python package reports.
pub const RSTLAB_VERSION: &str = env!("CARGO_PKG_VERSION");

/// One sysctl a run set inside one host's namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinnedSysctl {
    pub host: Role,
    /// Dotted key, as `sysctl(8)` spells it (`net.ipv4.tcp_fin_timeout`).
    pub key: String,
    pub value: String,
}

/// The run's provenance; one per [`Observed`](crate::Observed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunMeta {
    /// The kernel release (`uname -r`).
    pub kernel: String,
    /// The machine (`uname -m`).
    pub machine: String,
    /// Every sysctl the run pinned, in the order it set them: those the scenario declares,
    /// then any its `run` (or a composed lab) set while it ran.
    pub sysctls: Vec<PinnedSysctl>,
    pub rstlab_version: &'static str,
}

impl RunMeta {
    /// This machine's kernel and rstlab's version, with the sysctls a run pinned.
    pub fn here(sysctls: Vec<PinnedSysctl>) -> RunMeta {
        let (kernel, machine) = uname();
        RunMeta { kernel, machine, sysctls, rstlab_version: RSTLAB_VERSION }
    }

    /// pcapng `shb_os` (SHB option 3): the operating system the capture was made on.
    pub fn shb_os(&self) -> String {
        format!("Linux {}", self.kernel)
    }

    /// pcapng `shb_userappl` (SHB option 4): the application that wrote the capture.
    pub fn shb_userappl(&self) -> String {
        format!("rstlab {}", self.rstlab_version)
    }

    /// pcapng section comment (`opt_comment`, option 1): the run, kernel, version and the
    /// pinned sysctls, one per line, as `host key=value`.
    pub fn shb_comment(&self, scenario: &str, ip_version: u8) -> String {
        let mut s = format!("rstlab {} run {scenario} IPv{ip_version} on Linux {} ({})", self.rstlab_version, self.kernel, self.machine);
        if self.sysctls.is_empty() {
            s.push_str("\nsysctls pinned: none");
        }
        for p in &self.sysctls {
            s.push_str(&format!("\nsysctl {} {}={}", p.host, p.key, p.value));
        }
        s
    }

    /// The pcapng section header of run `scenario` / `ip_version`'s capture.
    pub fn section(&self, scenario: &str, ip_version: u8) -> SectionHeader {
        SectionHeader {
            comment: Some(self.shb_comment(scenario, ip_version)),
            hardware: Some(self.machine.clone()),
            os: Some(self.shb_os()),
            userappl: self.shb_userappl(),
        }
    }
}

/// `uname(2)`'s release and machine ("unknown" if the call fails, which Linux documents only
/// for a bad buffer pointer).
fn uname() -> (String, String) {
    // SAFETY: utsname is plain old data; uname fills it with NUL-terminated strings.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return ("unknown".into(), "unknown".into());
        }
        let field = |f: &[libc::c_char]| std::ffi::CStr::from_ptr(f.as_ptr()).to_string_lossy().into_owned();
        (field(&u.release), field(&u.machine))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_release_is_procfs_osrelease() {
        // The independent source: the kernel's own /proc/sys/kernel/osrelease.
        let want = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        assert_eq!(RunMeta::here(vec![]).kernel, want.trim());
    }

    #[test]
    fn comment_lists_every_pinned_sysctl() {
        let m = RunMeta {
            kernel: "6.18.0".into(),
            machine: "x86_64".into(),
            sysctls: vec![PinnedSysctl { host: Role::Server, key: "net.ipv4.tcp_abort_on_overflow".into(), value: "1".into() }],
            rstlab_version: "9.9.9",
        };
        let c = m.shb_comment("s2_x", 6);
        assert!(c.starts_with("rstlab 9.9.9 run s2_x IPv6 on Linux 6.18.0 (x86_64)"), "{c}");
        assert!(c.ends_with("\nsysctl server net.ipv4.tcp_abort_on_overflow=1"), "{c}");
        assert_eq!(m.shb_os(), "Linux 6.18.0");
        assert_eq!(m.shb_userappl(), "rstlab 9.9.9");
    }
}
