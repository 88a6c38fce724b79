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
    /// Aliases are not resolved; they only need a position.
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

    /// Follows a path of mapping keys (or sequence indices); returns the deepest node found and
    /// whether the whole path was found. With `key_pos`, the last step yields the key's position.
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

/// Parses the first document of `text`. Errors carry a position and the scanner's message.
pub fn parse(text: &str) -> Result<Option<Node>, (Pos, String)> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, false).map_err(|e| (to_pos(e.marker()), e.info().to_string()))?;
    Ok(builder.root)
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
}

enum Partial {
    Seq(Pos, Vec<Node>),
    Map(Pos, Vec<(Node, Node)>, Option<Node>),
}

impl Builder {
    fn push_node(&mut self, node: Node) {
        match self.stack.last_mut() {
            Some(Partial::Seq(_, items)) => items.push(node),
            Some(Partial::Map(_, entries, pending)) => match pending.take() {
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
            Event::Scalar(text, style, _, _) => {
                let quoted = !matches!(style, TScalarStyle::Plain);
                self.push_node(Node { pos, value: NodeValue::Scalar(text, quoted) });
            }
            Event::Alias(_) => self.push_node(Node { pos, value: NodeValue::Alias }),
            Event::SequenceStart(..) => self.stack.push(Partial::Seq(pos, Vec::new())),
            Event::MappingStart(..) => self.stack.push(Partial::Map(pos, Vec::new(), None)),
            Event::SequenceEnd | Event::MappingEnd => {
                let node = match self.stack.pop() {
                    Some(Partial::Seq(p, items)) => Node { pos: p, value: NodeValue::Seq(items) },
                    Some(Partial::Map(p, entries, _)) => Node { pos: p, value: NodeValue::Map(entries) },
                    None => return,
                };
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
