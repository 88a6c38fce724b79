//! `${name}` and `${env:NAME:-default}` interpolation over YAML values.
//!
//! A scalar that is exactly one `${name}` takes the variable's value with its type (a number, a
//! list); inside a longer string the value is spliced in as text. `$${` writes a literal `${`.
//! Values from the environment are read as YAML scalars when they stand alone, so
//! `iterations: ${env:ITERS:-600}` is the number 600.

use std::collections::BTreeMap;

use serde_yaml::Value;

/// Why a string could not be interpolated; `offset` is the byte offset of the `${` in the string.
#[derive(Debug, Clone, PartialEq)]
pub struct InterpError {
    pub offset: usize,
    pub len: usize,
    pub message: String,
    pub help: Option<String>,
}

/// The variables visible to a value: layers searched innermost first, then the environment.
pub struct Scope<'a> {
    pub layers: Vec<&'a BTreeMap<String, Value>>,
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Scope<'a> {
    fn lookup(&self, name: &str) -> Option<&Value> {
        self.layers.iter().find_map(|l| l.get(name))
    }

    fn names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.layers.iter().flat_map(|l| l.keys().map(|k| k.as_str())).collect();
        v.sort();
        v.dedup();
        v
    }
}

enum Piece<'s> {
    Text(&'s str),
    Var { name: &'s str, offset: usize, len: usize },
    Env { name: &'s str, default: Option<&'s str>, offset: usize, len: usize },
}

fn tokenize(s: &str) -> Result<Vec<Piece<'_>>, InterpError> {
    let mut out = Vec::new();
    let mut rest_start = 0;
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' && s[i..].starts_with("$${") {
            out.push(Piece::Text(&s[rest_start..i]));
            out.push(Piece::Text("${"));
            i += 3;
            rest_start = i;
            continue;
        }
        if bytes[i] == b'$' && s[i..].starts_with("${") {
            out.push(Piece::Text(&s[rest_start..i]));
            let Some(close) = s[i..].find('}') else {
                return Err(InterpError {
                    offset: i,
                    len: s.len() - i,
                    message: "unterminated `${`".into(),
                    help: Some("close it with `}`, or write `$${` for a literal `${`".into()),
                });
            };
            let inner = &s[i + 2..i + close];
            let len = close + 1;
            if let Some(env) = inner.strip_prefix("env:") {
                let (name, default) = match env.find(":-") {
                    Some(p) => (&env[..p], Some(&env[p + 2..])),
                    None => (env, None),
                };
                out.push(Piece::Env { name, default, offset: i, len });
            } else {
                if inner.is_empty() || !inner.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.') {
                    return Err(InterpError {
                        offset: i,
                        len,
                        message: format!("`${{{inner}}}` is not a variable reference"),
                        help: Some("use `${name}` or `${env:NAME:-default}`".into()),
                    });
                }
                out.push(Piece::Var { name: inner, offset: i, len });
            }
            i += len;
            rest_start = i;
            continue;
        }
        i += 1;
    }
    out.push(Piece::Text(&s[rest_start..]));
    out.retain(|p| !matches!(p, Piece::Text("")));
    Ok(out)
}

/// Interpolates one string.
pub fn interpolate_str(s: &str, scope: &Scope) -> Result<Value, InterpError> {
    if !s.contains("${") {
        return Ok(Value::String(s.to_string()));
    }
    let pieces = tokenize(s)?;
    if let [single] = pieces.as_slice() {
        match single {
            Piece::Var { name, offset, len } => return resolve_var(name, *offset, *len, scope).cloned(),
            Piece::Env { name, default, offset, len } => {
                let text = resolve_env(name, *default, *offset, *len, scope)?;
                return Ok(yaml_scalar(&text));
            }
            Piece::Text(t) => return Ok(Value::String(t.to_string())),
        }
    }
    let mut out = String::new();
    for p in &pieces {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Env { name, default, offset, len } => out.push_str(&resolve_env(name, *default, *offset, *len, scope)?),
            Piece::Var { name, offset, len } => {
                let v = resolve_var(name, *offset, *len, scope)?;
                match v {
                    Value::String(t) => out.push_str(t),
                    Value::Number(n) => out.push_str(&n.to_string()),
                    Value::Bool(b) => out.push_str(&b.to_string()),
                    Value::Null => out.push_str("null"),
                    _ => {
                        return Err(InterpError {
                            offset: *offset,
                            len: *len,
                            message: format!("variable `{name}` is a list or map and cannot be spliced into a string"),
                            help: Some(format!("use `${{{name}}}` as the whole value")),
                        })
                    }
                }
            }
        }
    }
    Ok(Value::String(out))
}

fn resolve_var<'v>(name: &str, offset: usize, len: usize, scope: &'v Scope) -> Result<&'v Value, InterpError> {
    scope.lookup(name).ok_or_else(|| {
        let names = scope.names();
        let help = match super::diag::suggest(name, names.iter().copied()) {
            Some(s) => format!("did you mean `${{{s}}}`? Define variables under `vars:`"),
            None if names.is_empty() => "define it under `vars:` at the top of the file".to_string(),
            None => format!("defined here: {}", names.join(", ")),
        };
        InterpError { offset, len, message: format!("undefined variable `{name}`"), help: Some(help) }
    })
}

fn resolve_env(name: &str, default: Option<&str>, offset: usize, len: usize, scope: &Scope) -> Result<String, InterpError> {
    match ((scope.env)(name), default) {
        (Some(v), Some(d)) => Ok(if v.is_empty() { d.to_string() } else { v }),
        (Some(v), None) => Ok(v),
        (None, Some(d)) => Ok(d.to_string()),
        (None, None) => Err(InterpError {
            offset,
            len,
            message: format!("environment variable `{name}` is not set"),
            help: Some(format!("set it, or give a default: `${{env:{name}:-value}}`")),
        }),
    }
}

/// A string read as a YAML scalar (number, bool) when it is one, else kept as a string.
fn yaml_scalar(text: &str) -> Value {
    match serde_yaml::from_str::<Value>(text) {
        Ok(v @ (Value::Number(_) | Value::Bool(_))) => v,
        _ => Value::String(text.to_string()),
    }
}

/// Interpolates every string in `v` (keys are left alone). On error, returns the key path to the
/// offending scalar below `v`.
pub fn interpolate_value(v: &Value, scope: &Scope) -> Result<Value, (Vec<String>, InterpError)> {
    match v {
        Value::String(s) => interpolate_str(s, scope).map_err(|e| (Vec::new(), e)),
        Value::Sequence(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                interpolate_value(item, scope).map_err(|(mut p, e)| {
                    p.insert(0, i.to_string());
                    (p, e)
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Sequence),
        Value::Mapping(m) => {
            let mut out = serde_yaml::Mapping::new();
            for (k, item) in m {
                let key = k.as_str().map(str::to_string).unwrap_or_default();
                let value = interpolate_value(item, scope).map_err(|(mut p, e)| {
                    p.insert(0, key.clone());
                    (p, e)
                })?;
                out.insert(k.clone(), value);
            }
            Ok(Value::Mapping(out))
        }
        Value::Tagged(t) => interpolate_value(&t.value, scope),
        other => Ok(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope_with<'a>(vars: &'a BTreeMap<String, Value>, env: &'a dyn Fn(&str) -> Option<String>) -> Scope<'a> {
        Scope { layers: vec![vars], env }
    }

    #[test]
    fn whole_scalar_keeps_type_and_splice_makes_text() {
        let mut vars = BTreeMap::new();
        vars.insert("iters".to_string(), Value::from(600));
        vars.insert("list".to_string(), serde_yaml::from_str("[a, b]").unwrap());
        let env = |_: &str| None;
        let s = scope_with(&vars, &env);
        assert_eq!(interpolate_str("${iters}", &s).unwrap(), Value::from(600));
        assert_eq!(interpolate_str("n=${iters}!", &s).unwrap(), Value::from("n=600!"));
        assert_eq!(interpolate_str("${list}", &s).unwrap(), serde_yaml::from_str::<Value>("[a, b]").unwrap());
        assert!(interpolate_str("x${list}", &s).is_err());
        assert_eq!(interpolate_str("$${iters}", &s).unwrap(), Value::from("${iters}"));
    }

    #[test]
    fn env_with_default_and_typed() {
        let vars = BTreeMap::new();
        let env = |n: &str| if n == "SET" { Some("7".to_string()) } else { None };
        let s = scope_with(&vars, &env);
        assert_eq!(interpolate_str("${env:SET}", &s).unwrap(), Value::from(7));
        assert_eq!(interpolate_str("${env:UNSET:-data}/x", &s).unwrap(), Value::from("data/x"));
        let e = interpolate_str("a ${env:UNSET}", &s).unwrap_err();
        assert_eq!(e.offset, 2);
    }

    #[test]
    fn undefined_variable_points_at_reference() {
        let mut vars = BTreeMap::new();
        vars.insert("iters".to_string(), Value::from(1));
        let env = |_: &str| None;
        let s = scope_with(&vars, &env);
        let e = interpolate_str("x ${iter}", &s).unwrap_err();
        assert_eq!((e.offset, e.len), (2, 7));
        assert!(e.help.unwrap().contains("${iters}"));
    }
}
