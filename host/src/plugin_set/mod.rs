//! Plugin sets: a `plugins.yaml` manifest and the modules it names, read
//! from labelled ConfigMaps or from a directory (a mounted ConfigMap),
//! loaded whole off the scheduling thread and swapped in between two cycles.
//!
//! The pieces: [`manifest`] (the file), [`source`] (the two ways a set
//! arrives), [`loader`] (read → verify pins → compile → instantiate → init →
//! full sync → self-check), and the swap itself in the scheduler loop.

pub mod loader;
pub mod manifest;
pub mod source;
pub mod status;

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The label that marks a ConfigMap as part of a plugin set; its value is the set's name.
pub const SET_LABEL: &str = "wasm-scheduler.io/plugin-set";

/// Where a set came from; named in logs, Events and the status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// ConfigMaps carrying [`SET_LABEL`].
    ConfigMaps {
        /// Their namespace.
        namespace: String,
        /// The ConfigMap that holds the manifest, if one does.
        manifest: Option<ObjectId>,
        /// Every ConfigMap of the set, by name.
        names: Vec<String>,
    },
    /// A directory laid out as a mounted ConfigMap.
    Directory(PathBuf),
}

/// Enough of an object to attach an Event to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectId {
    /// Its name.
    pub name: String,
    /// Its uid.
    pub uid: Option<String>,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::ConfigMaps {
                namespace, names, ..
            } => write!(f, "ConfigMap {namespace}/{}", names.join(",")),
            Origin::Directory(path) => write!(f, "directory {}", path.display()),
        }
    }
}

/// A set as read from its source, not yet checked.
#[derive(Debug, Clone)]
pub struct RawSet {
    /// Where it came from.
    pub origin: Origin,
    /// The manifest's text.
    pub manifest: String,
    /// Module bytes by file name (ConfigMap key).
    pub modules: BTreeMap<String, Vec<u8>>,
}

impl RawSet {
    /// SHA-256 over the manifest and every module: equal digests mean the
    /// same set, so a re-read that changed nothing is not reloaded.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.manifest.as_bytes());
        for (name, bytes) in &self.modules {
            h.update([0]);
            h.update(name.as_bytes());
            h.update([0]);
            h.update(Sha256::digest(bytes));
        }
        hex::encode(h.finalize())
    }
}

/// What a source hands the loader: a set, or why it could not assemble one.
pub type SetUpdate = Result<RawSet, (Origin, loader::SetError)>;
