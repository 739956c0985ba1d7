//! The plain script the fetch process is held against (`crates/bench/reference/fetch.py`:
//! boto3 and requests, one message after the other), run over the same kind of mail and
//! stores as the fetch process, in the same run.

use std::time::Duration;

use ebox_sim::Simulator;
use testkit::fault_proxy::FaultProxy;

use crate::process::with_world;
use crate::world::{ENTITY, put_on_moto};

/// What the script reports of its run: the one JSON line it prints last.
#[derive(Debug, serde::Deserialize)]
pub struct ScriptRun {
    pub delivered: u64,
    pub ebox_requests: u64,
    /// User and system CPU of the whole process, its start included.
    pub cpu_ms: f64,
    #[serde(rename = "peak_rss_mb")]
    pub peak_mb: f64,
}

impl ScriptRun {
    pub fn cpu_per_message(&self) -> f64 {
        self.cpu_ms / self.delivered.max(1) as f64
    }
}

/// The script's first run over the mail `sim` holds for the benchmark entity, into fresh
/// stores on `moto` behind a proxy, as the fetch process has them. An error when it did
/// not finish, with the end of what it wrote to standard error.
pub async fn run(moto: &testkit::MotoServer, sim: &Simulator, key: &bench::Key) -> Result<ScriptRun, String> {
    let names = put_on_moto(moto, key).await;
    let proxy = FaultProxy::start(&moto.url);
    let script = testkit::workspace_root().join("crates/bench/reference/fetch.py");
    let mut command = tokio::process::Command::new(testkit::venv_bin("python"));
    command.arg(&script);
    with_world(&mut command, &proxy.url(), &names, sim);
    command
        .env("ENTITY", ENTITY)
        .env("CLIENT_ID", "bench")
        .env("PRIVATE_KEY_PEM", &key.private_key_pem)
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(900), command.output())
        .await
        .map_err(|_| "the script did not finish in 15 minutes".to_owned())?
        .map_err(|e| format!("the script did not start: {e}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
        return Err(format!("the script failed ({}): {}", out.status, tail.join(" / ")));
    }
    parse_report(&String::from_utf8_lossy(&out.stdout))
}

/// The script's report, the last line of its standard output; an error names what is
/// missing or malformed.
fn parse_report(stdout: &str) -> Result<ScriptRun, String> {
    let last = stdout.lines().last().ok_or("the script printed no report")?;
    serde_json::from_str(last).map_err(|e| format!("the script's report {last:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::parse_report;

    #[test]
    fn the_report_is_the_last_line_with_every_field() {
        let run = parse_report(
            "progress\n{\"delivered\": 300, \"ebox_requests\": 861, \"cpu_ms\": 4110.5, \"peak_rss_mb\": 64.7}\n",
        )
        .unwrap();
        assert_eq!((run.delivered, run.ebox_requests), (300, 861));
        assert_eq!((run.cpu_ms, run.peak_mb), (4110.5, 64.7));
        assert!((run.cpu_per_message() - 13.70).abs() < 0.01);
    }

    #[test]
    fn a_missing_figure_is_an_error_that_names_it() {
        let err = parse_report(r#"{"delivered": 300, "ebox_requests": 861, "peak_rss_mb": 64.7}"#).unwrap_err();
        assert!(err.contains("cpu_ms"), "{err}");
        assert!(parse_report("").unwrap_err().contains("no report"));
    }
}
