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
            burst: defaults::BURST_TIME,
            host_ceiling: None,
        }
    );
    assert_eq!(
        a.limits.download,
        Limits {
            guaranteed: 20_000_000,
            ceiling: 100_000_000,
            burst: Duration::from_millis(20),
            host_ceiling: None,
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
        "warning: the upload ceiling of agency \"a\", 2Gbps, is above the uplink's 500Mbps"
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

/// Lines admins get wrong, each after a valid `[site]` and in a new `[[agency]]` unless it
/// starts with a table of its own: one mistake each, named in both languages.
const SYNTAX_MISTAKES: &[&str] = &[
    // Text and its quotes.
    "name = \"Dinas PU\\Bina Marga\"",
    "name = \"C:\\Users\\admin\"",
    "name = \"Dinas 'A'\\Data\"",
    "name = 'Dinas Kesehatan",
    "name = \"Dinas Kesehatan",
    "name = Dinas Kesehatan\"",
    "name = \"Dinas \"Kesehatan\"\"",
    "name = 'Jum'at'",
    "name = \u{201c}Dinas Kesehatan\u{201d}",
    "name = \"Dinas\u{1} Kesehatan\"",
    "name = \"Dinas\" # catatan\u{7}",
    "name = \"Dinas\"\rid = \"x\"",
    // Keys.
    "= \"dinkes\"",
    "name. = \"Dinas\"",
    "tier/opd = \"critical\"",
    "name: \"Dinas\"",
    "name := \"Dinas\"",
    "nama dinas = \"Dinas\"",
    "id = \"dinkes\"\nid.x = 1",
    "[site]\ncapacity.upload = \"1Gbps\"",
    // Tables.
    "[]",
    "[[agency]",
    "[[agency",
    "agency]]",
    "[[agency]] x",
    "}",
    // Dates and times.
    "name = 1979-05-27T25:00:00",
    "name = 2025-13-01",
    "name = 2025-02-30",
    "name = 07:60",
    "name = 07:00:61",
    "name = 7:00",
    "name = 07:00-16:00",
    "[[agency.schedule]]\nhours = 25:00",
    // Numbers and words without quotes.
    "weight = 01",
    "weight = 1__0",
    "weight = 2.",
    "weight = 1.5.5",
    "weight = True",
    "package = 1.5Gbps",
    "package = 10 Mbps",
    "prefixes = [10.0.0.0/24]",
    "vlans = [110-120]",
    "hosts = fair",
    "tier = normal",
    "x = 1 2",
    "vlans = 110 111",
    "vlans = 110, 111",
    "vlans = [110 111]",
    "weight = 1 2",
    "weight = 1,000",
    "name =",
    // Punctuation.
    "name = = \"Dinas\"",
    "name == \"Dinas\"",
    "vlans = [110,, 111]",
    "vlans = [110 = 111]",
    "name = \"Dinas\" // catatan",
    "name = \"Dinas\" ; catatan",
    "name = \"Dinas\" x",
    "vlans = [110",
    "upload = { rate = \"10Mbps\" ceiling = \"20Mbps\" }",
    "upload = { rate = \"10Mbps\"",
    "upload = { rate: \"10Mbps\" }",
    "upload = { rate \"10Mbps\" }",
    "upload = { rate = \"10Mbps\",, ceiling = \"20Mbps\" }",
];

/// Hints that show a line to write (the others point at a place or name a setting).
const LINE_HINTS: &[MsgId] = &[
    MsgId::WriteLike,
    MsgId::SyntaxEscapeHint,
    MsgId::SyntaxEscapeDoubleHint,
    MsgId::SyntaxControlHint,
    MsgId::SyntaxDateTimeHint,
    MsgId::SyntaxDottedTableHint,
];

fn mistake_text(line: &str) -> String {
    let site = "[site]\nlan = \"eth1\"\nwan = \"eth2\"\ncapacity = { upload = \"1Gbps\", download = \"1Gbps\" }\n";
    if let Some(in_site) = line.strip_prefix("[site]\n") {
        format!("{site}{in_site}\n")
    } else if line.starts_with('[') || line.starts_with("agency") {
        format!("{site}{line}\n")
    } else {
        format!("{site}[[agency]]\n{line}\n")
    }
}

#[test]
fn syntax_mistakes_are_named_in_the_admins_words() {
    for line in SYNTAX_MISTAKES {
        let text = mistake_text(line);
        let d = errors(&[("p.toml", &text)]);
        assert_eq!(d.len(), 1, "{line:?}:\n{}", all(&d));
        let d = &d[0];
        assert_ne!(d.message.id(), MsgId::Syntax, "{line:?} is not named: {d}");
        // The parser's own words appear in neither language.
        let (_, parser) = toml::de::DeTable::parse_recoverable(&text);
        for lang in Lang::ALL {
            let shown = d.render(lang);
            for e in &parser {
                let words = e.message().split(", expected").next().unwrap_or("");
                assert!(!shown.contains(words), "{line:?} in {lang:?}: {shown}");
            }
        }
        assert_ne!(
            d.message.text(Lang::En),
            d.message.text(Lang::Id),
            "{line:?}"
        );
        // A line shown to write is TOML.
        let hint = d
            .hint
            .as_ref()
            .unwrap_or_else(|| panic!("{line:?} has no hint"));
        if LINE_HINTS.contains(&hint.id()) {
            let hint = hint.text(Lang::En);
            let shown = hint.rsplit('`').nth(1).unwrap_or("");
            let (_, errors) = toml::de::DeTable::parse_recoverable(shown);
            assert!(
                errors.is_empty(),
                "{line:?}: the hint's line does not parse: {hint}"
            );
        }
    }
}

#[test]
fn syntax_hints_mend_the_line_written() {
    let hint = |line: &str| {
        let d = errors(&[("p.toml", &mistake_text(line))]);
        d[0].hint
            .as_ref()
            .map(|h| h.text(Lang::En))
            .unwrap_or_default()
    };
    // Two values: a list for a key that takes one (or any unknown key), else its example.
    assert_eq!(hint("x = 1 2"), "write it like this: `x = [1, 2]`");
    assert_eq!(
        hint("vlans = 110 111"),
        "write it like this: `vlans = [110, 111]`"
    );
    assert_eq!(hint("weight = 1 2"), "write it like this: `weight = 2`");
    assert_eq!(
        hint("name = \"C:\\Users\\admin\""),
        "in single quotes a backslash stays as written: `name = 'C:\\Users\\admin'`"
    );
    assert_eq!(
        hint("name = 'Dinas Kesehatan"),
        "write it like this: `name = \"Dinas Kesehatan\"`"
    );
    assert_eq!(
        hint("package = 1.5Gbps"),
        "write it like this: `package = \"1.5Gbps\"`"
    );
    assert_eq!(
        hint("vlans = [010, 020]"),
        "write it like this: `vlans = [10, 20]`"
    );
    // A key that takes no text gets its example, not the word in quotes.
    assert_eq!(
        hint("vlans = [110-120]"),
        "write it like this: `vlans = [110, 111]`"
    );
    assert_eq!(
        hint("upload = 10Mbps"),
        "write it like this: `upload = { guaranteed = \"10Mbps\", ceiling = \"50Mbps\" }`"
    );
}

#[test]
fn one_syntax_mistake_per_line() {
    // The colon also leaves the key without `=`: one mistake, at the colon.
    let d = errors(&[("p.toml", &mistake_text("name: \"Dinas\""))]);
    assert_eq!(d.len(), 1, "{}", all(&d));
    assert_eq!((d[0].line, d[0].column), (6, 5), "{}", d[0]);
}

/// A parser text not named keeps a sentence in the admin's language, its English quoted.
#[test]
fn unnamed_syntax_errors_quote_the_parser() {
    let d = errors(&[("p.toml", &mistake_text("\"\"\"name\"\"\" = \"Dinas\""))]);
    assert_eq!(d.len(), 1, "{}", all(&d));
    assert_eq!(
        d[0].message.text(Lang::Id),
        "baris ini bukan TOML yang benar (pesan parser TOML: \"keys cannot be multi-line basic strings, expected basic string, literal string\")"
    );
}

/// Every key of every table, written with the example line the hints show: a valid policy.
fn full_policy(mutate: impl Fn(&str, &str, &str) -> Option<String>) -> String {
    use super::raw::{AGENCY, CAPACITY, COSTS, LIMIT, OVERRIDE, SCHEDULE, SITE};
    let line =
        |table: &str, k: &raw::Key| mutate(table, k.name, k.example).unwrap_or(k.example.into());
    let mut text = String::from("[site]\n");
    for k in SITE {
        if k.name == "capacity" {
            let parts: Vec<String> = CAPACITY.iter().map(|c| line("capacity", c)).collect();
            let whole = format!("capacity = {{ {} }}", parts.join(", "));
            text.push_str(&mutate("site", "capacity", &whole).unwrap_or(whole));
        } else if k.name == "costs" {
            let parts: Vec<String> = COSTS.iter().map(|c| line("costs", c)).collect();
            let whole = format!("costs = {{ {} }}", parts.join(", "));
            text.push_str(&mutate("site", "costs", &whole).unwrap_or(whole));
        } else {
            text.push_str(&line("site", k));
        }
        text.push('\n');
    }
    text.push_str("\n[[agency]]\n");
    for k in AGENCY.iter().filter(|k| k.name != "schedule") {
        text.push_str(&line("agency", k));
        text.push('\n');
    }
    let schedule = mutate("agency", "schedule", "[[agency.schedule]]");
    text.push('\n');
    match schedule {
        Some(s) => text.push_str(&format!("{s}\n")),
        None => {
            text.push_str("[[agency.schedule]]\n");
            for k in SCHEDULE {
                if k.name == "download" {
                    let parts: Vec<String> = OVERRIDE.iter().map(|o| line("override", o)).collect();
                    let whole = format!("download = {{ {} }}", parts.join(", "));
                    text.push_str(&mutate("schedule", "download", &whole).unwrap_or(whole));
                } else {
                    text.push_str(&line("schedule", k));
                }
                text.push('\n');
            }
        }
    }
    // Each key of a limit, alone in an agency of its own (`rate` excludes the others).
    for (i, k) in LIMIT.iter().enumerate() {
        let mut limit = line("limit", k);
        if k.name == "burst" {
            limit = format!("rate = \"1Mbps\", {limit}");
        }
        if k.name == "host_ceiling" {
            limit = format!("ceiling = \"50Mbps\", {limit}");
        }
        text.push_str(&format!(
            "\n[[agency]]\nid = \"limit-{i}\"\nvlans = [{}]\nupload = {{ {limit} }}\ndownload = {{ rate = \"1Mbps\" }}\n",
            200 + i
        ));
    }
    text
}

/// The first error on `line` of the text, if any.
fn error_on_line(text: &str, line: usize) -> Option<Diagnostic> {
    errors(&[("p.toml", text)])
        .into_iter()
        .find(|d| d.line == line)
}

#[test]
fn the_examples_in_hints_make_a_valid_policy() {
    let text = full_policy(|_, _, _| None);
    if let Err(e) = from_texts(&[("p.toml", &text)]) {
        panic!("{text}\n{e}");
    }
}

/// Walks every key of every table with a value of the wrong kind, an extra or malformed list
/// item, and an unknown key beside it or inside it: each is refused, on its line, with a
/// hint in both languages. Nothing written is silently ignored.
#[test]
fn every_key_refuses_extra_or_malformed_values() {
    use super::raw::{AGENCY, CAPACITY, COSTS, LIMIT, OVERRIDE, SCHEDULE, SITE};
    let tables: [(&str, &[raw::Key]); 7] = [
        ("site", SITE),
        ("capacity", CAPACITY),
        ("costs", COSTS),
        ("agency", AGENCY),
        ("limit", LIMIT),
        ("schedule", SCHEDULE),
        ("override", OVERRIDE),
    ];
    let mut failures = Vec::new();
    let mut tried = 0;
    for (table, keys) in tables {
        for k in keys {
            let value = k.example.split_once(" = ").map_or("", |(_, v)| v);
            let mut cases: Vec<(&str, String)> = Vec::new();
            // A value of the wrong kind.
            let wrong = if value.starts_with('"') { "5" } else { "\"x\"" };
            cases.push(("wrong kind", format!("{} = {wrong}", k.name)));
            if value.starts_with("[[") {
                // One element too many in an inner list, and a malformed one.
                cases.push(("extra item", k.example.replacen("]]", ", 5]]", 1)));
                cases.push(("malformed item", k.example.replacen("]]", ", \"x\"]]", 1)));
            } else if value.starts_with('[') {
                let extra = if value.starts_with("[\"") {
                    ", 5]"
                } else {
                    ", \"x\"]"
                };
                cases.push(("malformed item", k.example.replacen(']', extra, 1)));
            } else if value.starts_with('{') {
                cases.push((
                    "unknown inner key",
                    k.example.replacen(" }", ", extra = 1 }", 1),
                ));
            }
            if k.name == "schedule" {
                cases = vec![
                    ("wrong kind", "schedule = \"x\"".into()),
                    (
                        "unknown key",
                        "[[agency.schedule]]\ndays = [\"mon\"]\nhours = \"07:00-08:00\"\ndownload = { ceiling = \"1Gbps\" }\nextra = 1".into(),
                    ),
                ];
            } else {
                // An unknown key beside it: within an inline table, in the same braces.
                let beside = match table {
                    "capacity" | "costs" | "limit" | "override" => {
                        format!("{}, extra = 1", k.example)
                    }
                    _ => format!("{}\nextra = 1", k.example),
                };
                cases.push(("unknown key beside", beside));
            }
            for (what, replacement) in cases {
                tried += 1;
                let text =
                    full_policy(|t, n, _| (t == table && n == k.name).then(|| replacement.clone()));
                let marker = replacement.lines().last().unwrap_or("");
                let line = text
                    .lines()
                    .position(|l| l.contains(marker))
                    .map(|i| i + 1)
                    .unwrap();
                match error_on_line(&text, line) {
                    None => failures.push(format!(
                        "{table}.{} ({what}): accepted or refused elsewhere:\n{text}",
                        k.name
                    )),
                    Some(d) if d.hint.is_none() => {
                        failures.push(format!("{table}.{} ({what}): no hint: {d}", k.name))
                    }
                    Some(d) => {
                        for lang in Lang::ALL {
                            let shown = d.render(lang);
                            assert!(shown.contains(&format!(":{line}:")), "{shown}");
                        }
                    }
                }
            }
        }
    }
    assert!(tried > 60, "{tried} cases");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_top_level_takes_one_site_and_agency_tables() {
    for text in [
        "site = 5\n",
        "[[site]]\nlan = \"eth1\"\n",
        "agency = \"dinkes\"\n",
        "[agency]\nid = \"dinkes\"\n",
        "sites = 1\n",
    ] {
        let d = errors(&[("p.toml", text)]);
        assert_eq!(d.len(), 1, "{text}: {}", all(&d));
        assert_eq!(d[0].line, 1, "{}", d[0]);
        assert!(d[0].hint.is_some(), "{}", d[0]);
    }
}

/// Policies mutated at random (a fixed seed, so every run tries the same texts): whatever
/// was written, reading never panics, and every error has a position in the file, or none
/// for the file as a whole, and a hint.
#[test]
fn mutated_policies_are_refused_with_a_position_and_a_hint() {
    // xorshift64*: the same sequence on every machine.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move |below: usize| {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) % below as u64) as usize
    };
    const PIECES: &[&str] = &[
        "\"",
        "'",
        "[",
        "]",
        "{",
        "}",
        ",",
        "=",
        "\n",
        " ",
        "#",
        "1",
        "-",
        ".",
        "e",
        "x",
        "\u{e9}",
        "\r",
        "\\",
        "[[",
        "]]",
        "0x",
        "_",
        "%",
        "Mbps",
        "99999999999999999999",
        "\u{feff}",
        "tier",
        "vlans",
        "qinq",
        "= [[1, 2, 3]]",
        "= {",
        "= true",
        "1979-05-27",
    ];
    let base = full_policy(|_, _, _| None);
    let mut refused = 0;
    for _ in 0..3000 {
        let mut text = base.clone();
        for _ in 0..1 + next(3) {
            let mut at = next(text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            let mut end = (at + next(6)).min(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            let piece = PIECES[next(PIECES.len())];
            match next(3) {
                0 => text.insert_str(at, piece),
                1 => text.replace_range(at..end, ""),
                _ => text.replace_range(at..end, piece),
            }
        }
        let lines = text.lines().count() + 1;
        let result = std::panic::catch_unwind(|| from_texts(&[("p.toml", &text)]));
        let Ok(result) = result else {
            panic!("reading panicked on:\n{text}");
        };
        let Err(e) = result else { continue };
        refused += 1;
        for d in e.errors() {
            assert!(
                d.line <= lines && (d.line == 0) == (d.column == 0),
                "{d}\nin:\n{text}"
            );
            assert!(d.hint.is_some(), "{d}\nhas no hint, in:\n{text}");
            for lang in Lang::ALL {
                assert!(!d.render(lang).is_empty());
            }
        }
    }
    assert!(
        refused > 1000,
        "only {refused} of the mutated policies were refused"
    );
}

#[test]
fn an_unreadable_file_hides_no_agency_from_the_others() {
    let site = format!("{SITE}unclassified = \"wifi\"\n");
    let wifi = "[[agency]]\nid = \"wifi\"\nvlans = [300]\nupload = { rate = \"1Mbps\" }\ndownload = { rate = 1 }\n";
    let d = errors(&[("00-site.toml", &site), ("60-wifi.toml", wifi)]);
    assert_eq!(d.len(), 1, "{}", all(&d));
    assert_eq!(d[0].file, std::path::Path::new("60-wifi.toml"));
}

/// The 1-based line of the first line of `text` holding `marker`.
fn line_of(text: &str, marker: &str) -> usize {
    text.lines()
        .position(|l| l.contains(marker))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("`{marker}` not in:\n{text}"))
}

/// An agency that bought a fixed package before pooling.
fn agency_with_package(id: &str, vlan: u16, package: &str) -> String {
    format!("{}package = {package}\n", agency(id, vlan))
}

#[test]
fn packages_and_costs_for_the_report() {
    let text = format!(
        "{SITE}\n[site.costs]\nuplink_per_mbps_month = 250000\ncurrency = \"IDR\"\npackage_per_year = {{ \"20 Mbps\" = 60_000_000, \"10Mbps\" = 30000000, \"1.5Gbps\" = 900000000 }}\n{}{}",
        agency_with_package("dinkes", 110, "\"20Mbps\""),
        agency("bpbd", 120),
    );
    let p = from_texts(&[("p.toml", &text)]).unwrap();
    assert_eq!(
        p.site.costs,
        Some(Costs {
            currency: "IDR".into(),
            uplink_per_mbps_month: 250_000,
            package_per_year: vec![
                (10_000_000, 30_000_000),
                (20_000_000, 60_000_000),
                (1_500_000_000, 900_000_000),
            ],
        })
    );
    assert_eq!(p.agencies[0].package, Some(20_000_000));
    assert_eq!(p.agencies[1].package, None);
    assert_eq!(
        p.site.costs.as_ref().unwrap().package_price(20_000_000),
        Some(60_000_000)
    );
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);

    // Inline in [site], with the currency by default and no package prices.
    let text = format!(
        "{SITE}costs = {{ uplink_per_mbps_month = 150000 }}\n{}",
        agency_with_package("dinkes", 110, "\"512kbps\"")
    );
    let p = from_texts(&[("p.toml", &text)]).unwrap();
    assert_eq!(
        p.site.costs,
        Some(Costs {
            currency: "Rp".into(),
            uplink_per_mbps_month: 150_000,
            package_per_year: Vec::new(),
        })
    );
    assert_eq!(p.agencies[0].package, Some(512_000));
    // No package_per_year table: nothing to check a package against, no warning.
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);

    let p = from_texts(&[("p.toml", &format!("{SITE}{}", agency("a", 5)))]).unwrap();
    assert_eq!(p.site.costs, None);
}

#[test]
fn a_package_is_a_rate_above_zero() {
    let text = format!(
        "{SITE}{}{}{}",
        agency_with_package("a", 5, "\"abc\""),
        agency_with_package("b", 6, "\"0Mbps\""),
        agency_with_package("d", 8, "\"20 mbit\""),
    );
    let d = errors(&[("p.toml", &text)]);
    let shown: Vec<String> = d.iter().map(|d| d.to_string()).collect();
    assert_eq!(d.len(), 3, "{shown:#?}");
    let at = |marker: &str| line_of(&text, marker);
    assert_eq!(d[0].line, at("package = \"abc\""), "{}", d[0]);
    assert_eq!(d[0].column, 11, "{}", d[0]);
    assert!(
        shown[0].contains("error: \"abc\" does not start with a number\n  hint: write it like this: `package = \"10Mbps\"`"),
        "{}",
        shown[0]
    );
    assert_eq!(d[1].line, at("package = \"0Mbps\""), "{}", d[1]);
    assert!(
        shown[1].contains("\"0Mbps\" is out of range; rates run from 1bps to 1000Tbps\n  hint: write it like this: `package = \"20Mbps\"`"),
        "{}",
        shown[1]
    );
    assert_eq!(d[2].line, at("package = \"20 mbit\""), "{}", d[2]);
    assert!(
        shown[2].contains(
            "write the unit as \"Mbps\"\n  hint: write it like this: `package = \"20Mbps\"`"
        ),
        "{}",
        shown[2]
    );

    // A number, refused by the policy reader for its kind.
    let text = format!("{SITE}{}", agency_with_package("c", 7, "20"));
    let d = errors(&[("p.toml", &text)]);
    assert_eq!(d.len(), 1, "{}", all(&d));
    assert_eq!(
        (d[0].line, d[0].column),
        (line_of(&text, "package = 20"), 11)
    );
    assert_eq!(
        d[0].to_string().split_once(": error: ").unwrap().1,
        "`package` must be a rate in quotes with its unit, not the number 20\n  hint: write it like this: `package = \"20Mbps\"`"
    );
    assert!(
        d[0].render(Lang::Id).contains(
            "`package` harus berupa kecepatan dalam tanda kutip beserta satuannya, bukan angka 20"
        ),
        "{}",
        d[0].render(Lang::Id)
    );

    // Written without quotes, TOML itself refuses it, on its line.
    let text = format!("{SITE}{}", agency_with_package("a", 5, "0Mbps"));
    let d = errors(&[("p.toml", &text)]);
    assert_eq!(d.len(), 1, "{}", all(&d));
    assert_eq!(d[0].line, line_of(&text, "package = 0Mbps"), "{}", d[0]);
    assert!(d[0].hint.is_some(), "{}", d[0]);
}

#[test]
fn costs_need_the_uplink_price() {
    let text = format!(
        "{SITE}\n[site.costs]\ncurrency = \"Rp\"\n{}",
        agency("a", 5)
    );
    let d = errors(&[("p.toml", &text)]);
    assert_eq!(d.len(), 1, "{}", all(&d));
    assert_eq!(d[0].line, line_of(&text, "[site.costs]"), "{}", d[0]);
    assert_eq!(
        d[0].to_string(),
        format!(
            "p.toml:{}:1: error: [site.costs] has no `uplink_per_mbps_month`\n  hint: add it, e.g. `uplink_per_mbps_month = 250000`",
            d[0].line
        )
    );
    assert!(
        d[0].render(Lang::Id)
            .contains("kesalahan: [site.costs] tidak memiliki `uplink_per_mbps_month`"),
        "{}",
        d[0].render(Lang::Id)
    );
    // Inline, at its braces.
    let text = format!("{SITE}costs = {{ currency = \"Rp\" }}\n");
    let d = errors(&[("p.toml", &text)]);
    assert_eq!(d.len(), 1, "{}", all(&d));
    assert_eq!((d[0].line, d[0].column), (line_of(&text, "costs ="), 9));
}

#[test]
fn prices_are_whole_numbers_above_zero_and_packages_rates_priced_once() {
    let text = format!(
        "{SITE}\n[site.costs]\nuplink_per_mbps_month = 0\ncurrency = \"\"\n\n[site.costs.package_per_year]\n\"10Mbps\" = -5\n\"20 Megabit\" = 60000000\n\"20Mbps\" = 60000000\n\"20 Mbps\" = 65000000\n"
    );
    let d = errors(&[("p.toml", &text)]);
    let shown: Vec<String> = d.iter().map(|d| d.to_string()).collect();
    assert_eq!(d.len(), 5, "{shown:#?}");
    let at = |marker: &str| line_of(&text, marker);
    let expect = [
        (
            at("uplink_per_mbps_month = 0"),
            "a price must be above 0, not 0",
            "write it like this: `uplink_per_mbps_month = 250000`",
        ),
        (
            at("currency = \"\""),
            "`currency` is empty",
            "write it like this: `currency = \"Rp\"`",
        ),
        (
            at("\"10Mbps\" = -5"),
            "a price must be above 0, not -5",
            "write it like this: `\"10Mbps\" = 60000000`",
        ),
        (
            at("\"20 Megabit\""),
            "\"20 Megabit\": unknown unit \"Megabit\"; rates use bps, kbps, Mbps or Gbps",
            "write it like this: `\"20Mbps\" = 60000000`",
        ),
        (
            at("\"20 Mbps\""),
            "package 20Mbps (\"20 Mbps\") is priced twice in `package_per_year`",
            &format!(
                "it is first listed at line {}; remove one",
                at("\"20Mbps\" = 6")
            ),
        ),
    ];
    for (d, (line, message, hint)) in d.iter().zip(expect) {
        assert_eq!(d.line, line, "{d}");
        assert_eq!(d.message.to_string(), message, "{d}");
        assert_eq!(d.hint.as_ref().unwrap().to_string(), hint, "{d}");
    }
    // Each at its value or its key, not at the table.
    assert_eq!(d[2].column, 12, "{}", d[2]);
    assert_eq!(d[3].column, 1, "{}", d[3]);
    assert!(
        d[4].render(Lang::Id)
            .contains("paket 20Mbps (\"20 Mbps\") diberi harga dua kali di `package_per_year`"),
        "{}",
        d[4].render(Lang::Id)
    );
}

#[test]
fn costs_refuse_unknown_keys_and_wrong_kinds() {
    let text = format!(
        "{SITE}\n[site.costs]\nuplink_per_mpbs_month = 250000\ncurency = \"Rp\"\npackages = {{ \"10Mbps\" = 1 }}\n"
    );
    let d = errors(&[("p.toml", &text)]);
    let shown: Vec<String> = d.iter().map(|d| d.to_string()).collect();
    assert_eq!(d.len(), 4, "{shown:#?}");
    assert_eq!(
        shown[0],
        format!(
            "p.toml:{}:1: error: [site.costs] has no `uplink_per_mbps_month`\n  hint: add it, e.g. `uplink_per_mbps_month = 250000`",
            line_of(&text, "[site.costs]")
        )
    );
    assert_eq!(
        shown[1],
        format!(
            "p.toml:{}:1: error: unknown key `uplink_per_mpbs_month` in [site.costs]\n  hint: did you mean `uplink_per_mbps_month`? e.g. `uplink_per_mbps_month = 250000`",
            line_of(&text, "uplink_per_mpbs_month =")
        )
    );
    assert!(
        shown[2].contains("unknown key `curency` in [site.costs]\n  hint: did you mean `currency`? e.g. `currency = \"Rp\"`"),
        "{}",
        shown[2]
    );
    assert!(
        shown[3].contains(
            "unknown key `packages` in [site.costs]\n  hint: did you mean `package_per_year`?"
        ) || shown[3].contains(
            "the keys of [site.costs] are `uplink_per_mbps_month`, `package_per_year`, `currency`"
        ),
        "{}",
        shown[3]
    );
    assert!(
        d[1].render(Lang::Id)
            .contains("kunci `uplink_per_mpbs_month` tidak dikenal di [site.costs]\n  petunjuk: mungkin maksudnya `uplink_per_mbps_month`?"),
        "{}",
        d[1].render(Lang::Id)
    );

    let table = "`package_per_year = { \"10Mbps\" = 30000000, \"20Mbps\" = 60000000 }`";
    for (costs, message, hint) in [
        (
            "costs = 250000",
            "`costs` must be a table `{ … }`, not the number 250000",
            "`costs = { uplink_per_mbps_month = 250000 }`",
        ),
        (
            "costs = { uplink_per_mbps_month = \"Rp 175.000\" }",
            "`uplink_per_mbps_month` must be a price: a whole number above 0, digits only, not the text \"Rp 175.000\"",
            "`uplink_per_mbps_month = 175000`",
        ),
        (
            "costs = { uplink_per_mbps_month = \"murah\" }",
            "`uplink_per_mbps_month` must be a price: a whole number above 0, digits only, not the text \"murah\"",
            "`uplink_per_mbps_month = 250000`",
        ),
        (
            "costs = { uplink_per_mbps_month = 250000.5 }",
            "`uplink_per_mbps_month` must be a price: a whole number above 0, digits only, not the number 250000.5",
            "`uplink_per_mbps_month = 250000`",
        ),
        (
            "costs = { uplink_per_mbps_month = 250000, package_per_year = [30000000] }",
            "`package_per_year` must be a table `{ … }`, not a list [ … ]",
            table,
        ),
        (
            "costs = { uplink_per_mbps_month = 250000, currency = 1 }",
            "`currency` must be text in quotes, not the number 1",
            "`currency = \"Rp\"`",
        ),
        (
            "costs = { uplink_per_mbps_month = 1, package_per_year = { \"50Mbps\" = \"150.000.000\" } }",
            "each value of `package_per_year` must be a price: a whole number above 0, digits only, not the text \"150.000.000\"",
            "`\"50Mbps\" = 150000000`",
        ),
        (
            "costs = { uplink_per_mbps_month = 1, package_per_year = { \"100Mbps\" = 2.5e8 } }",
            "each value of `package_per_year` must be a price: a whole number above 0, digits only, not the number 2.5e8",
            "`\"100Mbps\" = 250000000`",
        ),
        (
            "costs = { uplink_per_mbps_month = 1, package_per_year = { \"100Mbps\" = \"250 juta\" } }",
            "each value of `package_per_year` must be a price: a whole number above 0, digits only, not the text \"250 juta\"",
            table,
        ),
        (
            "costs = { uplink_per_mbps_month = 99999999999999999999 }",
            "99999999999999999999 is far out of range for `uplink_per_mbps_month`",
            "`uplink_per_mbps_month = 250000`",
        ),
    ] {
        let text = format!("{SITE}{costs}\n");
        let d = errors(&[("p.toml", &text)]);
        assert_eq!(d.len(), 1, "{costs}: {}", all(&d));
        assert_eq!(d[0].line, line_of(&text, costs), "{}", d[0]);
        assert_eq!(d[0].message.to_string(), message, "{}", d[0]);
        assert_eq!(
            d[0].hint.as_ref().unwrap().to_string(),
            format!("write it like this: {hint}"),
            "{}",
            d[0]
        );
    }
}

#[test]
fn a_package_without_a_price_is_a_warning() {
    let text = format!(
        "{SITE}\n[site.costs]\nuplink_per_mbps_month = 250000\npackage_per_year = {{ \"10Mbps\" = 30000000 }}\n{}{}",
        agency_with_package("dinkes", 110, "\"10Mbps\""),
        agency_with_package("bpbd", 120, "\"20Mbps\""),
    );
    let p = from_texts(&[("p.toml", &text)]).unwrap();
    assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    let w = &p.warnings[0];
    assert_eq!(w.severity, Severity::Warning);
    assert_eq!(
        (w.line, w.column),
        (line_of(&text, "package = \"20Mbps\""), 11)
    );
    assert_eq!(
        w.to_string(),
        format!(
            "p.toml:{}:11: warning: no price for package 20Mbps in [site.costs] package_per_year; the report leaves this agency's package price out\n  hint: add its price per year to `package_per_year` in [site.costs], e.g. `\"20Mbps\" = 60000000`",
            w.line
        )
    );
    assert!(
        w.render(Lang::Id).contains(
            "peringatan: tidak ada harga untuk paket 20Mbps di package_per_year [site.costs]; laporan tidak menyertakan harga paket OPD ini"
        ),
        "{}",
        w.render(Lang::Id)
    );
    assert_eq!(p.agencies[1].package, Some(20_000_000));
}

/// Each finding as `check` shows it, in both languages, without the file name.
fn shown(d: &Diagnostic) -> [String; 2] {
    Lang::ALL.map(|lang| {
        let r = d.render(lang);
        r.strip_prefix("p.toml:").unwrap_or(&r).to_string()
    })
}

#[test]
fn hosts_are_fair_by_default() {
    let text = format!("{SITE}{}", agency("dinkes", 110));
    let p = from_texts(&[("p.toml", &text)]).unwrap();
    assert_eq!(p.site.hosts, Hosts::Fair);
    assert_eq!(p.site.host_table, defaults::HOST_TABLE);
    assert_eq!(p.site.host_table, 65_536);
    assert_eq!(p.site.host_ipv6_prefix, defaults::HOST_IPV6_PREFIX);
    assert_eq!(p.site.host_ipv6_prefix, 64);
    let a = &p.agencies[0];
    assert_eq!(a.hosts, Hosts::Fair);
    assert_eq!(a.limits.upload.host_ceiling, None);
    assert_eq!(a.limits.download.host_ceiling, None);
    assert_eq!(
        (Hosts::Fair.as_str(), Hosts::Shared.as_str()),
        ("fair", "shared")
    );
}

#[test]
fn hosts_and_host_ceilings_as_written() {
    let text = format!(
        r#"{SITE}hosts = "shared"
host_table = 1024
host_ipv6_prefix = 128

[[agency]]
id = "wifi"
hosts = "fair"
vlans = [300]
upload = {{ ceiling = "50Mbps", host_ceiling = "1%" }}
download = {{ guaranteed = "10Mbps", ceiling = "100Mbps", host_ceiling = "5Mbps" }}

[[agency.schedule]]
days = ["mon-fri"]
hours = "07:00-16:00"
download = {{ ceiling = "4Mbps", guaranteed = "4Mbps" }}

[[agency]]
id = "dinkes"
vlans = [110]
upload = {{ rate = "10Mbps", host_ceiling = "10Mbps" }}
download = {{ ceiling = "unlimited", host_ceiling = "1.5Mbps" }}
"#
    );
    let p = from_texts(&[("p.toml", &text)]).unwrap();
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    assert_eq!(
        (p.site.hosts, p.site.host_table, p.site.host_ipv6_prefix),
        (Hosts::Shared, 1024, 128)
    );
    let (wifi, dinkes) = (&p.agencies[0], &p.agencies[1]);
    // The agency's own, else the site's.
    assert_eq!((wifi.hosts, dinkes.hosts), (Hosts::Fair, Hosts::Shared));
    // A share of the capacity, as `ceiling` takes: 1% of 500 Mbps.
    assert_eq!(wifi.limits.upload.host_ceiling, Some(5_000_000));
    assert_eq!(wifi.limits.download.host_ceiling, Some(5_000_000));
    // As much as the agency's ceiling is allowed; with `rate` and "unlimited" too.
    assert_eq!(dinkes.limits.upload.host_ceiling, Some(10_000_000));
    assert_eq!(dinkes.limits.download.host_ceiling, Some(1_500_000));
    // A window's lower ceiling caps one host too; outside it the host ceiling is as written.
    let monday = |h: u16| LocalTime {
        weekday: 0,
        minute: h * 60,
    };
    let during = wifi.limits_at(Direction::Download, monday(9));
    assert_eq!(
        (during.ceiling, during.host_ceiling),
        (4_000_000, Some(4_000_000))
    );
    let after = wifi.limits_at(Direction::Download, monday(20));
    assert_eq!(
        (after.ceiling, after.host_ceiling),
        (100_000_000, Some(5_000_000))
    );

    // The ends of the ranges.
    for (table, prefix) in [(1_024, 32), (1_048_576, 128)] {
        let text = format!(
            "{SITE}host_table = {table}\nhost_ipv6_prefix = {prefix}\n{}",
            agency("a", 5)
        );
        let p = from_texts(&[("p.toml", &text)]).unwrap();
        assert_eq!(
            (p.site.host_table, p.site.host_ipv6_prefix),
            (table, prefix)
        );
    }
}

#[test]
fn host_table_and_ipv6_prefix_out_of_range() {
    let text = format!(
        "{SITE}host_table = 1000\nhost_ipv6_prefix = 24\n{}",
        agency("a", 5)
    );
    let d = errors(&[("p.toml", &text)]);
    assert_eq!(d.len(), 2, "{}", all(&d));
    assert_eq!(
        shown(&d[0]),
        [
            "7:14: error: `host_table` must be from 1024 to 1048576, not 1000\n  hint: the host table holds one entry for each host of each agency, about 100 bytes each (65536 entries ≈ 6.5 MB), e.g. `host_table = 1024`",
            "7:14: kesalahan: `host_table` harus dari 1024 sampai 1048576, bukan 1000\n  petunjuk: tabel host memuat satu entri untuk setiap host di setiap OPD, sekitar 100 byte per entri (65536 entri ≈ 6,5 MB), mis. `host_table = 1024`",
        ]
    );
    assert_eq!(
        shown(&d[1]),
        [
            "8:20: error: `host_ipv6_prefix` must be from 32 to 128, not 24\n  hint: IPv6 addresses that share this many first bits are one host: 64 (one /64) by default, 128 for each address, e.g. `host_ipv6_prefix = 32`",
            "8:20: kesalahan: `host_ipv6_prefix` harus dari 32 sampai 128, bukan 24\n  petunjuk: alamat IPv6 yang sama pada sekian bit pertama dihitung satu host: 64 (satu /64) secara bawaan, 128 untuk setiap alamat, mis. `host_ipv6_prefix = 32`",
        ]
    );
    // Above the range, and negative: the nearest value that fits.
    for (line, fits) in [
        ("host_table = 2_000_000", "`host_table = 1048576`"),
        ("host_table = -1", "`host_table = 1024`"),
        ("host_ipv6_prefix = 129", "`host_ipv6_prefix = 128`"),
        ("host_ipv6_prefix = 0", "`host_ipv6_prefix = 32`"),
    ] {
        let text = format!("{SITE}{line}\n{}", agency("a", 5));
        let d = errors(&[("p.toml", &text)]);
        assert_eq!(d.len(), 1, "{line}: {}", all(&d));
        assert_eq!(d[0].line, 7, "{}", d[0]);
        assert!(d[0].to_string().ends_with(fits), "{}", d[0]);
    }
}

#[test]
fn hosts_table_and_prefix_take_their_kinds() {
    for (line, message, hint) in [
        (
            "hosts = \"fiar\"",
            "`hosts` must be one of \"fair\", \"shared\", not \"fiar\"",
            "hosts = \"fair\"",
        ),
        (
            "hosts = \"Shared\"",
            "`hosts` must be one of \"fair\", \"shared\", not \"Shared\"",
            "hosts = \"shared\"",
        ),
        (
            "hosts = true",
            "`hosts` must be one of \"fair\", \"shared\" in quotes, not true",
            "hosts = \"fair\"",
        ),
        (
            "host_table = \"65.536\"",
            "`host_table` must be a whole number from 1024 to 1048576, not the text \"65.536\"",
            "host_table = 65536",
        ),
        (
            "host_table = 6.5e4",
            "`host_table` must be a whole number from 1024 to 1048576, not the number 6.5e4",
            "host_table = 65000",
        ),
        (
            "host_table = \"big\"",
            "`host_table` must be a whole number from 1024 to 1048576, not the text \"big\"",
            "host_table = 65536",
        ),
        (
            "host_ipv6_prefix = \"/64\"",
            "`host_ipv6_prefix` must be a whole number from 32 to 128, not the text \"/64\"",
            "host_ipv6_prefix = 64",
        ),
        (
            "host_ipv6_prefix = 99999999999999999999",
            "99999999999999999999 is far out of range for `host_ipv6_prefix`",
            "host_ipv6_prefix = 64",
        ),
    ] {
        let text = format!("{SITE}{line}\n{}", agency("a", 5));
        let d = errors(&[("p.toml", &text)]);
        assert_eq!(d.len(), 1, "{line}: {}", all(&d));
        let column = line.find(" = ").unwrap() + 4;
        assert_eq!((d[0].line, d[0].column), (7, column), "{}", d[0]);
        assert_eq!(d[0].message.to_string(), message, "{}", d[0]);
        assert_eq!(
            d[0].hint.as_ref().unwrap().to_string(),
            format!("write it like this: `{hint}`"),
            "{}",
            d[0]
        );
    }
    // In an agency too, and in Bahasa Indonesia.
    let text = format!("{SITE}{}hosts = \"pcq\"\n", agency("a", 5));
    let d = errors(&[("p.toml", &text)]);
    assert_eq!(d.len(), 1, "{}", all(&d));
    let at = line_of(&text, "hosts = \"pcq\"");
    assert_eq!(
        shown(&d[0]),
        [
            format!(
                "{at}:9: error: `hosts` must be one of \"fair\", \"shared\", not \"pcq\"\n  hint: write it like this: `hosts = \"fair\"`"
            ),
            format!(
                "{at}:9: kesalahan: `hosts` harus salah satu dari \"fair\", \"shared\", bukan \"pcq\"\n  petunjuk: tulis seperti ini: `hosts = \"fair\"`"
            ),
        ]
    );
}

/// An agency whose download is written `download`.
fn agency_download(id: &str, vlan: u16, download: &str) -> String {
    format!(
        "\n[[agency]]\nid = \"{id}\"\nvlans = [{vlan}]\nupload = {{ rate = \"10Mbps\" }}\ndownload = {download}\n"
    )
}

#[test]
fn a_host_ceiling_is_a_rate_above_zero_and_at_most_the_ceiling() {
    let downloads = [
        "{ ceiling = \"100Mbps\", host_ceiling = \"0Mbps\" }",
        "{ ceiling = \"100Mbps\", host_ceiling = \"0\" }",
        "{ ceiling = \"100Mbps\", host_ceiling = \"unlimited\" }",
        "{ ceiling = \"100Mbps\", host_ceiling = \"none\" }",
        "{ ceiling = \"100Mbps\", host_ceiling = \"200Mbps\" }",
        "{ rate = \"10Mbps\", host_ceiling = \"20%\" }",
        "{ ceiling = \"100Mbps\", host_ceiling = \"5 mbit\" }",
        "{ ceiling = \"100Mbps\", host_ceiling = \"5MB\" }",
    ];
    let mut text = SITE.to_string();
    for (i, d) in downloads.iter().enumerate() {
        text.push_str(&agency_download(&format!("a{i}"), 100 + i as u16, d));
    }
    let d = errors(&[("p.toml", &text)]);
    assert_eq!(d.len(), downloads.len(), "{}", all(&d));
    let none_hint = [
        "give the most one host may pass, e.g. `host_ceiling = \"5Mbps\"`, or leave `host_ceiling` out for no ceiling per host",
        "tulis kecepatan terbesar untuk satu host, mis. `host_ceiling = \"5Mbps\"`, atau hapus `host_ceiling` jika tanpa batas per host",
    ];
    let expect: [[&str; 2]; 8] = [
        [
            "error: a host ceiling of \"0Mbps\" would let no host pass",
            "kesalahan: batas atas per host \"0Mbps\" tidak akan melewatkan host mana pun",
        ],
        [
            "error: a host ceiling of \"0\" would let no host pass",
            "kesalahan: batas atas per host \"0\" tidak akan melewatkan host mana pun",
        ],
        [
            "error: `host_ceiling` cannot be \"unlimited\"",
            "kesalahan: `host_ceiling` tidak boleh \"unlimited\"",
        ],
        [
            "error: `host_ceiling` cannot be \"none\"",
            "kesalahan: `host_ceiling` tidak boleh \"none\"",
        ],
        [
            "error: the host ceiling 200Mbps is above the agency's ceiling 100Mbps: one host never passes more than its agency\n  hint: a host's ceiling is at most its agency's; lower `host_ceiling` or raise `ceiling`, e.g. `host_ceiling = \"100Mbps\"`",
            "kesalahan: batas atas per host 200Mbps melebihi batas atas OPD 100Mbps: satu host tidak pernah melewatkan lebih dari OPD-nya\n  petunjuk: batas atas per host paling besar sama dengan batas atas OPD; turunkan `host_ceiling` atau naikkan `ceiling`, mis. `host_ceiling = \"100Mbps\"`",
        ],
        [
            // 20% of the 1 Gbps download capacity, above the 10 Mbps `rate`.
            "error: the host ceiling 200Mbps is above the agency's ceiling 10Mbps: one host never passes more than its agency\n  hint: a host's ceiling is at most its agency's; lower `host_ceiling` or raise `ceiling`, e.g. `host_ceiling = \"10Mbps\"`",
            "kesalahan: batas atas per host 200Mbps melebihi batas atas OPD 10Mbps: satu host tidak pernah melewatkan lebih dari OPD-nya\n  petunjuk: batas atas per host paling besar sama dengan batas atas OPD; turunkan `host_ceiling` atau naikkan `ceiling`, mis. `host_ceiling = \"10Mbps\"`",
        ],
        [
            "error: \"5 mbit\": write the unit as \"Mbps\"\n  hint: write it like this: `host_ceiling = \"5Mbps\"`",
            "kesalahan: \"5 mbit\": tulis satuannya \"Mbps\"\n  petunjuk: tulis seperti ini: `host_ceiling = \"5Mbps\"`",
        ],
        [
            "error: \"5MB\": \"MB\" is ambiguous or in bytes; rates are in bits per second: \"5Mbps\" (megabits) or \"40Mbps\" if you meant megabytes\n  hint: write it like this: `host_ceiling = \"5Mbps\"`",
            "kesalahan: \"5MB\": \"MB\" bermakna ganda atau dalam byte; kecepatan ditulis dalam bit per detik: \"5Mbps\" (megabit) atau \"40Mbps\" jika maksudnya megabyte\n  petunjuk: tulis seperti ini: `host_ceiling = \"5Mbps\"`",
        ],
    ];
    for (i, (d, want)) in d.iter().zip(expect).enumerate() {
        let marker = downloads[i];
        let line = line_of(&text, marker);
        // At the value of `host_ceiling`.
        let column = marker.find("host_ceiling = ").unwrap() + "download = ".len() + 16;
        for (lang, (got, want)) in shown(d).iter().zip(want).enumerate() {
            let want = if want.contains('\n') {
                want.to_string()
            } else {
                format!(
                    "{want}\n  {}: {}",
                    ["hint", "petunjuk"][lang],
                    none_hint[lang]
                )
            };
            assert_eq!(got, &format!("{line}:{column}: {want}"), "{marker}");
        }
    }

    // A ceiling that could not be read is not held against the host ceiling.
    let text = format!(
        "{SITE}{}",
        agency_download(
            "a",
            5,
            "{ ceiling = \"1O0Mbps\", host_ceiling = \"200Mbps\" }"
        )
    );
    let d = errors(&[("p.toml", &text)]);
    assert_eq!(d.len(), 1, "{}", all(&d));
    assert!(d[0].to_string().contains("\"1O0Mbps\""), "{}", d[0]);

    // Written without quotes, or as a number, refused for its kind.
    let text = format!(
        "{SITE}{}",
        agency_download("a", 5, "{ ceiling = \"100Mbps\", host_ceiling = 5 }")
    );
    let d = errors(&[("p.toml", &text)]);
    assert_eq!(d.len(), 1, "{}", all(&d));
    assert_eq!(
        d[0].to_string().split_once(": error: ").unwrap().1,
        "`host_ceiling` must be a rate or a share of the capacity, in quotes, not the number 5\n  hint: write it like this: `host_ceiling = \"5Mbps\"`"
    );
}

#[test]
fn host_keys_in_the_wrong_table_or_by_mikrotik_names() {
    let per_direction = [
        "`host_ceiling` is set for one direction, inside the agency's `upload` or `download` (it holds at all times, also during a schedule), e.g. `download = { ceiling = \"100Mbps\", host_ceiling = \"5Mbps\" }`",
        "`host_ceiling` ditulis untuk satu arah, di dalam `upload` atau `download` milik OPD (berlaku setiap saat, juga selama jadwal), mis. `download = { ceiling = \"100Mbps\", host_ceiling = \"5Mbps\" }`",
    ];
    let cases: [(&str, &str, [&str; 2], [&str; 2]); 8] = [
        (
            "download = { ceiling = \"100Mbps\", pcq-rate = \"5Mbps\" }",
            "pcq-rate",
            [
                "unknown key `pcq-rate` in the agency's `download`",
                "kunci `pcq-rate` tidak dikenal di `download` milik OPD",
            ],
            [
                "MikroTik's `pcq-rate` is `host_ceiling` here, e.g. `host_ceiling = \"5Mbps\"`",
                "`pcq-rate` di MikroTik ditulis `host_ceiling` di sini, mis. `host_ceiling = \"5Mbps\"`",
            ],
        ),
        (
            "pcq-rate = \"5Mbps\"",
            "pcq-rate",
            [
                "unknown key `pcq-rate` in [[agency]]",
                "kunci `pcq-rate` tidak dikenal di [[agency]]",
            ],
            [
                "MikroTik's `pcq-rate` is `host_ceiling` here, set for one direction, inside the agency's `upload` or `download` (it holds at all times, also during a schedule), e.g. `download = { ceiling = \"100Mbps\", host_ceiling = \"5Mbps\" }`",
                "`pcq-rate` di MikroTik ditulis `host_ceiling` di sini, untuk satu arah, di dalam `upload` atau `download` milik OPD (berlaku setiap saat, juga selama jadwal), mis. `download = { ceiling = \"100Mbps\", host_ceiling = \"5Mbps\" }`",
            ],
        ),
        (
            "pcq-classifier = \"dst-address\"",
            "pcq-classifier",
            [
                "unknown key `pcq-classifier` in [[agency]]",
                "kunci `pcq-classifier` tidak dikenal di [[agency]]",
            ],
            [
                "MikroTik's `pcq-classifier` picks the address a host is known by; here a host is the destination address for download and the source address for upload, and `hosts` says how an agency's rate is shared between its hosts, e.g. `hosts = \"fair\"`",
                "`pcq-classifier` di MikroTik memilih alamat yang menandai host; di sini host adalah alamat tujuan untuk unduh dan alamat sumber untuk unggah, dan `hosts` menentukan cara kecepatan OPD dibagi di antara host-nya, mis. `hosts = \"fair\"`",
            ],
        ),
        (
            "host_ceiling = \"5Mbps\"",
            "host_ceiling",
            [
                "unknown key `host_ceiling` in [[agency]]",
                "kunci `host_ceiling` tidak dikenal di [[agency]]",
            ],
            per_direction,
        ),
        (
            "download = { ceiling = \"100Mbps\", hosts = \"fair\" }",
            "hosts",
            [
                "unknown key `hosts` in the agency's `download`",
                "kunci `hosts` tidak dikenal di `download` milik OPD",
            ],
            [
                "`hosts` is set in [site] for every agency, or in an [[agency]] for that agency, e.g. `hosts = \"fair\"`",
                "`hosts` ditulis di [site] untuk semua OPD, atau di [[agency]] untuk OPD itu, mis. `hosts = \"fair\"`",
            ],
        ),
        (
            "host_table = 65536",
            "host_table",
            [
                "unknown key `host_table` in [[agency]]",
                "kunci `host_table` tidak dikenal di [[agency]]",
            ],
            [
                "`host_table` is set once for the whole gateway, in [site], e.g. `host_table = 65536`",
                "`host_table` ditulis sekali untuk seluruh gateway, di [site], mis. `host_table = 65536`",
            ],
        ),
        (
            "host = \"fair\"",
            "host",
            [
                "unknown key `host` in [[agency]]",
                "kunci `host` tidak dikenal di [[agency]]",
            ],
            [
                "did you mean `hosts`? e.g. `hosts = \"fair\"`",
                "mungkin maksudnya `hosts`? mis. `hosts = \"fair\"`",
            ],
        ),
        (
            "download = { ceiling = \"100Mbps\", host-ceiling = \"5Mbps\" }",
            "host-ceiling",
            [
                "unknown key `host-ceiling` in the agency's `download`",
                "kunci `host-ceiling` tidak dikenal di `download` milik OPD",
            ],
            [
                "did you mean `host_ceiling`? e.g. `host_ceiling = \"5Mbps\"`",
                "mungkin maksudnya `host_ceiling`? mis. `host_ceiling = \"5Mbps\"`",
            ],
        ),
    ];
    for (line, key, message, hint) in cases {
        let body = if line.starts_with("download") {
            agency_download("a", 5, line.strip_prefix("download = ").unwrap())
        } else {
            format!("{}{line}\n", agency("a", 5))
        };
        let text = format!("{SITE}{body}");
        let d = errors(&[("p.toml", &text)]);
        assert_eq!(d.len(), 1, "{line}: {}", all(&d));
        let at = line_of(&text, line);
        let column = text.lines().nth(at - 1).unwrap().find(key).unwrap() + 1;
        assert_eq!(
            shown(&d[0]),
            [
                format!("{at}:{column}: error: {}\n  hint: {}", message[0], hint[0]),
                format!(
                    "{at}:{column}: kesalahan: {}\n  petunjuk: {}",
                    message[1], hint[1]
                ),
            ],
            "{line}"
        );
    }

    // A schedule keeps the agency's host ceiling: it cannot set one; nor can [site].
    let text = format!(
        "{SITE}{}\n[[agency.schedule]]\ndays = [\"mon-fri\"]\nhours = \"07:00-16:00\"\ndownload = {{ ceiling = \"50Mbps\", host_ceiling = \"2Mbps\" }}\n",
        agency("a", 5)
    );
    let d = errors(&[("p.toml", &text)]);
    assert_eq!(d.len(), 1, "{}", all(&d));
    assert_eq!(
        d[0].message.to_string(),
        "unknown key `host_ceiling` in the schedule's `download`"
    );
    assert_eq!(d[0].hint.as_ref().unwrap().text(Lang::En), per_direction[0]);
    assert_eq!(d[0].hint.as_ref().unwrap().text(Lang::Id), per_direction[1]);
    let text = format!("{SITE}pcq-dst-address6-mask = 64\nhost_ceiling = \"5Mbps\"\n");
    let d = errors(&[("p.toml", &text)]);
    assert_eq!(d.len(), 2, "{}", all(&d));
    assert_eq!(
        d[0].hint.as_ref().unwrap().to_string(),
        "MikroTik's `pcq-dst-address6-mask` is `host_ipv6_prefix` here, e.g. `host_ipv6_prefix = 64`"
    );
    assert_eq!(d[1].hint.as_ref().unwrap().to_string(), per_direction[0]);
}

#[test]
fn bytes_in_memory_are_read_as_load_reads_a_file() {
    let text = format!("{SITE}{}", agency("disbudpar", 10))
        .replace("Kabupaten Contoh", "Dinas Pariwisata \u{e9}");
    let mut latin1: Vec<u8> = text.chars().map(|c| c as u8).collect();
    let dir = std::env::temp_dir().join(format!("opd-bytes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("site.toml");
    std::fs::write(&file, &latin1).unwrap();
    let from_disk = load(&file).expect_err("Latin-1 is refused");
    std::fs::remove_dir_all(&dir).unwrap();
    let name = file.to_str().unwrap();
    let in_memory = from_bytes(&[(name, &latin1)]).expect_err("Latin-1 is refused");
    assert_eq!(in_memory, from_disk);
    let d = &in_memory.diagnostics[0];
    assert_eq!((d.line, d.column), (3, 26), "{d}");

    // A byte-order mark is dropped once, as from disk.
    latin1 = format!("\u{feff}{SITE}{}", agency("a", 10)).into_bytes();
    assert!(from_bytes(&[("p.toml", &latin1)]).is_ok());
}
