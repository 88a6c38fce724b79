//! What `awmt run` shows while it works: progress bars on a terminal, one plain line per finished
//! stage otherwise, nothing but failures with `--quiet`.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::scheduler::StageOutcome;
use super::Outcome;

pub struct Progress {
    quiet: bool,
    bars: Option<MultiProgress>,
    overall: Option<ProgressBar>,
    running: HashMap<usize, ProgressBar>,
    total: usize,
    finished: usize,
}

impl Progress {
    /// Bars when stderr is a terminal and not quiet; plain lines otherwise.
    pub fn new(quiet: bool) -> Progress {
        let bars = (!quiet && std::io::stderr().is_terminal()).then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Progress { quiet, bars, overall: None, running: HashMap::new(), total: 0, finished: 0 }
    }

    pub fn begin(&mut self, total: usize) {
        self.total = total;
        if let Some(m) = &self.bars {
            let bar = m.add(ProgressBar::new(total as u64));
            bar.set_style(ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} stages {msg}").unwrap_or_else(|_| ProgressStyle::default_bar()));
            self.overall = Some(bar);
        }
    }

    pub fn start(&mut self, index: usize, name: &str, kind: &str) {
        if let Some(m) = &self.bars {
            let bar = m.insert_from_back(1, ProgressBar::new_spinner());
            bar.set_style(ProgressStyle::with_template("  {spinner} {msg} {elapsed}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
            bar.set_message(format!("{name} ({kind})"));
            bar.enable_steady_tick(Duration::from_millis(120));
            // A retried stage starts again: its failed attempt's spinner goes.
            if let Some(old) = self.running.insert(index, bar) {
                old.finish_and_clear();
            }
        }
    }

    pub fn set_state(&mut self, line: &str) {
        if let Some(o) = &self.overall {
            o.set_message(line.to_string());
        }
    }

    pub fn message(&mut self, msg: &str) {
        match &self.bars {
            Some(m) => {
                let _ = m.println(msg);
            }
            None if !self.quiet => eprintln!("{msg}"),
            None => {}
        }
    }

    pub fn finish(&mut self, o: &StageOutcome) {
        self.finished += 1;
        if let Some(idx) = self.running.iter().find(|(_, b)| b.message().starts_with(&format!("{} (", o.name))).map(|(i, _)| *i) {
            if let Some(bar) = self.running.remove(&idx) {
                bar.finish_and_clear();
            }
        }
        let secs = if o.status.ran() { format!(" {}", crate::util::human_duration(o.seconds)) } else { String::new() };
        let width = self.total.to_string().len();
        let on = o.gpus.as_deref().map(|g| format!(" on GPU {g}")).unwrap_or_default();
        let line = format!("[{:>width$}/{}] {:<9} {}{secs}{on}", self.finished, self.total, o.status, o.name);
        let failed = o.status == Outcome::Failed;
        if !self.quiet || failed {
            match &self.bars {
                Some(m) => {
                    let _ = m.println(&line);
                }
                None => eprintln!("{line}"),
            }
        }
        if failed {
            let mut detail = String::new();
            if let Some(e) = &o.error {
                detail.push_str(&format!("  error: {e}\n"));
            }
            if let Some(log) = &o.log {
                if let Ok(text) = std::fs::read_to_string(log) {
                    let lines: Vec<&str> = text.lines().collect();
                    let tail = &lines[lines.len().saturating_sub(20)..];
                    if !tail.is_empty() {
                        detail.push_str(&format!("  last {} lines of the log:\n", tail.len()));
                        for l in tail {
                            detail.push_str(&format!("  | {l}\n"));
                        }
                    }
                    detail.push_str(&format!("  full log: {}\n", log.display()));
                }
            }
            match &self.bars {
                Some(m) => {
                    let _ = m.println(detail.trim_end());
                }
                None => eprint!("{detail}"),
            }
        }
        if let Some(o) = &self.overall {
            o.inc(1);
        }
    }

    pub fn end(&mut self) {
        for (_, b) in self.running.drain() {
            b.finish_and_clear();
        }
        if let Some(o) = self.overall.take() {
            o.finish_and_clear();
        }
    }
}
