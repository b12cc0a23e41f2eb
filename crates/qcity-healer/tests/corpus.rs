//! The classifier on the corpus of real failures (`corpus/failures.jsonl`, made by
//! `scripts/failure-corpus.py`): the weights checked in are the fit of the training part
//! (so they were not tuned by hand on the held-out part), and on the held-out part the
//! category is right at least 90 % of the time and no destructive fix would run on a wrong
//! category.

use qcity_healer::classify::corpus::{self, Case};
use qcity_healer::classify::model::{EPOCHS, LAMBDA, Model};

fn cases() -> Vec<Case> {
    corpus::load(corpus::FAILURES).expect("the corpus parses")
}

#[test]
fn the_corpus_is_large_varied_and_partly_confusable() {
    let cases = cases();
    assert!(cases.len() >= 200, "{} cases", cases.len());
    let confusable = cases.iter().filter(|c| c.confusable).count();
    assert!(
        confusable * 5 >= cases.len(),
        "{confusable} of {} confusable",
        cases.len()
    );
    let held = corpus::parts(&cases).1.len();
    assert!(held * 6 >= cases.len(), "{held} held out");
}

#[test]
fn the_checked_in_weights_are_the_fit_of_the_training_part() {
    let cases = cases();
    let (train, _) = corpus::parts(&cases);
    let fitted = corpus::fit(&train, LAMBDA, EPOCHS);
    assert!(
        Model::fitted().to_json() == fitted.to_json(),
        "corpus/weights.json is stale: run `cargo run -p qcity-healer --example fit_weights`"
    );
}

#[test]
fn on_the_held_out_part_the_category_is_right_and_nothing_is_deleted_wrongly() {
    let cases = cases();
    let (_, held) = corpus::parts(&cases);
    let s = corpus::score(Model::fitted(), &held);
    let wrong: Vec<String> = s
        .wrong
        .iter()
        .map(|(id, label, v)| format!("{id}: {label} taken for {}", v.phrase()))
        .collect();
    assert!(
        s.accuracy() >= 0.90,
        "{:.1} % right on {} held-out cases; wrong: {wrong:#?}",
        100.0 * s.accuracy(),
        s.cases
    );
    assert!(
        s.destructive_wrong.is_empty(),
        "a destructive fix on a wrong category: {:?}",
        s.destructive_wrong
    );
}
