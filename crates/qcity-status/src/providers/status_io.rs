//! Status.io's public status API (`/1.0/status/<page_id>`): GitLab's page. The overall state is
//! a number in `result.status_overall.status_code`; incidents and maintenances sit beside it.
//! Their entries are documented loosely, so titles and times are read from the names public
//! clients use, and a missing one costs only that detail.

use qcity_types::PlatformState;
use serde_json::Value;

use super::json;
use super::parsed::{self, ParseError, Parsed};

const CODES: &str = "100, 200, 300, 400, 500, 600";

pub fn parse(body: &[u8]) -> Result<Parsed, ParseError> {
    let v = json::parse(body)?;
    json::need_root_object(&v)?;
    json::need_object(&v, "result")?;
    json::need_object(&v, "result.status_overall")?;
    let state = state_of(&v)?;
    let summary = json::text(&v["result"]["status_overall"], &["status"]).unwrap_or(match state {
        PlatformState::Operational => "Operational",
        PlatformState::Maintenance => "Planned Maintenance",
        _ => "Service Disruption",
    });

    let mut incidents = Vec::new();
    for inc in json::objects(&v, "result.incidents")? {
        // An incident says how bad it is only sometimes; otherwise it is as bad as the page.
        let impact = inc
            .get("status_code")
            .and_then(code)
            .and_then(state_for)
            .unwrap_or(state);
        incidents.push(parsed::incident(
            json::text(inc, &["name", "title"]).unwrap_or_default(),
            impact_of(impact),
            json::time_ms(inc, &["datetime_open", "datetime", "created_at", "start"]),
            json::text(inc, &["url", "shortlink"]),
        ));
    }
    for m in json::objects(&v, "result.maintenance.active")? {
        incidents.push(parsed::incident(
            json::text(m, &["name", "title"]).unwrap_or_default(),
            "maintenance",
            json::time_ms(
                m,
                &[
                    "datetime_start",
                    "datetime_planned_start",
                    "datetime_open",
                    "start",
                ],
            ),
            json::text(m, &["url", "shortlink"]),
        ));
    }
    let updated_ms = json::time_ms(&v["result"]["status_overall"], &["updated"]);
    Ok(Parsed::new(state, summary, incidents, updated_ms))
}

fn state_of(v: &Value) -> Result<PlatformState, ParseError> {
    let path = "result.status_overall.status_code";
    let raw = json::at(v, path).ok_or_else(|| ParseError::Missing(path.to_owned()))?;
    let unknown = |value: String| ParseError::Value {
        path: path.to_owned(),
        value: parsed::clip(&value),
        known: CODES,
    };
    let c = code(raw).ok_or_else(|| unknown(raw.to_string()))?;
    state_for(c).ok_or_else(|| unknown(c.to_string()))
}

/// A status code as a number or a string of digits (both are seen).
fn code(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn state_for(code: u64) -> Option<PlatformState> {
    Some(match code {
        100 => PlatformState::Operational,
        200 => PlatformState::Maintenance,
        300 => PlatformState::Degraded,
        400 => PlatformState::PartialOutage,
        // 600 is a "Security Event": whatever it is, the service is not to be relied on.
        500 | 600 => PlatformState::MajorOutage,
        _ => return None,
    })
}

/// The Statuspage word for a state, which is what `PlatformIncident::impact` speaks.
fn impact_of(state: PlatformState) -> &'static str {
    match state {
        PlatformState::Maintenance => "maintenance",
        PlatformState::PartialOutage => "major",
        PlatformState::MajorOutage => "critical",
        // An incident listed on an operational page is still one: the mildest level.
        _ => "minor",
    }
}

#[cfg(test)]
mod tests;
