//! The `awmt` command line: parses arguments, calls the library, prints, and sets exit codes
//! (0 everything fresh, 1 a stage failed or the cache is corrupt, 2 bad input, 130 interrupted).

use std::collections::HashSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};

use awmt::cache::{lock, Cache};
use awmt::exec::gpus::Gpus;
use awmt::exec::local::LocalExecutor;
use awmt::exec::progress::Progress;
use awmt::exec::scheduler::{self, RunOptions};
use awmt::exec::slurm::SlurmExecutor;
use awmt::exec::{Executor, Outcome, Status};
use awmt::pipeline::dag::{self, DagFormat};
use awmt::pipeline::{diag::suggest, Pipeline, PipelineError};

#[derive(Parser)]
#[command(name = "awmt", version, about = "Declarative, cached experiment pipelines for the AWMT paper (He et al., ACM MM 2017)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ExecutorKind {
    Local,
    Slurm,
}

#[derive(clap::Args, Clone)]
struct CacheArgs {
    /// Cache directory [default: $AWMT_CACHE, else ./cache]
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
}

impl CacheArgs {
    fn dir(&self) -> PathBuf {
        self.cache.clone().or_else(|| std::env::var_os("AWMT_CACHE").map(PathBuf::from)).unwrap_or_else(|| PathBuf::from("cache"))
    }
}

#[derive(clap::Args, Clone, Default)]
struct SetArgs {
    /// Override a value of the pipeline document: a dotted path (`vars.seed=3`,
    /// `stages.basic.with.iterations=200`), the value as YAML; `+PATH=VALUE` adds a key
    #[arg(long = "set", value_name = "PATH=VALUE")]
    set: Vec<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Bring a pipeline's stages up to date, running only what changed
    Run(RunArgs),
    /// Each stage: fresh, stale (and why), or never run
    Status {
        file: PathBuf,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        sets: SetArgs,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Print the stage graph
    Dag {
        file: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        format: DagFormat,
        /// Only these stages and what they need
        #[arg(long, value_name = "STAGE", num_args = 1..)]
        stage: Vec<String>,
        #[command(flatten)]
        sets: SetArgs,
        /// Text format: each stage's state in the cache, and why a stale one would rerun
        #[arg(long)]
        status: bool,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Remove cache entries that none of the given pipelines reaches
    Gc {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Re-hash every cached object, check every manifest, move corrupt entries to quarantine/
    Verify {
        #[arg(long)]
        json: bool,
        /// Only report; leave corrupt entries where they are (and do not take the cache lock)
        #[arg(long)]
        no_quarantine: bool,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Past runs, newest first; with RUN, that run's stages and their resource traces
    Runs {
        /// A run id (or a prefix of one, or `last`)
        run: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Compare the variants of a pipeline's experiments that the cache holds
    Exp {
        #[command(subcommand)]
        command: ExpCommand,
    },
    /// What changed between two runs (ids from `awmt runs`) or two cache entries (keys)
    Diff {
        a: String,
        b: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Show the libtorch, CUDA, threads, cache and Slurm this awmt sees
    Doctor {
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Run one stage (used by executors)
    #[command(hide = true)]
    ExecStage {
        /// A context file written by the local executor
        #[arg(long, conflicts_with_all = ["pipeline", "stage"])]
        context: Option<PathBuf>,
        /// With --stage and --cache: run that stage of this pipeline and publish it
        #[arg(long, requires_all = ["stage", "cache"])]
        pipeline: Option<PathBuf>,
        #[arg(long)]
        stage: Option<String>,
        #[arg(long)]
        cache: Option<PathBuf>,
        /// With --pipeline: the run's `--set` overrides, as given to `awmt run`
        #[arg(long = "set", value_name = "PATH=VALUE", requires = "pipeline")]
        set: Vec<String>,
        /// With --pipeline: the key the run computed for the stage; another key here is an error
        #[arg(long, requires = "pipeline")]
        expect_key: Option<String>,
    },
}

// `awmt run`'s arguments (its help text is the variant's doc comment).
#[derive(clap::Args)]
struct RunArgs {
    /// Pipeline file (YAML)
    file: PathBuf,
    /// Show what would run, run nothing
    #[arg(long)]
    dry_run: bool,
    /// Rerun these stages even if cached (names, groups or wildcards)
    #[arg(long, value_name = "STAGE", num_args = 1..)]
    force: Vec<String>,
    /// Only these stages and what they need
    #[arg(long, value_name = "STAGE", num_args = 1..)]
    stage: Vec<String>,
    /// Stages at a time [default: number of CPUs]
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    /// Keep running independent stages after a failure
    #[arg(long)]
    keep_going: bool,
    /// Print a JSON summary on stdout
    #[arg(long)]
    json: bool,
    /// Print only failures
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Fail instead of waiting when another run holds the cache
    #[arg(long)]
    no_wait: bool,
    /// Re-hash every input and every cached output used, trusting no stat (catches bit rot
    /// below the filesystem, which leaves size, mtime and ctime alone)
    #[arg(long)]
    paranoid: bool,
    /// Where user-facing outputs go: <DIR>/<pipeline>/<stage>/
    #[arg(long, value_name = "DIR", default_value = "reports")]
    reports: PathBuf,
    /// Where stages run
    #[arg(long, value_enum, default_value = "local")]
    executor: ExecutorKind,
    /// GPUs to place stages on (each gets CUDA_VISIBLE_DEVICES of its own) [default: those
    /// this machine has]
    #[arg(long, value_name = "N")]
    gpus: Option<usize>,
    #[command(flatten)]
    sets: SetArgs,
    /// Rerun a failed stage up to N times (stages with their own `retries:` keep the larger)
    #[arg(long, value_name = "N", default_value_t = 0)]
    retries: u32,
    #[command(flatten)]
    cache: CacheArgs,
}

#[derive(Subcommand)]
enum ExpCommand {
    /// One table per data family, one row per variant: the parameters that differ inside the
    /// family, the metrics and Δm over the separate models
    Show {
        /// Pipeline file (YAML)
        file: PathBuf,
        /// Row stages (names, groups or wildcards) [default: the `evaluate` stages, else `train`]
        #[arg(long, value_name = "STAGE", num_args = 1..)]
        stage: Vec<String>,
        /// One row per seed instead of mean ± std over seeds
        #[arg(long)]
        no_fold: bool,
        /// Sort by this column (metrics largest first, parameters ascending)
        #[arg(long, value_name = "COLUMN")]
        sort: Option<String>,
        /// Only the parameter and metric columns matching these globs
        #[arg(long, value_name = "PATTERN", num_args = 1..)]
        only: Vec<String>,
        /// Per-attribute accuracy and example-based metrics too
        #[arg(long)]
        all_metrics: bool,
        /// Do not shorten or leave out columns to fit 100 characters
        #[arg(long)]
        wide: bool,
        #[arg(long, conflicts_with_all = ["json", "md"])]
        csv: bool,
        #[arg(long, conflicts_with = "md")]
        json: bool,
        #[arg(long)]
        md: bool,
        #[command(flatten)]
        cache: CacheArgs,
    },
}

/// A failure that maps to an exit code.
enum Failure {
    Usage(String),
    Pipeline(PipelineError),
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Other(e)
    }
}

/// An error of the user's arguments (exit code 2), shown with its causes.
fn usage(e: anyhow::Error) -> Failure {
    Failure::Usage(format!("{e:#}"))
}

fn main() -> ExitCode {
    // The parent of a command stage's processes (see exec/supervise.rs); not a user command.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == awmt::supervise::ARG) {
        let code = awmt::supervise::main(&args[2..]);
        return ExitCode::from(code.clamp(0, 255) as u8);
    }
    awmt::broken_pipe::exit_quietly_on_closed_stdout();
    let cli = Cli::parse();
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(Failure::Usage(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Pipeline(e)) => {
            eprint!("{e}");
            ExitCode::from(2)
        }
        Err(Failure::Other(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// One function per subcommand.
fn dispatch(cmd: Command) -> Result<ExitCode, Failure> {
    match cmd {
        Command::Run(args) => run(args),
        Command::Status { file, json, sets, cache } => status(&file, json, &sets, &cache),
        Command::Dag { file, format, stage, sets, status, cache } => dag(&file, format, &stage, &sets, status, &cache),
        Command::Gc { files, dry_run, cache } => gc(&files, dry_run, &cache),
        Command::Verify { json, no_quarantine, cache } => verify(json, no_quarantine, &cache),
        Command::Runs { run, json, cache } => runs(run.as_deref(), json, &cache),
        Command::Exp { command } => exp(command),
        Command::Diff { a, b, json, cache } => diff(&a, &b, json, &cache),
        Command::Doctor { cache } => {
            doctor(&cache.dir());
            Ok(ExitCode::SUCCESS)
        }
        Command::ExecStage { context, pipeline, stage, cache, set, expect_key } => exec_stage(context, pipeline, stage, cache, &set, expect_key.as_deref()),
    }
}

fn load(file: &Path, sets: &SetArgs) -> Result<Pipeline, Failure> {
    let overrides = sets.set.iter().map(|s| awmt::pipeline::overrides::parse(s)).collect::<Result<Vec<_>, _>>().map_err(Failure::Usage)?;
    Pipeline::load_with_overrides(file, &overrides).map_err(Failure::Pipeline)
}

/// Stage indices for user-given names; unknown names are usage errors with a suggestion.
fn select(p: &Pipeline, names: &[String]) -> Result<Vec<usize>, Failure> {
    let mut out = Vec::new();
    for n in names {
        let m = p.matching(n);
        if m.is_empty() {
            let hint = suggest(n, p.stages.iter().map(|s| s.name.as_str()).chain(p.stages.iter().map(|s| s.group.as_str())))
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            return Err(Failure::Usage(format!("no stage `{n}` in {}{hint}", p.file.display())));
        }
        out.extend(m);
    }
    Ok(out)
}

/// The `--stage` selection plus everything it needs; every stage when none is named.
fn with_ancestors(pipeline: &Pipeline, names: &[String]) -> Result<Vec<bool>, Failure> {
    Ok(if names.is_empty() { vec![true; pipeline.stages.len()] } else { dag::with_ancestors(&pipeline.stages, &select(pipeline, names)?) })
}

fn run(args: RunArgs) -> Result<ExitCode, Failure> {
    let pipeline = load(&args.file, &args.sets)?;
    let selected = with_ancestors(&pipeline, &args.stage)?;
    let mut force = vec![false; pipeline.stages.len()];
    for i in select(&pipeline, &args.force)? {
        force[i] = true;
    }
    let cache_dir = args.cache.dir();
    let all_slurm = args.executor == ExecutorKind::Slurm;
    let uses_slurm = all_slurm || pipeline.stages.iter().any(|s| s.executor.as_deref() == Some("slurm"));
    if uses_slurm && !cache_dir.is_absolute() {
        return Err(Failure::Usage(format!(
            "the Slurm executor needs --cache (or $AWMT_CACHE) to be an absolute path on a filesystem every node shares; got `{}`",
            cache_dir.display()
        )));
    }
    let gpus = match args.gpus {
        Some(n) => Gpus::from_flag(n, std::env::var("CUDA_VISIBLE_DEVICES").ok().as_deref()),
        None => Gpus::detect(),
    };
    let remote = |i: usize| all_slurm || pipeline.stages[i].executor.as_deref() == Some("slurm");
    awmt::exec::gpus::check_plan(&pipeline, &selected, &gpus, remote).map_err(Failure::Usage)?;
    let cache = Cache::open(&cache_dir)?;
    let _lock = lock::acquire(&cache.lock_path(), !args.no_wait, |who| {
        eprintln!("waiting: the cache {} is in use by {who} …", cache_dir.display());
    })?;
    cache.remove_leftover_attempts()?;
    let interrupted = stop_on_ctrl_c();
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let opts = RunOptions {
        // Under Slurm the cluster schedules; without --jobs, submit whatever is ready.
        jobs: args.jobs.unwrap_or(if all_slurm { usize::MAX } else { cpus }).max(1),
        selected,
        force,
        dry_run: args.dry_run,
        keep_going: args.keep_going,
        paranoid: args.paranoid,
        reports_dir: Some(args.reports),
        cpus,
        gpus,
        mem: total_memory(),
        retries: args.retries,
        record: (!args.dry_run).then(|| awmt::runs::run_start(&pipeline, if uses_slurm { "slurm" } else { "local" }, pipeline.overrides.clone())),
    };
    let mut progress = Progress::new(args.quiet || args.json && !std::io::stderr().is_terminal());
    let mut exec: Box<dyn Executor> =
        if uses_slurm { Box::new(SlurmExecutor::new(&cache, &pipeline.file, &pipeline.overrides, all_slurm)?) } else { Box::new(LocalExecutor::default()) };
    let summary = scheduler::run(&pipeline, &cache, exec.as_mut(), &opts, &mut progress, &interrupted)?;
    if args.json {
        println!("{}", serde_json::json!({ "stages": summary.stages }));
    }
    if !args.quiet {
        eprintln!("{}", run_counts(&summary, args.dry_run));
        for line in awmt::exec::trace::summary_lines(&summary.traces) {
            eprintln!("{line}");
        }
    }
    if summary.interrupted {
        return Ok(ExitCode::from(130));
    }
    Ok(if summary.ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// A flag that the first Ctrl-C sets (the scheduler then stops the running stages); a second one
/// stops at once: attempts are private, so nothing partial is published.
fn stop_on_ctrl_c() -> Arc<AtomicBool> {
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = interrupted.clone();
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            awmt::exec::local::terminate_children();
            std::process::exit(130);
        }
    });
    interrupted
}

/// `12 stages: 3 ran, 9 cached, 0 failed`, with skipped and would-run stages when there are any.
fn run_counts(summary: &scheduler::RunSummary, dry_run: bool) -> String {
    let skipped = summary.count(Outcome::Skipped);
    format!(
        "{} stages: {} ran, {} cached, {} failed{}{}",
        summary.stages.len(),
        summary.count(Outcome::Ran),
        summary.count(Outcome::Cached),
        summary.count(Outcome::Failed),
        if skipped > 0 { format!(", {skipped} skipped") } else { String::new() },
        if dry_run { format!(", {} would run", summary.count(Outcome::WouldRun)) } else { String::new() },
    )
}

fn status(file: &Path, json: bool, sets: &SetArgs, cache: &CacheArgs) -> Result<ExitCode, Failure> {
    let pipeline = load(file, sets)?;
    let cache = Cache::open(&cache.dir())?;
    let status = awmt::exec::status(&pipeline, &cache)?;
    if json {
        println!("{}", serde_json::json!({ "stages": status }));
    } else {
        let width = status.iter().map(|s| s.name.len()).max().unwrap_or(0);
        for s in &status {
            let why = if s.why.is_empty() || s.state == Status::NeverRun && s.why == ["never run"] { String::new() } else { format!("  ({})", s.why.join("; ")) };
            let line = format!("{:<9} {:<width$}{why}", s.state.label(), s.name);
            println!("{}", line.trim_end());
        }
    }
    let all_fresh = status.iter().all(|s| s.state == Status::Fresh);
    Ok(if all_fresh { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn dag(file: &Path, format: DagFormat, stage: &[String], sets: &SetArgs, with_status: bool, cache: &CacheArgs) -> Result<ExitCode, Failure> {
    let pipeline = load(file, sets)?;
    let keep = with_ancestors(&pipeline, stage)?;
    let text = dag::render(&pipeline.stages, &pipeline.dag.order, &keep, format);
    if !(with_status && format == DagFormat::Text) {
        print!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    // One line per kept stage, in order: annotate each with its state.
    let cache = Cache::open(&cache.dir())?;
    let states = awmt::exec::status(&pipeline, &cache)?;
    let kept = states.iter().filter(|s| pipeline.index_of(&s.name).is_some_and(|i| keep[i]));
    for (line, s) in text.lines().zip(kept) {
        let why = if s.state == Status::Stale && !s.why.is_empty() { format!(": {}", s.why.join("; ")) } else { String::new() };
        println!("{line}  [{}{why}]", s.state.label());
    }
    Ok(ExitCode::SUCCESS)
}

fn gc(files: &[PathBuf], dry_run: bool, cache: &CacheArgs) -> Result<ExitCode, Failure> {
    let cache = Cache::open(&cache.dir())?;
    let _lock = lock::acquire(&cache.lock_path(), true, |who| eprintln!("waiting: the cache is in use by {who} …"))?;
    let mut live: HashSet<String> = HashSet::new();
    for f in files {
        let p = load(f, &SetArgs::default())?;
        live.extend(awmt::exec::live_keys(&p, &cache)?);
    }
    let removed = cache.gc(&live, dry_run)?;
    let gone: HashSet<&String> = removed.iter().map(|r| &r.0).collect();
    let kept: HashSet<String> = cache.keys()?.into_iter().filter(|k| !gone.contains(k)).collect();
    let pruned = awmt::cache::run_index::prune(&cache, &kept, dry_run)?;
    if pruned > 0 {
        eprintln!("{} {pruned} run(s) from the run index: none of their entries is left", if dry_run { "would drop" } else { "dropped" });
    }
    let verb = if dry_run { "would remove" } else { "removed" };
    for (key, stage, size) in &removed {
        println!("{verb} {} {} ({})", &key[..16.min(key.len())], stage, awmt::util::human_bytes(*size));
    }
    let bytes: u64 = removed.iter().map(|r| r.2).sum();
    eprintln!("{verb} {} entries, {}; kept {}", removed.len(), awmt::util::human_bytes(bytes), live.len());
    Ok(ExitCode::SUCCESS)
}

fn verify(json: bool, no_quarantine: bool, cache: &CacheArgs) -> Result<ExitCode, Failure> {
    let cache_dir = cache.dir();
    let cache = Cache::open(&cache_dir)?;
    // Moving entries needs the lock: a running `awmt run` may be reading them.
    let _lock = if no_quarantine {
        None
    } else {
        Some(lock::acquire(&cache.lock_path(), true, |who| eprintln!("waiting: the cache {} is in use by {who} …", cache_dir.display()))?)
    };
    let (total, bad) = cache.verify(!no_quarantine)?;
    if json {
        let items: Vec<_> =
            bad.iter().map(|c| serde_json::json!({"key": c.key, "stage": c.stage, "files": c.files, "quarantined": c.moved_to})).collect();
        println!("{}", serde_json::json!({"entries": total, "corrupt": items}));
    } else {
        for c in &bad {
            println!("corrupt {} (stage `{}`): {}", c.key, c.stage, c.files.join(", "));
            if let Some(to) = &c.moved_to {
                println!("  moved to {}", to.display());
            }
        }
        let what = match (bad.is_empty(), no_quarantine) {
            (true, _) => "",
            (false, false) => "; they were moved to quarantine/ and `awmt run` recomputes them",
            (false, true) => "; left in place (--no-quarantine): `awmt run` recomputes an entry it finds corrupt when it uses it",
        };
        eprintln!("{total} entries checked, {} corrupt{what}", bad.len());
    }
    Ok(if bad.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn runs(run: Option<&str>, json: bool, cache: &CacheArgs) -> Result<ExitCode, Failure> {
    let cache = Cache::open(&cache.dir())?;
    let runs = awmt::runs::runs(&cache)?;
    match run {
        Some(id) => {
            let r = awmt::runs::find_run(&runs, id).map_err(usage)?;
            if json {
                println!("{}", serde_json::to_string_pretty(r).map_err(anyhow::Error::from)?);
            } else {
                print!("{}", awmt::runs::show_text(r));
            }
        }
        None if json => {
            let newest_first: Vec<_> = runs.iter().rev().collect();
            println!("{}", serde_json::to_string_pretty(&newest_first).map_err(anyhow::Error::from)?);
        }
        None if runs.is_empty() => eprintln!("no runs recorded in {} yet", cache.root.display()),
        None => print!("{}", awmt::runs::list_text(&runs)),
    }
    Ok(ExitCode::SUCCESS)
}

fn exp(command: ExpCommand) -> Result<ExitCode, Failure> {
    let ExpCommand::Show { file, stage, no_fold, sort, only, all_metrics, wide, csv, json, md, cache } = command;
    let pipeline = load(&file, &SetArgs::default())?;
    let cache = Cache::open(&cache.dir())?;
    let variants = awmt::runs::exp::variants(&pipeline, &cache, &stage, all_metrics).map_err(usage)?;
    let opts = awmt::runs::exp::ShowOptions { fold: !no_fold, sort, only };
    let shown = awmt::runs::exp::show(&variants, &opts).map_err(usage)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&shown).map_err(anyhow::Error::from)?);
    } else if csv {
        print!("{}", shown.table().csv());
    } else if md {
        print!("{}", shown.table().markdown());
    } else if shown.rows.is_empty() {
        eprintln!("the cache {} holds no entry of these stages yet: run the pipeline first", cache.root.display());
    } else {
        print!("{}", shown.table().text(100, wide));
    }
    Ok(ExitCode::SUCCESS)
}

fn diff(a: &str, b: &str, json: bool, cache: &CacheArgs) -> Result<ExitCode, Failure> {
    let cache = Cache::open(&cache.dir())?;
    let runs = awmt::runs::runs(&cache)?;
    let (diffs, single) = match awmt::runs::diff::resolve(&runs, a, b).map_err(usage)? {
        Some((x, y)) => (awmt::runs::diff::runs(&cache, x, y)?, false),
        None => (vec![awmt::runs::diff::entries(&cache, a, b).map_err(usage)?], true),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&diffs).map_err(anyhow::Error::from)?);
    } else {
        print!("{}", awmt::runs::diff::text(&diffs, single));
    }
    Ok(ExitCode::SUCCESS)
}

fn exec_stage(
    context: Option<PathBuf>,
    pipeline: Option<PathBuf>,
    stage: Option<String>,
    cache: Option<PathBuf>,
    sets: &[String],
    expect_key: Option<&str>,
) -> Result<ExitCode, Failure> {
    match (context, pipeline, stage, cache) {
        (Some(file), ..) => {
            let ctx = awmt::exec::worker::read_context(&file)?;
            awmt::exec::worker::run_stage(&ctx, &file)?
        }
        (None, Some(p), Some(s), Some(c)) => {
            let overrides = sets.iter().map(|s| awmt::pipeline::overrides::parse(s)).collect::<Result<Vec<_>, _>>().map_err(Failure::Usage)?;
            let result = awmt::exec::worker::run_pipeline_stage(&p, &overrides, &s, &c, expect_key);
            // A Slurm job's trace: what this process and the stage's processes used.
            awmt::rusage::write_usage_file();
            result?
        }
        _ => return Err(Failure::Usage("exec-stage needs --context FILE, or --pipeline, --stage and --cache".into())),
    }
    Ok(ExitCode::SUCCESS)
}

fn total_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| t.lines().find(|l| l.starts_with("MemTotal:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|k| k.parse::<u64>().ok()))
        .map(|kib| kib * 1024)
        .unwrap_or(u64::MAX)
}

fn doctor(cache_dir: &Path) {
    println!("awmt            {}", env!("CARGO_PKG_VERSION"));
    // libtorch facts come from the worker, the only binary that loads it.
    match awmt::exec::worker::worker_exe() {
        Ok(w) => match std::process::Command::new(&w).arg("doctor").output() {
            Ok(o) if o.status.success() => print!("{}", String::from_utf8_lossy(&o.stdout)),
            Ok(o) => println!("libtorch        {} failed: {}", w.display(), String::from_utf8_lossy(&o.stderr).trim()),
            Err(e) => println!("libtorch        cannot start {}: {e}", w.display()),
        },
        Err(e) => println!("libtorch        {e:#}"),
    }
    println!("CPUs            {}", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    println!("GPUs            {}", awmt::exec::gpus::Gpus::detect().describe());
    // The optional `prepare` decoder; the front end loads it only to answer here.
    match awmt::data::turbojpeg::available() {
        Ok(lib) => println!("libjpeg-turbo   {lib} (prepare can use `decoder: libjpeg-turbo`)"),
        Err(_) => println!("libjpeg-turbo   not found (optional: `apt-get install libturbojpeg0` for `decoder: libjpeg-turbo`)"),
    }
    let abs = std::fs::canonicalize(cache_dir).unwrap_or_else(|_| cache_dir.to_path_buf());
    let size = if abs.exists() { cache_size(&abs) } else { 0 };
    println!(
        "cache           {} ({})",
        abs.display(),
        if abs.exists() { awmt::util::human_bytes(size) } else { "not created yet".into() }
    );
    let sbatch = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join("sbatch")).find(|p| p.is_file()));
    println!("sbatch          {}", sbatch.map(|p| format!("found at {}", p.display())).unwrap_or_else(|| "not on PATH".into()));
}

fn cache_size(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir).into_iter().filter_map(|e| e.ok()).filter_map(|e| e.metadata().ok()).filter(|m| m.is_file()).map(|m| m.len()).sum()
}
