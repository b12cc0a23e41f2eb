use qcity_types::PlatformState;
use serde_json::{Value, json};

use super::parse;

const T19: i64 = 1_796_497_200_000;

/// Hugging Face's `index.json`, trimmed: the page, one resource, and the reports given.
fn page(state: &str, reports: Value) -> Vec<u8> {
    let mut included = vec![json!({
        "id": "8102842",
        "type": "status_page_resource",
        "attributes": {
            "status_page_section_id": 120145,
            "resource_id": 2345678,
            "resource_type": "Monitor",
            "public_name": "Inference API",
            "status": state,
            "availability": 0.9995
        }
    })];
    included.extend(reports.as_array().cloned().unwrap_or_default());
    json!({
        "data": {
            "id": "161340",
            "type": "status_page",
            "attributes": {
                "company_name": "Hugging Face",
                "company_url": "https://huggingface.co",
                "subdomain": "huggingface",
                "custom_domain": "status.huggingface.co",
                "timezone": "UTC",
                "aggregate_state": state,
                "announcement": null,
                "updated_at": "2026-12-05T19:30:11.123Z"
            },
            "relationships": {"sections": {"data": [{"id": "120145", "type": "status_page_section"}]}}
        },
        "included": included
    })
    .to_string()
    .into_bytes()
}

fn report(id: &str, title: &str, state: Option<&str>, ends_at: Option<&str>) -> Value {
    json!({
        "id": id,
        "type": "status_report",
        "attributes": {
            "title": title,
            "report_type": "manual",
            "starts_at": "2026-12-05T19:00:00.000Z",
            "ends_at": ends_at,
            "aggregate_state": state
        }
    })
}

#[test]
fn operational() {
    let p = parse(&page("operational", json!([]))).unwrap();
    assert_eq!(p.state, PlatformState::Operational);
    assert_eq!(p.summary, "All services are online");
    assert!(p.incidents.is_empty());
    assert_eq!(p.updated_ms, Some(1_796_499_011_123));
}

#[test]
fn each_state() {
    for (raw, state) in [
        ("degraded", PlatformState::Degraded),
        ("downtime", PlatformState::MajorOutage),
        ("maintenance", PlatformState::Maintenance),
    ] {
        assert_eq!(parse(&page(raw, json!([]))).unwrap().state, state, "{raw}");
    }
}

#[test]
fn downtime_with_an_open_report_and_a_resolved_one() {
    let reports = json!([
        report("1", "Inference API is down", Some("downtime"), None),
        report(
            "2",
            "Spaces were slow",
            Some("resolved"),
            Some("2026-12-04T12:00:00.000Z")
        ),
        // No state of its own: over once it has an end.
        report(
            "3",
            "Hub search degraded",
            None,
            Some("2026-12-04T12:00:00.000Z")
        ),
    ]);
    let p = parse(&page("downtime", reports)).unwrap();
    assert_eq!(p.state, PlatformState::MajorOutage);
    assert_eq!(p.summary, "Some services are down");
    assert_eq!(p.incidents.len(), 1, "{:?}", p.incidents);
    assert_eq!(p.incidents[0].title, "Inference API is down");
    assert_eq!(p.incidents[0].impact, "critical");
    assert_eq!(p.incidents[0].started_ms, Some(T19));
}

#[test]
fn a_maintenance_report() {
    let mut r = report(
        "4",
        "Database migration",
        None,
        Some("2026-12-05T21:00:00.000Z"),
    );
    r["attributes"]["aggregate_state"] = json!("maintenance");
    r["attributes"]["report_type"] = json!("maintenance");
    let p = parse(&page("maintenance", json!([r]))).unwrap();
    assert_eq!(p.incidents.len(), 1);
    assert_eq!(p.incidents[0].impact, "maintenance");
}

#[test]
fn lenient_report_attributes() {
    let r = json!({"id": "5", "type": "status_report", "attributes": {"name": "Degraded", "created_at": "2026-12-05T19:00:00Z"}});
    let odd = json!({"id": "6", "type": "status_report", "attributes": "not an object"});
    let p = parse(&page("degraded", json!([r, odd]))).unwrap();
    assert_eq!(p.incidents.len(), 1);
    assert_eq!(p.incidents[0].title, "Degraded");
    assert_eq!(p.incidents[0].impact, "minor");
    assert_eq!(p.incidents[0].started_ms, Some(T19));
}

#[test]
fn malformed_bodies_say_what_is_wrong() {
    let cases: [(&[u8], &str); 6] = [
        (
            b"{\"data\":{\"attributes\":{\"aggregate_state\":\"opera",
            "not JSON: ",
        ),
        (b"{}", "no `data`"),
        (br#"{"data":[]}"#, "`data` is an array, expected an object"),
        (
            br#"{"data":{"attributes":{}}}"#,
            "no `data.attributes.aggregate_state`",
        ),
        (
            br#"{"data":{"attributes":{"aggregate_state":"on_fire"}}}"#,
            "`data.attributes.aggregate_state` is `on_fire`, expected one of operational",
        ),
        (
            br#"{"data":{"attributes":{"aggregate_state":"operational"}},"included":[1]}"#,
            "`included[0]` is a number, expected an object",
        ),
    ];
    for (body, want) in cases {
        let e = parse(body).unwrap_err().to_string();
        assert!(e.starts_with(want), "{e:?} should start with {want:?}");
    }
}
