//! Progress on stderr: an indicatif bar when stderr is a terminal, plain lines when it is not and
//! `--progress` asks for them, nothing otherwise. stdout never carries progress.

use std::io::Write;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Where progress goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Hidden,
    /// A live bar (stderr is a terminal).
    Bar,
    /// A line now and then (stderr is a file or a pipe and `--progress` was given).
    Lines,
}

/// A transfer's bar: bytes against the file's size, and the rows counted so far.
const TRANSFER_TEMPLATE: &str =
    "{spinner} {prefix} [{bar:24}] {bytes}/{total_bytes} {binary_bytes_per_sec} {msg}";
/// A run's bar: documents processed against the total; the message carries the phase, rate and
/// ETA as the server computes them.
const RUN_TEMPLATE: &str = "{spinner} {prefix} [{bar:24}] {human_pos}/{human_len} {msg}";
/// How often a line is written in [`Mode::Lines`] while nothing but the counts change.
const LINE_EVERY: Duration = Duration::from_secs(2);

pub struct Reporter<'a> {
    mode: Mode,
    out: &'a mut dyn Write,
}

impl<'a> Reporter<'a> {
    pub fn new(mode: Mode, out: &'a mut dyn Write) -> Self {
        Reporter { mode, out }
    }

    /// A bar for sending or receiving `total` bytes (unknown: a spinner).
    pub fn transfer(&mut self, label: &str, total: Option<u64>) -> Bar<'_, 'a> {
        self.bar(label, total, TRANSFER_TEMPLATE)
    }

    /// A bar following a run.
    pub fn run(&mut self, label: &str) -> Bar<'_, 'a> {
        // No length until the first answer says it (a zero length would draw a full bar).
        self.bar(label, None, RUN_TEMPLATE)
    }

    fn bar(&mut self, label: &str, total: Option<u64>, template: &str) -> Bar<'_, 'a> {
        let inner = (self.mode == Mode::Bar).then(|| {
            let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
            // The templates are constants (a test parses them); a bar's look is all that
            // depends on them.
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(label.to_owned());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Bar {
            label: label.to_owned(),
            total,
            inner,
            reporter: self,
            last_line: None,
            last_phase: String::new(),
        }
    }
}

pub struct Bar<'r, 'a> {
    label: String,
    total: Option<u64>,
    inner: Option<ProgressBar>,
    reporter: &'r mut Reporter<'a>,
    last_line: Option<Instant>,
    last_phase: String,
}

/// What a run reports at one poll.
#[derive(Debug, Clone)]
pub struct RunTick<'p> {
    pub phase: &'p str,
    pub processed: u64,
    pub total: u64,
    pub rate_per_second: Option<f64>,
    pub eta: Option<Duration>,
}

impl Bar<'_, '_> {
    /// A transfer's bytes so far and the rows (records, lines) they held, with a word on what
    /// happens now (`sent; storing`).
    pub fn transferred(&mut self, bytes: u64, rows: u64, note: Option<&str>) {
        let mut message = format!("{} rows", group(rows));
        if let Some(note) = note {
            message.push(' ');
            message.push_str(note);
        }
        if let Some(bar) = &self.inner {
            bar.set_position(bytes);
            bar.set_message(message);
        } else if self.line_due(Some(note.unwrap_or(""))) {
            let total = self
                .total
                .map(|t| format!("/{}", bytes_text(t)))
                .unwrap_or_default();
            self.line(&format!("{}{total}, {message}", bytes_text(bytes)));
        }
    }

    /// The transfer's size, when known only later (an export with a `Content-Length`).
    pub fn set_total(&mut self, total: Option<u64>) {
        self.total = total;
        if let Some(bar) = &self.inner {
            bar.set_length(total.unwrap_or(0));
        }
    }

    /// A run's progress at one poll.
    pub fn run_tick(&mut self, tick: &RunTick<'_>) {
        let mut message = tick.phase.to_owned();
        if let Some(rate) = tick.rate_per_second {
            message.push_str(&format!(" · {rate:.0} docs/s"));
        }
        if let Some(eta) = tick.eta {
            message.push_str(&format!(" · ETA {}", duration_text(eta)));
        }
        if let Some(bar) = &self.inner {
            bar.set_length(tick.total);
            bar.set_position(tick.processed);
            bar.set_message(message);
        } else if self.line_due(Some(tick.phase)) {
            self.line(&format!(
                "{}/{} {message}",
                group(tick.processed),
                group(tick.total)
            ));
        }
    }

    /// A phase without counts (committing an upload, waiting for an answer).
    pub fn phase(&mut self, phase: &str) {
        if let Some(bar) = &self.inner {
            bar.set_message(phase.to_owned());
        } else if self.line_due(Some(phase)) {
            self.line(phase);
        }
    }

    /// Ends the bar with a last word (a line in [`Mode::Lines`]).
    pub fn finish(mut self, message: &str) {
        if let Some(bar) = self.inner.take() {
            bar.finish_with_message(message.to_owned());
        } else {
            self.line(message);
        }
    }

    /// Ends the bar and leaves no trace of it (before an error is printed).
    pub fn abandon(mut self) {
        if let Some(bar) = self.inner.take() {
            bar.finish_and_clear();
        }
    }

    fn line_due(&mut self, phase: Option<&str>) -> bool {
        if self.reporter.mode != Mode::Lines {
            return false;
        }
        let phase_changed = phase.is_some_and(|p| p != self.last_phase);
        if let Some(phase) = phase {
            phase.clone_into(&mut self.last_phase);
        }
        let due = phase_changed || self.last_line.is_none_or(|at| at.elapsed() >= LINE_EVERY);
        if due {
            self.last_line = Some(Instant::now());
        }
        due
    }

    fn line(&mut self, text: &str) {
        if self.reporter.mode == Mode::Lines {
            // Progress is best effort: a closed stderr must not fail the command.
            let _ = writeln!(self.reporter.out, "{}: {text}", self.label);
        }
    }
}

impl Drop for Bar<'_, '_> {
    fn drop(&mut self) {
        if let Some(bar) = self.inner.take() {
            bar.finish_and_clear();
        }
    }
}

/// 1234567 → "1,234,567".
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes in KiB, MiB, GiB.
pub fn bytes_text(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut unit = 0;
    let mut whole = bytes;
    let mut rest = 0;
    while whole >= 1024 && unit < UNITS.len() - 1 {
        rest = whole % 1024;
        whole /= 1024;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        // One decimal, rounded down: tenths of the unit.
        format!("{whole}.{} {}", rest * 10 / 1024, UNITS[unit])
    }
}

/// 75 s → "1m15s".
pub fn duration_text(duration: Duration) -> String {
    let secs = duration.as_secs();
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
    }
}

/// Counts the records (or lines) passing through, without holding them: a newline ends one
/// unless it is inside a quoted CSV field.
#[derive(Debug, Default)]
pub struct RecordCounter {
    csv_quotes: bool,
    in_quotes: bool,
    complete: u64,
    pending: bool,
}

impl RecordCounter {
    /// CSV: quoted fields may hold newlines.
    pub fn csv() -> Self {
        RecordCounter {
            csv_quotes: true,
            ..RecordCounter::default()
        }
    }

    /// One record per line (NDJSON, whose strings hold no raw newline).
    pub fn lines() -> Self {
        RecordCounter::default()
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        for &byte in chunk {
            match byte {
                b'"' if self.csv_quotes => {
                    self.in_quotes = !self.in_quotes;
                    self.pending = true;
                }
                b'\n' if !self.in_quotes => {
                    if self.pending {
                        self.complete += 1;
                    }
                    self.pending = false;
                }
                b'\r' if !self.in_quotes => {}
                _ => self.pending = true,
            }
        }
    }

    /// Records so far, a last one without its newline included.
    pub fn records(&self) -> u64 {
        self.complete + u64::from(self.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_templates_parse() {
        assert!(ProgressStyle::with_template(TRANSFER_TEMPLATE).is_ok());
        assert!(ProgressStyle::with_template(RUN_TEMPLATE).is_ok());
    }

    #[test]
    fn records_are_counted_across_chunks_and_quoted_newlines() {
        let mut counter = RecordCounter::csv();
        for chunk in [
            &b"id,name\r\n1,\"two"[..],
            b"\nlines\"\r\n2,plain\n\n3,\"a \"\"quoted\"\" word\"",
        ] {
            counter.feed(chunk);
        }
        // header, 1 (two lines), 2, (an empty line is no record), 3 without a final newline
        assert_eq!(counter.records(), 4);
        let mut lines = RecordCounter::lines();
        lines.feed(b"{\"a\": \"say \\\"hi\"}\n{\"b\": 1}\n");
        assert_eq!(lines.records(), 2);
    }

    #[test]
    fn numbers_read_easily() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1_000), "1,000");
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(bytes_text(512), "512 B");
        assert_eq!(bytes_text(1536), "1.5 KiB");
        assert_eq!(bytes_text(24 * 1024 * 1024), "24.0 MiB");
        assert_eq!(duration_text(Duration::from_secs(75)), "1m15s");
        assert_eq!(duration_text(Duration::from_secs(3 * 3600 + 120)), "3h02m");
    }
}
