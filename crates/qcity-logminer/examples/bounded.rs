//! Memory under a stream of ever new templates: feeds lines whose words never repeat into a
//! miner capped at 100,000 keys, and prints its keys, the process's resident memory and the
//! time one regrouping takes, every 250,000 lines.
//!
//! cargo run --release -p qcity-logminer --example bounded [LINES]

use std::time::Instant;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// A word from a number, in letters only (digits would make it a variable).
fn word(mut n: u64) -> String {
    let mut w = String::new();
    loop {
        w.push(char::from(b'a' + (n % 26) as u8));
        n /= 26;
        if n == 0 {
            return w;
        }
    }
}

fn main() {
    let lines: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let mut miner = qcity_logminer::Miner::new(100_000);
    println!("lines\tkeys\trss_mib\tregroup_ms");
    for i in 0..lines {
        let line = format!(
            "2026-12-01 10:00:{:02} worker {} task {} failed with {}",
            i % 60,
            word(i),
            word(i.wrapping_mul(2_654_435_761) % 1_000_003),
            word(i / 7)
        );
        let key = miner.add(&line);
        if (i + 1) % 250_000 == 0 {
            let t = Instant::now();
            miner.template_of(key);
            let ms = t.elapsed().as_secs_f64() * 1e3;
            println!(
                "{}\t{}\t{:.1}\t{ms:.1}",
                i + 1,
                miner.keys(),
                rss_kib() as f64 / 1024.0
            );
        }
    }
}
