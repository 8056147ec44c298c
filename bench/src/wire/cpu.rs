//! CPU time a process used, from /proc/PID/stat, so a run can say how many cores the broker
//! was busy for: requests per broker core is the figure that does not depend on the client.

use anyhow::{Context, Result};

/// utime + stime of `pid` in clock ticks.
pub fn ticks(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("read /proc/{pid}/stat"))?;
    // The command name is in parentheses and may hold spaces: fields count from after it.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("no ')' in /proc/PID/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of proc(5); `rest` starts at field 3.
    let utime: u64 = fields.get(11).context("no utime")?.parse()?;
    let stime: u64 = fields.get(12).context("no stime")?.parse()?;
    Ok(utime + stime)
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux if getconf is missing).
pub fn ticks_per_s() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

/// The broker's CPU ticks at the start of a run, if a pid was given.
#[derive(Debug, Clone, Copy)]
pub struct CpuSample {
    pid: u32,
    ticks: u64,
}

impl CpuSample {
    pub fn start(pid: Option<u32>) -> Result<Option<CpuSample>> {
        pid.map(|pid| {
            Ok(CpuSample {
                pid,
                ticks: ticks(pid)?,
            })
        })
        .transpose()
    }

    /// Cores busy on average over `elapsed_s` since the sample.
    pub fn cores_since(&self, elapsed_s: f64) -> Result<f64> {
        let used = ticks(self.pid)?.saturating_sub(self.ticks);
        let seconds = used as f64 / ticks_per_s() as f64;
        Ok(if elapsed_s > 0.0 {
            seconds / elapsed_s
        } else {
            0.0
        })
    }
}
