//! When a failed stage runs again: up to its `retries:` (or `run --retries`), and, for a Slurm job
//! that the cluster ended (preemption, node failure, time limit), at least [`CLUSTER_RESUBMITS`]
//! more times: those say nothing about the stage itself.

/// Resubmissions of a job the cluster ended, even without `retries:`.
pub const CLUSTER_RESUBMITS: u32 = 2;

/// A Slurm job that ended without an exit code, in the state squeue last showed for it.
#[derive(Debug)]
pub struct EndedBySlurm {
    pub job: String,
    pub stage: String,
    /// `PREEMPTED`, `NODE_FAIL`, `TIMEOUT`, `CANCELLED`, `OUT_OF_MEMORY`, … or empty when squeue
    /// no longer listed it.
    pub state: String,
}

impl EndedBySlurm {
    /// Whether the cluster, not the stage, ended it (so that running it again may succeed).
    pub fn by_the_cluster(&self) -> bool {
        matches!(self.state.as_str(), "PREEMPTED" | "NODE_FAIL" | "TIMEOUT" | "BOOT_FAIL")
    }
}

impl std::fmt::Display for EndedBySlurm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let why = match self.state.as_str() {
            "PREEMPTED" => "preempted".to_string(),
            "NODE_FAIL" => "its node failed".to_string(),
            "TIMEOUT" => "it reached its time limit (`slurm: {time: …}`)".to_string(),
            "BOOT_FAIL" => "its node failed to boot".to_string(),
            "OUT_OF_MEMORY" => "it ran out of memory (raise `resources.mem`, or set `mem_per_attempt` with `retries`)".to_string(),
            "" => "cancelled, time or memory limit, or node failure".to_string(),
            other => other.to_lowercase(),
        };
        write!(f, "Slurm job {} of `{}` ended without an exit code ({why})", self.job, self.stage)
    }
}

impl std::error::Error for EndedBySlurm {}

/// How many attempts a stage that failed with `error` may make in all.
pub fn attempts_allowed(stage_retries: u32, run_retries: u32, error: &anyhow::Error) -> u32 {
    let retries = stage_retries.max(run_retries);
    let cluster = error.downcast_ref::<EndedBySlurm>().is_some_and(EndedBySlurm::by_the_cluster);
    1 + if cluster { retries.max(CLUSTER_RESUBMITS) } else { retries }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_the_cluster_ended_are_resubmitted_even_without_retries() {
        let ended = |state: &str| anyhow::Error::new(EndedBySlurm { job: "7".into(), stage: "s".into(), state: state.into() });
        assert_eq!(attempts_allowed(0, 0, &ended("PREEMPTED")), 1 + CLUSTER_RESUBMITS);
        assert_eq!(attempts_allowed(5, 0, &ended("TIMEOUT")), 6);
        assert_eq!(attempts_allowed(0, 0, &ended("CANCELLED")), 1);
        assert_eq!(attempts_allowed(0, 2, &anyhow::anyhow!("exit 1")), 3);
        assert!(ended("TIMEOUT").to_string().contains("time limit"));
    }
}
