//! What kind of failure this is, from all the evidence: every line of the output tail (the
//! decisive line is often not the one that says "error"), the exit code and the signal read
//! with the conventions of the tool that ran, and the runner's kind. Every cue that fires
//! counts with its fitted weight for every category; the most probable category wins, its
//! probability is the confidence, and the lines that weighed most for it are the evidence.
//!
//! - `cues`: what a line can say.
//! - `exit`: what the end of a process says.
//! - `kernel`: what the kernel says (its OOM kills).
//! - `words`: the words of an output, the model's learned features besides the cues.
//! - `model`: the weights, their priors and their fit.
//! - `corpus`: the labelled failures the weights are fitted and measured on.

pub mod corpus;
pub mod cues;
pub mod exit;
pub mod kernel;
pub mod model;
pub mod words;

use qcity_types::FailureCategory;

use model::{K, Model};

/// Evidence lines kept per verdict.
const EVIDENCE_MAX: usize = 5;
/// A destructive fix (deleting caches or work dirs, removing a lock) needs at least this
/// confidence…
pub const SURE: f64 = 0.80;
/// …and no other category above this probability.
pub const OTHER_MAX: f64 = 0.10;

/// What the classifier reads about one failure.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The output tail, oldest first.
    pub lines: &'a [String],
    pub code: Option<i32>,
    pub signal: Option<i32>,
    /// The program that ran ([`exit::tool`]).
    pub tool: &'a str,
    /// The runner's kind: `command`, `github`, `gitlab`, `buildkite`.
    pub kind: &'a str,
    /// The runner reported its registration gone.
    pub needs_registration: bool,
    /// The kernel killed a process for memory a moment ago ([`kernel::OomWatch`]).
    pub kernel_oom: bool,
}

/// The classifier's judgement.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub category: FailureCategory,
    /// The category's probability, 0–1.
    pub confidence: f64,
    /// The next most probable category and its probability.
    pub runner_up: (FailureCategory, f64),
    /// The lines that weighed most for the category, oldest first.
    pub evidence: Vec<String>,
    /// The features that weighed for it, strongest first (`enospc`, `exit:127`, a word).
    pub cues: Vec<String>,
}

impl Verdict {
    /// Sure enough for a fix that deletes something: confident, and nothing else likely.
    pub fn sure(&self) -> bool {
        self.confidence >= SURE && self.runner_up.1 < OTHER_MAX
    }

    /// One phrase: `disk-full (0.93)`.
    pub fn phrase(&self) -> String {
        format!("{} ({:.2})", self.category, self.confidence)
    }
}

/// Classifies with the fitted model.
pub fn classify(input: &Input<'_>) -> Verdict {
    classify_with(Model::fitted(), input)
}

/// The active features of `input`, and for each line the cues it fired.
pub fn features(input: &Input<'_>) -> (Vec<usize>, Vec<(usize, Vec<usize>)>) {
    let mut active = vec![false; model::feature_count()];
    let mut per_line = Vec::new();
    for (i, line) in input.lines.iter().enumerate() {
        let line = words::head(line);
        let hits = cues::matches(line);
        if hits.is_empty() {
            continue;
        }
        for &h in &hits {
            active[h] = true;
        }
        per_line.push((i, hits));
    }
    let exits = exit::features(
        input.code,
        input.signal,
        input.tool,
        input.kind,
        input.needs_registration,
    );
    let exits = exits
        .into_iter()
        .chain(input.kernel_oom.then_some("kernel:oom-kill"));
    for name in exits {
        if let Some(i) = model::exit_feature(name) {
            active[i] = true;
        }
    }
    let active = (0..active.len()).filter(|&i| active[i]).collect();
    (active, per_line)
}

/// Classifies with `model`.
pub fn classify_with(model: &Model, input: &Input<'_>) -> Verdict {
    let (mut active, per_line) = features(input);
    active.extend(model.word_features(input.lines));
    let p = model.probabilities(&active);
    let mut order: Vec<usize> = (0..K).collect();
    order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
    let (best, second) = (order[0], order[1]);
    let category = FailureCategory::ALL[best];
    // What spoke for the winner: a feature's weight for it beyond its weight for the others.
    let lift = |f: usize| {
        let w = &model.weights[f];
        w[best] - w.iter().sum::<f64>() / K as f64
    };
    let mut cues: Vec<(usize, f64)> = active
        .iter()
        .map(|&f| (f, lift(f)))
        .filter(|&(_, l)| l > 0.25)
        .collect();
    cues.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut lines: Vec<(usize, f64)> = per_line
        .iter()
        .map(|(i, hits)| (*i, hits.iter().map(|&h| lift(h).max(0.0)).sum::<f64>()))
        .filter(|&(_, w)| w > 0.25)
        .collect();
    // The strongest lines, the latest first among equals, each text once (a runner that
    // failed four times the same way printed it four times); then back in output order.
    lines.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.0.cmp(&a.0)));
    let mut seen = std::collections::HashSet::new();
    lines.retain(|&(i, _)| seen.insert(input.lines[i].as_str()));
    lines.truncate(EVIDENCE_MAX);
    lines.sort_by_key(|l| l.0);
    Verdict {
        category,
        confidence: p[best],
        runner_up: (FailureCategory::ALL[second], p[second]),
        evidence: lines.iter().map(|&(i, _)| input.lines[i].clone()).collect(),
        cues: cues
            .iter()
            .map(|&(f, _)| match f.checked_sub(model::feature_count()) {
                Some(w) => model.vocab[w].as_str(),
                None => model::feature_name(f),
            })
            .map(str::to_string)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(lines: &[&str], code: Option<i32>, signal: Option<i32>, tool: &str) -> Verdict {
        let lines: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
        classify(&Input {
            lines: &lines,
            code,
            signal,
            tool,
            kind: "command",
            needs_registration: false,
            kernel_oom: false,
        })
    }

    #[test]
    fn the_decisive_line_wins_over_the_most_visible_one() {
        let v = verdict(
            &[
                "   Compiling foo v0.1.0",
                "error: failed to write /work/target/debug/deps/libfoo.rlib: No space left on device (os error 28)",
                "error: could not compile `foo` (lib) due to 1 previous error",
            ],
            Some(101),
            None,
            "cargo",
        );
        assert_eq!(v.category, FailureCategory::DiskFull, "{v:?}");
        assert!(v.evidence.iter().any(|l| l.contains("No space left")));
    }

    #[test]
    fn the_exit_code_counts_when_the_output_says_little() {
        let v = verdict(&["sh: 1: terraform: not found"], Some(127), None, "sh");
        assert_eq!(v.category, FailureCategory::MissingCommand);
        let v = verdict(&[], None, Some(libc::SIGSEGV), "worker");
        assert_eq!(v.category, FailureCategory::Crashed);
        let v = verdict(&["starting", "done 3 of 9"], Some(1), None, "worker");
        assert_eq!(v.category, FailureCategory::Unknown);
        assert!(!v.sure() || v.category == FailureCategory::Unknown);
    }
}
