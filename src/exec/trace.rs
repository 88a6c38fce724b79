//! Per-stage traces of one run (start and end, attempts, CPU time, peak memory, bytes written),
//! appended to the cache's run index as each stage finishes, so that a killed run keeps what it
//! finished (see `cache::run_index`).

use crate::cache::run_index::{self, Event, RunEnd, RunLog, RunStart, StageTrace};
use crate::cache::Cache;
use crate::rusage::Usage;

use super::scheduler::StageOutcome;

pub struct Tracer {
    log: Option<RunLog>,
    run: String,
    executor: String,
    started: Vec<f64>,
    attempts: Vec<u32>,
    usage: Vec<Option<Usage>>,
    gpus: Vec<Option<Vec<usize>>>,
    /// Every finished stage's trace, in finishing order.
    pub traces: Vec<StageTrace>,
}

impl Tracer {
    /// A tracer for a run of `n` stages; with `start`, the run is written to the index (a dry
    /// run passes none). An index that cannot be written is a warning, not a failed run.
    pub fn begin(cache: &Cache, start: Option<RunStart>, n: usize) -> Tracer {
        let mut t = Tracer {
            log: None,
            run: String::new(),
            executor: String::new(),
            started: vec![0.0; n],
            attempts: vec![0; n],
            usage: vec![None; n],
            gpus: vec![None; n],
            traces: Vec::new(),
        };
        if let Some(start) = start {
            t.run = start.run.clone();
            t.executor = start.executor.clone();
            match RunLog::open(cache).and_then(|mut log| log.append(&Event::Start(start)).map(|_| log)) {
                Ok(log) => t.log = Some(log),
                Err(e) => eprintln!("warning: this run is not recorded in the run index: {e:#}"),
            }
        }
        t
    }

    /// Stage `i` starts an attempt.
    pub fn launched(&mut self, i: usize) {
        self.started[i] = run_index::now();
        self.attempts[i] += 1;
    }

    /// Attempts stage `i` has started so far.
    pub fn attempts(&self, i: usize) -> u32 {
        self.attempts[i]
    }

    /// The GPUs stage `i`'s attempt was placed on (for the scheduler's GPU placement to call).
    pub fn placed(&mut self, i: usize, gpus: Vec<usize>) {
        self.gpus[i] = Some(gpus);
    }

    /// What the executor measured of stage `i`'s last attempt.
    pub fn measured(&mut self, i: usize, usage: Option<Usage>) {
        self.usage[i] = usage;
    }

    /// Stage `i` finished as `o` (having published `bytes_written`): records and appends it.
    pub fn finished(&mut self, i: usize, o: &StageOutcome, bytes_written: u64, executor: &str) {
        let end = run_index::now();
        let ran = self.attempts[i] > 0 && o.status.ran();
        let usage = if ran { self.usage[i] } else { None };
        let trace = StageTrace {
            run: self.run.clone(),
            stage: o.name.clone(),
            kind: o.kind.clone(),
            key: o.key.clone(),
            status: o.status.to_string(),
            attempts: self.attempts[i],
            start: if ran { self.started[i] } else { end },
            end,
            seconds: o.seconds,
            cpu_seconds: usage.map(|u| u.cpu_seconds),
            max_rss: usage.map(|u| u.max_rss),
            bytes_written,
            executor: if executor.is_empty() { self.executor.clone() } else { executor.to_string() },
            gpus: if ran { self.gpus[i].clone() } else { None },
            error: o.error.clone(),
        };
        if let Some(log) = &mut self.log {
            if let Err(e) = log.append(&Event::Stage(trace.clone())) {
                eprintln!("warning: {e:#}");
            }
        }
        self.traces.push(trace);
    }

    /// The run ended with `status` (`ok`, `failed`, `interrupted`).
    pub fn end(&mut self, status: &str) {
        if let Some(log) = &mut self.log {
            let end = Event::End(RunEnd { run: self.run.clone(), ended: run_index::now(), status: status.to_string() });
            if let Err(e) = log.append(&end) {
                eprintln!("warning: {e:#}");
            }
        }
    }
}

/// The lines `awmt run` prints after its counts: the three slowest stages that ran and the one
/// with the largest peak memory.
pub fn summary_lines(traces: &[StageTrace]) -> Vec<String> {
    let mut ran: Vec<&StageTrace> = traces.iter().filter(|t| t.status == "ran" || t.status == "failed").collect();
    if ran.is_empty() {
        return Vec::new();
    }
    ran.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
    let slowest: Vec<String> = ran
        .iter()
        .take(3)
        .map(|t| {
            let cpu = t.cpu_seconds.map(|c| format!(", CPU {}", crate::util::human_duration(c))).unwrap_or_default();
            format!("{} {}{cpu}", t.stage, crate::util::human_duration(t.seconds))
        })
        .collect();
    let mut out = vec![format!("slowest: {}", slowest.join("; "))];
    if let Some(t) = ran.iter().filter(|t| t.max_rss.is_some()).max_by_key(|t| t.max_rss.unwrap_or(0)) {
        out.push(format!("largest peak memory: {} {}", t.stage, crate::util::human_bytes(t.max_rss.unwrap_or(0))));
    }
    out
}

/// Adds what the report draws to a run record: `graph` (every stage with its group, kind,
/// upstream stages and how it ended so far in this run) and `traces` (this run's stages that
/// finished so far, read back from the run index).
pub fn extend_record(record: &mut serde_json::Value, pipeline: &crate::pipeline::Pipeline, cache: &Cache) {
    let me = std::process::id();
    let current = run_index::read_runs(cache).ok().and_then(|runs| runs.into_iter().rev().find(|r| r.start.pid == me && r.end.is_none()));
    let traces = current.map(|r| r.stages).unwrap_or_default();
    let status: std::collections::HashMap<&str, &str> = traces.iter().map(|t| (t.stage.as_str(), t.status.as_str())).collect();
    let graph: Vec<serde_json::Value> = pipeline
        .dag
        .order
        .iter()
        .map(|&i| {
            let s = &pipeline.stages[i];
            serde_json::json!({
                "name": s.name,
                "group": s.group,
                "kind": s.kind.name(),
                "upstream": s.upstream.iter().map(|&u| pipeline.stages[u].name.clone()).collect::<Vec<_>>(),
                "status": status.get(s.name.as_str()).copied().unwrap_or(""),
            })
        })
        .collect();
    record["graph"] = serde_json::Value::Array(graph);
    record["traces"] = serde_json::to_value(&traces).unwrap_or_default();
}
