//! A stage's `with:` parameters parsed into a kind's own struct, with errors located by their key
//! path under `with:` so the pipeline layer can quote the user's line. Shared by the stage kinds
//! and the domain configurations they parse (e.g. `train::config`), which must not depend on
//! `stages`.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A problem with one `with:` parameter, located by its key path under `with:` so the pipeline
/// layer can quote the user's line.
#[derive(Debug, Clone)]
pub struct ParamError {
    /// Keys below `with:` (e.g. `["weighting", "k"]`); empty when it concerns `with:` as a whole.
    pub path: Vec<String>,
    pub message: String,
}

impl ParamError {
    pub fn new(path: &[&str], message: impl Into<String>) -> Self {
        ParamError { path: path.iter().map(|s| s.to_string()).collect(), message: message.into() }
    }
}

/// Deserialises `with:` (null = `{}`) into `T`, locating any error by its key path under `with:`.
pub fn parse_params<T: DeserializeOwned>(with: &serde_json::Value) -> Result<T, ParamError> {
    let value = if with.is_null() { serde_json::Value::Object(Default::default()) } else { with.clone() };
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path: Vec<String> = e
            .path()
            .iter()
            .filter_map(|seg| match seg {
                serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                _ => None,
            })
            .collect();
        ParamError { path, message: e.into_inner().to_string() }
    })
}

/// Deserialises `with:` into `T` (which should `#[serde(deny_unknown_fields)]` and give defaults)
/// and serialises it back, so that the canonical parameters carry every default explicitly.
pub fn canonical_params<T: DeserializeOwned + Serialize>(with: &serde_json::Value) -> Result<serde_json::Value, ParamError> {
    let parsed: T = parse_params(with)?;
    serde_json::to_value(&parsed).map_err(|e| ParamError { path: vec![], message: e.to_string() })
}
