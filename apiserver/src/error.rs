//! API errors, rendered as Kubernetes `Status` objects.

use serde_json::{Value, json};

/// An error answer of the API, with the HTTP code and `reason` kube-apiserver uses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// `Status.reason`, e.g. `NotFound`, `Conflict`, `AlreadyExists`, `Expired`.
    pub reason: &'static str,
    /// Human-readable message in kube-apiserver's wording.
    pub message: String,
}

impl ApiError {
    /// 404 NotFound for `kind` `name`.
    pub fn not_found(resource: &str, name: &str) -> Self {
        ApiError {
            code: 404,
            reason: "NotFound",
            message: format!("{resource} \"{name}\" not found"),
        }
    }

    /// 409 AlreadyExists.
    pub fn already_exists(resource: &str, name: &str) -> Self {
        ApiError {
            code: 409,
            reason: "AlreadyExists",
            message: format!("{resource} \"{name}\" already exists"),
        }
    }

    /// 409 Conflict with a message.
    pub fn conflict(message: String) -> Self {
        ApiError {
            code: 409,
            reason: "Conflict",
            message,
        }
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            code: 400,
            reason: "BadRequest",
            message: message.into(),
        }
    }

    /// 410 Expired: the resource version is older than the event log keeps.
    pub fn expired(rv: u64, oldest: u64) -> Self {
        ApiError {
            code: 410,
            reason: "Expired",
            message: format!("too old resource version: {rv} ({oldest})"),
        }
    }

    /// The `Status` object.
    pub fn to_status(&self) -> Value {
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "code": self.code,
        })
    }
}
