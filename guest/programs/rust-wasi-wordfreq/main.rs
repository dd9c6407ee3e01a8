// Word frequencies over a file, the way a Rust programmer writes it against std: std::env::args,
// std::fs, a HashMap, sorting. Usage: rust-wasi-wordfreq <input> [output] [top]. Prints the top
// words; with an output path, also writes every word and its count there (one per line, sorted).
use std::collections::HashMap;
use std::env;
use std::fs;
use std::io::Write;
use std::process;

fn main() {
    let args: Vec<String> = env::args().collect();
    if args.len() < 2 {
        eprintln!("usage: rust-wasi-wordfreq <input> [output] [top]");
        process::exit(2);
    }
    let text = match fs::read_to_string(&args[1]) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{}: {}", args[1], e);
            process::exit(2);
        }
    };
    let mut counts: HashMap<String, u64> = HashMap::new();
    for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        *counts.entry(word.to_lowercase()).or_insert(0) += 1;
    }
    let mut sorted: Vec<(&String, &u64)> = counts.iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let top: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(10);
    println!("{} words, {} distinct", counts.values().sum::<u64>(), counts.len());
    for (word, n) in sorted.iter().take(top) {
        println!("{:>8} {}", n, word);
    }
    if let Some(out) = args.get(2) {
        let mut f = fs::File::create(out).unwrap_or_else(|e| {
            eprintln!("{}: {}", out, e);
            process::exit(2)
        });
        for (word, n) in &sorted {
            writeln!(f, "{} {}", word, n).expect("write");
        }
    }
}
