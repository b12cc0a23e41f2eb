//! The build driver on small real projects made here: a Rust binary, a Node build script, a
//! Python project with a test, a Cargo workspace, a CMake and a Go project, a failing Makefile.

use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Duration;

use qcity_build::{RunOptions, append_report, lock_path, report_path, scan};
use sha2::{Digest, Sha256};

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn projects(root: &Path) {
    write(
        root,
        "rusty/Cargo.toml",
        "[package]\nname = \"rusty\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    );
    write(
        root,
        "rusty/src/main.rs",
        "fn main() { println!(\"hi\"); }\n",
    );
    write(root, "rusty/Makefile", "all:\n\tcargo build\n");
    write(root, "ws/Cargo.toml", "[workspace]\nmembers = [\"a\"]\n");
    write(
        root,
        "ws/a/Cargo.toml",
        "[package]\nname = \"a\"\nversion = \"0.1.0\"\n",
    );
    write(
        root,
        "web/package.json",
        r#"{"name": "web", "scripts": {"build": "node build.js"}}"#,
    );
    write(
        root,
        "web/build.js",
        "require('fs').mkdirSync('dist', {recursive: true}); require('fs').writeFileSync('dist/app.js', 'console.log(1)\\n');\n",
    );
    write(
        root,
        "web/node_modules/dep/package.json",
        r#"{"name": "dep"}"#,
    );
    write(root, "py/pyproject.toml", "[project]\nname = \"calc\"\n");
    write(
        root,
        "py/test_calc.py",
        "import unittest\nclass T(unittest.TestCase):\n    def test_add(self):\n        self.assertEqual(1 + 1, 2)\n",
    );
    write(root, "gosvc/go.mod", "module example.com/gosvc\n");
    write(root, "native/CMakeLists.txt", "project(native)\n");
}

#[test]
fn scan_finds_each_project_by_its_markers_with_its_plan() {
    let tmp = tempfile::tempdir().unwrap();
    projects(tmp.path());
    let found = scan(tmp.path());
    let by_dir: Vec<(String, &str)> = found
        .iter()
        .map(|p| {
            (
                p.dir
                    .strip_prefix(tmp.path())
                    .unwrap()
                    .display()
                    .to_string(),
                p.ecosystem,
            )
        })
        .collect();
    // The workspace member and the dependency under node_modules are not projects of their
    // own; the Makefile beside Cargo.toml is the Rust project's.
    assert_eq!(
        by_dir,
        [
            ("gosvc".to_string(), "go"),
            ("native".to_string(), "cmake"),
            ("py".to_string(), "python"),
            ("rusty".to_string(), "cargo"),
            ("web".to_string(), "npm"),
            ("ws".to_string(), "cargo"),
        ]
    );
    let get = |eco: &str| found.iter().find(|p| p.ecosystem == eco).unwrap();
    let web = get("npm");
    let steps: Vec<(&str, String)> = web
        .steps
        .iter()
        .map(|s| (s.name, s.argv.join(" ")))
        .collect();
    // No dependencies: nothing to install; no test script: no test.
    assert_eq!(steps, [("build", "npm run build".to_string())]);
    let py = get("python");
    assert_eq!(py.steps[0].argv.join(" "), "python3 -m unittest discover");
    assert!(py.steps[0].why.contains("pyproject.toml"), "{:?}", py.steps);
    let go = get("go");
    assert_eq!(go.missing, !qcity_platform::path::on_path("go"));
    assert_eq!(get("cmake").steps.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_builds_for_real_records_checksums_and_respects_a_held_lock() {
    let tmp = tempfile::tempdir().unwrap();
    projects(tmp.path());
    let data = tmp.path().join("data");
    let opts = RunOptions {
        backoff: Duration::from_millis(50),
        ..RunOptions::new(&data)
    };
    let found = scan(tmp.path());
    let mut records = Vec::new();
    for p in found
        .iter()
        .filter(|p| ["rusty", "web", "py"].iter().any(|d| p.dir.ends_with(d)))
    {
        records.push(qcity_build::run::run(p, &opts).await.unwrap());
    }
    for r in &records {
        assert_eq!(r.outcome, "built", "{r:#?}");
    }
    append_report(&data, &records).unwrap();

    let report: Vec<qcity_build::BuildRecord> =
        serde_json::from_slice(&std::fs::read(report_path(&data)).unwrap()).unwrap();
    assert_eq!(report.len(), 3);
    let all: Vec<&qcity_build::run::Artifact> = report.iter().flat_map(|r| &r.artifacts).collect();
    for name in ["target/debug/rusty", "dist/app.js"] {
        let a = all
            .iter()
            .find(|a| a.path.ends_with(name))
            .unwrap_or_else(|| panic!("no artifact {name}: {all:#?}"));
        let bytes = std::fs::read(&a.path).unwrap();
        assert_eq!(a.sha256, hex::encode(Sha256::digest(&bytes)));
    }
    let py = report.iter().find(|r| r.ecosystem == "python").unwrap();
    assert!(py.steps[0].output_tail.contains("OK"), "{py:#?}");

    // Appending keeps what was there.
    append_report(&data, &records[..1]).unwrap();
    let report: Vec<qcity_build::BuildRecord> =
        serde_json::from_slice(&std::fs::read(report_path(&data)).unwrap()).unwrap();
    assert_eq!(report.len(), 4);

    // Another run holds the Rust project: it is skipped, not built twice.
    let rusty = found
        .iter()
        .find(|p| p.ecosystem == "cargo" && p.dir.ends_with("rusty"))
        .unwrap();
    let path = lock_path(&data, &rusty.dir);
    let held = std::fs::File::open(&path).unwrap();
    // SAFETY: flock on a descriptor we own.
    assert_eq!(
        unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
        0
    );
    let r = qcity_build::run::run(rusty, &opts).await.unwrap();
    assert_eq!(r.outcome, "locked");
    assert!(r.steps.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_step_is_retried_with_backoff_then_reported_failed() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "broken/Makefile",
        "all:\n\techo try >> attempts.log; false\n",
    );
    let data = tmp.path().join("data");
    let opts = RunOptions {
        retries: 2,
        backoff: Duration::from_millis(20),
        ..RunOptions::new(&data)
    };
    let found = scan(tmp.path());
    assert_eq!(found.len(), 1);
    let r = qcity_build::run::run(&found[0], &opts).await.unwrap();
    assert_eq!(r.outcome, "failed");
    assert_eq!(r.steps[0].attempts, 3);
    let tries = std::fs::read_to_string(tmp.path().join("broken/attempts.log")).unwrap();
    assert_eq!(tries.lines().count(), 3);
    assert!(r.artifacts.is_empty());
}
