//! `/api/v1/update`: QCity's own update over HTTP. The view reads the versions kept, the
//! records and the manifest (`qcity_update`); apply and rollback are the daemon's updater's,
//! and a refusal becomes an HTTP status.

use axum::http::StatusCode;
use qcity_engine::Engine;
use qcity_types::{ErrorCode, UpdateOffer, UpdateView};
use qcity_update::{ApplyError, Check, Updater, record, versions};

use crate::ApiError;

/// The view; blocking (it reads the manifest, the files and the store).
pub fn view(engine: &Engine, updater: Option<&Updater>) -> UpdateView {
    let data = engine.data_dir().root();
    let config = engine.config();
    let running = qcity_update::running_version();
    let mut view = UpdateView {
        running: running.to_string(),
        configured: config.device.update.is_some(),
        available: None,
        check_error: None,
        blocked_by: Vec::new(),
        kept: versions::kept(data),
        current: versions::current(data),
        previous: versions::previous(data),
        pending: record::pending(data),
        last: record::last(data).map(|l| l.outcome),
        refused: record::refused(data),
    };
    let Some(settings) = &config.device.update else {
        return view;
    };
    match qcity_update::check(
        settings,
        &config.dir,
        &running,
        &record::refused_versions(data),
    ) {
        Ok(Check::Available(offer)) => {
            view.available = Some(UpdateOffer {
                version: offer.version.to_string(),
                notes: offer.notes,
                pub_date: offer.pub_date,
            });
        }
        Ok(Check::UpToDate { .. }) => {}
        Err(e) => view.check_error = Some(e.to_string()),
    }
    match updater {
        None => view.blocked_by.push(ApplyError::CannotRestart.to_string()),
        Some(u) if u.is_busy() => view.blocked_by.push(ApplyError::Busy.to_string()),
        Some(_) => {
            view.blocked_by =
                qcity_update::gate::blocked_by(engine, settings.max_autotest_age_minutes);
        }
    }
    view
}

impl From<ApplyError> for ApiError {
    fn from(e: ApplyError) -> Self {
        let (status, code) = match &e {
            ApplyError::Busy => (StatusCode::CONFLICT, ErrorCode::UpdateBusy),
            ApplyError::Update(qcity_update::UpdateError::Io { .. }) => {
                (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal)
            }
            _ => (StatusCode::CONFLICT, ErrorCode::UpdateRefused),
        };
        ApiError::new(status, code, e.to_string())
    }
}
