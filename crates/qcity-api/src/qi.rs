//! `/api/v1/qi`: the QI installer over HTTP. The picker's view, the gate and the install flow
//! are `qcity_installer`'s ([`gate`](qcity_installer::gate), [`flow`](qcity_installer::flow));
//! here the engine supplies the gate's facts, an install's steps become `qi-install` events,
//! and a refusal becomes an HTTP status.

use axum::http::StatusCode;
use qcity_engine::Engine;
use qcity_installer::flow::{Phase, Plan, Refusal, Step};
use qcity_types::{ErrorCode, EventKind, QiPhase};
use qcity_update::gate::EngineFacts;

use crate::ApiError;

pub use qcity_installer::flow::{InstallRequest, QiFeature, QiOption, QiView};
pub use qcity_installer::gate::Gate;

/// The picker's view (blocking: it reads the manifest and the store).
pub fn view(engine: &Engine) -> QiView {
    qcity_installer::flow::view(&engine.config(), &EngineFacts(engine))
}

/// Checks the gate and the request; blocking.
pub fn prepare(engine: &Engine, req: &InstallRequest) -> Result<Plan, ApiError> {
    let downloads = engine.data_dir().root().join("downloads");
    qcity_installer::flow::prepare(&engine.config(), &EngineFacts(engine), downloads, req).map_err(
        |r| {
            let (status, code) = match &r {
                Refusal::GateClosed(_) => (StatusCode::CONFLICT, ErrorCode::GateClosed),
                Refusal::InvalidManifest(_) => {
                    (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InvalidManifest)
                }
                Refusal::BadRequest(_) => (StatusCode::BAD_REQUEST, ErrorCode::BadRequest),
                Refusal::DoesNotFit(_) => (StatusCode::BAD_REQUEST, ErrorCode::DoesNotFit),
                Refusal::InvalidConfig(_) => {
                    (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InvalidConfig)
                }
            };
            ApiError::new(status, code, r.to_string())
        },
    )
}

/// Downloads, verifies and installs, publishing each step as a `qi-install` event; blocking.
pub fn run(engine: &Engine, plan: Plan) {
    qcity_installer::flow::run(plan, |step: Step| {
        engine.bus().publish(EventKind::QiInstall {
            phase: match step.phase {
                Phase::Downloading => QiPhase::Downloading,
                Phase::Verifying => QiPhase::Verifying,
                Phase::Installing => QiPhase::Installing,
                Phase::Installed => QiPhase::Installed,
                Phase::Failed => QiPhase::Failed,
            },
            file: step.file,
            done: step.done,
            total: step.total,
            detail: step.detail,
        });
    });
}
