//! The miner as a filter, for `../shared/bench/logparse/score.py`: reads log lines on stdin,
//! and at EOF writes `TEMPLATE_ID<TAB>TEMPLATE` for each line, in order (the contract in the
//! scorer's docstring). Ids are written at EOF so each line gets its template's final id,
//! after the merges that later lines caused. One configuration for every source: the
//! `LOGPARSE_*` hints are ignored.

use std::io::{BufWriter, Read, Write};

fn main() -> std::io::Result<()> {
    let mut miner = qcity_logminer::Miner::default();
    let mut raw = Vec::new();
    std::io::stdin().lock().read_to_end(&mut raw)?;
    let mut keys = Vec::new();
    let raw = raw.strip_suffix(b"\n").unwrap_or(&raw);
    if !raw.is_empty() {
        for line in raw.split(|&b| b == b'\n') {
            keys.push(miner.add_bytes(line));
        }
    }
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let mut texts: std::collections::HashMap<u32, String> = std::collections::HashMap::new();
    for k in keys {
        let id = miner.template_of(k);
        let text = texts.entry(id).or_insert_with(|| miner.template_text(k));
        writeln!(out, "{id}\t{text}")?;
    }
    out.flush()
}
