//! The model: a multinomial logistic regression over the cues and the exit features. Each
//! feature starts from its prior (it suggests its category with a weight); the fitted
//! weights in `corpus/weights.json` move them where the training part of the corpus says
//! (the prior is also the fit's regulariser, so a cue the corpus never shows keeps the
//! judgement it was written with). The category's probability is the confidence.

use std::collections::BTreeMap;

use qcity_types::FailureCategory;

use super::cues::CUES;
use super::exit::FEATURES;

/// Categories, the model's classes.
pub const K: usize = FailureCategory::ALL.len();

/// The weights as fitted, checked in beside the corpus.
const FITTED: &str = include_str!("../../corpus/weights.json");

/// The fit's pull toward the priors (chosen by cross-validation on the training part:
/// `cargo run -p qcity-healer --example fit_weights -- --cv`).
pub const LAMBDA: f64 = 0.01;
/// Gradient steps of the fit.
pub const EPOCHS: usize = 1500;
/// How much harder words are pulled toward 0 than cues toward their priors.
pub const WORD_PULL: f64 = 0.25;
/// How strongly the priors speak (multiplies every prior weight).
pub const PRIOR_SCALE: f64 = 2.5;

/// Prior weight of a line cue for its category: a specific message (one errno, one tool's
/// words) counts more than a generic one (`error:`, `could not compile`, a make error),
/// which so many failures print on their way out.
fn cue_prior(name: &str) -> f64 {
    const SPECIFIC: &[&str] = &[
        "enospc",
        "errno-28",
        "disk-quota",
        "sqlite-full",
        "c-header",
        "ld-lib",
        "shared-object",
        "py-module",
        "node-module",
        "perl-module",
        "no-distribution",
        "java-class",
        "go-package",
        "ruby-load",
        "command-not-found",
        "sh-not-found",
        "spawn-enoent",
        "env-enoent",
        "oom",
        "enomem",
        "heap",
        "ice-killed",
        "emfile",
        "watchers",
        "e2big",
        "threads",
        "eaddrinuse",
        "db-malformed",
        "unpickle",
        "not-format",
        "erofs",
        "eacces",
        "segv",
        "merge-conflict",
        "vcs-lock",
        "would-overwrite",
        "registration-deleted",
        "runner-connect",
        "conn-refused",
        "dns",
        "unreachable",
        "py-bytecode",
        "ownership",
        "conn-timed-out",
        "no-such-command",
        "cpu-time",
        "checksum-mismatch",
        "exec-format",
        "bare-enoent",
    ];
    const GENERIC: &[&str] = &[
        "limit-words",
        "forbidden",
        "root",
        "tests-failed",
        "build-failed",
        "checksum",
        "remote-read",
        "cc-error",
        "rustc",
        "abort",
        "fatal-runtime",
        "timed-out",
        "corrupt",
        "unexpected-eof",
        "tar-not-recoverable",
        "failed-connect",
        "eperm",
        "eagain-fork",
        "syntax",
        "py-exception",
        "js-exception",
        "assertion",
        "pathspec",
        "not-a-repo",
        "please-install",
        "exec-not-found",
    ];
    const WEAK: &[&str] = &[
        "no-such-file",
        "git-fatal",
        "service-unavailable",
        "write-error",
        "bind",
        "py-traceback",
        "dial-tcp",
    ];
    if name == "error-word" {
        0.0
    } else if WEAK.contains(&name) {
        0.5
    } else if GENERIC.contains(&name) {
        1.0
    } else if SPECIFIC.contains(&name) {
        3.0
    } else {
        2.0
    }
}

/// Feature weights per category, and a bias per category.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// One row per feature: the cues first (in [`CUES`] order), then the exit features, then
    /// the words of [`Model::vocab`].
    pub weights: Vec<[f64; K]>,
    pub bias: [f64; K],
    /// Words of the output that count (learned from the corpus: no prior, pulled toward 0).
    pub vocab: Vec<String>,
}

/// The name of feature `i`.
pub fn feature_name(i: usize) -> &'static str {
    if i < CUES.len() {
        CUES[i].name
    } else {
        FEATURES[i - CUES.len()].name
    }
}

/// How many features there are.
pub fn feature_count() -> usize {
    CUES.len() + FEATURES.len()
}

/// The index of the exit feature `name`.
pub fn exit_feature(name: &str) -> Option<usize> {
    FEATURES
        .iter()
        .position(|f| f.name == name)
        .map(|i| CUES.len() + i)
}

impl Model {
    /// The priors alone: every feature suggests its category, nothing else; a failure with
    /// no feature at all is unknown.
    pub fn prior() -> Model {
        let mut weights = vec![[0.0; K]; feature_count()];
        for (i, c) in CUES.iter().enumerate() {
            weights[i][c.suggests.index()] = PRIOR_SCALE * cue_prior(c.name);
        }
        for (i, f) in FEATURES.iter().enumerate() {
            weights[CUES.len() + i][f.suggests.index()] = PRIOR_SCALE * f.prior;
        }
        let mut bias = [0.0; K];
        bias[FailureCategory::Unknown.index()] = 1.0;
        Model {
            weights,
            bias,
            vocab: Vec::new(),
        }
    }

    /// The priors, with `vocab`'s words at 0.
    pub fn prior_with(vocab: Vec<String>) -> Model {
        let mut m = Model::prior();
        m.weights.extend(vocab.iter().map(|_| [0.0; K]));
        m.vocab = vocab;
        m
    }

    /// The feature indices of the words of `lines` that the model knows.
    pub fn word_features(&self, lines: &[String]) -> Vec<usize> {
        let words = super::words::words(lines);
        self.vocab
            .iter()
            .enumerate()
            .filter(|(_, w)| words.contains(w.as_str()))
            .map(|(i, _)| feature_count() + i)
            .collect()
    }

    /// The fitted model (the checked-in weights over the priors).
    pub fn fitted() -> &'static Model {
        static MODEL: std::sync::OnceLock<Model> = std::sync::OnceLock::new();
        MODEL.get_or_init(|| Model::from_json(FITTED).unwrap_or_else(|_| Model::prior()))
    }

    /// Scores of each category for the active `features` (softmax: they sum to 1).
    pub fn probabilities(&self, features: &[usize]) -> [f64; K] {
        let mut s = self.bias;
        for &f in features {
            for (k, w) in self.weights[f].iter().enumerate() {
                s[k] += w;
            }
        }
        softmax(&mut s);
        s
    }

    /// Reads weights written by [`Model::to_json`]; features it does not name keep their
    /// prior.
    pub fn from_json(text: &str) -> Result<Model, String> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut m = Model::prior();
        let row = |v: &serde_json::Value| -> Result<[f64; K], String> {
            let mut r = [0.0; K];
            for (name, w) in v.as_object().ok_or("a row is not an object")? {
                let c = FailureCategory::from_name(name)
                    .ok_or_else(|| format!("unknown category {name}"))?;
                r[c.index()] = w.as_f64().ok_or("a weight is not a number")?;
            }
            Ok(r)
        };
        m.bias = row(&v["bias"])?;
        if let Some(words) = v["words"].as_object() {
            for (w, r) in words {
                m.vocab.push(w.clone());
                m.weights.push(row(r)?);
            }
        }
        let features = v["features"].as_object().ok_or("no features")?;
        for i in 0..feature_count() {
            if let Some(r) = features.get(feature_name(i)) {
                m.weights[i] = row(r)?;
            }
        }
        Ok(m)
    }

    /// The weights as JSON, rounded, zeros left out.
    pub fn to_json(&self) -> String {
        let row = |r: &[f64; K]| -> BTreeMap<&'static str, f64> {
            FailureCategory::ALL
                .iter()
                .filter(|c| r[c.index()].abs() >= 0.0005)
                .map(|c| (c.name(), (r[c.index()] * 1000.0).round() / 1000.0))
                .collect()
        };
        let features: BTreeMap<&str, _> = (0..feature_count())
            .map(|i| (feature_name(i), row(&self.weights[i])))
            .collect();
        let words: BTreeMap<&str, _> = self
            .vocab
            .iter()
            .enumerate()
            .map(|(i, w)| (w.as_str(), row(&self.weights[feature_count() + i])))
            .collect();
        let v = serde_json::json!({"bias": row(&self.bias), "features": features, "words": words});
        serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
    }

    /// Fits the weights to `samples` (active features, category index) by gradient descent
    /// on the mean cross-entropy plus `lambda`/2 × the squared distance from the priors.
    pub fn fit(
        samples: &[(Vec<usize>, usize)],
        vocab: Vec<String>,
        lambda: f64,
        epochs: usize,
    ) -> Model {
        let prior = Model::prior_with(vocab);
        let mut m = prior.clone();
        let n = samples.len().max(1) as f64;
        let rate = 0.5;
        for _ in 0..epochs {
            let mut gw = vec![[0.0; K]; m.weights.len()];
            let mut gb = [0.0; K];
            for (features, label) in samples {
                let mut p = m.probabilities(features);
                p[*label] -= 1.0;
                for &f in features {
                    add_scaled(&mut gw[f], &p, 1.0 / n);
                }
                add_scaled(&mut gb, &p, 1.0 / n);
            }
            for (i, ((row, g), p)) in m
                .weights
                .iter_mut()
                .zip(&gw)
                .zip(&prior.weights)
                .enumerate()
            {
                // Words have no prior to lean on: held closer to 0.
                let pull = if i < feature_count() {
                    lambda
                } else {
                    lambda * WORD_PULL
                };
                step(row, g, p, rate, pull);
            }
            step(&mut m.bias, &gb, &prior.bias, rate, lambda);
        }
        m
    }
}

/// `acc += x * by`.
fn add_scaled(acc: &mut [f64; K], x: &[f64; K], by: f64) {
    for (a, v) in acc.iter_mut().zip(x) {
        *a += v * by;
    }
}

/// One gradient step on `w`: the data's gradient `g` and the pull toward the prior `p`.
fn step(w: &mut [f64; K], g: &[f64; K], p: &[f64; K], rate: f64, lambda: f64) {
    for ((w, g), p) in w.iter_mut().zip(g).zip(p) {
        *w -= rate * (g + lambda * (*w - p));
    }
}

fn softmax(s: &mut [f64; K]) {
    let max = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for x in s.iter_mut() {
        *x = (*x - max).exp();
        sum += *x;
    }
    for x in s.iter_mut() {
        *x /= sum;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weights_round_trip_through_json() {
        let m = Model::prior();
        assert_eq!(Model::from_json(&m.to_json()).unwrap(), m);
        assert!(Model::from_json("{").is_err());
    }

    #[test]
    fn fitting_moves_a_cue_toward_what_the_samples_say() {
        let enospc = CUES.iter().position(|c| c.name == "enospc").unwrap();
        let limit = FailureCategory::ResourceLimit.index();
        let samples = vec![(vec![enospc], limit); 5];
        let prior = Model::prior();
        assert_eq!(
            argmax(&prior.probabilities(&[enospc])),
            FailureCategory::DiskFull.index()
        );
        let fitted = Model::fit(&samples, Vec::new(), 0.01, 300);
        assert_eq!(argmax(&fitted.probabilities(&[enospc])), limit);
    }

    fn argmax(p: &[f64; K]) -> usize {
        (0..K).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap()
    }
}
