//! The directory source: a directory holding `plugins.yaml` and the modules
//! it names, as a ConfigMap mounted into the scheduler's pod becomes, or as
//! a person edits by hand.
//!
//! Kubelet updates a mounted ConfigMap by writing a new timestamped
//! directory and then renaming a `..data` symlink onto it, atomically. The
//! source follows `..data` once, reads every file from the directory it
//! points to, and checks the link again afterwards, so it never mixes two
//! versions. A plain directory is read once its listing (names, sizes, times)
//! has held still for one poll, so a file being written is not read half-way.
//!
//! It polls rather than using inotify: a stat of a few files every 200 ms
//! costs nothing, needs no extra dependency, and sees symlink swaps on any
//! filesystem, including network mounts where inotify is silent.

use super::super::loader::SetError;
use super::super::manifest::MANIFEST_FILE;
use super::super::{Origin, RawSet, SetUpdate};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, watch};

/// How often the directory is looked at.
pub const POLL: Duration = Duration::from_millis(200);

/// What identifies one version of the directory's content.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fingerprint {
    /// Kubelet's layout: where `..data` points.
    Linked(PathBuf),
    /// A plain directory: every visible file's name, size and mtime.
    Files(Vec<(String, u64, Option<SystemTime>)>),
    /// The directory cannot be read (yet).
    Unreadable(String),
}

fn fingerprint(dir: &Path) -> Fingerprint {
    if let Ok(target) = std::fs::read_link(dir.join("..data")) {
        return Fingerprint::Linked(target);
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => return Fingerprint::Unreadable(e.to_string()),
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            meta.is_file().then(|| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    meta.len(),
                    meta.modified().ok(),
                )
            })
        })
        .collect();
    files.sort();
    Fingerprint::Files(files)
}

/// Reads every visible file of `from`; the manifest apart.
fn read_files(dir: &Path, from: &Path) -> Result<RawSet, SetError> {
    let origin = Origin::Directory(dir.to_path_buf());
    let entries = std::fs::read_dir(from)
        .map_err(|e| SetError::Read(format!("cannot read {}: {e}", from.display())))?;
    let mut manifest = None;
    let mut modules = BTreeMap::new();
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !entry.path().is_file() {
            continue;
        }
        let bytes = std::fs::read(entry.path())
            .map_err(|e| SetError::Read(format!("cannot read {}: {e}", entry.path().display())))?;
        if name == MANIFEST_FILE {
            manifest = Some(String::from_utf8(bytes).map_err(|_| {
                SetError::Read(format!(
                    "{MANIFEST_FILE} in {} is not UTF-8",
                    from.display()
                ))
            })?);
        } else {
            modules.insert(name, bytes);
        }
    }
    let manifest = manifest
        .ok_or_else(|| SetError::Read(format!("no {MANIFEST_FILE} in {}", dir.display())))?;
    Ok(RawSet {
        origin,
        manifest,
        modules,
    })
}

/// Reads one consistent version of the set, or `None` if `..data` moved
/// while reading (read again at the next poll).
fn read_set(dir: &Path, seen: &Fingerprint) -> Option<Result<RawSet, SetError>> {
    match seen {
        Fingerprint::Linked(target) => {
            let result = read_files(dir, &dir.join(target));
            (fingerprint(dir) == *seen).then_some(result)
        }
        Fingerprint::Files(_) => Some(read_files(dir, dir)),
        Fingerprint::Unreadable(e) => Some(Err(SetError::Read(format!(
            "cannot read directory {}: {e}",
            dir.display()
        )))),
    }
}

/// Watches `dir` until `stop`, sending each new version of the set to `sets`.
pub async fn watch(dir: PathBuf, sets: mpsc::Sender<SetUpdate>, mut stop: watch::Receiver<bool>) {
    let mut loaded: Option<Fingerprint> = None;
    let mut previous: Option<Fingerprint> = None;
    loop {
        let d = dir.clone();
        let now = tokio::task::spawn_blocking(move || fingerprint(&d))
            .await
            .unwrap_or_else(|e| Fingerprint::Unreadable(e.to_string()));
        // A plain directory must hold still for one poll; a `..data` swap is atomic.
        let settled = matches!(now, Fingerprint::Linked(_)) || previous.as_ref() == Some(&now);
        if settled && loaded.as_ref() != Some(&now) {
            let (d, seen) = (dir.clone(), now.clone());
            let read = tokio::task::spawn_blocking(move || read_set(&d, &seen))
                .await
                .ok()
                .flatten();
            if let Some(result) = read {
                loaded = Some(now.clone());
                let update = result.map_err(|e| (Origin::Directory(dir.clone()), e));
                if sets.send(update).await.is_err() {
                    return;
                }
            }
        }
        previous = Some(now);
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ws-dir-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn reads_through_the_data_link_and_skips_hidden_files() {
        let d = temp_dir("link");
        let v1 = d.join("..2026_11_27_10_00_00.000000001");
        std::fs::create_dir(&v1).unwrap();
        std::fs::write(v1.join(MANIFEST_FILE), "m1").unwrap();
        std::fs::write(v1.join("a.wasm"), [1, 2]).unwrap();
        std::os::unix::fs::symlink(v1.file_name().unwrap(), d.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/plugins.yaml", d.join(MANIFEST_FILE)).unwrap();
        let fp = fingerprint(&d);
        assert!(matches!(fp, Fingerprint::Linked(_)));
        let set = read_set(&d, &fp).unwrap().unwrap();
        assert_eq!(set.manifest, "m1");
        assert_eq!(set.modules.keys().collect::<Vec<_>>(), ["a.wasm"]);
        // The link moved after the fingerprint was taken: not read.
        let v2 = d.join("..2026_11_27_10_00_01.000000002");
        std::fs::create_dir(&v2).unwrap();
        std::fs::write(v2.join(MANIFEST_FILE), "m2").unwrap();
        std::os::unix::fs::symlink(v2.file_name().unwrap(), d.join("..data_tmp")).unwrap();
        std::fs::rename(d.join("..data_tmp"), d.join("..data")).unwrap();
        assert!(read_set(&d, &fp).is_none());
        assert_eq!(
            read_set(&d, &fingerprint(&d)).unwrap().unwrap().manifest,
            "m2"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_plain_directory_without_a_manifest_is_named_in_the_error() {
        let d = temp_dir("plain");
        std::fs::write(d.join("a.wasm"), [1]).unwrap();
        let e = read_set(&d, &fingerprint(&d)).unwrap().unwrap_err();
        assert!(e.to_string().starts_with("no plugins.yaml in "), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
