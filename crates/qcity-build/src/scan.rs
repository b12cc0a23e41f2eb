//! Finding projects by their build markers, and the plan for each: the toolchain, the
//! install, build and test commands, and why.
//!
//! The markers and default commands are those of GitHub's dependency graph and starter
//! workflows: a lockfile picks its installer (`pnpm-lock.yaml` → pnpm, `uv.lock` → uv…), a
//! wrapper in the project wins over a global tool (`./gradlew`, `./mvnw`), and a workspace
//! root (Cargo `[workspace]`, npm `workspaces`, `go.work`) is one project with its members.
//! Dependency and output folders (`node_modules`, `target`, `.git`…) are not searched.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// Folders never searched: dependencies, build output, version control, virtualenvs.
const SKIP: &[&str] = &[
    ".git",
    ".hg",
    "node_modules",
    "target",
    "vendor",
    "dist",
    "build",
    ".venv",
    "venv",
    "__pycache__",
    ".tox",
    ".gradle",
];

/// One command of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// install, build or test.
    pub name: &'static str,
    pub argv: Vec<String>,
    /// Which marker chose it.
    pub why: String,
}

/// A project and what building it takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Project {
    pub dir: PathBuf,
    /// cargo, npm, pnpm, yarn, python, go, maven, gradle, cmake, dotnet, make.
    pub ecosystem: &'static str,
    /// The program the steps need.
    pub toolchain: String,
    /// The toolchain is not on PATH (nor in the project): reported, not run.
    pub missing: bool,
    pub steps: Vec<Step>,
    /// Where its artifacts are found after a build (relative to `dir`), when known.
    pub artifacts: Option<&'static str>,
}

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

fn step(name: &'static str, words: &[&str], why: impl Into<String>) -> Step {
    Step {
        name,
        argv: argv(words),
        why: why.into(),
    }
}

fn has(dir: &Path, file: &str) -> bool {
    dir.join(file).is_file()
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_default()
}

/// A TOML table header on a line of its own (`[workspace]`), without a TOML parser: the
/// markers need no more.
fn toml_has_table(text: &str, table: &str) -> bool {
    text.lines().any(|l| l.trim() == format!("[{table}]"))
}

fn toolchain_missing(dir: &Path, program: &str) -> bool {
    if program.starts_with("./") {
        return !dir.join(program).is_file();
    }
    !qcity_platform::path::on_path(program)
}

fn project(
    dir: &Path,
    ecosystem: &'static str,
    toolchain: &str,
    steps: Vec<Step>,
    artifacts: Option<&'static str>,
) -> Project {
    Project {
        dir: dir.to_path_buf(),
        ecosystem,
        toolchain: toolchain.to_string(),
        missing: toolchain_missing(dir, toolchain),
        steps,
        artifacts,
    }
}

fn cargo(dir: &Path) -> Option<Project> {
    if !has(dir, "Cargo.toml") {
        return None;
    }
    // With a lockfile the build uses exactly it, as CI would.
    let (build, test, why): (&[&str], &[&str], &str) = if has(dir, "Cargo.lock") {
        (
            &["cargo", "build", "--locked"],
            &["cargo", "test", "--locked"],
            "Cargo.toml and Cargo.lock",
        )
    } else {
        (&["cargo", "build"], &["cargo", "test"], "Cargo.toml")
    };
    Some(project(
        dir,
        "cargo",
        "cargo",
        vec![step("build", build, why), step("test", test, why)],
        Some("target/debug"),
    ))
}

fn node(dir: &Path) -> Option<Project> {
    if !has(dir, "package.json") {
        return None;
    }
    let pkg: serde_json::Value = serde_json::from_str(&read(dir, "package.json")).ok()?;
    let script = |name: &str| pkg["scripts"][name].is_string();
    let deps = ["dependencies", "devDependencies", "optionalDependencies"]
        .iter()
        .any(|k| pkg[k].as_object().is_some_and(|o| !o.is_empty()));
    let (ecosystem, tool, install, why): (&'static str, &str, Vec<&str>, &str) =
        if has(dir, "pnpm-lock.yaml") {
            (
                "pnpm",
                "pnpm",
                vec!["pnpm", "install", "--frozen-lockfile"],
                "pnpm-lock.yaml",
            )
        } else if has(dir, "yarn.lock") {
            (
                "yarn",
                "yarn",
                vec!["yarn", "install", "--frozen-lockfile"],
                "yarn.lock",
            )
        } else if has(dir, "package-lock.json") {
            ("npm", "npm", vec!["npm", "ci"], "package-lock.json")
        } else {
            (
                "npm",
                "npm",
                vec!["npm", "install", "--no-audit", "--no-fund"],
                "package.json without a lockfile",
            )
        };
    let mut steps = Vec::new();
    if deps {
        steps.push(step(
            "install",
            &install,
            format!("{why}, with dependencies"),
        ));
    }
    if script("build") {
        steps.push(step("build", &[tool, "run", "build"], "scripts.build"));
    }
    if script("test") {
        steps.push(step("test", &[tool, "test"], "scripts.test"));
    }
    Some(project(dir, ecosystem, tool, steps, Some("dist")))
}

fn python(dir: &Path) -> Option<Project> {
    let markers = ["pyproject.toml", "requirements.txt", "setup.py", "uv.lock"];
    let found: Vec<&str> = markers.iter().copied().filter(|m| has(dir, m)).collect();
    if found.is_empty() {
        return None;
    }
    let mut steps = Vec::new();
    let tool;
    if has(dir, "uv.lock") {
        tool = "uv";
        steps.push(step("install", &["uv", "sync"], "uv.lock"));
        steps.push(step("test", &["uv", "run", "pytest"], "uv.lock"));
    } else if has(dir, "poetry.lock") {
        tool = "poetry";
        steps.push(step("install", &["poetry", "install"], "poetry.lock"));
        steps.push(step("test", &["poetry", "run", "pytest"], "poetry.lock"));
    } else {
        tool = "python3";
        if has(dir, "requirements.txt") {
            steps.push(step(
                "install",
                &["python3", "-m", "pip", "install", "-r", "requirements.txt"],
                "requirements.txt",
            ));
        }
        // pytest when the project names it; otherwise the standard library's runner.
        let names_pytest = ["pyproject.toml", "requirements.txt", "setup.cfg"]
            .iter()
            .any(|f| read(dir, f).contains("pytest"));
        if names_pytest {
            steps.push(step(
                "test",
                &["python3", "-m", "pytest"],
                "pytest named in the project",
            ));
        } else {
            steps.push(step(
                "test",
                &["python3", "-m", "unittest", "discover"],
                format!("{} (no pytest named: unittest)", found.join(", ")),
            ));
        }
    }
    Some(project(dir, "python", tool, steps, None))
}

fn go(dir: &Path) -> Option<Project> {
    if !has(dir, "go.mod") && !has(dir, "go.work") {
        return None;
    }
    Some(project(
        dir,
        "go",
        "go",
        vec![
            step("build", &["go", "build", "./..."], "go.mod"),
            step("test", &["go", "test", "./..."], "go.mod"),
        ],
        None,
    ))
}

fn maven(dir: &Path) -> Option<Project> {
    if !has(dir, "pom.xml") {
        return None;
    }
    let (tool, why) = if has(dir, "mvnw") {
        ("./mvnw", "pom.xml and the mvnw wrapper")
    } else {
        ("mvn", "pom.xml")
    };
    Some(project(
        dir,
        "maven",
        tool,
        vec![step("build", &[tool, "-B", "package"], why)],
        Some("target"),
    ))
}

fn gradle(dir: &Path) -> Option<Project> {
    if !has(dir, "build.gradle") && !has(dir, "build.gradle.kts") {
        return None;
    }
    let (tool, why) = if has(dir, "gradlew") {
        ("./gradlew", "build.gradle and the gradlew wrapper")
    } else {
        ("gradle", "build.gradle")
    };
    Some(project(
        dir,
        "gradle",
        tool,
        vec![step("build", &[tool, "build"], why)],
        Some("build/libs"),
    ))
}

fn cmake(dir: &Path) -> Option<Project> {
    if !has(dir, "CMakeLists.txt") {
        return None;
    }
    Some(project(
        dir,
        "cmake",
        "cmake",
        vec![
            step(
                "install",
                &["cmake", "-B", "build", "-DCMAKE_BUILD_TYPE=Release"],
                "CMakeLists.txt",
            ),
            step(
                "build",
                &["cmake", "--build", "build", "--config", "Release"],
                "CMakeLists.txt",
            ),
            step(
                "test",
                &["ctest", "--test-dir", "build", "-C", "Release"],
                "CMakeLists.txt",
            ),
        ],
        None,
    ))
}

fn dotnet(dir: &Path) -> Option<Project> {
    let marker = std::fs::read_dir(dir).ok()?.flatten().find_map(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        [".sln", ".csproj", ".fsproj", ".vbproj"]
            .iter()
            .any(|x| name.ends_with(x))
            .then_some(name)
    })?;
    Some(project(
        dir,
        "dotnet",
        "dotnet",
        vec![
            step("install", &["dotnet", "restore"], marker.clone()),
            step(
                "build",
                &["dotnet", "build", "--no-restore"],
                marker.clone(),
            ),
            step("test", &["dotnet", "test", "--no-build"], marker),
        ],
        None,
    ))
}

fn make(dir: &Path) -> Option<Project> {
    if !has(dir, "Makefile") {
        return None;
    }
    let text = read(dir, "Makefile");
    let target = |t: &str| text.lines().any(|l| l.starts_with(&format!("{t}:")));
    let mut steps = vec![step("build", &["make"], "Makefile")];
    for t in ["test", "check"] {
        if target(t) {
            steps.push(step("test", &["make", t], format!("Makefile target `{t}`")));
            break;
        }
    }
    Some(project(dir, "make", "make", steps, None))
}

/// The ecosystem's project at `dir`, if it has a marker; the first that matches wins (a
/// Makefile beside a Cargo.toml is the Rust project's helper, not another project).
fn detect(dir: &Path) -> Option<Project> {
    cargo(dir)
        .or_else(|| node(dir))
        .or_else(|| go(dir))
        .or_else(|| maven(dir))
        .or_else(|| gradle(dir))
        .or_else(|| dotnet(dir))
        .or_else(|| cmake(dir))
        .or_else(|| python(dir))
        .or_else(|| make(dir))
}

/// Whether a project at `dir` takes in the projects of its ecosystem below it.
fn is_workspace_root(p: &Project) -> bool {
    match p.ecosystem {
        "cargo" => toml_has_table(&read(&p.dir, "Cargo.toml"), "workspace"),
        "npm" | "pnpm" | "yarn" => {
            has(&p.dir, "pnpm-workspace.yaml")
                || serde_json::from_str::<serde_json::Value>(&read(&p.dir, "package.json"))
                    .is_ok_and(|v| !v["workspaces"].is_null())
        }
        "go" => has(&p.dir, "go.work"),
        "maven" | "gradle" => true,
        _ => false,
    }
}

fn same_family(a: &str, b: &str) -> bool {
    fn family(e: &str) -> &str {
        match e {
            "npm" | "pnpm" | "yarn" => "node",
            other => other,
        }
    }
    family(a) == family(b)
}

/// Every project under `root`, sorted by path.
pub fn scan(root: &Path) -> Vec<Project> {
    let mut found = Vec::new();
    // (dir, the workspace roots above it)
    let mut stack: Vec<(PathBuf, Vec<&'static str>)> = vec![(root.to_path_buf(), Vec::new())];
    while let Some((dir, workspaces)) = stack.pop() {
        let mut inherited = workspaces.clone();
        if let Some(p) = detect(&dir) {
            let covered = workspaces.iter().any(|w| same_family(w, p.ecosystem));
            if !covered {
                if is_workspace_root(&p) {
                    inherited.push(p.ecosystem);
                }
                found.push(p);
            }
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if SKIP.contains(&name.as_ref()) || name.starts_with('.') {
                continue;
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push((e.path(), inherited.clone()));
            }
        }
    }
    found.sort_by(|a, b| a.dir.cmp(&b.dir));
    found
}
