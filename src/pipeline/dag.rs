//! The stage graph (petgraph): cycle detection that names the cycle, topological order, selecting a
//! stage and everything it needs, and rendering as text, DOT or Mermaid.

use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};

use super::Stage;

/// Edges run from a stage to the stages that read its output.
pub struct Dag {
    graph: DiGraph<usize, ()>,
    /// Stage indices in an order where every stage comes after the stages it needs.
    pub order: Vec<usize>,
}

impl Dag {
    /// Builds the graph; on a cycle, returns the stages of one cycle in order.
    pub fn build(stages: &[Stage]) -> Result<Dag, Vec<usize>> {
        let mut graph = DiGraph::new();
        let nodes: Vec<NodeIndex> = (0..stages.len()).map(|i| graph.add_node(i)).collect();
        for (i, s) in stages.iter().enumerate() {
            for &u in &s.upstream {
                graph.add_edge(nodes[u], nodes[i], ());
            }
        }
        for s in stages.iter().enumerate() {
            if s.1.upstream.contains(&s.0) {
                return Err(vec![s.0]);
            }
        }
        match toposort(&graph, None) {
            Ok(order) => {
                // Stable: among ready stages keep file order (toposort's order depends on edges).
                let order = stable_topo(stages, order.len());
                Ok(Dag { graph, order })
            }
            Err(_) => {
                let scc = tarjan_scc(&graph).into_iter().find(|c| c.len() > 1).unwrap_or_default();
                let members: Vec<usize> = scc.iter().map(|n| graph[*n]).collect();
                Err(cycle_path(stages, &members))
            }
        }
    }

    /// Direct downstream stages of `i`.
    pub fn downstream(&self, i: usize) -> Vec<usize> {
        let mut v: Vec<usize> = self.graph.neighbors(NodeIndex::new(i)).map(|n| self.graph[n]).collect();
        v.sort();
        v
    }
}

/// Kahn's algorithm taking the lowest index first, so the order follows the file where it can.
fn stable_topo(stages: &[Stage], n: usize) -> Vec<usize> {
    let mut indegree: Vec<usize> = stages.iter().map(|s| s.upstream.len()).collect();
    let mut downstream: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, s) in stages.iter().enumerate() {
        for &u in &s.upstream {
            downstream[u].push(i);
        }
    }
    let mut ready: std::collections::BTreeSet<usize> = (0..n).filter(|&i| indegree[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(&i) = ready.iter().next() {
        ready.remove(&i);
        order.push(i);
        for &d in &downstream[i] {
            indegree[d] -= 1;
            if indegree[d] == 0 {
                ready.insert(d);
            }
        }
    }
    order
}

/// One cycle through `members` (a strongly connected set), as a path starting at its lowest index.
fn cycle_path(stages: &[Stage], members: &[usize]) -> Vec<usize> {
    let Some(&start) = members.iter().min() else { return Vec::new() };
    // Walk upstream edges inside the component until we return to the start.
    let mut path = vec![start];
    let mut current = start;
    for _ in 0..members.len() {
        let Some(&next) = stages[current].upstream.iter().filter(|u| members.contains(u)).min() else { break };
        if next == start {
            break;
        }
        if path.contains(&next) {
            // Found an inner loop; report it instead.
            let at = path.iter().position(|&p| p == next).unwrap_or(0);
            path = path[at..].to_vec();
            break;
        }
        path.push(next);
        current = next;
    }
    // `path` follows "needs" edges; print it in data-flow order, from the earliest stage.
    path.reverse();
    if let Some(at) = path.iter().position(|&p| p == start) {
        path.rotate_left(at);
    }
    path
}

/// Marks the stages in `targets` and everything they need.
pub fn with_ancestors(stages: &[Stage], targets: &[usize]) -> Vec<bool> {
    let mut keep = vec![false; stages.len()];
    let mut stack: Vec<usize> = targets.to_vec();
    while let Some(i) = stack.pop() {
        if !keep[i] {
            keep[i] = true;
            stack.extend(stages[i].upstream.iter().copied());
        }
    }
    keep
}

/// Output formats of `awmt dag`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DagFormat {
    Text,
    Dot,
    Mermaid,
}

/// Renders the selected stages.
pub fn render(stages: &[Stage], order: &[usize], keep: &[bool], format: DagFormat) -> String {
    let mut out = String::new();
    let selected: Vec<usize> = order.iter().copied().filter(|&i| keep[i]).collect();
    match format {
        DagFormat::Text => {
            for &i in &selected {
                let s = &stages[i];
                let ups: Vec<&str> = s.upstream.iter().filter(|&&u| keep[u]).map(|&u| stages[u].name.as_str()).collect();
                if ups.is_empty() {
                    out.push_str(&format!("{} ({})\n", s.name, s.kind.name()));
                } else {
                    out.push_str(&format!("{} ({}) <- {}\n", s.name, s.kind.name(), ups.join(", ")));
                }
            }
        }
        DagFormat::Dot => {
            out.push_str("digraph pipeline {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n");
            for &i in &selected {
                out.push_str(&format!("  n{i} [label=\"{}\\n({})\"];\n", dot_escape(&stages[i].name), stages[i].kind.name()));
            }
            for &i in &selected {
                for &u in stages[i].upstream.iter().filter(|&&u| keep[u]) {
                    out.push_str(&format!("  n{u} -> n{i};\n"));
                }
            }
            out.push_str("}\n");
        }
        DagFormat::Mermaid => {
            out.push_str("flowchart LR\n");
            for &i in &selected {
                out.push_str(&format!("  n{i}[\"{} ({})\"]\n", mermaid_escape(&stages[i].name), stages[i].kind.name()));
            }
            for &i in &selected {
                for &u in stages[i].upstream.iter().filter(|&&u| keep[u]) {
                    out.push_str(&format!("  n{u} --> n{i}\n"));
                }
            }
        }
    }
    out
}

fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn mermaid_escape(s: &str) -> String {
    s.replace('"', "#quot;").replace('[', "#91;").replace(']', "#93;")
}
