//! The published numbers of the paper's Tables 1 and 2 and the per-attribute CelebA accuracies of
//! earlier methods (the project's copy in `baselines/`, compiled in), or the same files from a
//! directory given to `compare` as its `baselines` input.

use std::path::Path;

use anyhow::{bail, Context as _, Result};

pub const TABLE1_FILE: &str = "celeba_table1_reported.csv";
pub const TABLE2_FILE: &str = "market_duke_table2_reported.csv";
pub const PER_ATTRIBUTE_FILE: &str = "celeba_per_attribute_reported.csv";
pub const PER_ATTRIBUTE_SOURCES_FILE: &str = "celeba_per_attribute_sources.csv";

const EMBEDDED: [(&str, &str); 4] = [
    (TABLE1_FILE, include_str!("../../baselines/celeba_table1_reported.csv")),
    (TABLE2_FILE, include_str!("../../baselines/market_duke_table2_reported.csv")),
    (PER_ATTRIBUTE_FILE, include_str!("../../baselines/celeba_per_attribute_reported.csv")),
    (PER_ATTRIBUTE_SOURCES_FILE, include_str!("../../baselines/celeba_per_attribute_sources.csv")),
];

/// One published mean (Table 1, CelebA).
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedMean {
    pub method: String,
    /// Percent.
    pub mean_accuracy: f64,
    pub source: String,
}

/// One published row of Table 2 (percent; `None` where the method has no number).
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedPedestrian {
    pub method: String,
    pub market: Option<f64>,
    pub duke: Option<f64>,
    pub source: String,
}

/// Published per-attribute CelebA accuracies (percent).
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedPerAttribute {
    pub methods: Vec<String>,
    pub sources: Vec<String>,
    /// `(attribute, one value per method)`.
    pub rows: Vec<(String, Vec<f64>)>,
}

impl PublishedPerAttribute {
    /// The accuracy of `method` on `attribute`.
    pub fn get(&self, method: &str, attribute: &str) -> Option<f64> {
        let m = self.methods.iter().position(|x| x == method)?;
        self.rows.iter().find(|(a, _)| a == attribute).map(|(_, v)| v[m])
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Baselines {
    pub table1: Vec<PublishedMean>,
    pub table2: Vec<PublishedPedestrian>,
    pub per_attribute: PublishedPerAttribute,
}

/// Splits one CSV line into fields (double quotes group, `""` is a quote).
fn split_csv_line(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    fields.push(field);
    fields
}

/// Header and rows of a small CSV file; every row must have the header's width.
fn parse_csv(name: &str, text: &str) -> Result<(Vec<String>, Vec<(usize, Vec<String>)>)> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else { bail!("{name}: empty file") };
    let header = split_csv_line(header.trim_end_matches('\r'));
    let mut rows = Vec::new();
    for (i, line) in lines {
        let fields = split_csv_line(line.trim_end_matches('\r'));
        if fields.len() != header.len() {
            bail!("{name}: line {}: {} fields, the header has {}", i + 1, fields.len(), header.len());
        }
        rows.push((i + 1, fields));
    }
    Ok((header, rows))
}

fn column(name: &str, header: &[String], col: &str) -> Result<usize> {
    header.iter().position(|h| h == col).with_context(|| format!("{name}: no column `{col}`"))
}

fn number(name: &str, line: usize, text: &str) -> Result<Option<f64>> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    text.trim()
        .parse::<f64>()
        .map(Some)
        .map_err(|_| anyhow::anyhow!("{name}: line {line}: `{text}` is not a number (percent)"))
}

impl Baselines {
    /// The project's copy, compiled into the binary.
    pub fn embedded() -> Result<Baselines> {
        Self::from_texts(|file| {
            Ok(EMBEDDED.iter().find(|(f, _)| *f == file).map(|(_, t)| t.to_string()).unwrap_or_default())
        })
    }

    /// The same four files from `dir`.
    pub fn load_dir(dir: &Path) -> Result<Baselines> {
        Self::from_texts(|file| {
            let path = dir.join(file);
            std::fs::read_to_string(&path)
                .with_context(|| format!("reading {} (the baselines input needs {file})", path.display()))
        })
    }

    /// blake3 of the embedded files, pinned by a test so that editing them forces a version bump.
    pub fn embedded_digest() -> String {
        let mut h = blake3::Hasher::new();
        for (file, text) in EMBEDDED {
            h.update(file.as_bytes());
            h.update(&[0]);
            h.update(text.as_bytes());
            h.update(&[0]);
        }
        h.finalize().to_hex().to_string()
    }

    fn from_texts(read: impl Fn(&str) -> Result<String>) -> Result<Baselines> {
        let (h, rows) = parse_csv(TABLE1_FILE, &read(TABLE1_FILE)?)?;
        let (m, a, s) = (
            column(TABLE1_FILE, &h, "method")?,
            column(TABLE1_FILE, &h, "mean_accuracy")?,
            column(TABLE1_FILE, &h, "source")?,
        );
        let mut table1 = Vec::new();
        for (line, r) in rows {
            let Some(mean) = number(TABLE1_FILE, line, &r[a])? else {
                bail!("{TABLE1_FILE}: line {line}: no mean_accuracy")
            };
            table1.push(PublishedMean { method: r[m].clone(), mean_accuracy: mean, source: r[s].clone() });
        }

        let (h, rows) = parse_csv(TABLE2_FILE, &read(TABLE2_FILE)?)?;
        let (m, mk, dk, s) = (
            column(TABLE2_FILE, &h, "method")?,
            column(TABLE2_FILE, &h, "market1501_mean_accuracy")?,
            column(TABLE2_FILE, &h, "duke_mean_accuracy")?,
            column(TABLE2_FILE, &h, "source")?,
        );
        let mut table2 = Vec::new();
        for (line, r) in rows {
            table2.push(PublishedPedestrian {
                method: r[m].clone(),
                market: number(TABLE2_FILE, line, &r[mk])?,
                duke: number(TABLE2_FILE, line, &r[dk])?,
                source: r[s].clone(),
            });
        }

        let (h, rows) = parse_csv(PER_ATTRIBUTE_FILE, &read(PER_ATTRIBUTE_FILE)?)?;
        if h.first().map(String::as_str) != Some("attribute") {
            bail!("{PER_ATTRIBUTE_FILE}: the first column must be `attribute`");
        }
        let methods: Vec<String> = h[1..].to_vec();
        let mut per_rows = Vec::new();
        for (line, r) in rows {
            let mut values = Vec::with_capacity(methods.len());
            for text in &r[1..] {
                let Some(v) = number(PER_ATTRIBUTE_FILE, line, text)? else {
                    bail!("{PER_ATTRIBUTE_FILE}: line {line}: empty value")
                };
                values.push(v);
            }
            per_rows.push((r[0].clone(), values));
        }
        let (h, rows) = parse_csv(PER_ATTRIBUTE_SOURCES_FILE, &read(PER_ATTRIBUTE_SOURCES_FILE)?)?;
        let (m, s) =
            (column(PER_ATTRIBUTE_SOURCES_FILE, &h, "method")?, column(PER_ATTRIBUTE_SOURCES_FILE, &h, "source")?);
        let mut sources = Vec::with_capacity(methods.len());
        for method in &methods {
            let Some((_, r)) = rows.iter().find(|(_, r)| &r[m] == method) else {
                bail!("{PER_ATTRIBUTE_SOURCES_FILE}: no source for per-attribute method `{method}`");
            };
            sources.push(r[s].clone());
        }
        Ok(Baselines { table1, table2, per_attribute: PublishedPerAttribute { methods, sources, rows: per_rows } })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_copy_parses_with_known_values() {
        let b = Baselines::embedded().unwrap();
        assert_eq!(b.table1.len(), 12);
        let awmt = b.table1.iter().find(|r| r.method == "AWMT (paper)").unwrap();
        assert_eq!(awmt.mean_accuracy, 91.80);
        assert!(b.table1[1].source.contains("79.85"), "quoted commas survive");
        assert_eq!(b.table2.len(), 5);
        assert_eq!(b.table2[4].market, Some(88.49));
        assert_eq!(b.table2[4].duke, Some(87.53));
        assert_eq!(b.per_attribute.rows.len(), 40);
        assert_eq!(b.per_attribute.get("Moon", "Bald"), Some(98.77));
        assert_eq!(b.per_attribute.get("MCNN-AUX", "Young"), Some(88.48));
        assert_eq!(b.per_attribute.methods.len(), b.per_attribute.sources.len());
    }

    #[test]
    fn embedded_baselines_are_pinned() {
        // Editing baselines/ changes what `compare` outputs for the same inputs: bump
        // `Compare::version()` in src/stages/compare.rs, then update this digest.
        assert_eq!(Baselines::embedded_digest(), "cf7874cdcfc852d59a6c2b867633507f6baf62a400fbe5bb5d6854daa8819e09");
    }

    #[test]
    fn bad_files_name_the_line() {
        let err = parse_csv("x.csv", "a,b\n1,2\n1,2,3\n").unwrap_err();
        assert!(err.to_string().contains("line 3"), "{err}");
        assert!(number("x.csv", 4, "9o").unwrap_err().to_string().contains("line 4"));
    }
}
