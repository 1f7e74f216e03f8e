//! The two ways a plugin set reaches the scheduler; both hand the loader a
//! [`super::SetUpdate`] whenever the set changes.

pub mod configmap;
pub mod dir;
