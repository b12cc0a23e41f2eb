//! Times the classifier's parts on the corpus (a development aid).
use qcity_healer::classify::{corpus, cues, model::Model};
fn main() {
    let cases = corpus::load(corpus::FAILURES).unwrap();
    let lines: Vec<&String> = cases.iter().flat_map(|c| c.lines.iter()).collect();
    for round in 0..3 {
        let t = std::time::Instant::now();
        let mut n = 0;
        for l in &lines {
            n += cues::matches(l).len();
        }
        println!(
            "regexset round {round}: {:.2} µs/line ({n})",
            t.elapsed().as_secs_f64() * 1e6 / lines.len() as f64
        );
    }
    let m = Model::fitted();
    let t = std::time::Instant::now();
    for c in &cases {
        std::hint::black_box(m.word_features(&c.lines));
    }
    println!(
        "words: {:.2} µs/case",
        t.elapsed().as_secs_f64() * 1e6 / cases.len() as f64
    );
}
