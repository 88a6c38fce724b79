//! A YAML tree that remembers where every node starts, so that errors found after parsing
//! (a missing stage, a cycle, an undefined variable) can point at the user's line and column.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::diag::Pos;

/// A node with its position.
#[derive(Debug, Clone)]
pub struct Node {
    pub pos: Pos,
    pub value: NodeValue,
}

#[derive(Debug, Clone)]
pub enum NodeValue {
    /// The scalar's text, and whether it was quoted (quoted scalars are never numbers or bools).
    Scalar(String, bool),
    Seq(Vec<Node>),
    /// Keys keep their own positions; order is the file's.
    Map(Vec<(Node, Node)>),
    /// An alias whose anchor is unknown (the parser reports those); known aliases are replaced
    /// by a copy of the anchored node.
    Alias,
}

impl Node {
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::Scalar(s, _) => Some(s),
            _ => None,
        }
    }

    /// The value under `key` of a mapping node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, v)| v)
    }

    /// The key node and value node under `key` of a mapping node.
    pub fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        match &self.value {
            NodeValue::Map(entries) => entries.iter().find(|(k, _)| k.as_str() == Some(key)).map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    /// Follows a path of mapping keys (or sequence indices); returns the position of the deepest
    /// node found (for the last step, its key's) and whether the whole path was found.
    pub fn locate(&self, path: &[&str]) -> (Pos, bool) {
        let mut node = self;
        let mut pos = self.pos;
        for (i, step) in path.iter().enumerate() {
            let next = match &node.value {
                NodeValue::Map(_) => node.entry(step).map(|(k, v)| (k.pos, v)),
                NodeValue::Seq(items) => step.parse::<usize>().ok().and_then(|n| items.get(n)).map(|v| (v.pos, v)),
                _ => None,
            };
            match next {
                Some((key_pos, value)) => {
                    // Point at the key for the last step: "here is the setting that is wrong".
                    pos = if i + 1 == path.len() { key_pos } else { value.pos };
                    node = value;
                }
                None => return (pos, false),
            }
        }
        (pos, true)
    }

    /// Position of the value (not the key) at `path`.
    pub fn value_pos(&self, path: &[&str]) -> Option<Pos> {
        let mut node = self;
        for step in path {
            node = match &node.value {
                NodeValue::Map(_) => node.get(step)?,
                NodeValue::Seq(items) => items.get(step.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(node.pos)
    }

    pub fn node_at(&self, path: &[&str]) -> Option<&Node> {
        let mut node = self;
        for step in path {
            node = match &node.value {
                NodeValue::Map(_) => node.get(step)?,
                NodeValue::Seq(items) => items.get(step.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(node)
    }
}

/// A key that occurs twice in one mapping.
#[derive(Debug, Clone)]
pub struct DuplicateKey {
    pub key: String,
    pub first: Pos,
    pub second: Pos,
}

/// Most nodes a document may expand to once aliases are copied in: a few-hundred-byte file of
/// nested aliases ("billion laughs") would otherwise take all memory.
pub const MAX_NODES: usize = 1_000_000;

/// Parses the first document of `text`, with aliases (`*name`) replaced by copies of their anchored
/// nodes. Errors carry a position and a message.
pub fn parse(text: &str) -> Result<Option<Node>, (Pos, String)> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, false).map_err(|e| (to_pos(e.marker()), e.info().to_string()))?;
    if let Some(e) = builder.error {
        return Err(e);
    }
    Ok(builder.root)
}

/// Mapping keys that are not plain scalars (a list, a map, or an alias of one), anywhere in the tree.
pub fn non_scalar_keys(node: &Node) -> Vec<Pos> {
    let mut out = Vec::new();
    collect_non_scalar_keys(node, &mut out);
    out
}

fn collect_non_scalar_keys(node: &Node, out: &mut Vec<Pos>) {
    match &node.value {
        NodeValue::Map(entries) => {
            for (k, v) in entries {
                if k.as_str().is_none() {
                    out.push(k.pos);
                }
                collect_non_scalar_keys(v, out);
            }
        }
        NodeValue::Seq(items) => items.iter().for_each(|n| collect_non_scalar_keys(n, out)),
        _ => {}
    }
}

fn node_count(node: &Node) -> usize {
    match &node.value {
        NodeValue::Seq(items) => 1 + items.iter().map(node_count).sum::<usize>(),
        NodeValue::Map(entries) => 1 + entries.iter().map(|(k, v)| node_count(k) + node_count(v)).sum::<usize>(),
        _ => 1,
    }
}

/// Every key that appears twice in the same mapping, anywhere in the tree.
pub fn duplicate_keys(node: &Node) -> Vec<DuplicateKey> {
    let mut out = Vec::new();
    collect_duplicates(node, &mut out);
    out
}

fn collect_duplicates(node: &Node, out: &mut Vec<DuplicateKey>) {
    match &node.value {
        NodeValue::Map(entries) => {
            for (i, (k, v)) in entries.iter().enumerate() {
                if let Some(name) = k.as_str() {
                    if let Some((first, _)) = entries[..i].iter().find(|(k2, _)| k2.as_str() == Some(name)) {
                        out.push(DuplicateKey { key: name.to_string(), first: first.pos, second: k.pos });
                    }
                }
                collect_duplicates(v, out);
            }
        }
        NodeValue::Seq(items) => items.iter().for_each(|n| collect_duplicates(n, out)),
        _ => {}
    }
}

fn to_pos(m: &Marker) -> Pos {
    // yaml-rust2 counts lines from 1 and columns from 0.
    Pos { line: m.line(), col: m.col() + 1 }
}

/// Builds [`Node`]s from parser events.
#[derive(Default)]
struct Builder {
    stack: Vec<Partial>,
    root: Option<Node>,
    done: bool,
    /// Anchor id → (anchored node, its node count).
    anchors: std::collections::HashMap<usize, (Node, usize)>,
    /// Nodes built so far, aliases counted at their full size.
    nodes: usize,
    error: Option<(Pos, String)>,
}

/// A collection being built, with its anchor id (0: none).
enum Partial {
    Seq(Pos, usize, Vec<Node>),
    Map(Pos, usize, Vec<(Node, Node)>, Option<Node>),
}

impl Builder {
    /// Counts `n` more nodes; false (with the error recorded) past [`MAX_NODES`].
    fn count(&mut self, n: usize, pos: Pos) -> bool {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            self.error = Some((
                pos,
                format!("YAML aliases (`*name`) expand this document to more than {MAX_NODES} values"),
            ));
            self.done = true;
            return false;
        }
        true
    }

    /// Remembers a finished node under its anchor id.
    fn anchor(&mut self, id: usize, node: &Node) {
        if id != 0 {
            self.anchors.insert(id, (node.clone(), node_count(node)));
        }
    }

    fn push_node(&mut self, node: Node) {
        match self.stack.last_mut() {
            Some(Partial::Seq(_, _, items)) => items.push(node),
            Some(Partial::Map(_, _, entries, pending)) => match pending.take() {
                None => *pending = Some(node),
                Some(key) => entries.push((key, node)),
            },
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.done {
            return;
        }
        let pos = to_pos(&mark);
        match ev {
            Event::Scalar(text, style, anchor, _) => {
                if !self.count(1, pos) {
                    return;
                }
                let quoted = !matches!(style, TScalarStyle::Plain);
                let node = Node { pos, value: NodeValue::Scalar(text, quoted) };
                self.anchor(anchor, &node);
                self.push_node(node);
            }
            Event::Alias(id) => {
                // A copy of the anchored node, placed where the alias is written (so that a key
                // written as `*name` is that name, at the alias's position).
                let node = match self.anchors.get(&id) {
                    Some((n, size)) => {
                        let size = *size;
                        let node = Node { pos, value: n.value.clone() };
                        if !self.count(size, pos) {
                            return;
                        }
                        node
                    }
                    None => Node { pos, value: NodeValue::Alias },
                };
                self.push_node(node);
            }
            Event::SequenceStart(anchor, _) => {
                if self.count(1, pos) {
                    self.stack.push(Partial::Seq(pos, anchor, Vec::new()));
                }
            }
            Event::MappingStart(anchor, _) => {
                if self.count(1, pos) {
                    self.stack.push(Partial::Map(pos, anchor, Vec::new(), None));
                }
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Partial::Seq(p, a, items)) => (Node { pos: p, value: NodeValue::Seq(items) }, a),
                    Some(Partial::Map(p, a, entries, _)) => (Node { pos: p, value: NodeValue::Map(entries) }, a),
                    None => return,
                };
                self.anchor(anchor, &node);
                self.push_node(node);
            }
            Event::DocumentEnd => self.done = true,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_lines_and_columns() {
        let text = "name: x\nstages:\n  a:\n    kind: command\n    outs: [o.txt]\n";
        let root = parse(text).unwrap().unwrap();
        let (pos, found) = root.locate(&["stages", "a", "outs"]);
        assert!(found);
        assert_eq!(pos, Pos { line: 5, col: 5 });
        assert_eq!(root.value_pos(&["stages", "a", "outs", "0"]), Some(Pos { line: 5, col: 12 }));
    }

    #[test]
    fn alias_keys_resolve_to_their_anchor() {
        let text = "vars:\n  n: &name second\nstages:\n  first: {}\n  *name : {}\n";
        let root = parse(text).unwrap().unwrap();
        let stages = root.get("stages").unwrap();
        let (k, _) = stages.entry("second").expect("the alias key is the anchored name");
        assert_eq!(k.pos, Pos { line: 5, col: 3 });
        assert!(non_scalar_keys(&root).is_empty());
        let root = parse("a: &l [1, 2]\nb: {*l : 1}\n").unwrap().unwrap();
        assert_eq!(non_scalar_keys(&root), vec![Pos { line: 2, col: 5 }]);
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            text.push_str(&format!("a{i}: &a{i} [{}]\n", vec![format!("*a{}", i - 1); 10].join(", ")));
        }
        let (pos, msg) = parse(&text).unwrap_err();
        assert!(msg.contains("more than"), "{msg}");
        assert!(pos.line >= 5, "{pos:?}");
    }

    #[test]
    fn finds_duplicate_keys() {
        let text = "stages:\n  a: {kind: command}\n  b: {}\n  a: {}\n";
        let root = parse(text).unwrap().unwrap();
        let d = duplicate_keys(&root);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].key, "a");
        assert_eq!(d[0].first, Pos { line: 2, col: 3 });
        assert_eq!(d[0].second, Pos { line: 4, col: 3 });
    }
}
