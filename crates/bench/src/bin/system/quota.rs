//! A Lambda function's share of a CPU for a process of this machine: a cgroup with a CPU
//! quota (cgroup v2 `cpu.max`, or v1's `cpu.cfs_quota_us`), where the machine lets this
//! process make one. Removed when dropped, once the processes in it are gone.

use std::path::{Path, PathBuf};

/// The CFS period the quota is a share of.
const PERIOD_US: u64 = 100_000;

pub struct CpuQuota {
    dir: PathBuf,
}

impl CpuQuota {
    /// A cgroup that lets its processes use `share` of one CPU; None where none can be
    /// made (no cgroup file system, or no right to write it).
    pub fn new(share: f64) -> Option<Self> {
        let quota = (share * PERIOD_US as f64).round() as u64;
        let name = testkit::unique_name("bench-cpu");
        let v2 = Path::new("/sys/fs/cgroup");
        let made = if v2.join("cgroup.controllers").exists() {
            let dir = v2.join(&name);
            std::fs::create_dir(&dir).ok()?;
            let this = Self { dir };
            std::fs::write(this.dir.join("cpu.max"), format!("{quota} {PERIOD_US}")).ok()?;
            this
        } else {
            let dir = v2.join("cpu").join(&name);
            std::fs::create_dir(&dir).ok()?;
            let this = Self { dir };
            std::fs::write(this.dir.join("cpu.cfs_period_us"), PERIOD_US.to_string()).ok()?;
            std::fs::write(this.dir.join("cpu.cfs_quota_us"), quota.to_string()).ok()?;
            this
        };
        Some(made)
    }

    /// Moves the process into the cgroup.
    pub fn add(&self, pid: u32) -> std::io::Result<()> {
        std::fs::write(self.dir.join("cgroup.procs"), pid.to_string())
    }
}

impl Drop for CpuQuota {
    /// The processes in it must have ended (and been waited for) first.
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir(&self.dir) {
            eprintln!("cgroup {} not removed: {e}", self.dir.display());
        }
    }
}
