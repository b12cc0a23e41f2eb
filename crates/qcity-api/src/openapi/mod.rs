//! The OpenAPI 3.1 document, generated: who may call an operation from the route table
//! (`routes.rs`), what it is for and what it takes and answers from [`ops`], and every schema
//! from the wire types (`qcity-types`, by schemars). `openapi.json` beside this file is the
//! checked-in copy, for readers and for the dashboard's generated TypeScript types; a test
//! fails when it drifts (`QCITY_BLESS=1 cargo test -p qcity-api --test api openapi` rewrites it).

mod op;
mod ops;

use schemars::generate::SchemaSettings;
use schemars::{Schema, SchemaGenerator};
use serde_json::{Map, Value, json};

use crate::routes::{Access, ROUTES};
use op::{Body, Op, Reply, schema};

const DESCRIPTION: &str = "The local HTTP API of the `qcity up` daemon, bound to loopback. A request proves a role: **master** with the master token from the data directory's `token` file as `Authorization: Bearer TOKEN` (CLI, tray app), or with a session cookie from `POST /api/v1/auth/login` (dashboard); **viewer** with the session of a user created by the master. Each operation's `x-qcity-role` says which role it needs: a request without a valid token or session gets 401, a viewer on a master operation 403. Requests whose `Host` is not 127.0.0.1, localhost, [::1] or one of `api.allowed_hosts` get 403 `host_not_allowed`; state-changing requests with a foreign `Origin` get 403 `foreign_origin`. Errors are JSON `{code, message, errors?}`. Token clients may send `X-QCity-Client: NAME` (cli, tray…), recorded in the audit log as actor `master:NAME`; dashboard users are recorded as `ROLE:USER`. This document is generated from the daemon's own types.";

/// The whole document.
pub fn document() -> Value {
    let mut g = SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
        })
        .into_generator();
    let mut paths = Map::new();
    for op in ops::OPS {
        let access = access_of(op);
        let item = paths
            .entry(op.path)
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("a path item is an object");
        item.insert(op.method.to_string(), operation(op, access, &mut g));
    }
    let schemas = g.take_definitions(true);
    json!({
        "openapi": "3.1.0",
        "info": {"title": "QCity Runners Engine local API", "version": "1", "description": DESCRIPTION},
        "servers": [{"url": "http://127.0.0.1:7717"}],
        "security": [{"token": []}, {"session": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "token": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The master token (64 hex characters) in the data directory's `token` file, mode 0600."
                },
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "qcity_session",
                    "description": "A dashboard session from `POST /api/v1/auth/login` (HttpOnly, SameSite=Strict)."
                }
            },
            "schemas": schemas,
        }
    })
}

/// The route table's access for `op`; an operation the router does not serve is a bug.
fn access_of(op: &Op) -> Access {
    ROUTES
        .iter()
        .find(|(m, p, _)| m.as_str().eq_ignore_ascii_case(op.method) && *p == op.path)
        .map(|(_, _, a)| *a)
        .unwrap_or_else(|| panic!("{} {} is documented but not routed", op.method, op.path))
}

fn operation(op: &Op, access: Access, g: &mut SchemaGenerator) -> Value {
    let mut params: Vec<Value> = op
        .params
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "in": p.place,
                "required": p.place == "path",
                "description": p.description,
                "schema": (p.schema)(g),
            })
        })
        .collect();
    if let Some(query) = op.query {
        params.extend(query_params(query(g)));
    }
    let mut responses = Map::new();
    for r in op.replies {
        responses.insert(r.status.to_string(), reply(r, g));
    }
    let error = |d: &str, g: &mut SchemaGenerator| json!({"description": d, "content": {"application/json": {"schema": schema::<qcity_types::ErrorBody>(g)}}});
    if access != Access::Public {
        responses.insert(
            "401".into(),
            error("No valid token or session (`unauthorized`).", g),
        );
    }
    // The guard answers every operation: a Host not ours is refused, and a state-changing
    // request not from the dashboard's own origin (a session cookie without `Origin` too).
    let writes = op.method != "get";
    let why = match (access == Access::Master, writes) {
        (true, true) => {
            "A viewer: this needs the master role (`forbidden`); or the request came from another origin (`foreign_origin`) or host (`host_not_allowed`)."
        }
        (true, false) => {
            "A viewer: this needs the master role (`forbidden`); or the request named another host (`host_not_allowed`)."
        }
        (false, true) => {
            "The request came from another origin (`foreign_origin`) or host (`host_not_allowed`)."
        }
        (false, false) => "The request named another host (`host_not_allowed`).",
    };
    responses.insert("403".into(), error(why, g));
    let mut o = json!({
        "operationId": op.id,
        "summary": op.summary,
        "x-qcity-role": match access {
            Access::Public => "public",
            Access::Viewer => "viewer",
            Access::Master => "master",
        },
        "responses": responses,
    });
    let obj = o.as_object_mut().expect("an object");
    if !op.description.is_empty() {
        obj.insert("description".into(), op.description.into());
    }
    if !params.is_empty() {
        obj.insert("parameters".into(), params.into());
    }
    if let Some(body) = op.body {
        obj.insert(
            "requestBody".into(),
            json!({"required": true, "content": {"application/json": {"schema": body(g)}}}),
        );
    }
    if access == Access::Public {
        // Anyone may call it: it authenticates the caller itself.
        obj.insert("security".into(), json!([]));
    }
    o
}

fn reply(r: &Reply, g: &mut SchemaGenerator) -> Value {
    let content = match &r.body {
        Body::Empty => return json!({"description": r.description}),
        Body::Json(s) => json!({"application/json": {"schema": s(g)}}),
        Body::AnyJson => json!({"application/json": {"schema": {"type": "object"}}}),
        Body::Text => json!({"text/plain": {"schema": {"type": "string"}}}),
        Body::EventStream => json!({"text/event-stream": {"schema": {"type": "string"}}}),
    };
    json!({"description": r.description, "content": content})
}

/// A query struct's fields as query parameters: each field's schema, its description moved to
/// the parameter.
fn query_params(schema: Schema) -> Vec<Value> {
    let obj = schema.as_object().cloned().unwrap_or_default();
    let required: Vec<String> = obj
        .get("required")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let props = obj
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    props
        .into_iter()
        .map(|(name, mut s)| {
            let o = s.as_object_mut();
            let description = o
                .and_then(|o| {
                    // An absent parameter is absent, never `null`: an `Option` field's null
                    // type and default mean nothing in a query string.
                    if o.get("default") == Some(&Value::Null) {
                        o.remove("default");
                    }
                    if let Some(Value::Array(types)) = o.get("type") {
                        let kept: Vec<Value> =
                            types.iter().filter(|t| *t != "null").cloned().collect();
                        if kept.len() == 1 {
                            o.insert("type".into(), kept[0].clone());
                        }
                    }
                    o.remove("description")
                })
                .unwrap_or(Value::String(String::new()));
            json!({
                "name": name,
                "in": "query",
                "required": required.contains(&name),
                "description": description,
                "schema": s,
            })
        })
        .collect()
}
