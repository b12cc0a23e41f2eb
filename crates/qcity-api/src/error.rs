//! Errors as the API returns them: a status and a JSON body `{code, message, errors?}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use qcity_engine::EngineError;

use qcity_types::{ErrorBody, ErrorCode};

/// An error response.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody {
                code,
                message: message.into(),
                errors: Vec::new(),
            },
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            "missing or wrong token: send `Authorization: Bearer TOKEN` (the token file is in the data directory)",
        )
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, message)
    }

    /// A JSON body that could not be read: 413 when it is too large, else 400 saying why.
    pub fn body(rejection: axum::extract::rejection::JsonRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                "the request body is too large",
            );
        }
        Self::bad_request(rejection.body_text())
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            message,
        )
    }
}

impl From<qcity_store::StoreError> for ApiError {
    fn from(e: qcity_store::StoreError) -> Self {
        EngineError::Store(e).into()
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::UnknownRunner { .. } => Self::new(
                StatusCode::NOT_FOUND,
                ErrorCode::UnknownRunner,
                e.to_string(),
            ),
            EngineError::UnknownTask { .. } => {
                Self::new(StatusCode::NOT_FOUND, ErrorCode::UnknownTask, e.to_string())
            }
            EngineError::Config { errors } => Self {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                body: ErrorBody {
                    code: ErrorCode::InvalidConfig,
                    message: format!(
                        "the configuration has {} error(s); the last good configuration keeps running",
                        errors.0.len()
                    ),
                    errors: errors.0.iter().map(|e| e.to_string()).collect(),
                },
            },
            EngineError::ShuttingDown => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::ShuttingDown,
                e.to_string(),
            ),
            EngineError::NotDurable {
                disk_full: true, ..
            } => Self::new(
                StatusCode::INSUFFICIENT_STORAGE,
                ErrorCode::DiskFull,
                format!("the data dir's filesystem is full: {e}"),
            ),
            EngineError::Store(ref s) if s.is_disk_full() => Self::new(
                StatusCode::INSUFFICIENT_STORAGE,
                ErrorCode::DiskFull,
                format!("the data dir's filesystem is full, nothing was written: {e}"),
            ),
            EngineError::Lock(_) | EngineError::Store(_) | EngineError::NotDurable { .. } => {
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
