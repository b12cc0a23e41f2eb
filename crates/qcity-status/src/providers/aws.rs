//! AWS Health's public `currentevents`: a JSON array of the open (and just-resolved) events of
//! every service in every region, sent as UTF-16. Not documented by AWS; the fields are those
//! public clients read: `service` (`ec2-us-east-1`), `service_name`, `region_name`,
//! `summary`, `date` (epoch seconds), `status`, `arn`
//! (`arn:aws:health:<region>::event/<SERVICE>/<type>/<id>`), `event_log[]`.
//!
//! The page has no overall state: any open event that concerns the user makes it degraded.
//! An event is open unless it says it is over, in any of the ways seen: `status` "0", an
//! `end`/`endTime`/`end_time`, or a summary starting "[RESOLVED]". An event we cannot read as
//! resolved is shown: a stale warning is cheaper than a hidden outage.

use qcity_types::PlatformState;
use serde_json::Value;

use super::json;
use super::parsed::{self, ParseError, Parsed};
use super::utf16;

/// Every service and region concerns the user.
pub fn parse(body: &[u8]) -> Result<Parsed, ParseError> {
    parse_watching(body, &[])
}

/// Only events matching one of `watch` count. An entry matches, without regard to case, the
/// event's service code (`ec2`), its region (`us-east-1`, or the page's `N. Virginia`), both
/// as the page writes them (`ec2-us-east-1`), or its `service_name`. None given: all events.
pub fn parse_watching(body: &[u8], watch: &[String]) -> Result<Parsed, ParseError> {
    let text = utf16::decode(body)?;
    let v = json::parse(text.as_bytes())?;
    let Value::Array(items) = &v else {
        return Err(ParseError::Shape {
            path: "body".to_owned(),
            expected: "an array of events",
            found: json::kind(&v),
        });
    };
    let mut incidents = Vec::new();
    for event in json::items_are_objects(items, "body")? {
        if is_open(event) && concerns(event, watch) {
            incidents.push(parsed::incident(
                &title(event),
                impact(event),
                started_ms(event),
                None,
            ));
        }
    }
    let (state, summary) = match incidents.len() {
        0 => (PlatformState::Operational, "No current events".to_owned()),
        1 => (PlatformState::Degraded, "1 current event".to_owned()),
        n => (PlatformState::Degraded, format!("{n} current events")),
    };
    // The page says nothing of when it was updated.
    Ok(Parsed::new(state, &summary, incidents, None))
}

fn is_open(event: &Value) -> bool {
    let status_zero = match event.get("status") {
        Some(Value::String(s)) => s.trim() == "0",
        Some(Value::Number(n)) => n.as_u64() == Some(0),
        _ => false,
    };
    let ended = json::text(event, &["end", "endTime", "end_time"]).is_some()
        || matches!(
            event.get("end").or(event.get("endTime")),
            Some(Value::Number(_))
        );
    let resolved_summary = json::text(event, &["summary"]).is_some_and(|s| {
        s.trim_start()
            .to_ascii_uppercase()
            .starts_with("[RESOLVED]")
    });
    !(status_zero || ended || resolved_summary)
}

/// "Amazon Elastic Compute Cloud (N. Virginia): Increased API error rates".
fn title(event: &Value) -> String {
    let summary = json::text(event, &["summary"]);
    let name = json::text(event, &["service_name", "service"]);
    let region =
        json::text(event, &["region_name"]).filter(|r| !name.is_some_and(|n| n.contains(r)));
    let who = match (name, region) {
        (Some(n), Some(r)) => format!("{n} ({r})"),
        (Some(n), None) => n.to_owned(),
        (None, Some(r)) => r.to_owned(),
        (None, None) => String::new(),
    };
    match (who.is_empty(), summary) {
        (false, Some(s)) => format!("{who}: {s}"),
        (true, Some(s)) => s.to_owned(),
        (_, None) => who,
    }
}

/// The old Service Health Dashboard's scale (1 informational, 2 performance issues, 3
/// disruption) in Statuspage's words; anything else is the mildest level.
fn impact(event: &Value) -> &'static str {
    let status = match event.get("status") {
        Some(Value::String(s)) => s.trim().parse().ok(),
        Some(Value::Number(n)) => n.as_u64(),
        _ => None,
    };
    match status {
        Some(3) => "critical",
        Some(2) => "major",
        _ => "minor",
    }
}

/// `date`, or else the first entry of the event's log.
fn started_ms(event: &Value) -> Option<i64> {
    event.get("date").and_then(json::epoch_ms).or_else(|| {
        let log = event.get("event_log")?.as_array()?;
        log.iter()
            .filter_map(|e| e.get("timestamp").and_then(json::epoch_ms))
            .min()
    })
}

fn concerns(event: &Value, watch: &[String]) -> bool {
    if watch.is_empty() {
        return true;
    }
    let service = json::text(event, &["service"]);
    let (code, region) = service.map(split_service).unwrap_or((None, None));
    let arn = json::text(event, &["arn"])
        .map(arn_parts)
        .unwrap_or((None, None));
    let names = [
        service,
        code,
        region,
        arn.0,
        arn.1,
        json::text(event, &["region_name"]),
        json::text(event, &["service_name"]),
    ];
    names.into_iter().flatten().any(|name| {
        watch
            .iter()
            .any(|w| w.trim().eq_ignore_ascii_case(name.trim()))
    })
}

/// `ec2-us-east-1` → (`ec2`, `us-east-1`); `s3-us-gov-west-1` → (`s3`, `us-gov-west-1`). A
/// region is two letters, one or two words, then a number; a service with no region (`iam`)
/// is only a code.
fn split_service(service: &str) -> (Option<&str>, Option<&str>) {
    let parts: Vec<&str> = service.split('-').collect();
    for words in [4, 3] {
        if parts.len() <= words {
            continue;
        }
        let tail = &parts[parts.len() - words..];
        let looks_like_region = tail[0].len() == 2
            && tail[0].bytes().all(|b| b.is_ascii_alphabetic())
            && tail[words - 1].bytes().all(|b| b.is_ascii_digit())
            && !tail[words - 1].is_empty();
        if looks_like_region {
            let cut = service.len() - tail.join("-").len();
            return (Some(&service[..cut - 1]), Some(&service[cut..]));
        }
    }
    (Some(service), None)
}

/// `arn:aws:health:us-east-1::event/EC2/AWS_EC2_OPERATIONAL_ISSUE/…` → (`us-east-1`, `EC2`).
fn arn_parts(arn: &str) -> (Option<&str>, Option<&str>) {
    let mut fields = arn.splitn(6, ':');
    let region = fields.nth(3).filter(|r| !r.is_empty());
    let service = fields
        .nth(1)
        .and_then(|rest| rest.strip_prefix("event/"))
        .and_then(|rest| rest.split('/').next())
        .filter(|s| !s.is_empty());
    (region, service)
}

#[cfg(test)]
mod tests;
