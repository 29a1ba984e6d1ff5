use super::*;

const SITE: &str = r#"
[site]
name = "Kabupaten Contoh"
lan = "eth1"
wan = "eth2"
capacity = { upload = "500Mbps", download = "1Gbps" }
"#;

fn agency(id: &str, vlan: u16) -> String {
    format!(
        r#"
[[agency]]
id = "{id}"
vlans = [{vlan}]
upload = {{ rate = "10Mbps" }}
download = {{ guaranteed = "20Mbps", ceiling = "100Mbps", burst = "20ms" }}
"#
    )
}

fn errors(files: &[(&str, &str)]) -> Vec<Diagnostic> {
    from_texts(files)
        .expect_err("should be rejected")
        .diagnostics
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .collect()
}

fn all(d: &[Diagnostic]) -> String {
    d.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_small_policy() {
    let text = format!("{SITE}{}{}", agency("dinkes", 110), agency("bpbd", 120));
    let p = from_texts(&[("site.toml", &text)]).unwrap();
    assert_eq!(p.site.lan, "eth1");
    assert_eq!(p.site.forwarding, Forwarding::Redirect);
    assert_eq!(p.site.unclassified, Unclassified::Pass);
    assert_eq!(
        p.site.capacity,
        PerDirection::new(500_000_000, 1_000_000_000)
    );
    assert_eq!(p.site.headroom, PerDirection::new(10_000_000, 20_000_000)); // 2% by default
    assert_eq!(p.site.tick, Duration::from_secs(1));
    assert_eq!(p.site.expiry, Duration::from_secs(3));
    assert_eq!(p.site.timezone.offset_seconds, 7 * 3600);
    assert_eq!(p.site.fallback, Fallback::Shared);
    assert_eq!(p.agencies.len(), 2);
    let a = &p.agencies[0];
    assert_eq!((a.tier, a.weight), (Tier::Standard, 1));
    assert_eq!(
        a.limits.upload,
        Limits {
            guaranteed: 10_000_000,
            ceiling: 10_000_000,
            burst: defaults::BURST_TIME
        }
    );
    assert_eq!(
        a.limits.download,
        Limits {
            guaranteed: 20_000_000,
            ceiling: 100_000_000,
            burst: Duration::from_millis(20)
        }
    );
    assert_eq!(a.limits.download.burst_bytes(100_000_000), 250_000);
    assert_eq!(
        a.limits.download.burst_bytes(1_000_000),
        defaults::MIN_BURST_BYTES
    );
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
}

#[test]
fn shares_of_the_capacity_and_unlimited() {
    let text = format!(
        "{SITE}headroom = \"30Mbps\"\n[[agency]]\nid = \"wifi\"\ntier = \"public\"\nweight = 3\nvlans = [300]\nupload = {{ guaranteed = \"1%\", ceiling = \"unlimited\" }}\ndownload = {{ rate = \"unlimited\" }}\n"
    );
    let p = from_texts(&[("p.toml", &text)]).unwrap();
    assert_eq!(p.site.headroom, PerDirection::new(30_000_000, 30_000_000));
    assert_eq!(p.site.usable(Direction::Download), 970_000_000);
    let w = &p.agencies[0];
    assert_eq!((w.tier, w.weight), (Tier::Public, 3));
    assert_eq!(
        (w.limits.upload.guaranteed, w.limits.upload.ceiling),
        (5_000_000, 500_000_000)
    );
    assert_eq!(
        (w.limits.download.guaranteed, w.limits.download.ceiling),
        (0, 1_000_000_000)
    );
}

#[test]
fn agencies_across_files() {
    let p = from_texts(&[
        ("00-site.toml", SITE),
        ("dinkes.toml", &agency("dinkes", 110)),
        ("bpbd.toml", &agency("bpbd", 120)),
    ])
    .unwrap();
    assert_eq!(p.agencies.len(), 2);
    assert_eq!(p.files.len(), 3);
    let q = from_texts(&[
        ("00-site.toml", SITE),
        ("dinkes.toml", &agency("dinkes", 111)),
        ("bpbd.toml", &agency("bpbd", 120)),
    ])
    .unwrap();
    assert_ne!(p.fingerprint, q.fingerprint);
}

#[test]
fn unknown_key_is_an_error_with_position_and_the_nearest_key() {
    let text = format!(
        "{SITE}\n[[agency]]\nid = \"a\"\nvlans = [5]\nupload = {{ rat = \"1Mbps\" }}\ndownload = {{ rate = \"1Mbps\" }}\n"
    );
    let d = errors(&[("p.toml", &text)]);
    assert_eq!(d.len(), 1, "{}", all(&d));
    assert_eq!(
        d[0].message.to_string(),
        "unknown key `rat` in the agency's `upload`"
    );
    assert_eq!(
        d[0].hint.as_ref().map(|h| h.to_string()).as_deref(),
        Some("did you mean `rate`? e.g. `rate = \"10Mbps\"`")
    );
    assert_eq!((d[0].line, d[0].column), (11, 12), "{}", d[0]);
}

#[test]
fn every_semantic_error_at_once() {
    let text = format!(
        "{SITE}unclassified = \"wifi\"\n{}{}{}",
        agency("dinkes", 110),
        agency("dinkes", 110),
        agency("Bad_Id", 5000)
    );
    let d = errors(&[("p.toml", &text)]);
    let s = all(&d);
    assert!(s.contains("duplicate agency id \"dinkes\""), "{s}");
    assert!(
        s.contains("VLAN 110 is already assigned to agency \"dinkes\""),
        "{s}"
    );
    assert!(s.contains("agency id \"Bad_Id\" is not allowed"), "{s}");
    assert!(s.contains("VLAN id 5000 is out of range"), "{s}");
    assert!(s.contains("`unclassified` names \"wifi\""), "{s}");
    assert_eq!(d.len(), 5, "{s}");
    let dup = d
        .iter()
        .find(|d| d.message.to_string().starts_with("duplicate agency id"))
        .unwrap();
    assert_eq!((dup.line, dup.column), (16, 6), "{dup}");
}

#[test]
fn guarantee_above_ceiling() {
    let text = format!(
        "{SITE}\n[[agency]]\nid = \"a\"\nvlans = [5]\nupload = {{ guaranteed = \"20Mbps\", ceiling = \"10Mbps\" }}\ndownload = {{ rate = \"1Mbps\" }}\n"
    );
    let d = errors(&[("p.toml", &text)]);
    assert_eq!(d.len(), 1, "{}", all(&d));
    assert!(
        d[0].to_string()
            .starts_with("p.toml:11:25: error: the guarantee 20Mbps is above the ceiling 10Mbps"),
        "{}",
        d[0]
    );
}

#[test]
fn guarantees_above_capacity_minus_headroom() {
    // 500 Mbps upload, 2% headroom: 490 Mbps can be promised; 50 × 10 Mbps is 500.
    let mut text = SITE.to_string();
    for i in 0..50 {
        text.push_str(&agency(&format!("a{i}"), 100 + i));
    }
    let d = errors(&[("p.toml", &text)]);
    assert_eq!(d.len(), 2, "{}", all(&d));
    assert!(
        d[0].message.to_string().contains("the upload guarantees add up to 500Mbps, above the 490Mbps that can be promised (500Mbps capacity minus 10Mbps headroom)"),
        "{}",
        d[0]
    );
    assert!(
        d[1].message
            .to_string()
            .contains("the download guarantees add up to 1Gbps, above the 980Mbps"),
        "{}",
        d[1]
    );
    assert_eq!(
        (d[0].line, d[0].column),
        (6, 12),
        "points at the capacity: {}",
        d[0]
    );
}

#[test]
fn schedules_change_limits_by_time_of_day() {
    let text = format!(
        "{SITE}\n[[agency]]\nid = \"disdik\"\nvlans = [5]\nupload = {{ guaranteed = \"5Mbps\", ceiling = \"50Mbps\" }}\ndownload = {{ guaranteed = \"10Mbps\" }}\n\n[[agency.schedule]]\ndays = [\"mon-fri\"]\nhours = \"07:00-15:00\"\ndownload = {{ guaranteed = \"40Mbps\", ceiling = \"200Mbps\" }}\n"
    );
    let p = from_texts(&[("p.toml", &text)]).unwrap();
    let a = &p.agencies[0];
    let at = |weekday, h: u16| LocalTime {
        weekday,
        minute: h * 60,
    };
    assert_eq!(
        a.limits_at(Direction::Download, at(0, 8)).guaranteed,
        40_000_000
    );
    assert_eq!(
        a.limits_at(Direction::Download, at(0, 8)).ceiling,
        200_000_000
    );
    assert_eq!(
        a.limits_at(Direction::Download, at(0, 16)).guaranteed,
        10_000_000
    );
    assert_eq!(
        a.limits_at(Direction::Download, at(5, 8)).guaranteed,
        10_000_000
    ); // Saturday
    assert_eq!(
        a.limits_at(Direction::Upload, at(0, 8)).guaranteed,
        5_000_000
    ); // unchanged
}

#[test]
fn schedules_that_overlap_or_overcommit_are_refused() {
    let text = format!(
        "{SITE}\n[[agency]]\nid = \"disdik\"\nvlans = [5]\nupload = {{ guaranteed = \"5Mbps\" }}\ndownload = {{ guaranteed = \"10Mbps\" }}\n\n[[agency.schedule]]\ndays = [\"mon-fri\"]\nhours = \"07:00-15:00\"\ndownload = {{ guaranteed = \"990Mbps\" }}\n\n[[agency.schedule]]\ndays = [\"fri\"]\nhours = \"14:00-17:00\"\ndownload = {{ guaranteed = \"20Mbps\" }}\n"
    );
    let d = errors(&[("p.toml", &text)]);
    let s = all(&d);
    assert_eq!(d.len(), 2, "{s}");
    assert!(s.contains("p.toml:21:9: error: this schedule overlaps the one at line 16 (both hold on Friday 14:00)"), "{s}");
    // The window that raises the guarantee is at fault, not the capacity.
    assert!(
        s.contains("p.toml:17:27: error: during this schedule the download guarantees add up to 990Mbps on Monday 07:00, above the 980Mbps"),
        "{s}"
    );
}

#[test]
fn bad_units_say_what_to_write() {
    let text = format!(
        "{SITE}\n[[agency]]\nid = \"a\"\nvlans = [5]\nupload = {{ rate = \"10MB\" }}\ndownload = {{ guaranteed = \"10\", burst = \"5\" }}\n"
    );
    let d = errors(&[("p.toml", &text)]);
    let s: Vec<String> = d.iter().map(|d| d.to_string()).collect();
    assert_eq!(d.len(), 3, "{s:?}");
    assert!(
        s[0].contains("p.toml:11:19") && s[0].contains("80Mbps"),
        "{s:?}"
    );
    assert!(s[1].contains("`guaranteed = \"10Mbps\"`"), "{s:?}");
    assert!(s[2].contains("`burst = \"5ms\"`"), "{s:?}");
}

#[test]
fn site_is_required_unique_and_has_a_capacity() {
    let d = errors(&[("a.toml", &agency("a", 1))]);
    assert!(
        d[0].message.to_string().contains("no [site]"),
        "{}",
        all(&d)
    );
    let d = errors(&[("a.toml", SITE), ("b.toml", SITE)]);
    assert!(
        d[0].message.to_string().contains("second [site]"),
        "{}",
        all(&d)
    );
    assert!(
        d[0].hint.as_ref().unwrap().to_string().contains("a.toml:2"),
        "{}",
        all(&d)
    );
    let d = errors(&[("a.toml", "[site]\nlan = \"eth1\"\nwan = \"eth2\"\n")]);
    assert!(
        d[0].message.to_string().contains("no `capacity`"),
        "{}",
        all(&d)
    );
}

#[test]
fn prefixes_must_not_overlap() {
    let text = format!(
        "{SITE}\n[[agency]]\nid = \"a\"\nvlans = [5]\nprefixes = [\"198.18.0.0/16\"]\nupload = {{ rate = \"1Mbps\" }}\ndownload = {{ rate = \"1Mbps\" }}\n[[agency]]\nid = \"b\"\nvlans = [6]\nprefixes = [\"198.18.7.0/24\", \"198.19.0.1/16\"]\nupload = {{ rate = \"1Mbps\" }}\ndownload = {{ rate = \"1Mbps\" }}\n"
    );
    let s = all(&errors(&[("p.toml", &text)]));
    assert!(
        s.contains("prefix 198.18.7.0/24 overlaps 198.18.0.0/16 of agency \"a\""),
        "{s}"
    );
    assert!(
        s.contains("has host bits set; write \"198.19.0.0/16\""),
        "{s}"
    );
}

#[test]
fn a_ceiling_above_the_uplink_is_a_warning() {
    let text = format!(
        "{SITE}\n[[agency]]\nid = \"a\"\nvlans = [5]\nupload = {{ ceiling = \"2Gbps\" }}\ndownload = {{ rate = \"1Mbps\" }}\n"
    );
    let p = from_texts(&[("p.toml", &text)]).unwrap();
    assert_eq!(p.warnings.len(), 1);
    assert!(p.warnings[0].to_string().contains(
        "warning: agency \"a\" has a upload ceiling of 2Gbps, above the uplink's 500Mbps"
    ));
}

#[test]
fn unclassified_to_an_agency() {
    let text = format!(
        "{SITE}unclassified = \"wifi\"\n[[agency]]\nid = \"wifi\"\nvlans = [300]\nqinq = [[400, 7]]\nupload = {{ rate = \"unlimited\" }}\ndownload = {{ rate = \"5Mbps\" }}\n"
    );
    let p = from_texts(&[("p.toml", &text)]).unwrap();
    assert_eq!(p.site.unclassified, Unclassified::Agency(0));
    assert_eq!(p.agencies[0].qinq, vec![(400, 7)]);
}

#[test]
fn syntax_errors_have_positions() {
    let d = errors(&[("p.toml", "[site]\nlan = \"eth1\nwan = 3\n")]);
    assert_eq!(d.len(), 1, "{}", all(&d));
    assert_eq!(d[0].line, 2, "{}", d[0]);
}
