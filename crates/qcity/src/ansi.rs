//! Terminal escape codes out of text bound for a pipe or a file: `qcity logs | grep` should
//! see the words a runner wrote, not `^[[32m`. A stream may cut a code in two, so the state
//! carries over from one piece to the next.

/// Where in an escape code the last piece ended.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    #[default]
    Text,
    /// After ESC.
    Escape,
    /// In a control sequence (`ESC [` … a final byte 0x40–0x7E): colours, cursor moves.
    Csi,
    /// In an operating-system command (`ESC ]` … BEL or `ESC \`): window titles, links.
    Osc,
    /// After ESC inside an OSC (the start of its `ESC \` end).
    OscEscape,
}

#[derive(Debug, Default)]
pub struct Strip {
    state: State,
}

impl Strip {
    /// `bytes` without escape codes.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len());
        for &b in bytes {
            self.state = match (self.state, b) {
                (State::Text, 0x1b) => State::Escape,
                (State::Text, _) => {
                    out.push(b);
                    State::Text
                }
                (State::Escape, b'[') => State::Csi,
                (State::Escape, b']') => State::Osc,
                // A two-byte code (ESC 7, ESC c…): dropped whole.
                (State::Escape, _) => State::Text,
                (State::Csi, 0x40..=0x7e) => State::Text,
                (State::Csi, _) => State::Csi,
                (State::Osc, 0x07) => State::Text,
                (State::Osc, 0x1b) => State::OscEscape,
                (State::Osc, _) => State::Osc,
                (State::OscEscape, b'\\') => State::Text,
                (State::OscEscape, _) => State::Osc,
            };
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::Strip;

    #[test]
    fn colours_titles_and_codes_cut_in_two_are_removed_text_is_kept() {
        let mut s = Strip::default();
        assert_eq!(s.feed(b"\x1b[32mok\x1b[0m done\n"), b"ok done\n");
        assert_eq!(s.feed(b"\x1b]0;title\x07after"), b"after");
        assert_eq!(s.feed(b"\x1b]8;;http://x\x1b\\link"), b"link");
        // A code split over two reads of a stream.
        assert_eq!(s.feed(b"a\x1b[1;3"), b"a");
        assert_eq!(s.feed(b"1mb"), b"b");
        assert_eq!(s.feed("naïve ✓".as_bytes()), "naïve ✓".as_bytes());
    }
}
