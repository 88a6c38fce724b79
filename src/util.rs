//! Small shared helpers with no knowledge of pipelines or stages.
