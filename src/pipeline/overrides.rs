//! `--set PATH=VALUE` overrides (as DVC's `exp run -S` and Hydra's `key=value`): a dotted path
//! into the pipeline document, changed before `extends` and `foreach` are expanded, so the new
//! value flows into every stage built from it and so into their parameters and keys.
//!
//! `vars.seed=3`, `stages.basic.with.iterations=200`, `stages.eval.with.split=val`; a sequence
//! item by its index (`stages.split.with.size.0=128`). A key with dots in it (a stage named
//! `a.b`) is matched whole. The value is parsed as YAML (`3` a number, `[1, 2]` a list, `"3"` a
//! string, nothing at all null). `+PATH=VALUE` adds a key that is not there (creating the maps
//! on the way); without `+`, a path that does not exist is an error that names the closest one
//! that does.

use serde_yaml::{Mapping, Value};

use super::diag::suggest;

/// One `--set` flag.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    /// The flag as given, for messages: `--set stages.a.with.n=3`.
    pub flag: String,
    pub path: Vec<String>,
    /// `+PATH=VALUE`: add a key that is not there.
    pub add: bool,
    pub value: Value,
}

/// Parses `PATH=VALUE` or `+PATH=VALUE`.
pub fn parse(arg: &str) -> Result<Override, String> {
    let flag = format!("--set {arg}");
    let Some((lhs, rhs)) = arg.split_once('=') else {
        return Err(format!("`{flag}`: expected PATH=VALUE, e.g. `--set vars.seed=3` or `--set stages.basic.with.iterations=200`"));
    };
    let (add, lhs) = match lhs.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, lhs),
    };
    let path: Vec<String> = lhs.trim().split('.').map(str::to_string).collect();
    if path.iter().any(|s| s.is_empty()) {
        return Err(format!("`{flag}`: the path `{lhs}` has an empty part; write keys separated by single dots, e.g. `vars.seed`"));
    }
    let value: Value = serde_yaml::from_str(rhs).map_err(|e| {
        let why = e.to_string();
        let why = why.split(" at line ").next().unwrap_or(&why).to_string();
        format!("`{flag}`: the value `{rhs}` is not valid YAML ({why}); to pass it as a string, quote it in YAML: `--set '{lhs}=\"…\"'`")
    })?;
    Ok(Override { flag, path, add, value })
}

/// Applies `ov` to the document; returns the keys it followed (a dotted key is one of them), for
/// pointing errors about the new value at the flag.
pub fn apply(doc: &mut Value, ov: &Override) -> Result<Vec<String>, String> {
    let mut node = doc;
    let mut keys: Vec<String> = Vec::new();
    let mut rest: &[String] = &ov.path;
    while !rest.is_empty() {
        let here = if keys.is_empty() { "the document".to_string() } else { format!("`{}`", keys.join(".")) };
        match node {
            Value::Mapping(map) => {
                // The longest run of parts that is a key (stage names may contain dots).
                let found = (1..=rest.len()).rev().map(|j| rest[..j].join(".")).find(|k| map.contains_key(k.as_str()));
                match found {
                    Some(k) => {
                        rest = &rest[k.split('.').count()..];
                        keys.push(k.clone());
                        node = map.get_mut(k.as_str()).expect("just found");
                    }
                    None if ov.add => {
                        keys.extend(rest.iter().cloned());
                        map.insert(Value::from(rest[0].clone()), nested(&rest[1..], ov.value.clone()));
                        return Ok(keys);
                    }
                    None => return Err(missing(ov, &keys, rest, map)),
                }
            }
            Value::Sequence(items) => {
                let len = items.len();
                let Some(item) = rest[0].parse::<usize>().ok().and_then(|n| items.get_mut(n)) else {
                    return Err(format!(
                        "`{}`: {here} is a list of {len} item{}; `{}` is not an index into it (0 to {})",
                        ov.flag,
                        if len == 1 { "" } else { "s" },
                        rest[0],
                        len.saturating_sub(1)
                    ));
                };
                keys.push(rest[0].clone());
                rest = &rest[1..];
                node = item;
            }
            _ => {
                return Err(format!(
                    "`{}`: {here} is a single value, so it has no `{}`; the closest existing path is `{}`",
                    ov.flag,
                    rest[0],
                    keys.join(".")
                ))
            }
        }
    }
    if ov.add {
        return Err(format!("`{}`: `{}` already exists; drop the `+` to change it", ov.flag, keys.join(".")));
    }
    *node = ov.value.clone();
    Ok(keys)
}

fn nested(path: &[String], value: Value) -> Value {
    path.iter().rev().fold(value, |inner, k| {
        let mut m = Mapping::new();
        m.insert(Value::from(k.clone()), inner);
        Value::Mapping(m)
    })
}

/// "No such path": the closest existing one, and how to add it instead.
fn missing(ov: &Override, found: &[String], rest: &[String], map: &Mapping) -> String {
    let names: Vec<&str> = map.keys().filter_map(Value::as_str).collect();
    let wanted = [found, &rest[..1]].concat().join(".");
    let closest = suggest(&rest[0], names.iter().copied()).or_else(|| suggest(&rest.join("."), names.iter().copied()));
    let closest = match closest {
        Some(name) => format!("the closest existing path is `{}`", [found, &[name.to_string()]].concat().join(".")),
        None if found.is_empty() => format!("the document has {}", list(&names)),
        None => format!("the closest existing path is `{}`, which has {}", found.join("."), list(&names)),
    };
    let plus = ov.flag.replacen("--set ", "--set +", 1);
    format!("`{}`: the pipeline has no `{wanted}`; {closest} (to add a key that is not there, write `{plus}`)", ov.flag)
}

fn list(names: &[&str]) -> String {
    match names.len() {
        0 => "no keys".into(),
        _ if names.len() > 12 => format!("keys {} …", names[..12].iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")),
        _ => format!("keys {}", names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        serde_yaml::from_str("vars: {seed: 0}\nstages:\n  train:\n    with: {iterations: 10, size: [64, 64]}\n  a.b:\n    cmd: x\n").unwrap()
    }

    fn set(doc: &mut Value, arg: &str) -> Result<Vec<String>, String> {
        apply(doc, &parse(arg)?)
    }

    #[test]
    fn changes_values_parsed_as_yaml() {
        let mut d = doc();
        set(&mut d, "vars.seed=3").unwrap();
        assert_eq!(d["vars"]["seed"], Value::from(3));
        set(&mut d, "stages.train.with.size.1=[1, 2]").unwrap();
        assert_eq!(d["stages"]["train"]["with"]["size"][1], serde_yaml::from_str::<Value>("[1, 2]").unwrap());
        set(&mut d, "stages.train.with.iterations=\"7\"").unwrap();
        assert_eq!(d["stages"]["train"]["with"]["iterations"], Value::from("7"));
        // A key with a dot is matched whole.
        assert_eq!(set(&mut d, "stages.a.b.cmd=y").unwrap(), vec!["stages", "a.b", "cmd"]);
        assert_eq!(d["stages"]["a.b"]["cmd"], Value::from("y"));
    }

    #[test]
    fn unknown_paths_name_the_closest_and_the_flag() {
        let mut d = doc();
        let e = set(&mut d, "stages.trian.with.iterations=5").unwrap_err();
        assert!(e.contains("`--set stages.trian.with.iterations=5`"), "{e}");
        assert!(e.contains("closest existing path is `stages.train`"), "{e}");
        assert!(e.contains("`--set +stages.trian.with.iterations=5`"), "{e}");
        let e = set(&mut d, "stages.train.with.zzz=5").unwrap_err();
        assert!(e.contains("closest existing path is `stages.train.with`, which has keys `iterations`, `size`"), "{e}");
        let e = set(&mut d, "stages.train.with.size.2=5").unwrap_err();
        assert!(e.contains("list of 2 items"), "{e}");
        let e = set(&mut d, "vars.seed.x=5").unwrap_err();
        assert!(e.contains("`vars.seed` is a single value"), "{e}");
        assert!(parse("vars.seed").unwrap_err().contains("PATH=VALUE"));
        assert!(parse("vars..seed=1").unwrap_err().contains("empty part"));
        assert!(parse("vars.seed=[1, 2").unwrap_err().contains("not valid YAML"));
    }

    #[test]
    fn plus_adds_only_what_is_missing() {
        let mut d = doc();
        set(&mut d, "+stages.train.resources.gpus=0.25").unwrap();
        assert_eq!(d["stages"]["train"]["resources"]["gpus"], Value::from(0.25));
        let e = set(&mut d, "+vars.seed=1").unwrap_err();
        assert!(e.contains("already exists; drop the `+`"), "{e}");
    }
}
