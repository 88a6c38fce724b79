//! GPU placement for the local executor: which GPUs this machine has (or `--gpus N` says), which
//! of them each running stage gets (its `CUDA_VISIBLE_DEVICES`), and the plan-time refusal of a
//! request no placement can satisfy.
//!
//! A request is whole GPUs (`resources: {gpus: 2}`: two GPUs nobody else uses) or a share 1/n of
//! one GPU (`gpus: 0.25` or `"1/4"`): up to n such stages run on one GPU at once, each seeing only
//! that GPU. Shares are counted exactly, in 1/`UNITS` of a GPU, so 1/3 + 1/3 + 1/3 fills a GPU.
//! A share goes to the fullest GPU it still fits on (lowest index on ties), which keeps whole GPUs
//! free for whole-GPU requests.

use std::path::Path;

use crate::pipeline::Pipeline;
use crate::stages::Resources;

/// One GPU in units; divisible by every n in 1..=16, so any share 1/n with n ≤ 16 is exact.
pub const UNITS: u32 = 720_720;

/// The largest n of a share 1/n.
pub const MAX_SPLIT: u32 = 16;

/// The GPUs the scheduler may hand out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gpus {
    /// Device ids as `CUDA_VISIBLE_DEVICES` names them, in order.
    pub ids: Vec<String>,
    /// Where the list came from (`--gpus 2`, `/proc/driver/nvidia/gpus`, …), for messages.
    pub source: String,
    /// Whether requests are enforced: true with `--gpus N` or when GPUs were found. On a machine
    /// where none were found, GPU requests are not placed (a `device: auto` training runs on the
    /// CPU, as before) rather than refused.
    pub enforced: bool,
}

impl Gpus {
    /// `--gpus N`: N devices, named as the inherited `CUDA_VISIBLE_DEVICES` names them when it
    /// lists at least N, else `0..N`.
    pub fn from_flag(n: usize, inherited: Option<&str>) -> Gpus {
        let listed = inherited.map(visible_list).unwrap_or_default();
        let ids = if listed.len() >= n { listed[..n].to_vec() } else { (0..n).map(|i| i.to_string()).collect() };
        Gpus { ids, source: format!("--gpus {n}"), enforced: true }
    }

    /// What this machine has: the inherited `CUDA_VISIBLE_DEVICES` when set (so `awmt` itself can
    /// be confined), else one entry per directory in `/proc/driver/nvidia/gpus`, else one per
    /// `GPU` line of `nvidia-smi -L`, else none.
    pub fn detect() -> Gpus {
        if let Ok(v) = std::env::var("CUDA_VISIBLE_DEVICES") {
            let ids = visible_list(&v);
            let enforced = !ids.is_empty();
            return Gpus { ids, source: format!("CUDA_VISIBLE_DEVICES={v}"), enforced };
        }
        let proc_dir = Path::new("/proc/driver/nvidia/gpus");
        if let Ok(rd) = std::fs::read_dir(proc_dir) {
            let n = rd.filter_map(|e| e.ok()).count();
            if n > 0 {
                return Gpus { ids: (0..n).map(|i| i.to_string()).collect(), source: proc_dir.display().to_string(), enforced: true };
            }
        }
        if let Ok(out) = std::process::Command::new("nvidia-smi").arg("-L").stderr(std::process::Stdio::null()).output() {
            let n = String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.starts_with("GPU ")).count();
            if out.status.success() && n > 0 {
                return Gpus { ids: (0..n).map(|i| i.to_string()).collect(), source: "nvidia-smi -L".into(), enforced: true };
            }
        }
        Gpus { ids: Vec::new(), source: "none found: no /proc/driver/nvidia/gpus, no nvidia-smi".into(), enforced: false }
    }

    /// One line for `awmt doctor`.
    pub fn describe(&self) -> String {
        if self.ids.is_empty() {
            return format!("0 ({}); stages asking for GPUs run without one", self.source);
        }
        format!(
            "{} ({}): {}; each stage runs with CUDA_VISIBLE_DEVICES set to its own, a share 1/n packs up to n stages on one",
            self.ids.len(),
            self.source,
            self.ids.join(", ")
        )
    }
}

fn visible_list(v: &str) -> Vec<String> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty() && *s != "-1").map(str::to_string).collect()
}

/// A stage's request in units: whole GPUs, or a share of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    None,
    Whole(usize),
    /// `UNITS / n` of one GPU.
    Share(u32),
}

impl Request {
    pub fn of(r: &Resources) -> Request {
        match (r.gpus, r.gpu_split) {
            (0, _) => Request::None,
            (1, n) if n > 1 => Request::Share(n),
            (k, _) => Request::Whole(k),
        }
    }
}

/// Text for a request as the user wrote it: `2`, `1/4`.
pub fn request_text(r: &Resources) -> String {
    match Request::of(r) {
        Request::None => "0".into(),
        Request::Whole(k) => k.to_string(),
        Request::Share(n) => format!("1/{n}"),
    }
}

/// GPUs given to one running stage.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    /// Indices into [`Gpus::ids`] and the units taken on each.
    taken: Vec<(usize, u32)>,
    /// The value of `CUDA_VISIBLE_DEVICES` for the stage.
    pub visible: String,
    /// For the run summary: `0`, `0,1`, `0 (1/4)`.
    pub label: String,
}

/// Units in use on each GPU.
#[derive(Debug, Clone)]
pub struct Pool {
    gpus: Gpus,
    used: Vec<u32>,
}

impl Pool {
    pub fn new(gpus: &Gpus) -> Pool {
        Pool { gpus: gpus.clone(), used: vec![0; gpus.ids.len()] }
    }

    /// Whether requests are placed at all (see [`Gpus::enforced`]).
    pub fn enforced(&self) -> bool {
        self.gpus.enforced
    }

    /// GPUs for `request` if they are free now; None when it must wait (or needs none).
    pub fn take(&mut self, request: Request) -> Option<Placement> {
        if !self.gpus.enforced {
            return None;
        }
        let taken: Vec<(usize, u32)> = match request {
            Request::None => return None,
            Request::Whole(k) => {
                let free: Vec<usize> = (0..self.used.len()).filter(|&g| self.used[g] == 0).take(k).collect();
                if free.len() < k {
                    return None;
                }
                free.into_iter().map(|g| (g, UNITS)).collect()
            }
            Request::Share(n) => {
                let units = UNITS / n;
                let best = (0..self.used.len()).filter(|&g| self.used[g] + units <= UNITS).max_by_key(|&g| (self.used[g], std::cmp::Reverse(g)))?;
                vec![(best, units)]
            }
        };
        for &(g, u) in &taken {
            self.used[g] += u;
        }
        let visible = taken.iter().map(|&(g, _)| self.gpus.ids[g].as_str()).collect::<Vec<_>>().join(",");
        let label = match request {
            Request::Share(n) => format!("{visible} (1/{n})"),
            _ => visible.clone(),
        };
        Some(Placement { taken, visible, label })
    }

    /// Returns a placement's GPUs.
    pub fn give_back(&mut self, p: &Placement) {
        for &(g, u) in &p.taken {
            self.used[g] = self.used[g].saturating_sub(u);
        }
    }

    /// Whether `request` could be placed now (without taking it). Always true when requests are
    /// not enforced.
    pub fn fits(&self, request: Request) -> bool {
        if !self.gpus.enforced {
            return true;
        }
        self.clone().take(request).is_some() || request == Request::None
    }
}

impl Pool {
    /// Gives a stage context its placement: it sees exactly those GPUs (`cuda:0` is the first)
    /// and counts them as granted. While GPUs are placed, a stage that asked for none sees none,
    /// so it cannot take memory on a GPU another stage was given.
    pub fn assign(&self, ctx: &mut crate::stages::StageContext, placement: Option<&Placement>) {
        match placement {
            Some(p) => {
                ctx.visible_gpus = Some(p.visible.clone());
                ctx.gpus = p.taken.len();
            }
            None if self.gpus.enforced => {
                ctx.visible_gpus = Some(String::new());
                ctx.gpus = 0;
            }
            None => {}
        }
    }
}

/// Plan-time check: every selected stage that runs here asks for at most the GPUs there are.
/// `remote(i)` says whether stage i runs on a cluster (which has GPUs of its own).
pub fn check_plan(pipeline: &Pipeline, selected: &[bool], gpus: &Gpus, remote: impl Fn(usize) -> bool) -> Result<(), String> {
    if !gpus.enforced {
        return Ok(());
    }
    let have = gpus.ids.len();
    let mut refused = Vec::new();
    for (i, s) in pipeline.stages.iter().enumerate() {
        if !selected[i] || remote(i) {
            continue;
        }
        let need = match Request::of(&s.resources) {
            Request::None => 0,
            Request::Whole(k) => k,
            Request::Share(_) => 1,
        };
        if need > have {
            refused.push(format!("`{}` asks for {} GPU{}", s.name, request_text(&s.resources), if need == 1 { "" } else { "s" }));
        }
    }
    if refused.is_empty() {
        return Ok(());
    }
    let shown: Vec<&str> = refused.iter().take(5).map(String::as_str).collect();
    let more = if refused.len() > shown.len() { format!(" and {} more", refused.len() - shown.len()) } else { String::new() };
    Err(format!(
        "{} stage{} cannot run: {}{more}, and this run has {have} GPU{} ({}); nothing was run. \
         Give more with `--gpus N` on a machine that has them, lower the stage's `resources.gpus`, or run it \
         with `--executor slurm`",
        refused.len(),
        if refused.len() == 1 { "" } else { "s" },
        shown.join(", "),
        if have == 1 { "" } else { "s" },
        gpus.source
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(n: usize) -> Pool {
        Pool::new(&Gpus::from_flag(n, None))
    }

    #[test]
    fn whole_gpus_are_exclusive() {
        let mut p = pool(2);
        let a = p.take(Request::Whole(1)).unwrap();
        let b = p.take(Request::Whole(1)).unwrap();
        assert_eq!((a.visible.as_str(), b.visible.as_str()), ("0", "1"));
        assert!(p.take(Request::Whole(1)).is_none());
        assert!(p.take(Request::Share(4)).is_none());
        p.give_back(&a);
        assert_eq!(p.take(Request::Whole(1)).unwrap().visible, "0");
    }

    #[test]
    fn shares_pack_onto_the_fullest_gpu() {
        let mut p = pool(2);
        let quarters: Vec<Placement> = (0..4).map(|_| p.take(Request::Share(4)).unwrap()).collect();
        assert!(quarters.iter().all(|q| q.visible == "0"), "{quarters:?}");
        // GPU 0 is full: the next share opens GPU 1, and a whole GPU no longer fits.
        let fifth = p.take(Request::Share(4)).unwrap();
        assert_eq!(fifth.label, "1 (1/4)");
        assert!(p.take(Request::Whole(1)).is_none());
        // Thirds are exact.
        let mut p = pool(1);
        for _ in 0..3 {
            assert!(p.take(Request::Share(3)).is_some());
        }
        assert!(p.take(Request::Share(16)).is_none());
    }

    #[test]
    fn whole_requests_wait_for_idle_gpus() {
        let mut p = pool(2);
        let half = p.take(Request::Share(2)).unwrap();
        assert!(p.take(Request::Whole(2)).is_none());
        assert_eq!(p.take(Request::Whole(1)).unwrap().visible, "1");
        p.give_back(&half);
        assert_eq!(p.used, vec![0, UNITS]);
    }

    #[test]
    fn flag_names_inherited_devices() {
        assert_eq!(Gpus::from_flag(2, Some("3,5,7")).ids, vec!["3", "5"]);
        assert_eq!(Gpus::from_flag(3, Some("3")).ids, vec!["0", "1", "2"]);
        assert!(Gpus::from_flag(0, None).enforced);
    }

    #[test]
    fn nothing_is_placed_without_gpus_found() {
        let none = Gpus { ids: vec![], source: "test".into(), enforced: false };
        let mut p = Pool::new(&none);
        assert!(p.fits(Request::Whole(4)));
        assert!(p.take(Request::Whole(1)).is_none());
    }
}
