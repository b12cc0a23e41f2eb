//! The remote channels against loopback stand-ins of their services (tests/channels/): each
//! stand-in checks the request as the service documents it and answers as the service does,
//! so a channel can tell it from the service only by its base URL. Email goes to a real SMTP
//! sink (aiosmtpd).

#[path = "channels/support.rs"]
mod support;

#[path = "channels/discord.rs"]
mod discord;
#[path = "channels/email.rs"]
mod email;
#[path = "channels/ntfy.rs"]
mod ntfy;
#[path = "channels/slack.rs"]
mod slack;
#[path = "channels/telegram.rs"]
mod telegram;
#[path = "channels/webhook.rs"]
mod webhook;
#[path = "channels/whatsapp.rs"]
mod whatsapp;
