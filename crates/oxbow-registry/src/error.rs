//! Every error the registry answers, mapped once to Confluent's `error_code`, HTTP status and
//! message (clients match on the codes: 40401 subject not found, 409 incompatible, ...).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// What responses are sent as (Confluent's media type).
pub const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("Subject '{0}' not found.")]
    SubjectNotFound(String),
    #[error("Version {0} not found.")]
    VersionNotFound(String),
    #[error("Schema {0} not found")]
    SchemaNotFound(String),
    #[error("Subject '{0}' was soft deleted.Set permanent=true to delete permanently")]
    SubjectSoftDeleted(String),
    #[error("Subject '{0}' was not deleted first before being permanently deleted")]
    SubjectNotSoftDeleted(String),
    #[error("Subject '{0}' Version {1} was soft deleted.Set permanent=true to delete permanently")]
    VersionSoftDeleted(String, i32),
    #[error("Subject '{0}' Version {1} was not deleted first before being permanently deleted")]
    VersionNotSoftDeleted(String, i32),
    #[error("Subject '{0}' does not have subject-level compatibility configured")]
    SubjectConfigNotFound(String),
    #[error("Subject '{0}' does not have subject-level mode configured")]
    SubjectModeNotFound(String),
    #[error("Schema being registered is incompatible with an earlier schema for subject \"{subject}\", details: [{}]", details.join(", "))]
    Incompatible {
        subject: String,
        details: Vec<String>,
    },
    #[error("Invalid schema: {0}")]
    InvalidSchema(String),
    #[error("The specified version '{0}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"")]
    InvalidVersion(String),
    #[error("Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive")]
    InvalidCompatibilityLevel,
    #[error("Invalid mode. Valid values are READWRITE, READONLY, and IMPORT.")]
    InvalidMode,
    #[error("{0}")]
    OperationNotPermitted(String),
    #[error("One or more references exist to the schema {{magic=1,keytype=SCHEMA,subject={0},version={1}}}.")]
    ReferenceExists(String, i32),
    #[error("The specified subject '{0}' is not a valid.")]
    InvalidSubject(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("HTTP 404 Not Found")]
    NotFound,
    #[error("Not authorized: {0}")]
    Unauthorized(String),
    #[error("Register schema operation failed while writing to the Kafka store: {0}")]
    Store(String),
}

impl RegistryError {
    /// Confluent's error code; its first three digits are the HTTP status.
    pub fn code(&self) -> u32 {
        use RegistryError::*;
        match self {
            SubjectNotFound(_) => 40401,
            VersionNotFound(_) => 40402,
            SchemaNotFound(_) => 40403,
            SubjectSoftDeleted(_) => 40404,
            SubjectNotSoftDeleted(_) => 40405,
            VersionSoftDeleted(..) => 40406,
            VersionNotSoftDeleted(..) => 40407,
            SubjectConfigNotFound(_) => 40408,
            SubjectModeNotFound(_) => 40409,
            Incompatible { .. } => 409,
            InvalidSchema(_) => 42201,
            InvalidVersion(_) => 42202,
            InvalidCompatibilityLevel => 42203,
            InvalidMode => 42204,
            OperationNotPermitted(_) => 42205,
            ReferenceExists(..) => 42206,
            InvalidSubject(_) => 42208,
            BadRequest(_) => 400,
            NotFound => 404,
            Unauthorized(_) => 40301,
            Store(_) => 50001,
        }
    }

    pub fn status(&self) -> StatusCode {
        let code = self.code();
        let status = if code < 1000 { code } else { code / 100 };
        StatusCode::from_u16(status as u16).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for RegistryError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error_code": self.code(), "message": self.to_string()});
        let mut resp = (self.status(), body.to_string()).into_response();
        resp.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static(CONTENT_TYPE),
        );
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_errors_when_mapping_should_use_confluents_codes_and_statuses() {
        let e = RegistryError::SubjectNotFound("s".into());
        assert_eq!((e.code(), e.status().as_u16()), (40401, 404));
        assert_eq!(e.to_string(), "Subject 's' not found.");
        let e = RegistryError::Incompatible {
            subject: "s".into(),
            details: vec!["a".into(), "b".into()],
        };
        assert_eq!((e.code(), e.status().as_u16()), (409, 409));
        assert!(e.to_string().ends_with("details: [a, b]"));
        assert_eq!(RegistryError::InvalidMode.status().as_u16(), 422);
        assert_eq!(RegistryError::Store("x".into()).status().as_u16(), 500);
    }
}
