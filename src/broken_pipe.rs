//! A reader that stops early (`awmt status FILE | head`) ends awmt quietly with status 0, as a
//! Unix filter ends, instead of Rust's "failed printing to stdout: Broken pipe" panic (exit 101).
//!
//! `println!` panics when stdout is a closed pipe (Rust ignores SIGPIPE); the hook recognises
//! that one panic and exits. Every other panic keeps the default report. Exiting mid-`run` is
//! safe: the cache publishes entries atomically and command stages die with their supervisor.

/// Installs the panic hook; call first thing in `main`.
pub fn exit_quietly_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if is_closed_stdout(message) {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// The message std's print macros panic with when stdout's reader has gone (EPIPE).
fn is_closed_stdout(message: &str) -> bool {
    message.starts_with("failed printing to stdout") && (message.contains("Broken pipe") || message.contains("os error 32"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn recognises_only_a_closed_stdout() {
        assert!(super::is_closed_stdout("failed printing to stdout: Broken pipe (os error 32)"));
        assert!(!super::is_closed_stdout("failed printing to stdout: No space left on device (os error 28)"));
        assert!(!super::is_closed_stdout("index out of bounds"));
    }
}
