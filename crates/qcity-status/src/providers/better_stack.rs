//! Better Stack status pages' `index.json`, a JSON:API document (Hugging Face's page). The
//! page's state is `data.attributes.aggregate_state`; incidents are the `status_report`
//! resources of `included[]`. The page carries no sentence for its state, so the summary is
//! ours.

use qcity_types::PlatformState;
use serde_json::Value;

use super::json;
use super::parsed::{self, ParseError, Parsed};

const STATES: &str = "operational, degraded, downtime, maintenance";

pub fn parse(body: &[u8]) -> Result<Parsed, ParseError> {
    let v = json::parse(body)?;
    json::need_root_object(&v)?;
    json::need_object(&v, "data")?;
    json::need_object(&v, "data.attributes")?;
    let raw = json::need_str(&v, "data.attributes.aggregate_state")?;
    let (state, summary) = match raw {
        "operational" => (PlatformState::Operational, "All services are online"),
        "degraded" => (PlatformState::Degraded, "Some services are degraded"),
        "downtime" => (PlatformState::MajorOutage, "Some services are down"),
        "maintenance" => (PlatformState::Maintenance, "Maintenance in progress"),
        other => {
            return Err(ParseError::Value {
                path: "data.attributes.aggregate_state".to_owned(),
                value: parsed::clip(other),
                known: STATES,
            });
        }
    };

    let mut incidents = Vec::new();
    for item in json::objects(&v, "included")? {
        if item.get("type").and_then(Value::as_str) != Some("status_report") {
            continue;
        }
        let Some(attrs) = item.get("attributes").filter(|a| a.is_object()) else {
            continue;
        };
        if let Some(impact) = open_impact(attrs) {
            incidents.push(parsed::incident(
                json::text(attrs, &["title", "name"]).unwrap_or_default(),
                impact,
                json::time_ms(attrs, &["starts_at", "created_at"]),
                json::text(attrs, &["url"]),
            ));
        }
    }
    let updated_ms = json::time_ms(&v["data"]["attributes"], &["updated_at"]);
    Ok(Parsed::new(state, summary, incidents, updated_ms))
}

/// How bad an open report is, or `None` for one that is over. A report's own
/// `aggregate_state` says it when present (`resolved`); a report without one is over once it
/// has an end.
fn open_impact(attrs: &Value) -> Option<&'static str> {
    let maintenance = attrs.get("report_type").and_then(Value::as_str) == Some("maintenance");
    match attrs.get("aggregate_state").and_then(Value::as_str) {
        Some("resolved" | "operational") => None,
        Some("downtime") => Some("critical"),
        Some("maintenance") => Some("maintenance"),
        Some(_) if maintenance => Some("maintenance"),
        Some(_) => Some("minor"),
        None if json::text(attrs, &["ends_at", "resolved_at"]).is_some() => None,
        None if maintenance => Some("maintenance"),
        None => Some("minor"),
    }
}

#[cfg(test)]
mod tests;
