//! A one-line progress display on standard error, shown only on a terminal.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub struct Progress {
    enabled: bool,
    label: String,
    total: u64,
    done: u64,
    started: Instant,
    last: Instant,
}

impl Progress {
    /// A progress display for `total` units (0 when unknown).
    pub fn new(label: &str, total: u64) -> Progress {
        Progress {
            enabled: std::io::stderr().is_terminal(),
            label: label.to_string(),
            total,
            done: 0,
            started: Instant::now(),
            last: Instant::now() - Duration::from_secs(1),
        }
    }

    /// Add `n` done units; redraws at most ten times a second.
    pub fn add(&mut self, n: u64, unit: &str) {
        self.done += n;
        if !self.enabled || self.last.elapsed() < Duration::from_millis(100) {
            return;
        }
        self.last = Instant::now();
        self.draw(unit);
    }

    fn draw(&self, unit: &str) {
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        let rate = self.done as f64 / secs;
        let line = if self.total > 0 {
            let frac = (self.done as f64 / self.total as f64).min(1.0);
            let width = 30;
            let full = (frac * width as f64) as usize;
            format!(
                "{} [{}{}] {:>5.1}% {} {unit} ({}/s)",
                self.label,
                "#".repeat(full),
                "-".repeat(width - full),
                frac * 100.0,
                human(self.done),
                human(rate as u64)
            )
        } else {
            format!(
                "{} {} {unit} ({}/s)",
                self.label,
                human(self.done),
                human(rate as u64)
            )
        };
        let mut e = std::io::stderr();
        let _ = write!(e, "\r\x1b[2K{line}");
        let _ = e.flush();
    }

    /// Show `done` of `total` files and `bytes` so far, with the byte rate
    /// (for uploads, where files and bytes both matter).
    pub fn files_and_bytes(&mut self, done: u64, total: u64, bytes_so_far: u64) {
        if !self.enabled || (done < total && self.last.elapsed() < Duration::from_millis(100)) {
            return;
        }
        self.last = Instant::now();
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        let frac = if total == 0 {
            1.0
        } else {
            done as f64 / total as f64
        };
        let full = (frac * 30.0) as usize;
        let mut e = std::io::stderr();
        let _ = write!(
            e,
            "\r\x1b[2K{} [{}{}] {done}/{total} files, {}, {}/s",
            self.label,
            "#".repeat(full),
            "-".repeat(30 - full),
            bytes(bytes_so_far),
            bytes((bytes_so_far as f64 / secs) as u64)
        );
        let _ = e.flush();
    }

    /// Clear the line.
    pub fn finish(&self) {
        if self.enabled {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}

/// 1234567 -> "1.23M".
pub fn human(n: u64) -> String {
    let f = n as f64;
    if f >= 1e9 {
        format!("{:.2}G", f / 1e9)
    } else if f >= 1e6 {
        format!("{:.2}M", f / 1e6)
    } else if f >= 1e3 {
        format!("{:.1}k", f / 1e3)
    } else {
        n.to_string()
    }
}

/// Bytes in binary units: 1536 -> "1.5 KiB".
pub fn bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut f = n as f64;
    let mut u = 0;
    while f >= 1024.0 && u + 1 < units.len() {
        f /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{f:.1} {}", units[u])
    }
}
