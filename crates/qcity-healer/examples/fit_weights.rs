//! Fits the classifier's weights on the training part of the corpus and writes them to
//! `corpus/weights.json`; prints how the fitted model does on the held-out part (accuracy,
//! destructive actions on a wrong category, the confusion matrix, precision and recall per
//! category). `--cv` instead picks the regulariser by cross-validation on the training part
//! (folds by scenario), never looking at the held-out part. `--check` writes nothing.
//!
//! `cargo run -p qcity-healer --example fit_weights [-- --cv | --check]`

use std::collections::BTreeSet;

use qcity_healer::classify::corpus::{self, Case, Score, Split};
use qcity_healer::classify::model::{EPOCHS, K, LAMBDA, Model};
use qcity_types::FailureCategory;

fn main() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let text = std::fs::read_to_string(dir.join("failures.jsonl")).expect("corpus/failures.jsonl");
    let cases = corpus::load(&text).expect("the corpus parses");
    let (train, held) = corpus::parts(&cases);
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--cv") {
        cross_validate(&train);
        return;
    }
    let model = corpus::fit(&train, LAMBDA, EPOCHS);
    // What is checked in is what the classifier uses: measure the rounded weights.
    let json = model.to_json();
    let model = Model::from_json(&json).expect("own output");
    if !args.iter().any(|a| a == "--check") {
        std::fs::write(dir.join("weights.json"), &json).expect("write weights.json");
        println!("wrote corpus/weights.json");
    }
    // What one diagnosis costs the healer: every case classified 20 times.
    let started = std::time::Instant::now();
    let mut lines = 0;
    for _ in 0..20 {
        for c in &cases {
            lines += c.lines.len();
            std::hint::black_box(qcity_healer::classify::classify_with(&model, &c.input()));
        }
    }
    let took = started.elapsed();
    println!(
        "classifying: {:.0} µs per failure on average ({} failures, {:.0} lines each on average, {:.2} µs per line)",
        took.as_secs_f64() * 1e6 / (20 * cases.len()) as f64,
        cases.len(),
        lines as f64 / (20 * cases.len()) as f64,
        took.as_secs_f64() * 1e6 / lines as f64
    );
    let confusable = cases.iter().filter(|c| c.confusable).count();
    println!(
        "corpus: {} cases ({} confusable, {:.0} %), training {} , held-out {}",
        cases.len(),
        confusable,
        100.0 * confusable as f64 / cases.len() as f64,
        train.len(),
        held.len()
    );
    let prior = corpus::score(&Model::prior(), &held);
    println!(
        "priors alone on the held-out part: {:.1} %",
        100.0 * prior.accuracy()
    );
    let fit_train = corpus::score(&model, &train);
    println!(
        "fitted, training part: {:.1} %",
        100.0 * fit_train.accuracy()
    );
    if args.iter().any(|a| a == "--train-errors") {
        print_wrong("training, wrong", &fit_train);
    }
    report("fitted, held-out part", &model, &held);
    let fresh: Vec<&Case> = held
        .iter()
        .copied()
        .filter(|c| c.split == Split::Fresh)
        .collect();
    if !fresh.is_empty() {
        println!();
        report("fitted, the measured fresh scenarios alone", &model, &fresh);
    }
}

/// How `model` does on `cases`: accuracy (on the confusable ones too), destructive verdicts
/// on a wrong category, the cases it got wrong, the confusion matrix.
fn report(title: &str, model: &Model, cases: &[&Case]) {
    let s = corpus::score(model, cases);
    let confusable: Vec<&Case> = cases.iter().copied().filter(|c| c.confusable).collect();
    let sc = corpus::score(model, &confusable);
    println!(
        "{title}: {:.1} % ({} of {}); confusable {:.1} % ({} of {}); destructive on a wrong category: {}",
        100.0 * s.accuracy(),
        s.correct,
        s.cases,
        100.0 * sc.accuracy(),
        sc.correct,
        sc.cases,
        s.destructive_wrong.len()
    );
    for id in &s.destructive_wrong {
        println!("  destructive on a wrong category: {id}");
    }
    print_wrong("wrong", &s);
    print_matrix(&s);
}

/// Each case `s` got wrong, on a line after `what`: the label, the verdict, the runner-up and
/// the features that spoke for the verdict.
fn print_wrong(what: &str, s: &Score) {
    for (id, label, v) in &s.wrong {
        println!(
            "  {what}: {id}: {label} taken for {} (next {} {:.2}) {:?}",
            v.phrase(),
            v.runner_up.0,
            v.runner_up.1,
            v.cues
        );
    }
}

/// The confusion matrix and precision/recall per category, as Markdown.
fn print_matrix(s: &Score) {
    let used: Vec<FailureCategory> = FailureCategory::ALL
        .into_iter()
        .filter(|c| {
            let i = c.index();
            s.confusion[i].iter().sum::<usize>() > 0 || (0..K).any(|l| s.confusion[l][i] > 0)
        })
        .collect();
    let short = |c: &FailureCategory| {
        c.name()
            .split('-')
            .map(|w| &w[..w.len().min(4)])
            .collect::<Vec<_>>()
            .join("-")
    };
    println!();
    print!("| label \\ taken for |");
    for c in &used {
        print!(" {} |", short(c));
    }
    println!(" recall | precision |");
    print!("|---|");
    for _ in &used {
        print!("---:|");
    }
    println!("---:|---:|");
    for l in &used {
        print!("| {} |", l.name());
        for p in &used {
            let n = s.confusion[l.index()][p.index()];
            if n == 0 {
                print!(" · |")
            } else {
                print!(" {n} |")
            }
        }
        let (precision, recall) = s.precision_recall(*l);
        println!(" {:.2} | {:.2} |", recall, precision);
    }
}

/// Accuracy of each regulariser over folds of the training part (by scenario).
fn cross_validate(train: &[&Case]) {
    let scenarios: BTreeSet<String> = train.iter().map(|c| c.scenario.clone()).collect();
    let scenarios: Vec<String> = scenarios.into_iter().collect();
    const FOLDS: usize = 4;
    for lambda in [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2] {
        let (mut correct, mut total) = (0, 0);
        for fold in 0..FOLDS {
            let in_fold = |c: &&Case| {
                scenarios.iter().position(|s| *s == c.scenario).unwrap_or(0) % FOLDS == fold
            };
            let fit_on: Vec<&Case> = train.iter().copied().filter(|c| !in_fold(c)).collect();
            let test_on: Vec<&Case> = train.iter().copied().filter(in_fold).collect();
            let m = corpus::fit(&fit_on, lambda, EPOCHS);
            let s = corpus::score(&m, &test_on);
            if std::env::args().any(|a| a == "--cv-errors") && lambda == LAMBDA {
                print_wrong("out of fold, wrong", &s);
            }
            correct += s.correct;
            total += s.cases;
        }
        println!(
            "lambda {lambda}: {:.1} % ({correct} of {total})",
            100.0 * correct as f64 / total.max(1) as f64
        );
    }
}
