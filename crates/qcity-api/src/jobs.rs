//! `/api/v1/jobs`: offloaded jobs over HTTP. The daemon's `Offload` decides, runs and keeps
//! them; here its refusals become HTTP statuses.

use axum::http::StatusCode;
use qcity_offload::OffloadError;
use qcity_offload::record::RecordError;
use qcity_types::ErrorCode;

use crate::ApiError;

impl From<OffloadError> for ApiError {
    fn from(e: OffloadError) -> Self {
        let (status, code) = match &e {
            OffloadError::UnknownJob { .. } | OffloadError::Record(RecordError::Unknown(_)) => {
                (StatusCode::NOT_FOUND, ErrorCode::UnknownJob)
            }
            OffloadError::UnknownPlace(_) => (StatusCode::BAD_REQUEST, ErrorCode::BadRequest),
            OffloadError::Ended(_) => (StatusCode::CONFLICT, ErrorCode::JobEnded),
            OffloadError::Record(_) | OffloadError::Io(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal)
            }
        };
        ApiError::new(status, code, e.to_string())
    }
}

/// A `where` as the API takes it: `local`, `fleet`, `ssh:NAME`, `github:NAME`.
pub fn valid_place(place: &str) -> bool {
    place == "local"
        || place == "fleet"
        || place
            .split_once(':')
            .is_some_and(|(k, n)| matches!(k, "ssh" | "github") && crate::queries::valid_name(n))
}
