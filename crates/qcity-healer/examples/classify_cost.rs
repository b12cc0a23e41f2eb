//! What the classifier's parts cost on the corpus: the cues over every line (three rounds:
//! the first pays for building the cue sets' automata), and the words of each failure.
//!
//! `cargo run --release -p qcity-healer --example classify_cost`

use qcity_healer::classify::{corpus, cues, model::Model};

fn main() {
    let cases = corpus::load(corpus::FAILURES).expect("the corpus parses");
    let lines: Vec<&String> = cases.iter().flat_map(|c| c.lines.iter()).collect();
    for round in 0..3 {
        let t = std::time::Instant::now();
        let mut hits = 0;
        for l in &lines {
            hits += cues::matches(l).len();
        }
        println!(
            "cues, round {round}: {:.2} µs per line ({} lines, {hits} cues fired)",
            t.elapsed().as_secs_f64() * 1e6 / lines.len() as f64,
            lines.len()
        );
    }
    let m = Model::fitted();
    let t = std::time::Instant::now();
    for c in &cases {
        std::hint::black_box(m.word_features(&c.lines));
    }
    println!(
        "words: {:.2} µs per failure ({} words known)",
        t.elapsed().as_secs_f64() * 1e6 / cases.len() as f64,
        m.vocab.len()
    );
}
