//! A frozen-BN `train` stage without pretrained weights is refused at load time unless
//! `from_scratch: true`, which runs (through the binaries; the in-process pretrained-trunk tests are
//! awmt-torch's `train_pretrained`).

use crate::common;

/// A small pipeline: procedural faces → split → prepare (16×16) → one train stage with `train`.
fn pipeline(train: &str) -> String {
    format!(
        "stages:\n  faces:\n    kind: synth\n    with: {{style: faces, images: 48, images_per_identity: 4, width: 32, height: 40, seed: 3}}\n  \
         split:\n    kind: split\n    inputs: {{root: faces}}\n    with: {{format: celeba, tasks: [Eyeglasses, Male]}}\n  \
         prep:\n    kind: prepare\n    inputs: {{split: split, root: faces}}\n    with: {{size: [16, 16]}}\n{train}"
    )
}

#[test]
fn frozen_bn_without_weights_is_refused_before_anything_runs_unless_from_scratch() {
    let p = common::Project::new();
    // Frozen BN (the default) and no `pretrained`: exit 2 at the stage's line, with what to do;
    // a `foreach` group is reported once.
    p.write(
        "refused.yaml",
        &pipeline(
            "  basic:\n    kind: train\n    inputs: {data: prep}\n    with: {model: small_cnn, iterations: 2}\n  \
             sep:\n    kind: train\n    foreach: {task: [Eyeglasses, Male]}\n    inputs: {data: prep}\n    with: {model: small_cnn, tasks: [\"${task}\"]}\n",
        ),
    );
    let out = p.awmt(&["run", "refused.yaml"]);
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("refused.yaml:13:3") && err.contains("stage `basic`") && err.contains("needs pretrained weights"), "{err}");
    assert!(err.contains("from_scratch: true") && err.contains("freeze_bn: false") && err.contains("pretrained:"), "{err}");
    assert_eq!(err.matches("stage `sep`").count(), 1, "{err}");
    assert!(!p.path("cache").join("stages").exists() || p.cache_entries().is_empty(), "nothing may run");
    // `from_scratch` together with weights contradicts itself.
    p.write("both.yaml", &pipeline("  t:\n    kind: train\n    inputs: {data: prep, pretrained: prep}\n    with: {model: small_cnn, from_scratch: true}\n"));
    let out = p.awmt(&["dag", "both.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(common::stderr(&out).contains("contradicts"), "{}", common::stderr(&out));
    // Saying `from_scratch: true` runs.
    p.write(
        "scratch.yaml",
        &pipeline("  t:\n    kind: train\n    inputs: {data: prep}\n    with: {model: small_cnn, from_scratch: true, iterations: 3, milestones: [], checkpoint_every: 0}\n"),
    );
    let (status, out) = p.run_json("scratch.yaml", &[]);
    assert_eq!(status.get("t").map(String::as_str), Some("ran"), "{status:?} {}", common::stderr(&out));
}
