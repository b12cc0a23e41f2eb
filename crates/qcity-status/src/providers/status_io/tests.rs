use qcity_types::PlatformState;
use serde_json::{Value, json};

use super::parse;

const T19: i64 = 1_796_497_200_000;
const T19_30_11_123: i64 = 1_796_499_011_123;

/// GitLab's page (`status-api.hostedstatus.com/1.0/status/5b36dc6502d06804c08349f7`),
/// trimmed to one component.
fn page(code: Value, status: &str) -> Value {
    json!({
        "result": {
            "status_overall": {
                "updated": "2026-12-05T19:30:11.123Z",
                "status": status,
                "status_code": code
            },
            "status": [{
                "id": "5b36dc6502d06804c08349fd",
                "name": "Website",
                "updated": "2026-12-05T19:30:11.123Z",
                "status": status,
                "status_code": code,
                "containers": [{
                    "id": "5b36dc6502d06804c08349f8",
                    "name": "Google Compute Engine",
                    "updated": "2026-12-05T19:30:11.123Z",
                    "status": status,
                    "status_code": code
                }]
            }],
            "incidents": [],
            "maintenance": {"active": [], "upcoming": []}
        }
    })
}

fn read(v: &Value) -> super::Parsed {
    parse(v.to_string().as_bytes()).unwrap()
}

#[test]
fn operational() {
    let p = read(&page(json!(100), "Operational"));
    assert_eq!(p.state, PlatformState::Operational);
    assert_eq!(p.summary, "Operational");
    assert!(p.incidents.is_empty());
    assert_eq!(p.updated_ms, Some(T19_30_11_123));
}

#[test]
fn every_code() {
    for (code, state) in [
        (100, PlatformState::Operational),
        (200, PlatformState::Maintenance),
        (300, PlatformState::Degraded),
        (400, PlatformState::PartialOutage),
        (500, PlatformState::MajorOutage),
        (600, PlatformState::MajorOutage),
    ] {
        assert_eq!(read(&page(json!(code), "x")).state, state, "{code}");
        // Some clients see the code as a string.
        assert_eq!(
            read(&page(json!(code.to_string()), "x")).state,
            state,
            "\"{code}\""
        );
    }
}

#[test]
fn an_incident_and_an_active_maintenance() {
    let mut v = page(json!(400), "Partial Service Disruption");
    v["result"]["incidents"] = json!([{
        "_id": "6750a1b2c3d4e5f601234567",
        "name": "Elevated error rates on GitLab.com",
        "datetime_open": "2026-12-05T19:00:00.000Z",
        "messages": [{"details": "We are investigating.", "state": 100, "status": 400, "datetime": "2026-12-05T19:00:00.000Z"}],
        "containers_affected": [{"name": "Google Compute Engine", "_id": "5b36dc6502d06804c08349f8"}],
        "components_affected": [{"name": "Website", "_id": "5b36dc6502d06804c08349fd"}]
    }]);
    v["result"]["maintenance"]["active"] = json!([{
        "_id": "6750a1b2c3d4e5f601234568",
        "name": "Database failover",
        "datetime_planned_start": "2026-12-05T18:00:00.000Z",
        "datetime_planned_end": "2026-12-05T20:00:00.000Z"
    }]);
    let p = read(&v);
    assert_eq!(p.state, PlatformState::PartialOutage);
    assert_eq!(p.summary, "Partial Service Disruption");
    assert_eq!(p.incidents.len(), 2);
    let inc = &p.incidents[0];
    assert_eq!(inc.title, "Elevated error rates on GitLab.com");
    assert_eq!(
        inc.impact, "major",
        "as bad as the page when the incident does not say"
    );
    assert_eq!(inc.started_ms, Some(T19));
    let m = &p.incidents[1];
    assert_eq!(m.title, "Database failover");
    assert_eq!(m.impact, "maintenance");
    assert_eq!(m.started_ms, Some(1_796_493_600_000));
}

#[test]
fn lenient_incident_names() {
    let mut v = page(json!(300), "Degraded Performance");
    v["result"]["incidents"] = json!([{"title": "Slow CI"}, {"name": 5}]);
    let p = read(&v);
    assert_eq!(p.incidents[0].title, "Slow CI");
    assert_eq!(p.incidents[0].impact, "minor");
    assert_eq!(p.incidents[1].title, "Untitled incident");
}

#[test]
fn malformed_bodies_say_what_is_wrong() {
    let cases: [(&[u8], &str); 7] = [
        (b"{\"result\":", "not JSON: "),
        (b"\"ok\"", "`body` is a string, expected an object"),
        (b"{}", "no `result`"),
        (br#"{"result":{}}"#, "no `result.status_overall`"),
        (
            br#"{"result":{"status_overall":{"status":"Operational"}}}"#,
            "no `result.status_overall.status_code`",
        ),
        (
            br#"{"result":{"status_overall":{"status_code":250}}}"#,
            "`result.status_overall.status_code` is `250`, expected one of 100, 200",
        ),
        (
            br#"{"result":{"status_overall":{"status_code":100},"incidents":"none"}}"#,
            "`result.incidents` is a string, expected an array",
        ),
    ];
    for (body, want) in cases {
        let e = parse(body).unwrap_err().to_string();
        assert!(e.starts_with(want), "{e:?} should start with {want:?}");
    }
}
