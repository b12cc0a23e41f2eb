//! Bitmaps of a line's byte classes: one bit per byte and class, made branch-free sixteen
//! bytes at a time (SSE2, which every x86_64 has; a table elsewhere). Tokens and header
//! fields are then found by bit scans instead of a test and a branch per byte.

/// Bytes up to 0x20: space, tab, control bytes.
pub(crate) const SPACE: usize = 0;
/// What separates tokens: space and the field punctuation `| , ; = ( ) [ ] { } " '`.
pub(crate) const SEP: usize = 1;
pub(crate) const DIGIT: usize = 2;
/// ASCII letters.
pub(crate) const ALPHA: usize = 3;
/// Neither a digit nor a letter a-f/A-F.
pub(crate) const NONHEX: usize = 4;
pub(crate) const COLON: usize = 5;
pub(crate) const SLASH: usize = 6;
/// What a component's name holds: `[ ( . _ $ / @` (`sshd[24200]`, `nova.compute.manager`).
pub(crate) const COMPONENT: usize = 7;
/// What ends a header field: space and `|` (`time|component|pid|message`).
pub(crate) const FIELD_END: usize = 8;
const CLASSES: usize = 9;

/// The classes of one byte, as bits by the constants above.
const fn classes(b: u8) -> u16 {
    let mut c = 0u16;
    let space = b <= 0x20;
    let punct = matches!(
        b,
        b'|' | b',' | b';' | b'=' | b'(' | b')' | b'[' | b']' | b'{' | b'}' | b'"' | b'\''
    );
    if space {
        c |= 1 << SPACE;
    }
    if space || punct {
        c |= 1 << SEP;
    }
    let digit = b.is_ascii_digit();
    if digit {
        c |= 1 << DIGIT;
    }
    if b.is_ascii_alphabetic() {
        c |= 1 << ALPHA;
    }
    if !digit && !matches!(b, b'a'..=b'f' | b'A'..=b'F') {
        c |= 1 << NONHEX;
    }
    if b == b':' {
        c |= 1 << COLON;
    }
    if b == b'/' {
        c |= 1 << SLASH;
    }
    if matches!(b, b'[' | b'(' | b'.' | b'_' | b'$' | b'/' | b'@') {
        c |= 1 << COMPONENT;
    }
    if space || b == b'|' {
        c |= 1 << FIELD_END;
    }
    c
}

static TABLE: [u16; 256] = {
    let mut t = [0; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = classes(i as u8);
        i += 1;
    }
    t
};

/// One line's bitmaps, 64 bytes a word. Past the line's end every byte reads as a space.
#[derive(Default)]
pub(crate) struct Bits {
    words: Vec<[u64; CLASSES]>,
    len: usize,
}

impl Bits {
    pub(crate) fn load(&mut self, line: &[u8]) {
        self.len = line.len();
        self.words.clear();
        let mut chunks = line.chunks_exact(64);
        for c in &mut chunks {
            self.words.push(block(c.try_into().expect("64 bytes")));
        }
        let rest = chunks.remainder();
        // Always one word past the last full one, so that scans find the end in a word.
        let mut last = [0u8; 64];
        last[..rest.len()].copy_from_slice(rest);
        self.words.push(block(&last));
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The first position from `from` whose `class` bit is `set`, or the line's length.
    #[inline]
    pub(crate) fn next(&self, class: usize, from: usize, set: bool) -> usize {
        if from >= self.len {
            return self.len;
        }
        let flip = if set { 0 } else { !0 };
        let mut w = from / 64;
        let mut bits = (self.words[w][class] ^ flip) & (!0u64 << (from % 64));
        loop {
            if bits != 0 {
                return (w * 64 + bits.trailing_zeros() as usize).min(self.len);
            }
            w += 1;
            if w == self.words.len() {
                return self.len;
            }
            bits = self.words[w][class] ^ flip;
        }
    }

    /// The token (a run without `stop`'s class) that starts at `start`: its end, and which
    /// of `classes` it holds. One word's bits when it ends in the word it starts in, as
    /// most do.
    #[inline(always)]
    pub(crate) fn run(&self, start: usize, stop: usize, classes: u16) -> (usize, u16) {
        let (w, s) = (start / 64, start % 64);
        let word = &self.words[w];
        let after = word[stop] & (!0u64 << s);
        if after == 0 {
            let end = self.next(stop, start, true);
            return (end, self.present(start, end, classes));
        }
        let e = after.trailing_zeros() as usize;
        let mask = (!0u64 << s) & !(!0u64 << e);
        let mut out = 0u16;
        for (class, bits) in word.iter().enumerate() {
            if classes & (1 << class) != 0 {
                out |= u16::from(bits & mask != 0) << class;
            }
        }
        ((w * 64 + e).min(self.len), out)
    }

    /// Which of `classes` (bits by class) are present in `from..to`.
    #[inline(always)]
    pub(crate) fn present(&self, from: usize, to: usize, classes: u16) -> u16 {
        let (first, last) = (from / 64, (to - 1) / 64);
        let mut out = 0u16;
        let mut w = first;
        loop {
            let lo = if w == first { from % 64 } else { 0 };
            let hi = if w == last { (to - 1) % 64 } else { 63 };
            let mask = (!0u64 << lo) & (!0u64 >> (63 - hi));
            let word = &self.words[w];
            for (class, bits) in word.iter().enumerate() {
                if classes & (1 << class) != 0 {
                    out |= u16::from(bits & mask != 0) << class;
                }
            }
            if w == last {
                return out;
            }
            w += 1;
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn block(bytes: &[u8; 64]) -> [u64; CLASSES] {
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, as just checked.
        unsafe { block_avx2(bytes) }
    } else {
        block_sse2(bytes)
    }
}

/// The classes of 64 bytes from vectors of `$lanes` bytes: one body for SSE2 and AVX2, with
/// each width's intrinsics passed in.
#[cfg(target_arch = "x86_64")]
macro_rules! vector_block {
    ($bytes:ident, $lanes:literal, $mask:ty,
     $load:ident, $set1:ident, $cmpeq:ident, $min:ident, $or:ident, $and:ident,
     $sub:ident, $movemask:ident) => {{
        use std::arch::x86_64::*;
        let mut out = [0u64; CLASSES];
        // SAFETY: each load reads `$lanes` bytes inside `$bytes`; the intrinsics need only the
        // features of the function the macro stands in (SSE2 is in every x86_64 target).
        unsafe {
            let set = |c: u8| $set1(c as i8);
            for step in 0..64 / $lanes {
                let v = $load($bytes.as_ptr().add($lanes * step).cast());
                let eq = |c: u8| $cmpeq(v, set(c));
                let or = |a, b| $or(a, b);
                let space = $cmpeq($min(v, set(0x20)), v);
                let lower = or(v, set(0x20));
                // `[` and `{`, `]` and `}` differ in bit 0x20; `(` and `)` in bit 0x01.
                let open = $cmpeq(lower, set(b'{'));
                let close = $cmpeq(lower, set(b'}'));
                let paren = $cmpeq($and(v, set(0xFE)), set(b'('));
                let pipe = eq(b'|');
                let punct = or(
                    or(or(open, close), or(paren, pipe)),
                    or(
                        or(eq(b','), eq(b';')),
                        or(eq(b'='), or(eq(b'"'), eq(b'\''))),
                    ),
                );
                let d = $sub(v, set(b'0'));
                let digit = $cmpeq($min(d, set(9)), d);
                let a = $sub(lower, set(b'a'));
                let alpha = $cmpeq($min(a, set(25)), a);
                let hex_letter = $cmpeq($min(a, set(5)), a);
                let slash = eq(b'/');
                let component = or(
                    or(or(eq(b'['), eq(b'(')), or(eq(b'.'), eq(b'_'))),
                    or(or(eq(b'$'), slash), eq(b'@')),
                );
                let masks = [
                    space,
                    or(space, punct),
                    digit,
                    alpha,
                    or(digit, hex_letter),
                    eq(b':'),
                    slash,
                    component,
                    or(space, pipe),
                ];
                for (class, m) in masks.iter().enumerate() {
                    let bits = u64::from($movemask(*m) as $mask);
                    out[class] |= bits << ($lanes * step);
                }
            }
        }
        // The mask above was "a hex digit"; the class is its complement.
        out[NONHEX] = !out[NONHEX];
        out
    }};
}

/// 32 bytes a step.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn block_avx2(bytes: &[u8; 64]) -> [u64; CLASSES] {
    vector_block!(
        bytes,
        32,
        u32,
        _mm256_loadu_si256,
        _mm256_set1_epi8,
        _mm256_cmpeq_epi8,
        _mm256_min_epu8,
        _mm256_or_si256,
        _mm256_and_si256,
        _mm256_sub_epi8,
        _mm256_movemask_epi8
    )
}

/// 16 bytes a step; SSE2 is part of every x86_64 target.
#[cfg(target_arch = "x86_64")]
fn block_sse2(bytes: &[u8; 64]) -> [u64; CLASSES] {
    vector_block!(
        bytes,
        16,
        u16,
        _mm_loadu_si128,
        _mm_set1_epi8,
        _mm_cmpeq_epi8,
        _mm_min_epu8,
        _mm_or_si128,
        _mm_and_si128,
        _mm_sub_epi8,
        _mm_movemask_epi8
    )
}

#[cfg(not(target_arch = "x86_64"))]
fn block(bytes: &[u8; 64]) -> [u64; CLASSES] {
    block_by_table(bytes)
}

#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn block_by_table(bytes: &[u8; 64]) -> [u64; CLASSES] {
    let mut out = [0u64; CLASSES];
    for (i, &b) in bytes.iter().enumerate() {
        let c = TABLE[b as usize];
        for (class, word) in out.iter_mut().enumerate() {
            *word |= u64::from((c >> class) & 1) << i;
        }
    }
    out
}

/// The classes of a short slice without bitmaps (the cold path).
pub(crate) fn present_in(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0, |c, &b| c | TABLE[b as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vector_classes_agree_with_the_table_for_every_byte_at_every_place() {
        for b in 0..=255u8 {
            for pos in [0, 1, 15, 16, 31, 47, 63] {
                let mut bytes = [b'x'; 64];
                bytes[pos] = b;
                let want = block_by_table(&bytes);
                assert_eq!(block(&bytes), want, "byte {b:#x} at {pos}");
                #[cfg(target_arch = "x86_64")]
                assert_eq!(block_sse2(&bytes), want, "byte {b:#x} at {pos}");
            }
        }
    }

    #[test]
    fn scans_find_tokens_across_words_and_stop_at_the_end() {
        let mut line = vec![b'a'; 70];
        line[63] = b' ';
        line[66] = b'7';
        let mut bits = Bits::default();
        bits.load(&line);
        assert_eq!(bits.next(SEP, 0, true), 63);
        assert_eq!(bits.next(SEP, 63, false), 64);
        assert_eq!(bits.next(SEP, 64, true), 70);
        assert_eq!(bits.present(64, 70, 1 << DIGIT), 1 << DIGIT);
        assert_eq!(bits.present(0, 63, 1 << DIGIT), 0);
        assert_eq!(bits.next(DIGIT, 67, true), 70);
        // A token ending in its word, and one running into the next.
        assert_eq!(bits.run(0, SEP, 1 << DIGIT), (63, 0));
        assert_eq!(bits.run(64, SEP, 1 << DIGIT), (70, 1 << DIGIT));
        line[63] = b'a';
        bits.load(&line);
        assert_eq!(
            bits.run(10, SEP, 1 << DIGIT | 1 << ALPHA),
            (70, 1 << DIGIT | 1 << ALPHA)
        );
    }
}
