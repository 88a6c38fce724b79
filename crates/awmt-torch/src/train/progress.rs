//! Training progress on stderr: an indicatif bar on a terminal, else a plain line every ~10%.

use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

pub struct Progress {
    total: u64,
    start_iteration: u64,
    images_per_iteration: u64,
    started: Instant,
    bar: Option<ProgressBar>,
    every: u64,
}

impl Progress {
    pub fn new(total: u64, start_iteration: u64, images_per_iteration: u64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = ProgressBar::new(total);
            b.set_style(
                ProgressStyle::with_template("train {bar:30} {pos}/{len} {msg} ETA {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b.set_position(start_iteration);
            b
        });
        Progress { total, start_iteration, images_per_iteration, started: Instant::now(), bar, every: (total / 10).max(1) }
    }

    /// Images per second since this process started training.
    pub fn images_per_second(&self, t: u64) -> f64 {
        let secs = self.started.elapsed().as_secs_f64();
        if secs <= 0.0 {
            return 0.0;
        }
        (t - self.start_iteration) as f64 * self.images_per_iteration as f64 / secs
    }

    pub fn seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    pub fn update(&self, t: u64, train_loss: f64, val_loss: f64) {
        let rate = self.images_per_second(t);
        if let Some(b) = &self.bar {
            b.set_position(t);
            b.set_message(format!("loss {train_loss:.4} val {val_loss:.4} {rate:.1} img/s"));
        } else if t % self.every == 0 || t == self.total {
            let done = (t - self.start_iteration) as f64;
            let eta = if done > 0.0 { self.seconds() / done * (self.total - t) as f64 } else { 0.0 };
            eprintln!(
                "train: iteration {t}/{} loss {train_loss:.4} val {val_loss:.4} {rate:.1} img/s ETA {}",
                self.total,
                format_secs(eta)
            );
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

fn format_secs(s: f64) -> String {
    let s = s.round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}
