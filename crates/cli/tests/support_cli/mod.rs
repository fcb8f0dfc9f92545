//! Test support for the `berth` client: runs the binary as a person would, with what it
//! reads on standard input, and holds the checks every client test makes on a finished
//! run — the exit status, a quiet stderr on success, one `berth: ` line on failure — and
//! readers for its JSON and table output.

#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

/// Runs `command` (its program, arguments and environment already set), writes `stdin`
/// to it and waits for it to finish.
pub fn run(mut command: Command, stdin: &str) -> Run {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the client");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.as_bytes()).expect("write stdin");
    drop(input);
    let output = child.wait_with_output().expect("the client runs");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(output.stderr).expect("utf-8 stderr"),
    }
}

/// One finished client process.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Exit 0; stderr may carry advice such as "save the secret now".
    pub fn ok(self) -> Run {
        assert_eq!(self.code, Some(0), "expected success: {self:#?}");
        self
    }

    /// Exit 0 with nothing on stderr: a listing or a plain change has nothing to warn of.
    pub fn quiet(self) -> Run {
        let run = self.ok();
        assert_eq!(run.stderr, "", "a success prints nothing on stderr");
        run
    }

    /// Exit 1 with one `berth: ` line on stderr and nothing on stdout.
    pub fn failed(self) -> Run {
        assert_eq!(self.code, Some(1), "expected exit status 1: {self:#?}");
        assert!(self.stderr.starts_with("berth: "), "{self:#?}");
        assert_eq!(self.stderr.lines().count(), 1, "{self:#?}");
        assert_eq!(self.stdout, "", "{self:#?}");
        self
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|err| panic!("stdout is not JSON ({err}): {self:#?}"))
    }

    /// A table's cells: the header row, then one row per line after the rule. Cells are
    /// cut at the columns where the header's titles start, so empty cells stay empty.
    pub fn table(&self) -> Vec<Vec<String>> {
        let lines: Vec<&str> = self.stdout.lines().collect();
        assert!(
            lines.len() >= 2,
            "a table has a header and a rule: {self:#?}"
        );
        let header: Vec<char> = lines[0].chars().collect();
        let mut starts = vec![0];
        for i in 2..header.len() {
            if header[i] != ' ' && header[i - 1] == ' ' && header[i - 2] == ' ' {
                starts.push(i);
            }
        }
        assert!(
            lines[1].chars().all(|c| c == '-' || c == ' '),
            "the second line is the rule: {self:#?}"
        );
        let cut = |line: &str| -> Vec<String> {
            let chars: Vec<char> = line.chars().collect();
            starts
                .iter()
                .enumerate()
                .map(|(n, &start)| {
                    let end = starts.get(n + 1).copied().unwrap_or(chars.len());
                    let end = end.min(chars.len());
                    let start = start.min(end);
                    chars[start..end]
                        .iter()
                        .collect::<String>()
                        .trim()
                        .to_string()
                })
                .collect()
        };
        std::iter::once(lines[0])
            .chain(lines[2..].iter().copied())
            .map(cut)
            .collect()
    }
}
