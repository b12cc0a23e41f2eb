//! Errors as the API returns them: a status and a JSON body `{code, message, errors?}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use qcity_engine::EngineError;

use crate::types::ErrorBody;

/// An error response.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody {
                code: code.to_string(),
                message: message.into(),
                errors: Vec::new(),
            },
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong token: send `Authorization: Bearer TOKEN` (the token file is in the data directory)",
        )
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::UnknownRunner { .. } => {
                Self::new(StatusCode::NOT_FOUND, "unknown_runner", e.to_string())
            }
            EngineError::UnknownTask { .. } => {
                Self::new(StatusCode::NOT_FOUND, "unknown_task", e.to_string())
            }
            EngineError::Config { errors } => Self {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                body: ErrorBody {
                    code: "invalid_config".into(),
                    message: format!(
                        "the configuration has {} error(s); the last good configuration keeps running",
                        errors.0.len()
                    ),
                    errors: errors.0.iter().map(|e| e.to_string()).collect(),
                },
            },
            EngineError::ShuttingDown => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                e.to_string(),
            ),
            EngineError::Lock(_) | EngineError::Store(_) => {
                tracing::error!(error = %e, "API request failed");
                Self::internal(e.to_string())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}
