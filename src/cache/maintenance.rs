//! `awmt verify` (re-hash every object) and `awmt gc` (drop entries no pipeline reaches).

use std::collections::HashSet;

use anyhow::Result;

use super::Cache;

/// One entry that failed verification.
#[derive(Debug, Clone)]
pub struct Corrupt {
    pub key: String,
    pub stage: String,
    /// Damaged or unexpected files; `manifest.json` when the manifest itself is unreadable.
    pub files: Vec<String>,
}

impl Cache {
    /// Every published key (directory names under `stages/`).
    pub fn keys(&self) -> Result<Vec<String>> {
        let mut keys: Vec<String> = std::fs::read_dir(self.stages_dir())?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        keys.sort();
        Ok(keys)
    }

    /// Re-hashes every file of every entry.
    pub fn verify(&self) -> Result<(usize, Vec<Corrupt>)> {
        let keys = self.keys()?;
        let mut bad = Vec::new();
        for key in &keys {
            match self.entry(key) {
                None => bad.push(Corrupt { key: key.clone(), stage: "?".into(), files: vec!["manifest.json".into()] }),
                Some(e) => {
                    let files = e.damaged_files(true);
                    if !files.is_empty() {
                        bad.push(Corrupt { key: key.clone(), stage: e.manifest.stage.clone(), files });
                    }
                }
            }
        }
        Ok((keys.len(), bad))
    }

    /// Entries (key, stage, bytes) not in `live`; removed unless `dry_run`. Scratch directories
    /// and logs of removed keys go too.
    pub fn gc(&self, live: &HashSet<String>, dry_run: bool) -> Result<Vec<(String, String, u64)>> {
        let mut removed = Vec::new();
        for key in self.keys()? {
            if live.contains(&key) {
                continue;
            }
            let (stage, bytes) = match self.entry(&key) {
                Some(e) => (e.manifest.stage.clone(), e.manifest.files.iter().map(|f| f.size).sum()),
                None => ("?".to_string(), 0),
            };
            if !dry_run {
                self.evict(&key)?;
                let _ = std::fs::remove_dir_all(self.scratch_dir(&key));
                let _ = std::fs::remove_file(self.log_path(&key));
            }
            removed.push((key, stage, bytes));
        }
        Ok(removed)
    }
}
