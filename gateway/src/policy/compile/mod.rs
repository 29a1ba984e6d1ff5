//! Validation: raw policy files into a [`Policy`], every problem reported at once.

use std::{ops::Range, path::PathBuf};

use toml::Spanned;

mod agency;
mod checks;
mod names;
mod site;

use agency::compile_agency;
use checks::{check_guarantees, check_unique};
use names::nearest_key_hint;
use site::compile_site;

use super::{
    Diagnostic, Direction, PerDirection, Policy, PolicyError, Severity, Unclassified, rate, raw,
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

    /// "site.toml:12", for pointing at a second place in a message.
    fn place(&self, file: usize, span: Range<usize>) -> String {
        format!(
            "{}:{}",
            self.sources[file].path.display(),
            self.at(file, span).0
        )
    }

    fn push(
        &mut self,
        severity: Severity,
        file: usize,
        span: Range<usize>,
        message: String,
        hint: Option<String>,
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

    fn error(
        &mut self,
        file: usize,
        span: Range<usize>,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        self.push(Severity::Error, file, span, message.into(), hint);
    }

    fn warn(
        &mut self,
        file: usize,
        span: Range<usize>,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        self.push(Severity::Warning, file, span, message.into(), hint);
    }

    fn has_errors(&self) -> bool {
        self.diags.iter().any(|d| d.severity == Severity::Error)
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
    (line, column)
}

pub fn compile(sources: Vec<Source>) -> Result<Policy, PolicyError> {
    let mut cx = Ctx {
        sources: &sources,
        diags: Vec::new(),
    };
    let mut parsed = Vec::new();
    let mut unreadable = false;
    for (i, src) in sources.iter().enumerate() {
        match toml::from_str::<raw::File>(&src.text) {
            Ok(raw) => parsed.push((i, raw)),
            Err(e) => {
                let message = e.message().trim().to_string();
                let hint = nearest_key_hint(&message);
                cx.error(i, e.span().unwrap_or(0..0), message, hint);
                unreadable = true;
            }
        }
    }

    let mut site: Option<(usize, Spanned<raw::Site>)> = None;
    let mut raw_agencies: Vec<(usize, Spanned<raw::Agency>)> = Vec::new();
    for (i, file) in parsed {
        if let Some(s) = file.site {
            if let Some((first, first_site)) = &site {
                let first_place = cx.place(*first, first_site.span());
                cx.error(
                    i,
                    s.span(),
                    "a second [site] table",
                    Some(format!(
                        "the site is already defined at {first_place}; a policy has one [site]"
                    )),
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
        None => {
            let file = sources
                .first()
                .map_or_else(PathBuf::new, |s| s.path.clone());
            cx.diags.push(super::whole_file(
                &file,
                "the policy has no [site] table".into(),
                Some(
                    "add [site] with `lan`, `wan` (the gateway's two ports) and `capacity`".into(),
                ),
            ));
            None
        }
        Some((i, s)) => Some((i, s.span(), compile_site(&mut cx, i, s.into_inner()))),
    };
    // Percentages need the capacity; without a valid site, agency values are still checked
    // against a placeholder so their own errors are reported too.
    let capacity = site.as_ref().map_or(
        PerDirection::new(u64::MAX / 4, u64::MAX / 4),
        |(_, _, s)| s.site.capacity,
    );

    let mut agencies = Vec::new();
    for (file, a) in &raw_agencies {
        agencies.push(compile_agency(&mut cx, *file, a, capacity));
    }
    check_unique(&mut cx, &agencies);

    let Some((site_file, site_span, mut site)) = site else {
        return Err(PolicyError {
            diagnostics: cx.diags,
        });
    };
    if let Some((name, span)) = site.unclassified_name.take() {
        match agencies.iter().position(|a| a.agency.id == name) {
            Some(idx) => site.site.unclassified = Unclassified::Agency(idx),
            None => cx.error(
                site_file,
                span,
                format!("`unclassified` names \"{name}\", which is not an agency"),
                Some("write \"pass\", \"drop\" or the id of an agency of this policy".into()),
            ),
        }
    }
    if agencies.len() > gateway_common::MAX_AGENCIES as usize {
        cx.error(
            site_file,
            site_span.clone(),
            format!(
                "{} agencies; the data plane holds at most {}",
                agencies.len(),
                gateway_common::MAX_AGENCIES
            ),
            None,
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
                        format!(
                            "agency \"{}\" has a {} ceiling of {}, above the uplink's {}: it can never be reached",
                            a.agency.id,
                            dir.as_str(),
                            rate(l.ceiling),
                            rate(cap)
                        ),
                        None,
                    );
                }
            }
        }
    }

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
