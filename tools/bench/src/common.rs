//! What the benchmarks share: options, figures (median and range), process readings from
//! /proc, running `farod run` as its own process, the official Python client's venv.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// The version of the official client we measure against (as the judge in tests/judge).
pub const MESHTASTIC_VERSION: &str = "2.7.11";

/// Options every benchmark sees.
#[derive(Debug, Clone)]
pub struct Opts {
    /// Small sizes, a few seconds each: for CI, to keep the benchmarks working.
    pub smoke: bool,
    /// Runs per figure (median and range are over these).
    pub runs: usize,
    /// The `farod` binary.
    pub farod: PathBuf,
    /// The `faroctl` binary.
    pub faroctl: PathBuf,
    /// The venv for the official Python client (created when missing).
    pub venv: PathBuf,
    /// Skip the Python client (no venv needed).
    pub no_python: bool,
    /// Scratch space (each benchmark makes its own directory under it).
    pub scratch: PathBuf,
}

impl Opts {
    /// `n` in a full run, `smoke` in smoke mode.
    pub fn size(&self, n: usize, smoke: usize) -> usize {
        if self.smoke {
            smoke
        } else {
            n
        }
    }

    /// A fresh scratch directory for one benchmark run (removed when dropped).
    pub fn tempdir(&self, what: &str) -> Result<tempfile::TempDir> {
        std::fs::create_dir_all(&self.scratch)?;
        tempfile::Builder::new()
            .prefix(&format!("faro-bench-{what}-"))
            .tempdir_in(&self.scratch)
            .with_context(|| format!("creating a scratch directory in {}", self.scratch.display()))
    }
}

// ---- figures ---------------------------------------------------------------------------------

/// Median and range of several runs of one figure.
#[derive(Debug, Clone, Copy)]
pub struct Spread {
    /// The median.
    pub median: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
    /// How many runs.
    pub n: usize,
}

impl Spread {
    /// Median and range of `xs` (NaN when empty).
    pub fn of(xs: &[f64]) -> Spread {
        let mut v: Vec<f64> = xs.iter().copied().filter(|x| !x.is_nan()).collect();
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            return Spread {
                median: f64::NAN,
                min: f64::NAN,
                max: f64::NAN,
                n: 0,
            };
        }
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Spread {
            median,
            min: v[0],
            max: v[n - 1],
            n,
        }
    }

    /// `median (min..max)` with `prec` decimals and a unit.
    pub fn show(&self, prec: usize, unit: &str) -> String {
        if self.n <= 1 {
            return format!("{:.prec$}{unit}", self.median);
        }
        format!(
            "{:.prec$}{unit} ({:.prec$}..{:.prec$}, {} runs)",
            self.median, self.min, self.max, self.n
        )
    }
}

/// The `p`-th percentile (0..=100, nearest rank) of `xs`; NaN when empty.
pub fn percentile(xs: &[f64], p: f64) -> f64 {
    let mut v: Vec<f64> = xs.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// `p50 / p99 / max` of latencies in milliseconds.
pub fn latency_line(ms: &[f64]) -> String {
    if ms.is_empty() {
        return "no samples".into();
    }
    format!(
        "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)",
        percentile(ms, 50.0),
        percentile(ms, 99.0),
        percentile(ms, 100.0),
        ms.len()
    )
}

// ---- /proc -----------------------------------------------------------------------------------

/// A process's readings from /proc.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcReading {
    /// User + system CPU seconds so far.
    pub cpu_secs: f64,
    /// Resident set size now, KiB.
    pub rss_kib: u64,
    /// Peak resident set size, KiB.
    pub hwm_kib: u64,
}

/// Reads `pid`'s CPU time and memory.
pub fn proc_reading(pid: u32) -> Result<ProcReading> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name is in parentheses and may hold spaces: fields start after the last ')'.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("odd /proc/PID/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3 of the man page, so utime (14) is index 11, stime (15) 12.
    let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    let utime: f64 = fields.get(11).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    let stime: f64 = fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let kib = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok(ProcReading {
        cpu_secs: (utime + stime) / ticks,
        rss_kib: kib("VmRSS:"),
        hwm_kib: kib("VmHWM:"),
    })
}

/// Samples a process's RSS every `every` until stopped; the peak and the samples.
#[derive(Debug)]
pub struct RssSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: std::thread::JoinHandle<Vec<u64>>,
}

impl RssSampler {
    /// Starts sampling `pid`.
    pub fn start(pid: u32, every: Duration) -> RssSampler {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(r) = proc_reading(pid) {
                    samples.push(r.rss_kib);
                }
                std::thread::sleep(every);
            }
            samples
        });
        RssSampler { stop, handle }
    }

    /// Stops and returns the samples (KiB).
    pub fn finish(self) -> Vec<u64> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.handle.join().unwrap_or_default()
    }
}

/// KiB as MiB with one decimal.
pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

// ---- farod as a process ------------------------------------------------------------------------

/// The built-in scenario's station node and patrol nodes (tools/sim/scenarios/default.toml).
pub mod nodes {
    /// Grupo Beta Sásabe, the station radio.
    pub const SAS: u32 = 0x5a5a_0001;
    /// The registered patrols' nodes: P1, P2.
    pub const PATROLS: [(&str, u32); 2] = [("P1", 0x5a5a_0101), ("P2", 0x5a5a_0102)];
    /// Torre de Auxilio 7.
    pub const T7: u32 = 0x5a5a_0201;
}

/// A station configuration for `farod run` with the given radios (`(name, uri)`).
pub fn station_config(radios: &[(&str, String)]) -> String {
    let mut s = String::from("[station]\ncode = \"SAS\"\nname = \"Grupo Beta Sásabe\"\n\n");
    for (name, uri) in radios {
        s.push_str(&format!(
            "[[radio]]\nname = \"{name}\"\nuri = \"{uri}\"\nchannel = 0\n\n"
        ));
    }
    for (team, node) in nodes::PATROLS {
        s.push_str(&format!(
            "[[team]]\nname = \"{team}\"\nnodes = [\"!{node:08x}\"]\ninterval_secs = 120\n\n"
        ));
    }
    s.push_str(&format!(
        "[[tower]]\nname = \"Torre de Auxilio 7\"\nnode = \"!{:08x}\"\nlat = 31.43870\nlon = -111.79760\n",
        nodes::T7
    ));
    s
}

/// The environment `systemd/farod.service` gives farod (its `Environment=` lines, but the
/// configuration path, which the benchmarks pass themselves, and the socket's group, which
/// only an installed station has): farod is measured as deployed.
pub fn unit_environment() -> Vec<(String, String)> {
    include_str!("../../../systemd/farod.service")
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Environment="))
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| !matches!(*k, "FARO_CONFIG" | "FARO_SOCKET_GROUP"))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `farod run` in a directory of its own (config, database, socket, log).
#[derive(Debug)]
pub struct Farod {
    child: Child,
    /// Its directory.
    pub dir: PathBuf,
}

impl Farod {
    /// Writes `config` to `dir/faro.toml` and starts `farod run` on it; returns once its
    /// control socket answers (bounded by `within`).
    pub fn start(opts: &Opts, dir: &Path, config: &str, within: Duration) -> Result<Farod> {
        std::fs::write(dir.join("faro.toml"), config)?;
        let log = std::fs::File::create(dir.join("farod.log"))?;
        let child = Command::new(&opts.farod)
            .arg("run")
            .arg("--config")
            .arg(dir.join("faro.toml"))
            .arg("--data-dir")
            .arg(dir)
            .arg("--socket")
            .arg(dir.join("faro.sock"))
            .env("FARO_LOG", "warn")
            .envs(unit_environment())
            .env_remove("NOTIFY_SOCKET")
            .env_remove("JOURNAL_STREAM")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| {
                format!(
                    "cannot run {} (build it: cargo build --release -p farod -p faroctl)",
                    opts.farod.display()
                )
            })?;
        let mut f = Farod {
            child,
            dir: dir.to_path_buf(),
        };
        let deadline = Instant::now() + within;
        loop {
            if f.get("/v1/status").is_ok() {
                return Ok(f);
            }
            if let Ok(Some(st)) = f.child.try_wait() {
                bail!("farod exited ({st}) while starting; log: {}", f.log_tail());
            }
            if Instant::now() > deadline {
                bail!(
                    "farod did not answer on its socket within {within:?}; log: {}",
                    f.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The database file.
    pub fn db(&self) -> PathBuf {
        self.dir.join("faro.db")
    }

    /// The control socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("faro.sock")
    }

    /// The last lines of its log, on one line.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("farod.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().rev().take(5).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
    }

    /// A GET on the control socket; the body (status 200 only).
    pub fn get(&self, path: &str) -> Result<String> {
        http_get(&self.socket(), path)
    }

    /// A read-only connection to its database.
    pub fn reader(&self) -> Result<rusqlite::Connection> {
        let c = rusqlite::Connection::open_with_flags(
            self.db(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        c.busy_timeout(Duration::from_secs(5))?;
        Ok(c)
    }

    /// SIGTERM, then wait (bounded); SIGKILL if it does not stop.
    pub fn stop(mut self) -> Result<()> {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        bail!("farod did not stop within 30 s of SIGTERM")
    }
}

impl Drop for Farod {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A minimal HTTP/1.1 GET over a Unix socket (the control socket); the body on 200.
pub fn http_get(socket: &Path, path: &str) -> Result<String> {
    let mut s = std::os::unix::net::UnixStream::connect(socket)
        .with_context(|| format!("connecting to {}", socket.display()))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: farod\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").context("no HTTP header end")?;
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if status != "200" {
        bail!("GET {path}: HTTP {status}: {}", body.trim());
    }
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return Ok(dechunk(body));
    }
    Ok(body.to_string())
}

pub fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

// ---- the official Python client ----------------------------------------------------------------

/// The venv's python, creating the venv with `meshtastic==MESHTASTIC_VERSION` from the package
/// registry when it does not have it yet.
pub fn python(opts: &Opts) -> Result<PathBuf> {
    let py = opts.venv.join("bin/python");
    let have = Command::new(&py)
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('meshtastic'))",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if have.as_deref() == Some(MESHTASTIC_VERSION) {
        return Ok(py);
    }
    eprintln!(
        "creating a venv at {} with meshtastic=={MESHTASTIC_VERSION}",
        opts.venv.display()
    );
    let st = Command::new("python3")
        .arg("-m")
        .arg("venv")
        .arg(&opts.venv)
        .status()
        .context("running python3 -m venv")?;
    if !st.success() {
        bail!("python3 -m venv {} failed", opts.venv.display());
    }
    let st = Command::new(opts.venv.join("bin/pip"))
        .args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            &format!("meshtastic=={MESHTASTIC_VERSION}"),
        ])
        .status()
        .context("running pip")?;
    if !st.success() {
        bail!("pip install meshtastic=={MESHTASTIC_VERSION} failed");
    }
    Ok(py)
}

/// The Python side of the benchmarks (a script of ours that uses the official client).
pub const PY_CLIENT: &str = include_str!("client.py");

/// The official client on a serial port, as a child process speaking one line per event on
/// stdout (see client.py).
#[derive(Debug)]
pub struct PyClient {
    child: Child,
    lines: std::sync::mpsc::Receiver<(Instant, String)>,
}

impl PyClient {
    /// Starts `client.py MODE PORT ARGS...` with the venv's python.
    pub fn start(
        opts: &Opts,
        dir: &Path,
        mode: &str,
        port: &Path,
        args: &[String],
    ) -> Result<PyClient> {
        let py = python(opts)?;
        let script = dir.join("client.py");
        std::fs::write(&script, PY_CLIENT)?;
        let mut child = Command::new(py)
            .arg("-u")
            .arg(&script)
            .arg(mode)
            .arg(port)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("python.log"))?)
            .spawn()
            .context("starting the Python client")?;
        let out = child.stdout.take().context("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        Ok(PyClient { child, lines: rx })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next line starting with `prefix`, with when it arrived (bounded by `within`).
    pub fn expect(&self, prefix: &str, within: Duration) -> Result<(Instant, String)> {
        self.expect_any(&[prefix], within)
    }

    /// The next line starting with one of `prefixes`, with when it arrived (bounded).
    pub fn expect_any(&self, prefixes: &[&str], within: Duration) -> Result<(Instant, String)> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((at, line)) if prefixes.iter().any(|p| line.starts_with(p)) => {
                    return Ok((at, line))
                }
                Ok(_) => continue,
                Err(_) => bail!("the Python client printed no {prefixes:?} line within {within:?}"),
            }
        }
    }
}

impl Drop for PyClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where the binaries next to this one are (`target/release/` when run with cargo).
pub fn sibling(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join(name)))
        .unwrap_or_else(|| PathBuf::from(name))
}

/// One line about the machine: CPU model, cores, memory, kernel.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map_or_else(
            || "?".into(),
            |k| format!("{:.0} GiB", k as f64 / 1048576.0),
        );
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    format!("{cpu}, {cores} cores, {mem} RAM, Linux {kernel}")
}
