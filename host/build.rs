//! Builds the plugins in `plugins/` to wasm32-wasip2 components, once, into
//! `<target>/plugins`, so the host can embed its default set and tests and
//! benches can load every plugin as the real `.wasm` a user would ship.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Packages built to wasm; the first two are the embedded default set.
const PLUGINS: &[&str] = &[
    "node-resources-fit",
    "taint-toleration",
    "node-label-gate",
    "node-name",
    "node-unschedulable",
    "node-ports",
    "node-affinity",
    "node-resources-balanced-allocation",
    "image-locality",
    "pod-topology-spread",
    "inter-pod-affinity",
    "fault-plugin",
    "busy-plugin",
];

fn target_root(out_dir: &Path) -> PathBuf {
    // OUT_DIR is <target>/[<triple>/]<profile>/build/<pkg>/out; cargo marks <target> with CACHEDIR.TAG.
    out_dir
        .ancestors()
        .find(|p| p.join("CACHEDIR.TAG").exists())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| out_dir.join("plugins-target"))
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = manifest
        .parent()
        .expect("host/ sits in the workspace")
        .to_path_buf();
    for dir in ["plugins", "plugin-sdk", "wit"] {
        println!("cargo:rerun-if-changed={}", workspace.join(dir).display());
    }
    println!(
        "cargo:rerun-if-changed={}",
        workspace.join("Cargo.lock").display()
    );
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    let plugin_target = target_root(&out_dir).join("plugins");

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&workspace)
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        // Size settings for the guests only (see README, "Writing a plugin"):
        // set here rather than in [profile.release] so that the host's own
        // release build keeps unwinding and stays quick to link.
        .args(["--config", "profile.release.lto=true"])
        .args(["--config", "profile.release.codegen-units=1"])
        .args(["--config", "profile.release.panic=\"abort\""])
        .env("CARGO_TARGET_DIR", &plugin_target)
        // Flags meant for the host build (coverage, sanitizers) must not reach the guests.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET");
    for p in PLUGINS {
        cmd.args(["-p", p]);
    }
    let status = cmd
        .status()
        .expect("cannot run cargo to build the wasm plugins");
    assert!(
        status.success(),
        "building the wasm plugins failed; is the target installed? `rustup target add wasm32-wasip2`"
    );
    let artifacts = plugin_target.join("wasm32-wasip2").join("release");
    println!(
        "cargo:rustc-env=WASM_SCHEDULER_PLUGIN_DIR={}",
        artifacts.display()
    );
}
