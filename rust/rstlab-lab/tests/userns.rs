//! An ordinary user's lab: the acceptance scenarios run as uid 65534 (no capabilities, in the
//! initial user namespace) give the verdicts and causes a root run gives — with the kernel
//! oracle off and its note saying why. The expected causes come from the root run's kernel
//! labels (`tcp:tcp_send_reset` reasons → the causes they imply), not from the classifier.
mod common;
use common::{privileged, run_v};
use rstlab_lab::oracle::ORACLE_NOTE;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

const ACCEPTANCE: [&str; 3] = ["s1_closed_port", "s10_crash_reboot", "s11_linger_zero"];
const NOBODY: &str = "65534";

/// A copy of the `rstlab-lab` binary in a world-readable directory: the build tree (and /root)
/// may be closed to uid 65534. Removed on drop.
struct Reachable(PathBuf);

impl Reachable {
    fn new(test: &str) -> Reachable {
        let dir = std::env::temp_dir().join(format!("rstlab-userns-test-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let bin = dir.join("rstlab-lab");
        std::fs::copy(env!("CARGO_BIN_EXE_rstlab-lab"), &bin).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        Reachable(dir)
    }

    /// Runs the binary as uid/gid 65534 with no supplementary groups and no capabilities.
    fn as_nobody(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("setpriv")
            .args(["--reuid", NOBODY, "--regid", NOBODY, "--clear-groups"])
            .arg(self.0.join("rstlab-lab"))
            .args(args)
            .current_dir(&self.0)
            .output()
            .expect("setpriv (util-linux) runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    }
}

impl Drop for Reachable {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn first_appearances<T: PartialEq>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut out = Vec::new();
    for x in items {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    out
}

/// The `causes [...]` list of `rstlab-lab run` output.
fn causes_line(text: &str) -> Vec<String> {
    let line = text.lines().find_map(|l| l.trim().strip_prefix("causes [")).unwrap_or_else(|| panic!("no causes line in\n{text}"));
    let list = &line[..line.find(']').expect("closing bracket")];
    list.split(", ").filter(|s| !s.is_empty()).map(|s| s.trim_matches('"').to_string()).collect()
}

fn setpriv_available() -> bool {
    Command::new("setpriv").arg("--version").output().is_ok_and(|o| o.status.success())
}

#[test]
fn ordinary_user_gets_roots_verdicts_and_causes() {
    if !privileged() {
        return;
    }
    if !setpriv_available() {
        eprintln!("skipped: needs setpriv (util-linux) to drop to uid {NOBODY}");
        return;
    }
    let bin = Reachable::new("acceptance");
    let (ok, mode) = bin.as_nobody(&["mode"]);
    if !ok {
        // The machine forbids unprivileged user namespaces: the lab must say so, not crash.
        assert!(mode.contains("user namespaces are unavailable"), "{mode}");
        eprintln!("skipped: uid {NOBODY} cannot create user namespaces here: {mode}");
        return;
    }
    assert_eq!(mode.trim(), "userns", "an ordinary user's runs go through a user namespace");
    for name in ACCEPTANCE {
        for v in [4u8, 6] {
            let root = run_v(name, v);
            // The kernel's labels: every RST here is the stack's, and its reason implies a cause.
            assert!(root.classified.iter().all(|c| c.kernel_cause.is_some()), "{name} v{v}: a RST without a kernel reason");
            let kernel: Vec<String> = first_appearances(root.classified.iter().filter_map(|c| c.kernel_cause)).iter().map(|c| c.as_str().to_string()).collect();
            assert!(!kernel.is_empty(), "{name} v{v}: the root run saw no RST");
            let root_holds = root.verdict.as_ref().expect("verdict").holds;

            let (ok, text) = bin.as_nobody(&["run", name, &v.to_string()]);
            assert!(ok, "{name} v{v} as uid {NOBODY} failed:\n{text}");
            assert!(text.contains("oracle off"), "{name} v{v}: the oracle cannot run in a user namespace\n{text}");
            assert!(text.contains(ORACLE_NOTE), "{name} v{v}: the note says why\n{text}");
            let rsts: Vec<&str> = text.lines().filter(|l| l.trim_start().starts_with("RST ")).collect();
            assert!(!rsts.is_empty() && rsts.iter().all(|l| l.contains("reason=None") && l.contains("stack=None")), "{name} v{v}: no kernel reason without the oracle\n{text}");
            assert_eq!(causes_line(&text), kernel, "{name} v{v}: causes as uid {NOBODY} vs the root run's kernel labels\n{text}");
            // What the applications saw (errnos, by host) is the same story.
            let root_errnos: Vec<String> = root.observed.app_events.iter().filter_map(|e| e.errno_name.map(|n| format!("{} {n}", e.host))).collect();
            let user_errnos: Vec<String> = text
                .lines()
                .filter_map(|l| l.trim_start().strip_prefix("app "))
                .filter_map(|l| {
                    let w: Vec<&str> = l.split_whitespace().collect();
                    w.last().filter(|x| x.starts_with('E')).map(|x| format!("{} {x}", w[0]))
                })
                .collect();
            assert!(!root_errnos.is_empty(), "{name} v{v}: the applications saw no error as root");
            assert_eq!(user_errnos, root_errnos, "{name} v{v}: errnos as uid {NOBODY} vs root\n{text}");
            let holds = if text.contains("verdict: HOLDS") { true } else if text.contains("verdict: DIFFERS") { false } else { panic!("no verdict\n{text}") };
            assert_eq!(holds, root_holds, "{name} v{v}: verdict as uid {NOBODY} vs root\n{text}");
        }
    }
}

#[test]
fn ordinary_user_cannot_compose_a_lab_in_process_and_is_told_what_works() {
    if !privileged() || !setpriv_available() {
        return;
    }
    // `hold` builds a Lab in the calling process (the composition API): without capabilities it
    // must fail before building anything, naming the capability and what works without root.
    let bin = Reachable::new("compose");
    let (ok, text) = bin.as_nobody(&["hold", "1"]);
    assert!(!ok, "{text}");
    assert!(text.contains("needs CAP_SYS_ADMIN") && text.contains("rstlab run NAME") && text.contains("sudo"), "{text}");
    assert!(!text.contains("make "), "pip users have no Makefile: {text}");
}
