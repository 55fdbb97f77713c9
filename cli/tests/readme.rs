//! The README's `flx sync` transcript is real: its commands are run here on the same tree, and
//! the output must match line by line (numbers masked: sizes and timings may move).
//! `FLX_PRINT_TRANSCRIPT=1 cargo test -p fluximage-cli --test readme -- --nocapture` prints a
//! fresh transcript to paste.

mod common;
use common::*;

/// The console block that follows this heading in the README.
const SECTION: &str = "## Command-line tool: flx";

fn readme_transcript() -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let section = &readme[readme
        .find(SECTION)
        .expect("the README has the flx section")..];
    let start = section
        .find("```console\n")
        .expect("a console block in the flx section")
        + "```console\n".len();
    let end = start + section[start..].find("```").unwrap();
    section[start..end].to_string()
}

/// Digits, and the unit after a size, masked.
fn mask(s: &str) -> String {
    let mut out = String::new();
    let mut in_num = false;
    for ch in s.chars() {
        if ch.is_ascii_digit() || (in_num && (ch == '.' || ch == ',')) {
            if !in_num {
                out.push('#');
            }
            in_num = true;
        } else {
            in_num = false;
            out.push(ch);
        }
    }
    out.replace("# KiB", "# B").replace("# MiB", "# B")
}

#[test]
fn the_readme_sync_transcript_is_real() {
    let emu = emulator();
    let d = Dir::new("readme");
    write_image(d.path(), "photos/2024/beach.png", 640, 400, 1);
    write_image(d.path(), "photos/2024/cliff.jpg", 400, 600, 2);
    write_image(d.path(), "photos/2025/harbour.png", 800, 450, 3);
    std::fs::write(d.join("photos/notes.txt"), b"not an image").unwrap();

    let mut got = String::new();
    for line in readme_transcript()
        .lines()
        .filter(|l| l.starts_with("$ flx "))
    {
        let args: Vec<&str> = line["$ flx ".len()..].split_whitespace().collect();
        let o = run(&emu, "starter", d.path(), &args);
        got += &format!("{line}\n{}", stdout(&o));
    }
    if std::env::var_os("FLX_PRINT_TRANSCRIPT").is_some() {
        println!("{got}");
    }
    let want = readme_transcript();
    let (w, g): (Vec<String>, Vec<String>) = (
        want.lines().map(mask).collect(),
        got.lines().map(mask).collect(),
    );
    assert_eq!(
        w, g,
        "the README transcript differs from a real run:\n{got}"
    );
}
