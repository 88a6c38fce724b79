//! Line-oriented reading of the plain-text annotation files: CRLF or LF, with or without a final
//! newline, every problem reported with the file name and the 1-based line number.

use std::path::Path;

use anyhow::{bail, Context as _, Result};

/// A text file split into lines (without their `\r\n` / `\n`), trailing blank lines dropped.
#[derive(Debug)]
pub struct TextLines {
    /// How the file is named in messages (its path as given).
    pub file: String,
    lines: Vec<String>,
}

impl TextLines {
    pub fn read(path: &Path) -> Result<TextLines> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        Self::from_bytes(&bytes, &path.display().to_string())
    }

    pub fn from_bytes(bytes: &[u8], file: &str) -> Result<TextLines> {
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let line = bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count() + 1;
                bail!("{file}:{line}: not a text file (invalid UTF-8); is this the right annotation file?")
            }
        };
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines: Vec<String> = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l).to_string()).collect();
        while lines.last().is_some_and(|l| l.trim().is_empty()) {
            lines.pop();
        }
        Ok(TextLines { file: file.to_string(), lines })
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// `(1-based line number, line)` pairs starting at 0-based index `from`.
    pub fn numbered(&self, from: usize) -> impl Iterator<Item = (usize, &str)> {
        self.lines.iter().enumerate().skip(from).map(|(i, l)| (i + 1, l.as_str()))
    }

    pub fn line(&self, index: usize) -> Option<&str> {
        self.lines.get(index).map(|s| s.as_str())
    }

    /// An error located at 1-based `line`.
    pub fn error(&self, line: usize, message: impl std::fmt::Display) -> anyhow::Error {
        anyhow::anyhow!("{}:{line}: {message}", self.file)
    }
}

/// Checks that an image name from an annotation file is a plain file name (no directories), so
/// that nothing outside the image folder can be named.
pub fn check_file_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\\') {
        return Err(format!("`{name}` is not a plain image file name"));
    }
    Ok(())
}
