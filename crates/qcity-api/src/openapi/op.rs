//! How an operation is described: its parameters, body and answers, each schema made by a
//! function of the wire type (schemars registers what it refers to as components).

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

/// Makes the schema of one type, registering what it refers to as components.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// One operation as the document describes it.
pub struct Op {
    /// `get`, `post`, `put`, `delete`.
    pub method: &'static str,
    pub path: &'static str,
    pub id: &'static str,
    pub summary: &'static str,
    pub description: &'static str,
    /// Path and header parameters.
    pub params: &'static [Param],
    /// A struct whose fields are the query parameters (the handler reads the same struct).
    pub query: Option<SchemaFn>,
    /// The JSON request body.
    pub body: Option<SchemaFn>,
    /// Answers other than 401 and 403, which follow from the route's access.
    pub replies: &'static [Reply],
}

pub struct Param {
    pub name: &'static str,
    /// `path` or `header`.
    pub place: &'static str,
    pub description: &'static str,
    pub schema: SchemaFn,
}

impl Param {
    pub const fn path(name: &'static str, description: &'static str, schema: SchemaFn) -> Param {
        Param {
            name,
            place: "path",
            description,
            schema,
        }
    }

    pub const fn header(name: &'static str, description: &'static str, schema: SchemaFn) -> Param {
        Param {
            name,
            place: "header",
            description,
            schema,
        }
    }
}

pub struct Reply {
    pub status: u16,
    pub description: &'static str,
    pub body: Body,
}

pub enum Body {
    Empty,
    Json(SchemaFn),
    /// Any JSON document (the OpenAPI document itself).
    AnyJson,
    Text,
    EventStream,
}

/// The schema of `T`, as a reference to its component.
pub fn schema<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

/// An array of `T`.
pub fn array<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<Vec<T>>()
}

/// Runner and task names, as the config accepts them.
#[allow(non_snake_case)]
pub fn RUNNER_NAME(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"})
}

#[allow(non_snake_case)]
pub fn TASK_NAME(g: &mut SchemaGenerator) -> Schema {
    RUNNER_NAME(g)
}

/// An event id: below 2^53, so every client (JavaScript's numbers too) reads it exactly.
#[allow(non_snake_case)]
pub fn EVENT_ID(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "integer", "minimum": 0, "maximum": crate::queries::MAX_EVENT_ID})
}

/// User names, as `PUT /users/{name}` accepts them (`token` names the local token).
#[allow(non_snake_case)]
pub fn USER_NAME(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$", "not": {"const": "token"}})
}

/// The query struct of `T` as an inline object (not a component): its fields become the
/// operation's query parameters.
pub fn query<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    T::json_schema(g)
}

/// A job run's id, as the offload service makes them (`JOB-20261206T051500-a1b2c3`).
#[allow(non_snake_case)]
pub fn JOB_RUN_ID(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "pattern": "^JOB-[A-Za-z0-9-]{1,36}$"})
}
