//! Running `vltava-bench` from the integration tests.

use std::process::Command;

use serde_json::Value;

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Runs `vltava-bench ARGS --json`: whether it exited 0, and the JSON object it printed.
pub fn bench(args: &[&str]) -> Result<(bool, Value), Box<dyn std::error::Error>> {
    let output = Command::new(env!("CARGO_BIN_EXE_vltava-bench"))
        .args(args)
        .arg("--json")
        .output()?;
    let stdout = String::from_utf8(output.stdout)?;
    let line = stdout.lines().last().ok_or_else(|| {
        format!(
            "no output; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })?;
    Ok((output.status.success(), serde_json::from_str(line)?))
}

/// A numeric field of a report.
pub fn number(report: &Value, field: &str) -> Result<f64, Box<dyn std::error::Error>> {
    report[field]
        .as_f64()
        .ok_or_else(|| format!("no {field} in {report}").into())
}
