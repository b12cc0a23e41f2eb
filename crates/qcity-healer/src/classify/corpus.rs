//! The labelled failures in `corpus/failures.jsonl` (made by `scripts/failure-corpus.py`:
//! real tools failing for real reasons), the weights' training part and the held-out part
//! they are measured on, and the measurement.

use qcity_types::FailureCategory;

use super::model::{K, Model};
use super::{Input, Verdict, classify_with};

/// The corpus as checked in.
pub const FAILURES: &str = include_str!("../../corpus/failures.jsonl");

/// One labelled failure.
#[derive(Debug, Clone)]
pub struct Case {
    pub id: String,
    pub scenario: String,
    pub label: FailureCategory,
    pub tool: String,
    pub kind: String,
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub lines: Vec<String>,
    /// The most visible line points to another category.
    pub confusable: bool,
    /// Which part it is in: `train` (the weights are fitted on it), `held-out` (measured,
    /// never fitted on), `fresh` (made blind after the classifier was built; measured only).
    pub split: Split,
}

/// The parts of the corpus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    HeldOut,
    Fresh,
}

impl Case {
    pub fn input(&self) -> Input<'_> {
        Input {
            lines: &self.lines,
            code: self.code,
            signal: self.signal,
            tool: &self.tool,
            kind: &self.kind,
            needs_registration: false,
            kernel_oom: false,
        }
    }
}

/// Reads JSON Lines of cases; an error names the line.
pub fn load(text: &str) -> Result<Vec<Case>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = |what: &str| format!("line {}: {what}", n + 1);
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| at(&e.to_string()))?;
        let s = |k: &str| v[k].as_str().map(str::to_string);
        let label = s("label").ok_or_else(|| at("no label"))?;
        let num = |k: &str| v[k].as_i64().and_then(|x| i32::try_from(x).ok());
        out.push(Case {
            id: s("id").ok_or_else(|| at("no id"))?,
            scenario: s("scenario").unwrap_or_default(),
            label: FailureCategory::from_name(&label)
                .ok_or_else(|| at(&format!("unknown label {label}")))?,
            tool: s("tool").unwrap_or_default(),
            kind: s("runner_kind").unwrap_or_else(|| "command".into()),
            code: num("code"),
            signal: num("signal"),
            // The script runs each scenario in `/tmp/corpus/SCENARIO`: a path a runner's
            // output never has, whose words (`tmpfs`, `oom`…) would teach the label.
            lines: v["lines"]
                .as_array()
                .ok_or_else(|| at("no lines"))?
                .iter()
                .filter_map(|l| l.as_str())
                .map(|l| {
                    let scenario = v["scenario"].as_str().unwrap_or_default();
                    l.replace(&format!("/tmp/corpus/{scenario}"), "/work/job")
                        .replace("/tmp/corpus", "/work")
                })
                .collect(),
            confusable: v["confusable"].as_bool().unwrap_or(false),
            split: match s("split").as_deref() {
                Some("train") => Split::Train,
                Some("held-out") => Split::HeldOut,
                Some("fresh") => Split::Fresh,
                other => return Err(at(&format!("unknown split {other:?}"))),
            },
        });
    }
    Ok(out)
}

/// The corpus cut in two: the cases the weights are fitted on, and those they are measured
/// on. The `train` and `held-out` splits as written; the `fresh` scenarios (made blind after
/// the first classifier, and measured blind once: see `bench/README.md`) cut by the same
/// rule as the others: per label, sorted by name, every 4th scenario from the 3rd is
/// measured, the rest fitted on.
pub fn parts(cases: &[Case]) -> (Vec<&Case>, Vec<&Case>) {
    use std::collections::{BTreeMap, BTreeSet};
    let mut fresh: BTreeMap<FailureCategory, BTreeSet<&str>> = BTreeMap::new();
    for c in cases.iter().filter(|c| c.split == Split::Fresh) {
        fresh.entry(c.label).or_default().insert(&c.scenario);
    }
    let measured_fresh = |c: &Case| {
        fresh
            .get(&c.label)
            .and_then(|names| names.iter().position(|n| *n == c.scenario))
            .is_some_and(|i| i % 4 == 2)
    };
    cases.iter().partition(|c| match c.split {
        Split::Train => true,
        Split::HeldOut => false,
        Split::Fresh => !measured_fresh(c),
    })
}

/// The words worth a weight: seen in at least [`WORD_CASES`] of `cases` from at least
/// [`WORD_SCENARIOS`] scenarios (a word of one scenario is that scenario's, not its
/// category's), sorted.
pub fn vocabulary(cases: &[&Case]) -> Vec<String> {
    use std::collections::{BTreeMap, BTreeSet};
    let mut seen: BTreeMap<String, (usize, BTreeSet<&str>)> = BTreeMap::new();
    for c in cases {
        for w in super::words::words(&c.lines) {
            let e = seen.entry(w).or_default();
            e.0 += 1;
            e.1.insert(&c.scenario);
        }
    }
    seen.into_iter()
        .filter(|(_, (n, s))| *n >= WORD_CASES && s.len() >= WORD_SCENARIOS)
        .map(|(w, _)| w)
        .collect()
}

/// See [`vocabulary`].
pub const WORD_CASES: usize = 3;
/// See [`vocabulary`].
pub const WORD_SCENARIOS: usize = 3;

/// The fitting data of `cases` for a model with `vocab`: their active features and label.
pub fn samples(cases: &[&Case], vocab: &[String]) -> Vec<(Vec<usize>, usize)> {
    let with_words = Model::prior_with(vocab.to_vec());
    cases
        .iter()
        .map(|c| {
            let mut f = super::features(&c.input()).0;
            f.extend(with_words.word_features(&c.lines));
            (f, c.label.index())
        })
        .collect()
}

/// Fits a model on `cases`: their vocabulary, then the weights.
pub fn fit(cases: &[&Case], lambda: f64, epochs: usize) -> Model {
    let vocab = if USE_WORDS {
        vocabulary(cases)
    } else {
        Vec::new()
    };
    Model::fit(&samples(cases, &vocab), vocab, lambda, epochs)
}

/// Whether the model learns words besides the cues.
pub const USE_WORDS: bool = true;

/// How a model does on some cases.
#[derive(Debug, Clone)]
pub struct Score {
    pub cases: usize,
    pub correct: usize,
    /// `[label][predicted]`.
    pub confusion: [[usize; K]; K],
    /// Cases where a destructive fix would have run on a wrong category.
    pub destructive_wrong: Vec<String>,
    /// Cases classified wrong: (id, label, verdict).
    pub wrong: Vec<(String, FailureCategory, Verdict)>,
}

impl Score {
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.cases.max(1) as f64
    }

    /// Precision and recall of `c` (NaN-free: 0 when undefined).
    pub fn precision_recall(&self, c: FailureCategory) -> (f64, f64) {
        let i = c.index();
        let tp = self.confusion[i][i] as f64;
        let predicted: usize = (0..K).map(|l| self.confusion[l][i]).sum();
        let actual: usize = self.confusion[i].iter().sum();
        let ratio = |a: f64, b: usize| if b == 0 { 0.0 } else { a / b as f64 };
        (ratio(tp, predicted), ratio(tp, actual))
    }
}

/// Whether the built-in fix for a verdict on `lines` deletes something: caches or work dirs
/// (a full disk, a corrupted cache), or a lock (a version-control error naming one).
pub fn destructive(c: FailureCategory, lines: &[String]) -> bool {
    match c {
        FailureCategory::DiskFull | FailureCategory::CorruptCache => true,
        FailureCategory::VcsError => lines
            .iter()
            .any(|l| crate::stale_lock::named_lock(l).is_some()),
        _ => false,
    }
}

/// Scores `model` on `cases`. A destructive category counts as acted on only when the
/// verdict is [`Verdict::sure`] (below it the healer escalates with its guess).
pub fn score(model: &Model, cases: &[&Case]) -> Score {
    let mut s = Score {
        cases: cases.len(),
        correct: 0,
        confusion: [[0; K]; K],
        destructive_wrong: Vec::new(),
        wrong: Vec::new(),
    };
    for c in cases {
        let v = classify_with(model, &c.input());
        s.confusion[c.label.index()][v.category.index()] += 1;
        if v.category == c.label {
            s.correct += 1;
        } else {
            if destructive(v.category, &c.lines) && v.sure() {
                s.destructive_wrong.push(c.id.clone());
            }
            s.wrong.push((c.id.clone(), c.label, v));
        }
    }
    s
}
