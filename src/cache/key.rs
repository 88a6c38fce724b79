//! Stage keys: what decides whether a stage must run again.
//!
//! A stage's key is the blake3 hash of this canonical text (one item per line):
//!
//! ```text
//! awmt-stage-key
//! format 1                                 FORMAT_VERSION: bumped when this encoding changes
//! kind <kind> <kind version>               StageKind::version(): bumped when a kind's code would
//!                                          now write different bytes for the same inputs
//! params <canonical JSON>                  the resolved parameters with every default filled in
//!                                          (after `extends`, `foreach` and `${...}`), keys sorted
//! input <slot> <name> <digest>             one line per input item, in the order written:
//!                                            a stage input: its name and its *output digest*
//!                                            (blake3 of its manifest's path/size/hash list), so a
//!                                            re-run upstream that writes the same bytes does not
//!                                            invalidate anything below it; measured fields a kind
//!                                            declares volatile (`train_summary.json`'s `timing`)
//!                                            are left out of that digest, so a retrained model
//!                                            with identical bytes does not either;
//!                                            a file: its path as written and its content hash;
//!                                            a directory: its path and a tree hash of every file's
//!                                            relative path, size and content hash.
//! ```
//!
//! Deliberately **not** in the key:
//! - the stage's own name and the pipeline's name: renaming does not recompute, and two identical
//!   stages share one entry (the names of *input* stages are in, because kinds such as `compare`
//!   print them);
//! - `resources`, `executor` and `slurm` settings: where and with how many threads a stage runs
//!   does not change what it computes (kinds are deterministic for a given thread count on CPU; a
//!   kind whose result depends on threads puts them into its parameters);
//! - modification times, inode numbers and absolute paths: touching a file without changing its
//!   bytes, or moving the project, reruns nothing (the stat index only avoids re-hashing);
//! - environment variables, except through `${env:...}`, whose value is in the parameters;
//! - the awmt binary itself: a change that alters outputs must bump the kind's version.

use serde::{Deserialize, Serialize};

/// Version of the key encoding above.
pub const FORMAT_VERSION: u32 = 1;

/// JSON with object keys sorted at every level and no insignificant whitespace: the same value
/// always gives the same bytes, whatever order its maps were built in.
pub fn canonical_json(v: &serde_json::Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &serde_json::Value, out: &mut String) {
    match v {
        serde_json::Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).unwrap_or_default());
                out.push(':');
                write_canonical(&m[*k], out);
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&serde_json::to_string(other).unwrap_or_default()),
    }
}

/// One input item's contribution to the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInput {
    pub slot: String,
    /// Upstream stage name, or the path as written.
    pub name: String,
    /// `stage:<output digest>`, `file:<hash>` or `dir:<tree hash>`.
    pub digest: String,
}

/// Everything a key is made of; kept in run records so `awmt status` can say what changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyParts {
    pub kind: String,
    pub kind_version: u32,
    pub params: serde_json::Value,
    pub inputs: Vec<KeyInput>,
}

impl KeyParts {
    /// The canonical text that is hashed.
    pub fn canonical_text(&self) -> String {
        let mut s = format!(
            "awmt-stage-key\nformat {FORMAT_VERSION}\nkind {} {}\nparams {}\n",
            self.kind,
            self.kind_version,
            canonical_json(&self.params)
        );
        for i in &self.inputs {
            s.push_str(&format!("input {} {} {}\n", i.slot, i.name.replace('\n', " "), i.digest));
        }
        s
    }

    /// The stage key (64 hex digits).
    pub fn key(&self) -> String {
        blake3::hash(self.canonical_text().as_bytes()).to_hex().to_string()
    }

    /// Human-readable reasons why `self` differs from an earlier `old`.
    pub fn changes_since(&self, old: &KeyParts) -> Vec<String> {
        let mut why = Vec::new();
        if self.kind != old.kind || self.kind_version != old.kind_version {
            why.push(format!("kind changed: {} v{} → {} v{}", old.kind, old.kind_version, self.kind, self.kind_version));
        }
        diff_json("", &old.params, &self.params, &mut why);
        for new in &self.inputs {
            match old.inputs.iter().find(|o| o.slot == new.slot && o.name == new.name) {
                None => why.push(format!("new input `{}` in `{}`", new.name, new.slot)),
                Some(o) if o.digest != new.digest => {
                    let what = if new.digest.starts_with("stage:") { "output of stage" } else { "content of" };
                    why.push(format!("{what} `{}` changed", new.name));
                }
                _ => {}
            }
        }
        for o in &old.inputs {
            if !self.inputs.iter().any(|n| n.slot == o.slot && n.name == o.name) {
                why.push(format!("input `{}` removed from `{}`", o.name, o.slot));
            }
        }
        if why.is_empty() && self.inputs != old.inputs {
            why.push("input order changed".to_string());
        }
        why
    }
}

fn diff_json(path: &str, old: &serde_json::Value, new: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => diff_json(&p, x, y, out),
                    (None, Some(y)) => out.push(format!("parameter `{p}` added: {}", short(y))),
                    (Some(x), None) => out.push(format!("parameter `{p}` removed (was {})", short(x))),
                    (None, None) => {}
                }
            }
        }
        (a, b) if a != b => out.push(format!("parameter `{}` changed: {} → {}", if path.is_empty() { "(all)" } else { path }, short(a), short(b))),
        _ => {}
    }
}

fn short(v: &serde_json::Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(57).collect::<String>())
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys() {
        let a: serde_json::Value = serde_json::from_str(r#"{"b":1,"a":{"d":[1,2],"c":null}}"#).unwrap();
        assert_eq!(canonical_json(&a), r#"{"a":{"c":null,"d":[1,2]},"b":1}"#);
    }

    fn parts(lr: f64, digest: &str) -> KeyParts {
        KeyParts {
            kind: "train".into(),
            kind_version: 1,
            params: serde_json::json!({"lr": lr, "model": "cnn"}),
            inputs: vec![KeyInput { slot: "data".into(), name: "prep".into(), digest: digest.into() }],
        }
    }

    #[test]
    fn key_depends_on_params_and_inputs_only() {
        assert_eq!(parts(0.1, "stage:a").key(), parts(0.1, "stage:a").key());
        assert_ne!(parts(0.1, "stage:a").key(), parts(0.2, "stage:a").key());
        assert_ne!(parts(0.1, "stage:a").key(), parts(0.1, "stage:b").key());
    }

    #[test]
    fn explains_changes() {
        let why = parts(0.2, "stage:b").changes_since(&parts(0.1, "stage:a"));
        assert_eq!(why, vec!["parameter `lr` changed: 0.1 → 0.2".to_string(), "output of stage `prep` changed".to_string()]);
    }
}
