//! Online log-template mining that needs no tuning per log source.
//!
//! A line becomes a *key*: its tokens (split at whitespace and at the punctuation that
//! separates fields: `| , ; = ( ) [ ] { } "`), each token that holds a digit, or is a month or
//! weekday name, replaced by a wildcard. Equal keys are one template. Then, like Drain's
//! similarity step but without its per-source threshold, keys of equal length that differ in
//! one position are merged once that position has shown [`VARIABLE_AFTER`] different words
//! while every other position stayed the same: user names, program names and hosts become
//! `<*>`, while a constant with two spellings (`opened`/`closed`, `true`/`false`) stays two
//! templates. Headers need no detection: their timestamps, pids and hosts are masked like any
//! other variable, and their constant words (levels, components) follow the template.
//!
//! Memory is bounded by `max_keys`: beyond it, the least recently seen tenth of the keys is
//! forgotten with their slots (a key seen again later starts a new template). What stays of a
//! forgotten key is a 40-byte stub in the union-find table, so templates merged through it
//! keep their ids.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Distinct words at one position, with the rest of the key equal, that make it a variable.
pub const VARIABLE_AFTER: usize = 3;

/// Constant words a key must keep besides the one judged a variable.
pub const MIN_CONTEXT: usize = 3;

/// The id of a template; stable for the life of the miner.
pub type TemplateId = u32;

const WILD: u32 = 0;

/// A fast non-cryptographic hasher (FxHash): keys are our own tokens, not attacker-chosen
/// input reaching a network service, and hashing is most of the work per line.
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(b));
        }
    }
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl FxHasher {
    #[inline]
    fn add(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type Fx = BuildHasherDefault<FxHasher>;

struct Key {
    syms: Box<[u32]>,
    /// Union-find parent (a key index); a root's template is in `templates`.
    parent: u32,
    last_seen: u64,
    count: u64,
}

/// A position of a key with every other position fixed: the words seen there.
#[derive(Default)]
struct Slot {
    words: Vec<u32>,
    members: Vec<u32>,
    variable: bool,
}

pub struct Miner {
    words: HashMap<u64, u32, Fx>,
    names: Vec<Box<str>>,
    keys: Vec<Key>,
    by_syms: HashMap<Box<[u32]>, u32, Fx>,
    slots: HashMap<(u64, u32), Slot, Fx>,
    /// Slots by the hash of their key with the slot's position left out.
    dropped: HashMap<u64, Vec<(u64, u32)>, Fx>,
    /// Keys by the hash of their words.
    by_hash: HashMap<u64, u32, Fx>,
    /// Each root key's template: its words, `WILD` where merged keys differ.
    templates: HashMap<u32, Box<[u32]>, Fx>,
    /// Template ids handed out, by root key.
    ids: HashMap<u32, TemplateId, Fx>,
    next_id: TemplateId,
    clock: u64,
    max_keys: usize,
    buf: Vec<u32>,
}

impl Default for Miner {
    fn default() -> Self {
        Self::new(100_000)
    }
}

impl Miner {
    pub fn new(max_keys: usize) -> Self {
        let mut m = Miner {
            words: HashMap::default(),
            names: vec!["<*>".into()],
            keys: Vec::new(),
            by_syms: HashMap::default(),
            slots: HashMap::default(),
            dropped: HashMap::default(),
            by_hash: HashMap::default(),
            templates: HashMap::default(),
            ids: HashMap::default(),
            next_id: 0,
            clock: 0,
            max_keys: max_keys.max(16),
            buf: Vec::with_capacity(64),
        };
        m.words.insert(u64::MAX, WILD);
        m
    }

    /// Adds one line; returns its key (resolve with [`Miner::template_of`], which follows
    /// later merges).
    pub fn add(&mut self, line: &str) -> u32 {
        self.add_bytes(line.as_bytes())
    }

    /// As `add`, for a line that may not be UTF-8 (invalid bytes stay inside their token).
    pub fn add_bytes(&mut self, line: &[u8]) -> u32 {
        self.clock += 1;
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        // Variables are left out of the key: a template keeps its constants in order, however
        // many variables (an optional id, a list) stand between them.
        for token in tokens(content(line)) {
            if let Some(h) = constant_hash(token) {
                let sym = self.intern(h, token);
                buf.push(sym);
            }
        }
        let key = match self.by_syms.get(buf.as_slice()) {
            Some(&k) => k,
            None => self.insert(&buf),
        };
        self.buf = buf;
        let k = &mut self.keys[key as usize];
        k.last_seen = self.clock;
        k.count += 1;
        key
    }

    /// The template id of a key returned by `add`, as merged so far.
    pub fn template_of(&mut self, key: u32) -> TemplateId {
        let root = self.find(key);
        let next = &mut self.next_id;
        *self.ids.entry(root).or_insert_with(|| {
            *next += 1;
            *next - 1
        })
    }

    /// The template of a key: its words, `<*>` for variables.
    pub fn template_text(&mut self, key: u32) -> String {
        let root = self.find(key);
        let syms = self
            .templates
            .get(&root)
            .cloned()
            .unwrap_or_else(|| self.keys[root as usize].syms.clone());
        let mut out = String::new();
        for (i, s) in syms.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(&self.names[*s as usize]);
        }
        out
    }

    /// How many keys are kept.
    pub fn keys(&self) -> usize {
        self.by_syms.len()
    }

    /// The symbol of a token by the 64-bit hash of its bytes: no string comparison on the
    /// hot path (two different words sharing a hash is a 2^-64 event per pair).
    fn intern(&mut self, hash: u64, token: &[u8]) -> u32 {
        if let Some(&s) = self.words.get(&hash) {
            return s;
        }
        let s = self.names.len() as u32;
        self.names.push(String::from_utf8_lossy(token).into());
        self.words.insert(hash, s);
        s
    }

    fn insert(&mut self, syms: &[u32]) -> u32 {
        if self.by_syms.len() >= self.max_keys {
            self.evict();
        }
        let k = self.keys.len() as u32;
        self.keys.push(Key {
            syms: syms.into(),
            parent: k,
            last_seen: self.clock,
            count: 0,
        });
        self.by_syms.insert(syms.into(), k);
        // A key may be another key with its variable word left out (the word was a number
        // there): those slots are found by this key's own hash.
        let whole = hash_with_hole(syms, usize::MAX, false);
        if let Some(slots) = self.dropped.get(&whole).cloned() {
            for slot_key in slots {
                if let Some(slot) = self.slots.get(&slot_key)
                    && slot.variable
                {
                    let rep = slot.members[0];
                    self.union(rep, k);
                }
            }
        }
        // Each position, with the others fixed, is a slot shared with keys that differ only
        // there.
        // A word is judged against at least MIN_CONTEXT others: in a short key, many values at
        // one position are more likely constants (method names, states) than a variable.
        let positions = if syms.len() > MIN_CONTEXT {
            syms.len()
        } else {
            0
        };
        for p in 0..positions {
            let slot_key = (hash_with_hole(syms, p, true), p as u32);
            let slot = self.slots.entry(slot_key).or_default();
            let fresh = slot.members.is_empty();
            slot.members.push(k);
            if !slot.words.contains(&syms[p]) && slot.words.len() < VARIABLE_AFTER {
                slot.words.push(syms[p]);
            }
            let merge = if slot.variable {
                vec![slot.members[0], k]
            } else if slot.words.len() >= VARIABLE_AFTER {
                slot.variable = true;
                slot.members.clone()
            } else {
                Vec::new()
            };
            let became_variable = merge.len() > 2 || (merge.len() == 2 && !fresh);
            for pair in merge.windows(2) {
                self.union(pair[0], pair[1]);
            }
            if let Some(slot) = self.slots.get_mut(&slot_key)
                && slot.variable
            {
                // Once variable, one member stands for all.
                slot.members.truncate(1);
            }
            let without = hash_with_hole(syms, p, false);
            if fresh {
                self.dropped.entry(without).or_default().push(slot_key);
            }
            if became_variable && let Some(&short) = self.by_hash.get(&without) {
                self.union(short, k);
            }
        }
        self.by_hash.insert(whole, k);
        k
    }

    fn find(&mut self, mut k: u32) -> u32 {
        while self.keys[k as usize].parent != k {
            let p = self.keys[k as usize].parent;
            self.keys[k as usize].parent = self.keys[p as usize].parent;
            k = p;
        }
        k
    }

    fn union(&mut self, a: u32, b: u32) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return;
        }
        let ta = self
            .templates
            .remove(&ra)
            .unwrap_or_else(|| self.keys[ra as usize].syms.clone());
        let tb = self
            .templates
            .remove(&rb)
            .unwrap_or_else(|| self.keys[rb as usize].syms.clone());
        let merged: Box<[u32]> = ta
            .iter()
            .zip(tb.iter())
            .map(|(x, y)| if x == y { *x } else { WILD })
            .collect();

        // The older template id survives.
        let (root, child) = match (self.ids.get(&ra), self.ids.get(&rb)) {
            (_, None) => (ra, rb),
            (None, Some(_)) => (rb, ra),
            (Some(x), Some(y)) if x <= y => (ra, rb),
            _ => (rb, ra),
        };
        self.keys[child as usize].parent = root;
        self.ids.remove(&child);
        self.templates.insert(root, merged);
    }

    /// Forgets the least recently seen tenth of the keys (amortised: one scan per tenth).
    fn evict(&mut self) {
        let mut seen: Vec<u64> = self
            .by_syms
            .values()
            .map(|&k| self.keys[k as usize].last_seen)
            .collect();
        let cut = seen.len() / 10;
        seen.select_nth_unstable(cut);
        let threshold = seen[cut];
        let keys = &mut self.keys;
        self.by_syms.retain(|_, k| {
            let keep = keys[*k as usize].last_seen > threshold;
            if !keep {
                keys[*k as usize].syms = Box::new([]);
            }
            keep
        });
        let keys = &self.keys;
        let live = |k: u32| !keys[k as usize].syms.is_empty();
        self.by_hash.retain(|_, k| live(*k));
        self.slots.retain(|_, s| s.members.iter().any(|m| live(*m)));
        let slots = &self.slots;
        self.dropped.retain(|_, v| {
            v.retain(|s| slots.contains_key(s));
            !v.is_empty()
        });
    }
}

/// The hash of `syms` with position `hole` either blanked (`keep_hole`) or left out.
fn hash_with_hole(syms: &[u32], hole: usize, keep_hole: bool) -> u64 {
    let mut h = FxHasher::default();
    let len = if hole < syms.len() && !keep_hole {
        syms.len() - 1
    } else {
        syms.len()
    };
    h.write_usize(len);
    for (i, s) in syms.iter().enumerate() {
        if i == hole {
            if keep_hole {
                h.write_u32(u32::MAX);
            }
        } else {
            h.write_u32(*s);
        }
    }
    h.finish()
}

/// The message of a line, without its header when the header ends the usual way: a
/// `component:` token (`sshd[24200]:`, `dfs.DataNode$PacketResponder:`, `WindowManager:`)
/// after a timestamp. Headers that end otherwise stay; their variables are masked anyway.
pub fn content(line: &[u8]) -> &[u8] {
    let bytes = line;
    let mut seen_digit = false;
    let mut cut = 0;
    let mut i = 0;
    let mut after_level = false;
    for index in 0..10 {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if start == i {
            break;
        }
        let token = &bytes[start..i];
        let component_like = token
            .iter()
            .any(|b| matches!(b, b'[' | b'(' | b'.' | b'_' | b'$' | b'/' | b'@'));
        if seen_digit
            && token.len() > 1
            && token[token.len() - 1] == b':'
            && (index <= 5 || component_like)
        {
            return line[i..].trim_ascii_start();
        }
        if after_level {
            // The component after a level (`INFO nova.compute.manager`, `INFO [main]`).
            after_level = false;
            if component_like && !token.ends_with(b":") {
                cut = i;
            }
        }
        if seen_digit && LEVELS.contains(&token) {
            cut = i;
            after_level = true;
        }
        seen_digit |= token.iter().any(u8::is_ascii_digit);
    }
    line[cut..].trim_ascii_start()
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

/// Splits at whitespace and at field punctuation; the punctuation itself is dropped.
pub fn tokens(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    // Every separator is ASCII, so a token is a whole run of UTF-8.
    line.split(|&b| SEPARATOR[b as usize])
        .filter(|t| !t.is_empty())
}

/// Whitespace and field punctuation, as a byte table.
static SEPARATOR: [bool; 256] = {
    let mut t = [false; 256];
    let seps = b" \t\r\x0b\x0c|,;=()[]{}\"'";
    let mut i = 0;
    while i < seps.len() {
        t[seps[i] as usize] = true;
        i += 1;
    }
    t
};

const CALENDAR: [&[u8]; 19] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
    b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun",
];

/// Numbers, ids, addresses, hex, times and dates hold a digit; paths, URLs, and month and
/// weekday names are the other usual variables.
pub fn is_variable(token: &[u8]) -> bool {
    constant_hash(token).is_none() && token.iter().any(u8::is_ascii_alphanumeric)
}

/// The hash of a constant word; None for a variable or a token without a letter
/// (punctuation), which the key leaves out. One pass over the bytes.
fn constant_hash(token: &[u8]) -> Option<u64> {
    if token[0] == b'/' {
        return None;
    }
    let mut alpha = false;
    let mut h = FxHasher::default();
    let mut chunks = token.chunks_exact(8);
    for c in &mut chunks {
        let v = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        // A byte is a digit when it is in 0x30..=0x39: test all eight at once.
        if has_digit(v) {
            return None;
        }
        alpha |= has_alpha(v);
        h.add(v);
    }
    let rest = chunks.remainder();
    for &b in rest {
        if b.is_ascii_digit() {
            return None;
        }
        alpha |= b.is_ascii_alphabetic();
    }
    if !alpha || (token.len() == 3 && CALENDAR.contains(&token)) {
        return None;
    }
    if token.windows(3).any(|w| w == b"://") {
        return None;
    }
    let mut tail = [0u8; 8];
    tail[..rest.len()].copy_from_slice(rest);
    h.add(u64::from_le_bytes(tail));
    h.add(token.len() as u64);
    Some(h.finish())
}

/// Whether any of the eight bytes is an ASCII digit, all at once: on the low seven bits,
/// adding 0x50 sets a byte's top bit from 0x30 up and adding 0x46 from 0x3A up (no carry
/// crosses bytes); bytes with their own top bit set (UTF-8) are not digits.
#[inline]
fn has_digit(v: u64) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let m = v & !HI;
    let ge_30 = m + LO * 0x50;
    let ge_3a = m + LO * 0x46;
    ge_30 & !ge_3a & !v & HI != 0
}

#[inline]
fn has_alpha(v: u64) -> bool {
    v.to_le_bytes().iter().any(u8::is_ascii_alphabetic)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(lines: &[&str]) -> Vec<TemplateId> {
        let mut m = Miner::default();
        let keys: Vec<u32> = lines.iter().map(|l| m.add(l)).collect();
        keys.into_iter().map(|k| m.template_of(k)).collect()
    }

    #[test]
    fn numbers_ids_and_addresses_are_variables() {
        let ids = group(&[
            "2026-08-22 10:00:01 INFO worker 17 finished job 4711 in 3.2s",
            "2026-08-22 10:00:09 INFO worker 3 finished job 4712 in 0.4s",
            "2026-08-22 10:00:10 WARN connection to 10.0.0.7:443 refused",
            "2026-08-22 10:01:10 WARN connection to 192.168.1.20:8080 refused",
        ]);
        assert_eq!(ids[0], ids[1]);
        assert_eq!(ids[2], ids[3]);
        assert_ne!(ids[0], ids[2]);
    }

    #[test]
    fn a_word_becomes_a_variable_after_three_values_but_two_constants_stay_apart() {
        let ids = group(&[
            "session opened for user root",
            "session opened for user alice",
            "session closed for user root",
            "session opened for user bob",
            "session opened for user carol",
        ]);
        // root, alice, bob: the user is a variable.
        assert_eq!(ids[0], ids[1]);
        assert_eq!(ids[0], ids[3]);
        assert_eq!(ids[0], ids[4]);
        // opened/closed: only two words there, so two templates.
        assert_ne!(ids[0], ids[2]);
        let mut m = Miner::default();
        let k = [
            "session opened for user root",
            "session opened for user alice",
            "session opened for user bob",
        ]
        .map(|l| m.add(l));
        assert_eq!(m.template_text(k[0]), "session opened for user <*>");
    }

    #[test]
    fn the_eight_byte_digit_test_agrees_with_the_plain_one() {
        for b in 0..=255u8 {
            for pos in 0..8 {
                let mut bytes = *b"abcdefgh";
                bytes[pos] = b;
                let v = u64::from_le_bytes(bytes);
                assert_eq!(has_digit(v), b.is_ascii_digit(), "byte {b:#x} at {pos}");
            }
        }
    }

    #[test]
    fn field_punctuation_splits_tokens() {
        let toks: Vec<&str> =
            tokens(b"20171223-22:15:29:606|Step_LSC|30002312|onStandStepChanged 3579")
                .map(|t| std::str::from_utf8(t).unwrap())
                .collect();
        assert_eq!(
            toks,
            [
                "20171223-22:15:29:606",
                "Step_LSC",
                "30002312",
                "onStandStepChanged",
                "3579"
            ]
        );
        let ids = group(&[
            "20171223-22:15:29:606|Step_LSC|30002312|onStandStepChanged 3579",
            "20171223-22:15:29:615|Step_LSC|30002312|onExtend:1514038530000 14 0 4",
            "20171223-22:15:29:633|Step_LSC|30002312|onStandStepChanged 3580",
        ]);
        assert_eq!(ids[0], ids[2]);
        assert_ne!(ids[0], ids[1]);
    }

    #[test]
    fn old_keys_are_forgotten_beyond_the_cap() {
        let mut m = Miner::new(100);
        // Distinct keys: four words spelled from the number.
        let words = |i: usize| -> String {
            (0..4)
                .map(|d| {
                    char::from(b'a' + ((i >> (d * 4)) % 16) as u8)
                        .to_string()
                        .repeat(d + 1)
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        for i in 0..5_000 {
            m.add(&words(i));
        }
        assert!(m.keys() <= 100, "{} keys kept", m.keys());
        assert!(m.slots.len() <= 100 * 4, "{} slots kept", m.slots.len());
        // The newest key is still known: adding it again makes no new key.
        let before = m.keys.len();
        m.add(&words(4_999));
        assert_eq!(m.keys.len(), before);
    }
}
