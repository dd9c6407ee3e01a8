// Word frequency over the instance's input, written the way a Rust programmer would: std's
// String, HashMap, iterators, sort and formatting. It splits the input on whitespace, trims
// what is not alphanumeric from each word and lower-cases it, counts the words, sorts them by
// count (then by word), writes the `top` most frequent as lines "<count right-aligned in 8> <word>"
// and returns a checksum of the whole sorted table (guest/programs/catalog.ts computes the same).
//
// Built for wasm32-unknown-unknown by `npm run build:programs` (scripts/build-programs.mjs); the
// .wasm beside this file is checked in, so tests and the bench need no Rust toolchain. It measures
// metering and Asyncify on real std code (issue 10, item 11).

use std::collections::HashMap;
use std::fmt::Write;

#[link(wasm_import_module = "ferry")]
extern "C" {
    fn input_size() -> i32;
    fn input_read(dst: *mut u8, offset: i32, len: i32) -> i32;
    fn output_write(ptr: *const u8, len: i32);
}

fn read_input() -> Vec<u8> {
    let size = unsafe { input_size() } as usize;
    let mut buf = vec![0u8; size];
    let mut at = 0usize;
    while at < size {
        let n = unsafe { input_read(buf.as_mut_ptr().add(at), at as i32, (size - at) as i32) };
        if n <= 0 {
            break;
        }
        at += n as usize;
    }
    buf.truncate(at);
    buf
}

fn count_words(bytes: &[u8]) -> HashMap<String, u32> {
    let text = String::from_utf8_lossy(bytes);
    let mut counts: HashMap<String, u32> = HashMap::new();
    for word in text.split_whitespace() {
        let word = word.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase();
        if !word.is_empty() {
            *counts.entry(word).or_default() += 1;
        }
    }
    counts
}

#[no_mangle]
pub extern "C" fn main(top: i32) -> i32 {
    let counts = count_words(&read_input());
    let mut table: Vec<(String, u32)> = counts.into_iter().collect();
    table.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));

    let mut report = String::new();
    for (word, count) in table.iter().take(top.max(0) as usize) {
        let _ = writeln!(report, "{:>8} {}", count, word);
    }
    unsafe { output_write(report.as_ptr(), report.len() as i32) };

    let mut checksum: u32 = 0;
    for (rank, (word, count)) in table.iter().enumerate() {
        for &byte in word.as_bytes() {
            checksum = checksum.wrapping_mul(31).wrapping_add(byte as u32);
        }
        checksum = checksum.wrapping_mul(17).wrapping_add(*count ^ rank as u32);
    }
    (checksum & 0x7fff_ffff) as i32
}
