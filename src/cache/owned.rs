//! Which workspace paths awmt created: a command's `outs` are removed before it runs and restored
//! from the cache when it is cached, and awmt only ever deletes or replaces a path it wrote itself.
//! Before a stage first runs, each of its output paths that does not exist yet is claimed here (a
//! marker `owned/<blake3 of the absolute path>` holding the path); a path that already exists and
//! was never claimed belongs to the user, and awmt refuses to delete or overwrite it.

use std::path::Path;

use anyhow::{Context as _, Result};

use super::Cache;

impl Cache {
    fn owned_marker(&self, path: &Path) -> std::path::PathBuf {
        let h = blake3::hash(path.as_os_str().as_encoded_bytes());
        self.root.join("owned").join(h.to_hex().as_str())
    }

    /// Whether awmt created (or restored) the workspace path `path` (absolute).
    pub fn owns(&self, path: &Path) -> bool {
        std::fs::read(self.owned_marker(path)).is_ok_and(|b| b == path.as_os_str().as_encoded_bytes())
    }

    /// Records that awmt is about to create `path` (absolute), or has just restored it.
    pub fn claim(&self, path: &Path) -> Result<()> {
        let marker = self.owned_marker(path);
        if self.owns(path) {
            return Ok(());
        }
        crate::util::write_atomic(&marker, path.as_os_str().as_encoded_bytes())
            .with_context(|| format!("recording {} as an output of awmt", path.display()))
    }
}
