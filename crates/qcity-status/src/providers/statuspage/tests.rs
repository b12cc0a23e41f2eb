use qcity_types::PlatformState;
use serde_json::json;

use super::parse;

/// 2026-12-05T19:00:00Z and neighbours, in ms.
const T19: i64 = 1_796_497_200_000;
const T19_30_11_123: i64 = 1_796_499_011_123;

/// GitHub's `summary.json` on a quiet day, trimmed to one component.
const OPERATIONAL: &str = r#"{
  "page": {
    "id": "kctbh9vrtdwd",
    "name": "GitHub",
    "url": "https://www.githubstatus.com",
    "time_zone": "Etc/UTC",
    "updated_at": "2026-12-05T19:30:11.123Z"
  },
  "components": [
    {
      "id": "8l4ygp009s5s",
      "name": "Git Operations",
      "status": "operational",
      "created_at": "2017-01-31T20:05:05.370Z",
      "updated_at": "2026-12-01T09:12:44.123Z",
      "position": 1,
      "description": "Performance of git clones, pulls, pushes, and associated operations",
      "showcase": false,
      "start_date": null,
      "group_id": null,
      "page_id": "kctbh9vrtdwd",
      "group": false,
      "only_show_if_degraded": false
    }
  ],
  "incidents": [],
  "scheduled_maintenances": [],
  "status": { "indicator": "none", "description": "All Systems Operational" }
}"#;

/// An incident under investigation, one resolved (still listed by `incidents.json`) and a
/// maintenance scheduled for later.
fn with_incident(indicator: &str, description: &str) -> Vec<u8> {
    json!({
        "page": {"id": "kctbh9vrtdwd", "name": "GitHub", "updated_at": "2026-12-05T19:30:11.123Z"},
        "components": [],
        "incidents": [
            {
                "id": "3k2h6l0d5p1q",
                "name": "Incident with Actions",
                "status": "investigating",
                "created_at": "2026-12-05T19:01:02.345Z",
                "updated_at": "2026-12-05T19:05:00.000Z",
                "monitoring_at": null,
                "resolved_at": null,
                "impact": "major",
                "shortlink": "https://stspg.io/abcd1234",
                "started_at": "2026-12-05T19:00:00.000Z",
                "page_id": "kctbh9vrtdwd",
                "incident_updates": [
                    {"id": "u1", "status": "investigating", "body": "We are investigating reports of degraded performance for Actions", "created_at": "2026-12-05T19:01:02.345Z"}
                ],
                "components": []
            },
            {
                "id": "old", "name": "Old one", "status": "resolved", "impact": "minor",
                "created_at": "2026-12-04T10:00:00.000Z", "shortlink": "https://stspg.io/old"
            }
        ],
        "scheduled_maintenances": [
            {
                "id": "m1", "name": "Codespaces maintenance", "status": "scheduled", "impact": "maintenance",
                "scheduled_for": "2026-12-09T01:00:00.000Z", "scheduled_until": "2026-12-09T03:00:00.000Z",
                "shortlink": "https://stspg.io/m1"
            }
        ],
        "status": {"indicator": indicator, "description": description}
    })
    .to_string()
    .into_bytes()
}

#[test]
fn all_operational() {
    let p = parse(OPERATIONAL.as_bytes()).unwrap();
    assert_eq!(p.state, PlatformState::Operational);
    assert_eq!(p.summary, "All Systems Operational");
    assert!(p.incidents.is_empty());
    assert_eq!(p.updated_ms, Some(T19_30_11_123));
}

#[test]
fn each_indicator_level() {
    for (indicator, state) in [
        ("none", PlatformState::Operational),
        ("minor", PlatformState::Degraded),
        ("major", PlatformState::PartialOutage),
        ("critical", PlatformState::MajorOutage),
        ("maintenance", PlatformState::Maintenance),
    ] {
        let p = parse(&with_incident(indicator, "Partial System Outage")).unwrap();
        assert_eq!(p.state, state, "{indicator}");
        assert_eq!(p.summary, "Partial System Outage");
    }
}

#[test]
fn an_open_incident_is_listed_and_resolved_ones_are_not() {
    let p = parse(&with_incident("major", "Partial System Outage")).unwrap();
    assert_eq!(p.incidents.len(), 1, "{:?}", p.incidents);
    let i = &p.incidents[0];
    assert_eq!(i.title, "Incident with Actions");
    assert_eq!(i.impact, "major");
    assert_eq!(i.started_ms, Some(T19), "started_at wins over created_at");
    assert_eq!(i.url.as_deref(), Some("https://stspg.io/abcd1234"));
}

#[test]
fn a_maintenance_in_progress_under_indicator_none_is_maintenance() {
    let body = json!({
        "page": {"updated_at": "2026-12-05T19:30:11.123Z"},
        "incidents": [],
        "scheduled_maintenances": [{
            "id": "m2", "name": "Database upgrade", "status": "in_progress", "impact": "maintenance",
            "scheduled_for": "2026-12-05T19:00:00.000Z", "started_at": null,
            "shortlink": "https://stspg.io/m2"
        }],
        "status": {"indicator": "none", "description": "All Systems Operational"}
    });
    let p = parse(body.to_string().as_bytes()).unwrap();
    assert_eq!(p.state, PlatformState::Maintenance);
    assert_eq!(p.incidents.len(), 1);
    assert_eq!(p.incidents[0].title, "Database upgrade");
    assert_eq!(p.incidents[0].impact, "maintenance");
    assert_eq!(
        p.incidents[0].started_ms,
        Some(T19),
        "scheduled_for when started_at is null"
    );
}

#[test]
fn a_maintenance_does_not_hide_an_outage() {
    let body = json!({
        "scheduled_maintenances": [{"name": "DB", "status": "in_progress"}],
        "status": {"indicator": "critical", "description": "Major System Outage"}
    });
    let p = parse(body.to_string().as_bytes()).unwrap();
    assert_eq!(p.state, PlatformState::MajorOutage);
    assert_eq!(p.incidents.len(), 1);
}

#[test]
fn status_json_has_no_incidents() {
    let body = br#"{"page":{"id":"kctbh9vrtdwd","name":"GitHub","url":"https://www.githubstatus.com","time_zone":"Etc/UTC","updated_at":"2026-12-05T19:30:11.123Z"},"status":{"indicator":"minor","description":"Minor Service Outage"}}"#;
    let p = parse(body).unwrap();
    assert_eq!(p.state, PlatformState::Degraded);
    assert_eq!(p.summary, "Minor Service Outage");
    assert!(p.incidents.is_empty());
    assert_eq!(p.updated_ms, Some(T19_30_11_123));
}

#[test]
fn lenient_on_decoration() {
    // No description, no page, an incident with an unknown impact and no times.
    let body = json!({
        "incidents": [{"name": "Something", "status": "identified", "impact": "catastrophic"}],
        "status": {"indicator": "minor"}
    });
    let p = parse(body.to_string().as_bytes()).unwrap();
    assert_eq!(p.summary, "Incident in progress");
    assert_eq!(p.updated_ms, None);
    assert_eq!(p.incidents[0].impact, "none");
    assert_eq!(p.incidents[0].started_ms, None);
}

#[test]
fn malformed_bodies_say_what_is_wrong() {
    let cases: [(&[u8], &str); 8] = [
        (b"<html>503</html>", "not JSON: "),
        (b"", "empty body"),
        (b"[]", "`body` is an array, expected an object"),
        (br#"{"page":{}}"#, "no `status`"),
        (br#"{"status":{}}"#, "no `status.indicator`"),
        (
            br#"{"status":{"indicator":3}}"#,
            "`status.indicator` is a number, expected a string",
        ),
        (
            br#"{"status":{"indicator":"purple"}}"#,
            "`status.indicator` is `purple`, expected one of none, minor",
        ),
        (
            br#"{"status":{"indicator":"none"},"incidents":{}}"#,
            "`incidents` is an object, expected an array",
        ),
    ];
    for (body, want) in cases {
        let e = parse(body).unwrap_err().to_string();
        assert!(e.starts_with(want), "{e:?} should start with {want:?}");
    }
}
