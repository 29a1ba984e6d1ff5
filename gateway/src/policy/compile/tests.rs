//! Small pieces of validation; whole policies are tested in `policy::tests`.

use super::{super::Prefix, nearest_key_hint};

#[test]
fn nearest_keys() {
    assert_eq!(
        nearest_key_hint("unknown field `rat`, expected `rate` or `burst`").as_deref(),
        Some("did you mean `rate`?")
    );
    assert_eq!(
        nearest_key_hint(
            "unknown field `guarantee`, expected one of `rate`, `guaranteed`, `ceiling`, `burst`"
        )
        .as_deref(),
        Some("did you mean `guaranteed`?")
    );
    assert_eq!(
        nearest_key_hint("unknown field `zzzzzz`, expected `rate` or `burst`"),
        None
    );
}

#[test]
fn prefixes() {
    let p = |s| Prefix::parse(s).unwrap();
    assert!(p("198.18.0.0/16").overlaps(&p("198.18.5.0/24")));
    assert!(!p("198.18.0.0/24").overlaps(&p("198.18.1.0/24")));
    assert!(!p("198.18.0.0/24").overlaps(&p("2001:db8::/32")));
    assert!(p("2001:db8::/32").overlaps(&p("2001:db8:1::/48")));
    assert!(p("0.0.0.0/0").overlaps(&p("10.0.0.0/8")));
    assert!(
        Prefix::parse("198.18.1.1/24")
            .unwrap_err()
            .contains("write \"198.18.1.0/24\"")
    );
    assert!(Prefix::parse("198.18.1.0/33").is_err());
    assert!(Prefix::parse("198.18.1.0").is_err());
}
