//! The README's configuration reference stays complete: every `XHUMA_*` variable any crate
//! reads is named there.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        if p.is_dir() {
            if name != "target" && name != ".git" && name != "fuzz" {
                rust_files(&p, out);
            }
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_xhuma_variable_is_documented_in_the_readme() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut missing = std::collections::BTreeSet::new();
    for f in files {
        let src = std::fs::read_to_string(&f).unwrap_or_default();
        for (i, _) in src.match_indices("\"XHUMA_") {
            let rest = &src[i + 1..];
            let end = rest
                .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(rest.len());
            let var = &rest[..end];
            let named = var.len() > "XHUMA_".len() && rest[end..].starts_with('"');
            if named && !readme.contains(&format!("`{var}`")) {
                missing.insert(var.to_string());
            }
        }
    }
    assert!(
        missing.is_empty(),
        "README.md does not document: {missing:?}"
    );
}
