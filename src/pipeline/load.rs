//! From pipeline text to concrete stages: parse, check keys and types, interpolate, apply
//! `extends` and `foreach`, check each kind's parameters, resolve inputs, build the DAG.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

use super::diag::{suggest, Diagnostic, PipelineError, Pos};
use super::interp::{interpolate_str, interpolate_value, InterpError, Scope};
use super::spec::{RawPipeline, RawStage, RESOURCE_KEYS, SLURM_KEYS, STAGE_KEYS, TOP_KEYS};
use super::overrides::{self, Override};
use super::yaml::{self, Node};
use super::{dag::Dag, join_lexical, normalize_relative, Input, Pipeline, Stage};
use crate::stages::{self, OwnKey, OwnSyntax, Resources, StageKind};

struct Ctx<'a> {
    file: &'a Path,
    text: &'a str,
    root: Node,
    diags: Vec<Diagnostic>,
}

impl<'a> Ctx<'a> {
    fn diag(&self, pos: Pos, msg: impl Into<String>) -> Diagnostic {
        Diagnostic::new(self.file, self.text, pos, msg)
    }

    /// Position of `path` (below the root), falling back to the deepest node found.
    fn at(&self, path: &[&str]) -> Pos {
        self.root.locate(path).0
    }

    /// Position of the first of `chain`'s definitions that has `rel` (for keys inherited through
    /// `extends`), else the first definition's deepest node.
    fn at_in_chain(&self, chain: &[String], rel: &[&str]) -> Pos {
        for def in chain {
            let mut path = vec!["stages", def.as_str()];
            path.extend_from_slice(rel);
            let (pos, found) = self.root.locate(&path);
            if found {
                return pos;
            }
        }
        let mut path = vec!["stages", chain[0].as_str()];
        path.extend_from_slice(rel);
        self.root.locate(&path).0
    }

    /// Like `at_in_chain` but for the value, not the key.
    fn value_in_chain(&self, chain: &[String], rel: &[&str]) -> Pos {
        for def in chain {
            let mut path = vec!["stages", def.as_str()];
            path.extend_from_slice(rel);
            if let Some(pos) = self.root.value_pos(&path) {
                return pos;
            }
        }
        self.at_in_chain(chain, rel)
    }

    fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// An interpolation error at the scalar at `value_pos`, with the caret on the `${...}`.
    fn interp_diag(&self, value_pos: Pos, e: &InterpError) -> Diagnostic {
        // Find the reference on the scalar's line: the column of `${` after the scalar start.
        let line = self.text.lines().nth(value_pos.line.saturating_sub(1)).unwrap_or("");
        let start = value_pos.col.saturating_sub(1);
        let col = line
            .char_indices()
            .skip_while(|(i, _)| *i < start)
            .map(|(i, _)| i)
            .find(|&i| line[i..].starts_with("${"))
            .map(|i| {
                // Prefer the occurrence at the same offset within the scalar, if quoting shifted it.
                let by_offset = start + e.offset;
                if line.get(by_offset..).is_some_and(|s| s.starts_with("${")) {
                    by_offset
                } else {
                    i
                }
            });
        let pos = match col {
            Some(c) => Pos { line: value_pos.line, col: line[..c].chars().count() + 1 },
            None => value_pos,
        };
        let mut d = self.diag(pos, &e.message).with_width(e.len);
        if let Some(h) = &e.help {
            d = d.with_help(h.clone());
        }
        d
    }
}

/// Loads `file`; `env` supplies environment variables.
pub fn load(file: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Pipeline, PipelineError> {
    load_with(file, env, &[])
}

/// Loads `file` with `--set` overrides applied to the document first. An error about a value a
/// flag set points at the flag, not at the file.
pub fn load_with(file: &Path, env: &dyn Fn(&str) -> Option<String>, overrides: &[Override]) -> Result<Pipeline, PipelineError> {
    let mut followed = Vec::new();
    match load_document(file, env, overrides, &mut followed) {
        Ok(mut p) => {
            p.overrides = overrides.iter().map(|o| o.flag.trim_start_matches("--set ").to_string()).collect();
            Ok(p)
        }
        Err(mut e) if !followed.is_empty() => {
            let text = std::fs::read_to_string(file).unwrap_or_default();
            if let Ok(Some(root)) = yaml::parse(&text) {
                for (keys, ov) in followed.iter().zip(overrides) {
                    let path: Vec<&str> = keys.iter().map(String::as_str).collect();
                    let (key_pos, found) = root.locate(&path);
                    let at: Vec<Pos> = if found { [Some(key_pos), root.value_pos(&path)].into_iter().flatten().collect() } else { Vec::new() };
                    for d in e.diagnostics.iter_mut().filter(|d| at.contains(&d.pos)) {
                        let message = format!("{} (set by `{}`)", d.message, ov.flag);
                        let help = d.help.take();
                        *d = Diagnostic::flag(&ov.flag, message);
                        d.help = help;
                    }
                }
            }
            Err(e)
        }
        Err(e) => Err(e),
    }
}

fn load_document(
    file: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    overrides: &[Override],
    followed: &mut Vec<Vec<String>>,
) -> Result<Pipeline, PipelineError> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        PipelineError::from(Diagnostic {
            file: file.to_path_buf(),
            pos: Pos { line: 1, col: 1 },
            width: 1,
            message: format!("cannot read the pipeline file: {e}"),
            help: Some("check the path (it is relative to the current directory)".into()),
            source_line: None,
        })
    })?;
    let dir = file
        .parent()
        .map(|p| if p.as_os_str().is_empty() { Path::new(".") } else { p })
        .unwrap_or(Path::new("."));
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());

    let root = match yaml::parse(&text) {
        Ok(Some(root)) => root,
        Ok(None) => {
            return Err(Diagnostic::new(file, &text, Pos { line: 1, col: 1 }, "the pipeline file is empty")
                .with_help("a pipeline needs at least `stages:`")
                .into())
        }
        Err((pos, msg)) if msg.starts_with("YAML aliases") => {
            return Err(Diagnostic::new(file, &text, pos, msg)
                .with_help("a pipeline needs no such expansion; write the values out or use `vars:` and `foreach:`")
                .into())
        }
        Err((pos, msg)) => {
            let mut d = Diagnostic::new(file, &text, pos, format!("YAML syntax error: {msg}"));
            let near = text.lines().skip(pos.line.saturating_sub(2)).take(2).any(|l| l.contains("${") && (l.contains('{') || l.contains('[')));
            if near {
                d = d.with_help("inside `{...}` or `[...]`, quote values that use `${...}`: `{n: \"${n}\"}`");
            }
            return Err(d.into());
        }
    };
    let mut cx = Ctx { file, text: &text, root, diags: Vec::new() };

    for pos in yaml::non_scalar_keys(&cx.root) {
        let d = cx
            .diag(pos, "a key must be a plain name, not a list or a map")
            .with_help("write the name itself (an alias `*name` works only when its anchor is a plain value)");
        cx.push(d);
    }

    for dup in yaml::duplicate_keys(&cx.root) {
        let in_stages = cx
            .root
            .get("stages")
            .and_then(|s| s.entry(&dup.key))
            .is_some_and(|(k, _)| k.pos == dup.first);
        let what = if in_stages { "duplicate stage name" } else { "duplicate key" };
        let d = cx
            .diag(dup.second, format!("{what} `{}`", dup.key))
            .with_help(format!("first defined at line {}; names must be unique", dup.first.line));
        cx.push(d);
    }
    if !cx.diags.is_empty() {
        return Err(PipelineError { diagnostics: cx.diags });
    }

    let raw: RawPipeline = if overrides.is_empty() {
        match serde_yaml::from_str(&text) {
            Ok(r) => r,
            Err(e) => return Err(serde_error(&cx, &e).into()),
        }
    } else {
        let mut doc: Value = match serde_yaml::from_str(&text) {
            Ok(d) => d,
            Err(e) => return Err(serde_error(&cx, &e).into()),
        };
        for ov in overrides {
            match overrides::apply(&mut doc, ov) {
                Ok(keys) => followed.push(keys),
                Err(msg) => return Err(Diagnostic::flag(&ov.flag, msg).into()),
            }
        }
        match serde_yaml::from_value(doc) {
            Ok(r) => r,
            // No position to give: the document is no longer the file's text.
            Err(e) => {
                let flags: Vec<&str> = overrides.iter().map(|o| o.flag.as_str()).collect();
                return Err(Diagnostic::flag(&flags.join(" "), format!("after the overrides, the pipeline is not valid: {e}")).into());
            }
        }
    };
    let name = raw
        .name
        .clone()
        .unwrap_or_else(|| file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "pipeline".into()));
    // The name is a folder under `reports/` (and names the run record): one plain path component.
    if let Err(why) = path_component(&name) {
        let (pos, what) = match raw.name {
            Some(_) => (cx.root.value_pos(&["name"]).unwrap_or_else(|| cx.at(&["name"])), "pipeline name"),
            None => (Pos { line: 1, col: 1 }, "pipeline file name (the default pipeline name)"),
        };
        let d = cx
            .diag(pos, format!("{what} `{}` cannot name a folder: {why}", name.escape_debug()))
            .with_help("it names `reports/<name>/`; use letters, digits, `_`, `-` and `.`");
        cx.push(d);
        return Err(PipelineError { diagnostics: cx.diags });
    }

    // Variables, in order; each may use the ones before it and the environment.
    let mut builtins: BTreeMap<String, Value> = BTreeMap::new();
    builtins.insert(
        "celeba_attributes".into(),
        Value::Sequence(crate::data::celeba::ATTRIBUTES.iter().map(|s| Value::from(*s)).collect()),
    );
    let mut vars: BTreeMap<String, Value> = BTreeMap::new();
    for (k, v) in &raw.vars {
        let Some(key) = k.as_str() else { continue };
        let scope = Scope { layers: vec![&vars, &builtins], env };
        match interpolate_value(v, &scope) {
            Ok(val) if value_size(&val) > MAX_VALUE_SIZE => {
                // Lists that splice each other in double at every step.
                let pos = cx.root.value_pos(&["vars", key]).unwrap_or_else(|| cx.at(&["vars", key]));
                let d = cx
                    .diag(pos, format!("variable `{key}` expands to more than {MAX_VALUE_SIZE} values"))
                    .with_help("write the list out, or use fewer nested references");
                cx.push(d);
                break;
            }
            Ok(val) => {
                vars.insert(key.to_string(), val);
            }
            Err((sub, e)) => {
                let mut path = vec!["vars", key];
                path.extend(sub.iter().map(|s| s.as_str()));
                let pos = cx.root.value_pos(&path).unwrap_or_else(|| cx.at(&path));
                let d = cx.interp_diag(pos, &e);
                cx.push(d);
            }
        }
    }

    // Required paths (real datasets): a missing one is the only error worth showing.
    for (i, req) in raw.requires.iter().enumerate() {
        let idx = i.to_string();
        let scope = Scope { layers: vec![&vars, &builtins], env };
        let value_pos = cx.root.value_pos(&["requires", &idx, "path"]).unwrap_or_else(|| cx.at(&["requires", &idx]));
        let path = match interpolate_str(&req.path, &scope) {
            Ok(v) => crate::util::yaml_scalar_text(&v),
            Err(e) => {
                let d = cx.interp_diag(value_pos, &e);
                cx.push(d);
                continue;
            }
        };
        let resolved = join_lexical(&dir, &path);
        if !resolved.exists() {
            let mut msg = format!("required path `{path}` does not exist");
            if !Path::new(&path).is_absolute() {
                msg.push_str(&format!(" (relative to the pipeline file: `{}`)", resolved.display()));
            }
            let mut d = cx.diag(value_pos, msg);
            if let Some(h) = &req.help {
                // `${...}` in the help shows the user the resolved paths; `${path}` is this one.
                let this: BTreeMap<String, Value> = [("path".to_string(), Value::from(resolved.display().to_string()))].into();
                let scope = Scope { layers: vec![&this, &vars, &builtins], env };
                let text = match interpolate_str(h, &scope) {
                    Ok(v) => crate::util::yaml_scalar_text(&v),
                    Err(_) => h.clone(),
                };
                d = d.with_help(text.trim().to_string());
            }
            cx.push(d);
        }
    }
    if !cx.diags.is_empty() {
        return Err(PipelineError { diagnostics: cx.diags });
    }

    // Definitions in file order.
    let mut def_order: Vec<(String, Pos)> = match cx.root.get("stages").map(|n| &n.value) {
        Some(yaml::NodeValue::Map(entries)) => {
            entries.iter().filter_map(|(k, _)| k.as_str().map(|s| (s.to_string(), k.pos))).collect()
        }
        _ => Vec::new(),
    };
    // Stages a `--set +stages.NAME=…` added come last.
    for name in raw.stages.keys() {
        if !def_order.iter().any(|(d, _)| d == name) {
            def_order.push((name.clone(), cx.at(&["stages"])));
        }
    }
    if def_order.is_empty() {
        let d = cx.diag(cx.at(&["stages"]), "the pipeline has no stages").with_help("add stages under `stages:`");
        cx.push(d);
        return Err(PipelineError { diagnostics: cx.diags });
    }

    let mut stages: Vec<Stage> = Vec::new();
    let mut pending: Vec<PendingInputs> = Vec::new();
    for (def, def_pos) in &def_order {
        if !valid_name(def) {
            let d = cx
                .diag(*def_pos, format!("invalid stage name `{def}`"))
                .with_help("use letters, digits, `_`, `-` and `.`; `[...]` is added by `foreach`");
            cx.push(d);
            continue;
        }
        let Some(chain) = extends_chain(&mut cx, &raw, def) else { continue };
        let merged = chain.iter().rev().fold(RawStage::default(), |acc, d| raw.stages[d].over(&acc));
        let items = match foreach_items(&mut cx, &merged, &chain, &vars, &builtins, env) {
            Some(items) => items,
            None => continue,
        };
        if stages.len() + items.len() > MAX_STAGES {
            let d = cx
                .diag(*def_pos, format!("the pipeline expands to more than {MAX_STAGES} stages (at `{def}`)"))
                .with_help("split it into several pipeline files, or use fewer `foreach` values");
            cx.push(d);
            return Err(PipelineError { diagnostics: cx.diags });
        }
        for (suffix, bindings) in items {
            let stage_name = match &suffix {
                Some(s) => format!("{def}[{s}]"),
                None => def.clone(),
            };
            let scope = Scope { layers: vec![&bindings, &vars, &builtins], env };
            if let Some((stage, inputs)) = build_stage(&mut cx, &merged, &chain, &stage_name, def, *def_pos, &scope, &dir) {
                stages.push(stage);
                pending.push(inputs);
            }
        }
    }
    // Duplicate expanded names (e.g. a foreach over repeated values).
    let mut seen: HashSet<&str> = HashSet::new();
    let mut dup_diags = Vec::new();
    for s in &stages {
        if !seen.insert(&s.name) {
            dup_diags.push(
                cx.diag(s.pos, format!("stage name `{}` occurs twice after `foreach` expansion", s.name))
                    .with_help("give each foreach value a distinct name (use a map: `name: value`)"),
            );
        }
    }
    cx.diags.extend(dup_diags);
    if !cx.diags.is_empty() {
        return Err(PipelineError { diagnostics: cx.diags });
    }

    resolve_inputs(&mut cx, &mut stages, pending);
    if !cx.diags.is_empty() {
        return Err(PipelineError { diagnostics: cx.diags });
    }
    let dag = match Dag::build(&stages) {
        Ok(d) => d,
        Err(cycle) => {
            let names: Vec<&str> = cycle.iter().map(|&i| stages[i].name.as_str()).collect();
            let msg = if names.len() == 1 {
                format!("stage `{}` depends on itself", names[0])
            } else {
                format!("dependency cycle: {} → {}", names.join(" → "), names[0])
            };
            let d = cx.diag(stages[cycle[0]].pos, msg).with_help("a stage cannot (indirectly) read its own output");
            return Err(d.into());
        }
    };
    Ok(Pipeline { name, description: raw.description.clone(), file: file.to_path_buf(), dir, stages, dag, overrides: Vec::new() })
}

fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) && s != "." && s != ".."
}

/// Most concrete stages a pipeline may have, after `foreach` (documented in README.md): far above
/// any real pipeline, and low enough that expanding, hashing and scheduling them stays instant.
pub const MAX_STAGES: usize = 10_000;

/// Most values (list items, map entries, scalars) one variable may hold after interpolation.
pub const MAX_VALUE_SIZE: usize = 100_000;

fn value_size(v: &Value) -> usize {
    match v {
        Value::Sequence(items) => 1 + items.iter().map(value_size).sum::<usize>(),
        Value::Mapping(m) => 1 + m.iter().map(|(k, v)| value_size(k) + value_size(v)).sum::<usize>(),
        Value::Tagged(t) => value_size(&t.value),
        _ => 1,
    }
}

/// Whether `s` can be one component of a path awmt writes (`reports/<pipeline>/<stage>/`):
/// not empty, not `.` or `..`, no `/`, `\\` or control characters, at most 200 bytes.
pub fn path_component(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("it is empty".into());
    }
    if s == "." || s == ".." {
        return Err(format!("`{s}` refers to a folder, not a name"));
    }
    if let Some(c) = s.chars().find(|c| *c == '/' || *c == '\\' || c.is_control()) {
        return Err(format!("it contains {}", if c.is_control() { "a control character".to_string() } else { format!("`{c}`") }));
    }
    if s.len() > 200 {
        return Err("it is longer than 200 bytes".into());
    }
    Ok(())
}

/// Translates a serde_yaml error into a diagnostic with "did you mean".
fn serde_error(cx: &Ctx, e: &serde_yaml::Error) -> Diagnostic {
    let pos = e.location().map(|l| Pos { line: l.line(), col: l.column() }).unwrap_or(Pos { line: 1, col: 1 });
    let msg = e.to_string();
    // serde_yaml: "stages.a: unknown field `outz`, expected one of `kind`, ... at line 6 column 5"
    let body = msg.split(" at line ").next().unwrap_or(&msg).to_string();
    let (context, detail) = match body.split_once(": ") {
        Some((c, d)) if !c.contains(' ') => (c.to_string(), d.to_string()),
        _ => (String::new(), body.clone()),
    };
    if let Some(rest) = detail.strip_prefix("unknown field `") {
        let field = rest.split('`').next().unwrap_or("");
        let (allowed, place) = match context.split('.').collect::<Vec<_>>().as_slice() {
            [""] => (TOP_KEYS, "at the top level".to_string()),
            ["stages", stage] => (STAGE_KEYS, format!("in stage `{stage}`")),
            ["stages", stage, "resources"] => (RESOURCE_KEYS, format!("in `resources` of stage `{stage}`")),
            ["stages", stage, "slurm"] => (SLURM_KEYS, format!("in `slurm` of stage `{stage}`")),
            [req] if req.starts_with("requires[") => (&["path", "help"][..], format!("in `{req}`")),
            _ => (TOP_KEYS, format!("in `{context}`")),
        };
        let help = match suggest(field, allowed.iter().copied()) {
            Some(s) => format!("did you mean `{s}`? (allowed: {})", allowed.join(", ")),
            None => format!("allowed keys: {}", allowed.join(", ")),
        };
        return cx.diag(pos, format!("unknown key `{field}` {place}")).with_help(help);
    }
    if detail.starts_with("missing field `") && context.is_empty() {
        return cx.diag(pos, format!("the pipeline file has no {}", detail.trim_start_matches("missing field ")));
    }
    let place = if context.is_empty() { String::new() } else { format!("`{context}`: ") };
    cx.diag(pos, format!("{place}{detail}"))
}

/// The definition followed by its `extends` ancestors; None (after reporting) on a missing base or
/// a loop.
fn extends_chain(cx: &mut Ctx, raw: &RawPipeline, def: &str) -> Option<Vec<String>> {
    let mut chain = vec![def.to_string()];
    let mut current = def.to_string();
    while let Some(base) = raw.stages[&current].extends.clone() {
        let pos = cx.root.value_pos(&["stages", &current, "extends"]).unwrap_or_else(|| cx.at(&["stages", &current]));
        if !raw.stages.contains_key(&base) {
            let help = match suggest(&base, raw.stages.keys().map(|s| s.as_str())) {
                Some(s) => format!("did you mean `{s}`?"),
                None => "`extends` names another stage definition in this file".to_string(),
            };
            let d = cx.diag(pos, format!("`extends` names unknown stage `{base}`")).with_help(help);
            cx.push(d);
            return None;
        }
        if chain.contains(&base) {
            let d = cx.diag(pos, format!("`extends` loop: {} → {base}", chain.join(" → ")));
            cx.push(d);
            return None;
        }
        chain.push(base.clone());
        current = base;
    }
    Some(chain)
}

type Bindings = BTreeMap<String, Value>;

/// `foreach:` → (name suffix, variable bindings) per expanded stage; `[(None, {})]` without it.
fn foreach_items(
    cx: &mut Ctx,
    merged: &RawStage,
    chain: &[String],
    vars: &Bindings,
    builtins: &Bindings,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<Vec<(Option<String>, Bindings)>> {
    let Some(spec) = &merged.foreach else { return Some(vec![(None, Bindings::new())]) };
    let scope = Scope { layers: vec![vars, builtins], env };
    let spec = match interpolate_value(spec, &scope) {
        Ok(v) => v,
        Err((sub, e)) => {
            let mut rel = vec!["foreach"];
            rel.extend(sub.iter().map(|s| s.as_str()));
            let d = cx.interp_diag(cx.value_in_chain(chain, &rel), &e);
            cx.push(d);
            return None;
        }
    };
    let Value::Mapping(axes) = spec else {
        let d = cx
            .diag(cx.value_in_chain(chain, &["foreach"]), "`foreach` must map a variable to a list or a map of values")
            .with_help("e.g. `foreach: {attribute: [Smiling, Male]}` or `foreach: {lr: {low: 0.01, high: 0.1}}`");
        cx.push(d);
        return None;
    };
    // Count the product before building anything: nine variables of ten values are a billion
    // stages, from a few hundred bytes of YAML.
    let mut product: usize = 1;
    for (var, values) in &axes {
        let n = match values {
            Value::Sequence(seq) => seq.len(),
            Value::Mapping(m) => m.len(),
            _ => 1,
        };
        product = product.saturating_mul(n.max(1));
        if product > MAX_STAGES {
            let var = var.as_str().unwrap_or_default();
            let total: u128 = axes
                .iter()
                .map(|(_, v)| match v {
                    Value::Sequence(seq) => seq.len() as u128,
                    Value::Mapping(m) => m.len() as u128,
                    _ => 1,
                })
                .fold(1u128, |a, n| a.saturating_mul(n.max(1)));
            let d = cx
                .diag(cx.value_in_chain(chain, &["foreach"]), format!("`foreach` expands to {total} stages, more than the limit of {MAX_STAGES}"))
                .with_help(format!("the values of {} multiply; split the sweep or use fewer values (passed the limit at `{var}`)", axes.len()));
            cx.push(d);
            return None;
        }
    }
    let mut items: Vec<(Vec<String>, Bindings)> = vec![(Vec::new(), Bindings::new())];
    for (var, values) in &axes {
        let var = var.as_str().unwrap_or_default().to_string();
        let named: Vec<(String, Value)> = match values {
            Value::Sequence(seq) => seq.iter().map(|v| (scalar_name(v), v.clone())).collect(),
            Value::Mapping(m) => m.iter().map(|(k, v)| (scalar_name(k), v.clone())).collect(),
            _ => {
                let d = cx
                    .diag(cx.value_in_chain(chain, &["foreach", &var]), format!("`foreach.{var}` must be a list or a map"))
                    .with_help("e.g. `[a, b]` or `{low: 0.01, high: 0.1}`");
                cx.push(d);
                return None;
            }
        };
        if named.is_empty() {
            let d = cx.diag(cx.value_in_chain(chain, &["foreach", &var]), format!("`foreach.{var}` is empty"));
            cx.push(d);
            return None;
        }
        // Each value's name becomes part of the stage name, and so of the report folder
        // `reports/<pipeline>/<stage>/`: it must be one plain path component.
        for (j, (n, _)) in named.iter().enumerate() {
            let why = match path_component(n) {
                Err(why) => Some(why),
                Ok(()) => n.chars().find(|c| matches!(c, '[' | ']' | '*' | '?' | ',')).map(|c| format!("it contains `{c}`")),
            };
            if let Some(why) = why {
                let idx = j.to_string();
                let pos = match values {
                    Value::Sequence(_) => cx.value_in_chain(chain, &["foreach", &var, &idx]),
                    _ => cx.at_in_chain(chain, &["foreach", &var, n]),
                };
                let d = cx
                    .diag(pos, format!("`foreach.{var}` value `{}` cannot be part of a stage name: {why}", n.escape_debug()))
                    .with_help("stage names name report folders; use a map to give the value a plain name: `{name: value}`");
                cx.push(d);
                return None;
            }
        }
        let mut next = Vec::new();
        for (names, binds) in &items {
            for (n, v) in &named {
                let mut names = names.clone();
                names.push(n.clone());
                let mut binds = binds.clone();
                binds.insert(var.clone(), v.clone());
                // `${var.key}`: the value's name (the map key, or the list value as text).
                binds.insert(format!("{var}.key"), Value::from(n.clone()));
                next.push((names, binds));
            }
        }
        items = next;
    }
    Some(items.into_iter().map(|(names, b)| (Some(names.join(",")), b)).collect())
}

fn scalar_name(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => serde_yaml::to_string(other).unwrap_or_default().trim().to_string(),
    }
}

/// Input references of one stage, resolved once every stage name is known.
struct PendingInputs {
    chain: Vec<String>,
    /// Where each of the stage's workspace outputs (command `outs`) is written, in the order of
    /// `workspace_outputs`.
    out_pos: Vec<Pos>,
    slots: Vec<SlotRefs>,
}

/// The references written in one input slot.
struct SlotRefs {
    slot: String,
    refs: Vec<String>,
    /// Where relative paths point.
    base: PathBuf,
    /// The key path under the stage, for errors.
    keypath: Vec<String>,
    /// A kind's own key (command `deps`): always a list, and its plain references are paths (a
    /// stage only as `stage:NAME`).
    own: bool,
}

/// One stage definition being built: its merged keys, where they are written (through `extends`),
/// and what `${...}` sees.
struct Def<'a> {
    merged: &'a RawStage,
    chain: &'a [String],
    group: &'a str,
    pos: Pos,
    scope: &'a Scope<'a>,
}

impl Def<'_> {
    /// Interpolates a string field; reports and returns None on error.
    fn text(&self, cx: &mut Ctx, s: &str, rel: &[&str]) -> Option<String> {
        match interpolate_str(s, self.scope) {
            Ok(Value::String(t)) => Some(t),
            Ok(other) => Some(crate::util::yaml_scalar_text(&other)),
            Err(e) => {
                let d = cx.interp_diag(cx.value_in_chain(self.chain, rel), &e);
                cx.push(d);
                None
            }
        }
    }

    /// Interpolates a value; reports and returns None on error.
    fn value(&self, cx: &mut Ctx, v: &Value, rel: &[&str]) -> Option<Value> {
        match interpolate_value(v, self.scope) {
            Ok(v) => Some(v),
            Err((sub, e)) => {
                let mut path: Vec<&str> = rel.to_vec();
                path.extend(sub.iter().map(|s| s.as_str()));
                let d = cx.interp_diag(cx.value_in_chain(self.chain, &path), &e);
                cx.push(d);
                None
            }
        }
    }
}

/// The stage's parameters, input references and workspace-output positions.
type Parts = (serde_json::Value, Vec<SlotRefs>, Vec<Pos>);

#[allow(clippy::too_many_arguments)]
fn build_stage(
    cx: &mut Ctx,
    merged: &RawStage,
    chain: &[String],
    name: &str,
    group: &str,
    pos: Pos,
    scope: &Scope,
    pipeline_dir: &Path,
) -> Option<(Stage, PendingInputs)> {
    let errors_before = cx.diags.len();
    let def = Def { merged, chain, group, pos, scope };
    let kind = stage_kind(cx, &def)?;
    let (wdir_rel, work_dir) = work_dir(cx, &def, pipeline_dir)?;
    let (params, slots, out_pos) = match kind.own_syntax() {
        Some(syntax) => own_keys(cx, &def, kind, syntax, &wdir_rel, &work_dir, pipeline_dir)?,
        None => with_and_inputs(cx, &def, kind, pipeline_dir),
    };
    let mut mem_per_attempt = 1.0;
    let resources = resources(cx, merged, chain, scope, kind, &params, &mut mem_per_attempt);
    let retries = retries(cx, &def);
    let executor = executor(cx, &def);
    let slurm = slurm_settings(cx, &def);
    if cx.diags.len() > errors_before {
        return None;
    }
    let stage = Stage {
        name: name.to_string(),
        group: group.to_string(),
        kind,
        params,
        inputs: BTreeMap::new(),
        upstream: Vec::new(),
        resources,
        work_dir,
        executor,
        slurm,
        retries,
        mem_per_attempt,
        pos,
    };
    Some((stage, PendingInputs { chain: chain.to_vec(), slots, out_pos }))
}

/// The stage's `kind:`, which must name a known kind.
fn stage_kind(cx: &mut Ctx, def: &Def) -> Option<&'static dyn StageKind> {
    let Some(kind_name) = def.merged.kind.clone() else {
        let d = cx
            .diag(def.pos, format!("stage `{}` has no `kind`", def.group))
            .with_help(format!("set `kind:` to one of: {}", kind_names().join(", ")));
        cx.push(d);
        return None;
    };
    let Some(kind) = stages::find(&kind_name) else {
        let kinds = kind_names();
        let help = match suggest(&kind_name, kinds.iter().copied()) {
            Some(s) => format!("did you mean `{s}`? (kinds: {})", kinds.join(", ")),
            None => format!("kinds: {}", kinds.join(", ")),
        };
        let d = cx.diag(cx.value_in_chain(def.chain, &["kind"]), format!("unknown stage kind `{kind_name}`")).with_help(help);
        cx.push(d);
        return None;
    };
    Some(kind)
}

/// The working directory, as written (`.` by default) and resolved: a folder inside the
/// pipeline's folder (awmt removes a stage's `outs` before running it, so where they point must
/// stay inside the project).
fn work_dir(cx: &mut Ctx, def: &Def, pipeline_dir: &Path) -> Option<(String, PathBuf)> {
    let wdir_rel = match &def.merged.wdir {
        Some(w) => def.text(cx, w, &["wdir"]),
        None => Some(".".to_string()),
    }?;
    let Some(wdir_norm) = normalize_relative(&wdir_rel) else {
        let d = cx
            .diag(cx.value_in_chain(def.chain, &["wdir"]), format!("`wdir: {wdir_rel}` is outside the pipeline's folder"))
            .with_help("`wdir` is a folder relative to the pipeline file, inside its folder (no absolute path, no `..` above it)");
        cx.push(d);
        return None;
    };
    let work_dir = join_lexical(pipeline_dir, &wdir_norm);
    if let Err(e) = crate::util::confined(pipeline_dir, &wdir_norm) {
        let d = cx.diag(cx.value_in_chain(def.chain, &["wdir"]), format!("`wdir: {wdir_rel}`: {e}")).with_help(
            "awmt does not write or delete through symbolic links that leave the pipeline's folder; use a real folder",
        );
        cx.push(d);
        return None;
    }
    Some((wdir_rel, work_dir))
}

/// A kind with keys of its own (`kind: command`): reads them as its [`OwnSyntax`] says and lets
/// the kind make its `with:` of them.
fn own_keys(
    cx: &mut Ctx,
    def: &Def,
    kind: &'static dyn StageKind,
    syntax: &OwnSyntax,
    wdir_rel: &str,
    work_dir: &Path,
    pipeline_dir: &Path,
) -> Option<Parts> {
    let merged = def.merged;
    if merged.with.is_some() || merged.inputs.is_some() {
        let key = if merged.with.is_some() { "with" } else { "inputs" };
        let mut names: Vec<&str> = syntax.keys.iter().map(|(k, _)| *k).collect();
        names.sort_unstable();
        let listed = names.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
        let d = cx
            .diag(cx.at_in_chain(def.chain, &[key]), format!("`{key}` is not used by `kind: {}`", kind.name()))
            .with_help(format!("{} stages take {listed} and `wdir`", kind.name()));
        cx.push(d);
    }
    let (required, help) = syntax.required;
    if merged.own_value(required).is_none() {
        let d = cx.diag(def.pos, format!("{} stage `{}` has no `{required}`", kind.name(), def.group)).with_help(help);
        cx.push(d);
        return None;
    }
    let mut keys = serde_json::Map::new();
    let mut slots = Vec::new();
    let mut out_pos = Vec::new();
    for &(key, how) in syntax.keys {
        let raw = merged.own_value(key);
        match how {
            OwnKey::Text => {
                if let Some(text) = raw.as_ref().and_then(Value::as_str).and_then(|s| def.text(cx, s, &[key])) {
                    keys.insert(key.to_string(), text.into());
                }
            }
            OwnKey::Outputs => {
                let outs = workspace_outputs(cx, def, key, &list_items(raw), work_dir, pipeline_dir, &mut out_pos);
                keys.insert(key.to_string(), outs.into());
            }
            OwnKey::Inputs => {
                let mut refs = Vec::new();
                for (i, r) in list_items(raw).iter().enumerate() {
                    if let Some(r) = def.text(cx, r, &[key, &i.to_string()]) {
                        refs.push(r);
                    }
                }
                slots.push(SlotRefs { slot: key.to_string(), refs, base: work_dir.to_path_buf(), keypath: vec![key.to_string()], own: true });
            }
            OwnKey::Map => {
                let mut map = serde_json::Map::new();
                if let Some(Value::Mapping(m)) = raw.and_then(|m| def.value(cx, &m, &[key])) {
                    for (k, v) in m {
                        let name = k.as_str().map(str::to_string).unwrap_or_else(|| crate::util::yaml_scalar_text(&k));
                        map.insert(name, yaml_to_json(&v));
                    }
                }
                keys.insert(key.to_string(), map.into());
            }
        }
    }
    keys.insert("wdir".to_string(), wdir_rel.into());
    let params = match kind.check_params(&kind.with_from_own_keys(&keys)) {
        Ok(p) => p,
        Err(e) => {
            let d = cx.diag(def.pos, e.message);
            cx.push(d);
            serde_json::Value::Null
        }
    };
    Some((params, slots, out_pos))
}

/// The strings of a list key as written (an own key's list: `outs`, `deps`).
fn list_items(raw: Option<Value>) -> Vec<String> {
    match raw {
        Some(Value::Sequence(items)) => items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    }
}

/// Checks and normalises the workspace paths a stage writes (the list at `key`), recording where
/// each accepted one is written.
fn workspace_outputs(
    cx: &mut Ctx,
    def: &Def,
    key: &str,
    written: &[String],
    work_dir: &Path,
    pipeline_dir: &Path,
    out_pos: &mut Vec<Pos>,
) -> Vec<String> {
    let mut outs: Vec<String> = Vec::new();
    let mut positions: Vec<Pos> = Vec::new();
    for (i, o) in written.iter().enumerate() {
        let idx = i.to_string();
        let Some(o) = def.text(cx, o, &[key, &idx]) else { continue };
        let at = cx.value_in_chain(def.chain, &[key, &idx]);
        match normalize_relative(&o) {
            Some(n) if n != "." => {
                if let Err(e) = crate::util::confined(work_dir, &n) {
                    let d = cx.diag(at, format!("output `{o}`: {e}")).with_help(
                        "awmt deletes and restores outputs; it does not do so through symbolic links that leave the work directory",
                    );
                    cx.push(d);
                } else if let Some((prev, prev_at)) = outs.iter().zip(&positions).find(|(p, _)| overlaps(p, &n)) {
                    let d = cx
                        .diag(at, format!("output `{n}` overlaps output `{prev}` of the same stage"))
                        .with_help(format!("`{prev}` is at line {}:{}; list the folder or the files in it, not both", prev_at.line, prev_at.col));
                    cx.push(d);
                } else if join_lexical(work_dir, &n) == join_lexical(pipeline_dir, &file_name(cx.file)) {
                    let d = cx.diag(at, format!("output `{o}` is the pipeline file itself"));
                    cx.push(d);
                } else {
                    outs.push(n);
                    positions.push(at);
                }
            }
            _ => {
                let d = cx
                    .diag(at, format!("output `{o}` is outside the stage's work directory"))
                    .with_help("outputs are paths relative to the work directory (no absolute paths, no `..` above it)");
                cx.push(d);
            }
        }
    }
    out_pos.extend(positions);
    outs
}

/// A kind whose parameters go under `with:` and inputs under `inputs:`; the keys other kinds
/// read themselves are refused.
fn with_and_inputs(cx: &mut Ctx, def: &Def, kind: &'static dyn StageKind, pipeline_dir: &Path) -> Parts {
    for (key, owner) in own_keys_of_other_kinds() {
        if def.merged.own_value(key).is_some() {
            let d = cx
                .diag(cx.at_in_chain(def.chain, &[key]), format!("`{key}` is only used by `kind: {owner}`"))
                .with_help(format!("parameters of `kind: {}` go under `with:`", kind.name()));
            cx.push(d);
        }
    }
    let params = with_params(cx, def, kind);
    let slots = input_slots(cx, def, kind, &params, pipeline_dir);
    (params, slots, Vec::new())
}

/// Every key some kind reads itself, with that kind's name, in alphabetical order.
fn own_keys_of_other_kinds() -> Vec<(&'static str, &'static str)> {
    let mut keys: Vec<(&str, &str)> =
        stages::registry().iter().filter_map(|k| Some((k, k.own_syntax()?))).flat_map(|(k, s)| s.keys.iter().map(|(key, _)| (*key, k.name()))).collect();
    keys.sort_unstable();
    keys
}

/// `with:`, interpolated and checked by the kind; Null after an error (reported at the key).
fn with_params(cx: &mut Ctx, def: &Def, kind: &'static dyn StageKind) -> serde_json::Value {
    let with = match &def.merged.with {
        Some(w) => def.value(cx, w, &["with"]).map(|v| yaml_to_json(&v)),
        None => Some(serde_json::Value::Object(Default::default())),
    };
    let Some(with) = with else { return serde_json::Value::Null };
    let e = match kind.check_params(&with) {
        Ok(p) => return p,
        Err(e) => e,
    };
    let mut rel_owned: Vec<String> = vec!["with".to_string()];
    rel_owned.extend(e.path.iter().cloned());
    // An unknown parameter: point at the key itself and suggest.
    let mut msg = e.message.clone();
    let mut help = None;
    if let Some(rest) = e.message.strip_prefix("unknown field `") {
        let field = rest.split('`').next().unwrap_or("").to_string();
        let expected: Vec<String> = rest.split('`').skip(1).enumerate().filter(|(i, _)| i % 2 == 1).map(|(_, s)| s.to_string()).collect();
        rel_owned.push(field.clone());
        msg = format!("unknown parameter `{field}` for `kind: {}`", kind.name());
        help = Some(match suggest(&field, expected.iter().map(|s| s.as_str())) {
            Some(s) => format!("did you mean `{s}`? (parameters: {})", expected.join(", ")),
            None => format!("parameters: {}", expected.join(", ")),
        });
    } else {
        msg = format!("`with{}`: {msg}", e.path.iter().map(|p| format!(".{p}")).collect::<String>());
    }
    let rel: Vec<&str> = rel_owned.iter().map(|s| s.as_str()).collect();
    let mut d = cx.diag(cx.at_in_chain(def.chain, &rel), msg);
    if let Some(h) = help {
        d = d.with_help(h);
    }
    cx.push(d);
    serde_json::Value::Null
}

/// `inputs:`: each slot the kind has, with its references; then the required slots and the kind's
/// own check of the slots given.
fn input_slots(cx: &mut Ctx, def: &Def, kind: &'static dyn StageKind, params: &serde_json::Value, pipeline_dir: &Path) -> Vec<SlotRefs> {
    let (chain, pos, group) = (def.chain, def.pos, def.group);
    let mut slots: Vec<SlotRefs> = Vec::new();
    if let Some(inputs) = &def.merged.inputs {
        let allowed: Vec<&str> = kind.input_slots().iter().map(|s| s.name).collect();
        for (slot_key, refs) in inputs {
            let slot = slot_key.as_str().unwrap_or_default().to_string();
            let Some(spec) = kind.input_slots().iter().find(|s| s.name == slot) else {
                let help = match suggest(&slot, allowed.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`? (inputs of `kind: {}`: {})", kind.name(), allowed.join(", ")),
                    None => format!("inputs of `kind: {}`: {}", kind.name(), allowed.join(", ")),
                };
                let d = cx.diag(cx.at_in_chain(chain, &["inputs", &slot]), format!("unknown input `{slot}`")).with_help(help);
                cx.push(d);
                continue;
            };
            let Some(value) = def.value(cx, refs, &["inputs", &slot]) else { continue };
            let list: Vec<String> = match &value {
                Value::Sequence(items) => items.iter().map(scalar_name).collect(),
                other => vec![scalar_name(other)],
            };
            if !spec.many && list.len() > 1 {
                let d = cx.diag(cx.value_in_chain(chain, &["inputs", &slot]), format!("input `{slot}` takes one reference, got {}", list.len()));
                cx.push(d);
                continue;
            }
            let keypath = vec!["inputs".to_string(), slot.clone()];
            slots.push(SlotRefs { slot, refs: list, base: pipeline_dir.to_path_buf(), keypath, own: false });
        }
    }
    for spec in kind.input_slots() {
        if spec.required && !slots.iter().any(|s| s.slot == spec.name) {
            let d = cx
                .diag(pos, format!("stage `{group}` (kind `{}`) needs input `{}`", kind.name(), spec.name))
                .with_help(format!("add `inputs: {{{}: <stage or path>}}`", spec.name));
            cx.push(d);
        }
    }
    if !params.is_null() {
        let given: Vec<&str> = slots.iter().map(|s| s.slot.as_str()).collect();
        if let Err((msg, help)) = kind.check_inputs(params, &given) {
            // Once per definition, not once per `foreach` item.
            let msg = format!("stage `{group}`: {msg}");
            if !cx.diags.iter().any(|d| d.pos == pos && d.message == msg) {
                let d = cx.diag(pos, msg).with_help(help);
                cx.push(d);
            }
        }
    }
    slots
}

/// `retries:`, a whole number from 0 to 100 (0 when absent).
fn retries(cx: &mut Ctx, def: &Def) -> u32 {
    let Some(v) = &def.merged.retries else { return 0 };
    match def.value(cx, v, &["retries"]).as_ref().and_then(|v| v.as_u64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))) {
        Some(n) if n <= 100 => n as u32,
        _ => {
            let d = cx.diag(cx.value_in_chain(def.chain, &["retries"]), "`retries` must be a whole number from 0 to 100".to_string());
            cx.push(d);
            0
        }
    }
}

/// `executor:`, `local` or `slurm`.
fn executor(cx: &mut Ctx, def: &Def) -> Option<String> {
    let e = def.text(cx, def.merged.executor.as_ref()?, &["executor"]);
    if let Some(e) = &e {
        if e != "local" && e != "slurm" {
            let d = cx.diag(cx.value_in_chain(def.chain, &["executor"]), format!("unknown executor `{e}`")).with_help("use `local` or `slurm`");
            cx.push(d);
        }
    }
    e
}

/// `slurm:` settings, each a known key; a list value becomes its items joined by spaces.
fn slurm_settings(cx: &mut Ctx, def: &Def) -> BTreeMap<String, String> {
    let mut slurm = BTreeMap::new();
    let Some(m) = &def.merged.slurm else { return slurm };
    let Some(Value::Mapping(m)) = def.value(cx, &Value::Mapping(m.clone()), &["slurm"]) else { return slurm };
    for (k, v) in m {
        let k = k.as_str().unwrap_or_default().to_string();
        if !SLURM_KEYS.contains(&k.as_str()) {
            let help = match suggest(&k, SLURM_KEYS.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("allowed: {}", SLURM_KEYS.join(", ")),
            };
            let d = cx.diag(cx.at_in_chain(def.chain, &["slurm", &k]), format!("unknown slurm setting `{k}`")).with_help(help);
            cx.push(d);
            continue;
        }
        let text = match &v {
            Value::Sequence(items) => items.iter().map(scalar_name).collect::<Vec<_>>().join(" "),
            other => scalar_name(other),
        };
        slurm.insert(k, text);
    }
    slurm
}

fn kind_names() -> Vec<&'static str> {
    stages::registry().iter().map(|k| k.name()).collect()
}

fn resources(
    cx: &mut Ctx,
    merged: &RawStage,
    chain: &[String],
    scope: &Scope,
    kind: &dyn StageKind,
    params: &serde_json::Value,
    mem_per_attempt: &mut f64,
) -> Resources {
    let mut r = kind.default_resources(params);
    let Some(map) = &merged.resources else { return r };
    let map = match interpolate_value(&Value::Mapping(map.clone()), scope) {
        Ok(Value::Mapping(m)) => m,
        Ok(_) => Mapping::new(),
        Err((sub, e)) => {
            let mut rel = vec!["resources"];
            rel.extend(sub.iter().map(|s| s.as_str()));
            let d = cx.interp_diag(cx.value_in_chain(chain, &rel), &e);
            cx.push(d);
            return r;
        }
    };
    for (k, v) in &map {
        let key = k.as_str().unwrap_or_default();
        let bad = |cx: &mut Ctx, what: &str| {
            let d = cx.diag(cx.value_in_chain(chain, &["resources", key]), format!("`resources.{key}` must be {what}"));
            cx.push(d);
        };
        match key {
            "cpus" => match v {
                Value::Number(n) if n.as_u64().is_some_and(|n| n >= 1) => r.cpus = n.as_u64().unwrap_or(1) as usize,
                Value::String(s) if s == "all" => r.cpus = usize::MAX,
                _ => bad(cx, "a whole number ≥ 1, or `all`"),
            },
            "gpus" => match gpu_request(v) {
                Some((gpus, split)) => {
                    r.gpus = gpus;
                    r.gpu_split = split;
                }
                None => bad(cx, "a whole number ≥ 0, or a share 1/n of one GPU (n ≤ 16) such as `0.25` or `\"1/4\"`"),
            },
            "mem" => match parse_mem(v) {
                Some(b) => r.mem = b,
                None => bad(cx, "a size such as `512M`, `4G` or a number of bytes"),
            },
            "mem_per_attempt" => match v.as_f64().or_else(|| v.as_str().and_then(|s| s.trim().trim_end_matches(['x', 'X']).parse().ok())) {
                Some(f) if (1.0..=64.0).contains(&f) => *mem_per_attempt = f,
                _ => bad(cx, "a factor from 1 to 64 such as `2x` (each retry asks for that much more memory)"),
            },
            _ => {
                let help = match suggest(key, RESOURCE_KEYS.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("allowed: {}", RESOURCE_KEYS.join(", ")),
                };
                let d = cx.diag(cx.at_in_chain(chain, &["resources", key]), format!("unknown resource `{key}`")).with_help(help);
                cx.push(d);
            }
        }
    }
    r
}

/// `resources.gpus`: a whole number (split 1), or a share 1/n of one GPU written `0.25` or `1/4`
/// (one GPU, split n). None when it is neither.
pub fn gpu_request(v: &Value) -> Option<(usize, u32)> {
    if let Some(n) = v.as_u64() {
        return Some((n as usize, 1));
    }
    let n = match v {
        Value::Number(x) => {
            let x = x.as_f64()?;
            if !(x > 0.0 && x < 1.0) {
                return None;
            }
            let n = (1.0 / x).round();
            ((1.0 / n - x).abs() < 1e-9).then_some(n)?
        }
        Value::String(s) => {
            let (one, n) = s.split_once('/')?;
            if one.trim() != "1" {
                return None;
            }
            n.trim().parse::<u32>().ok()? as f64
        }
        _ => return None,
    };
    let n = n as u32;
    (2..=crate::exec::gpus::MAX_SPLIT).contains(&n).then_some((1, n))
}

/// `512M`, `4G`, `1.5G`, `100K` or a plain number of bytes.
pub fn parse_mem(v: &Value) -> Option<u64> {
    if let Some(n) = v.as_u64() {
        return Some(n);
    }
    let s = v.as_str()?.trim();
    let (num, mult) = match s.chars().last()? {
        'K' | 'k' => (&s[..s.len() - 1], 1u64 << 10),
        'M' | 'm' => (&s[..s.len() - 1], 1 << 20),
        'G' | 'g' => (&s[..s.len() - 1], 1 << 30),
        'T' | 't' => (&s[..s.len() - 1], 1 << 40),
        _ => (s, 1),
    };
    let x: f64 = num.trim().parse().ok()?;
    (x >= 0.0).then(|| (x * mult as f64) as u64)
}

/// serde_yaml value → JSON value (mapping keys become strings).
pub fn yaml_to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                serde_json::Value::from(i)
            } else if let Some(u) = n.as_u64() {
                serde_json::Value::from(u)
            } else {
                serde_json::Number::from_f64(n.as_f64().unwrap_or(0.0)).map(serde_json::Value::Number).unwrap_or(serde_json::Value::Null)
            }
        }
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Sequence(items) => serde_json::Value::Array(items.iter().map(yaml_to_json).collect()),
        Value::Mapping(m) => serde_json::Value::Object(
            m.iter().map(|(k, v)| (k.as_str().map(str::to_string).unwrap_or_else(|| scalar_name(k)), yaml_to_json(v))).collect(),
        ),
        Value::Tagged(t) => yaml_to_json(&t.value),
    }
}

/// Wildcard match where only `*` and `?` are special (stage names contain `[` and `]`).
pub fn wildcard(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// Stages matching a reference: exact name, group, `group.*`, or wildcard.
pub fn match_stages(stages: &[Stage], pattern: &str) -> Vec<usize> {
    if let Some(i) = stages.iter().position(|s| s.name == pattern) {
        return vec![i];
    }
    let group: Vec<usize> = stages.iter().enumerate().filter(|(_, s)| s.group == pattern && s.name != s.group).map(|(i, _)| i).collect();
    if !group.is_empty() {
        return group;
    }
    if let Some(g) = pattern.strip_suffix(".*") {
        let members: Vec<usize> = stages.iter().enumerate().filter(|(_, s)| s.group == g).map(|(i, _)| i).collect();
        if !members.is_empty() {
            return members;
        }
    }
    if pattern.contains('*') || pattern.contains('?') {
        return stages.iter().enumerate().filter(|(_, s)| wildcard(pattern, &s.name)).map(|(i, _)| i).collect();
    }
    Vec::new()
}

/// Whether one of two normalised relative paths is the other or inside it.
fn overlaps(a: &str, b: &str) -> bool {
    Path::new(a).starts_with(b) || Path::new(b).starts_with(a)
}

fn file_name(file: &Path) -> String {
    file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Resolves every stage's input references and sets `upstream`.
fn resolve_inputs(cx: &mut Ctx, stages: &mut [Stage], pending: Vec<PendingInputs>) {
    // Which stage produces which workspace path (command `outs`). Two stages may not write the
    // same path, nor one a path inside the other's: run in parallel, one entry would capture the
    // other's files.
    let mut producers: Vec<(PathBuf, usize)> = Vec::new();
    let mut producer_pos: Vec<(Pos, String)> = Vec::new();
    for (i, s) in stages.iter().enumerate() {
        for (j, (_, ws)) in s.kind.workspace_outputs(&s.params).into_iter().enumerate() {
            let abs = join_lexical(&s.work_dir, &ws);
            let at = pending[i].out_pos.get(j).copied().unwrap_or(s.pos);
            if let Some(((p, other), (other_at, other_ws))) = producers.iter().zip(&producer_pos).find(|((p, _), _)| p.starts_with(&abs) || abs.starts_with(p)) {
                let (what, help) = if *p == abs {
                    (format!("`{ws}` is an output of both `{}` and `{}`", stages[*other].name, s.name), "each path may be written by one stage only")
                } else {
                    (
                        format!("output `{ws}` of `{}` overlaps output `{other_ws}` of `{}`", s.name, stages[*other].name),
                        "one stage's output may not be inside another's; give each stage its own files or folder",
                    )
                };
                let d = cx
                    .diag(at, what)
                    .with_help(format!("{help} (the other is at {}:{}:{})", cx.file.display(), other_at.line, other_at.col));
                cx.push(d);
            }
            producers.push((abs, i));
            producer_pos.push((at, ws));
        }
    }
    let producer_of = |abs: &Path| -> Vec<usize> {
        producers.iter().filter(|(p, _)| p.starts_with(abs) || abs.starts_with(p)).map(|(_, i)| *i).collect()
    };

    for (i, p) in pending.into_iter().enumerate() {
        let mut inputs: BTreeMap<String, Vec<Input>> = BTreeMap::new();
        let mut upstream: BTreeSet<usize> = BTreeSet::new();
        for SlotRefs { slot, refs, base, keypath, own } in p.slots {
            let mut resolved = Vec::new();
            for (j, r) in refs.iter().enumerate() {
                let idx = j.to_string();
                let mut rel: Vec<&str> = keypath.iter().map(|s| s.as_str()).collect();
                let is_list = cx.root.node_at(&{
                    let mut full = vec!["stages", p.chain[0].as_str()];
                    full.extend(rel.iter().copied());
                    full
                }).is_some_and(|n| matches!(n.value, yaml::NodeValue::Seq(_)));
                if is_list || own {
                    rel.push(&idx);
                }
                let pos = cx.value_in_chain(&p.chain, &rel);
                let (want_stage, want_path, text) = if let Some(t) = r.strip_prefix("stage:") {
                    (true, false, t)
                } else if let Some(t) = r.strip_prefix("file:") {
                    (false, true, t)
                } else {
                    (!own, true, r.as_str())
                };
                let matched = if want_stage { match_stages(stages, text) } else { Vec::new() };
                let abs = join_lexical(&base, text);
                let path_exists = want_path && abs.exists();
                let produced = if want_path { producer_of(&abs) } else { Vec::new() };
                if !matched.is_empty() && (path_exists || !produced.is_empty()) && !r.starts_with("stage:") {
                    let d = cx
                        .diag(pos, format!("`{text}` is ambiguous: it names both a stage and a file"))
                        .with_help(format!("write `stage:{text}` or `file:{text}`"));
                    cx.push(d);
                    continue;
                }
                if !matched.is_empty() {
                    if matched.contains(&i) {
                        let d = cx.diag(pos, format!("stage `{}` cannot read its own output", stages[i].name));
                        cx.push(d);
                        continue;
                    }
                    for m in matched {
                        upstream.insert(m);
                        resolved.push(Input::Stage(m));
                    }
                    continue;
                }
                if want_path && produced.contains(&i) {
                    // Silently dropping the edge made the stage rerun forever (its output is a
                    // new input each time) or fail without a location.
                    let d = cx
                        .diag(pos, format!("stage `{}` lists its own output `{text}` in `{slot}`", stages[i].name))
                        .with_help("a stage cannot read what it writes; remove it from `deps`, or write to a different path");
                    cx.push(d);
                    continue;
                }
                if want_path && (path_exists || !produced.is_empty()) {
                    upstream.extend(produced.iter().copied());
                    let rel_text = normalize_relative(text).unwrap_or_else(|| text.to_string());
                    resolved.push(Input::Path { rel: rel_text, abs });
                    continue;
                }
                if want_path && (text.contains('*') || text.contains('?')) {
                    let pattern = abs.to_string_lossy().into_owned();
                    let mut files: Vec<PathBuf> = glob::glob(&pattern).map(|g| g.filter_map(Result::ok).collect()).unwrap_or_default();
                    files.sort();
                    if !files.is_empty() {
                        for f in files {
                            let rel_text = f.strip_prefix(&base).map(|r| r.to_string_lossy().into_owned()).unwrap_or_else(|_| f.to_string_lossy().into_owned());
                            resolved.push(Input::Path { rel: rel_text, abs: f });
                        }
                        continue;
                    }
                }
                let names: Vec<&str> = stages.iter().map(|s| s.name.as_str()).chain(stages.iter().map(|s| s.group.as_str())).collect();
                let (msg, help) = if want_stage && !want_path {
                    (format!("no stage named `{text}`"), suggest(text, names.iter().copied()).map(|s| format!("did you mean `{s}`?")))
                } else if own {
                    (
                        format!("dependency `{text}` does not exist and no stage produces it"),
                        Some("create the file, or add the stage that writes it (its `outs`)".to_string()),
                    )
                } else {
                    (
                        format!("`{text}` is neither a stage nor an existing file"),
                        Some(match suggest(text, names.iter().copied()) {
                            Some(s) => format!("did you mean stage `{s}`?"),
                            None => format!("stage names: {}", stages.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")),
                        }),
                    )
                };
                let mut d = cx.diag(pos, msg);
                if let Some(h) = help {
                    d = d.with_help(h);
                }
                cx.push(d);
            }
            inputs.insert(slot, resolved);
        }
        stages[i].inputs = inputs;
        stages[i].upstream = upstream.into_iter().collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_treats_brackets_literally() {
        assert!(wildcard("eval[*]", "eval[basic]"));
        assert!(wildcard("sep*", "separate[Smiling]"));
        assert!(!wildcard("eval[*]", "evalx"));
        assert!(wildcard("a?c", "abc"));
    }

    #[test]
    fn mem_sizes() {
        assert_eq!(parse_mem(&Value::from("4G")), Some(4 << 30));
        assert_eq!(parse_mem(&Value::from("512M")), Some(512 << 20));
        assert_eq!(parse_mem(&Value::from(100)), Some(100));
        assert_eq!(parse_mem(&Value::from("lots")), None);
    }
}
