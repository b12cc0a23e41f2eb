use qcity_types::PlatformState;
use serde_json::{Value, json};

use super::{parse, parse_watching};

const T19: i64 = 1_796_497_200_000;

/// One incident of `incidents.json` as Google writes it; `end` None leaves it ongoing.
fn incident(id: &str, product: &str, impact: &str, severity: &str, end: Option<&str>) -> Value {
    let mut v = json!({
        "id": id,
        "number": "7312956102394812034",
        "begin": "2026-12-05T19:00:00+00:00",
        "created": "2026-12-05T19:05:00+00:00",
        "modified": "2026-12-05T19:30:11+00:00",
        "external_desc": format!("{product}: elevated error rates in us-central1"),
        "updates": [{
            "created": "2026-12-05T19:05:00+00:00",
            "modified": "2026-12-05T19:05:00+00:00",
            "when": "2026-12-05T19:05:00+00:00",
            "text": "We are investigating.",
            "status": "SERVICE_DISRUPTION",
            "affected_locations": [{"title": "Iowa (us-central1)", "id": "us-central1"}]
        }],
        "most_recent_update": {"text": "We are investigating.", "status": "SERVICE_DISRUPTION"},
        "status_impact": impact,
        "severity": severity,
        "service_key": "8E4e5v9GvUmWkSbg1bqf",
        "service_name": product,
        "affected_products": [{"title": product, "id": "8E4e5v9GvUmWkSbg1bqf"}],
        "uri": format!("incidents/{id}"),
        "currently_affected_locations": [{"title": "Iowa (us-central1)", "id": "us-central1"}],
        "previously_affected_locations": []
    });
    if let Some(end) = end {
        v["end"] = json!(end);
    }
    v
}

fn body(items: &[Value]) -> Vec<u8> {
    Value::Array(items.to_vec()).to_string().into_bytes()
}

#[test]
fn only_ended_incidents_is_operational() {
    let ended = incident(
        "a1",
        "Cloud Build",
        "SERVICE_OUTAGE",
        "high",
        Some("2026-12-04T12:00:00+00:00"),
    );
    let mut ended_null = incident("a2", "Cloud Run", "SERVICE_OUTAGE", "high", None);
    ended_null["end"] = json!("2026-12-04T13:00:00+00:00");
    let p = parse(&body(&[ended, ended_null])).unwrap();
    assert_eq!(p.state, PlatformState::Operational);
    assert_eq!(p.summary, "No active incidents");
    assert!(p.incidents.is_empty());
    assert_eq!(p.updated_ms, Some(1_796_499_011_000));
}

#[test]
fn empty_array_is_operational() {
    let p = parse(b"[]").unwrap();
    assert_eq!(p.state, PlatformState::Operational);
    assert_eq!(p.updated_ms, None);
}

#[test]
fn an_ongoing_incident_beside_ended_ones() {
    let ongoing = incident("b1", "Cloud Build", "SERVICE_DISRUPTION", "medium", None);
    let mut null_end = incident("b2", "Cloud Storage", "SERVICE_INFORMATION", "low", None);
    null_end["end"] = Value::Null;
    let ended = incident(
        "b3",
        "Cloud Run",
        "SERVICE_OUTAGE",
        "high",
        Some("2026-12-04T12:00:00+00:00"),
    );
    let p = parse(&body(&[ongoing, null_end, ended])).unwrap();
    assert_eq!(
        p.state,
        PlatformState::PartialOutage,
        "the worst active one: a disruption"
    );
    assert_eq!(p.summary, "2 active incidents");
    assert_eq!(p.incidents.len(), 2);
    let i = &p.incidents[0];
    assert_eq!(i.title, "Cloud Build: elevated error rates in us-central1");
    assert_eq!(i.impact, "major");
    assert_eq!(i.started_ms, Some(T19));
    assert_eq!(
        i.url.as_deref(),
        Some("https://status.cloud.google.com/incidents/b1")
    );
    assert_eq!(p.incidents[1].impact, "minor");
}

#[test]
fn each_status_impact() {
    for (impact, state) in [
        ("SERVICE_OUTAGE", PlatformState::MajorOutage),
        ("SERVICE_DISRUPTION", PlatformState::PartialOutage),
        ("SERVICE_INFORMATION", PlatformState::Degraded),
    ] {
        let p = parse(&body(&[incident("c", "Cloud Run", impact, "low", None)])).unwrap();
        assert_eq!(p.state, state, "{impact}");
    }
}

#[test]
fn the_product_filter() {
    let items = [
        incident("d1", "Cloud Build", "SERVICE_OUTAGE", "high", None),
        incident(
            "d2",
            "Google Compute Engine",
            "SERVICE_INFORMATION",
            "low",
            None,
        ),
    ];
    let watch = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    let p = parse_watching(&body(&items), &watch(&["google compute engine"])).unwrap();
    assert_eq!(
        p.state,
        PlatformState::Degraded,
        "the outage is of an unwatched product"
    );
    assert_eq!(p.incidents.len(), 1);
    assert_eq!(
        p.incidents[0].title,
        "Google Compute Engine: elevated error rates in us-central1"
    );

    let p = parse_watching(&body(&items), &watch(&["BigQuery"])).unwrap();
    assert_eq!(p.state, PlatformState::Operational);
    assert!(p.incidents.is_empty());

    let p = parse_watching(&body(&items), &[]).unwrap();
    assert_eq!(p.state, PlatformState::MajorOutage);
}

#[test]
fn malformed_bodies_say_what_is_wrong() {
    let cases: [(&[u8], &str); 4] = [
        (b"[{\"id\":", "not JSON: "),
        (
            b"{\"incidents\":[]}",
            "`body` is an object, expected an array of incidents",
        ),
        (b"[{}, null]", "`body[1]` is null, expected an object"),
        (b"   ", "empty body"),
    ];
    for (body, want) in cases {
        let e = parse(body).unwrap_err().to_string();
        assert!(e.starts_with(want), "{e:?} should start with {want:?}");
    }
}
