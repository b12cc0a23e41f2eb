//! QCity API.
