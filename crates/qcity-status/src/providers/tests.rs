//! What holds for every format: the dispatch, and that no body (cut short, mangled or random)
//! panics a parser or passes for a page.

use qcity_types::PlatformState;

use super::{ParseError, Parsed, Provider, Watch, parse};

const ALL: [Provider; 6] = [
    Provider::Statuspage,
    Provider::StatusIo,
    Provider::BetterStack,
    Provider::Gcp,
    Provider::Aws,
    Provider::Azure,
];

/// A small valid body of each format, with one incident where the format has them.
fn sample(provider: Provider) -> Vec<u8> {
    let text = match provider {
        Provider::Statuspage => {
            r#"{"page":{"updated_at":"2026-12-05T19:30:11Z"},"incidents":[{"name":"Actions slow","status":"investigating","impact":"minor","created_at":"2026-12-05T19:00:00Z","shortlink":"https://stspg.io/x"}],"scheduled_maintenances":[],"status":{"indicator":"minor","description":"Minor Service Outage"}}"#
        }
        Provider::StatusIo => {
            r#"{"result":{"status_overall":{"updated":"2026-12-05T19:30:11Z","status":"Degraded Performance","status_code":300},"status":[],"incidents":[{"name":"CI slow","datetime_open":"2026-12-05T19:00:00Z"}],"maintenance":{"active":[],"upcoming":[]}}}"#
        }
        Provider::BetterStack => {
            r#"{"data":{"id":"1","type":"status_page","attributes":{"aggregate_state":"degraded"}},"included":[{"id":"2","type":"status_report","attributes":{"title":"Hub slow","starts_at":"2026-12-05T19:00:00Z","aggregate_state":"degraded"}}]}"#
        }
        Provider::Gcp => {
            r#"[{"id":"a","begin":"2026-12-05T19:00:00+00:00","modified":"2026-12-05T19:30:11+00:00","external_desc":"Cloud Build failing","status_impact":"SERVICE_DISRUPTION","severity":"medium","service_name":"Cloud Build","affected_products":[{"title":"Cloud Build","id":"x"}],"uri":"incidents/a"}]"#
        }
        Provider::Aws => {
            let json = r#"[{"arn":"arn:aws:health:us-east-1::event/EC2/AWS_EC2_OPERATIONAL_ISSUE/X","date":"1796497200","region_name":"N. Virginia","service":"ec2-us-east-1","service_name":"Amazon Elastic Compute Cloud","status":"1","summary":"Increased API Error Rates","event_log":[]}]"#;
            let utf16 = json.encode_utf16().flat_map(u16::to_le_bytes);
            return [0xFF, 0xFE].into_iter().chain(utf16).collect();
        }
        Provider::Azure => {
            r#"<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Azure Status</title><item><title>VMs &amp; disks</title><link>https://azure.status.microsoft/</link><pubDate>Sat, 05 Dec 2026 19:00:00 Z</pubDate></item></channel></rss>"#
        }
    };
    text.as_bytes().to_vec()
}

#[test]
fn dispatch_reads_each_sample() {
    for provider in ALL {
        let p: Parsed = parse(provider, &sample(provider), &Watch::default())
            .unwrap_or_else(|e| panic!("{provider:?}: {e}"));
        assert_ne!(p.state, PlatformState::Operational, "{provider:?}");
        assert_eq!(p.incidents.len(), 1, "{provider:?}");
        assert_eq!(
            p.incidents[0].started_ms,
            Some(1_796_497_200_000),
            "{provider:?}"
        );
    }
}

#[test]
fn dispatch_hands_the_watch_to_the_clouds() {
    let watch = Watch {
        aws: vec!["eu-west-1".into()],
        gcp_products: vec!["BigQuery".into()],
    };
    for provider in [Provider::Aws, Provider::Gcp] {
        let p = parse(provider, &sample(provider), &watch).unwrap();
        assert_eq!(p.state, PlatformState::Operational, "{provider:?}");
        assert!(p.incidents.is_empty(), "{provider:?}");
    }
    // The single-product formats ignore it.
    let p = parse(Provider::Statuspage, &sample(Provider::Statuspage), &watch).unwrap();
    assert_eq!(p.state, PlatformState::Degraded);
}

#[test]
fn every_cut_short_body_is_refused() {
    for provider in ALL {
        let body = sample(provider);
        for end in 0..body.len() {
            let result = parse(provider, &body[..end], &Watch::default());
            assert!(
                result.is_err(),
                "{provider:?} took the first {end} bytes: {result:?}"
            );
        }
    }
}

/// A deterministic pseudo-random sequence (Knuth's MMIX LCG): the same bytes on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Pieces that push a parser past its first check: syntax of both JSON and XML, UTF-16 and
/// UTF-8 marks, and the keys the formats look for.
const PIECES: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b":",
    b",",
    b"null",
    b"0",
    b"100",
    b"\"status\"",
    b"\"indicator\"",
    b"\"none\"",
    b"\"end\"",
    b"<rss>",
    b"<channel>",
    b"</channel>",
    b"<item>",
    b"</item>",
    b"<title>",
    b"</title>",
    b"<![CDATA[",
    b"]]>",
    b"&amp;",
    b"&#",
    b";",
    b"&",
    b"\xFF\xFE",
    b"\xFE\xFF",
    b"\xEF\xBB\xBF",
    b"\0",
    b"\xD8\x00",
    b"\xC3",
    b"\\u",
    b"\\ud800",
];

fn random_body(rng: &mut Lcg, provider: Provider) -> Vec<u8> {
    let len = rng.below(300);
    match rng.below(3) {
        // Bytes.
        0 => (0..len).map(|_| rng.next() as u8).collect(),
        // Syntax soup.
        1 => (0..len / 4)
            .flat_map(|_| PIECES[rng.below(PIECES.len())].iter().copied())
            .collect(),
        // A valid body, mangled in a few places.
        _ => {
            let mut body = sample(provider);
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(body.len() + 1);
                match rng.below(3) {
                    0 if at < body.len() => body[at] = rng.next() as u8,
                    1 => body
                        .splice(at..at, PIECES[rng.below(PIECES.len())].iter().copied())
                        .for_each(drop),
                    _ => body.truncate(at),
                }
            }
            body
        }
    }
}

#[test]
fn random_bodies_never_panic_and_errors_say_something() {
    let mut rng = Lcg(0x5eed_cafe);
    let watch = Watch {
        aws: vec!["us-east-1".into()],
        gcp_products: vec!["Cloud Build".into()],
    };
    for provider in ALL {
        let (mut refused, mut read) = (0, 0);
        for _ in 0..400 {
            let body = random_body(&mut rng, provider);
            for w in [&Watch::default(), &watch] {
                match parse(provider, &body, w) {
                    Ok(p) => {
                        read += 1;
                        assert!(p.incidents.len() <= super::MAX_INCIDENTS);
                        assert!(
                            p.incidents
                                .iter()
                                .all(|i| i.title.chars().count() <= super::MAX_TITLE_CHARS)
                        );
                    }
                    Err(e) => {
                        refused += 1;
                        let message = e.to_string();
                        assert!(!message.trim().is_empty(), "{provider:?}: {e:?}");
                        let _: &ParseError = &e;
                    }
                }
            }
        }
        // Most random bodies are refused; a mangled sample sometimes still reads.
        assert!(
            refused > read,
            "{provider:?}: {refused} refused, {read} read"
        );
    }
}

#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    let json = "[".repeat(100_000) + &"{\"a\":".repeat(100_000);
    let xml = "<rss><channel>".to_owned() + &"<item>".repeat(100_000);
    for provider in ALL {
        for body in [json.as_bytes(), xml.as_bytes()] {
            let e = parse(provider, body, &Watch::default()).unwrap_err();
            assert!(!e.to_string().is_empty());
        }
    }
}
