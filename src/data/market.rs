//! Reads the Market-1501 and DukeMTMC-reID attribute releases (`*_attribute.mat` + the
//! `bounding_box_*` folders), applies the official 12 / 10-attribute protocols, and carves an
//! identity-disjoint validation set out of the training identities.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};

use super::matfile::{read_mat, MatValue};
use crate::rng::Rng;
use super::tasks::{LabelTable, Task, TaskSet};

/// Which of the two pedestrian releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PedFormat {
    Market,
    Duke,
}

/// How one evaluated task is read from the raw fields.
#[derive(Debug, Clone, Copy)]
pub enum TaskDef {
    /// A 1/2 field: 1 → −1, 2 → +1 (0 → masked).
    Binary { name: &'static str, field: &'static str },
    /// A 1..=C field: value k → class k−1 (0 → masked).
    Ordinal { name: &'static str, field: &'static str, classes: &'static [&'static str] },
    /// One 1/2 ("no"/"yes") field per class: exactly one "yes" → that class, otherwise masked.
    Colour { name: &'static str, fields: &'static [&'static str], classes: &'static [&'static str] },
}

impl TaskDef {
    pub fn name(&self) -> &'static str {
        match self {
            TaskDef::Binary { name, .. } | TaskDef::Ordinal { name, .. } | TaskDef::Colour { name, .. } => name,
        }
    }
    pub fn task(&self) -> Task {
        match self {
            TaskDef::Binary { name, .. } => Task::binary(name),
            TaskDef::Ordinal { name, classes, .. } | TaskDef::Colour { name, classes, .. } => Task::multiclass(name, classes),
        }
    }
}

const MARKET_UP: [&str; 8] = ["upblack", "upwhite", "upred", "uppurple", "upyellow", "upgray", "upblue", "upgreen"];
const MARKET_DOWN: [&str; 9] =
    ["downblack", "downwhite", "downpink", "downpurple", "downyellow", "downgray", "downblue", "downgreen", "downbrown"];
const DUKE_UP: [&str; 8] = ["upblack", "upwhite", "upred", "uppurple", "upgray", "upblue", "upgreen", "upbrown"];
const DUKE_DOWN: [&str; 7] = ["downblack", "downwhite", "downred", "downgray", "downblue", "downgreen", "downbrown"];

const MARKET_TASKS: [TaskDef; 12] = [
    TaskDef::Binary { name: "gender", field: "gender" },
    TaskDef::Ordinal { name: "age", field: "age", classes: &["young", "teenager", "adult", "old"] },
    TaskDef::Binary { name: "hair", field: "hair" },
    TaskDef::Binary { name: "up", field: "up" },
    TaskDef::Binary { name: "down", field: "down" },
    TaskDef::Binary { name: "clothes", field: "clothes" },
    TaskDef::Binary { name: "backpack", field: "backpack" },
    TaskDef::Binary { name: "handbag", field: "handbag" },
    TaskDef::Binary { name: "bag", field: "bag" },
    TaskDef::Binary { name: "hat", field: "hat" },
    TaskDef::Colour {
        name: "upcolor",
        fields: &MARKET_UP,
        classes: &["black", "white", "red", "purple", "yellow", "gray", "blue", "green"],
    },
    TaskDef::Colour {
        name: "downcolor",
        fields: &MARKET_DOWN,
        classes: &["black", "white", "pink", "purple", "yellow", "gray", "blue", "green", "brown"],
    },
];

const DUKE_TASKS: [TaskDef; 10] = [
    TaskDef::Binary { name: "gender", field: "gender" },
    TaskDef::Binary { name: "hat", field: "hat" },
    TaskDef::Binary { name: "boots", field: "boots" },
    TaskDef::Binary { name: "top", field: "top" },
    TaskDef::Binary { name: "backpack", field: "backpack" },
    TaskDef::Binary { name: "handbag", field: "handbag" },
    TaskDef::Binary { name: "bag", field: "bag" },
    TaskDef::Binary { name: "shoes", field: "shoes" },
    TaskDef::Colour {
        name: "upcolor",
        fields: &DUKE_UP,
        classes: &["black", "white", "red", "purple", "gray", "blue", "green", "brown"],
    },
    TaskDef::Colour { name: "downcolor", fields: &DUKE_DOWN, classes: &["black", "white", "red", "gray", "blue", "green", "brown"] },
];

/// Market's 27 raw attribute fields (the names in `market_attribute.mat`).
pub const MARKET_FIELDS: [&str; 27] = [
    "gender", "hair", "up", "down", "clothes", "hat", "backpack", "bag", "handbag", "age", "upblack", "upwhite", "upred",
    "uppurple", "upyellow", "upgray", "upblue", "upgreen", "downblack", "downwhite", "downpink", "downpurple",
    "downyellow", "downgray", "downblue", "downgreen", "downbrown",
];

/// Duke's 23 raw attribute fields.
pub const DUKE_FIELDS: [&str; 23] = [
    "gender", "top", "boots", "hat", "backpack", "bag", "handbag", "shoes", "upblack", "upwhite", "upred", "uppurple",
    "upgray", "upblue", "upgreen", "upbrown", "downblack", "downwhite", "downred", "downgray", "downblue", "downgreen",
    "downbrown",
];

impl PedFormat {
    pub fn parse(name: &str) -> Option<PedFormat> {
        match name {
            "market" => Some(PedFormat::Market),
            "duke" => Some(PedFormat::Duke),
            _ => None,
        }
    }
    pub fn name(&self) -> &'static str {
        match self {
            PedFormat::Market => "market",
            PedFormat::Duke => "duke",
        }
    }
    /// The MATLAB variable (and file stem) of the attribute file.
    pub fn variable(&self) -> &'static str {
        match self {
            PedFormat::Market => "market_attribute",
            PedFormat::Duke => "duke_attribute",
        }
    }
    pub fn mat_file(&self) -> String {
        format!("{}.mat", self.variable())
    }
    /// The evaluated tasks in protocol order (12 for Market, 10 for Duke).
    pub fn task_defs(&self) -> &'static [TaskDef] {
        match self {
            PedFormat::Market => &MARKET_TASKS,
            PedFormat::Duke => &DUKE_TASKS,
        }
    }
    /// Every raw attribute field of the release.
    pub fn raw_fields(&self) -> &'static [&'static str] {
        match self {
            PedFormat::Market => &MARKET_FIELDS,
            PedFormat::Duke => &DUKE_FIELDS,
        }
    }
    pub fn task_set(&self, source: &str, root: &str) -> TaskSet {
        TaskSet { format: self.name().into(), source: source.into(), root: root.into(), tasks: self.task_defs().iter().map(TaskDef::task).collect() }
    }
}

/// The labels of one annotated identity.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentityLabels {
    /// The id string of `image_index` (`"0002"`).
    pub id: String,
    pub identity: i64,
    /// Raw values in the order of [`PedFormat::raw_fields`].
    pub raw: Vec<u8>,
    /// One label per evaluated task (protocol order); None = masked.
    pub labels: Vec<Option<i32>>,
    /// For colour tasks, the 0-based classes marked "yes" (any of them counts as correct in
    /// evaluation); None for other tasks.
    pub marked: Vec<Option<Vec<usize>>>,
}

/// `train` and `test` of an attribute file.
#[derive(Debug, Clone)]
pub struct PedAnnotations {
    pub format: PedFormat,
    pub train: Vec<IdentityLabels>,
    pub test: Vec<IdentityLabels>,
}

impl PedAnnotations {
    pub fn load(path: &Path, format: PedFormat) -> Result<PedAnnotations> {
        let file = read_mat(path)?;
        let var = format.variable();
        let shown = path.display();
        let Some(top) = file.get(var) else {
            bail!(
                "{shown}: no variable `{var}` (found: {}); is this the {} attribute file?",
                file.variables.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", "),
                format.name()
            )
        };
        let split = |name: &str| -> Result<Vec<IdentityLabels>> {
            let Some(s) = top.field(name) else { bail!("{shown}: `{var}` has no 1×1 sub-struct `{name}` (it is a {})", top.kind()) };
            read_split(s, format, &format!("{shown}: {var}.{name}"))
        };
        Ok(PedAnnotations { format, train: split("train")?, test: split("test")? })
    }
}

fn read_split(s: &MatValue, format: PedFormat, at: &str) -> Result<Vec<IdentityLabels>> {
    let index = match s.field("image_index") {
        Some(MatValue::Cell { items, .. }) => items
            .iter()
            .enumerate()
            .map(|(k, v)| match v {
                MatValue::Char { text, .. } => Ok(text.trim().to_string()),
                other => bail!("{at}.image_index{{{}}} is a {}, expected a char array", k + 1, other.kind()),
            })
            .collect::<Result<Vec<String>>>()?,
        Some(other) => bail!("{at}.image_index is a {}, expected a cell array of id strings", other.kind()),
        None => bail!("{at} has no field `image_index`"),
    };
    let n = index.len();
    let mut columns: Vec<Vec<u8>> = Vec::with_capacity(format.raw_fields().len());
    for field in format.raw_fields() {
        let data = match s.field(field) {
            Some(MatValue::Numeric { data, .. }) => data,
            Some(other) => bail!("{at}.{field} is a {}, expected a numeric vector", other.kind()),
            None => bail!("{at} has no field `{field}`; is this the {} attribute file?", format.name()),
        };
        if data.len() != n {
            bail!("{at}.{field} has {} values but image_index lists {n} identities", data.len());
        }
        let mut col = Vec::with_capacity(n);
        for (k, v) in data.iter().enumerate() {
            if v.fract() != 0.0 || !(0.0..=255.0).contains(v) {
                bail!("{at}.{field}({}) (identity {}) is {v}, expected a small integer code", k + 1, index[k]);
            }
            col.push(*v as u8);
        }
        columns.push(col);
    }
    let col_of = |field: &str| format.raw_fields().iter().position(|f| *f == field).unwrap_or(0);
    let mut seen = HashMap::new();
    let mut out = Vec::with_capacity(n);
    for (k, id) in index.iter().enumerate() {
        let identity: i64 = id.parse().map_err(|_| anyhow::anyhow!("{at}.image_index{{{}}} is `{id}`, not a numeric identity", k + 1))?;
        if let Some(first) = seen.insert(identity, k) {
            bail!("{at}.image_index lists identity {id} twice (entries {} and {})", first + 1, k + 1);
        }
        let raw: Vec<u8> = columns.iter().map(|c| c[k]).collect();
        let mut labels = Vec::new();
        let mut marked = Vec::new();
        for def in format.task_defs() {
            let bad = |field: &str, v: u8, want: &str| anyhow::anyhow!("{at}.{field}({}) (identity {id}) is {v}, expected {want}", k + 1);
            match def {
                TaskDef::Binary { field, .. } => {
                    let field: &str = field;
                    let v = raw[col_of(field)];
                    labels.push(match v {
                        1 => Some(-1),
                        2 => Some(1),
                        0 => None, // Duke's `top == 0` anomaly: unknown, masked
                        _ => return Err(bad(field, v, "1 or 2 (0 = unknown)")),
                    });
                    marked.push(None);
                }
                TaskDef::Ordinal { field, classes, .. } => {
                    let field: &str = field;
                    let v = raw[col_of(field)];
                    labels.push(match v as usize {
                        0 => None,
                        c if c <= classes.len() => Some(c as i32 - 1),
                        _ => return Err(bad(field, v, &format!("1..={} (0 = unknown)", classes.len()))),
                    });
                    marked.push(None);
                }
                TaskDef::Colour { fields, .. } => {
                    let mut yes = Vec::new();
                    for (c, field) in fields.iter().enumerate() {
                        let field: &str = field;
                        match raw[col_of(field)] {
                            2 => yes.push(c),
                            0 | 1 => {}
                            v => return Err(bad(field, v, "1 (no) or 2 (yes)")),
                        }
                    }
                    labels.push(if yes.len() == 1 { Some(yes[0] as i32) } else { None });
                    marked.push(Some(yes));
                }
            }
        }
        out.push(IdentityLabels { id: id.clone(), identity, raw, labels, marked });
    }
    Ok(out)
}

/// Identity of an image file named `PPPP_…` (Market `0002_c1s1_000451_03.jpg`, Duke
/// `0001_c2_f0046182.jpg`); None when the name has no numeric prefix.
pub fn identity_of(file_name: &str) -> Option<i64> {
    let prefix = file_name.split('_').next()?;
    if file_name.len() == prefix.len() {
        return None;
    }
    prefix.parse().ok()
}

fn is_image(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".jpg") || lower.ends_with(".jpeg") || lower.ends_with(".png")
}

/// Image files of `root/dir`, sorted by name; other files (Thumbs.db…) are ignored.
fn list_images(root: &Path, dir: &str) -> Result<Vec<String>> {
    let path = root.join(dir);
    let entries = std::fs::read_dir(&path).with_context(|| format!("listing {} (is `root` a {{market,duke}} release?)", path.display()))?;
    let mut names = Vec::new();
    for e in entries {
        let e = e.with_context(|| format!("listing {}", path.display()))?;
        let name = e.file_name().to_string_lossy().to_string();
        if is_image(&name) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// The label tables of a pedestrian release plus what was left out.
#[derive(Debug, Clone)]
pub struct PedSplits {
    pub tasks: TaskSet,
    /// `train`, `val`, `test`.
    pub tables: [LabelTable; 3],
    /// Per split, per colour task: the `<task>__marked` column ("2;5", None when nothing is marked).
    pub marked: [Vec<(String, Vec<Option<String>>)>; 3],
    /// Test-folder images of unlabelled identities (−1 junk, 0000 distractors), left out by protocol.
    pub unlabelled: usize,
    pub val_identities: usize,
    pub train_identities: usize,
}

/// Where the attribute file of a release is: at the root or under `attribute/`.
pub fn locate_mat(root: &Path, format: PedFormat) -> Result<PathBuf> {
    let name = format.mat_file();
    for p in [root.join(&name), root.join("attribute").join(&name)] {
        if p.is_file() {
            return Ok(p);
        }
    }
    bail!("{}: no {name} (looked in the folder itself and in attribute/); is this a {} release?", root.display(), format.name())
}

/// Joins the images of `root` with the annotations; `val_fraction` of the training identities
/// (drawn with `seed`) become the validation split.
pub fn build_splits(root: &Path, format: PedFormat, ann: &PedAnnotations, val_fraction: f64, seed: u64, source: &str, root_rel: &str) -> Result<PedSplits> {
    if !(0.0..1.0).contains(&val_fraction) {
        bail!("val_fraction must be in [0, 1), got {val_fraction}");
    }
    let train_by_id: HashMap<i64, &IdentityLabels> = ann.train.iter().map(|l| (l.identity, l)).collect();
    let test_by_id: HashMap<i64, &IdentityLabels> = ann.test.iter().map(|l| (l.identity, l)).collect();
    let mut ids: Vec<i64> = ann.train.iter().map(|l| l.identity).collect();
    ids.sort_unstable();
    let mut rng = Rng::new(seed);
    rng.shuffle(&mut ids);
    let n_val = ((ids.len() as f64) * val_fraction).round() as usize;
    let n_val = if val_fraction > 0.0 && ids.len() > 1 { n_val.clamp(1, ids.len() - 1) } else { 0 };
    let val_ids: std::collections::HashSet<i64> = ids[..n_val].iter().copied().collect();

    let tasks = format.task_set(source, root_rel);
    let defs = format.task_defs();
    let mut rows: [Vec<(String, &IdentityLabels)>; 3] = Default::default();
    for name in list_images(root, "bounding_box_train")? {
        let Some(id) = identity_of(&name) else { bail!("{}: cannot read an identity from the file name (expected `PPPP_…`)", root.join("bounding_box_train").join(&name).display()) };
        let Some(labels) = train_by_id.get(&id) else {
            bail!("{}: identity {id} has no labels in {}.train", root.join("bounding_box_train").join(&name).display(), format.variable())
        };
        let split = if val_ids.contains(&id) { 1 } else { 0 };
        rows[split].push((format!("bounding_box_train/{name}"), labels));
    }
    let mut unlabelled = 0;
    for name in list_images(root, "bounding_box_test")? {
        let Some(id) = identity_of(&name) else { bail!("{}: cannot read an identity from the file name (expected `PPPP_…`)", root.join("bounding_box_test").join(&name).display()) };
        if id <= 0 {
            unlabelled += 1;
            continue;
        }
        let Some(labels) = test_by_id.get(&id) else {
            bail!("{}: identity {id} has no labels in {}.test", root.join("bounding_box_test").join(&name).display(), format.variable())
        };
        rows[2].push((format!("bounding_box_test/{name}"), labels));
    }
    if rows[0].is_empty() {
        bail!("{}: no labelled training images in bounding_box_train/", root.display());
    }
    let mut tables: [LabelTable; 3] = Default::default();
    let mut marked: [Vec<(String, Vec<Option<String>>)>; 3] = Default::default();
    for s in 0..3 {
        let t = &mut tables[s];
        t.labels = vec![Vec::with_capacity(rows[s].len()); defs.len()];
        let colour_tasks: Vec<usize> = (0..defs.len()).filter(|&i| matches!(defs[i], TaskDef::Colour { .. })).collect();
        let mut marks: Vec<Vec<Option<String>>> = vec![Vec::with_capacity(rows[s].len()); colour_tasks.len()];
        for (path, l) in &rows[s] {
            t.images.push(path.clone());
            t.identities.push(l.identity);
            for (i, v) in l.labels.iter().enumerate() {
                t.labels[i].push(*v);
            }
            for (m, &i) in colour_tasks.iter().enumerate() {
                let set = l.marked[i].as_deref().unwrap_or(&[]);
                marks[m].push(if set.is_empty() { None } else { Some(set.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(";")) });
            }
        }
        marked[s] = colour_tasks.iter().zip(marks).map(|(&i, col)| (defs[i].name().to_string(), col)).collect();
    }
    let train_ids: BTreeMap<i64, ()> = rows[0].iter().map(|(_, l)| (l.identity, ())).collect();
    let val_identities = rows[1].iter().map(|(_, l)| l.identity).collect::<std::collections::HashSet<_>>().len();
    Ok(PedSplits { tasks, tables, marked, unlabelled, val_identities, train_identities: train_ids.len() })
}

/// Reads the `<task>__marked` column of `<dir>/<split>.parquet` (a split or prepare stage output):
/// per row, every class marked for the identity (any of them counts as a correct prediction in
/// the Market/Duke protocol). None when the table has no such column (CelebA, binary tasks).
pub fn read_marked(dir: &Path, split: &str, task: &str) -> Result<Option<Vec<Vec<usize>>>> {
    use polars::prelude::{ParquetReader, SerReader};
    let pq = dir.join(format!("{split}.parquet"));
    let file = std::fs::File::open(&pq).with_context(|| format!("opening {}", pq.display()))?;
    let df = ParquetReader::new(file).finish().map_err(|e| anyhow::anyhow!("reading {}: {e}", pq.display()))?;
    let name = format!("{task}__marked");
    let Ok(col) = df.column(&name) else { return Ok(None) };
    let values = col.str().map_err(|e| anyhow::anyhow!("{}: column `{name}`: {e}", pq.display()))?;
    let mut out = Vec::with_capacity(values.len());
    for (row, v) in values.iter().enumerate() {
        let classes = match v {
            None | Some("") => Vec::new(),
            Some(text) => text
                .split(';')
                .map(|c| c.trim().parse::<usize>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| anyhow::anyhow!("{}: row {}: `{name}` is `{text}`, expected class indices like `2;5`", pq.display(), row + 1))?,
        };
        out.push(classes);
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_from_file_names() {
        assert_eq!(identity_of("0002_c1s1_000451_03.jpg"), Some(2));
        assert_eq!(identity_of("-1_c1s1_000401_03.jpg"), Some(-1));
        assert_eq!(identity_of("0000_c1s1_000401_03.jpg"), Some(0));
        assert_eq!(identity_of("0001_c2_f0046182.jpg"), Some(1));
        assert_eq!(identity_of("Thumbs.db"), None);
        assert_eq!(identity_of("abc_c1.jpg"), None);
    }
}
