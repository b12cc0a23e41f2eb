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
//! - at least [`VARIABLE_AFTER`] different words filled it (`removing chargen`, `removing
//!   daytime`, … ; `user root`, `user bob`, …), while a few words stay constants of their own
//!   templates (`GET`/`POST`/`DELETE`, `opened`/`closed`); the first word of a short message
//!   names its event and is not judged; or
//! - the same key without that word exists and had a variable in that very gap (`to LOCAL
//!   stratum` beside `to 10.0.0.1 stratum`: a word stands where numbers stood); or
//! - at least two words fill it and each has filled a variable slot elsewhere (`opened for
//!   user news` beside `closed for user news`, where four users were seen).
//!
//! Keys of a variable slot are one template. The grouping is derived from the slots when it
//! is asked for (a union-find rebuilt after new lines), so it follows the whole stream seen
//! so far, while each line is read once and the state stays bounded. A template's id is its
//! oldest key's, so merges keep ids.
//!
//! The header (timestamp, level, host, pid, component) is cut off where its shape says it
//! ends: after a `component:` token or a level and its component, or after the leading
//! positions that hold a number in nearly every line seen so far (learnt from the first
//! lines; see [`Header`]).
//!
//! Memory is bounded by `max_keys`: beyond it, the least recently seen tenth of the keys is
//! forgotten with their slots and the words only they had (a key seen again later starts
//! anew; a key handle from [`Miner::add`] is valid until its key is forgotten).
//!
//! One pass over each line's bytes makes bitmaps of their classes (`bits`); the header cut
//! (`header`) and the tokens (`token`) are found by scanning those bits.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

mod bits;
mod header;
mod token;

use bits::Bits;
pub use header::Header;
use token::{Token, for_each_token};
pub use token::{is_variable, tokens};

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

impl Slot {
    /// The first word of a short message names the event: it is never judged.
    fn judged(&self, keys: &[Key]) -> bool {
        self.pos > 0 || keys[self.members[0] as usize].toks.len() >= FIRST_JUDGED
    }
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
    /// The bitmaps of the line being added.
    bits: Bits,
    /// Lines added while the header was being learnt, with the keys they got then.
    early: Vec<(Box<[u8]>, u32)>,
    /// Keys of those lines that the learnt header replaced, and their replacements.
    redirect: HashMap<u32, u32, Fx>,
    /// Indices of forgotten keys, for new ones.
    free: Vec<u32>,
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
            bits: Bits::default(),
            early: Vec::new(),
            redirect: HashMap::default(),
            free: Vec::new(),
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
        self.bits.load(line);
        let from = self.header.cut(&self.bits, line);
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let (hash, gaps) = scan(&self.bits, line, from, &mut buf);
        let key = match self.by_hash.get(&hash) {
            Some(&k) => k,
            None => self.insert(hash, &buf, line, from),
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
        self.drop_forgotten_from_slots();
        // A key that kept lines of its own is itself again.
        self.redirect.retain(|k, _| gone.contains(k));
    }

    fn drop_forgotten_from_slots(&mut self) {
        let keys = &self.keys;
        self.slots.retain(|_, s| {
            s.members.retain(|&m| !keys[m as usize].toks.is_empty());
            !s.members.is_empty()
        });
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
                    .get(&open_hash(&k.toks, i))
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

    fn insert(&mut self, hash: u64, toks: &[u64], line: &[u8], from: usize) -> u32 {
        if self.by_hash.len() >= self.max_keys {
            self.evict();
        }
        // The cold path: name the new key's words (a second pass over this one line).
        let names = &mut self.names;
        for_each_token(&self.bits, line, from, |token, kind| {
            if let Token::Constant(h) = kind {
                names
                    .entry(h)
                    .or_insert_with(|| String::from_utf8_lossy(token).into());
            }
        });
        let key = Key {
            toks: toks.into(),
            gaps: 0,
            count: 0,
            last_seen: self.clock,
        };
        let k = match self.free.pop() {
            Some(k) => {
                self.keys[k as usize] = key;
                k
            }
            None => {
                self.keys.push(key);
                self.keys.len() as u32 - 1
            }
        };
        self.by_hash.insert(hash, k);
        // A word is judged against at least MIN_CONTEXT others: a key of one word has no
        // context that says what kind of word it is.
        if toks.len() > MIN_CONTEXT {
            for p in 0..toks.len() {
                let slot = self
                    .slots
                    .entry(open_hash(toks, p))
                    .or_insert_with(|| Slot {
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
            let many = slot.judged(&self.keys) && slot.members.len() >= VARIABLE_AFTER;
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
        // Words seen filling a variable slot are values: a slot that only they fill is a
        // variable too (`opened for user news/cyrus/test` beside `closed for user
        // news/cyrus/test/root`).
        let keys = &self.keys;
        let word = |slot: &Slot, m: u32| keys[m as usize].toks[slot.pos as usize];
        let values: std::collections::HashSet<u64, Fx> = self
            .slots
            .values()
            .filter(|s| s.variable)
            .flat_map(|s| s.members.iter().map(move |&m| word(s, m)))
            .collect();
        for slot in self.slots.values_mut() {
            if !slot.variable
                && slot.judged(keys)
                && slot.members.len() >= 2
                && slot
                    .members
                    .iter()
                    .all(|&m| values.contains(&word(slot, m)))
            {
                slot.variable = true;
                let first = slot.members[0];
                unions.extend(slot.members[1..].iter().map(|&m| (first, m)));
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
        // The first lines' keys are kept until they are keyed again (see `rekey`).
        if !self.header.learnt() {
            return;
        }
        let mut seen: Vec<u64> = self
            .by_hash
            .values()
            .map(|&k| self.keys[k as usize].last_seen)
            .collect();
        let cut = seen.len() / 10;
        seen.select_nth_unstable(cut);
        let threshold = seen[cut];
        let keys = &mut self.keys;
        let free = &mut self.free;
        self.by_hash.retain(|_, k| {
            let keep = keys[*k as usize].last_seen > threshold;
            if !keep {
                let key = &mut keys[*k as usize];
                key.toks = Box::new([]);
                key.count = 0;
                key.gaps = 0;
                free.push(*k);
            }
            keep
        });
        self.drop_forgotten_from_slots();
        // Words only the forgotten keys had go with them.
        let live: std::collections::HashSet<u64, Fx> = self
            .by_hash
            .values()
            .flat_map(|&k| self.keys[k as usize].toks.iter().copied())
            .collect();
        self.names.retain(|h, _| live.contains(h));
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

/// The hash of a slot: the key's tokens with position `p` open.
fn open_hash(toks: &[u64], p: usize) -> u64 {
    hash_seq(
        toks.iter()
            .enumerate()
            .map(|(j, &t)| if j == p { HOLE } else { t }),
    )
}

/// One pass over a message: its key's hash and gap bits, and its constants' hashes in `out`.
#[inline]
fn scan(bits: &Bits, line: &[u8], from: usize, out: &mut Vec<u64>) -> (u64, u64) {
    let mut h = FxHasher::default();
    let mut gaps = 0u64;
    let mut pending = false;
    for_each_token(bits, line, from, |_, kind| match kind {
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
    fn words_seen_as_values_elsewhere_are_values_here() {
        let ids = group(&[
            "session closed for user news",
            "session closed for user cyrus",
            "session closed for user test",
            "session closed for user root",
            "session opened for user news by uid 0",
            "session opened for user cyrus by uid 0",
            "session opened for user test by uid 509",
            // Two words never seen as values stay apart.
            "link state up on port 1",
            "link state down on port 2",
        ]);
        assert_eq!(ids[4], ids[5]);
        assert_eq!(ids[4], ids[6]);
        assert_ne!(ids[0], ids[4]);
        assert_ne!(ids[7], ids[8]);
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
        // Forgotten keys' places are taken by new ones, and their words go.
        assert!(m.keys.len() <= 100 + 64, "{} key places", m.keys.len());
        assert!(m.names.len() <= 100 * 4, "{} words kept", m.names.len());
        // The newest key is still known: adding it again makes no new key.
        let before = m.keys.len();
        m.add(&words(4_999));
        assert_eq!(m.keys.len(), before);
    }
}
