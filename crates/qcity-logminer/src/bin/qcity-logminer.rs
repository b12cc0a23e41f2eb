//! The miner as a filter, for `../shared/bench/logparse/score.py`: reads log lines on stdin,
//! and at EOF writes `TEMPLATE_ID<TAB>TEMPLATE` for each line, in order (the contract in the
//! scorer's docstring). Ids are written at EOF so each line gets its template's final id,
//! after the merges that later lines caused. One configuration for every source: the
//! `LOGPARSE_*` hints are ignored.
//!
//! Lines are mined as they arrive, while the writer is still sending the rest, so mining
//! overlaps the transfer.

use std::io::{ErrorKind, Read, Write};

fn main() -> std::io::Result<()> {
    let mut miner = qcity_logminer::Miner::default();
    let mut keys: Vec<u32> = Vec::new();
    let mut stdin = std::io::stdin().lock();
    let mut buf = vec![0u8; 1 << 20];
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            // A line longer than the buffer: grow it.
            buf.resize(buf.len() * 2, 0);
        }
        let n = match stdin.read(&mut buf[filled..]) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            if filled > 0 {
                keys.push(miner.add_bytes(&buf[..filled]));
            }
            break;
        }
        let end = filled + n;
        let mut start = 0;
        while let Some(nl) = memchr::memchr(b'\n', &buf[start..end]) {
            keys.push(miner.add_bytes(&buf[start..start + nl]));
            start += nl + 1;
        }
        buf.copy_within(start..end, 0);
        filled = end - start;
    }

    // Each key's output line, made once.
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut out = Vec::with_capacity(keys.len() * 64);
    for &k in &keys {
        let i = k as usize;
        if i >= lines.len() {
            lines.resize(i + 1, Vec::new());
        }
        if lines[i].is_empty() {
            let id = miner.template_of(k);
            lines[i] = format!("{id}\t{}\n", miner.template_text(k)).into_bytes();
        }
        out.extend_from_slice(&lines[i]);
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&out)?;
    stdout.flush()
}
