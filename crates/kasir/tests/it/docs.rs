//! The docs that copy the code cannot drift from it: their tables are generated from the code, between
//! markers, and this test fails when a file disagrees. `KASIR_BLESS_DOCS=1` rewrites them instead.

use std::path::PathBuf;

use kasir_api::error::{errors_table, Section};
use kasir_domain::sandbox::CATALOGUE;

fn doc_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs").join(name)
}

/// Checks (or with `KASIR_BLESS_DOCS=1`, writes) the text between `<!-- generated: NAME -->` and
/// `<!-- end: NAME -->` in `docs/FILE`.
fn check_generated(file: &str, name: &str, want: &str) {
    let path = doc_path(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (begin, end) = (format!("<!-- generated: {name} -->\n"), format!("<!-- end: {name} -->"));
    let start = text.find(&begin).unwrap_or_else(|| panic!("{file} has no `{}` marker", begin.trim())) + begin.len();
    let stop = text[start..].find(&end).unwrap_or_else(|| panic!("{file} has no `{end}` marker")) + start;
    let have = &text[start..stop];
    if have == want {
        return;
    }
    if std::env::var_os("KASIR_BLESS_DOCS").is_some() {
        std::fs::write(&path, format!("{}{want}{}", &text[..start], &text[stop..])).unwrap();
        return;
    }
    panic!(
        "docs/{file} ({name}) disagrees with the code; run with KASIR_BLESS_DOCS=1 to regenerate.\n--- docs:\n{have}\n--- code:\n{want}"
    );
}

#[test]
fn errors_md_lists_every_code_as_the_api_answers_it() {
    check_generated("errors.md", "general codes", &errors_table(Section::General));
    check_generated("errors.md", "refund codes", &errors_table(Section::Refunds));
}

#[test]
fn webhooks_md_lists_every_event_type_with_its_default() {
    let mut table = String::from("| type | sent by default | when |\n|---|---|---|\n");
    for t in kasir_domain::EventType::ALL {
        let on = if t.enabled_by_default() { "on" } else { "off" };
        table.push_str(&format!("| `{}` | {on} | {} |\n", t.as_str(), t.when()));
    }
    check_generated("webhooks.md", "event types", &table);
}

#[test]
fn sandbox_md_lists_the_catalogue_of_test_numbers() {
    let mut table = String::from(
        "| number (`calling_code` 62) | what happens | attempt `status_description` starts |\n|---|---|---|\n",
    );
    for m in CATALOGUE {
        table.push_str(&format!("| `{}` | {} | {} |\n", m.number, m.behaviour, m.status_prefix()));
    }
    table.push_str("| any other number | succeeds after the sandbox delay | (succeeded) |\n");
    check_generated("sandbox.md", "catalogue", &table);
}
