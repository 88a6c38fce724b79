//! Writes a polars table as Parquet, CSV, Markdown and an HTML fragment, and renders tables for
//! people: numbers rounded, every text cell escaped, published rows and columns marked.

use std::fs::File;
use std::path::Path;

use anyhow::{Context as _, Result};
use polars::prelude::{AnyValue, Column, CsvWriter, DataFrame, ParquetReader, ParquetWriter, SerReader, SerWriter};

/// The `kind` value of rows that hold published numbers.
pub const PUBLISHED: &str = "published";
/// Suffix of per-attribute columns that hold published numbers.
pub const PUBLISHED_SUFFIX: &str = " (published)";

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes a Markdown table cell: a name from data (a method, a stage) may hold HTML, which a
/// Markdown renderer would interpret; it is shown as text.
fn escape_markdown(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
        .replace('\n', " ")
}

/// p-values keep three significant digits; small ones go scientific.
fn format_p(p: f64) -> String {
    if p == 0.0 {
        "0".into()
    } else if p < 0.001 {
        format!("{p:.2e}")
    } else {
        format!("{p:.3}")
    }
}

/// One cell as people read it (`None` for null).
pub fn cell_text(col: &Column, row: usize) -> Result<Option<String>> {
    let p_value = col.name().as_str().contains("p_value");
    Ok(match col.get(row)? {
        AnyValue::Null => None,
        AnyValue::Boolean(b) => Some(if b { "yes" } else { "no" }.into()),
        AnyValue::String(s) => Some(s.to_string()),
        AnyValue::StringOwned(s) => Some(s.to_string()),
        AnyValue::Float64(v) if p_value => Some(format_p(v)),
        AnyValue::Float64(v) => Some(format!("{v:.2}")),
        AnyValue::Float32(v) => Some(format!("{v:.2}")),
        other => Some(other.to_string()),
    })
}

fn is_published_row(df: &DataFrame, row: usize) -> Result<bool> {
    Ok(match df.column("kind") {
        Ok(kind) => cell_text(kind, row)?.as_deref() == Some(PUBLISHED),
        Err(_) => false,
    })
}

/// A Markdown (GitHub) table.
pub fn markdown(df: &DataFrame) -> Result<String> {
    let cols = df.columns();
    let mut out = String::new();
    out.push('|');
    for c in cols {
        out.push_str(&format!(" {} |", escape_markdown(c.name().as_str())));
    }
    out.push_str("\n|");
    for c in cols {
        let numeric = c.dtype().is_primitive_numeric();
        out.push_str(if numeric { "---:|" } else { "---|" });
    }
    out.push('\n');
    for row in 0..df.height() {
        out.push('|');
        for c in cols {
            let text = cell_text(c, row)?.unwrap_or_else(|| "–".into());
            out.push_str(&format!(" {} |", escape_markdown(&text)));
        }
        out.push('\n');
    }
    Ok(out)
}

/// An HTML `<table>` fragment; rows whose `kind` is `published`, and columns whose name ends in
/// ` (published)`, carry the class `published`.
pub fn html(df: &DataFrame, id: &str) -> Result<String> {
    let cols = df.columns();
    let published_col: Vec<bool> = cols.iter().map(|c| c.name().as_str().ends_with(PUBLISHED_SUFFIX)).collect();
    let mut out = format!("<table class=\"awmt-table\" id=\"{}\">\n<thead><tr>", escape_html(id));
    for (c, &pc) in cols.iter().zip(&published_col) {
        let class = if pc { " class=\"published\"" } else { "" };
        out.push_str(&format!("<th{class}>{}</th>", escape_html(c.name().as_str())));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in 0..df.height() {
        let class = if is_published_row(df, row)? { " class=\"published\"" } else { "" };
        out.push_str(&format!("<tr{class}>"));
        for (c, &pc) in cols.iter().zip(&published_col) {
            let numeric = c.dtype().is_primitive_numeric();
            let mut classes = Vec::new();
            if numeric {
                classes.push("num");
            }
            if pc {
                classes.push("published");
            }
            let attr = if classes.is_empty() { String::new() } else { format!(" class=\"{}\"", classes.join(" ")) };
            let text = cell_text(c, row)?.unwrap_or_else(|| "–".into());
            out.push_str(&format!("<td{attr}>{}</td>", escape_html(&text)));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
    Ok(out)
}

/// Writes `<stem>.parquet`, `<stem>.csv`, `<stem>.md` and `<stem>.html` under `dir`.
pub fn write_all(df: &mut DataFrame, dir: &Path, stem: &str) -> Result<()> {
    let pq = dir.join(format!("{stem}.parquet"));
    ParquetWriter::new(File::create(&pq).with_context(|| format!("creating {}", pq.display()))?)
        .finish(df)
        .with_context(|| format!("writing {}", pq.display()))?;
    let csv = dir.join(format!("{stem}.csv"));
    CsvWriter::new(File::create(&csv).with_context(|| format!("creating {}", csv.display()))?)
        .with_float_precision(Some(4))
        .finish(df)
        .with_context(|| format!("writing {}", csv.display()))?;
    let md = dir.join(format!("{stem}.md"));
    std::fs::write(&md, markdown(df)?).with_context(|| format!("writing {}", md.display()))?;
    let page = dir.join(format!("{stem}.html"));
    std::fs::write(&page, html(df, stem)?).with_context(|| format!("writing {}", page.display()))?;
    Ok(())
}

/// Reads a table written by [`write_all`].
pub fn read(dir: &Path, stem: &str) -> Result<DataFrame> {
    let pq = dir.join(format!("{stem}.parquet"));
    let file = File::open(&pq).with_context(|| format!("opening {}", pq.display()))?;
    ParquetReader::new(file).finish().with_context(|| format!("reading {}", pq.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> DataFrame {
        DataFrame::new_infer_height(vec![
            Column::new("method".into(), ["Moon", "<awmt>"]),
            Column::new("kind".into(), ["published", "measured (synthetic data)"]),
            Column::new("mean_accuracy_pct".into(), [Some(90.94), None]),
            Column::new("p_value".into(), [0.0004321, 0.5]),
        ])
        .unwrap()
    }

    #[test]
    fn markdown_rounds_and_marks_missing() {
        let md = markdown(&frame()).unwrap();
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines[0], "| method | kind | mean_accuracy_pct | p_value |");
        assert_eq!(lines[1], "|---|---|---:|---:|");
        assert_eq!(lines[2], "| Moon | published | 90.94 | 4.32e-4 |");
        assert_eq!(lines[3], "| &lt;awmt&gt; | measured (synthetic data) | – | 0.500 |", "HTML in a name is shown, not rendered");
    }

    #[test]
    fn html_escapes_and_marks_published_rows() {
        let h = html(&frame(), "t1").unwrap();
        assert!(h.contains("<td>&lt;awmt&gt;</td>"), "{h}");
        assert!(!h.contains("<awmt>"));
        assert!(h.contains("<tr class=\"published\"><td>Moon</td>"), "{h}");
        assert_eq!(h.matches("class=\"published\"").count(), 1);
        assert_eq!(h.matches("<tr").count(), 3);
    }
}
