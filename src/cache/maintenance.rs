//! `awmt verify` (re-hash every object, check every manifest field, quarantine what is corrupt)
//! and `awmt gc` (drop entries no pipeline reaches).

use std::collections::HashSet;

use anyhow::Result;

use super::Cache;

/// One entry that failed verification.
#[derive(Debug, Clone)]
pub struct Corrupt {
    pub key: String,
    pub stage: String,
    /// Damaged or unexpected files; `manifest.json: <why>` when the manifest itself is unreadable
    /// or inconsistent.
    pub files: Vec<String>,
    /// Where the entry was moved (under `quarantine/`), when it was.
    pub moved_to: Option<std::path::PathBuf>,
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

    /// Re-hashes every file of every entry and checks every manifest field; with `quarantine`,
    /// moves each corrupt entry to `quarantine/` so that no run uses it again (the next run
    /// recomputes it). Call with the cache lock held when quarantining.
    pub fn verify(&self, quarantine: bool) -> Result<(usize, Vec<Corrupt>)> {
        let keys = self.keys()?;
        let mut bad = Vec::new();
        for key in &keys {
            let (stage, files) = match self.read_entry(key) {
                Err(why) => {
                    let stage = std::fs::read_to_string(self.entry_dir(key).join("manifest.json"))
                        .ok()
                        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                        .and_then(|v| v["stage"].as_str().map(str::to_string))
                        .unwrap_or_else(|| "?".into());
                    (stage, vec![why])
                }
                Ok(e) => (e.manifest.stage.clone(), e.damaged_files(true)),
            };
            if files.is_empty() {
                continue;
            }
            let moved_to = if quarantine { Some(self.quarantine(key)?) } else { None };
            bad.push(Corrupt { key: key.clone(), stage, files, moved_to });
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
