//! The local resources the scheduler hands out: stages at a time (`--jobs`), CPUs, memory and
//! GPUs (whole ones or shares of one, placed by [`gpus::Pool`]). A stage asks with a [`Claim`];
//! [`Slots::fits`] says whether it may start now, [`Slots::take`] holds what it asked for until
//! [`Slots::release`].

use std::collections::HashMap;

use super::gpus::{self, Placement, Pool, Request};
use crate::stages::StageContext;

/// What one stage holds while it runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Claim {
    pub cpus: usize,
    /// Bytes; 0 reserves none.
    pub mem: u64,
    pub gpus: Request,
}

impl Claim {
    /// A stage handed to a cluster: it counts only against `--jobs` (the cluster schedules its
    /// own slots).
    pub fn remote() -> Claim {
        Claim { cpus: 0, mem: 0, gpus: Request::None }
    }
}

/// Stage slots, CPUs, memory and GPUs, and who holds which.
pub struct Slots {
    jobs: usize,
    cpus: usize,
    mem: u64,
    used_cpus: usize,
    used_mem: u64,
    gpus: Pool,
    /// Stage index -> what it holds.
    held: HashMap<usize, (Claim, Option<Placement>)>,
}

impl Slots {
    /// At most `jobs` stages, `cpus` CPUs and `mem` bytes at a time, on `gpus`.
    pub fn new(jobs: usize, cpus: usize, mem: u64, gpus: &gpus::Gpus) -> Slots {
        Slots { jobs, cpus, mem, used_cpus: 0, used_mem: 0, gpus: Pool::new(gpus), held: HashMap::new() }
    }

    /// Stages holding slots.
    pub fn running(&self) -> usize {
        self.held.len()
    }

    /// Whether `claim` may start now. One stage always may, however large its request, except
    /// that GPUs are never overcommitted: the plan was checked (`gpus::check_plan`), so an idle
    /// pool fits every request.
    pub fn fits(&self, claim: &Claim) -> bool {
        let running = self.running();
        self.gpus.fits(claim.gpus)
            && (running == 0
                || (running < self.jobs
                    && self.used_cpus + claim.cpus <= self.cpus
                    && (claim.mem == 0 || self.used_mem + claim.mem <= self.mem)))
    }

    /// Holds `claim` for stage `i` (call after [`Slots::fits`]); the GPUs it was placed on, if
    /// any.
    pub fn take(&mut self, i: usize, claim: Claim) -> Option<Placement> {
        let placement = self.gpus.take(claim.gpus);
        self.used_cpus += claim.cpus;
        self.used_mem += claim.mem;
        self.held.insert(i, (claim, placement.clone()));
        placement
    }

    /// Frees what stage `i` holds; the GPUs it had, if any.
    pub fn release(&mut self, i: usize) -> Option<Placement> {
        let (claim, placement) = self.held.remove(&i)?;
        self.used_cpus -= claim.cpus;
        self.used_mem -= claim.mem;
        if let Some(p) = &placement {
            self.gpus.give_back(p);
        }
        placement
    }

    /// Gives a stage context its GPUs (see [`Pool::assign`]).
    pub fn assign(&self, ctx: &mut StageContext, placement: Option<&Placement>) {
        self.gpus.assign(ctx, placement);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(cpus: usize, mem: u64, gpus: Request) -> Claim {
        Claim { cpus, mem, gpus }
    }

    #[test]
    fn one_stage_always_fits_then_limits_count() {
        let mut s = Slots::new(2, 4, 100, &gpus::Gpus::from_flag(0, None));
        let big = claim(16, 1000, Request::None);
        assert!(s.fits(&big));
        s.take(0, big);
        assert!(!s.fits(&claim(1, 0, Request::None)), "the CPUs are overcommitted already");
        s.release(0);
        s.take(1, claim(3, 60, Request::None));
        assert!(s.fits(&claim(1, 0, Request::None)));
        assert!(!s.fits(&claim(2, 0, Request::None)), "5 CPUs of 4");
        assert!(!s.fits(&claim(1, 50, Request::None)), "110 bytes of 100");
        s.take(2, claim(1, 40, Request::None));
        assert_eq!(s.running(), 2);
        assert!(!s.fits(&Claim::remote()), "--jobs 2");
        s.release(2);
        s.release(1);
        assert_eq!((s.used_cpus, s.used_mem, s.running()), (0, 0, 0));
    }

    #[test]
    fn gpus_are_never_overcommitted_and_come_back() {
        let mut s = Slots::new(8, 8, 0, &gpus::Gpus::from_flag(1, None));
        let half = claim(1, 0, Request::Share(2));
        assert_eq!(s.take(0, half).unwrap().label, "0 (1/2)");
        assert!(s.fits(&half));
        assert!(!s.fits(&claim(1, 0, Request::Whole(1))));
        s.take(1, half);
        assert!(!s.fits(&half));
        assert_eq!(s.release(0).unwrap().visible, "0");
        assert!(s.fits(&half));
        assert!(s.release(0).is_none(), "released twice");
    }
}
