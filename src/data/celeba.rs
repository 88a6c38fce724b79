//! Reads a CelebA release (aligned-and-cropped images + annotation files) in the flat
//! (torchvision) or `Anno/` + `Eval/` (original) layout, and turns it into per-split label tables.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use super::tasks::{LabelTable, Task, TaskSet};
use super::text::{check_file_name, TextLines};

/// The 40 attributes in the official order of `list_attr_celeba.txt`.
pub const ATTRIBUTES: [&str; 40] = [
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips",
    "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin",
    "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open",
    "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline",
    "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat",
    "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
];

pub const ATTR_FILE: &str = "list_attr_celeba.txt";
pub const PARTITION_FILE: &str = "list_eval_partition.txt";
pub const IDENTITY_FILE: &str = "identity_CelebA.txt";
pub const LANDMARKS_FILE: &str = "list_landmarks_align_celeba.txt";
pub const IMAGE_DIR: &str = "img_align_celeba";

/// Where the files of one release are.
#[derive(Debug, Clone)]
pub struct CelebaFiles {
    pub root: PathBuf,
    pub attributes: PathBuf,
    pub partition: PathBuf,
    pub identity: Option<PathBuf>,
    pub landmarks: Option<PathBuf>,
    /// The image folder relative to `root` (`img_align_celeba` or `Img/img_align_celeba`).
    pub image_dir: String,
}

impl CelebaFiles {
    /// Finds the annotation files and the image folder under `root` (flat or `Anno/`+`Eval/`).
    pub fn locate(root: &Path) -> Result<CelebaFiles> {
        if !root.is_dir() {
            bail!("CelebA root {} is not a directory", root.display());
        }
        let find = |name: &str, dirs: &[&str]| -> Option<PathBuf> {
            dirs.iter().map(|d| root.join(d).join(name)).find(|p| p.is_file())
        };
        let Some(attributes) = find(ATTR_FILE, &["", "Anno"]) else {
            bail!("{}: no {ATTR_FILE} (looked in the folder itself and in Anno/); is this a CelebA release?", root.display())
        };
        let Some(partition) = find(PARTITION_FILE, &["", "Eval", "Anno"]) else {
            bail!("{}: no {PARTITION_FILE} (looked in the folder itself, Eval/ and Anno/)", root.display())
        };
        let image_dir = ["img_align_celeba", "Img/img_align_celeba", "img_align_celeba/img_align_celeba"]
            .into_iter()
            .find(|d| root.join(d).is_dir())
            .unwrap_or(IMAGE_DIR)
            .to_string();
        Ok(CelebaFiles {
            root: root.to_path_buf(),
            attributes,
            partition,
            identity: find(IDENTITY_FILE, &["", "Anno"]),
            landmarks: find(LANDMARKS_FILE, &["", "Anno"]),
            image_dir,
        })
    }
}

/// `list_attr_celeba.txt`: attribute names and one ±1 row per image.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeList {
    pub names: Vec<String>,
    pub images: Vec<String>,
    /// `values[row][attribute]` in {−1, 1}.
    pub values: Vec<Vec<i8>>,
}

pub fn parse_attributes(lines: &TextLines) -> Result<AttributeList> {
    let Some(count_line) = lines.line(0) else { bail!("{}: empty file; expected an image count on line 1", lines.file) };
    let count: usize = count_line
        .trim()
        .parse()
        .map_err(|_| lines.error(1, format!("expected the image count, found `{}`", count_line.trim())))?;
    let Some(header) = lines.line(1) else { bail!("{}: no attribute names on line 2", lines.file) };
    let names: Vec<String> = header.split_whitespace().map(str::to_string).collect();
    if names.is_empty() {
        return Err(lines.error(2, "expected the attribute names, found an empty line"));
    }
    let mut seen_names = std::collections::HashSet::new();
    for n in &names {
        if !seen_names.insert(n) {
            return Err(lines.error(2, format!("attribute `{n}` is named twice")));
        }
    }
    let mut images = Vec::with_capacity(count.min(1 << 20));
    let mut values = Vec::with_capacity(count.min(1 << 20));
    let mut seen = HashMap::with_capacity(count.min(1 << 20));
    for (no, line) in lines.numbered(2) {
        let mut tokens = line.split_whitespace();
        let Some(image) = tokens.next() else { return Err(lines.error(no, "empty line inside the table")) };
        check_file_name(image).map_err(|m| lines.error(no, m))?;
        let mut row = Vec::with_capacity(names.len());
        for tok in tokens {
            match tok {
                "1" => row.push(1i8),
                "-1" => row.push(-1i8),
                other => {
                    let attr = names.get(row.len()).map(String::as_str).unwrap_or("(beyond the last attribute)");
                    return Err(lines.error(no, format!("attribute {attr}: expected -1 or 1, found `{other}`")));
                }
            }
        }
        if row.len() != names.len() {
            return Err(lines.error(
                no,
                format!("expected {} tokens (the file name and {} values), found {}", names.len() + 1, names.len(), row.len() + 1),
            ));
        }
        if let Some(first) = seen.insert(image.to_string(), no) {
            return Err(lines.error(no, format!("{image} is listed twice (first on line {first})")));
        }
        images.push(image.to_string());
        values.push(row);
    }
    if images.len() != count {
        return Err(lines.error(1, format!("says {count} images but the file has {} rows", images.len())));
    }
    Ok(AttributeList { names, images, values })
}

/// `list_eval_partition.txt`: `(image, partition)` with 0 train, 1 val, 2 test.
pub fn parse_partition(lines: &TextLines) -> Result<Vec<(String, u8)>> {
    parse_pairs(lines, "partition", |tok| match tok {
        "0" => Some(0u8),
        "1" => Some(1),
        "2" => Some(2),
        _ => None,
    }, "0 (train), 1 (validation) or 2 (test)")
}

/// `identity_CelebA.txt`: `(image, identity)`.
pub fn parse_identities(lines: &TextLines) -> Result<Vec<(String, i64)>> {
    parse_pairs(lines, "identity", |tok| tok.parse::<i64>().ok().filter(|v| *v >= 0), "a non-negative integer")
}

fn parse_pairs<T>(lines: &TextLines, what: &str, value: impl Fn(&str) -> Option<T>, expected: &str) -> Result<Vec<(String, T)>> {
    let mut out = Vec::with_capacity(lines.len());
    let mut seen = HashMap::with_capacity(lines.len());
    for (no, line) in lines.numbered(0) {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        let [image, v] = tokens[..] else {
            return Err(lines.error(no, format!("expected `<image> <{what}>` (2 tokens), found {}", tokens.len())));
        };
        check_file_name(image).map_err(|m| lines.error(no, m))?;
        let Some(v) = value(v) else { return Err(lines.error(no, format!("{what} must be {expected}, found `{v}`"))) };
        if let Some(first) = seen.insert(image.to_string(), no) {
            return Err(lines.error(no, format!("{image} is listed twice (first on line {first})")));
        }
        out.push((image.to_string(), v));
    }
    Ok(out)
}

/// `list_landmarks_align_celeba.txt`: count line, 10 coordinate names, then `image x1 y1 … x5 y5`.
pub fn parse_landmarks(lines: &TextLines) -> Result<Vec<(String, [i32; 10])>> {
    let Some(count_line) = lines.line(0) else { bail!("{}: empty file; expected an image count on line 1", lines.file) };
    let count: usize = count_line
        .trim()
        .parse()
        .map_err(|_| lines.error(1, format!("expected the image count, found `{}`", count_line.trim())))?;
    let names = lines.line(1).unwrap_or("").split_whitespace().count();
    if names != 10 {
        return Err(lines.error(2, format!("expected 10 landmark coordinate names, found {names}")));
    }
    let mut out = Vec::with_capacity(count.min(1 << 20));
    for (no, line) in lines.numbered(2) {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        if tokens.len() != 11 {
            return Err(lines.error(no, format!("expected 11 tokens (file name and 10 coordinates), found {}", tokens.len())));
        }
        check_file_name(tokens[0]).map_err(|m| lines.error(no, m))?;
        let mut xy = [0i32; 10];
        for (k, tok) in tokens[1..].iter().enumerate() {
            xy[k] = tok.parse().map_err(|_| lines.error(no, format!("coordinate {} is not an integer: `{tok}`", k + 1)))?;
        }
        out.push((tokens[0].to_string(), xy));
    }
    if out.len() != count {
        return Err(lines.error(1, format!("says {count} images but the file has {} rows", out.len())));
    }
    Ok(out)
}

/// One image of the release.
#[derive(Debug, Clone, PartialEq)]
pub struct CelebaImage {
    /// Path relative to the release root (`img_align_celeba/000001.jpg`).
    pub path: String,
    pub partition: u8,
    /// From `identity_CelebA.txt`; −1 when the release has no identity file.
    pub identity: i64,
    pub values: Vec<i8>,
}

/// A loaded release: attribute names and every image in the order of `list_attr_celeba.txt`.
#[derive(Debug, Clone)]
pub struct Celeba {
    pub files: CelebaFiles,
    pub names: Vec<String>,
    pub images: Vec<CelebaImage>,
}

impl Celeba {
    /// Reads and cross-checks every annotation file (images are not opened here).
    pub fn load(root: &Path) -> Result<Celeba> {
        let files = CelebaFiles::locate(root)?;
        let attrs = parse_attributes(&TextLines::read(&files.attributes)?)?;
        let part_lines = TextLines::read(&files.partition)?;
        let partition = parse_partition(&part_lines)?;
        let part_of: HashMap<&str, u8> = partition.iter().map(|(i, p)| (i.as_str(), *p)).collect();
        let attr_rows: HashMap<&str, usize> = attrs.images.iter().enumerate().map(|(k, i)| (i.as_str(), k)).collect();
        for (k, (image, _)) in partition.iter().enumerate() {
            if !attr_rows.contains_key(image.as_str()) {
                return Err(part_lines.error(k + 1, format!("{image} has no row in {}", files.attributes.display())));
            }
        }
        let identities = match &files.identity {
            Some(p) => {
                let lines = TextLines::read(p)?;
                let ids = parse_identities(&lines)?;
                for (k, (image, _)) in ids.iter().enumerate() {
                    if !attr_rows.contains_key(image.as_str()) {
                        return Err(lines.error(k + 1, format!("{image} has no row in {}", files.attributes.display())));
                    }
                }
                Some(ids.into_iter().collect::<HashMap<String, i64>>())
            }
            None => None,
        };
        if let Some(p) = &files.landmarks {
            parse_landmarks(&TextLines::read(p)?)?;
        }
        let mut images = Vec::with_capacity(attrs.images.len());
        for (k, (image, values)) in attrs.images.iter().zip(attrs.values).enumerate() {
            let line = k + 3;
            let Some(&partition) = part_of.get(image.as_str()) else {
                bail!("{}:{line}: {image} has no entry in {}", files.attributes.display(), files.partition.display())
            };
            let identity = match &identities {
                Some(ids) => match ids.get(image) {
                    Some(&id) => id,
                    None => bail!(
                        "{}:{line}: {image} has no entry in {}",
                        files.attributes.display(),
                        files.identity.as_ref().map(|p| p.display().to_string()).unwrap_or_default()
                    ),
                },
                None => -1,
            };
            images.push(CelebaImage { path: format!("{}/{image}", files.image_dir), partition, identity, values });
        }
        Ok(Celeba { files, names: attrs.names, images })
    }

    /// The tasks: every attribute, binary, in file order.
    pub fn task_set(&self, source: &str, root: &str) -> TaskSet {
        TaskSet {
            format: "celeba".into(),
            source: source.into(),
            root: root.into(),
            tasks: self.names.iter().map(|n| Task::binary(n)).collect(),
        }
    }

    /// `(train, val, test)` tables from partitions 0, 1 and 2, in file order, keeping the images
    /// for which `keep(index)` is true.
    pub fn tables(&self, keep: impl Fn(usize) -> bool) -> [LabelTable; 3] {
        let mut out: [LabelTable; 3] = Default::default();
        for t in out.iter_mut() {
            t.labels = vec![Vec::new(); self.names.len()];
        }
        for (k, img) in self.images.iter().enumerate() {
            if !keep(k) {
                continue;
            }
            let t = &mut out[img.partition as usize];
            t.images.push(img.path.clone());
            t.identities.push(img.identity);
            for (a, v) in img.values.iter().enumerate() {
                t.labels[a].push(Some(*v as i32));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> TextLines {
        TextLines::from_bytes(text.as_bytes(), "list_attr_celeba.txt").unwrap()
    }

    #[test]
    fn parses_crlf_lf_and_missing_final_newline() {
        for text in ["2\r\nA B \r\n1.jpg  1 -1\r\n2.jpg -1  1\r\n", "2\nA B \n1.jpg  1 -1\n2.jpg -1  1", "2\nA B\n1.jpg 1 -1\n2.jpg -1 1\n\n"] {
            let a = parse_attributes(&lines(text)).unwrap();
            assert_eq!(a.names, ["A", "B"]);
            assert_eq!(a.images, ["1.jpg", "2.jpg"]);
            assert_eq!(a.values, vec![vec![1, -1], vec![-1, 1]]);
        }
    }

    #[test]
    fn malformed_rows_name_the_line() {
        let cases = [
            ("2\nA B\n1.jpg 1 -1\n2.jpg 1\n", ":4: expected 3 tokens"),
            ("2\nA B\n1.jpg 1 -1\n2.jpg 1 0\n", ":4: attribute B: expected -1 or 1, found `0`"),
            ("3\nA B\n1.jpg 1 -1\n2.jpg 1 1\n", ":1: says 3 images but the file has 2 rows"),
            ("x\nA B\n", ":1: expected the image count"),
            ("2\nA B\n1.jpg 1 -1\n1.jpg 1 1\n", ":4: 1.jpg is listed twice (first on line 3)"),
            ("2\nA B\n1.jpg 1 -1\n\n2.jpg 1 1\n", ":4: empty line"),
            ("1\nA B\n../x.jpg 1 -1\n", ":3: `../x.jpg` is not a plain image file name"),
            ("1\nA B\n1.jpg 1 -1 1\n", ":3: expected 3 tokens (the file name and 2 values), found 4"),
        ];
        for (text, want) in cases {
            let err = parse_attributes(&lines(text)).unwrap_err().to_string();
            assert!(err.contains("list_attr_celeba.txt") && err.contains(want), "{err:?} lacks {want:?}");
        }
        let p = TextLines::from_bytes(b"1.jpg 0\n2.jpg 3\n", "part.txt").unwrap();
        assert!(parse_partition(&p).unwrap_err().to_string().contains("part.txt:2: partition must be"));
        let p = TextLines::from_bytes(b"1.jpg 0 1\n", "part.txt").unwrap();
        assert!(parse_partition(&p).unwrap_err().to_string().contains("part.txt:1: expected"));
        let p = TextLines::from_bytes(b"1.jpg x\n", "id.txt").unwrap();
        assert!(parse_identities(&p).unwrap_err().to_string().contains("id.txt:1: identity must be"));
        assert!(TextLines::from_bytes(b"ab\xff\n", "f.txt").unwrap_err().to_string().contains("f.txt:1: not a text file"));
    }
}
