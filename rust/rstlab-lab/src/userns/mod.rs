//! Lab runs for an ordinary user: the same run, inside a fresh user namespace.
//!
//! A network namespace is owned by the user namespace its creator was in, and CAP_NET_ADMIN /
//! CAP_NET_RAW / CAP_SYS_ADMIN there are all the lab needs to build veths, nft tables, capture
//! and forging sockets inside it (user_namespaces(7), network_namespaces(7)). Only the kernel
//! oracle needs the initial namespace: tracefs belongs to it, and mounting it needs
//! CAP_SYS_ADMIN there (tracefs has no FS_USERNS_MOUNT).
//!
//! `unshare(CLONE_NEWUSER)` is refused to a multi-threaded process (EINVAL, unshare(2)) — and
//! Python, like the lab itself, has threads. So a run for a user without those capabilities
//! happens in a child: forked (the child has one thread), it enters a new user and mount
//! namespace, maps the caller's uid and gid to 0 (writing its own `uid_map` is allowed for one
//! line mapping its own id, after `setgroups` is denied), then execs the helper — this crate's
//! [`serve`] behind a program registered with [`set_helper`]. The child runs
//! `scenario::run_here`, the one code path a root run takes, and sends back what it observed;
//! the parent classifies the capture as a direct run would.
//!
//! What differs from a root run: `kernel_reason` / `stack_sent` are null, `oracle_note` says
//! why, and a RST no stack made (forged, a router's reject) is attributed to the owner of its
//! source address, as nothing shows it was not that host's stack. Causes (the classifier reads
//! only the capture) and verdicts (every judge decides from the wire and the applications; the
//! kernel's reasons only enrich the evidence) are the same, so no catalogue scenario needs root.

mod codec;

use crate::error::{os_err, LabError, Result};
use crate::netns::{self, CAP_NET_ADMIN, CAP_SYS_ADMIN};
use crate::scenario::{RunOptions, RunResult};
use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// The argument that makes a program built on this crate act as the child (see [`serve`]).
pub const CHILD_ARG: &str = "__rstlab-userns-child";

/// How lab runs happen in this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// In this process: it holds CAP_SYS_ADMIN and CAP_NET_ADMIN (root, or already inside a user
    /// namespace); `oracle` when that is the initial user namespace (the kernel oracle works).
    Direct { oracle: bool },
    /// In a child that enters a user namespace first; no kernel oracle.
    UserNs,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Direct { oracle: true } => "root",
            Mode::Direct { oracle: false } => "netns",
            Mode::UserNs => "userns",
        }
    }
}

/// How a run would happen here, or why none can (what works, what needs root, what to run).
pub fn mode() -> Result<Mode> {
    if netns::has_cap(CAP_SYS_ADMIN) && netns::has_cap(CAP_NET_ADMIN) {
        return Ok(Mode::Direct { oracle: netns::in_initial_userns() });
    }
    match userns_available() {
        Ok(()) => Ok(Mode::UserNs),
        Err(why) => Err(LabError::Privilege { what: format!("creating network namespaces without root (user namespaces are unavailable: {why})"), capability: "CAP_SYS_ADMIN" }),
    }
}

/// Whether this user may create a user namespace: probed once by doing it (sysctls such as
/// `user.max_user_namespaces`, Debian's `kernel.unprivileged_userns_clone` and AppArmor's
/// `kernel.apparmor_restrict_unprivileged_userns` can each forbid it).
fn userns_available() -> std::result::Result<(), String> {
    static PROBE: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    PROBE
        .get_or_init(|| {
            let max = std::fs::read_to_string("/proc/sys/user/max_user_namespaces").ok().and_then(|s| s.trim().parse::<u64>().ok());
            if max == Some(0) {
                return Err("user.max_user_namespaces is 0 on this machine".into());
            }
            let mut probe = Command::new("true");
            enter_userns(&mut probe);
            match probe.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status() {
                Ok(s) if s.success() => Ok(()),
                Ok(s) => Err(format!("a probe in a new user namespace failed ({s})")),
                Err(e) => Err(format!("this user cannot create a user namespace ({e})")),
            }
        })
        .clone()
}

fn helper_slot() -> &'static Mutex<Option<Vec<OsString>>> {
    static HELPER: OnceLock<Mutex<Option<Vec<OsString>>>> = OnceLock::new();
    HELPER.get_or_init(|| Mutex::new(None))
}

/// Registers the program (argv) that acts as the child: it must call [`serve`]. Without one, the
/// running executable is started with [`CHILD_ARG`] (the `rstlab-lab` binary handles it).
pub fn set_helper(argv: Vec<OsString>) {
    *helper_slot().lock().unwrap_or_else(|e| e.into_inner()) = Some(argv);
}

fn helper() -> Result<Vec<OsString>> {
    if let Some(argv) = helper_slot().lock().unwrap_or_else(|e| e.into_inner()).clone() {
        return Ok(argv);
    }
    let exe = std::env::current_exe().map_err(os_err("finding the running executable to start a user-namespace child"))?;
    Ok(vec![exe.into(), CHILD_ARG.into()])
}

/// Makes `cmd`'s child enter a new user + mount namespace as uid/gid 0 (the caller's ids
/// outside) before exec, and die with the thread that spawned it.
fn enter_userns(cmd: &mut Command) {
    // SAFETY: getuid/getgid cannot fail.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    // Formatted before fork: the child may only make async-signal-safe calls.
    let uid_map = format!("0 {uid} 1\n").into_bytes();
    let gid_map = format!("0 {gid} 1\n").into_bytes();
    // SAFETY: only open/write/close/unshare/prctl between fork and exec, on buffers made before.
    unsafe {
        cmd.pre_exec(move || {
            if libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // An unprivileged writer of gid_map must first give up setgroups(2)
            // (user_namespaces(7), "The /proc/[pid]/setgroups file").
            write_proc(c"/proc/self/setgroups", b"deny")?;
            write_proc(c"/proc/self/uid_map", &uid_map)?;
            write_proc(c"/proc/self/gid_map", &gid_map)?;
            // Last: the credential change of unshare may clear an earlier parent-death signal.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// write(2) of a whole small buffer to a /proc file, async-signal-safe.
unsafe fn write_proc(path: &std::ffi::CStr, data: &[u8]) -> std::io::Result<()> {
    let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let n = libc::write(fd, data.as_ptr() as *const libc::c_void, data.len());
    let err = std::io::Error::last_os_error();
    libc::close(fd);
    if n != data.len() as isize {
        return Err(err);
    }
    Ok(())
}

/// Runs scenario `name` in a child inside a new user namespace and returns its result,
/// classified here. Errors in the child come back as the same [`LabError`].
pub fn run(name: &str, opts: &RunOptions) -> Result<RunResult> {
    let argv = helper()?;
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    enter_userns(&mut cmd);
    let shown = argv.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ");
    // `mode()` has already made a user namespace in a probe, so a failure here is the helper
    // program's (not executable by this user, gone): name it.
    let mut child = cmd.spawn().map_err(|e| LabError::Os {
        context: format!("starting the user-namespace child `{shown}` for scenario {name} (it must be executable by this user)"),
        path: Some(argv[0].clone().into()),
        source: e,
    })?;
    let request = codec::encode_request(name, opts);
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(&(request.len() as u32).to_le_bytes()).and_then(|_| stdin.write_all(&request)).map_err(os_err(format!("sending scenario {name} to the user-namespace child")))?;
    }
    let out = child.wait_with_output().map_err(os_err(format!("waiting for the user-namespace child of scenario {name}")))?;
    match codec::decode_outcome(&out.stdout) {
        Some(Ok(o)) => {
            let mut r = crate::scenario::result_of(name, opts.ip_version, o.observed);
            r.verdict = o.verdict;
            r.pcapng = o.pcapng;
            Ok(r)
        }
        Some(Err(e)) => Err(e),
        None => Err(LabError::Scenario {
            scenario: name.into(),
            what: format!("the user-namespace child `{shown}` ended ({}) without a result: {}", out.status, String::from_utf8_lossy(&out.stderr).trim()),
        }),
    }
}

/// The child's side: reads one request on stdin, runs it here, writes the outcome to stdout.
/// Returns the process exit code (0 also when the run failed: the error is in the outcome).
pub fn serve() -> i32 {
    // What the run would log (a missing oracle, always, in a user namespace) the parent logs
    // from the outcome (`RunResult::from_observed`); the child's own logging goes nowhere.
    log::set_max_level(log::LevelFilter::Off);
    // SAFETY: prctl with constant arguments; again here in case exec cleared it.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) };
    let mut input = vec![];
    if std::io::stdin().read_to_end(&mut input).is_err() || input.len() < 4 {
        eprintln!("rstlab user-namespace child: no request on stdin");
        return 2;
    }
    let n = u32::from_le_bytes([input[0], input[1], input[2], input[3]]) as usize;
    let Some((name, opts)) = input.get(4..4 + n).and_then(codec::decode_request) else {
        eprintln!("rstlab user-namespace child: malformed request");
        return 2;
    };
    let bytes = match crate::scenario::run_here(&name, &opts) {
        Ok(r) => codec::encode_outcome(&r.observed, r.verdict.as_ref(), r.pcapng.as_ref()),
        Err(e) => codec::encode_error(&e),
    };
    let mut out = std::io::stdout().lock();
    if out.write_all(&bytes).and_then(|_| out.flush()).is_err() {
        return 3;
    }
    0
}
