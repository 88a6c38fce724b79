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

/// The byte offset of the `}` that closes the `${` at `open`, counting nested `${`…`}` pairs.
fn closing_brace(s: &str, open: usize) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut depth = 0usize;
    let mut i = open;
    while i < bytes.len() {
        if bytes[i] == b'$' && bytes.get(i + 1) == Some(&b'{') {
            depth += 1;
            i += 2;
            continue;
        }
        if bytes[i] == b'}' {
            depth -= 1;
            if depth == 0 {
                return Some(i);
            }
        }
        i += 1;
    }
    None
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
            let Some(close) = closing_brace(s, i) else {
                return Err(InterpError {
                    offset: i,
                    len: s.len() - i,
                    message: "unterminated `${`".into(),
                    help: Some("close it with `}`, or write `$${` for a literal `${`".into()),
                });
            };
            let inner = &s[i + 2..close];
            let len = close + 1 - i;
            if let Some(env) = inner.strip_prefix("env:") {
                // The default may itself hold references (`${env:A:-${env:B}}`); they are
                // interpolated only when the default is used.
                let (name, default) = match env.find(":-") {
                    Some(p) => (&env[..p], Some(&env[p + 2..])),
                    None => (env, None),
                };
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(InterpError {
                        offset: i,
                        len,
                        message: format!("`{name}` is not an environment variable name"),
                        help: Some("use `${env:NAME}` or `${env:NAME:-default}` (letters, digits and `_`)".into()),
                    });
                }
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

/// Longest string an interpolation may produce: variables that splice each other in can double a
/// string at every step, and a pipeline never needs a megabyte-long value.
pub const MAX_STRING_BYTES: usize = 1 << 20;

/// How deep `${env:A:-${env:B:-...}}` defaults may nest.
const MAX_NESTING: usize = 8;

/// Interpolates one string.
pub fn interpolate_str(s: &str, scope: &Scope) -> Result<Value, InterpError> {
    interpolate_nested(s, scope, 0)
}

fn interpolate_nested(s: &str, scope: &Scope, depth: usize) -> Result<Value, InterpError> {
    if !s.contains("${") {
        return Ok(Value::String(s.to_string()));
    }
    if depth > MAX_NESTING {
        return Err(InterpError {
            offset: 0,
            len: s.len(),
            message: format!("`${{env:...:-...}}` defaults nest more than {MAX_NESTING} deep"),
            help: Some("use a variable under `vars:` for the inner default".into()),
        });
    }
    let pieces = tokenize(s)?;
    if let [single] = pieces.as_slice() {
        match single {
            Piece::Var { name, offset, len } => return resolve_var(name, *offset, *len, scope).cloned(),
            Piece::Env { name, default, offset, len } => {
                let text = resolve_env(name, *default, *offset, *len, scope, depth)?;
                return Ok(yaml_scalar(&text));
            }
            Piece::Text(t) => return Ok(Value::String(t.to_string())),
        }
    }
    let mut out = String::new();
    for p in &pieces {
        if out.len() > MAX_STRING_BYTES {
            return Err(too_long(s));
        }
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Env { name, default, offset, len } => out.push_str(&resolve_env(name, *default, *offset, *len, scope, depth)?),
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
    if out.len() > MAX_STRING_BYTES {
        return Err(too_long(s));
    }
    Ok(Value::String(out))
}

fn too_long(s: &str) -> InterpError {
    InterpError {
        offset: 0,
        len: s.len(),
        message: format!("this value expands to more than {} MiB of text", MAX_STRING_BYTES >> 20),
        help: Some("variables that splice each other in double at every step; write the value out".into()),
    }
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

fn resolve_env(name: &str, default: Option<&str>, offset: usize, len: usize, scope: &Scope, depth: usize) -> Result<String, InterpError> {
    // A default is interpolated (it may hold `${...}`) only when it is used; errors inside it
    // point at the whole reference.
    let fallback = |d: &str| -> Result<String, InterpError> {
        let v = interpolate_nested(d, scope, depth + 1).map_err(|e| InterpError { offset, len, ..e })?;
        match v {
            Value::String(t) => Ok(t),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            Value::Null => Ok("null".into()),
            _ => Err(InterpError {
                offset,
                len,
                message: format!("the default of `${{env:{name}}}` is a list or map"),
                help: Some("an environment default must be text or a number".into()),
            }),
        }
    };
    match ((scope.env)(name), default) {
        (Some(v), Some(d)) => if v.is_empty() { fallback(d) } else { Ok(v) },
        (Some(v), None) => Ok(v),
        (None, Some(d)) => fallback(d),
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
    fn nested_env_defaults() {
        let mut vars = BTreeMap::new();
        vars.insert("root".to_string(), Value::from("data"));
        let env = |n: &str| match n {
            "B" => Some("from-b".to_string()),
            "N" => Some("5".to_string()),
            _ => None,
        };
        let s = scope_with(&vars, &env);
        assert_eq!(interpolate_str("${env:A:-${env:B}}", &s).unwrap(), Value::from("from-b"));
        assert_eq!(interpolate_str("${env:A:-${env:N}}", &s).unwrap(), Value::from(5));
        assert_eq!(interpolate_str("x/${env:A:-${env:C:-${root}/y}}/z", &s).unwrap(), Value::from("x/data/y/z"));
        assert_eq!(interpolate_str("${env:B:-${env:C}}", &s).unwrap(), Value::from("from-b"), "an unused default is not resolved");
        let e = interpolate_str("a ${env:A:-${env:C}}", &s).unwrap_err();
        assert_eq!((e.offset, e.len), (2, 18));
        assert!(e.message.contains("`C` is not set"), "{}", e.message);
        assert!(interpolate_str("${env:A:-${env:C}", &s).unwrap_err().message.contains("unterminated"));
        assert!(interpolate_str("${env:A B}", &s).is_err());
    }

    #[test]
    fn doubling_strings_stop_at_the_limit() {
        let mut vars = BTreeMap::new();
        vars.insert("a".to_string(), Value::from("x".repeat(600_000)));
        let env = |_: &str| None;
        let s = scope_with(&vars, &env);
        assert!(interpolate_str("${a}${a}", &s).unwrap_err().message.contains("MiB"));
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
