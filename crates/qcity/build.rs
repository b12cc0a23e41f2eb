//! Link-time choices for the `qcity` binary.

use std::env;
use std::path::Path;
use std::process::Command;

fn main() {
    let linux_gnu = env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    if linux_gnu {
        // The binary is position-independent (ASLR), so the loader patches ~50,000 pointers
        // at start-up. As RELA entries that table is 1.2 MB the loader reads and the daemon
        // keeps mapped for its whole life; packed as RELR (glibc 2.36+, lld or binutils
        // 2.38+) it is a few KB. Older linkers warn and ignore the flag.
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    let order = Path::new(env!("CARGO_MANIFEST_DIR")).join("link-order.txt");
    println!("cargo:rerun-if-changed={}", order.display());
    if env::var("PROFILE").as_deref() == Ok("release") && links_with_rust_lld() {
        // The functions a daemon runs side by side (bench/link_order.py lists them): the
        // kernel maps code in 64 KiB windows around each touched page, so scattered over
        // 12 MB they kept ~8 MiB resident in an idle daemon. Names the list has that this
        // build lacks (code changed since) are skipped: a stale list costs locality only.
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}

/// Rust 1.90+ links x86_64 Linux binaries with its own lld, which reads an ordering file;
/// GNU ld would refuse the flag. A build that chose its own linker keeps it unordered.
fn links_with_rust_lld() -> bool {
    if env::var("TARGET").as_deref() != Ok("x86_64-unknown-linux-gnu") {
        return false;
    }
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if flags.contains("linker")
        || env::var_os("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER").is_some()
    {
        return false;
    }
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = Command::new(rustc).arg("--version").output() else {
        return false;
    };
    // "rustc 1.95.0 (…)"
    let version = String::from_utf8_lossy(&out.stdout);
    let minor = version
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.split('.').nth(1))
        .and_then(|m| m.parse::<u32>().ok());
    minor.is_some_and(|m| m >= 90)
}
