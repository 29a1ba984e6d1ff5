//! Validation: raw policy files into a [`Policy`], every problem reported at once.

use std::{
    ops::Range,
    path::{Path, PathBuf},
};

use toml::Spanned;

mod agency;
mod checks;
mod names;
mod site;

use agency::compile_agency;
use checks::{check_guarantees, check_unique};
pub(super) use names::edit_distance;
use site::compile_site;

use super::{
    Diagnostic, Direction, Msg, MsgId, PerDirection, Policy, PolicyError, Severity, Unclassified,
    messages::direction, rate, raw,
};

/// A policy file's name and text.
pub struct Source {
    pub path: PathBuf,
    pub text: String,
}

/// Collects findings with positions.
struct Ctx<'a> {
    sources: &'a [Source],
    diags: Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn at(&self, file: usize, span: Range<usize>) -> (usize, usize) {
        line_col(&self.sources[file].text, span.start)
    }

    /// A second place for a message about `from`: "line 12" in the same file, else
    /// "site.toml:12".
    fn place(&self, from: usize, file: usize, span: Range<usize>) -> Msg {
        let line = self.at(file, span).0;
        if from == file {
            Msg::new(MsgId::LineN).arg("line", line)
        } else {
            Msg::new(MsgId::FileLine)
                .arg("file", self.sources[file].path.display())
                .arg("line", line)
        }
    }

    fn push(
        &mut self,
        severity: Severity,
        file: usize,
        span: Range<usize>,
        message: Msg,
        hint: Option<Msg>,
    ) {
        let (line, column) = self.at(file, span);
        self.diags.push(Diagnostic {
            severity,
            file: self.sources[file].path.clone(),
            line,
            column,
            message,
            hint,
        });
    }

    fn error(&mut self, file: usize, span: Range<usize>, message: Msg, hint: Option<Msg>) {
        self.push(Severity::Error, file, span, message, hint);
    }

    fn warn(&mut self, file: usize, span: Range<usize>, message: Msg, hint: Option<Msg>) {
        self.push(Severity::Warning, file, span, message, hint);
    }

    /// A value that could not be read as a rate, share or duration: the hint writes `key`
    /// with the corrected value when it is clear, else with `example`.
    fn unit_error(
        &mut self,
        file: usize,
        span: Range<usize>,
        e: crate::units::UnitError,
        key: &str,
        example: &str,
    ) {
        let line = match &e.fix {
            Some(fix) => format!("{key} = \"{fix}\""),
            None => format!("{key} = \"{example}\""),
        };
        self.error(
            file,
            span,
            e.message,
            Some(Msg::new(MsgId::WriteLike).arg("line", line)),
        );
    }

    fn has_errors(&self) -> bool {
        self.diags.iter().any(|d| d.severity == Severity::Error)
    }
}

/// Line and column (in characters, as editors count them) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

/// Validates the files of the policy at `root` (a file or a directory).
pub fn compile(sources: Vec<Source>, root: &Path) -> Result<Policy, PolicyError> {
    let mut cx = Ctx {
        sources: &sources,
        diags: Vec::new(),
    };
    let mut parsed = Vec::new();
    let mut unreadable = false;
    for (i, src) in sources.iter().enumerate() {
        match raw::read(&src.text) {
            Ok(raw) => parsed.push((i, raw)),
            Err(problems) => {
                for p in problems {
                    let hint = match p.first_set {
                        Some(at) => Some(
                            Msg::new(MsgId::DuplicateKeyHint).with("place", cx.place(i, i, at..at)),
                        ),
                        None => p.hint,
                    };
                    cx.error(i, p.span, p.message, hint);
                }
                unreadable = true;
            }
        }
    }

    let mut site: Option<(usize, Spanned<raw::Site>)> = None;
    let mut raw_agencies: Vec<(usize, Spanned<raw::Agency>)> = Vec::new();
    for (i, file) in parsed {
        if let Some(s) = file.site {
            if let Some((first, first_site)) = &site {
                let first_place = cx.place(i, *first, first_site.span());
                cx.error(
                    i,
                    s.span(),
                    Msg::new(MsgId::SecondSite),
                    Some(Msg::new(MsgId::SecondSiteHint).with("place", first_place)),
                );
            } else {
                site = Some((i, s));
            }
        }
        raw_agencies.extend(file.agency.into_iter().map(|a| (i, a)));
    }

    let site = match site {
        // A file that did not parse may well hold the site: say nothing more about it.
        None if unreadable => None,
        // The policy as a whole lacks it: name the directory (or file), not one of its files.
        None => {
            cx.diags.push(super::whole_file(
                root,
                Msg::new(MsgId::NoSite),
                Some(Msg::new(MsgId::NoSiteHint)),
            ));
            None
        }
        Some((i, s)) => {
            let span = s.span();
            Some((
                i,
                span.clone(),
                compile_site(&mut cx, i, span, s.into_inner()),
            ))
        }
    };
    // Percentages need the capacity; without a valid site, agency values are still checked
    // against a placeholder so their own errors are reported too.
    let capacity = site.as_ref().map_or(
        PerDirection::new(u64::MAX / 4, u64::MAX / 4),
        |(_, _, s)| s.site.capacity,
    );

    let hosts = site
        .as_ref()
        .map_or(Default::default(), |(_, _, s)| s.site.hosts);

    let mut agencies = Vec::new();
    for (file, a) in &raw_agencies {
        agencies.push(compile_agency(&mut cx, *file, a, capacity, hosts));
    }
    check_unique(&mut cx, &agencies);

    let Some((site_file, site_span, mut site)) = site else {
        let mut diagnostics = cx.diags;
        diagnostics.sort_by_key(|d| {
            let file = sources.iter().position(|s| s.path == d.file);
            (file.unwrap_or(usize::MAX), d.line, d.column)
        });
        return Err(PolicyError { diagnostics });
    };
    if let Some((name, span)) = site.unclassified_name.take() {
        match agencies.iter().position(|a| a.agency.id == name) {
            Some(idx) => site.site.unclassified = Unclassified::Agency(idx),
            // The agency may be in a file that could not be read.
            None if unreadable => {}
            None => cx.error(
                site_file,
                span,
                Msg::new(MsgId::UnclassifiedNotAgency).arg("value", name),
                Some(Msg::new(MsgId::UnclassifiedHint)),
            ),
        }
    }
    if agencies.len() > gateway_common::MAX_AGENCIES as usize {
        cx.error(
            site_file,
            site_span.clone(),
            Msg::new(MsgId::TooManyAgencies)
                .arg("count", agencies.len())
                .arg("max", gateway_common::MAX_AGENCIES),
            Some(Msg::new(MsgId::TooManyAgenciesHint)),
        );
    }
    if site.capacity_ok {
        check_guarantees(&mut cx, &site, &agencies);
        for a in &agencies {
            for dir in Direction::ALL {
                let cap = site.site.capacity[dir];
                let l = a.agency.limits[dir];
                if l.ceiling > cap {
                    cx.warn(
                        a.file,
                        a.id_span.clone(),
                        Msg::new(MsgId::CeilingAboveUplink)
                            .arg("agency", &a.agency.id)
                            .with("dir", direction(dir))
                            .arg("ceiling", rate(l.ceiling))
                            .arg("capacity", rate(cap)),
                        Some(Msg::new(MsgId::CeilingAboveUplinkHint).arg("capacity", rate(cap))),
                    );
                }
            }
        }
    }

    // The report prices each agency's former package from `package_per_year`.
    if let Some(costs) = &site.site.costs
        && site.packages_priced
    {
        for a in &agencies {
            if let (Some(p), Some(span)) = (a.agency.package, &a.package_span)
                && costs.package_price(p).is_none()
            {
                cx.warn(
                    a.file,
                    span.clone(),
                    Msg::new(MsgId::NoPackagePrice).arg("rate", rate(p)),
                    Some(Msg::new(MsgId::NoPackagePriceHint).arg("rate", rate(p))),
                );
            }
        }
    }

    // In the order of the files and of their text, as an editor would go through them.
    let order = |d: &Diagnostic| {
        let file = sources.iter().position(|s| s.path == d.file);
        (file.unwrap_or(usize::MAX), d.line, d.column)
    };
    cx.diags.sort_by_key(order);
    if cx.has_errors() {
        return Err(PolicyError {
            diagnostics: cx.diags,
        });
    }
    let mut fingerprint = Fnv::new();
    for s in &sources {
        fingerprint.write(s.path.to_string_lossy().as_bytes());
        fingerprint.write(&[0]);
        fingerprint.write(s.text.as_bytes());
        fingerprint.write(&[0]);
    }
    let warnings = cx.diags;
    Ok(Policy {
        site: site.site,
        agencies: agencies.into_iter().map(|a| a.agency).collect(),
        files: sources.into_iter().map(|s| s.path).collect(),
        warnings,
        fingerprint: fingerprint.0,
    })
}

/// FNV-1a, 64 bits: a stable fingerprint with no dependency.
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= *b as u64;
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests;
