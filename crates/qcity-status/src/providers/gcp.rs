//! Google Cloud's `incidents.json`: every incident, ended or not, newest first. An incident is
//! active while it has no `end`; the page's state is the worst `status_impact` among the
//! active ones that concern the user.

use qcity_types::PlatformState;
use serde_json::Value;

use super::json;
use super::parsed::{self, ParseError, Parsed};

const PAGE: &str = "https://status.cloud.google.com/";

/// Every product concerns the user.
pub fn parse(body: &[u8]) -> Result<Parsed, ParseError> {
    parse_watching(body, &[])
}

/// Only incidents of `products` count (names as the page titles them, `Google Compute
/// Engine`, matched without regard to case against `affected_products[].title`, `.id` and
/// `service_name`); none given: all of them.
pub fn parse_watching(body: &[u8], products: &[String]) -> Result<Parsed, ParseError> {
    let v = json::parse(body)?;
    let Value::Array(items) = &v else {
        return Err(ParseError::Shape {
            path: "body".to_owned(),
            expected: "an array of incidents",
            found: json::kind(&v),
        });
    };
    let items = json::items_are_objects(items, "body")?;
    let updated_ms = items
        .iter()
        .filter_map(|i| json::time_ms(i, &["modified"]))
        .max();

    let mut state = PlatformState::Operational;
    let mut incidents = Vec::new();
    for item in items {
        let active = json::text(item, &["end"]).is_none();
        if !active || !concerns(item, products) {
            continue;
        }
        let impact = item.get("status_impact").and_then(Value::as_str);
        state = state.max(state_of(impact));
        let uri = json::text(item, &["uri"]);
        let url = uri.map(|u| format!("{PAGE}{}", u.trim().trim_start_matches('/')));
        incidents.push(parsed::incident(
            json::text(item, &["external_desc", "service_name"]).unwrap_or_default(),
            severity(item.get("severity").and_then(Value::as_str), impact),
            json::time_ms(item, &["begin", "created"]),
            url.as_deref(),
        ));
    }
    let summary = match incidents.len() {
        0 => "No active incidents".to_owned(),
        1 => "1 active incident".to_owned(),
        n => format!("{n} active incidents"),
    };
    Ok(Parsed::new(state, &summary, incidents, updated_ms))
}

/// The state an active incident puts the page in.
fn state_of(status_impact: Option<&str>) -> PlatformState {
    match status_impact {
        Some("SERVICE_OUTAGE") => PlatformState::MajorOutage,
        // The facts sheet says "minor" (degraded), but Google uses DISRUPTION when a service
        // fails for part of its users or locations: that is a partial outage, and calling it
        // degraded would let the healer keep "fixing" runners a cloud outage broke.
        Some("SERVICE_DISRUPTION") => PlatformState::PartialOutage,
        // SERVICE_INFORMATION, and any level Google adds later: something is going on that
        // Google chose to publish, short of a disruption.
        _ => PlatformState::Degraded,
    }
}

/// The incident's impact in Statuspage's words, from its `severity` (low, medium, high), or
/// from its `status_impact` when it has none.
fn severity(severity: Option<&str>, status_impact: Option<&str>) -> &'static str {
    match (severity, status_impact) {
        (Some("high"), _) | (None, Some("SERVICE_OUTAGE")) => "critical",
        (Some("medium"), _) | (None, Some("SERVICE_DISRUPTION")) => "major",
        _ => "minor",
    }
}

fn concerns(item: &Value, products: &[String]) -> bool {
    if products.is_empty() {
        return true;
    }
    let mut names: Vec<&str> = json::text(item, &["service_name"]).into_iter().collect();
    if let Some(Value::Array(affected)) = item.get("affected_products") {
        names.extend(
            affected
                .iter()
                .flat_map(|p| [p.get("title"), p.get("id")])
                .flatten()
                .filter_map(Value::as_str),
        );
    }
    names.iter().any(|name| {
        products
            .iter()
            .any(|p| p.trim().eq_ignore_ascii_case(name.trim()))
    })
}

#[cfg(test)]
mod tests;
