//! Where a line's header (timestamp, level, host, pid, component) ends and its message
//! starts. Fields are separated by spaces and `|`.

use crate::bits::{Bits, COMPONENT, DIGIT, FIELD_END};
use crate::token::is_calendar;

/// Where the header of the lines of one source ends, learnt from its first lines: the
/// fields that hold a digit (or a month or weekday name) in nearly all of them (timestamps,
/// pids, sequence numbers) are header, and so is every field before the last of them,
/// while they stay within the first [`Header::FIELDS`]. A line whose header ends the usual
/// way (a `component:` after a timestamp, or a level and its component) is cut there when
/// that is further.
#[derive(Default)]
pub struct Header {
    lines: u32,
    digits: [u32; Header::FIELDS],
    /// Fields to skip, once learnt.
    fixed: Option<usize>,
    /// Per line learnt from: the fields its usual end took (see [`usual_end`]).
    usual: Vec<u8>,
    /// Whether any of those went past the fixed fields; if none did, the usual end is not
    /// looked for again (the fields already cover the component).
    usual_past: bool,
}

impl Header {
    /// Leading fields considered.
    pub const FIELDS: usize = 8;
    /// Lines seen before the numbered fields are fixed.
    pub const LEARN: u32 = 64;

    /// Whether the header's fields are fixed.
    pub fn learnt(&self) -> bool {
        self.fixed.is_some()
    }

    /// Where the message of a line starts (`bits` holds the line's bitmaps).
    pub(crate) fn cut(&mut self, bits: &Bits, line: &[u8]) -> usize {
        let skip = match self.fixed {
            Some(n) if !self.usual_past => return skip_fields(bits, n),
            Some(n) => n,
            None => {
                let (_, fields) = usual_end(bits, line);
                self.usual.push(fields.min(255) as u8);
                self.learn(line);
                self.numbered()
            }
        };
        skip_fields(bits, skip).max(usual_end(bits, line).0)
    }

    fn learn(&mut self, line: &[u8]) {
        self.lines += 1;
        for (i, field) in line
            .split(|&b| b <= 0x20 || b == b'|')
            .filter(|f| !f.is_empty())
            .take(Self::FIELDS)
            .enumerate()
        {
            let word = field.strip_prefix(b"[").unwrap_or(field);
            if field.iter().any(u8::is_ascii_digit) || is_calendar(word) {
                self.digits[i] += 1;
            }
        }
        if self.lines >= Self::LEARN {
            let skip = self.numbered();
            self.fixed = Some(skip);
            self.usual_past = self.usual.iter().any(|&f| usize::from(f) > skip);
            self.usual = Vec::new();
        }
    }

    /// Fields up to the last one that held a digit (or a month or weekday name) in 95 % of
    /// the lines, once 8 were seen.
    fn numbered(&self) -> usize {
        let most = |i: usize| self.digits[i] * 20 >= self.lines * 19;
        // A header starts with a time or a sequence number; a message that merely holds
        // numbers at fixed places (`GET /items/7 status 200`) is not one.
        if self.lines < 8 || !(most(0) || most(1)) {
            return 0;
        }
        (0..Self::FIELDS)
            .rev()
            .find(|&i| most(i))
            .map_or(0, |i| i + 1)
    }
}

/// Where the field after the first `n` starts.
fn skip_fields(bits: &Bits, n: usize) -> usize {
    let mut i = 0;
    for _ in 0..n {
        i = bits.next(FIELD_END, bits.next(FIELD_END, i, false), true);
    }
    i
}

/// After a `component:` field (`sshd[24200]:`, `dfs.DataNode$PacketResponder:`,
/// `WindowManager:`) or a level and its component (`INFO nova.compute.manager`,
/// `INFO [main]`) that follow a number, within the first ten fields; else 0. With the
/// fields it took.
fn usual_end(bits: &Bits, line: &[u8]) -> (usize, usize) {
    let len = bits.len();
    let mut seen_digit = false;
    let mut at = (0, 0);
    let mut i = 0;
    let mut after_level = false;
    for index in 0..10 {
        let start = bits.next(FIELD_END, i, false);
        if start == len {
            break;
        }
        let present;
        (i, present) = bits.run(start, FIELD_END, 1 << COMPONENT | 1 << DIGIT);
        let token = &line[start..i];
        let component_like = present & (1 << COMPONENT) != 0;
        if seen_digit
            && token.len() > 1
            && token[token.len() - 1] == b':'
            && (index <= 5 || component_like)
        {
            return (i, index + 1);
        }
        if after_level {
            after_level = false;
            if component_like && !token.ends_with(b":") {
                at = (i, index + 1);
            }
        }
        if seen_digit && is_level(token) {
            at = (i, index + 1);
            after_level = true;
        }
        seen_digit |= present & (1 << DIGIT) != 0;
    }
    at
}

fn is_level(token: &[u8]) -> bool {
    (4..=8).contains(&token.len()) && token[0].is_ascii_uppercase() && LEVELS.contains(&token)
}

/// Log levels as headers spell them.
const LEVELS: [&[u8]; 10] = [
    b"INFO",
    b"WARN",
    b"WARNING",
    b"ERROR",
    b"DEBUG",
    b"TRACE",
    b"FATAL",
    b"CRITICAL",
    b"SEVERE",
    b"NOTICE",
];
