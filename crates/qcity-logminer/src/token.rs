//! The tokens of a message and what each is: a constant word (with its hash), a variable,
//! or punctuation.

use std::hash::Hasher;

use crate::FxHasher;
use crate::bits::{ALPHA, Bits, COLON, DIGIT, NONHEX, SEP, SLASH, present_in};

/// Splits at spaces and at field punctuation; the punctuation itself is dropped.
pub fn tokens(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    // Every separator is ASCII, so a token is a whole run of UTF-8.
    line.split(|&b| present_in(&[b]) & (1 << SEP) != 0)
        .filter(|t| !t.is_empty())
}

/// Numbers, ids, addresses, hex, times and dates hold a digit; paths, URLs, and month and
/// weekday names are the other usual variables.
pub fn is_variable(token: &[u8]) -> bool {
    let present = present_in(token);
    !token.is_empty()
        && present & (1 << SEP) == 0
        && matches!(classify(token, present, false), Token::Variable)
}

pub(crate) enum Token {
    Constant(u64),
    Variable,
    /// No letter or digit: left out, like the separators.
    Punctuation,
}

/// Calls `f` with each token of the line's message (from `from`) and what it is, in order.
#[inline]
pub(crate) fn for_each_token(
    bits: &Bits,
    line: &[u8],
    from: usize,
    mut f: impl FnMut(&[u8], Token),
) {
    let len = bits.len();
    let mut i = from;
    let mut after_variable = false;
    loop {
        let start = bits.next(SEP, i, false);
        if start == len {
            return;
        }
        let present;
        (i, present) = bits.run(
            start,
            SEP,
            1 << DIGIT | 1 << ALPHA | 1 << NONHEX | 1 << COLON | 1 << SLASH,
        );
        let token = &line[start..i];
        let kind = classify(token, present, after_variable);
        if let Token::Variable = kind
            && present & (1 << COLON | 1 << DIGIT) == (1 << COLON | 1 << DIGIT)
            && let Some(name) = word_prefix(token)
        {
            f(name, classify(name, present_in(name), false));
        }
        after_variable = matches!(kind, Token::Variable);
        f(token, kind);
    }
}

/// What a token is, from the classes of its bytes (`present`), with the hash of a constant
/// word; `after_variable`: the token before it was a variable (a unit follows it).
#[inline]
fn classify(token: &[u8], present: u16, after_variable: bool) -> Token {
    let has = |class: usize| present & (1 << class) != 0;
    if token[0] == b'/' {
        return Token::Variable;
    }
    if has(DIGIT) {
        return numbered_word(token);
    }
    if !has(ALPHA) {
        return Token::Punctuation;
    }
    let len = token.len();
    if is_calendar(token)
        || (after_variable && is_unit(token))
        || (len >= 8 && !has(NONHEX))
        || (has(SLASH)
            && (token.starts_with(b"./")
                || token.starts_with(b"../")
                || (has(COLON) && token.windows(3).any(|w| w == b"://"))))
    {
        return Token::Variable;
    }
    Token::Constant(word_hash(token))
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

pub(crate) fn is_calendar(token: &[u8]) -> bool {
    token.len() == 3 && CALENDAR.contains(&packed(token))
}

fn is_unit(token: &[u8]) -> bool {
    // Every unit starts with one of these: most words are ruled out by their first byte.
    token.len() <= 7
        && matches!(
            token[0],
            b'B' | b'K' | b'k' | b'M' | b'G' | b'T' | b'b' | b'm' | b'u' | b'n' | b's'
        )
        && UNITS.contains(&packed(token))
}

/// FxHash of a word, eight bytes at a time.
#[inline]
fn word_hash(token: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    let mut chunks = token.chunks_exact(8);
    for c in &mut chunks {
        h.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
    }
    if !chunks.remainder().is_empty() {
        h.add(short_word(token));
    }
    h.add(token.len() as u64);
    h.finish()
}

/// The last up to eight bytes of a word as one number, without a copy: overlapping loads,
/// which with the word's length (hashed beside) still tell every word apart.
#[inline]
fn short_word(token: &[u8]) -> u64 {
    let n = token.len();
    let u32_at = |i: usize| u64::from(u32::from_le_bytes(token[i..i + 4].try_into().expect("4")));
    if n >= 8 {
        u64::from_le_bytes(token[n - 8..].try_into().expect("8 bytes"))
    } else if n >= 4 {
        u32_at(0) | (u32_at(n - 4) << 32)
    } else {
        u64::from(token[0]) | (u64::from(token[n / 2]) << 8) | (u64::from(token[n - 1]) << 16)
    }
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
