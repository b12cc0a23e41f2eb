//! Atlassian Statuspage v2: `summary.json` (page, status, components, unresolved incidents,
//! scheduled maintenances) and the smaller `status.json` (page and status only), which this
//! reads the same way with no incidents. GitHub, Vercel, Netlify, DigitalOcean speak it.

use qcity_types::{PlatformIncident, PlatformState};
use serde_json::Value;

use super::json;
use super::parsed::{self, ParseError, Parsed};

const INDICATORS: &str = "none, minor, major, critical, maintenance";

pub fn parse(body: &[u8]) -> Result<Parsed, ParseError> {
    let v = json::parse(body)?;
    json::need_root_object(&v)?;
    json::need_object(&v, "status")?;
    let indicator = json::need_str(&v, "status.indicator")?;
    let mut state = state_of(indicator)?;

    let mut incidents: Vec<_> = json::objects(&v, "incidents")?
        .into_iter()
        .filter_map(open_incident)
        .collect();
    let mut maintenance = false;
    for m in json::objects(&v, "scheduled_maintenances")? {
        // Only the one under way: `scheduled` is the future, `verifying` and `completed`
        // the past, and the page lists them all.
        if m.get("status").and_then(Value::as_str) == Some("in_progress") {
            maintenance = true;
            incidents.push(parsed::incident(
                json::text(m, &["name"]).unwrap_or_default(),
                "maintenance",
                json::time_ms(m, &["started_at", "scheduled_for", "created_at"]),
                json::text(m, &["shortlink"]),
            ));
        }
    }
    // Some pages leave the indicator at `none` while a maintenance runs: the maintenance is
    // what the user sees on the page, so it is what we say.
    if maintenance && state == PlatformState::Operational {
        state = PlatformState::Maintenance;
    }

    let summary = json::text(&v["status"], &["description"]).unwrap_or(match state {
        PlatformState::Operational => "All Systems Operational",
        PlatformState::Maintenance => "Service Under Maintenance",
        _ => "Incident in progress",
    });
    let updated_ms = json::at(&v, "page").and_then(|page| json::time_ms(page, &["updated_at"]));
    Ok(Parsed::new(state, summary, incidents, updated_ms))
}

fn state_of(indicator: &str) -> Result<PlatformState, ParseError> {
    Ok(match indicator {
        "none" => PlatformState::Operational,
        "minor" => PlatformState::Degraded,
        "major" => PlatformState::PartialOutage,
        "critical" => PlatformState::MajorOutage,
        "maintenance" => PlatformState::Maintenance,
        other => {
            return Err(ParseError::Value {
                path: "status.indicator".to_owned(),
                value: parsed::clip(other),
                known: INDICATORS,
            });
        }
    })
}

/// An entry of `incidents[]` unless it is over (`resolved`, or `postmortem`: written after).
/// `summary.json` lists only unresolved ones; the check keeps `incidents.json` bodies honest.
fn open_incident(inc: &Value) -> Option<PlatformIncident> {
    let status = inc
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if matches!(status, "resolved" | "postmortem") {
        return None;
    }
    // Absent, or a level the page invented: shown, but rated as nothing we know.
    let impact = inc
        .get("impact")
        .and_then(Value::as_str)
        .filter(|s| matches!(*s, "none" | "minor" | "major" | "critical" | "maintenance"))
        .unwrap_or("none");
    Some(parsed::incident(
        json::text(inc, &["name"]).unwrap_or_default(),
        impact,
        json::time_ms(inc, &["started_at", "created_at"]),
        json::text(inc, &["shortlink"]),
    ))
}

#[cfg(test)]
mod tests;
