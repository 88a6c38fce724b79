//! Per-task losses of a batch as tensors: the output layout of the tasks, a batch's labels, and the
//! masked per-task loss sums for the loss kinds declared in `awmt::train::losses` (re-exported here).

use tch::{Device, Kind, Tensor};

pub use awmt::train::losses::*;
use awmt::data::tasks::{LabelTable, TaskSet, TaskType};

/// Where each task's outputs sit in the network's output vector.
#[derive(Debug, Clone)]
pub struct TaskLayout {
    /// (first output column, number of outputs, kind) per task, in task order.
    pub slots: Vec<(usize, usize, TaskType)>,
    /// Output columns of the binary tasks, and their task indices, in task order.
    pub binary_columns: Vec<i64>,
    pub binary_tasks: Vec<usize>,
    /// Task indices of the multiclass tasks.
    pub multiclass_tasks: Vec<usize>,
    pub outputs: usize,
}

impl TaskLayout {
    pub fn new(tasks: &TaskSet) -> TaskLayout {
        let mut slots = Vec::new();
        let mut binary_columns = Vec::new();
        let mut binary_tasks = Vec::new();
        let mut multiclass_tasks = Vec::new();
        let mut offset = 0;
        for (j, t) in tasks.tasks.iter().enumerate() {
            let n = t.outputs();
            slots.push((offset, n, t.kind));
            match t.kind {
                TaskType::Binary => {
                    binary_columns.push(offset as i64);
                    binary_tasks.push(j);
                }
                TaskType::Multiclass => multiclass_tasks.push(j),
            }
            offset += n;
        }
        TaskLayout { slots, binary_columns, binary_tasks, multiclass_tasks, outputs: offset }
    }

    pub fn tasks(&self) -> usize {
        self.slots.len()
    }
}

/// The labels of one batch, as tensors on the training device.
pub struct BatchLabels {
    /// [N, binary tasks]: ±1, 0 where masked.
    binary_target: Tensor,
    /// [N, binary tasks]: 1 where labelled, 0 where masked.
    binary_mask: Tensor,
    /// Per multiclass task (in `multiclass_tasks` order): class index [N] (0 where masked), mask [N].
    multiclass: Vec<(Tensor, Tensor)>,
    pub images: usize,
}

impl BatchLabels {
    /// Labels of rows `rows` of `table` (tasks in the layout's order).
    pub fn gather(layout: &TaskLayout, table: &LabelTable, rows: &[usize], device: Device) -> BatchLabels {
        let n = rows.len();
        let nb = layout.binary_tasks.len();
        let mut target = vec![0f32; n * nb];
        let mut mask = vec![0f32; n * nb];
        for (i, &r) in rows.iter().enumerate() {
            for (b, &j) in layout.binary_tasks.iter().enumerate() {
                if let Some(v) = table.labels[j][r] {
                    target[i * nb + b] = v as f32;
                    mask[i * nb + b] = 1.0;
                }
            }
        }
        let multiclass = layout
            .multiclass_tasks
            .iter()
            .map(|&j| {
                let mut idx = vec![0i64; n];
                let mut m = vec![0f32; n];
                for (i, &r) in rows.iter().enumerate() {
                    if let Some(v) = table.labels[j][r] {
                        idx[i] = v as i64;
                        m[i] = 1.0;
                    }
                }
                (Tensor::from_slice(&idx).to_device(device), Tensor::from_slice(&m).to_device(device))
            })
            .collect();
        BatchLabels {
            binary_target: Tensor::from_slice(&target).view([n as i64, nb as i64]).to_device(device),
            binary_mask: Tensor::from_slice(&mask).view([n as i64, nb as i64]).to_device(device),
            multiclass,
            images: n,
        }
    }
}

/// The loss settings of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossConfig {
    pub binary: BinaryLoss,
    pub multiclass: MulticlassLoss,
}

impl LossConfig {
    /// v_t[j] = factor_j · Σ_i ℓ_ij: 2 for square losses, so that v_t = Σ_i (ψ − L)² exactly as in
    /// Algorithm 1; 1 for the other losses (their per-image loss summed over the validation half).
    pub fn validation_factors(&self, layout: &TaskLayout) -> Vec<f64> {
        layout
            .slots
            .iter()
            .map(|&(_, _, kind)| match (kind, self.binary, self.multiclass) {
                (TaskType::Binary, BinaryLoss::Square, _) | (TaskType::Multiclass, _, MulticlassLoss::Square) => 2.0,
                _ => 1.0,
            })
            .collect()
    }

    /// Σ over the batch's images of each task's per-image loss, masked; shape [M] (Float).
    pub fn task_loss_sums(&self, layout: &TaskLayout, outputs: &Tensor, labels: &BatchLabels) -> Tensor {
        let outputs = outputs.to_kind(Kind::Float);
        let device = outputs.device();
        let mut pieces: Vec<Tensor> = Vec::new();
        if !layout.binary_tasks.is_empty() {
            let cols = Tensor::from_slice(&layout.binary_columns).to_device(device);
            let psi = outputs.index_select(1, &cols);
            let y = &labels.binary_target;
            let per_image = match self.binary {
                BinaryLoss::Square => (&psi - y).square() * 0.5,
                BinaryLoss::Bce => (-(y * &psi)).softplus(),
                BinaryLoss::Hinge => (-(y * &psi) + 1.0).relu(),
            };
            pieces.push((per_image * &labels.binary_mask).sum_dim_intlist(0, false, Kind::Float));
        }
        let mut mc = Vec::new();
        for (slot, &j) in layout.multiclass_tasks.iter().enumerate() {
            let (offset, c, _) = layout.slots[j];
            let psi = outputs.narrow(1, offset as i64, c as i64);
            let (idx, mask) = &labels.multiclass[slot];
            let per_image = match self.multiclass {
                MulticlassLoss::Square => {
                    let onehot = Tensor::zeros([labels.images as i64, c as i64], (Kind::Float, device))
                        .scatter_value(1, &idx.unsqueeze(1), 1.0);
                    let target = onehot * 2.0 - 1.0;
                    (&psi - target).square().sum_dim_intlist(1, false, Kind::Float) * 0.5
                }
                MulticlassLoss::Ce => -psi.log_softmax(1, Kind::Float).gather(1, &idx.unsqueeze(1), false).squeeze_dim(1),
            };
            mc.push((per_image * mask).sum(Kind::Float).unsqueeze(0));
        }
        if mc.is_empty() {
            return pieces.pop().unwrap_or_else(|| Tensor::zeros([0], (Kind::Float, device)));
        }
        pieces.extend(mc);
        let cat = Tensor::cat(&pieces, 0);
        // `cat` holds binary tasks then multiclass tasks; put them back in task order.
        let mut order = vec![0i64; layout.tasks()];
        for (pos, &j) in layout.binary_tasks.iter().chain(&layout.multiclass_tasks).enumerate() {
            order[j] = pos as i64;
        }
        cat.index_select(0, &Tensor::from_slice(&order).to_device(device))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use awmt::data::tasks::Task;

    fn setup() -> (TaskSet, TaskLayout, LabelTable) {
        let tasks = TaskSet {
            format: "market".into(),
            source: "synthetic".into(),
            root: String::new(),
            tasks: vec![Task::binary("a"), Task::multiclass("age", &["x", "y", "z"]), Task::binary("b")],
        };
        let layout = TaskLayout::new(&tasks);
        let table = LabelTable {
            images: vec!["0.jpg".into(), "1.jpg".into()],
            identities: vec![0, 1],
            labels: vec![vec![Some(1), Some(-1)], vec![Some(2), None], vec![None, Some(1)]],
        };
        (tasks, layout, table)
    }

    fn values(t: &Tensor) -> Vec<f64> {
        Vec::<f64>::try_from(t.to_kind(Kind::Double)).unwrap()
    }

    #[test]
    fn layout_offsets() {
        let (_, layout, _) = setup();
        assert_eq!(layout.outputs, 5);
        assert_eq!(layout.binary_columns, vec![0, 4]);
        assert_eq!(layout.multiclass_tasks, vec![1]);
    }

    #[test]
    fn square_losses_by_hand() {
        let (_, layout, table) = setup();
        let labels = BatchLabels::gather(&layout, &table, &[0, 1], Device::Cpu);
        // image 0: a=+1, age=2, b masked; image 1: a=−1, age masked, b=+1.
        let out = Tensor::from_slice(&[0.5f32, 1.0, 0.0, -1.0, 9.0, 0.0, 0.0, 0.0, 0.0, 3.0]).view([2, 5]);
        let cfg = LossConfig { binary: BinaryLoss::Square, multiclass: MulticlassLoss::Square };
        let s = values(&cfg.task_loss_sums(&layout, &out, &labels));
        // a: ½(0.5−1)² + ½(0−(−1))² = 0.125 + 0.5; age (img 0, target [−1,−1,1]): ½(4+1+4) = 4.5;
        // b: only img 1: ½(3−1)² = 2.
        assert!((s[0] - 0.625).abs() < 1e-6 && (s[1] - 4.5).abs() < 1e-6 && (s[2] - 2.0).abs() < 1e-6, "{s:?}");
        assert_eq!(cfg.validation_factors(&layout), vec![2.0, 2.0, 2.0]);
    }

    #[test]
    fn other_losses_by_hand() {
        let (_, layout, table) = setup();
        let labels = BatchLabels::gather(&layout, &table, &[0], Device::Cpu);
        let out = Tensor::from_slice(&[0.5f32, 1.0, 0.0, 2.0, 9.0]).view([1, 5]);
        let cfg = LossConfig { binary: BinaryLoss::Hinge, multiclass: MulticlassLoss::Ce };
        let s = values(&cfg.task_loss_sums(&layout, &out, &labels));
        let lse = (1f64.exp() + 1.0 + 2f64.exp()).ln();
        assert!((s[0] - 0.5).abs() < 1e-6, "{s:?}");
        assert!((s[1] - (lse - 2.0)).abs() < 1e-5, "{s:?}");
        assert_eq!(s[2], 0.0);
        let bce = LossConfig { binary: BinaryLoss::Bce, multiclass: MulticlassLoss::Ce };
        let s = values(&bce.task_loss_sums(&layout, &out, &labels));
        assert!((s[0] - (1.0 + (-0.5f64).exp()).ln()).abs() < 1e-6);
        assert_eq!(bce.validation_factors(&layout), vec![1.0, 1.0, 1.0]);
    }
}
