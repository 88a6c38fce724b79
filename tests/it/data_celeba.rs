//! CelebA loader: the real annotation files, both layouts, line endings, malformed input.

use crate::data_support;

use std::path::Path;

use awmt::data::celeba::{parse_attributes, parse_identities, parse_partition, Celeba, ATTRIBUTES};
use awmt::data::text::TextLines;

#[test]
fn real_partition_and_identities() {
    let Some(real) = data_support::real_dir() else { return };
    let part = parse_partition(&TextLines::read(&real.join("celeba/list_eval_partition.txt")).unwrap()).unwrap();
    let mut counts = [0usize; 3];
    for (_, p) in &part {
        counts[*p as usize] += 1;
    }
    assert_eq!(counts, [162_770, 19_867, 19_962]);
    // Contiguous: 1–162770, 162771–182637, 182638–202599.
    assert_eq!(part[162_769], ("162770.jpg".to_string(), 0));
    assert_eq!(part[162_770], ("162771.jpg".to_string(), 1));
    assert_eq!(part[182_637], ("182638.jpg".to_string(), 2));
    let ids = parse_identities(&TextLines::read(&real.join("celeba/identity_CelebA.txt")).unwrap()).unwrap();
    assert_eq!(ids.len(), 202_599);
    assert_eq!(ids[0], ("000001.jpg".to_string(), 2880));
    let distinct: std::collections::HashSet<i64> = ids.iter().map(|(_, i)| *i).collect();
    assert_eq!(distinct.len(), 10_177);
}

#[test]
fn real_attribute_sample_parses_to_its_values() {
    let Some(real) = data_support::real_dir() else { return };
    let path = real.join("celeba/list_attr_celeba.sample100.txt");
    let a = parse_attributes(&TextLines::read(&path).unwrap()).unwrap();
    assert_eq!(a.names, ATTRIBUTES);
    assert_eq!(a.images.len(), 100);
    assert_eq!(a.images[0], "000001.jpg");
    assert_eq!(a.images[99], "000100.jpg");
    // Checked independently: the raw text, split on whitespace.
    let text = std::fs::read_to_string(&path).unwrap();
    for (row, line) in text.split("\r\n").skip(2).filter(|l| !l.is_empty()).enumerate() {
        let want: Vec<i8> = line.split_whitespace().skip(1).map(|t| t.parse().unwrap()).collect();
        assert_eq!(a.values[row], want, "row {}", row + 1);
    }
    // Spot checks typed from the file: 000001.jpg starts `-1  1  1`, 000007.jpg starts `1 -1  1`.
    assert_eq!(&a.values[0][..3], &[-1, 1, 1]);
    assert_eq!(&a.values[6][..3], &[1, -1, 1]);
    assert_eq!(a.values[0][20], -1, "000001 is not Male");
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

#[test]
fn anno_eval_layout_with_lf_and_no_final_newline() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "Anno/list_attr_celeba.txt", "3\nA B\n000001.jpg 1 -1\n000002.jpg -1  1\n000003.jpg  1  1");
    write(root, "Eval/list_eval_partition.txt", "000001.jpg 0\n000002.jpg 1\n000003.jpg 2");
    write(root, "Anno/identity_CelebA.txt", "000001.jpg 7\r\n000002.jpg 8\r\n000003.jpg 9\r\n");
    std::fs::create_dir_all(root.join("Img/img_align_celeba")).unwrap();
    let c = Celeba::load(root).unwrap();
    assert_eq!(c.names, ["A", "B"]);
    assert_eq!(c.files.image_dir, "Img/img_align_celeba");
    let [train, val, test] = c.tables(|_| true);
    assert_eq!(train.images, ["Img/img_align_celeba/000001.jpg"]);
    assert_eq!(val.identities, [8]);
    assert_eq!(test.labels, vec![vec![Some(1)], vec![Some(1)]]);
    assert_eq!(train.labels, vec![vec![Some(1)], vec![Some(-1)]]);
}

#[test]
fn malformed_releases_are_errors_naming_file_and_line() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("list_eval_partition.txt", "1.jpg 0\n")], "no list_attr_celeba.txt"),
        (&[("list_attr_celeba.txt", "1\nA\n1.jpg 1\n")], "no list_eval_partition.txt"),
        (&[("list_attr_celeba.txt", "1\nA\n1.jpg 1\n"), ("list_eval_partition.txt", "1.jpg 0\n2.jpg 1\n")], "list_eval_partition.txt:2: 2.jpg has no row in"),
        (&[("list_attr_celeba.txt", "2\nA\n1.jpg 1\n2.jpg 1\n"), ("list_eval_partition.txt", "1.jpg 0\n")], "list_attr_celeba.txt:4: 2.jpg has no entry in"),
        (&[("list_attr_celeba.txt", "1\nA\n1.jpg 1\n"), ("list_eval_partition.txt", "1.jpg 0\n"), ("identity_CelebA.txt", "1.jpg\n")], "identity_CelebA.txt:1: expected `<image> <identity>`"),
        (&[("list_attr_celeba.txt", "1\nA\n1.jpg 1\n"), ("list_eval_partition.txt", "1.jpg 0\n"), ("list_landmarks_align_celeba.txt", "1\na b c d e f g h i j\n1.jpg 1 2 3\n")], "list_landmarks_align_celeba.txt:3: expected 11 tokens"),
        (&[("list_attr_celeba.txt", "1\nA B\n1.jpg 1 x\n"), ("list_eval_partition.txt", "1.jpg 0\n")], "list_attr_celeba.txt:3: attribute B: expected -1 or 1, found `x`"),
    ];
    for (files, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in *files {
            write(dir.path(), name, text);
        }
        let err = format!("{:#}", Celeba::load(dir.path()).unwrap_err());
        assert!(err.contains(want), "{err:?} lacks {want:?}");
    }
}

#[test]
fn real_partition_against_a_short_attribute_list_names_the_first_unmatched_line() {
    let Some(real) = data_support::real_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(real.join("celeba/list_attr_celeba.sample100.txt"), dir.path().join("list_attr_celeba.txt")).unwrap();
    std::fs::copy(real.join("celeba/list_eval_partition.txt"), dir.path().join("list_eval_partition.txt")).unwrap();
    let err = format!("{:#}", Celeba::load(dir.path()).unwrap_err());
    assert!(err.contains("list_eval_partition.txt:101: 000101.jpg has no row"), "{err}");
}
