//! Plain tables for `awmt runs`, `exp show` and `diff`: aligned text that fits a terminal width
//! (long cells shortened with `…`, columns that still do not fit left out and counted), CSV and
//! Markdown.

pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Columns `text` never shortens (ids a user copies into another command).
    pub whole: Vec<usize>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table { header: header.iter().map(|h| h.to_string()).collect(), rows: Vec::new(), whole: Vec::new() }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The width of `text` with nothing shortened.
    pub fn width(&self) -> usize {
        let len = |s: &str| s.chars().count();
        let widths: Vec<usize> = (0..self.header.len())
            .map(|c| std::iter::once(&self.header[c]).chain(self.rows.iter().filter_map(|r| r.get(c))).map(|s| len(s)).max().unwrap_or(0))
            .collect();
        widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1)
    }

    /// Aligned columns, two spaces apart. Unless `wide`, cells are shortened (longest first, but
    /// never those of `whole` columns, down to 15 characters, which keeps `0.1234 ± 0.0012` whole) until the table fits `width`, then the rightmost columns that still do
    /// not fit are left out, with a last line saying how many.
    pub fn text(&self, width: usize, wide: bool) -> String {
        let ncol = self.header.len();
        let len = |s: &str| s.chars().count();
        let natural: Vec<usize> =
            (0..ncol).map(|c| std::iter::once(&self.header[c]).chain(self.rows.iter().filter_map(|r| r.get(c))).map(|s| len(s)).max().unwrap_or(0)).collect();
        let mut widths = natural.clone();
        let total = |w: &[usize]| w.iter().sum::<usize>() + 2 * w.len().saturating_sub(1);
        if !wide {
            while total(&widths) > width {
                let Some((c, &w)) = widths.iter().enumerate().filter(|(c, _)| !self.whole.contains(c)).max_by_key(|(_, w)| **w) else { break };
                if w <= 15 {
                    break;
                }
                widths[c] = w - 1;
            }
        }
        let mut shown = ncol;
        if !wide {
            while shown > 1 && total(&widths[..shown]) > width {
                shown -= 1;
            }
        }
        let fit = |s: &str, w: usize| -> String {
            if len(s) <= w {
                s.to_string()
            } else {
                let mut t: String = s.chars().take(w.saturating_sub(1)).collect();
                t.push('…');
                t
            }
        };
        let line = |cells: &[String]| -> String {
            let parts: Vec<String> = (0..shown).map(|c| format!("{:<w$}", fit(cells.get(c).map(String::as_str).unwrap_or(""), widths[c]), w = widths[c])).collect();
            parts.join("  ").trim_end().to_string() + "\n"
        };
        let mut out = line(&self.header);
        for r in &self.rows {
            out += &line(r);
        }
        if shown < ncol {
            out += &format!("({} more column(s) left out to fit {width} characters: {}; --wide shows all)\n", ncol - shown, self.header[shown..].join(", "));
        }
        out
    }

    pub fn csv(&self) -> String {
        let cell = |s: &str| if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() };
        let line = |cells: &[String]| cells.iter().map(|c| cell(c)).collect::<Vec<_>>().join(",") + "\n";
        let mut out = line(&self.header);
        for r in &self.rows {
            out += &line(r);
        }
        out
    }

    pub fn markdown(&self) -> String {
        let line = |cells: &[String]| format!("| {} |\n", cells.iter().map(|c| c.replace('|', "\\|")).collect::<Vec<_>>().join(" | "));
        let mut out = line(&self.header);
        out += &format!("|{}\n", "---|".repeat(self.header.len()));
        for r in &self.rows {
            out += &line(r);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_fits_the_width_by_shortening_then_leaving_out_columns() {
        let mut t = Table::new(&["name", "value"]);
        t.row(vec!["a".repeat(60), "b".repeat(60)]);
        let out = t.text(100, false);
        assert!(out.lines().all(|l| l.chars().count() <= 100), "{out}");
        assert!(out.contains('…'));
        assert!(t.text(100, true).contains(&"b".repeat(60)));
        let mut many = Table::new(&["c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "c10"]);
        many.row((0..10).map(|_| "x".repeat(12)).collect());
        let out = many.text(60, false);
        assert!(out.lines().all(|l| l.chars().count() <= 100), "{out}");
        assert!(out.contains("more column(s) left out"), "{out}");
    }

    #[test]
    fn csv_quotes_and_markdown_escapes() {
        let mut t = Table::new(&["a", "b"]);
        t.row(vec!["x,y".into(), "p|q".into()]);
        assert_eq!(t.csv(), "a,b\n\"x,y\",p|q\n");
        assert!(t.markdown().contains("p\\|q"));
    }
}
