//! The README's "Finding codes" table is generated from the code table
//! (`cnictl_analyzers::code::TABLE`): this test fails when they differ and
//! prints the table to paste.

use std::path::Path;

#[test]
fn readme_code_table_is_generated_from_the_code_table() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let want = cnictl_analyzers::code::readme_table();
    let header = want.lines().next().unwrap();
    let start = readme
        .find(header)
        .expect("README has the finding-code table");
    let end = readme[start..]
        .find("\n\n")
        .map_or(readme.len(), |e| start + e + 1);
    assert_eq!(
        &readme[start..end],
        want,
        "README.md's finding-code table differs from code::TABLE; replace it with:\n{want}"
    );
}
