//! Composing new scenarios from Python: a topology of fresh namespaces, sockets in its hosts,
//! faults, the user's own programs, and a finished run classified like the catalogue's.

use crate::errors::{io_error, lab_error, os_error, usage_error};
use crate::lab::LabRun;
use pyo3::prelude::*;
use rstlab_lab::{Action, Fault, Hook, Lab, LabError, Role, RunResult, Sock, UnknownRole};
use std::net::SocketAddr;
use std::time::Duration;

/// A socket call's failure, as a Python socket raises it (`OSError` by errno).
fn os_err(e: std::io::Error) -> PyErr {
    Python::attach(|py| io_error(py, &e, None))
}

/// A role name from Python ("client", "server", "router", "forger"); an unknown one is a
/// parameter error (`ScenarioError`) naming the valid ones.
fn role(py: Python<'_>, scenario: &str, name: &str) -> PyResult<Role> {
    name.parse().map_err(|e: UnknownRole| lab_error(py, &LabError::Param { scenario: scenario.into(), name: "role".into(), why: e.to_string() }))
}

fn taken() -> PyErr {
    Python::attach(|py| usage_error(py, None, "this lab has finished; build a new Lab"))
}

/// A live topology (client and server, optionally a router between them) in fresh network
/// namespaces, captured and watched by the kernel oracle until `finish()`.
#[pyclass(module = "rstlab._rstlab", unsendable, name = "Lab")]
pub struct PyLab {
    inner: Option<Lab>,
    faults: Vec<Option<Fault>>,
}

impl PyLab {
    fn lab(&self) -> PyResult<&Lab> {
        self.inner.as_ref().ok_or_else(taken)
    }
    fn lab_mut(&mut self) -> PyResult<&mut Lab> {
        self.inner.as_mut().ok_or_else(taken)
    }
    fn role(&self, py: Python<'_>, name: &str) -> PyResult<Role> {
        role(py, self.lab()?.scenario(), name)
    }
}

#[pymethods]
impl PyLab {
    #[new]
    #[pyo3(signature = (name="custom", ip_version=4, routed=false, oracle=true, sysctls=None))]
    fn new(py: Python<'_>, name: &str, ip_version: u8, routed: bool, oracle: bool, sysctls: Option<Vec<(String, String, String)>>) -> PyResult<Self> {
        let mut b = Lab::builder(name).ip_version(ip_version).oracle(oracle);
        if routed {
            b = b.routed();
        }
        for (h, k, v) in sysctls.iter().flatten() {
            b = b.sysctl(role(py, name, h)?, k, v);
        }
        match b.build() {
            Ok(lab) => Ok(PyLab { inner: Some(lab), faults: Vec::new() }),
            Err(e) => Err(lab_error(py, &e)),
        }
    }

    /// The address of host `role` ("client", "server", "router").
    fn addr(&self, py: Python<'_>, role: &str) -> PyResult<String> {
        let role = self.role(py, role)?;
        self.lab()?.addr(role).map(|a| a.to_string()).map_err(|e| lab_error(py, &e))
    }

    /// The server's (address, port) that scenarios listen on.
    fn server_addr(&self) -> PyResult<(String, u16)> {
        let a = self.lab()?.server_addr();
        Ok((a.ip().to_string(), a.port()))
    }

    /// A TCP socket in host `role`; every call on it is recorded as an app event.
    fn socket(&self, py: Python<'_>, role: &str) -> PyResult<PySock> {
        let role = self.role(py, role)?;
        self.lab()?.socket(role).map(PySock::new).map_err(|e| lab_error(py, &e))
    }

    /// A socket in `role` bound to the server address and listening.
    #[pyo3(signature = (role="server", backlog=16))]
    fn listener(&self, py: Python<'_>, role: &str, backlog: i32) -> PyResult<PySock> {
        let role = self.role(py, role)?;
        self.lab()?.listener(role, backlog).map(PySock::new).map_err(|e| lab_error(py, &e))
    }

    /// Start `argv` (e.g. the user's own server) inside host `role`; returns its pid. It is
    /// killed and reaped when the lab finishes, and dies with this process.
    fn spawn(&mut self, py: Python<'_>, role: &str, argv: Vec<String>) -> PyResult<u32> {
        let (prog, args) = argv.split_first().ok_or_else(|| usage_error(py, self.inner.as_ref().map(Lab::scenario), "argv is empty"))?;
        let role = self.role(py, role)?;
        let lab = self.lab_mut()?;
        let mut cmd = lab.command(role, prog).map_err(|e| lab_error(py, &e))?;
        cmd.args(args);
        lab.spawn(cmd).map_err(|e| lab_error(py, &e))
    }

    /// Send `signal` (default SIGKILL) to a spawned process and reap it.
    #[pyo3(signature = (pid, signal=9))]
    fn kill(&mut self, py: Python<'_>, pid: u32, signal: i32) -> PyResult<()> {
        self.lab_mut()?.kill(pid, signal).map_err(|e| lab_error(py, &e))
    }

    /// Silence traffic arriving at `role` (an nft drop on its input hook; `expr` narrows it,
    /// e.g. "tcp flags syn"). Returns a fault id for `heal`.
    #[pyo3(signature = (role, expr=""))]
    fn drop_input(&mut self, py: Python<'_>, role: &str, expr: &str) -> PyResult<usize> {
        let role = self.role(py, role)?;
        let f = self.lab_mut()?.drop_input(role, expr).map_err(|e| lab_error(py, &e))?;
        self.faults.push(Some(f));
        Ok(self.faults.len() - 1)
    }

    /// `reject with tcp reset` on `role`'s input hook (a host firewall), or on the router's
    /// forward hook when `role` is "router" (a middlebox). Returns a fault id.
    #[pyo3(signature = (role, expr="meta l4proto tcp"))]
    fn reject(&mut self, py: Python<'_>, role: &str, expr: &str) -> PyResult<usize> {
        let role = self.role(py, role)?;
        let hook = if role == Role::Router { Hook::Forward } else { Hook::Input };
        let f = self.lab_mut()?.rule(role, hook, expr, Action::RejectTcpReset).map_err(|e| lab_error(py, &e))?;
        self.faults.push(Some(f));
        Ok(self.faults.len() - 1)
    }

    /// Remove a fault made by `drop_input` or `reject`.
    fn heal(&mut self, py: Python<'_>, fault: usize) -> PyResult<()> {
        let f = self.faults.get_mut(fault).and_then(Option::take).ok_or_else(|| usage_error(py, self.inner.as_ref().map(Lab::scenario), "no such fault"))?;
        self.lab_mut()?.heal(&f).map_err(|e| lab_error(py, &e))
    }

    /// Crash and reboot `role`: its interface moves to a fresh namespace with the same address;
    /// the old sockets stay behind, unreachable.
    fn reboot(&mut self, py: Python<'_>, role: &str) -> PyResult<()> {
        let role = self.role(py, role)?;
        self.lab_mut()?.reboot(role).map_err(|e| lab_error(py, &e))
    }

    /// Make `role` vanish from the network (no answer at all).
    fn vanish(&mut self, py: Python<'_>, role: &str) -> PyResult<()> {
        let role = self.role(py, role)?;
        self.lab_mut()?.vanish(role).map_err(|e| lab_error(py, &e))
    }

    /// Set a sysctl inside host `role`'s namespace only.
    fn sysctl(&self, py: Python<'_>, role: &str, key: &str, value: &str) -> PyResult<()> {
        let role = self.role(py, role)?;
        self.lab()?.sysctl(role, key, value).map_err(|e| lab_error(py, &e))
    }

    /// Wait up to `timeout` seconds for a RST on the wire; False if none came.
    #[pyo3(signature = (timeout=2.0))]
    fn wait_rst(&self, timeout: f64) -> PyResult<bool> {
        Ok(self.lab()?.wait_rst(Duration::from_secs_f64(timeout)).is_ok())
    }

    /// Stop capturing and tracing, tear everything down and return the run, classified.
    fn finish(&mut self, py: Python<'_>) -> PyResult<LabRun> {
        let lab = self.inner.take().ok_or_else(taken)?;
        let name = lab.scenario().to_string();
        let ip_version = lab.ip_version();
        let o = lab.finish().map_err(|e| lab_error(py, &e))?;
        Ok(LabRun::from(RunResult::from_observed(&name, ip_version, o, None)))
    }
}

/// A TCP socket inside a lab host. Errors raise OSError with the errno, as Python sockets do;
/// every call is also recorded in the run's app events.
#[pyclass(module = "rstlab._rstlab", unsendable, name = "Sock")]
pub struct PySock {
    inner: Option<Sock>,
}

impl PySock {
    fn new(s: Sock) -> Self {
        PySock { inner: Some(s) }
    }
    fn s(&self) -> PyResult<&Sock> {
        self.inner.as_ref().ok_or_else(|| Python::attach(|py| os_error(py, libc::EBADF, "socket is closed", None)))
    }
}

fn addr_of(host: &str, port: u16) -> PyResult<SocketAddr> {
    let ip = host.parse().map_err(|_| Python::attach(|py| usage_error(py, None, &format!("not an IP address: {host}"))))?;
    Ok(SocketAddr::new(ip, port))
}

#[pymethods]
impl PySock {
    /// connect((host, port)); with `timeout` seconds, a non-blocking connect that gives up.
    #[pyo3(signature = (address, timeout=None))]
    fn connect(&self, address: (String, u16), timeout: Option<f64>) -> PyResult<()> {
        let a = addr_of(&address.0, address.1)?;
        let s = self.s()?;
        match timeout {
            Some(t) => s.connect_timeout(a, Duration::from_secs_f64(t)),
            None => s.connect(a),
        }
        .map_err(os_err)
    }
    fn accept(&self) -> PyResult<PySock> {
        self.s()?.accept().map(PySock::new).map_err(os_err)
    }
    fn send(&self, data: &[u8]) -> PyResult<usize> {
        self.s()?.send(data).map_err(os_err)
    }
    /// Write up to `total` bytes until the send buffer is full; returns how many were queued.
    fn fill(&self, total: usize) -> PyResult<usize> {
        self.s()?.fill(total).map_err(os_err)
    }
    /// recv(max); b"" at EOF; with `timeout` seconds, raises TimeoutError when nothing came.
    #[pyo3(signature = (max=65536, timeout=None))]
    fn recv<'py>(&self, py: Python<'py>, max: usize, timeout: Option<f64>) -> PyResult<Bound<'py, pyo3::types::PyBytes>> {
        let s = self.s()?;
        let r = match timeout {
            Some(t) => s.recv_timeout(max, Duration::from_secs_f64(t)),
            None => s.recv(max),
        };
        r.map(|v| pyo3::types::PyBytes::new(py, &v)).map_err(os_err)
    }
    fn shutdown_write(&self) -> PyResult<()> {
        self.s()?.shutdown_write().map_err(os_err)
    }
    /// SO_LINGER {on, seconds}; `linger(0)` makes close() abort with a RST.
    fn linger(&self, seconds: u64) -> PyResult<()> {
        self.s()?.linger(Some(seconds)).map_err(os_err)
    }
    fn user_timeout_ms(&self, ms: u32) -> PyResult<()> {
        self.s()?.user_timeout_ms(ms).map_err(os_err)
    }
    fn keepalive(&self, idle: u32, interval: u32, count: u32) -> PyResult<()> {
        self.s()?.keepalive(idle, interval, count).map_err(os_err)
    }
    /// The kernel's TCP state of this socket (e.g. "ESTABLISHED").
    fn tcp_state(&self) -> PyResult<Option<&'static str>> {
        Ok(self.s()?.tcp_state())
    }
    fn close(&mut self) -> PyResult<()> {
        match self.inner.take() {
            Some(s) => s.close().map_err(os_err),
            None => Ok(()),
        }
    }
}
