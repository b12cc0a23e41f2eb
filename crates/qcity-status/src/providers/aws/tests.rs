use qcity_types::PlatformState;
use serde_json::{Value, json};

use super::{parse, parse_watching, split_service};

const T19: i64 = 1_796_497_200_000;

/// One event of `currentevents` as public clients record it.
fn event(service: &str, region: &str, region_name: &str, status: &str) -> Value {
    let code = service
        .split('-')
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    let name = match code.as_str() {
        "S3" => "Amazon Simple Storage Service",
        _ => "Amazon Elastic Compute Cloud",
    };
    json!({
        "arn": format!("arn:aws:health:{region}::event/{code}/AWS_{code}_OPERATIONAL_ISSUE/AWS_{code}_OPERATIONAL_ISSUE_BA1D5_6F1C2E8A9B3"),
        "date": "1796497200",
        "description": null,
        "event_log": [{
            "message": "We are investigating increased API error rates in the region.",
            "status": 1,
            "summary": "Increased API Error Rates",
            "timestamp": 1796497200
        }],
        "impacted_services": {
            service: {"current": status, "max": status, "service_name": name}
        },
        "region_name": region_name,
        "service": service,
        "service_name": name,
        "status": status,
        "summary": "Increased API Error Rates"
    })
}

fn utf16le_bom(text: &str) -> Vec<u8> {
    [0xFF, 0xFE]
        .into_iter()
        .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
        .collect()
}

fn utf16be_bom(text: &str) -> Vec<u8> {
    [0xFE, 0xFF]
        .into_iter()
        .chain(text.encode_utf16().flat_map(u16::to_be_bytes))
        .collect()
}

fn utf16le(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn one_event() -> String {
    Value::Array(vec![event(
        "ec2-us-east-1",
        "us-east-1",
        "N. Virginia",
        "1",
    )])
    .to_string()
}

fn watch(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn every_encoding_reads_the_same() {
    let text = one_event();
    for (name, body) in [
        ("UTF-16 LE with BOM", utf16le_bom(&text)),
        ("UTF-16 BE with BOM", utf16be_bom(&text)),
        ("UTF-16 LE without BOM", utf16le(&text)),
        ("UTF-8", text.clone().into_bytes()),
    ] {
        let p = parse(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(p.state, PlatformState::Degraded, "{name}");
        assert_eq!(p.summary, "1 current event", "{name}");
        assert_eq!(p.incidents.len(), 1, "{name}");
        let i = &p.incidents[0];
        assert_eq!(
            i.title,
            "Amazon Elastic Compute Cloud (N. Virginia): Increased API Error Rates"
        );
        assert_eq!(i.impact, "minor");
        assert_eq!(i.started_ms, Some(T19));
        assert_eq!(p.updated_ms, None);
    }
}

#[test]
fn utf16_be_without_bom() {
    let body: Vec<u8> = one_event()
        .encode_utf16()
        .flat_map(u16::to_be_bytes)
        .collect();
    assert_eq!(parse(&body).unwrap().state, PlatformState::Degraded);
}

#[test]
fn an_empty_array_is_operational() {
    for body in [utf16le_bom("[]"), utf16be_bom("[ ]\n"), b"[]".to_vec()] {
        let p = parse(&body).unwrap();
        assert_eq!(p.state, PlatformState::Operational);
        assert_eq!(p.summary, "No current events");
        assert!(p.incidents.is_empty());
    }
}

#[test]
fn resolved_events_do_not_count() {
    let mut by_status = event("ec2-us-east-1", "us-east-1", "N. Virginia", "0");
    by_status["summary"] = json!("Increased API Error Rates");
    let mut by_summary = event("s3-eu-west-1", "eu-west-1", "Ireland", "1");
    by_summary["summary"] = json!("[RESOLVED] Elevated latencies");
    let mut by_end = event("lambda-us-west-2", "us-west-2", "Oregon", "2");
    by_end["endTime"] = json!("2026-12-05T20:00:00Z");
    let body = Value::Array(vec![by_status, by_summary, by_end]).to_string();
    let p = parse(&utf16le_bom(&body)).unwrap();
    assert_eq!(p.state, PlatformState::Operational, "{:?}", p.incidents);
}

#[test]
fn the_status_rates_the_impact_and_date_falls_back_to_the_log() {
    let mut e = event("ec2-us-east-1", "us-east-1", "N. Virginia", "3");
    e["date"] = Value::Null;
    e["event_log"][0]["timestamp"] = json!("1796497200");
    let p = parse(Value::Array(vec![e]).to_string().as_bytes()).unwrap();
    assert_eq!(p.incidents[0].impact, "critical");
    assert_eq!(p.incidents[0].started_ms, Some(T19));
}

#[test]
fn an_event_of_an_unwatched_region_or_service() {
    let body = Value::Array(vec![
        event("ec2-eu-central-1", "eu-central-1", "Frankfurt", "1"),
        event(
            "s3-us-gov-west-1",
            "us-gov-west-1",
            "GovCloud (US-West)",
            "2",
        ),
    ])
    .to_string();
    let body = utf16le_bom(&body);

    let p = parse_watching(&body, &watch(&["us-east-1"])).unwrap();
    assert_eq!(p.state, PlatformState::Operational);
    assert!(p.incidents.is_empty());

    for (w, n) in [
        (&["eu-central-1"][..], 1),
        (&["EC2"][..], 1),
        (&["ec2-eu-central-1"][..], 1),
        (&["Frankfurt"][..], 1),
        (&["s3"][..], 1),
        (&["Amazon Simple Storage Service"][..], 1),
        (&["us-gov-west-1"][..], 1),
        (&["ec2-us-east-1"][..], 0),
        (&["lambda", "eu-central-1", "s3"][..], 2),
        (&[][..], 2),
    ] {
        let p = parse_watching(&body, &watch(w)).unwrap();
        assert_eq!(p.incidents.len(), n, "{w:?}");
    }
}

#[test]
fn service_names_split_into_service_and_region() {
    assert_eq!(
        split_service("ec2-us-east-1"),
        (Some("ec2"), Some("us-east-1"))
    );
    assert_eq!(
        split_service("s3-us-gov-west-1"),
        (Some("s3"), Some("us-gov-west-1"))
    );
    assert_eq!(
        split_service("elasticbeanstalk-ap-southeast-2"),
        (Some("elasticbeanstalk"), Some("ap-southeast-2"))
    );
    assert_eq!(split_service("iam"), (Some("iam"), None));
    assert_eq!(split_service("us-east-1"), (Some("us-east-1"), None));
    assert_eq!(split_service("-us-east-1"), (Some(""), Some("us-east-1")));
}

#[test]
fn malformed_bodies_say_what_is_wrong() {
    let truncated = &utf16le_bom(&one_event())[..41];
    let cases: [(&[u8], &str); 7] = [
        (
            truncated,
            "not UTF-16 JSON: little-endian, but an odd number of bytes (39)",
        ),
        (&utf16le_bom(&one_event())[..40], "not JSON: "),
        (
            &[0xFE, 0xFF, 0xDC, 0x00, 0x00, b'['],
            "not UTF-16 JSON: big-endian, unpaired surrogate",
        ),
        (b"\xFF\xFE", "empty body"),
        (b"\x80\x81\x82", "not UTF-8: "),
        (
            b"{\"events\":[]}",
            "`body` is an object, expected an array of events",
        ),
        (b"[\"ec2\"]", "`body[0]` is a string, expected an object"),
    ];
    for (body, want) in cases {
        let e = parse(body).unwrap_err().to_string();
        assert!(e.starts_with(want), "{e:?} should start with {want:?}");
    }
}
