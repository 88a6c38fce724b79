//! Reads what the `prepare` stage wrote: a split decoded once into an N×H×W×3 uint8 file that is
//! memory-mapped, so training and evaluation never decode a JPEG twice.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use memmap2::Mmap;
use serde::{Deserialize, Serialize};

/// `prepared.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreparedInfo {
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    /// Split name -> number of images in `<split>.u8`.
    pub splits: BTreeMap<String, usize>,
    /// Per-channel mean and std (RGB, on the 0..1 scale) used to normalise tensors.
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl PreparedInfo {
    pub const FILE: &'static str = "prepared.json";

    pub fn load(dir: &Path) -> Result<PreparedInfo> {
        let path = dir.join(Self::FILE);
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{}: not a valid prepared-data header", path.display()))
    }

    pub fn save(&self, dir: &Path) -> Result<()> {
        let path = dir.join(Self::FILE);
        crate::util::write_json(&path, self)
    }

    pub fn image_bytes(&self) -> usize {
        self.height * self.width * self.channels
    }
}

/// One memory-mapped split.
pub struct PreparedSplit {
    pub info: PreparedInfo,
    pub len: usize,
    map: Mmap,
}

impl PreparedSplit {
    pub fn open(dir: &Path, split: &str) -> Result<PreparedSplit> {
        let info = PreparedInfo::load(dir)?;
        let Some(&len) = info.splits.get(split) else {
            bail!("{}: no split `{split}` was prepared (have: {:?})", dir.display(), info.splits.keys().collect::<Vec<_>>())
        };
        let path = dir.join(format!("{split}.u8"));
        let file = File::open(&path).with_context(|| format!("opening {}", path.display()))?;
        // SAFETY: the file is a published cache object that nothing writes to while it is mapped.
        let map = unsafe { Mmap::map(&file) }.with_context(|| format!("mapping {}", path.display()))?;
        if map.len() != len * info.image_bytes() {
            bail!(
                "{}: expected {len} images of {}×{}×{} bytes ({} bytes), found {} bytes; re-run the prepare stage",
                path.display(),
                info.height,
                info.width,
                info.channels,
                len * info.image_bytes(),
                map.len()
            );
        }
        Ok(PreparedSplit { info, len, map })
    }

    /// Raw HWC RGB bytes of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.info.image_bytes();
        &self.map[i * n..(i + 1) * n]
    }
}
