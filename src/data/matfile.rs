//! A small MATLAB level-5 MAT-file reader and writer: numeric, char, cell and struct arrays, plain
//! or zlib-compressed (miCOMPRESSED), either byte order — what the Market-1501 and Duke attribute
//! files use. Every malformed input is an error naming the file and where in it; nothing panics.
//!
//! Layout (MathWorks "MAT-File Format", level 5): a 128-byte header (116 bytes of text, 8 bytes of
//! subsystem offset, version 0x0100, endian indicator `IM`/`MI`), then data elements, each a tag
//! (type, byte count) — or a "small element" packing both and ≤ 4 data bytes into 8 bytes — and
//! data padded to 8 bytes. A matrix (miMATRIX) holds sub-elements: array flags, dimensions, name,
//! then the class's own data.

use std::io::{Read as _, Write as _};
use std::path::Path;

use anyhow::{bail, Context as _, Result};

const MI_INT8: u32 = 1;
const MI_UINT8: u32 = 2;
const MI_INT16: u32 = 3;
const MI_UINT16: u32 = 4;
const MI_INT32: u32 = 5;
const MI_UINT32: u32 = 6;
const MI_SINGLE: u32 = 7;
const MI_DOUBLE: u32 = 9;
const MI_INT64: u32 = 12;
const MI_UINT64: u32 = 13;
const MI_MATRIX: u32 = 14;
const MI_COMPRESSED: u32 = 15;
const MI_UTF8: u32 = 16;
const MI_UTF16: u32 = 17;
const MI_UTF32: u32 = 18;

const MX_CELL: u8 = 1;
const MX_STRUCT: u8 = 2;
const MX_CHAR: u8 = 4;
/// Class codes 6..=15: double, single, int8, uint8, int16, uint16, int32, uint32, int64, uint64.
const MX_DOUBLE: u8 = 6;

/// Deeper nesting than this is treated as a malformed file (the real files nest 4 levels).
const MAX_DEPTH: usize = 64;
/// Refuse to inflate one compressed variable beyond this (a corrupt or hostile file).
const MAX_INFLATED: u64 = 1 << 30;

/// One MATLAB array.
#[derive(Debug, Clone, PartialEq)]
pub enum MatValue {
    /// Any numeric class (real part only), converted to f64, column-major.
    Numeric { class: u8, dims: Vec<usize>, data: Vec<f64> },
    /// A char array; a 1×N array is its string, an R×C array its rows joined by `\n`.
    Char { dims: Vec<usize>, text: String },
    /// A cell array, column-major.
    Cell { dims: Vec<usize>, items: Vec<MatValue> },
    /// A struct array: `elements[k][f]` is field `fields[f]` of element k (column-major).
    Struct { dims: Vec<usize>, fields: Vec<String>, elements: Vec<Vec<MatValue>> },
    /// An empty miMATRIX element (MATLAB writes `[]` fields this way).
    Empty,
    /// A class this reader does not decode (sparse, object, function handle…).
    Unsupported { class: u8 },
}

impl MatValue {
    /// A field of a 1×1 struct, looked up by name.
    pub fn field(&self, name: &str) -> Option<&MatValue> {
        match self {
            MatValue::Struct { fields, elements, .. } if elements.len() == 1 => {
                fields.iter().position(|f| f == name).map(|i| &elements[0][i])
            }
            _ => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            MatValue::Numeric { .. } => "numeric array",
            MatValue::Char { .. } => "char array",
            MatValue::Cell { .. } => "cell array",
            MatValue::Struct { .. } => "struct",
            MatValue::Empty => "empty matrix",
            MatValue::Unsupported { .. } => "unsupported class",
        }
    }

    /// A numeric row/column vector from integers (stored as uint8 when they fit, like MATLAB does
    /// for small integer doubles).
    pub fn row(values: &[f64]) -> MatValue {
        MatValue::Numeric { class: MX_DOUBLE, dims: vec![1, values.len()], data: values.to_vec() }
    }

    pub fn text(s: &str) -> MatValue {
        MatValue::Char { dims: vec![1, s.chars().count()], text: s.to_string() }
    }

    /// A 1×1 struct with the given fields, in order.
    pub fn record(fields: Vec<(String, MatValue)>) -> MatValue {
        let (names, values): (Vec<String>, Vec<MatValue>) = fields.into_iter().unzip();
        MatValue::Struct { dims: vec![1, 1], fields: names, elements: vec![values] }
    }
}

/// The variables of a MAT-file, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct MatFile {
    pub variables: Vec<(String, MatValue)>,
}

impl MatFile {
    pub fn get(&self, name: &str) -> Option<&MatValue> {
        self.variables.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

/// Reads a level-5 MAT-file.
pub fn read_mat(path: &Path) -> Result<MatFile> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    parse_mat(&bytes, &path.display().to_string())
}

/// Parses the bytes of a level-5 MAT-file; `file` names it in errors.
pub fn parse_mat(bytes: &[u8], file: &str) -> Result<MatFile> {
    if bytes.len() >= 520 && &bytes[512..520] == b"\x89HDF\r\n\x1a\n" || bytes.starts_with(b"MATLAB 7.3 MAT-file") {
        bail!(
            "{file}: a MATLAB v7.3 (HDF5) MAT-file, which is not supported; re-save it in MATLAB with \
             `save(FILE, VAR, '-v7')` (the official Market-1501/Duke attribute files are v5/v7)"
        );
    }
    if bytes.len() < 128 {
        bail!("{file}: {} bytes, too short for a MAT-file header (128 bytes); is the file truncated?", bytes.len());
    }
    let big_endian = match &bytes[126..128] {
        b"IM" => false,
        b"MI" => true,
        _ => bail!("{file}: no MATLAB level-5 header (endian indicator `IM`/`MI` missing at byte 126); not a v5/v7 MAT-file"),
    };
    let mut variables = Vec::new();
    let mut cur = Cursor { buf: bytes, pos: 128, big_endian, file, base: String::new() };
    while cur.pos < bytes.len() {
        if bytes.len() - cur.pos < 8 && bytes[cur.pos..].iter().all(|&b| b == 0) {
            break; // trailing padding
        }
        let at = cur.pos;
        let (ty, data) = cur.element()?;
        let (name, value) = match ty {
            MI_MATRIX => {
                let mut inner = Cursor { buf: data, pos: 0, big_endian, file, base: format!("variable at byte {at}") };
                inner.matrix_body(0)?
            }
            MI_COMPRESSED => {
                let mut inflated = Vec::new();
                flate2::read::ZlibDecoder::new(data)
                    .take(MAX_INFLATED)
                    .read_to_end(&mut inflated)
                    .map_err(|e| anyhow::anyhow!("{file}: byte {at}: compressed variable does not inflate: {e}; the file is corrupt"))?;
                let mut inner = Cursor { buf: &inflated, pos: 0, big_endian, file, base: format!("compressed variable at byte {at}") };
                let (ty, payload) = inner.element()?;
                if ty != MI_MATRIX {
                    bail!("{file}: byte {at}: compressed element holds type {ty}, expected a matrix (14)");
                }
                let mut m = Cursor { buf: payload, pos: 0, big_endian, file, base: inner.base.clone() };
                m.matrix_body(0)?
            }
            other => bail!("{file}: byte {at}: top-level element of type {other}, expected a matrix (14) or compressed data (15)"),
        };
        variables.push((name, value));
    }
    Ok(MatFile { variables })
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    big_endian: bool,
    file: &'a str,
    /// Where this buffer comes from, for messages.
    base: String,
}

impl<'a> Cursor<'a> {
    fn err(&self, msg: impl std::fmt::Display) -> anyhow::Error {
        anyhow::anyhow!("{}: {}, offset {}: {msg}; the MAT-file is malformed or truncated", self.file, self.base, self.pos)
    }

    fn u32_at(&self, at: usize) -> Option<u32> {
        let b: [u8; 4] = self.buf.get(at..at + 4)?.try_into().ok()?;
        Some(if self.big_endian { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) })
    }

    /// Reads one data element; returns its type and data, and moves past its padding.
    fn element(&mut self) -> Result<(u32, &'a [u8])> {
        let Some(first) = self.u32_at(self.pos) else { return Err(self.err("element tag cut short")) };
        if first >> 16 != 0 {
            // Small element: type in the low half, byte count in the high half, data in the next 4 bytes.
            let (ty, n) = (first & 0xffff, (first >> 16) as usize);
            if n > 4 {
                return Err(self.err(format!("small element claims {n} bytes (at most 4)")));
            }
            let Some(data) = self.buf.get(self.pos + 4..self.pos + 4 + n) else { return Err(self.err("small element cut short")) };
            self.pos += 8;
            return Ok((ty, data));
        }
        let Some(n) = self.u32_at(self.pos + 4) else { return Err(self.err("element tag cut short")) };
        let n = n as usize;
        let start = self.pos + 8;
        let Some(data) = start.checked_add(n).and_then(|end| self.buf.get(start..end)) else {
            return Err(self.err(format!("element of type {first} claims {n} bytes but only {} remain", self.buf.len().saturating_sub(start))));
        };
        // Compressed elements are not padded; everything else is padded to 8 bytes.
        let padded = if first == MI_COMPRESSED { n } else { n.div_ceil(8) * 8 };
        self.pos = (start + padded).min(self.buf.len());
        Ok((first, data))
    }

    fn expect(&mut self, what: &str, types: &[u32]) -> Result<(u32, &'a [u8])> {
        let (ty, data) = self.element()?;
        if !types.contains(&ty) {
            return Err(self.err(format!("{what}: element type {ty}, expected one of {types:?}")));
        }
        Ok((ty, data))
    }

    fn numbers(&self, ty: u32, data: &[u8]) -> Result<Vec<f64>> {
        let be = self.big_endian;
        macro_rules! conv {
            ($t:ty, $n:expr) => {{
                if data.len() % $n != 0 {
                    return Err(self.err(format!("{} data bytes do not divide into {}-byte values", data.len(), $n)));
                }
                data.chunks_exact($n)
                    .map(|c| {
                        let a: [u8; $n] = c.try_into().unwrap_or([0; $n]);
                        (if be { <$t>::from_be_bytes(a) } else { <$t>::from_le_bytes(a) }) as f64
                    })
                    .collect()
            }};
        }
        Ok(match ty {
            MI_INT8 => data.iter().map(|&b| b as i8 as f64).collect(),
            MI_UINT8 | MI_UTF8 => data.iter().map(|&b| b as f64).collect(),
            MI_INT16 => conv!(i16, 2),
            MI_UINT16 | MI_UTF16 => conv!(u16, 2),
            MI_INT32 => conv!(i32, 4),
            MI_UINT32 | MI_UTF32 => conv!(u32, 4),
            MI_SINGLE => conv!(f32, 4),
            MI_DOUBLE => conv!(f64, 8),
            MI_INT64 => conv!(i64, 8),
            MI_UINT64 => conv!(u64, 8),
            other => return Err(self.err(format!("data type {other} is not numeric"))),
        })
    }

    /// The sub-elements of one miMATRIX: returns the array's name and value.
    fn matrix_body(&mut self, depth: usize) -> Result<(String, MatValue)> {
        if depth > MAX_DEPTH {
            return Err(self.err(format!("arrays nested deeper than {MAX_DEPTH} levels")));
        }
        if self.buf.is_empty() {
            return Ok((String::new(), MatValue::Empty));
        }
        let (_, flags) = self.expect("array flags", &[MI_UINT32])?;
        if flags.len() < 4 {
            return Err(self.err("array flags shorter than 4 bytes"));
        }
        let flag_word = if self.big_endian { u32::from_be_bytes([flags[0], flags[1], flags[2], flags[3]]) } else { u32::from_le_bytes([flags[0], flags[1], flags[2], flags[3]]) };
        let class = (flag_word & 0xff) as u8;
        let complex = flag_word & 0x0800 != 0;
        let (dty, dims) = self.expect("dimensions", &[MI_INT32])?;
        let dims: Vec<usize> = self
            .numbers(dty, dims)?
            .into_iter()
            .map(|d| if d < 0.0 { Err(self.err(format!("negative dimension {d}"))) } else { Ok(d as usize) })
            .collect::<Result<_>>()?;
        if dims.len() < 2 {
            return Err(self.err(format!("{} dimensions (at least 2)", dims.len())));
        }
        let count = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| self.err("dimensions overflow"))?;
        let (_, name) = self.expect("array name", &[MI_INT8, MI_UINT8])?;
        let name = String::from_utf8_lossy(name).trim_end_matches('\0').to_string();
        let value = match class {
            MX_CELL => {
                // Every cell item needs at least one 8-byte tag: refuse counts the data cannot hold.
                if count > self.buf.len() / 8 + 1 {
                    return Err(self.err(format!("cell array of {count} items in {} bytes", self.buf.len())));
                }
                let mut items = Vec::with_capacity(count);
                for k in 0..count {
                    let (_, sub) = self.expect(&format!("cell item {k} of `{name}`"), &[MI_MATRIX])?;
                    let mut c = Cursor { buf: sub, pos: 0, big_endian: self.big_endian, file: self.file, base: format!("{} / {name}{{{k}}}", self.base) };
                    items.push(c.matrix_body(depth + 1)?.1);
                }
                MatValue::Cell { dims, items }
            }
            MX_STRUCT => {
                let (lty, len) = self.expect("field name length", &[MI_INT32])?;
                let len = self.numbers(lty, len)?.first().copied().unwrap_or(0.0);
                if !(1.0..=4096.0).contains(&len) {
                    return Err(self.err(format!("field name length {len}")));
                }
                let len = len as usize;
                let (_, names) = self.expect("field names", &[MI_INT8, MI_UINT8])?;
                if names.len() % len != 0 {
                    return Err(self.err(format!("{} bytes of field names do not divide into names of {len} bytes", names.len())));
                }
                let fields: Vec<String> = names
                    .chunks_exact(len)
                    .map(|c| String::from_utf8_lossy(c).trim_end_matches('\0').to_string())
                    .collect();
                if count.saturating_mul(fields.len()) > self.buf.len() / 8 + 1 {
                    return Err(self.err(format!("struct array of {count}×{} fields in {} bytes", fields.len(), self.buf.len())));
                }
                let mut elements = Vec::with_capacity(count);
                for k in 0..count {
                    let mut row = Vec::with_capacity(fields.len());
                    for f in &fields {
                        let (_, sub) = self.expect(&format!("field `{f}` of `{name}`"), &[MI_MATRIX])?;
                        let mut c = Cursor { buf: sub, pos: 0, big_endian: self.big_endian, file: self.file, base: format!("{} / {}.{f}", self.base, name.as_str()) };
                        let _ = k;
                        row.push(c.matrix_body(depth + 1)?.1);
                    }
                    elements.push(row);
                }
                MatValue::Struct { dims, fields, elements }
            }
            MX_CHAR => {
                let (ty, data) = self.element()?;
                let codes: Vec<u32> = match ty {
                    MI_UTF8 | MI_UINT8 | MI_INT8 => {
                        let s = String::from_utf8_lossy(data);
                        s.chars().map(|c| c as u32).collect()
                    }
                    MI_UINT16 | MI_UTF16 | MI_UINT32 | MI_UTF32 | MI_INT16 | MI_INT32 => {
                        self.numbers(ty, data)?.into_iter().map(|v| v as u32).collect()
                    }
                    other => return Err(self.err(format!("char data of type {other}"))),
                };
                if codes.len() != count {
                    return Err(self.err(format!("char array `{name}` of {count} characters holds {}", codes.len())));
                }
                let rows = dims[0].max(1);
                let cols = if rows == 0 { 0 } else { count / rows };
                let mut text = String::with_capacity(count);
                for r in 0..rows {
                    if r > 0 {
                        text.push('\n');
                    }
                    for c in 0..cols {
                        text.push(char::from_u32(codes[c * rows + r]).unwrap_or('\u{fffd}'));
                    }
                }
                MatValue::Char { dims, text }
            }
            6..=15 => {
                let (ty, data) = self.element()?;
                let values = self.numbers(ty, data)?;
                if values.len() != count {
                    return Err(self.err(format!("numeric array `{name}` of {count} values holds {}", values.len())));
                }
                if complex {
                    self.element()?; // imaginary part, unused
                }
                MatValue::Numeric { class, dims, data: values }
            }
            other => MatValue::Unsupported { class: other },
        };
        Ok((name, value))
    }
}

// ---------------------------------------------------------------- writing

fn push_element(out: &mut Vec<u8>, ty: u32, data: &[u8]) {
    if data.len() <= 4 && ty != MI_MATRIX && !data.is_empty() {
        out.extend_from_slice(&(ty | ((data.len() as u32) << 16)).to_le_bytes());
        let mut four = [0u8; 4];
        four[..data.len()].copy_from_slice(data);
        out.extend_from_slice(&four);
        return;
    }
    out.extend_from_slice(&ty.to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
    while out.len() % 8 != 0 {
        out.push(0);
    }
}

fn dims_of(value: &MatValue) -> Vec<usize> {
    match value {
        MatValue::Numeric { dims, .. } | MatValue::Char { dims, .. } | MatValue::Cell { dims, .. } | MatValue::Struct { dims, .. } => dims.clone(),
        MatValue::Empty | MatValue::Unsupported { .. } => vec![0, 0],
    }
}

/// One miMATRIX element (tag included), little-endian.
fn encode_matrix(name: &str, value: &MatValue) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    let class = match value {
        MatValue::Numeric { class, .. } => *class,
        MatValue::Char { .. } => MX_CHAR,
        MatValue::Cell { .. } => MX_CELL,
        MatValue::Struct { .. } => MX_STRUCT,
        MatValue::Empty => {
            let mut out = Vec::new();
            push_element(&mut out, MI_MATRIX, &[]);
            return Ok(out);
        }
        MatValue::Unsupported { class } => bail!("cannot write a MAT array of unsupported class {class}"),
    };
    let mut flags = Vec::with_capacity(8);
    flags.extend_from_slice(&(class as u32).to_le_bytes());
    flags.extend_from_slice(&0u32.to_le_bytes());
    push_element(&mut body, MI_UINT32, &flags);
    let dims: Vec<u8> = dims_of(value).iter().flat_map(|d| (*d as i32).to_le_bytes()).collect();
    push_element(&mut body, MI_INT32, &dims);
    if name.is_empty() {
        body.extend_from_slice(&MI_INT8.to_le_bytes());
        body.extend_from_slice(&0u32.to_le_bytes());
    } else {
        push_element(&mut body, MI_INT8, name.as_bytes());
    }
    match value {
        MatValue::Numeric { data, .. } => {
            if data.iter().all(|v| v.fract() == 0.0 && (0.0..=255.0).contains(v)) {
                let bytes: Vec<u8> = data.iter().map(|v| *v as u8).collect();
                push_element(&mut body, MI_UINT8, &bytes);
            } else {
                let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
                push_element(&mut body, MI_DOUBLE, &bytes);
            }
        }
        MatValue::Char { text, .. } => {
            if text.is_ascii() {
                push_element(&mut body, MI_UTF8, text.as_bytes());
            } else {
                let bytes: Vec<u8> = text.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
                push_element(&mut body, MI_UINT16, &bytes);
            }
        }
        MatValue::Cell { items, .. } => {
            for item in items {
                body.extend_from_slice(&encode_matrix("", item)?);
            }
        }
        MatValue::Struct { fields, elements, .. } => {
            let len = fields.iter().map(|f| f.len()).max().unwrap_or(0) + 1;
            let len = len.max(8);
            push_element(&mut body, MI_INT32, &(len as i32).to_le_bytes());
            let mut names = vec![0u8; len * fields.len()];
            for (i, f) in fields.iter().enumerate() {
                names[i * len..i * len + f.len()].copy_from_slice(f.as_bytes());
            }
            push_element(&mut body, MI_INT8, &names);
            for row in elements {
                for v in row {
                    body.extend_from_slice(&encode_matrix("", v)?);
                }
            }
        }
        _ => {}
    }
    let mut out = Vec::with_capacity(body.len() + 8);
    out.extend_from_slice(&MI_MATRIX.to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Writes a level-5 MAT-file with every variable zlib-compressed, like MATLAB's default `-v7`.
/// No timestamp goes into the header, so the same variables give the same bytes.
pub fn write_mat(path: &Path, variables: &[(String, MatValue)]) -> Result<()> {
    let mut out = Vec::new();
    let mut text = b"MATLAB 5.0 MAT-file, Platform: awmt, written by awmt (procedural dataset)".to_vec();
    text.resize(116, b' ');
    out.extend_from_slice(&text);
    out.extend_from_slice(&[0u8; 8]);
    out.extend_from_slice(&0x0100u16.to_le_bytes());
    out.extend_from_slice(b"IM");
    for (name, value) in variables {
        let matrix = encode_matrix(name, value)?;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
        z.write_all(&matrix)?;
        let compressed = z.finish()?;
        out.extend_from_slice(&MI_COMPRESSED.to_le_bytes());
        out.extend_from_slice(&(compressed.len() as u32).to_le_bytes());
        out.extend_from_slice(&compressed);
    }
    std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<(String, MatValue)> {
        let inner = MatValue::record(vec![
            ("age".into(), MatValue::row(&[1.0, 2.0, 4.0])),
            ("weight".into(), MatValue::row(&[1.5, -2.0, 300.0])),
            ("image_index".into(), MatValue::Cell { dims: vec![1, 3], items: ["0001", "0002", "0010"].iter().map(|s| MatValue::text(s)).collect() }),
            ("nothing".into(), MatValue::Empty),
        ]);
        vec![("ds".to_string(), MatValue::record(vec![("train".into(), inner.clone()), ("test".into(), inner)]))]
    }

    #[test]
    fn write_then_read_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.mat");
        write_mat(&p, &sample()).unwrap();
        let back = read_mat(&p).unwrap();
        assert_eq!(back.variables, sample());
        let train = back.get("ds").unwrap().field("train").unwrap();
        assert_eq!(train.field("age"), Some(&MatValue::row(&[1.0, 2.0, 4.0])));
    }

    #[test]
    fn corrupt_files_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.mat");
        write_mat(&p, &sample()).unwrap();
        let good = std::fs::read(&p).unwrap();
        // Every truncation and a sweep of single-byte corruptions must give Ok or Err, never panic.
        for cut in 0..good.len() {
            let _ = parse_mat(&good[..cut], "x.mat");
        }
        for at in (0..good.len()).step_by(3) {
            let mut bad = good.clone();
            bad[at] ^= 0x5a;
            let _ = parse_mat(&bad, "x.mat");
        }
        assert!(parse_mat(&good[..100], "x.mat").unwrap_err().to_string().contains("too short"));
        let mut h5 = vec![0u8; 600];
        h5[..19].copy_from_slice(b"MATLAB 7.3 MAT-file");
        h5[512..520].copy_from_slice(b"\x89HDF\r\n\x1a\n");
        assert!(parse_mat(&h5, "v73.mat").unwrap_err().to_string().contains("re-save it in MATLAB"));
        // An uncompressed (v6-style) file with a hand-written body also reads.
        let mut plain = good[..128].to_vec();
        plain.extend_from_slice(&encode_matrix("v", &MatValue::row(&[3.0, 4.0])).unwrap());
        assert_eq!(parse_mat(&plain, "p.mat").unwrap().get("v"), Some(&MatValue::row(&[3.0, 4.0])));
    }
}
