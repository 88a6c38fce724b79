//! User-facing pipeline errors that quote the offending line with a caret, like a compiler.

use std::fmt;
use std::path::{Path, PathBuf};

/// A 1-based position in a pipeline file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

/// One error in a pipeline file.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub pos: Pos,
    /// How many columns the caret underlines (at least 1).
    pub width: usize,
    pub message: String,
    pub help: Option<String>,
    /// The source line at `pos.line`, quoted under the message.
    pub source_line: Option<String>,
}

impl Diagnostic {
    pub fn new(file: &Path, text: &str, pos: Pos, message: impl Into<String>) -> Diagnostic {
        // A position past the end (an unexpected end of file) points just after the last line.
        let lines: Vec<&str> = text.lines().collect();
        let pos = match lines.iter().rposition(|l| !l.trim().is_empty()) {
            Some(last) if pos.line > last + 1 => Pos { line: last + 1, col: lines[last].trim_end().chars().count() + 1 },
            _ => pos,
        };
        let source_line = text.lines().nth(pos.line.saturating_sub(1)).map(|l| l.trim_end_matches('\r').to_string());
        let width = source_line.as_deref().map(|l| token_width(l, pos.col)).unwrap_or(1);
        Diagnostic { file: file.to_path_buf(), pos, width, message: message.into(), help: None, source_line }
    }

    /// An error about a command-line flag (`--set …`): it has no place in the file, so it names
    /// the flag instead (`pos` line 0 marks it).
    pub fn flag(flag: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic { file: PathBuf::from(flag), pos: Pos { line: 0, col: 0 }, width: 1, message: message.into(), help: None, source_line: None }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn with_width(mut self, width: usize) -> Diagnostic {
        self.width = width.max(1);
        self
    }
}

/// Width of the token starting at 1-based column `col`: up to a `:`, `,`, `]`, `}` or the end.
fn token_width(line: &str, col: usize) -> usize {
    let rest: String = line.chars().skip(col.saturating_sub(1)).collect();
    let end = rest
        .char_indices()
        .find(|&(_, c)| matches!(c, ':' | ',' | ']' | '}' | '#'))
        .map(|(i, _)| i)
        .unwrap_or(rest.len());
    rest[..end].trim_end().chars().count().max(1)
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error: {}", self.message)?;
        let gutter = self.pos.line.to_string().len();
        if self.pos.line == 0 {
            writeln!(f, "{:gutter$}--> {}", "", self.file.display())?;
        } else {
            writeln!(f, "{:gutter$}--> {}:{}:{}", "", self.file.display(), self.pos.line, self.pos.col)?;
        }
        if let Some(line) = &self.source_line {
            writeln!(f, "{:gutter$} |", "")?;
            writeln!(f, "{} | {}", self.pos.line, line)?;
            let pad: String = line
                .chars()
                .take(self.pos.col.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            writeln!(f, "{:gutter$} | {}{}", "", pad, "^".repeat(self.width))?;
        }
        if let Some(help) = &self.help {
            writeln!(f, "{:gutter$} = help: {}", "", help)?;
        }
        Ok(())
    }
}

/// All errors found in one pipeline file; loading stops before anything runs.
#[derive(Debug, Clone)]
pub struct PipelineError {
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for PipelineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        if self.diagnostics.len() > 1 {
            writeln!(f, "\n{} errors; nothing was run.", self.diagnostics.len())?;
        }
        Ok(())
    }
}

impl std::error::Error for PipelineError {}

impl From<Diagnostic> for PipelineError {
    fn from(d: Diagnostic) -> Self {
        PipelineError { diagnostics: vec![d] }
    }
}

/// The closest candidate to `word` (for "did you mean"), if any is close enough.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_caret_under_token() {
        let text = "stages:\n  a:\n    outz: [x]\n";
        let d = Diagnostic::new(Path::new("p.yaml"), text, Pos { line: 3, col: 5 }, "unknown key `outz`").with_help("did you mean `outs`?");
        let s = d.to_string();
        assert!(s.contains("--> p.yaml:3:5"), "{s}");
        assert!(s.contains("3 |     outz: [x]"), "{s}");
        assert!(s.contains("  |     ^^^^\n"), "{s}");
        assert!(s.contains("help: did you mean `outs`?"), "{s}");
    }

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(suggest("outz", ["outs", "deps", "cmd"]), Some("outs"));
        assert_eq!(suggest("zzzz", ["outs", "deps", "cmd"]), None);
    }
}
