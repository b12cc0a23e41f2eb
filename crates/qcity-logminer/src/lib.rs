//! Online log-template mining that needs no tuning per log source.
//!
//! A line becomes a *key*: the constant tokens of its message (split at whitespace and at the
//! punctuation that separates fields: `| , ; = ( ) [ ] { } "`), in order. A token is a
//! variable when it holds a digit (numbers, ids, addresses, times), is a month or weekday
//! name, a path, a URL, a long hex word, or a unit right after a number (`(1.16 KB)`,
//! `<1 sec`). Variables are left out of the key, so a template keeps its constants in order
//! however many variables stand between them; each key remembers in which gaps between its
//! constants a variable was seen. Equal keys are one template.
//!
//! Keys are then grouped, like Drain's similarity step but without its per-source
//! threshold, by what the stream itself says about each position. A *slot* is a key with one
//! position left open; the keys that fill it differ only there. A slot is a variable when
//! - its words are many and rare: at least [`VARIABLE_AFTER`] of them, and their count
//!   squared reaches the lines they cover (`removing chargen`, `removing daytime`, … each
//!   seen once or twice), while a few frequent words stay constants (`GET`/`POST`/`DELETE`,
//!   `opened`/`closed`, `user=root`/`user=guest`); or
//! - the same key without that word exists and had a variable in that very gap (`to LOCAL
//!   stratum` beside `to 10.0.0.1 stratum`: a word stands where numbers stood).
//!
//! The grouping is derived from the counts when it is asked for, so a decision that more
//! lines overturn is overturned: the miner reads each line once and keeps bounded state,
//! but its answers follow the whole stream seen so far. A template's id is its oldest key's,
//! so merges keep ids.
//!
//! The header (timestamp, level, host, pid, component) is cut off where its shape says it
//! ends: after a `component:` token or a level and its component, or after the leading
//! positions that hold a number in nearly every line seen so far (learnt from the first
//! lines; see [`Header`]).
//!
//! Memory is bounded by `max_keys`: beyond it, the least recently seen tenth of the keys is
//! forgotten with their slots (a key seen again later starts anew).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Distinct words at one position, with the rest of the key equal, that make it a variable.
pub const VARIABLE_AFTER: usize = 4;

/// Words a key needs before its first word is judged (see [`Miner::refresh`]).
pub const FIRST_JUDGED: usize = 4;

/// Constant words a key must keep besides the one judged a variable.
pub const MIN_CONTEXT: usize = 1;

/// The id of a template: stable while its lines stay grouped together.
pub type TemplateId = u32;

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

/// The open position of a slot, in its hash.
const HOLE: u64 = 0x9e37_79b9_7f4a_7c15;

struct Key {
    /// Hashes of the constant tokens; empty once the key is forgotten.
    toks: Box<[u64]>,
    /// Bit i: a variable stood before constant i (bit `len`: after the last; 63 and up
    /// share bit 63).
    gaps: u64,
    count: u64,
    last_seen: u64,
}

/// A key with one position open: the keys that differ only there.
struct Slot {
    pos: u32,
    /// The hash of the key with that position left out.
    without: u64,
    members: Vec<u32>,
    variable: bool,
}

/// The grouping derived from the counts (see [`Miner::refresh`]).
#[derive(Default)]
struct Groups {
    parent: Vec<u32>,
    /// Per root: the most seen key, whose words are the template's.
    rep: HashMap<u32, u32, Fx>,
    fresh: bool,
}

pub struct Miner {
    /// Live keys by the hash of their tokens.
    by_hash: HashMap<u64, u32, Fx>,
    keys: Vec<Key>,
    names: HashMap<u64, Box<str>, Fx>,
    slots: HashMap<u64, Slot, Fx>,
    groups: Groups,
    header: Header,
    /// Lines added while the header was being learnt, with the keys they got then.
    early: Vec<(Box<[u8]>, u32)>,
    /// Keys of those lines that the learnt header replaced, and their replacements.
    redirect: HashMap<u32, u32, Fx>,
    clock: u64,
    max_keys: usize,
    buf: Vec<u64>,
}

impl Default for Miner {
    fn default() -> Self {
        Self::new(100_000)
    }
}

impl Miner {
    pub fn new(max_keys: usize) -> Self {
        Miner {
            by_hash: HashMap::default(),
            keys: Vec::new(),
            names: HashMap::default(),
            slots: HashMap::default(),
            groups: Groups::default(),
            header: Header::default(),
            early: Vec::new(),
            redirect: HashMap::default(),
            clock: 0,
            max_keys: max_keys.max(16),
            buf: Vec::with_capacity(64),
        }
    }

    /// Adds one line; returns its key (resolve with [`Miner::template_of`]).
    pub fn add(&mut self, line: &str) -> u32 {
        self.add_bytes(line.as_bytes())
    }

    /// As `add`, for a line that may not be UTF-8 (invalid bytes stay inside their token).
    pub fn add_bytes(&mut self, line: &[u8]) -> u32 {
        let learning = !self.header.learnt();
        let key = self.add_message(line);
        if learning {
            self.early.push((line.into(), key));
            if self.header.learnt() {
                self.rekey();
            }
        }
        key
    }

    fn add_message(&mut self, line: &[u8]) -> u32 {
        self.clock += 1;
        self.groups.fresh = false;
        let message = self.header.content(line);
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let (hash, gaps) = scan(message, &mut buf);
        let key = match self.by_hash.get(&hash) {
            Some(&k) => k,
            None => self.insert(hash, &buf, message),
        };
        self.buf = buf;
        let k = &mut self.keys[key as usize];
        k.last_seen = self.clock;
        k.count += 1;
        k.gaps |= gaps;
        key
    }

    /// Once the header is learnt, the first lines are keyed again without it; their old
    /// keys point to the new ones.
    fn rekey(&mut self) {
        for (line, old) in std::mem::take(&mut self.early) {
            let new = self.add_message(&line);
            if new != old {
                self.keys[old as usize].count -= 1;
                self.redirect.insert(old, new);
            }
        }
        let gone: Vec<u32> = self
            .redirect
            .keys()
            .copied()
            .filter(|&k| self.keys[k as usize].count == 0)
            .collect();
        for k in &gone {
            let toks = std::mem::take(&mut self.keys[*k as usize].toks);
            self.by_hash.remove(&hash_seq(toks.iter().copied()));
        }
        let keys = &self.keys;
        self.slots.retain(|_, s| {
            s.members.retain(|&m| !keys[m as usize].toks.is_empty());
            !s.members.is_empty()
        });
        // A key that kept lines of its own is itself again.
        self.redirect.retain(|k, _| gone.contains(k));
    }

    fn resolve(&mut self, key: u32) -> u32 {
        self.refresh();
        let key = self.redirect.get(&key).copied().unwrap_or(key);
        self.find(key)
    }

    /// The template id of a key returned by `add`, as grouped now.
    pub fn template_of(&mut self, key: u32) -> TemplateId {
        self.resolve(key)
    }

    /// The template of a key: its words, `<*>` for variables.
    pub fn template_text(&mut self, key: u32) -> String {
        let root = self.resolve(key);
        let rep = self.groups.rep.get(&root).copied().unwrap_or(root);
        let k = &self.keys[rep as usize];
        let mut out = String::new();
        let push = |out: &mut String, word: &str| {
            if word == "<*>" && out.ends_with("<*>") {
                return;
            }
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(word);
        };
        for (i, t) in k.toks.iter().enumerate() {
            if k.gaps & gap_bit(i) != 0 {
                push(&mut out, "<*>");
            }
            let open = k.toks.len() > MIN_CONTEXT
                && self
                    .slots
                    .get(&hash_seq(
                        k.toks
                            .iter()
                            .enumerate()
                            .map(|(j, &t)| if j == i { HOLE } else { t }),
                    ))
                    .is_some_and(|s| s.variable);
            let word = if open {
                "<*>"
            } else {
                self.names.get(t).map_or("<*>", |n| n)
            };
            push(&mut out, word);
        }
        if k.gaps & gap_bit(k.toks.len()) != 0 {
            push(&mut out, "<*>");
        }
        out
    }

    /// How many keys are kept.
    pub fn keys(&self) -> usize {
        self.by_hash.len()
    }

    fn insert(&mut self, hash: u64, toks: &[u64], message: &[u8]) -> u32 {
        if self.by_hash.len() >= self.max_keys {
            self.evict();
        }
        // The cold path: name the new key's words (a second pass over this one line).
        let names = &mut self.names;
        for_each_token(message, |token, kind| {
            if let Token::Constant(h) = kind {
                names
                    .entry(h)
                    .or_insert_with(|| String::from_utf8_lossy(token).into());
            }
        });
        let k = self.keys.len() as u32;
        self.keys.push(Key {
            toks: toks.into(),
            gaps: 0,
            count: 0,
            last_seen: self.clock,
        });
        self.by_hash.insert(hash, k);
        // A word is judged against at least MIN_CONTEXT others: a key of one word has no
        // context that says what kind of word it is.
        if toks.len() > MIN_CONTEXT {
            for p in 0..toks.len() {
                let open = hash_seq(
                    toks.iter()
                        .enumerate()
                        .map(|(j, &t)| if j == p { HOLE } else { t }),
                );
                let slot = self.slots.entry(open).or_insert_with(|| Slot {
                    pos: p as u32,
                    without: hash_seq(
                        toks.iter()
                            .enumerate()
                            .filter(|&(j, _)| j != p)
                            .map(|(_, &t)| t),
                    ),
                    members: Vec::new(),
                    variable: false,
                });
                slot.members.push(k);
            }
        }
        k
    }

    /// Derives the grouping from the slots and the counts, when a line came since the last.
    fn refresh(&mut self) {
        if self.groups.fresh {
            return;
        }
        let n = self.keys.len();
        self.groups.parent.clear();
        self.groups.parent.extend(0..n as u32);
        let mut unions = Vec::new();
        for slot in self.slots.values_mut() {
            // The first word of a short message names the event: never judged.
            let judged =
                slot.pos > 0 || self.keys[slot.members[0] as usize].toks.len() >= FIRST_JUDGED;
            let many = judged && slot.members.len() >= VARIABLE_AFTER;
            let short = self.by_hash.get(&slot.without).copied().filter(|&b| {
                let b = &self.keys[b as usize];
                b.toks.len() > MIN_CONTEXT && b.gaps & gap_bit(slot.pos as usize) != 0
            });
            slot.variable = many || short.is_some();
            if slot.variable {
                let first = slot.members[0];
                unions.extend(slot.members[1..].iter().map(|&m| (first, m)));
                if let Some(b) = short {
                    unions.push((first, b));
                }
            }
        }
        for (a, b) in unions {
            self.union(a, b);
        }
        self.groups.rep.clear();
        for k in 0..n as u32 {
            if self.keys[k as usize].toks.is_empty() && self.keys[k as usize].count == 0 {
                continue;
            }
            let root = self.find(k);
            let count = self.keys[k as usize].count;
            let keys = &self.keys;
            self.groups
                .rep
                .entry(root)
                .and_modify(|r| {
                    if keys[*r as usize].count < count {
                        *r = k;
                    }
                })
                .or_insert(k);
        }
        self.groups.fresh = true;
    }

    fn find(&mut self, mut k: u32) -> u32 {
        let parent = &mut self.groups.parent;
        if k as usize >= parent.len() {
            return k;
        }
        while parent[k as usize] != k {
            let p = parent[k as usize];
            parent[k as usize] = parent[p as usize];
            k = p;
        }
        k
    }

    /// The older key is the root, so a template keeps the id of its first line.
    fn union(&mut self, a: u32, b: u32) {
        let (ra, rb) = (self.find(a), self.find(b));
        let (root, child) = if ra <= rb { (ra, rb) } else { (rb, ra) };
        self.groups.parent[child as usize] = root;
    }

    /// Forgets the least recently seen tenth of the keys (amortised: one scan per tenth).
    fn evict(&mut self) {
        let mut seen: Vec<u64> = self
            .by_hash
            .values()
            .map(|&k| self.keys[k as usize].last_seen)
            .collect();
        let cut = seen.len() / 10;
        seen.select_nth_unstable(cut);
        let threshold = seen[cut];
        let keys = &mut self.keys;
        self.by_hash.retain(|_, k| {
            let keep = keys[*k as usize].last_seen > threshold;
            if !keep {
                keys[*k as usize].toks = Box::new([]);
            }
            keep
        });
        let keys = &self.keys;
        self.slots.retain(|_, s| {
            s.members.retain(|&m| !keys[m as usize].toks.is_empty());
            !s.members.is_empty()
        });
        self.groups.fresh = false;
    }
}

#[inline]
fn gap_bit(i: usize) -> u64 {
    1 << i.min(63)
}

/// The hash of a key's token hashes; equal to what [`scan`] computes for its line.
fn hash_seq(toks: impl Iterator<Item = u64>) -> u64 {
    let mut h = FxHasher::default();
    let mut n = 0u64;
    for t in toks {
        h.add(t);
        n += 1;
    }
    h.add(n);
    h.finish()
}

/// One pass over a message: its key's hash and gap bits, and its constants' hashes in `out`.
#[inline]
fn scan(message: &[u8], out: &mut Vec<u64>) -> (u64, u64) {
    let mut h = FxHasher::default();
    let mut gaps = 0u64;
    let mut pending = false;
    for_each_token(message, |_, kind| match kind {
        Token::Constant(t) => {
            if pending {
                gaps |= gap_bit(out.len());
                pending = false;
            }
            h.add(t);
            out.push(t);
        }
        Token::Variable => pending = true,
        Token::Punctuation => {}
    });
    if pending {
        gaps |= gap_bit(out.len());
    }
    h.add(out.len() as u64);
    (h.finish(), gaps)
}

/// Where the header of the lines of one source ends, learnt from its first lines: the
/// whitespace fields that hold a digit in nearly all of them (timestamps, pids, sequence
/// numbers) are header, and so is every field before the last of them, while they stay
/// within the first [`Header::FIELDS`].
#[derive(Default)]
pub struct Header {
    lines: u32,
    digits: [u32; Header::FIELDS],
    /// Fields to skip, once learnt.
    fixed: Option<usize>,
}

impl Header {
    /// Leading fields considered.
    pub const FIELDS: usize = 8;
    /// Lines seen before the numbered fields are fixed.
    pub const LEARN: u32 = 64;

    /// The message of a line: without the fields the header takes, or further without a
    /// `component:` or a level and its component where the line has one.
    pub fn content<'a>(&mut self, line: &'a [u8]) -> &'a [u8] {
        let skip = match self.fixed {
            Some(n) => n,
            None => {
                self.learn(line);
                self.numbered()
            }
        };
        let rest = skip_fields(line, skip);
        let message = content(line);
        // Both are suffixes of the line: the shorter cut more.
        if message.len() < rest.len() {
            message
        } else {
            rest.trim_ascii_start()
        }
    }

    /// Whether the header's fields are fixed.
    pub fn learnt(&self) -> bool {
        self.fixed.is_some()
    }

    fn learn(&mut self, line: &[u8]) {
        self.lines += 1;
        for (i, field) in line
            .split(|&b| FIELD_END[b as usize])
            .filter(|f| !f.is_empty())
            .take(Self::FIELDS)
            .enumerate()
        {
            let word = field.trim_ascii_start().strip_prefix(b"[").unwrap_or(field);
            if field.iter().any(u8::is_ascii_digit) || is_calendar(word) {
                self.digits[i] += 1;
            }
        }
        if self.lines >= Self::LEARN {
            self.fixed = Some(self.numbered());
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

/// What ends a header field: whitespace, and `|` (`time|component|pid|message`).
static FIELD_END: [bool; 256] = {
    let mut t = [false; 256];
    let ends = b" \t\r\x0b\x0c|";
    let mut i = 0;
    while i < ends.len() {
        t[ends[i] as usize] = true;
        i += 1;
    }
    t
};

fn skip_fields(line: &[u8], n: usize) -> &[u8] {
    let mut rest = line;
    for _ in 0..n {
        let start = rest
            .iter()
            .position(|&b| !FIELD_END[b as usize])
            .unwrap_or(rest.len());
        rest = &rest[start..];
        let end = rest
            .iter()
            .position(|&b| FIELD_END[b as usize])
            .unwrap_or(rest.len());
        rest = &rest[end..];
    }
    let start = rest
        .iter()
        .position(|&b| !FIELD_END[b as usize])
        .unwrap_or(rest.len());
    &rest[start..]
}

/// The message of a line, without its header when the header ends the usual way: a
/// `component:` token (`sshd[24200]:`, `dfs.DataNode$PacketResponder:`, `WindowManager:`)
/// after a timestamp. Headers that end otherwise stay; their variables are masked anyway.
pub fn content(line: &[u8]) -> &[u8] {
    let n = line.len();
    let mut seen_digit = false;
    let mut cut = 0;
    let mut i = 0;
    let mut after_level = false;
    for index in 0..10 {
        while i < n && HEAD[line[i] as usize] & H_SPACE != 0 {
            i += 1;
        }
        let start = i;
        let flags;
        (i, flags) = token_end(line, i, &HEAD, H_SPACE);
        if start == i {
            break;
        }
        let token = &line[start..i];
        let component_like = flags & H_COMPONENT != 0;
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
        if seen_digit && is_level(token) {
            cut = i;
            after_level = true;
        }
        seen_digit |= flags & H_DIGIT != 0;
    }
    line[cut..].trim_ascii_start()
}

// Byte classes of a header.
const H_SPACE: u8 = 1;
const H_DIGIT: u8 = 2;
/// What a component's name holds (`sshd[24200]`, `nova.compute.manager`, `Foo$Bar`).
const H_COMPONENT: u8 = 4;

static HEAD: [u8; 256] = {
    let mut t = [0; 256];
    let spaces = b" \t\n\x0c\r";
    let mut i = 0;
    while i < spaces.len() {
        t[spaces[i] as usize] = H_SPACE;
        i += 1;
    }
    let mut b = b'0';
    while b <= b'9' {
        t[b as usize] = H_DIGIT;
        b += 1;
    }
    let parts = b"[(._$/@";
    let mut i = 0;
    while i < parts.len() {
        t[parts[i] as usize] = H_COMPONENT;
        i += 1;
    }
    t
};

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

/// Splits at whitespace and at field punctuation; the punctuation itself is dropped.
pub fn tokens(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    // Every separator is ASCII, so a token is a whole run of UTF-8.
    line.split(|&b| CLASS[b as usize] & SEP != 0)
        .filter(|t| !t.is_empty())
}

// Byte classes, for one pass over a message.
const SEP: u8 = 1;
const DIGIT: u8 = 2;
const ALPHA: u8 = 4;
/// Not a hex digit.
const NONHEX: u8 = 8;
const COLON: u8 = 16;
const SLASH: u8 = 32;

/// Whitespace and field punctuation (`SEP`), and what the other bytes are.
static CLASS: [u8; 256] = {
    let mut t = [NONHEX; 256];
    let seps = b" \t\r\x0b\x0c|,;=()[]{}\"'";
    let mut i = 0;
    while i < seps.len() {
        t[seps[i] as usize] = SEP;
        i += 1;
    }
    let mut b = b'0';
    while b <= b'9' {
        t[b as usize] = DIGIT;
        b += 1;
    }
    let mut b = b'a';
    while b <= b'z' {
        let hex = if b <= b'f' { 0 } else { NONHEX };
        t[b as usize] = ALPHA | hex;
        t[(b - 32) as usize] = ALPHA | hex;
        b += 1;
    }
    t[b':' as usize] = COLON | NONHEX;
    t[b'/' as usize] = SLASH | NONHEX;
    t
};

/// Where the token that starts at `i` ends (the first byte whose class has `stop`), and the
/// classes of its bytes ORed. Four bytes a step while no stop is among them.
#[inline(always)]
fn token_end(bytes: &[u8], mut i: usize, table: &[u8; 256], stop: u8) -> (usize, u8) {
    let mut flags = 0;
    while let Some(four) = bytes.get(i..i + 4) {
        let c = table[four[0] as usize]
            | table[four[1] as usize]
            | table[four[2] as usize]
            | table[four[3] as usize];
        if c & stop != 0 {
            break;
        }
        flags |= c;
        i += 4;
    }
    while let Some(&b) = bytes.get(i) {
        let c = table[b as usize];
        if c & stop != 0 {
            break;
        }
        flags |= c;
        i += 1;
    }
    (i, flags)
}

/// Calls `f` with each token of a message and what it is, in order.
#[inline]
fn for_each_token(message: &[u8], mut f: impl FnMut(&[u8], Token)) {
    let n = message.len();
    let mut i = 0;
    let mut after_variable = false;
    loop {
        while i < n && CLASS[message[i] as usize] & SEP != 0 {
            i += 1;
        }
        if i == n {
            return;
        }
        let start = i;
        let flags;
        (i, flags) = token_end(message, i, &CLASS, SEP);
        let token = &message[start..i];
        let kind = classify(token, flags, after_variable);
        if let Token::Variable = kind
            && flags & (COLON | DIGIT) == COLON | DIGIT
            && let Some(name) = word_prefix(token)
        {
            let name_flags = name.iter().fold(0, |f, &b| f | CLASS[b as usize]);
            f(name, classify(name, name_flags, false));
        }
        after_variable = matches!(kind, Token::Variable);
        f(token, kind);
    }
}

/// Up to eight bytes as one number, for matching short words at once.
const fn packed(word: &[u8]) -> u64 {
    let mut v = 0u64;
    let mut i = 0;
    while i < word.len() && i < 8 {
        v |= (word[i] as u64) << (8 * i);
        i += 1;
    }
    v
}

/// Month and weekday names, as dates spell them.
const CALENDAR: [u64; 19] = {
    let words: [&[u8]; 19] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun",
    ];
    let mut out = [0; 19];
    let mut i = 0;
    while i < words.len() {
        out[i] = packed(words[i]);
        i += 1;
    }
    out
};

/// Units that a number carries with it (`93.0 B`, `5.2 KB`, `<1 sec`, `12 ms`).
const UNITS: [u64; 22] = {
    let words: [&[u8]; 22] = [
        b"B", b"KB", b"kB", b"K", b"MB", b"M", b"GB", b"G", b"TB", b"KiB", b"MiB", b"GiB",
        b"bytes", b"ms", b"us", b"ns", b"s", b"sec", b"secs", b"seconds", b"min", b"mins",
    ];
    let mut out = [0; 22];
    let mut i = 0;
    while i < words.len() {
        out[i] = packed(words[i]);
        i += 1;
    }
    out
};

fn is_calendar(token: &[u8]) -> bool {
    token.len() == 3 && CALENDAR.contains(&packed(token))
}

fn is_unit(token: &[u8]) -> bool {
    token.len() <= 7 && UNITS.contains(&packed(token))
}

/// Numbers, ids, addresses, hex, times and dates hold a digit; paths, URLs, and month and
/// weekday names are the other usual variables.
pub fn is_variable(token: &[u8]) -> bool {
    let flags = token.iter().fold(0, |f, &b| f | CLASS[b as usize]);
    flags & SEP == 0 && matches!(classify(token, flags, false), Token::Variable)
}

enum Token {
    Constant(u64),
    Variable,
    /// No letter or digit: left out, like the separators.
    Punctuation,
}

/// What a token is, from the classes of its bytes (`flags`), with the hash of a constant
/// word; `after_variable`: the token before it was a variable (a unit follows it).
#[inline]
fn classify(token: &[u8], flags: u8, after_variable: bool) -> Token {
    if token[0] == b'/' {
        return Token::Variable;
    }
    if flags & DIGIT != 0 {
        return numbered_word(token);
    }
    if flags & ALPHA == 0 {
        return Token::Punctuation;
    }
    let len = token.len();
    if (len == 3 && is_calendar(token))
        || (after_variable && len <= 7 && is_unit(token))
        || (len >= 8 && flags & NONHEX == 0)
        || (flags & SLASH != 0
            && (token.starts_with(b"./")
                || token.starts_with(b"../")
                || (flags & COLON != 0 && token.windows(3).any(|w| w == b"://"))))
    {
        return Token::Variable;
    }
    Token::Constant(word_hash(token))
}

/// FxHash of a word, eight bytes at a time.
#[inline]
fn word_hash(token: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    let mut chunks = token.chunks_exact(8);
    for c in &mut chunks {
        h.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
    }
    let rest = chunks.remainder();
    let mut tail = [0u8; 8];
    tail[..rest.len()].copy_from_slice(rest);
    h.add(u64::from_le_bytes(tail));
    h.add(token.len() as u64);
    h.finish()
}

/// The name of a `name:value` token whose value is a variable (`onExtend:1514038530000`,
/// `begin:25233975`): the name is a constant of the template.
fn word_prefix(token: &[u8]) -> Option<&[u8]> {
    let colon = token.iter().position(|&b| b == b':')?;
    let name = &token[..colon];
    (name.len() >= 2
        && colon + 1 < token.len()
        && name.iter().all(|b| b.is_ascii_alphabetic() || *b == b'_'))
    .then_some(name)
}

/// A token with a digit is a variable, but for a short word with one digit at its end: a
/// name (`SOCKS5`, `ssh2`, `md5`, `eth0`), where ids, hosts and counters run longer
/// (`cn142`, `node-17`, `dadmin2`).
fn numbered_word(token: &[u8]) -> Token {
    let (last, word) = token.split_last().expect("a token is not empty");
    if last.is_ascii_digit()
        && (2..=5).contains(&word.len())
        && word.iter().all(u8::is_ascii_alphabetic)
    {
        Token::Constant(word_hash(token))
    } else {
        Token::Variable
    }
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
    fn a_word_becomes_a_variable_after_four_values_but_two_constants_stay_apart() {
        let ids = group(&[
            "session opened for user root",
            "session opened for user alice",
            "session closed for user root",
            "session opened for user bob",
            "session opened for user carol",
        ]);
        // root, alice, bob, carol: the user is a variable.
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
        // Three users are not yet enough.
        assert_eq!(m.template_text(k[0]), "session opened for user root");
        m.add("session opened for user carol");
        assert_eq!(m.template_text(k[0]), "session opened for user <*>");
    }

    #[test]
    fn a_few_frequent_words_stay_constants() {
        let mut lines = Vec::new();
        for i in 0..30 {
            lines.push(format!("request GET /v1/items/{i} status 200"));
            if i % 3 == 0 {
                lines.push(format!("request POST /v1/items/{i} status 201"));
            }
            if i % 10 == 0 {
                lines.push(format!("request DELETE /v1/items/{i} status 204"));
            }
        }
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let ids = group(&refs);
        let get = ids[0];
        let post = ids[refs.iter().position(|l| l.contains("POST")).unwrap()];
        let delete = ids[refs.iter().position(|l| l.contains("DELETE")).unwrap()];
        assert!(get != post && post != delete && get != delete);
        for (l, id) in refs.iter().zip(&ids) {
            let want = if l.contains("GET") {
                get
            } else if l.contains("POST") {
                post
            } else {
                delete
            };
            assert_eq!(*id, want, "{l}");
        }
    }

    #[test]
    fn a_word_where_numbers_stood_is_a_variable() {
        let ids = group(&[
            "synchronized to 10.100.20.250, stratum 3",
            "synchronized to 10.100.20.251, stratum 2",
            "synchronized to LOCAL(0), stratum 10",
        ]);
        assert_eq!(ids[0], ids[2]);
        let mut m = Miner::default();
        let k = m.add("synchronized to 10.0.0.1, stratum 3");
        assert_eq!(m.template_text(k), "synchronized to <*> stratum <*>");
    }

    #[test]
    fn units_go_with_their_numbers() {
        let ids = group(&[
            "Block rdd_1 stored as bytes in memory (estimated size 93.0 B, free 317.1 KB)",
            "Block rdd_2 stored as bytes in memory (estimated size 5.2 KB, free 5.2 KB)",
            "close, 0 bytes sent, lifetime <1 sec",
            "close, 10 bytes sent, lifetime 00:02",
        ]);
        assert_eq!(ids[0], ids[1]);
        assert_eq!(ids[2], ids[3]);
    }

    #[test]
    fn a_header_of_numbered_fields_is_cut() {
        // An HPC-like header: log id, node, component, state, time, flag; then the message.
        let mut lines = Vec::new();
        for i in 0..100 {
            let (comp, state) = if i % 2 == 0 {
                ("node", "status")
            } else {
                ("switch_module", "error")
            };
            lines.push(format!(
                "{} node-{} {comp} {state} {} 1 Link error",
                1000 + i,
                i % 7,
                1_074_000_000 + i
            ));
        }
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let ids = group(&refs);
        assert!(ids.iter().all(|&i| i == ids[0]), "{ids:?}");
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
