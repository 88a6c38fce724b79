//! A strict reader for the checkpoint files `torch.save` writes (PyTorch ≥ 1.6), such as
//! torchvision's `resnet50-0676ba61.pth`, so that a user's file is read as is, without Python.
//!
//! The file is a zip archive (entries stored, not compressed) under one top-level folder:
//! `<folder>/data.pkl` is a pickle (protocol 2) of the state dict, `<folder>/data/<key>` holds the
//! raw little-endian bytes of storage `<key>`, `<folder>/byteorder` says `little` (absent in older
//! files). In the pickle, each tensor is `torch._utils._rebuild_tensor_v2(storage, offset, size,
//! stride, requires_grad, backward_hooks)` and each storage a persistent id `('storage',
//! torch.<Type>Storage, key, location, numel)`; the dict itself is a `collections.OrderedDict`
//! (its `_metadata` attribute, set by BUILD, is ignored).
//!
//! Only the opcodes `pickle` emits at protocol 2 for such a dict are understood, and only those
//! three callables; anything else is an error that names the file and what was found, never a
//! guess. The legacy (pre-1.6, not zip) format is recognised and refused with what to do.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::rc::Rc;

use anyhow::{anyhow, bail, Context as _, Result};

/// Element types of torch storages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    F32,
    F64,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl DType {
    /// From a storage class name, e.g. `FloatStorage`.
    fn from_storage(name: &str) -> Option<DType> {
        Some(match name {
            "FloatStorage" => DType::F32,
            "DoubleStorage" => DType::F64,
            "HalfStorage" => DType::F16,
            "BFloat16Storage" => DType::BF16,
            "LongStorage" => DType::I64,
            "IntStorage" => DType::I32,
            "ShortStorage" => DType::I16,
            "CharStorage" => DType::I8,
            "ByteStorage" => DType::U8,
            "BoolStorage" => DType::Bool,
            _ => return None,
        })
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F64 | DType::I64 => 8,
            DType::F32 | DType::I32 => 4,
            DType::F16 | DType::BF16 | DType::I16 => 2,
            DType::I8 | DType::U8 | DType::Bool => 1,
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64 | DType::F16 | DType::BF16)
    }

    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::F16 => "float16",
            DType::BF16 => "bfloat16",
            DType::I64 => "int64",
            DType::I32 => "int32",
            DType::I16 => "int16",
            DType::I8 => "int8",
            DType::U8 => "uint8",
            DType::Bool => "bool",
        }
    }
}

/// One tensor of the file, made contiguous: `data` holds `shape.product()` little-endian
/// elements of `dtype` in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct RawTensor {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<i64>,
    pub data: Vec<u8>,
}

/// Whether `head` (the first bytes of a file) starts a zip archive.
pub fn is_zip(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04")
}

/// Whether `head` starts the legacy `torch.save` format (PyTorch < 1.6): a bare pickle whose
/// first object is torch's magic number 0x1950a86a20f9469cfc6c (PROTO 2, LONG1 of 10 bytes).
pub fn is_legacy_pickle(head: &[u8]) -> bool {
    head.starts_with(&[0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19])
}

/// Whether `head` (at least 262 bytes) starts a POSIX tar archive: the oldest `torch.save`
/// format (torchvision's first ResNet files).
pub fn is_tar(head: &[u8]) -> bool {
    head.len() >= 262 && &head[257..262] == b"ustar"
}

/// Reads every tensor of a `torch.save` checkpoint, in the file's order.
pub fn read(path: &Path) -> Result<Vec<RawTensor>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|e| {
        anyhow!(
            "{}: not a complete torch.save checkpoint ({e}); the file is truncated or damaged — download it again",
            path.display()
        )
    })?;
    read_archive(&mut archive).with_context(|| path.display().to_string())
}

/// Reads the checkpoint held in `bytes` (tests).
pub fn read_bytes(bytes: &[u8]) -> Result<Vec<RawTensor>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| anyhow!("not a complete torch.save checkpoint ({e})"))?;
    read_archive(&mut archive)
}

fn entry<R: Read + std::io::Seek>(archive: &mut zip::ZipArchive<R>, name: &str) -> Result<Vec<u8>> {
    let mut f = archive.by_name(name).map_err(|e| anyhow!("entry `{name}`: {e}"))?;
    let mut out = Vec::with_capacity(f.size() as usize);
    // Reading to the end also checks the entry's CRC-32.
    f.read_to_end(&mut out).map_err(|e| anyhow!("entry `{name}` is damaged: {e}"))?;
    Ok(out)
}

fn read_archive<R: Read + std::io::Seek>(archive: &mut zip::ZipArchive<R>) -> Result<Vec<RawTensor>> {
    let pickles: Vec<String> = archive.file_names().filter(|n| n.ends_with("/data.pkl") && n.matches('/').count() == 1).map(String::from).collect();
    let pkl_name = match pickles.as_slice() {
        [one] => one.clone(),
        [] => bail!("a zip archive without `<folder>/data.pkl`: not a torch.save checkpoint"),
        _ => bail!("a zip archive with several `data.pkl` entries ({}): not a single torch.save checkpoint", pickles.join(", ")),
    };
    let prefix = pkl_name.trim_end_matches("data.pkl").to_string();
    if archive.file_names().any(|n| n == format!("{prefix}byteorder")) {
        let order = entry(archive, &format!("{prefix}byteorder"))?;
        if order.trim_ascii() != b"little" {
            bail!("the checkpoint was written on a big-endian machine (byteorder `{}`); awmt reads little-endian files only", String::from_utf8_lossy(&order));
        }
    }
    let pickle = entry(archive, &pkl_name)?;
    let dict = unpickle(&pickle).with_context(|| format!("entry `{pkl_name}`"))?;
    let tensors = state_dict(dict)?;
    let mut storages: HashMap<String, Vec<u8>> = HashMap::new();
    let mut out = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        let key = &t.storage.key;
        if !storages.contains_key(key) {
            let entry_name = format!("{prefix}data/{key}");
            let bytes = entry(archive, &entry_name).with_context(|| format!("storage of tensor `{name}`"))?;
            let want = t.storage.numel as u128 * t.storage.dtype.size() as u128;
            if bytes.len() as u128 != want {
                bail!(
                    "tensor `{name}`: storage `{entry_name}` holds {} bytes, its {} {} elements need {want}",
                    bytes.len(),
                    t.storage.numel,
                    t.storage.dtype.name()
                );
            }
            storages.insert(key.clone(), bytes);
        }
        let data = gather(&storages[key], &t).with_context(|| format!("tensor `{name}`"))?;
        out.push(RawTensor { name, dtype: t.storage.dtype, shape: t.size.clone(), data });
    }
    Ok(out)
}

/// The contiguous bytes of a strided view into a storage, after checking the view lies inside it.
fn gather(storage: &[u8], t: &TensorRef) -> Result<Vec<u8>> {
    let elem = t.storage.dtype.size();
    if t.size.len() != t.stride.len() {
        bail!("size {:?} and stride {:?} have different lengths", t.size, t.stride);
    }
    if t.size.iter().any(|&s| s < 0) || t.stride.iter().any(|&s| s < 0) || t.offset < 0 {
        bail!("negative size, stride or offset (size {:?}, stride {:?}, offset {})", t.size, t.stride, t.offset);
    }
    let count: u128 = t.size.iter().map(|&s| s as u128).product();
    if count == 0 {
        return Ok(Vec::new());
    }
    let last: u128 = t.offset as u128 + t.size.iter().zip(&t.stride).map(|(&n, &s)| (n as u128 - 1) * s as u128).sum::<u128>();
    if last >= t.storage.numel as u128 {
        bail!(
            "the view (offset {}, size {:?}, stride {:?}) reaches element {last} of a storage of {}",
            t.offset,
            t.size,
            t.stride,
            t.storage.numel
        );
    }
    let count = count as usize;
    let offset = t.offset as usize;
    let mut contiguous_stride = 1i64;
    let is_contiguous = t.size.iter().zip(&t.stride).rev().all(|(&n, &s)| {
        let ok = n == 1 || s == contiguous_stride;
        contiguous_stride *= n;
        ok
    });
    if is_contiguous {
        return Ok(storage[offset * elem..(offset + count) * elem].to_vec());
    }
    // Row-major walk over the index space (an odometer over the dimensions).
    let dims = t.size.len();
    let mut index = vec![0i64; dims];
    let mut out = Vec::with_capacity(count * elem);
    for _ in 0..count {
        let at = offset + index.iter().zip(&t.stride).map(|(&i, &s)| (i * s) as usize).sum::<usize>();
        out.extend_from_slice(&storage[at * elem..(at + 1) * elem]);
        for d in (0..dims).rev() {
            index[d] += 1;
            if index[d] < t.size[d] {
                break;
            }
            index[d] = 0;
        }
    }
    Ok(out)
}

// ---- the pickle subset ----------------------------------------------------------------------

#[derive(Debug)]
struct StorageRef {
    dtype: DType,
    key: String,
    numel: u64,
}

#[derive(Debug)]
struct TensorRef {
    storage: Rc<StorageRef>,
    offset: i64,
    size: Vec<i64>,
    stride: Vec<i64>,
}

#[derive(Debug, Clone)]
enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Tuple(Rc<Vec<Value>>),
    List(Rc<RefCell<Vec<Value>>>),
    /// A dict or OrderedDict, in insertion order.
    Dict(Rc<RefCell<Vec<(Value, Value)>>>),
    Global(Rc<(String, String)>),
    Storage(Rc<StorageRef>),
    Tensor(Rc<TensorRef>),
}

impl Value {
    fn describe(&self) -> String {
        match self {
            Value::None => "None".into(),
            Value::Bool(b) => format!("the bool {b}"),
            Value::Int(i) => format!("the integer {i}"),
            Value::Float(f) => format!("the float {f}"),
            Value::Str(s) => format!("the string {s:?}"),
            Value::Tuple(t) => format!("a tuple of {}", t.len()),
            Value::List(l) => format!("a list of {}", l.borrow().len()),
            Value::Dict(d) => format!("a dict of {}", d.borrow().len()),
            Value::Global(g) => format!("`{}.{}`", g.0, g.1),
            Value::Storage(_) => "a storage".into(),
            Value::Tensor(_) => "a tensor".into(),
        }
    }

    fn int(&self, what: &str) -> Result<i64> {
        match self {
            Value::Int(i) => Ok(*i),
            other => bail!("{what} must be an integer, found {}", other.describe()),
        }
    }

    fn ints(&self, what: &str) -> Result<Vec<i64>> {
        match self {
            Value::Tuple(items) => items.iter().map(|v| v.int(what)).collect(),
            other => bail!("{what} must be a tuple of integers, found {}", other.describe()),
        }
    }
}

/// A cursor over the pickle bytes; every read fails cleanly at the end.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.bytes.len() - self.pos < n {
            bail!("the pickle ends in the middle of an instruction at byte {} (truncated)", self.pos);
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap_or_default()))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap_or_default()))
    }
    fn line(&mut self) -> Result<&'a str> {
        let rest = &self.bytes[self.pos..];
        let Some(end) = rest.iter().position(|&b| b == b'\n') else { bail!("the pickle ends inside a GLOBAL name (truncated)") };
        self.pos += end + 1;
        std::str::from_utf8(&rest[..end]).map_err(|_| anyhow!("a GLOBAL name is not UTF-8"))
    }
}

/// Runs the pickle machine over `bytes` and returns the object it builds.
fn unpickle(bytes: &[u8]) -> Result<Value> {
    let mut c = Cursor { bytes, pos: 0 };
    let mut stack: Vec<Value> = Vec::new();
    let mut marks: Vec<usize> = Vec::new();
    let mut memo: HashMap<u32, Value> = HashMap::new();
    fn pop(stack: &mut Vec<Value>, at: usize) -> Result<Value> {
        stack.pop().ok_or_else(|| anyhow!("pickle stack underflow at byte {at}"))
    }
    fn to_mark(stack: &mut Vec<Value>, marks: &mut Vec<usize>, at: usize) -> Result<Vec<Value>> {
        let m = marks.pop().ok_or_else(|| anyhow!("pickle instruction at byte {at} needs a MARK that is not there"))?;
        if m > stack.len() {
            bail!("pickle MARK beyond the stack at byte {at}");
        }
        Ok(stack.split_off(m))
    }
    loop {
        let at = c.pos;
        let op = c.u8().map_err(|_| anyhow!("the pickle ends without STOP (truncated)"))?;
        match op {
            0x80 => {
                let proto = c.u8()?;
                if proto != 2 {
                    bail!("pickle protocol {proto}: awmt reads torch.save's default protocol 2 (save without `pickle_protocol`)");
                }
            }
            b'(' => marks.push(stack.len()),
            b')' => stack.push(Value::Tuple(Rc::new(Vec::new()))),
            b'}' => stack.push(Value::Dict(Rc::new(RefCell::new(Vec::new())))),
            b']' => stack.push(Value::List(Rc::new(RefCell::new(Vec::new())))),
            b't' => {
                let items = to_mark(&mut stack, &mut marks, at)?;
                stack.push(Value::Tuple(Rc::new(items)));
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                if stack.len() < n {
                    bail!("pickle stack underflow at byte {at}");
                }
                let items = stack.split_off(stack.len() - n);
                stack.push(Value::Tuple(Rc::new(items)));
            }
            b'q' | b'r' => {
                let key = if op == b'q' { c.u8()? as u32 } else { c.u32()? };
                let top = stack.last().ok_or_else(|| anyhow!("pickle PUT on an empty stack at byte {at}"))?;
                memo.insert(key, top.clone());
            }
            b'h' | b'j' => {
                let key = if op == b'h' { c.u8()? as u32 } else { c.u32()? };
                let v = memo.get(&key).ok_or_else(|| anyhow!("pickle GET of unknown memo entry {key} at byte {at}"))?;
                stack.push(v.clone());
            }
            b'X' => {
                let n = c.u32()? as usize;
                let s = std::str::from_utf8(c.take(n)?).map_err(|_| anyhow!("a string at byte {at} is not UTF-8"))?;
                stack.push(Value::Str(s.to_string()));
            }
            b'K' => stack.push(Value::Int(c.u8()? as i64)),
            b'M' => stack.push(Value::Int(c.u16()? as i64)),
            b'J' => stack.push(Value::Int(c.u32()? as i32 as i64)),
            0x8a => {
                let n = c.u8()? as usize;
                let b = c.take(n)?;
                if n > 8 {
                    bail!("an integer of {n} bytes at byte {at} is too large");
                }
                let mut v: i64 = 0;
                for (i, &byte) in b.iter().enumerate() {
                    v |= (byte as i64) << (8 * i);
                }
                if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                    v -= 1i64 << (8 * n);
                }
                stack.push(Value::Int(v));
            }
            b'G' => stack.push(Value::Float(f64::from_be_bytes(c.take(8)?.try_into().unwrap_or_default()))),
            0x88 => stack.push(Value::Bool(true)),
            0x89 => stack.push(Value::Bool(false)),
            b'N' => stack.push(Value::None),
            b'c' => {
                let module = c.line()?.to_string();
                let name = c.line()?.to_string();
                stack.push(Value::Global(Rc::new((module, name))));
            }
            b'Q' => {
                let pid = pop(&mut stack, at)?;
                stack.push(persistent_load(&pid)?);
            }
            b'R' => {
                let args = pop(&mut stack, at)?;
                let func = pop(&mut stack, at)?;
                stack.push(reduce(&func, &args)?);
            }
            b'b' => {
                let state = pop(&mut stack, at)?;
                match stack.last() {
                    // OrderedDict's instance attributes (torch's `_metadata`): not needed.
                    Some(Value::Dict(_)) if matches!(state, Value::Dict(_)) => {}
                    Some(other) => bail!("pickle BUILD of {} with {} is not part of a state dict", other.describe(), state.describe()),
                    None => bail!("pickle stack underflow at byte {at}"),
                }
            }
            b's' | b'u' => {
                let items = if op == b's' {
                    let v = pop(&mut stack, at)?;
                    let k = pop(&mut stack, at)?;
                    vec![k, v]
                } else {
                    to_mark(&mut stack, &mut marks, at)?
                };
                if items.len() % 2 != 0 {
                    bail!("pickle SETITEMS with an odd number of values at byte {at}");
                }
                let Some(Value::Dict(d)) = stack.last() else { bail!("pickle SETITEM(S) on something that is not a dict at byte {at}") };
                let mut d = d.borrow_mut();
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    d.push((k, v));
                }
            }
            b'a' | b'e' => {
                let items = if op == b'a' { vec![pop(&mut stack, at)?] } else { to_mark(&mut stack, &mut marks, at)? };
                let Some(Value::List(l)) = stack.last() else { bail!("pickle APPEND(S) on something that is not a list at byte {at}") };
                l.borrow_mut().extend(items);
            }
            b'.' => {
                let v = pop(&mut stack, at)?;
                return Ok(v);
            }
            other => bail!(
                "pickle opcode 0x{other:02x} at byte {at} is not one torch.save emits for a state dict; awmt reads plain state dicts (torch.save(model.state_dict(), f))"
            ),
        }
    }
}

/// torch.save's persistent id of a storage: `('storage', torch.<Type>Storage, key, location, numel)`.
fn persistent_load(pid: &Value) -> Result<Value> {
    let Value::Tuple(items) = pid else { bail!("a persistent id must be a tuple, found {}", pid.describe()) };
    let [Value::Str(tag), Value::Global(class), Value::Str(key), Value::Str(_location), numel] = items.as_slice() else {
        bail!("a persistent id is not ('storage', type, key, location, numel)")
    };
    if tag != "storage" {
        bail!("persistent id of kind {tag:?}: only storages are supported");
    }
    let dtype = match (class.0.as_str(), DType::from_storage(&class.1)) {
        ("torch", Some(d)) => d,
        _ => bail!("storage type `{}.{}` is not supported (float, integer and bool storages are)", class.0, class.1),
    };
    let numel = numel.int("a storage's element count")?;
    if numel < 0 || key.is_empty() || key.contains('/') || key.contains("..") {
        bail!("a storage reference (key {key:?}, {numel} elements) is malformed");
    }
    Ok(Value::Storage(Rc::new(StorageRef { dtype, key: key.clone(), numel: numel as u64 })))
}

/// Applies one of the callables a state dict uses.
fn reduce(func: &Value, args: &Value) -> Result<Value> {
    let Value::Global(g) = func else { bail!("pickle REDUCE of {}, not a known function", func.describe()) };
    let Value::Tuple(args) = args else { bail!("arguments of `{}.{}` must be a tuple", g.0, g.1) };
    match (g.0.as_str(), g.1.as_str()) {
        ("collections", "OrderedDict") if args.is_empty() => Ok(Value::Dict(Rc::new(RefCell::new(Vec::new())))),
        ("torch._utils", "_rebuild_tensor_v2") => {
            // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
            if !(6..=7).contains(&args.len()) {
                bail!("_rebuild_tensor_v2 takes 6 or 7 arguments, got {}", args.len());
            }
            let Value::Storage(storage) = &args[0] else { bail!("_rebuild_tensor_v2: the first argument is {}, not a storage", args[0].describe()) };
            let offset = args[1].int("a tensor's storage offset")?;
            let size = args[2].ints("a tensor's size")?;
            let stride = args[3].ints("a tensor's stride")?;
            if let Value::Dict(hooks) = &args[5] {
                if !hooks.borrow().is_empty() {
                    bail!("a tensor with backward hooks is not part of a state dict");
                }
            }
            Ok(Value::Tensor(Rc::new(TensorRef { storage: storage.clone(), offset, size, stride })))
        }
        ("torch._utils", "_rebuild_parameter") if matches!(args.first(), Some(Value::Tensor(_))) => Ok(args[0].clone()),
        (m, n) => bail!("the pickle calls `{m}.{n}`, which is not part of a plain state dict of tensors"),
    }
}

/// The (name, tensor) pairs of the unpickled object: a dict of tensors, or a checkpoint dict whose
/// `state_dict` or `model` entry is one.
fn state_dict(v: Value) -> Result<Vec<(String, Rc<TensorRef>)>> {
    fn tensors(d: &[(Value, Value)]) -> Result<Vec<(String, Rc<TensorRef>)>> {
        d.iter()
            .map(|(k, v)| match (k, v) {
                (Value::Str(k), Value::Tensor(t)) => Ok((k.clone(), t.clone())),
                (Value::Str(k), other) => bail!("entry `{k}` of the state dict is {}, not a tensor", other.describe()),
                (other, _) => bail!("a state dict key is {}, not a string", other.describe()),
            })
            .collect()
    }
    let Value::Dict(d) = &v else { bail!("the checkpoint holds {}, not a state dict", v.describe()) };
    let d = d.borrow();
    match tensors(&d) {
        Ok(t) => Ok(t),
        Err(e) => {
            for (k, inner) in d.iter() {
                if let (Value::Str(k), Value::Dict(inner)) = (k, inner) {
                    if k == "state_dict" || k == "model" {
                        return tensors(&inner.borrow()).with_context(|| format!("entry `{k}`"));
                    }
                }
            }
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A pickle writer for the opcodes above (the tests' own, independent of the reader).
    #[derive(Default)]
    struct P(Vec<u8>);
    impl P {
        fn op(&mut self, b: u8) -> &mut Self {
            self.0.push(b);
            self
        }
        fn global(&mut self, m: &str, n: &str) -> &mut Self {
            self.0.push(b'c');
            self.0.extend_from_slice(format!("{m}\n{n}\n").as_bytes());
            self
        }
        fn str(&mut self, s: &str) -> &mut Self {
            self.0.push(b'X');
            self.0.extend_from_slice(&(s.len() as u32).to_le_bytes());
            self.0.extend_from_slice(s.as_bytes());
            self
        }
        fn int(&mut self, i: i64) -> &mut Self {
            if (0..256).contains(&i) {
                self.0.extend_from_slice(&[b'K', i as u8]);
            } else {
                self.0.push(b'J');
                self.0.extend_from_slice(&(i as i32).to_le_bytes());
            }
            self
        }
        fn ints(&mut self, v: &[i64]) -> &mut Self {
            self.op(b'(');
            for &i in v {
                self.int(i);
            }
            self.op(b't')
        }
        /// `_rebuild_tensor_v2(storage(key), offset, size, stride, False, OrderedDict())`.
        fn tensor(&mut self, class: &str, key: &str, numel: i64, offset: i64, size: &[i64], stride: &[i64]) -> &mut Self {
            self.global("torch._utils", "_rebuild_tensor_v2").op(b'(');
            self.op(b'(').str("storage").global("torch", class).str(key).str("cpu").int(numel).op(b't').op(b'Q');
            self.int(offset).ints(size).ints(stride).op(0x89);
            self.global("collections", "OrderedDict").op(b')').op(b'R');
            self.op(b't').op(b'R')
        }
    }

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Stored);
        for (name, bytes) in entries {
            w.start_file(*name, opts).unwrap();
            w.write_all(bytes).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    /// {'a': 2×3 view, transposed, of a 6-float storage at offset 0; 'b': the same storage from
    /// offset 2 as 2 elements; 'n': a 0-dim int64}.
    fn sample() -> Vec<u8> {
        let mut p = P::default();
        p.op(0x80).op(2).global("collections", "OrderedDict").op(b')').op(b'R').op(b'q').op(0).op(b'(');
        p.str("a").tensor("FloatStorage", "0", 6, 0, &[3, 2], &[1, 3]).op(b'q').op(1);
        p.str("b");
        // The second tensor reuses storage "0" through a fresh persistent id, as pickle would
        // through the memo; both paths must give the same bytes.
        p.tensor("FloatStorage", "0", 6, 2, &[2], &[1]);
        p.str("n").tensor("LongStorage", "1", 1, 0, &[], &[]);
        p.op(b'u');
        // BUILD with `_metadata`, as OrderedDict's __reduce__ gives.
        p.op(b'}').str("_metadata").op(b'}').op(b's').op(b'b').op(b'.');
        p.0
    }

    #[test]
    fn reads_views_offsets_and_dtypes() {
        let storage = f32_bytes(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        let file = zip_of(&[("ck/data.pkl", &sample()), ("ck/byteorder", b"little"), ("ck/data/0", &storage), ("ck/data/1", &7i64.to_le_bytes())]);
        let t = read_bytes(&file).unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!((t[0].name.as_str(), t[0].dtype, t[0].shape.clone()), ("a", DType::F32, vec![3, 2]));
        // Element [i][j] is storage[i + 3j].
        assert_eq!(t[0].data, f32_bytes(&[0.0, 3.0, 1.0, 4.0, 2.0, 5.0]));
        assert_eq!(t[1].data, f32_bytes(&[2.0, 3.0]));
        assert_eq!((t[2].dtype, t[2].shape.len(), t[2].data.clone()), (DType::I64, 0, 7i64.to_le_bytes().to_vec()));
    }

    #[test]
    fn malformed_files_are_errors_that_say_what() {
        let storage = f32_bytes(&[0.0; 6]);
        let good = sample();
        let err = |entries: &[(&str, &[u8])]| format!("{:#}", read_bytes(&zip_of(entries)).unwrap_err());
        // A storage shorter than its element count.
        let e = err(&[("ck/data.pkl", &good), ("ck/data/0", &storage[..20]), ("ck/data/1", &[0; 8])]);
        assert!(e.contains("tensor `a`") && e.contains("holds 20 bytes"), "{e}");
        // A missing storage entry.
        let e = err(&[("ck/data.pkl", &good), ("ck/data/1", &[0; 8])]);
        assert!(e.contains("ck/data/0") && e.contains("tensor `a`"), "{e}");
        // A truncated pickle.
        let e = err(&[("ck/data.pkl", &good[..40]), ("ck/data/0", &storage)]);
        assert!(e.contains("truncated"), "{e}");
        // Big-endian files, other protocols, unknown callables.
        let e = err(&[("ck/data.pkl", &good), ("ck/byteorder", b"big")]);
        assert!(e.contains("big-endian"), "{e}");
        let mut p4 = good.clone();
        p4[1] = 4;
        assert!(err(&[("ck/data.pkl", &p4)]).contains("protocol 4"));
        let mut evil = P::default();
        evil.op(0x80).op(2).global("os", "system").str("true").op(0x85).op(b'R').op(b'.');
        let e = err(&[("ck/data.pkl", &evil.0)]);
        assert!(e.contains("`os.system`"), "{e}");
        // A view that runs past its storage.
        let mut p = P::default();
        p.op(0x80).op(2).op(b'}').str("w").tensor("FloatStorage", "0", 6, 4, &[3], &[1]).op(b's').op(b'.');
        let e = err(&[("ck/data.pkl", &p.0), ("ck/data/0", &storage)]);
        assert!(e.contains("tensor `w`") && e.contains("reaches element 6"), "{e}");
        // Not a state dict; no data.pkl; a truncated archive.
        let mut p = P::default();
        p.op(0x80).op(2).op(b'}').str("epoch").int(3).op(b's').op(b'.');
        assert!(err(&[("ck/data.pkl", &p.0)]).contains("entry `epoch` of the state dict is the integer 3"));
        assert!(err(&[("ck/other", b"x")]).contains("data.pkl"));
        let whole = zip_of(&[("ck/data.pkl", &good), ("ck/data/0", &storage), ("ck/data/1", &[0; 8])]);
        let e = format!("{:#}", read_bytes(&whole[..whole.len() - 30]).unwrap_err());
        assert!(e.contains("not a complete torch.save checkpoint"), "{e}");
    }

    #[test]
    fn a_checkpoint_dict_with_a_state_dict_entry_is_unwrapped() {
        let mut p = P::default();
        p.op(0x80).op(2).op(b'}').op(b'(').str("epoch").int(90).str("state_dict").op(b'}');
        p.str("w").tensor("FloatStorage", "0", 1, 0, &[1], &[1]).op(b's').op(b'u').op(b'.');
        let t = read_bytes(&zip_of(&[("x/data.pkl", &p.0), ("x/data/0", &f32_bytes(&[2.5]))])).unwrap();
        assert_eq!((t[0].name.as_str(), t[0].data.clone()), ("w", f32_bytes(&[2.5])));
    }

    #[test]
    fn detects_the_file_formats() {
        assert!(is_zip(b"PK\x03\x04rest"));
        assert!(is_legacy_pickle(&[0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]));
        // A safetensors file whose 8-byte header length is 0x480 also starts with 0x80 0x04.
        assert!(!is_legacy_pickle(&[0x80, 0x04, 0, 0, 0, 0, 0, 0, b'{']));
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert!(is_tar(&tar) && !is_tar(&tar[..200]));
    }
}
