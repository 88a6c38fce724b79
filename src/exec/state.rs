//! What awmt says about a stage, as types: [`Status`] (in the cache: `awmt status`, `awmt dag
//! --status`, `gc`) and [`Outcome`] (how a run ended it: the scheduler, the progress lines and
//! `awmt run --json`). Each serializes to, and prints as, the word the JSON and text outputs have
//! always used (`never_run`, `would_run`, ...), so the types change no output byte.

use std::fmt;

use serde::Serialize;

/// A stage's state in the cache, without running anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Its key is cached and the entry is undamaged.
    Fresh,
    /// It ran before, and something it depends on changed (or its entry went away).
    Stale,
    /// No run ever recorded it.
    NeverRun,
}

impl Status {
    /// The word of the JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Fresh => "fresh",
            Status::Stale => "stale",
            Status::NeverRun => "never_run",
        }
    }

    /// The words of the text outputs (`never run`).
    pub fn label(self) -> &'static str {
        match self {
            Status::NeverRun => "never run",
            other => other.as_str(),
        }
    }
}

/// How a run ended a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ran,
    Cached,
    Failed,
    /// Not started: an upstream stage failed, or the run stopped.
    Skipped,
    /// A dry run: it would run.
    WouldRun,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ran => "ran",
            Outcome::Cached => "cached",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
            Outcome::WouldRun => "would_run",
        }
    }

    /// Whether the stage's processes ran in this run (so its time and usage were measured).
    pub fn ran(self) -> bool {
        matches!(self, Outcome::Ran | Outcome::Failed)
    }

    /// Whether the run went as asked for this stage.
    pub fn ok(self) -> bool {
        matches!(self, Outcome::Ran | Outcome::Cached | Outcome::WouldRun)
    }
}

/// Prints the JSON word; honours width and alignment (`{:<9}`).
impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_the_json_and_text_outputs() {
        let json = serde_json::to_string(&[Status::Fresh, Status::Stale, Status::NeverRun]).unwrap();
        assert_eq!(json, r#"["fresh","stale","never_run"]"#);
        let json = serde_json::to_string(&[Outcome::Ran, Outcome::Cached, Outcome::Failed, Outcome::Skipped, Outcome::WouldRun]).unwrap();
        assert_eq!(json, r#"["ran","cached","failed","skipped","would_run"]"#);
        assert_eq!(Status::NeverRun.label(), "never run");
        assert_eq!(format!("[{:<9}]", Outcome::Ran), "[ran      ]");
        assert_eq!(Outcome::WouldRun.to_string(), "would_run");
    }
}
