//! Scores a trained model on a prepared split: the prediction half of the `evaluate` stage.

use std::path::Path;

use anyhow::{bail, Context as _, Result};
use tch::{Device, Kind};

use super::model_file::ModelInfo;
use awmt::data::prepared::PreparedSplit;
use crate::data::ImageBatch;
use awmt::data::tasks::{LabelTable, TaskSet, TaskType};
use crate::model::Net;

pub use super::prediction::PredictionRow;

/// Images scored per forward pass.
const BATCH: usize = 64;

/// Predicts every task the model at `model_dir` (a `train` stage output) was trained on, for
/// every image of `split` in `data_dir` (a `prepare` stage output), rows ordered by image then
/// task. `threads` bounds the CPU threads used.
pub fn predict(model_dir: &Path, data_dir: &Path, split: &str, tau: f64, threads: usize) -> Result<Vec<PredictionRow>> {
    predict_on(model_dir, data_dir, split, tau, threads, Device::Cpu)
}

/// [`predict`] with the network on `device` (images are normalised on the CPU, then moved).
pub fn predict_on(model_dir: &Path, data_dir: &Path, split: &str, tau: f64, threads: usize, device: Device) -> Result<Vec<PredictionRow>> {
    tch::set_num_threads(threads.max(1) as i32);
    let info = ModelInfo::load(model_dir)?;
    let data_tasks = TaskSet::load(data_dir)?;
    for t in &info.tasks.tasks {
        match data_tasks.tasks.iter().find(|d| d.name == t.name) {
            Some(d) if d == t => {}
            Some(_) => bail!(
                "{}: task `{}` differs from the one the model at {} was trained on",
                data_dir.join(TaskSet::FILE).display(),
                t.name,
                model_dir.display()
            ),
            None => bail!(
                "{}: the data has no task `{}`, which the model at {} predicts",
                data_dir.join(TaskSet::FILE).display(),
                t.name,
                model_dir.display()
            ),
        }
    }
    let images = PreparedSplit::open(data_dir, split)?;
    if images.info.height != info.height || images.info.width != info.width {
        bail!(
            "{}: images are {}×{} but the model at {} was trained on {}×{}; prepare the data at the model's size",
            data_dir.display(),
            images.info.height,
            images.info.width,
            model_dir.display(),
            info.height,
            info.width
        );
    }
    let labels = LabelTable::read(&info.tasks, data_dir, split)?;
    if labels.len() != images.len {
        bail!("{}: `{split}` has {} label rows but {} prepared images", data_dir.display(), labels.len(), images.len);
    }
    let mut net = Net::new(&info.net, device, 0);
    net.load(&model_dir.join(ModelInfo::WEIGHTS))?;

    let outputs = info.net.outputs as usize;
    let mut rows = Vec::with_capacity(images.len * info.tasks.tasks.len());
    let all: Vec<usize> = (0..images.len).collect();
    for chunk in all.chunks(BATCH) {
        let out = tch::no_grad(|| net.forward(&images.batch(chunk), None));
        let flat = Vec::<f64>::try_from(out.to_kind(Kind::Double).to_device(Device::Cpu).reshape([-1])).context("reading network outputs")?;
        for (i, &image) in chunk.iter().enumerate() {
            let psi = &flat[i * outputs..(i + 1) * outputs];
            let mut offset = 0;
            for (j, task) in info.tasks.tasks.iter().enumerate() {
                let n = task.outputs();
                let label = labels.labels[j][image].map(|v| v as i64);
                let (score, prediction) = match task.kind {
                    TaskType::Binary => {
                        let s = psi[offset];
                        (s, if s > tau { 1 } else { -1 })
                    }
                    TaskType::Multiclass => {
                        // First maximum wins, so ties resolve deterministically.
                        let mut best = 0;
                        for c in 1..n {
                            if psi[offset + c] > psi[offset + best] {
                                best = c;
                            }
                        }
                        (psi[offset + best], best as i64)
                    }
                };
                rows.push(PredictionRow { image: labels.images[image].clone(), task: task.name.clone(), score, prediction, label });
                offset += n;
            }
        }
    }
    Ok(rows)
}
