//! Embeds the dashboard (`ui/dist`, built by `make ui`) into the binary, so running QCity needs
//! no Node. Without a build, a one-page notice says how to make one.

use std::fmt::Write;
use std::path::{Path, PathBuf};

fn main() {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    let mut files = Vec::new();
    collect(&dist, &mut files);
    files.sort();
    let mut out = String::from("pub static ASSETS: &[(&str, &[u8])] = &[\n");
    if files.iter().any(|f| f.ends_with("index.html")) {
        for f in &files {
            println!("cargo:rerun-if-changed={}", f.display());
            let rel = f.strip_prefix(&dist).expect("under dist");
            let _ = writeln!(
                out,
                "    ({:?}, include_bytes!({:?})),",
                format!("/{}", rel.to_string_lossy()),
                f.canonicalize().expect("a file that exists")
            );
        }
    } else {
        println!("cargo:warning=ui/dist is missing: the dashboard is not embedded (run `make ui`)");
        out.push_str(
            "    (\"/index.html\", b\"<!doctype html><title>QCity</title><p>The dashboard was not built into this binary: run <code>make ui</code>, then build QCity again. The API works without it.\"),\n",
        );
    }
    out.push_str("];\n");
    let dest =
        PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("ui_assets.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            collect(&path, files);
        } else {
            files.push(path);
        }
    }
}
