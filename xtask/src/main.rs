//! Project jobs: `cargo xtask <job>`.
//!
//! - `build-web`: builds `crates/wasm` for wasm32 twice (WebGPU+CPU into `pkg/gpu`, CPU-only
//!   into `pkg/cpu`), runs wasm-bindgen (the version pinned by the crate, installed under the
//!   target directory when missing) without the name section, and records `pkg/SOURCE_HASH`.
//!   Then `build-train`.
//! - `build-train`: builds `crates/train-wasm` (the trainer, for the page's training panel) into
//!   `pkg/train` the same way and records `pkg/train/SOURCE_HASH`.
//! - `check-pkg`: fails when `pkg/` (the three builds) is missing or was built from other
//!   sources (CI runs it).
//! - `serve [ARGS]`: `build-web` when `pkg/` is missing or stale, then `leadladder serve ARGS`.
//! - `pack-widget`: the npm package `leadladder` (`packages/widget/` with `web/`'s client, worker
//!   and widget, both wasm builds from `pkg/` and the demo model), staged under
//!   `target/widget/package/` and packed with `npm pack` into `target/widget/leadladder-VERSION.tgz`.
//! - `qwen-fixture [--out DIR] [--layers N]`: a Qwen2.5-0.5B-shaped Hugging Face folder with
//!   random weights and the real tokenizer (see `qwen_fixture.rs`).
//!
//! Must not be a dependency of anything, or hold project logic: it only runs cargo,
//! wasm-bindgen and the `leadladder` binary, and writes test fixtures.

mod qwen_fixture;

use std::collections::{BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

/// The wasm-bindgen version `crates/wasm` pins (the CLI must match it exactly).
const WASM_BINDGEN: &str = "0.2.130";
const TARGET: &str = "wasm32-unknown-unknown";
const PROFILE: &str = "wasm-release";
/// The builds: output folder and cargo features.
const BUILDS: [(&str, &str); 2] = [("cpu", ""), ("gpu", "webgpu")];
/// Source folders whose code ends up in the wasm.
const SOURCE_DIRS: [&str; 4] = [
    "crates/core",
    "crates/bundle",
    "crates/model",
    "crates/wasm",
];
/// Everything about how the build is made, so a change to it changes the hash too.
/// No wasm-opt: Debian's binaryen (108) rewrites wasm-bindgen's externref table into a module
/// the browser rejects ("WebAssembly.Table.set(): Argument 1 is invalid for table").
const BUILD_SETTINGS: &str = "wasm-bindgen 0.2.130 --target web --remove-name-section; profile wasm-release; builds gpu=webgpu cpu=";

/// The training build (`pkg/train/`): the trainer's from-scratch presets for the page's
/// training panel, loaded only when the panel opens. Its own hash file, so that the scoring
/// builds and this one are rebuilt only when their own sources change.
const TRAIN_OUT: &str = "train";
const TRAIN_PACKAGE: &str = "leadladder-train-wasm";
const TRAIN_NAME: &str = "leadladder_train_wasm";
const TRAIN_SOURCE_DIRS: [&str; 4] = [
    "crates/core",
    "crates/bundle",
    "trainer",
    "crates/train-wasm",
];
const TRAIN_SETTINGS: &str = "wasm-bindgen 0.2.130 --target web --remove-name-section; profile wasm-release; build train=leadladder-train-wasm";

/// The workspace this command was run in, found from the current directory at run time (not
/// from where this binary was compiled: a target directory shared by several checkouts may hand
/// one checkout's xtask binary to another).
fn root() -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = output(Command::new(cargo).args([
        "locate-project",
        "--workspace",
        "--message-format",
        "plain",
    ]))?;
    let root = Path::new(manifest.trim())
        .parent()
        .map(Path::to_path_buf)
        .context("the workspace manifest has no folder")?;
    if !root.join("xtask/Cargo.toml").is_file() {
        bail!(
            "{} is not the leadladder workspace (no xtask/Cargo.toml): run `cargo xtask` inside it",
            root.display()
        );
    }
    Ok(root)
}

fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("$ {cmd:?}");
    let status = cmd.status().with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed ({status})");
    }
    Ok(())
}

fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("starting {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if !matches!(name, "tests" | "benches" | "target") {
                collect_files(&path, out)?;
            }
        } else if name.ends_with(".rs") || name == "Cargo.toml" {
            out.push(path);
        }
    }
    Ok(())
}

/// The resolved dependency graph of `leadladder-wasm` for wasm32 (names, versions, sources,
/// features), from `cargo metadata`, so an unrelated change to Cargo.lock does not count.
fn dependency_fingerprint(root: &Path, package: &str) -> Result<String> {
    let text = output(Command::new(env!("CARGO")).current_dir(root).args([
        "metadata",
        "--format-version",
        "1",
        "--locked",
        "--filter-platform",
        TARGET,
    ]))?;
    let meta: serde_json::Value = serde_json::from_str(&text)?;
    let nodes = meta["resolve"]["nodes"]
        .as_array()
        .context("cargo metadata has no resolve graph")?;
    let start = nodes
        .iter()
        .find(|n| n["id"].as_str().is_some_and(|id| id.contains(package)))
        .with_context(|| format!("{package} is not in the workspace graph"))?;
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from([start]);
    let mut lines = BTreeSet::new();
    while let Some(node) = queue.pop_front() {
        let id = node["id"].as_str().unwrap_or_default().to_string();
        if !seen.insert(id.clone()) {
            continue;
        }
        // Workspace paths differ between clones: keep only the package part of local ids.
        let shown = match id.split_once('#') {
            Some((src, pkg)) if src.starts_with("path+") => format!("local {pkg}"),
            _ => id.clone(),
        };
        lines.insert(format!("{shown} {}", node["features"]));
        for dep in node["deps"].as_array().into_iter().flatten() {
            let Some(dep_id) = dep["pkg"].as_str() else {
                continue;
            };
            let normal = dep["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|k| k["kind"].is_null() || k["kind"] == "build");
            if normal && let Some(n) = nodes.iter().find(|n| n["id"] == dep_id) {
                queue.push_back(n);
            }
        }
    }
    Ok(lines.into_iter().collect::<Vec<_>>().join("\n"))
}

/// The root manifest as it shapes a build: without the `[workspace] members` list, so adding a
/// workspace member (another crate, another build) does not make the other builds stale. What a
/// member changes in a build's dependencies shows in the dependency fingerprint.
fn root_manifest_for_hash(text: &str) -> String {
    let mut out = String::new();
    let mut in_members = false;
    for line in text.lines() {
        let t = line.trim();
        if !in_members && t.starts_with("members") && t.contains('[') {
            in_members = !t.contains(']');
            out.push_str("members = <not hashed>\n");
            continue;
        }
        if in_members {
            in_members = !t.starts_with(']');
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Hash of everything that shapes the scoring builds (`pkg/gpu`, `pkg/cpu`).
fn source_hash(root: &Path) -> Result<String> {
    hash_sources(
        root,
        &SOURCE_DIRS,
        BUILD_SETTINGS,
        "crates/wasm#leadladder-wasm@",
    )
}

/// Hash of the source folders `dirs` (Rust files and manifests), the root manifest (less its
/// members list), `.cargo/config.toml`, the build settings and the resolved dependencies of the
/// package whose id contains `package`.
fn hash_sources(root: &Path, dirs: &[&str], settings: &str, package: &str) -> Result<String> {
    let mut files = Vec::new();
    for dir in dirs {
        collect_files(&root.join(dir), &mut files)?;
    }
    for extra in ["Cargo.toml", ".cargo/config.toml"] {
        files.push(root.join(extra));
    }
    files.sort();
    let mut h = Sha256::new();
    h.update(settings.as_bytes());
    for f in &files {
        let rel = f
            .strip_prefix(root)
            .unwrap_or(f)
            .to_string_lossy()
            .replace('\\', "/");
        let mut bytes = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
        if rel == "Cargo.toml" {
            bytes = root_manifest_for_hash(&String::from_utf8_lossy(&bytes)).into_bytes();
        }
        h.update(rel.as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    h.update(dependency_fingerprint(root, package)?.as_bytes());
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Hash of everything that shapes the training build (`pkg/train`).
fn train_source_hash(root: &Path) -> Result<String> {
    hash_sources(
        root,
        &TRAIN_SOURCE_DIRS,
        TRAIN_SETTINGS,
        "crates/train-wasm#leadladder-train-wasm@",
    )
}

fn wasm_bindgen(root: &Path) -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("WASM_BINDGEN") {
        return Ok(PathBuf::from(p));
    }
    let tools = target_dir(root).join("tools");
    let bin = tools.join("bin").join("wasm-bindgen");
    let version_ok = |b: &Path| {
        Command::new(b)
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).contains(WASM_BINDGEN))
            .unwrap_or(false)
    };
    if version_ok(Path::new("wasm-bindgen")) {
        return Ok(PathBuf::from("wasm-bindgen"));
    }
    if !version_ok(&bin) {
        let install = |locked: bool| {
            let mut cmd = Command::new(env!("CARGO"));
            cmd.arg("install");
            if locked {
                cmd.arg("--locked");
            }
            cmd.args([
                "wasm-bindgen-cli",
                "--version",
                &format!("={WASM_BINDGEN}"),
                "--root",
            ])
            .arg(&tools);
            run(&mut cmd)
        };
        // The CLI's own lock file can name a dependency release that a registry mirror lacks;
        // then resolve afresh within the CLI's semver ranges.
        if let Err(e) = install(true) {
            eprintln!("{e:#}; retrying without --locked");
            install(false)?;
        }
    }
    Ok(bin)
}

fn ensure_target() -> Result<()> {
    let installed =
        output(Command::new("rustup").args(["target", "list", "--installed"])).unwrap_or_default();
    if !installed.lines().any(|l| l.trim() == TARGET) {
        run(Command::new("rustup").args(["target", "add", TARGET]))?;
    }
    Ok(())
}

fn build_web(root: &Path) -> Result<()> {
    ensure_target()?;
    let bindgen = wasm_bindgen(root)?;
    // Hashed before building, and checked after: an edit during the build would otherwise be
    // recorded as built.
    let hash = source_hash(root)?;
    let target = target_dir(root);
    let wasm = target
        .join(TARGET)
        .join(PROFILE)
        .join("leadladder_wasm.wasm");
    for (name, features) in BUILDS {
        let started = std::time::Instant::now();
        let mut cargo = Command::new(env!("CARGO"));
        cargo.current_dir(root).args([
            "build",
            "--locked",
            "-p",
            "leadladder-wasm",
            "--target",
            TARGET,
            "--profile",
            PROFILE,
        ]);
        if !features.is_empty() {
            cargo.args(["--features", features]);
        }
        run(&mut cargo)?;
        let out = root.join("pkg").join(name);
        if out.exists() {
            std::fs::remove_dir_all(&out)?;
        }
        run(Command::new(&bindgen)
            .arg(&wasm)
            .args([
                "--target",
                "web",
                "--remove-name-section",
                "--out-name",
                "leadladder_wasm",
                "--out-dir",
            ])
            .arg(&out))?;
        let size = std::fs::metadata(out.join("leadladder_wasm_bg.wasm"))?.len();
        eprintln!(
            "pkg/{name}: {:.1} MB wasm, built in {:.0} s",
            size as f64 / 1e6,
            started.elapsed().as_secs_f64()
        );
    }
    if source_hash(root)? != hash {
        bail!("the sources changed during the build: run `cargo xtask build-web` again");
    }
    std::fs::write(root.join("pkg/SOURCE_HASH"), hash + "\n")?;
    eprintln!("wrote pkg/SOURCE_HASH");
    Ok(())
}

/// Builds `pkg/train/` and records `pkg/train/SOURCE_HASH`.
fn build_train(root: &Path) -> Result<()> {
    ensure_target()?;
    let bindgen = wasm_bindgen(root)?;
    let hash = train_source_hash(root)?;
    let started = std::time::Instant::now();
    run(Command::new(env!("CARGO")).current_dir(root).args([
        "build",
        "--locked",
        "-p",
        TRAIN_PACKAGE,
        "--target",
        TARGET,
        "--profile",
        PROFILE,
    ]))?;
    let wasm = target_dir(root)
        .join(TARGET)
        .join(PROFILE)
        .join(format!("{TRAIN_NAME}.wasm"));
    let out = root.join("pkg").join(TRAIN_OUT);
    if out.exists() {
        std::fs::remove_dir_all(&out)?;
    }
    run(Command::new(&bindgen)
        .arg(&wasm)
        .args([
            "--target",
            "web",
            "--remove-name-section",
            "--out-name",
            TRAIN_NAME,
            "--out-dir",
        ])
        .arg(&out))?;
    let size = std::fs::metadata(out.join(format!("{TRAIN_NAME}_bg.wasm")))?.len();
    eprintln!(
        "pkg/{TRAIN_OUT}: {:.1} MB wasm, built in {:.0} s",
        size as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    if train_source_hash(root)? != hash {
        bail!("the sources changed during the build: run `cargo xtask build-train` again");
    }
    std::fs::write(out.join("SOURCE_HASH"), hash + "\n")?;
    eprintln!("wrote pkg/{TRAIN_OUT}/SOURCE_HASH");
    Ok(())
}

fn check_train_pkg(root: &Path) -> Result<()> {
    let dir = root.join("pkg").join(TRAIN_OUT);
    let recorded = std::fs::read_to_string(dir.join("SOURCE_HASH")).with_context(|| {
        format!("pkg/{TRAIN_OUT}/SOURCE_HASH is missing: run `cargo xtask build-train`")
    })?;
    for file in [format!("{TRAIN_NAME}.js"), format!("{TRAIN_NAME}_bg.wasm")] {
        let p = dir.join(file);
        if !p.is_file() {
            bail!("{} is missing: run `cargo xtask build-train`", p.display());
        }
    }
    let now = train_source_hash(root)?;
    if recorded.trim() != now {
        bail!(
            "pkg/{TRAIN_OUT}/ was built from other sources than these (recorded {}, now {now}): run `cargo xtask build-train` and commit pkg/{TRAIN_OUT}/",
            recorded.trim()
        );
    }
    eprintln!("pkg/{TRAIN_OUT}/ matches the sources ({now})");
    Ok(())
}

/// Both checks, each reported, so a stale scoring build does not hide the training build's state.
fn check_pkg(root: &Path) -> Result<()> {
    match (check_scoring_pkg(root), check_train_pkg(root)) {
        (Ok(()), Ok(())) => Ok(()),
        (Err(e), Ok(())) | (Ok(()), Err(e)) => Err(e),
        (Err(a), Err(b)) => bail!("{a:#}\n{b:#}"),
    }
}

fn check_scoring_pkg(root: &Path) -> Result<()> {
    let recorded = std::fs::read_to_string(root.join("pkg/SOURCE_HASH"))
        .context("pkg/SOURCE_HASH is missing: run `cargo xtask build-web`")?;
    for (name, _) in BUILDS {
        for file in ["leadladder_wasm.js", "leadladder_wasm_bg.wasm"] {
            let p = root.join("pkg").join(name).join(file);
            if !p.is_file() {
                bail!("{} is missing: run `cargo xtask build-web`", p.display());
            }
        }
    }
    let now = source_hash(root)?;
    if recorded.trim() != now {
        bail!(
            "pkg/ was built from other sources than these (recorded {}, now {now}): run `cargo xtask build-web` and commit pkg/",
            recorded.trim()
        );
    }
    eprintln!("pkg/ matches the sources ({now})");
    Ok(())
}

/// The workspace version (`[workspace.package] version` in Cargo.toml).
fn workspace_version(root: &Path) -> Result<String> {
    let text = std::fs::read_to_string(root.join("Cargo.toml"))?;
    let mut in_package = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[workspace.package]";
        } else if in_package && let Some(rest) = line.strip_prefix("version") {
            let value = rest.trim_start().trim_start_matches('=').trim();
            return Ok(value.trim_matches('"').to_string());
        }
    }
    bail!("Cargo.toml has no [workspace.package] version")
}

/// Files of the npm package taken from the rest of the repository: (from, to inside the package).
/// The package's own files (package.json, README, declarations, bin/) come from packages/widget/.
const WIDGET_FILES: [(&str, &str); 9] = [
    ("web/client.js", "client.js"),
    ("web/worker.js", "worker.js"),
    ("web/widget/lead-ladder.js", "widget/lead-ladder.js"),
    ("web/widget/lead-ladder.css", "widget/lead-ladder.css"),
    ("pkg/cpu/leadladder_wasm.js", "pkg/cpu/leadladder_wasm.js"),
    (
        "pkg/cpu/leadladder_wasm_bg.wasm",
        "pkg/cpu/leadladder_wasm_bg.wasm",
    ),
    ("pkg/gpu/leadladder_wasm.js", "pkg/gpu/leadladder_wasm.js"),
    (
        "pkg/gpu/leadladder_wasm_bg.wasm",
        "pkg/gpu/leadladder_wasm_bg.wasm",
    ),
    (
        "web/models/demo.int8.safetensors",
        "models/demo.int8.safetensors",
    ),
];

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        if name == "node_modules" {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_tree(&path, &to.join(&name))?;
        } else {
            std::fs::copy(&path, to.join(&name))
                .with_context(|| format!("copying {}", path.display()))?;
        }
    }
    Ok(())
}

/// Stages and packs the npm package; prints the tarball's path last.
fn pack_widget(root: &Path) -> Result<()> {
    let version = workspace_version(root)?;
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("packages/widget/package.json"))
            .context("reading packages/widget/package.json")?,
    )?;
    if manifest["version"].as_str() != Some(version.as_str()) {
        bail!(
            "packages/widget/package.json has version {} but the workspace is {version}: make them equal",
            manifest["version"]
        );
    }
    let out = root.join("target/widget");
    let stage = out.join("package");
    if stage.exists() {
        std::fs::remove_dir_all(&stage)?;
    }
    copy_tree(&root.join("packages/widget"), &stage)?;
    for (from, to) in WIDGET_FILES {
        let src = root.join(from);
        if !src.is_file() {
            bail!(
                "{} is missing{}",
                src.display(),
                if from.starts_with("pkg/") {
                    ": run `cargo xtask build-web`"
                } else {
                    ""
                }
            );
        }
        let dst = stage.join(to);
        std::fs::create_dir_all(dst.parent().context("no parent")?)?;
        std::fs::copy(&src, &dst).with_context(|| format!("copying {}", src.display()))?;
    }
    let tarball = out.join(format!("leadladder-{version}.tgz"));
    if tarball.exists() {
        std::fs::remove_file(&tarball)?;
    }
    let json = output(
        Command::new("npm")
            .current_dir(&stage)
            .args(["pack", "--json", "--pack-destination"])
            .arg(&out),
    )?;
    let packed: serde_json::Value =
        serde_json::from_str(&json).context("reading npm pack --json")?;
    let info = &packed[0];
    let mb = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN) / 1e6;
    eprintln!(
        "leadladder {version}: {} files, {:.1} MB packed, {:.1} MB installed",
        info["entryCount"],
        mb(&info["size"]),
        mb(&info["unpackedSize"])
    );
    if !tarball.is_file() {
        bail!("npm pack wrote no {}", tarball.display());
    }
    println!("{}", tarball.display());
    Ok(())
}

fn main() -> Result<()> {
    let root = root()?;
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("build-web") => {
            build_web(&root)?;
            build_train(&root)
        }
        Some("build-train") => build_train(&root),
        Some("check-pkg") => check_pkg(&root),
        Some("qwen-fixture") => qwen_fixture::run(&root, args),
        Some("pack-widget") => pack_widget(&root),
        Some("source-hash") => {
            println!("{}", source_hash(&root)?);
            println!("{} (pkg/{TRAIN_OUT})", train_source_hash(&root)?);
            Ok(())
        }
        Some("serve") => {
            if let Err(e) = check_scoring_pkg(&root) {
                eprintln!("{e:#}; building it");
                build_web(&root)?;
            }
            if let Err(e) = check_train_pkg(&root) {
                eprintln!("{e:#}; building it");
                build_train(&root)?;
            }
            run(Command::new(env!("CARGO"))
                .current_dir(&root)
                // The dev profile (dependencies at opt-level 2) shares its build with the tests;
                // serving static files needs no release build.
                .args([
                    "run",
                    "--locked",
                    "--quiet",
                    "-p",
                    "leadladder-cli",
                    "--",
                    "serve",
                ])
                .args(args))
        }
        _ => bail!(
            "usage: cargo xtask build-web | build-train | check-pkg | source-hash | pack-widget | serve [leadladder serve args] | qwen-fixture [--out DIR] [--layers N]"
        ),
    }
}
