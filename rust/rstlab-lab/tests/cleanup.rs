//! Nothing a run creates outlives it: not after a panic, not after SIGKILL.
mod common;
use common::{privileged, Role};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn sh(cmd: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(cmd).output().expect("sh");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A view of tracefs for the checks: the mounted one, or (where tracefs is not mounted, and
/// runs use private mounts) a private mount of our own, unmounted on drop. Trace instances are
/// global to the kernel, so every mount shows the same ones.
struct Tracefs(std::path::PathBuf, bool);

impl Tracefs {
    fn open() -> Tracefs {
        let (root, private) = rstlab_lab::oracle::tracefs_root().expect("tracefs");
        Tracefs(root, private)
    }

    fn instances(&self, pid: u32) -> Vec<String> {
        std::fs::read_dir(self.0.join("instances"))
            .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.starts_with(&format!("rstlab-{pid}-"))).collect())
            .unwrap_or_default()
    }
}

impl Drop for Tracefs {
    fn drop(&mut self) {
        if self.1 {
            let dir = std::ffi::CString::new(self.0.to_string_lossy().into_owned()).expect("path");
            // SAFETY: a NUL-terminated path we mounted ourselves.
            unsafe { libc::umount2(dir.as_ptr(), libc::MNT_DETACH) };
            let _ = std::fs::remove_dir(&self.0);
        }
    }
}

fn root_state() -> (String, String, String) {
    (sh("ip -o link show type veth | cut -d: -f2"), sh("ip netns list"), sh("nft list tables"))
}

#[test]
fn sigkilled_run_leaves_nothing_after_the_next_run() {
    if !privileged() {
        return;
    }
    let before = root_state();
    let tracefs = Tracefs::open();
    let instances = |pid| tracefs.instances(pid);
    let mut child = Command::new(env!("CARGO_BIN_EXE_rstlab-lab")).args(["hold", "30"]).stdout(Stdio::piped()).spawn().expect("spawn hold");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"ready"), "{line}");
    let (pid, sleeper): (u32, u32) = (words[1].parse().unwrap(), words[2].parse().unwrap());
    // Mid-run: a trace instance exists, the user program runs, the root namespace is untouched.
    assert_eq!(instances(pid).len(), 1);
    assert!(std::path::Path::new(&format!("/proc/{sleeper}")).exists());
    assert_eq!(root_state(), before, "a run must not touch the root namespace");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // The program in the server namespace died with its parent (PR_SET_PDEATHSIG).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while std::path::Path::new(&format!("/proc/{sleeper}/status")).exists()
        && !std::fs::read_to_string(format!("/proc/{sleeper}/status")).unwrap_or_default().contains("zombie")
    {
        assert!(std::time::Instant::now() < deadline, "server program survived its run");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The next run reaps the dead run's trace instance.
    let r = rstlab_lab::run("s1_closed_port", &rstlab_lab::RunOptions::default()).unwrap();
    assert!(r.observed.oracle_available);
    assert!(instances(pid).is_empty(), "stale instance left: {:?}", instances(pid));
    assert_eq!(root_state(), before);
    assert_eq!(sh("ip netns list"), "");
}

#[test]
fn panic_inside_a_run_cleans_up() {
    if !privileged() {
        return;
    }
    let before = root_state();
    let tracefs = Tracefs::open();
    let instances = |pid| tracefs.instances(pid);
    let me = std::process::id();
    let r = std::panic::catch_unwind(|| {
        let lab = rstlab_lab::Lab::builder("panics").ip_version(6).build().unwrap();
        let _l = lab.listener(Role::Server, 1).unwrap();
        assert!(!instances(std::process::id()).is_empty());
        panic!("scenario bug");
    });
    assert!(r.is_err());
    // Other tests in this binary may run labs concurrently; wait for ours to be gone.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !instances(me).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(instances(me).is_empty());
    assert_eq!(root_state(), before);
}

#[test]
fn missing_privilege_is_a_clear_error() {
    if !privileged() {
        return;
    }
    if Command::new("setpriv").arg("--help").output().is_err() {
        eprintln!("skipped: setpriv not installed");
        return;
    }
    // A composed Lab (`hold`) lives in the calling process; catalogue runs would enter a user
    // namespace instead (tests/userns.rs).
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_rstlab-lab"), "hold", "1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs CAP_") && err.contains("real root"), "{err}");
}
