//! The audit log: who asked for what, in RBAC's terms (verb, API group,
//! resource with subresource, namespace), so tests can check that a role
//! covers every call a client makes. The user is the bearer token, the way
//! a token authenticator names it; a request without one is `anonymous`.

use std::collections::BTreeSet;
use std::sync::Mutex;

/// One request as RBAC sees it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Access {
    /// The bearer token, or `anonymous`.
    pub user: String,
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete` or `deletecollection`.
    pub verb: &'static str,
    /// The API group; "" for core.
    pub group: &'static str,
    /// The resource, with `/subresource` if any (`pods/binding`).
    pub resource: String,
    /// The namespace, for a namespaced request.
    pub namespace: Option<String>,
}

/// Every distinct access since the server started.
#[derive(Debug, Default)]
pub struct AuditLog(Mutex<BTreeSet<Access>>);

impl AuditLog {
    pub(crate) fn record(&self, access: Access) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(access);
    }

    /// The distinct accesses of `user`.
    pub fn of(&self, user: &str) -> Vec<Access> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|a| a.user == user)
            .cloned()
            .collect()
    }
}
