//! A one-line progress bar on standard error for long client commands (imports).
//!
//! Guarantees: the bar is drawn only when standard error is a terminal, redrawn in place
//! with a carriage return, and only when its text changes; otherwise nothing appears
//! until the final one-line summary, so logs and pipes get one line, not hundreds.
//! Standard output is never touched, so results stay pipeable.

use std::io::{IsTerminal, Write};

/// Characters the bar itself takes between its brackets.
const BAR_WIDTH: usize = 30;

/// A progress line on standard error.
pub struct ProgressLine {
    terminal: bool,
    /// The text drawn last, to skip redrawing the same line and to blank it out.
    drawn: String,
}

impl ProgressLine {
    /// A line that draws only when standard error is a terminal.
    pub fn on_stderr() -> ProgressLine {
        ProgressLine {
            terminal: std::io::stderr().is_terminal(),
            drawn: String::new(),
        }
    }

    /// Redraws the line: `label [#####.....]  1.2 MiB / 4.0 MiB  detail`.
    pub fn update(&mut self, label: &str, done: u64, total: u64, detail: &str) {
        if !self.terminal {
            return;
        }
        let text = line(label, done, total, detail);
        if text == self.drawn {
            return;
        }
        let padding = " ".repeat(width(&self.drawn).saturating_sub(width(&text)));
        let mut stderr = std::io::stderr().lock();
        let _ = write!(stderr, "\r{text}{padding}");
        let _ = stderr.flush();
        self.drawn = text;
    }

    /// Replaces the bar with `summary` on a line of its own.
    pub fn finish(&mut self, summary: &str) {
        self.clear();
        let _ = writeln!(std::io::stderr().lock(), "{summary}");
    }

    /// Blanks the bar, so that an error message starts at the beginning of the line.
    pub fn clear(&mut self) {
        if self.terminal && !self.drawn.is_empty() {
            let blank = " ".repeat(width(&self.drawn));
            let _ = write!(std::io::stderr().lock(), "\r{blank}\r");
            let _ = std::io::stderr().flush();
        }
        self.drawn.clear();
    }
}

/// The text of a progress line.
pub fn line(label: &str, done: u64, total: u64, detail: &str) -> String {
    let mut text = format!(
        "{label} [{}] {} / {}",
        bar(done, total, BAR_WIDTH),
        bytes(done),
        bytes(total)
    );
    if !detail.is_empty() {
        text.push_str("  ");
        text.push_str(detail);
    }
    text
}

/// `width` characters, `#` for the part done and `.` for the rest; full when `total`
/// is zero only if `done` is too (nothing to do is done).
pub fn bar(done: u64, total: u64, width: usize) -> String {
    let filled = if total == 0 {
        0
    } else {
        let ratio = done.min(total) as f64 / total as f64;
        (ratio * width as f64).floor() as usize
    };
    format!("{}{}", "#".repeat(filled), ".".repeat(width - filled))
}

/// A byte count for people: `512 B`, `1.5 KiB`, `3.2 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

fn width(text: &str) -> usize {
    text.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_fills_in_proportion_and_never_overflows() {
        assert_eq!(bar(0, 100, 10), "..........");
        assert_eq!(bar(50, 100, 10), "#####.....");
        assert_eq!(bar(99, 100, 10), "#########.");
        assert_eq!(bar(100, 100, 10), "##########");
        assert_eq!(bar(250, 100, 10), "##########");
        assert_eq!(bar(0, 0, 4), "....");
    }

    #[test]
    fn byte_counts_read_naturally() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(5 * 1024 * 1024), "5.0 MiB");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024 + 1), "3.0 GiB");
        assert_eq!(bytes(u64::MAX), "16384.0 PiB");
    }

    #[test]
    fn a_line_shows_label_bar_amounts_and_detail() {
        assert_eq!(
            line("importing", 1024, 4096, "1/4 blobs"),
            format!(
                "importing [{}{}] 1.0 KiB / 4.0 KiB  1/4 blobs",
                "#".repeat(7),
                ".".repeat(23)
            )
        );
        assert!(line("x", 0, 0, "").ends_with("0 B / 0 B"));
    }
}
