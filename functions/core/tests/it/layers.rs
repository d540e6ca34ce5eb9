//! The layers of core stay layers: each top-level module uses only the ones listed before it
//! (`src/lib.rs`), so there is no import cycle between them, and none of them does I/O.

use std::path::{Path, PathBuf};

/// The top-level modules, lowest first, and what each may use.
const LAYERS: &[(&str, &[&str])] = &[
    ("model", &[]),
    ("rules", &["model"]),
    ("platforms", &["model"]),
    ("messages", &["model", "platforms"]),
    ("insight", &["model", "rules"]),
    ("ports", &["model", "platforms", "messages"]),
];

fn sources(module: &str) -> Vec<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![src.join(format!("{module}.rs"))];
    let mut pending = vec![src.join(module)];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for path in entries.filter_map(Result::ok).map(|e| e.path()) {
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.retain(|f| f.exists());
    files
}

#[test]
fn core_has_its_six_layers_and_nothing_else() {
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs"))
        .expect("lib.rs");
    let mut declared: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';'))
        .collect();
    let mut layers: Vec<&str> = LAYERS.iter().map(|(name, _)| *name).collect();
    declared.sort_unstable();
    layers.sort_unstable();
    assert_eq!(declared, layers);
}

#[test]
fn each_layer_uses_only_the_layers_below_it() {
    let mut wrong = Vec::new();
    for (module, allowed) in LAYERS {
        for file in sources(module) {
            let text = std::fs::read_to_string(&file).expect("readable source");
            for (other, _) in LAYERS {
                let uses = text.contains(&format!("crate::{other}::"))
                    || text.contains(&format!("crate::{other};"));
                if other != module && !allowed.contains(other) && uses {
                    wrong.push(format!("{} uses {other}", file.display()));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn no_layer_reads_files_prints_or_reads_the_wall_clock() {
    let mut wrong = Vec::new();
    for (module, _) in LAYERS {
        for file in sources(module) {
            let text = std::fs::read_to_string(&file).expect("readable source");
            // Unit tests at the end of a file may do what they like.
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for io in [
                "std::fs",
                "println!",
                "eprintln!",
                "std::env",
                "Timestamp::now()",
                "SystemTime",
            ] {
                if code.contains(io) {
                    wrong.push(format!("{}: {io}", file.display()));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}
