//! Classifies an output read from stdin, as the healer would: the category, its confidence,
//! the runner-up, the evidence lines and the cues that spoke for it.
//!
//! `some-command 2>&1 | cargo run -p qcity-healer --example classify -- [CODE|sig:N] [TOOL]`

use qcity_healer::classify::{Input, classify};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let end = args.first().map_or("1", String::as_str);
    let (code, signal) = match end.strip_prefix("sig:") {
        Some(n) => (None, n.parse().ok()),
        None => (end.parse().ok(), None),
    };
    let tool = args.get(1).map_or("", String::as_str);
    let lines: Vec<String> = std::io::stdin().lines().map_while(Result::ok).collect();
    let v = classify(&Input {
        lines: &lines,
        code,
        signal,
        tool,
        kind: "command",
        needs_registration: false,
        kernel_oom: false,
    });
    println!(
        "{} (next {} {:.2}); sure enough to delete: {}",
        v.phrase(),
        v.runner_up.0,
        v.runner_up.1,
        v.sure()
    );
    println!("cues: {}", v.cues.join(", "));
    for l in &v.evidence {
        println!("  | {l}");
    }
}
