//! The API over a real engine, served on loopback, called over HTTP.

mod support;

mod access;
mod connections;
mod dashboard;
mod heal;
mod metrics;
mod qi;
mod routes;
mod stream;
