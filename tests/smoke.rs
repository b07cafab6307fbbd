mod common;

#[test]
fn library_links() {
    assert_eq!(tt_stats::stats::Period::Week.seconds(), 604_800);
}
