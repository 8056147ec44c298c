//! How the command line shows results: aligned tables for people, JSON for scripts.
//!
//! Everything goes through [`line`]: a closed pipe (`vltava config describe ... | head`) ends
//! the output quietly instead of panicking as `println!` does.

use std::io::Write;

use clap::Args;
use serde::Serialize;

/// What every client command takes: where the broker is and how to print.
#[derive(Debug, Args)]
pub struct Connection {
    #[command(flatten)]
    pub broker: Bootstrap,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Where the broker is.
#[derive(Debug, Args)]
pub struct Bootstrap {
    /// Broker to connect to, HOST:PORT.
    #[arg(
        long,
        global = true,
        env = "VLTAVA_BOOTSTRAP",
        default_value = "127.0.0.1:9092"
    )]
    pub bootstrap: String,
}

/// Writes one line to stdout; a reader that went away is not an error.
pub fn line(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{text}") {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

pub fn or_dash(text: String) -> String {
    if text.is_empty() {
        "-".to_string()
    } else {
        text
    }
}

pub fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    line(&serde_json::to_string_pretty(value)?)
}

/// Left-aligned columns two spaces apart, no trailing blanks.
pub fn print_table(headers: &[&str], rows: Vec<Vec<String>>) -> anyhow::Result<()> {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(header).chain(rows) {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(&widths) {
            line.push_str(&format!("{cell:<width$}  "));
        }
        self::line(line.trim_end())?;
    }
    Ok(())
}
