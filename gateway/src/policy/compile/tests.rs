//! Small pieces of validation; whole policies are tested in `policy::tests`.

use super::super::{MsgId, Prefix};

#[test]
fn prefixes() {
    let p = |s| Prefix::parse(s).unwrap();
    assert!(p("198.18.0.0/16").overlaps(&p("198.18.5.0/24")));
    assert!(!p("198.18.0.0/24").overlaps(&p("198.18.1.0/24")));
    assert!(!p("198.18.0.0/24").overlaps(&p("2001:db8::/32")));
    assert!(p("2001:db8::/32").overlaps(&p("2001:db8:1::/48")));
    assert!(p("0.0.0.0/0").overlaps(&p("10.0.0.0/8")));
    let (m, fix) = Prefix::parse("198.18.1.1/24").unwrap_err();
    assert_eq!(
        (m.id(), fix.as_deref()),
        (MsgId::HostBits, Some("198.18.1.0/24"))
    );
    let (m, fix) = Prefix::parse("198.18.1.0/255.255.255.0").unwrap_err();
    assert_eq!(
        (m.id(), fix.as_deref()),
        (MsgId::PrefixMask, Some("198.18.1.0/24"))
    );
    assert_eq!(
        Prefix::parse("198.18.1.0/255.0.255.0").unwrap_err().0.id(),
        MsgId::PrefixLength
    );
    assert!(Prefix::parse("198.18.1.0/33").is_err());
    assert!(Prefix::parse("198.18.1.0").is_err());
}
