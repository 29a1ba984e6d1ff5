//! The TOML parser's own errors, in the admin's words: the one place where its messages are
//! read (toml 0.9 words them, with toml_parser 1.1 and toml_datetime 0.7).
//!
//! Each mistake an admin may make is named in both languages with a correct line to write:
//! the admin's own line mended where the mend is mechanical (and only if the mended line
//! parses), else the example of the key written, else a general one. A parser text not named
//! here still gets a sentence in the admin's language, the parser's English quoted after it.

use std::{collections::BTreeSet, ops::Range};

use toml::de::{DeTable, DeValue};

use super::{
    messages::{Msg, MsgId},
    raw::{self, Key, Problem},
};

/// The problems of a text the parser refused, in the order of the text: the first mistake on
/// each line (what recovery finds after it on that line is a guess of the parser's), and
/// every key set twice.
pub fn problems(errors: &[toml::de::Error], doc: &DeTable, text: &str) -> Vec<Problem> {
    let mut errors: Vec<&toml::de::Error> = errors.iter().collect();
    errors.sort_by_key(|e| e.span().map_or(0, |s| s.start));
    let line = |at: usize| text.get(..at).unwrap_or(text).matches('\n').count();
    let mut problems: Vec<Problem> = Vec::new();
    let mut lines_named = BTreeSet::new();
    for e in errors {
        let p = problem(e, doc, text);
        let l = line(p.span.start);
        let repeated = if p.message.id() == MsgId::DuplicateKey {
            problems
                .iter()
                .any(|q| q.message == p.message && line(q.span.start) == l)
        } else {
            !lines_named.insert(l)
        };
        if !repeated {
            problems.push(p);
        }
    }
    problems
}

fn problem(e: &toml::de::Error, doc: &DeTable, text: &str) -> Problem {
    let span = e.span().unwrap_or(0..0);
    let detail = e.message().trim();
    let (what, expected) = detail.split_once(", expected ").unwrap_or((detail, ""));
    // The key the parser points at, for a key set twice or a dotted key it cannot add.
    let key = text
        .get(span.clone())
        .unwrap_or("")
        .trim_matches(['"', '\''])
        .to_string();
    if what == "duplicate key" {
        let first_set = first_key_before(doc, &key, span.start);
        return Problem {
            span,
            message: Msg::new(MsgId::DuplicateKey).arg("key", key),
            hint: first_set
                .is_none()
                .then(|| Msg::new(MsgId::DuplicateKeyNoPlaceHint)),
            first_set,
        };
    }
    let m = Mistake::new(text, &span, detail, expected);
    let mut first_set = None;
    let (message, hint) = match what {
        _ if what.contains("recursion") => {
            (Msg::new(MsgId::TooDeep), Some(Msg::new(MsgId::TooDeepHint)))
        }
        "string values must be quoted" => m.unquoted(m.at..m.at + m.len),
        "missing escaped value" | "too few unicode value digits" => m.escape(),
        "invalid value" if expected.contains("unicode") => m.escape(),
        "invalid multi-line basic string" if expected == "newline" => m.escape(),
        "invalid basic string" | "invalid multi-line basic string"
            if expected.contains("characters") =>
        {
            m.control()
        }
        "invalid literal string" | "invalid multi-line literal string"
            if expected.contains("characters") =>
        {
            m.control()
        }
        "invalid comment character" => m.control(),
        "invalid basic string" | "invalid multi-line basic string" => m.unclosed('"'),
        "invalid literal string" | "invalid multi-line literal string" => m.unclosed('\''),
        "missing opening quote" => m.unopened(),
        "carriage return must be followed by newline" => (
            Msg::new(MsgId::SyntaxLoneCr),
            Some(Msg::new(MsgId::SyntaxLoneCrHint)),
        ),
        _ if what.starts_with("cannot extend value of type ") => {
            if what.contains("inline table") {
                m.dotted_table(&key)
            } else {
                first_set = first_key_before(doc, &key, span.start);
                (
                    Msg::new(MsgId::SyntaxDottedValue)
                        .arg("key", &key)
                        .arg("dotted", m.dotted_key()),
                    first_set
                        .is_none()
                        .then(|| Msg::new(MsgId::DuplicateKeyNoPlaceHint)),
                )
            }
        }
        "invalid date" | "invalid time" | "invalid date-time" | "invalid datetime"
        | "invalid offset" => m.datetime(),
        "unexpected leading zero"
        | "redundant numeric sign"
        | "integers with a radix cannot be signed"
        | "radix must be lowercase"
        | "redundant integer number prefix"
        | "unexpected sign"
        | "`_` may only go between digits"
        | "invalid mantissa"
        | "invalid fraction"
        | "invalid exponent"
        | "invalid float"
        | "invalid integer number"
        | "invalid hexadecimal number"
        | "invalid octal number"
        | "invalid binary number"
        | "invalid boolean"
        | "invalid string" => m.scalar(what),
        "unquoted keys cannot be empty" => m.empty_key(),
        "invalid unquoted key" => m.key_chars(),
        "key with no value"
        | "missing value for key"
        | "missing assignment between key-value pairs" => m.no_value(),
        "missing value" => m.unquoted(m.at..m.at),
        "extra `=`" | "extra assignment between key-value pairs" => m.extra_equals(),
        "extra comma in array" | "extra comma in inline table" => m.extra_comma(),
        "unexpected `=` in array" => (Msg::new(MsgId::SyntaxListEquals), Some(m.list_example())),
        "missing comma between array elements" => m.missing_comma(MsgId::SyntaxList),
        "unclosed array" => m.unclosed_bracket(MsgId::SyntaxList, "]"),
        "missing array opening" => (Msg::new(MsgId::SyntaxList), Some(m.list_example())),
        "missing comma between key-value pairs" => m.missing_comma(MsgId::SyntaxInlineTable),
        "unclosed inline table" => m.unclosed_bracket(MsgId::SyntaxInlineTable, "}"),
        "missing inline table opening"
        | "missing key for inline table element"
        | "invalid inline table element" => {
            (Msg::new(MsgId::SyntaxInlineTable), Some(m.table_example()))
        }
        "unclosed table" | "unclosed array table" => m.unclosed_header(),
        "invalid table" => (
            Msg::new(MsgId::SyntaxHeader),
            Some(Msg::new(MsgId::SyntaxHeaderHint)),
        ),
        "missing table open" => m.unopened_header(),
        "unexpected key or value" | "unexpected content" => m.trailing(),
        "invalid key-value pair" => (
            Msg::new(MsgId::SyntaxLineStart).arg("char", m.char_at().unwrap_or(' ')),
            Some(Msg::new(MsgId::SyntaxHint)),
        ),
        _ => m.unknown(),
    };
    Problem {
        span,
        message,
        hint,
        first_set,
    }
}

/// What the parser refused, on its line.
struct Mistake<'a> {
    line: &'a str,
    /// The table the line is in, by its header (`agency.schedule`); "" before any.
    table: &'a str,
    /// The mistake's offset in the line, and its length.
    at: usize,
    len: usize,
    toks: Vec<Tok>,
    detail: &'a str,
    expected: &'a str,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// Text in double quotes, or in single quotes; `closed` says whether its quote ends it.
    Basic,
    Literal,
    /// A bare run: a key, a number, a word without quotes (dots and colons included).
    Word,
    /// One of `[ ] { } = ,`.
    Punct,
    Space,
    Comment,
}

#[derive(Clone, Debug)]
struct Tok {
    kind: Kind,
    at: Range<usize>,
    closed: bool,
}

/// The key whose value holds an offset, and what encloses the offset.
struct Scope {
    /// The key as written (dotted or not), and its value's start in the line.
    key: Option<(String, usize)>,
    /// `[` in a list, `{` in an inline table, 0 at the top.
    open: u8,
}

type Explained = (Msg, Option<Msg>);

impl<'a> Mistake<'a> {
    fn new(text: &'a str, span: &Range<usize>, detail: &'a str, expected: &'a str) -> Self {
        let mut offset = span.start.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
        let line = &text[start..end];
        let at = offset - start;
        let len = span.end.clamp(offset, end) - offset;
        let table = text[..start]
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| l.starts_with('['))
            .map_or("", |h| {
                let h = h.split('#').next().unwrap_or("");
                h.trim_matches(|c: char| c == '[' || c == ']' || c.is_whitespace())
            });
        Mistake {
            line,
            table,
            at,
            len,
            toks: lex(line),
            detail,
            expected,
        }
    }

    // Reading the line.

    fn char_at(&self) -> Option<char> {
        self.line[self.at..].chars().find(|c| !c.is_whitespace())
    }

    /// Where the line's code ends: before its comment and the spaces before that.
    fn code_end(&self) -> usize {
        let end = self
            .toks
            .iter()
            .find(|t| t.kind == Kind::Comment)
            .map_or(self.line.len(), |t| t.at.start);
        self.line[..end].trim_end().len()
    }

    fn is_header(&self) -> bool {
        self.line.trim_start().starts_with('[')
    }

    fn scope(&self, at: usize) -> Scope {
        let mut stack: Vec<(u8, Option<(String, usize)>)> = vec![(0, None)];
        let mut prev: Option<&Tok> = None;
        for t in self.toks.iter().take_while(|t| t.at.start < at) {
            if t.kind == Kind::Punct {
                match self.line.as_bytes()[t.at.start] {
                    b'=' => {
                        let key = prev.and_then(|p| self.key_text(p));
                        if let Some(top) = stack.last_mut() {
                            top.1 = key.map(|k| (k, t.at.end));
                        }
                    }
                    c @ (b'[' | b'{') => stack.push((c, None)),
                    b']' | b'}' if stack.len() > 1 => {
                        stack.pop();
                    }
                    _ => {}
                }
            }
            if t.kind != Kind::Space {
                prev = Some(t);
            }
        }
        Scope {
            key: stack.iter().rev().find_map(|(_, k)| k.clone()),
            open: stack.last().map_or(0, |s| s.0),
        }
    }

    /// A key as written before `=`, if it is one TOML reads without quotes.
    fn key_text(&self, t: &Tok) -> Option<String> {
        let s = &self.line[t.at.clone()];
        let bare = |s: &str| {
            !s.is_empty()
                && s.split('.').all(|part| {
                    !part.is_empty()
                        && part
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                })
        };
        match t.kind {
            Kind::Word if bare(s) => Some(s.to_string()),
            Kind::Basic | Kind::Literal if t.closed && s.len() >= 2 => {
                let inner = &s[1..s.len() - 1];
                bare(inner).then(|| inner.to_string())
            }
            _ => None,
        }
    }

    /// The key written for the value at `at` (its last part when dotted).
    fn key_name(&self, at: usize) -> Option<String> {
        let (key, _) = self.scope(at).key?;
        key.rsplit('.').next().map(str::to_string)
    }

    /// The value written after the key's `=`, up to the comment.
    fn value_text(&self, at: usize) -> &'a str {
        match self.scope(at).key {
            Some((_, from)) if from <= self.code_end() => self.line[from..self.code_end()].trim(),
            _ => "",
        }
    }

    /// The dotted key the mistake is in, as written.
    fn dotted_key(&self) -> String {
        let Some(i) = self.toks.iter().position(|t| t.at.contains(&self.at)) else {
            return self.line[self.at..self.at + self.len].to_string();
        };
        let joined = |t: &Tok| matches!(t.kind, Kind::Word | Kind::Basic | Kind::Literal);
        let mut first = i;
        while first > 0 && joined(&self.toks[first - 1]) {
            first -= 1;
        }
        let mut last = i;
        while last + 1 < self.toks.len() && joined(&self.toks[last + 1]) {
            last += 1;
        }
        self.line[self.toks[first].at.start..self.toks[last].at.end].to_string()
    }

    // Mending it: a candidate is kept only if it parses.

    /// The line with `range` replaced, without its comment, if that parses.
    fn mend(&self, range: Range<usize>, with: &str) -> Option<String> {
        let end = self.code_end().max(range.end);
        let line = format!(
            "{}{with}{}",
            &self.line[..range.start],
            &self.line[range.end..end]
        );
        parses(line.trim())
    }

    /// `key = value` for the key written at `at`, if that parses.
    fn pair(&self, at: usize, value: &str) -> Option<String> {
        let (key, _) = self.scope(at).key?;
        parses(&format!("{key} = {value}"))
    }

    /// The example of the key written at `at`, of the shape written.
    fn example_at(&self, at: usize) -> Option<&'static str> {
        example(self.table, &self.key_name(at)?, self.value_text(at))
    }

    fn list_example(&self) -> Msg {
        let key = self.key_name(self.at);
        match key.as_deref().and_then(|k| example(self.table, k, "[")) {
            Some(line) if value_of(line).starts_with('[') => write_like(line),
            _ => Msg::new(MsgId::SyntaxListHint),
        }
    }

    fn table_example(&self) -> Msg {
        let key = self.key_name(self.at);
        match key.as_deref().and_then(|k| example(self.table, k, "{")) {
            Some(line) if value_of(line).starts_with('{') => write_like(line),
            _ => Msg::new(MsgId::SyntaxInlineTableHint),
        }
    }

    /// The general explanation for the place the mistake is in.
    fn in_place(&self) -> Explained {
        match self.scope(self.at).open {
            b'[' if !self.is_header() => (Msg::new(MsgId::SyntaxList), Some(self.list_example())),
            b'{' => (
                Msg::new(MsgId::SyntaxInlineTable),
                Some(self.table_example()),
            ),
            _ => self.unknown(),
        }
    }

    /// Not named: a sentence in the admin's language, the parser's words quoted.
    fn unknown(&self) -> Explained {
        (
            Msg::new(MsgId::Syntax).arg("detail", self.detail),
            Some(Msg::new(MsgId::SyntaxHint)),
        )
    }

    // The mistakes.

    /// A value without quotes (`range`, in the line): text, several values, or none.
    fn unquoted(&self, range: Range<usize>) -> Explained {
        let value = self.line[range.clone()].trim();
        let scope = self.scope(range.start);
        let known = self.key_name(range.start);
        let example = known.as_deref().and_then(|k| example(self.table, k, value));
        if value.is_empty() {
            return (
                Msg::new(MsgId::SyntaxMissingValue),
                Some(example.map_or(Msg::new(MsgId::SyntaxHint), write_like)),
            );
        }
        if let Some(comment) = self.comment_marker() {
            return comment;
        }
        let words: Vec<&str> = value.split_whitespace().collect();
        let after = self.line[range.end..self.code_end().max(range.end)].trim_start();
        if scope.open == b'{' && words.len() >= 2 && after.starts_with('=') {
            // `{ a = 1 b = 2 }`: the last word is the next key, a comma is missing before it.
            let (next, these) = words.split_last().unwrap_or((&"", &[]));
            let mended = self.mend(range.clone(), &format!("{}, {next}", these.join(" ")));
            return (
                Msg::new(MsgId::SyntaxInlineTable),
                Some(mended.map_or_else(|| self.table_example(), write_like)),
            );
        }
        if words.len() >= 2 && words.iter().all(|w| is_number(w) || is_bool(w)) {
            let items = words.join(", ");
            if scope.open == b'[' {
                let hint = self.mend(range, &items).map(write_like);
                return (
                    Msg::new(MsgId::SyntaxList),
                    Some(hint.unwrap_or_else(|| self.list_example())),
                );
            }
            let list = format!("[{items}]");
            let hint = match known.as_deref() {
                Some(k) if !wants_list(self.table, k) => example.map(write_like),
                _ => self
                    .mend(range.clone(), &list)
                    .or_else(|| self.pair(range.start, &list))
                    .map(write_like),
            };
            return (
                Msg::new(MsgId::SyntaxSeveralValues),
                Some(hint.unwrap_or_else(|| self.list_example())),
            );
        }
        let curly = value.contains(['“', '”', '‘', '’']);
        let text = if curly {
            value.trim_matches(['“', '”', '‘', '’'])
        } else {
            value
        };
        let message = Msg::new(if curly {
            MsgId::SyntaxCurlyQuote
        } else {
            MsgId::SyntaxUnquoted
        });
        let hint = match known.as_deref() {
            // A key that takes no text: its example, not the word in quotes.
            Some(k) if !wants_text(self.table, k, scope.open == b'[') => example.map(write_like),
            _ => quote(text).and_then(|q| {
                let alone = if scope.open == b'[' {
                    format!("[{q}]")
                } else {
                    q.clone()
                };
                self.mend(range.clone(), &q)
                    .or_else(|| self.pair(range.start, &alone))
                    .map(write_like)
            }),
        };
        (
            message,
            Some(hint.unwrap_or_else(|| Msg::new(MsgId::SyntaxHint))),
        )
    }

    /// `//` or `;` used for a comment.
    fn comment_marker(&self) -> Option<Explained> {
        let code = &self.line[..self.code_end()];
        let at = [" //", " ;", "\t//", "\t;"]
            .iter()
            .filter_map(|m| code.find(m).map(|i| i + 1))
            .filter(|&i| {
                // Not inside a string.
                self.toks
                    .iter()
                    .any(|t| t.at.contains(&i) && matches!(t.kind, Kind::Word | Kind::Punct))
            })
            .min()?;
        let marker = if code[at..].starts_with("//") { 2 } else { 1 };
        let mended = parses(&format!(
            "{}  # {}",
            code[..at].trim_end(),
            code[at + marker..].trim()
        ));
        Some((
            Msg::new(MsgId::SyntaxComment),
            Some(mended.map_or(Msg::new(MsgId::SyntaxTrailingHint), write_like)),
        ))
    }

    /// A backslash in double quotes that starts no escape (a Windows path, a pattern).
    fn escape(&self) -> Explained {
        let from = self.line[..self.at].rfind('\\').unwrap_or(self.at);
        let mut to = self.at;
        if let Some(c) = self.line[self.at..].chars().next()
            && c.is_alphanumeric()
            && from < self.at
        {
            to += c.len_utf8();
        }
        let escape = if from < self.at {
            &self.line[from..to]
        } else {
            "\\"
        };
        let message = Msg::new(MsgId::SyntaxEscape).arg("escape", escape);
        let hint = self
            .toks
            .iter()
            .find(|t| t.kind == Kind::Basic && t.closed && t.at.contains(&self.at))
            .and_then(|t| {
                let s = &self.line[t.at.clone()];
                let d = if s.starts_with("\"\"\"") { 3 } else { 1 };
                let inner = s.get(d..s.len().checked_sub(d)?)?;
                let single = format!("{0}{inner}{0}", "'".repeat(d));
                let double = format!("{0}{1}{0}", &s[..d], double_lone_backslashes(inner));
                let mended = |v: &str| {
                    self.mend(t.at.clone(), v)
                        .or_else(|| self.pair(t.at.start, v))
                };
                if inner.contains('\'') {
                    mended(&double).map(|l| Msg::new(MsgId::SyntaxEscapeDoubleHint).arg("line", l))
                } else {
                    mended(&single).map(|l| Msg::new(MsgId::SyntaxEscapeHint).arg("line", l))
                }
            });
        (
            message,
            Some(hint.unwrap_or_else(|| {
                Msg::new(MsgId::SyntaxEscapeHint).arg("line", "name = 'Bidang TI\\Jaringan'")
            })),
        )
    }

    /// A control character in text or a comment.
    fn control(&self) -> Explained {
        let Some(c) = self.line[self.at..]
            .chars()
            .chain(self.line.chars())
            .find(|&c| c.is_control() && c != '\t')
        else {
            return self.unknown();
        };
        let cleaned: String = self
            .line
            .chars()
            .filter(|&c| !c.is_control() || c == '\t')
            .collect();
        let mended = parses(cleaned.trim());
        (
            Msg::new(MsgId::SyntaxControl).arg("code", format!("U+{:04X}", c as u32)),
            Some(mended.map_or(Msg::new(MsgId::SyntaxHint), |l| {
                Msg::new(MsgId::SyntaxControlHint).arg("line", l)
            })),
        )
    }

    /// Text whose closing quote is missing.
    fn unclosed(&self, quote: char) -> Explained {
        let kind = if quote == '"' {
            Kind::Basic
        } else {
            Kind::Literal
        };
        let message = Msg::new(if quote == '"' {
            MsgId::SyntaxQuote
        } else {
            MsgId::SyntaxSingleQuote
        });
        let Some(t) = self
            .toks
            .iter()
            .find(|t| t.kind == kind && !t.closed && t.at.start <= self.at)
        else {
            // `{ a = 1, b }` is reported as an open quote; a text left open lines before is
            // found at the end of the file.
            return match self.scope(self.at).open {
                0 => (message, Some(Msg::new(MsgId::SyntaxHint))),
                _ => self.in_place(),
            };
        };
        let s = &self.line[t.at.clone()];
        let delim = if s.starts_with(&quote.to_string().repeat(3)) {
            3
        } else {
            1
        };
        // What follows ` #` is most likely a comment after the text.
        let inner = s[delim..].split(" #").next().unwrap_or("").trim_end();
        // Closed in double quotes where nothing needs single ones.
        let closed = if quote == '\'' && !inner.contains(['"', '\\']) {
            format!("\"{inner}\"")
        } else {
            format!("{}{inner}{}", &s[..delim], &s[..delim])
        };
        let hint = self
            .mend(t.at.clone(), &closed)
            .or_else(|| self.pair(t.at.start, &closed))
            .map(write_like);
        (
            message,
            Some(hint.unwrap_or_else(|| Msg::new(MsgId::SyntaxHint))),
        )
    }

    /// Text whose opening quote is missing: `name = Dinas"`.
    fn unopened(&self) -> Explained {
        let quote = if self.expected.contains('\'') {
            '\''
        } else {
            '"'
        };
        let message = Msg::new(if quote == '"' {
            MsgId::SyntaxQuote
        } else {
            MsgId::SyntaxSingleQuote
        });
        let hint = self
            .mend(self.at..self.at, &quote.to_string())
            .map(write_like);
        (
            message,
            Some(hint.unwrap_or_else(|| Msg::new(MsgId::SyntaxHint))),
        )
    }

    /// `capacity.upload = …` after `capacity = { … }`.
    fn dotted_table(&self, key: &str) -> Explained {
        let dotted = self.dotted_key();
        let message = Msg::new(MsgId::SyntaxDottedTable)
            .arg("key", key)
            .arg("dotted", &dotted);
        let line = example(self.table, key, "{")
            .filter(|l| value_of(l).starts_with('{'))
            .map(str::to_string)
            .or_else(|| {
                // Unknown key: the dotted line as a table of its own.
                let rest = dotted.strip_prefix(key)?.strip_prefix('.')?;
                parses(&format!(
                    "{key} = {{ {rest} = {} }}",
                    self.value_text(self.at)
                ))
            });
        let hint = line.map_or(Msg::new(MsgId::SyntaxHint), |l| {
            Msg::new(MsgId::SyntaxDottedTableHint)
                .arg("key", key)
                .arg("line", l)
        });
        (message, Some(hint))
    }

    /// A date or time TOML could not read: a range it is out of, or text without quotes.
    fn datetime(&self) -> Explained {
        let reason = match self.expected {
            "hour between 00 and 23" | "hours between 00 and 23" => Msg::new(MsgId::DateHour),
            "minute between 00 and 59" | "minutes between 00 and 59" => Msg::new(MsgId::DateMinute),
            "second between 00 and 60" => Msg::new(MsgId::DateSecond),
            "month between 01 and 12" => Msg::new(MsgId::DateMonth),
            e if e.starts_with("day between 01 and ") => {
                Msg::new(MsgId::DateDay).arg("max", &e["day between 01 and ".len()..])
            }
            e if e.starts_with("a two-digit") || e.starts_with("a four-digit") => {
                Msg::new(MsgId::DateDigits)
            }
            // Not a date at all (`07:00-16:00`, `110-120`): a word without quotes.
            _ => return self.scalar(""),
        };
        let range = self.value_range();
        let value = self.line[range.clone()].trim();
        let known = self.key_name(self.at);
        // No key takes a date: each takes text, a number or a table.
        let hint = match known.as_deref().and_then(|k| example(self.table, k, "")) {
            Some(line) => Some(line.to_string()),
            None => quote(value).and_then(|q| {
                self.mend(range.clone(), &q)
                    .or_else(|| self.pair(self.at, &q))
            }),
        };
        (
            Msg::new(MsgId::SyntaxDateTime)
                .arg("value", value)
                .with("reason", reason),
            Some(hint.map_or(Msg::new(MsgId::SyntaxHint), |l| {
                Msg::new(MsgId::SyntaxDateTimeHint).arg("line", l)
            })),
        )
    }

    /// The whole value the parser pointed into: the span when it covers it, else the word
    /// (or date with its time) around the offset.
    fn value_range(&self) -> Range<usize> {
        let word = self
            .toks
            .iter()
            .find(|t| t.kind == Kind::Word && (t.at.contains(&self.at) || t.at.end == self.at));
        match word {
            Some(t) if t.at.end >= self.at + self.len => t.at.clone(),
            _ => self.at..self.at + self.len,
        }
    }

    /// A number TOML could not read, or a word it took for one (`1.5Gbps`, `fair`).
    fn scalar(&self, what: &str) -> Explained {
        let range = self.value_range();
        let value = &self.line[range.clone()];
        if !is_number(value) {
            return self.unquoted(range);
        }
        let reason = match what {
            "unexpected leading zero" => Some(MsgId::NumberLeadingZero),
            "`_` may only go between digits" => Some(MsgId::NumberUnderscore),
            "invalid mantissa" | "invalid fraction" => Some(MsgId::NumberPoint),
            _ => None,
        };
        let message = match reason {
            Some(r) => Msg::new(MsgId::SyntaxNumber)
                .arg("value", value)
                .with("reason", Msg::new(r)),
            None => Msg::new(MsgId::SyntaxNumberPlain).arg("value", value),
        };
        // Every number of the line as TOML writes it (`vlans = [010, 020]`).
        let mut mended = String::new();
        for t in self.toks.iter().take_while(|t| t.kind != Kind::Comment) {
            let s = &self.line[t.at.clone()];
            match t.kind {
                Kind::Word if is_number(s) && parses(&format!("x = {s}")).is_none() => {
                    mended.push_str(&plain_number(s).unwrap_or_else(|| s.to_string()))
                }
                _ => mended.push_str(s),
            }
        }
        let hint = parses(&mended).or_else(|| self.example_at(self.at).map(str::to_string));
        (
            message,
            Some(hint.map_or(Msg::new(MsgId::SyntaxHint), write_like)),
        )
    }

    /// `= "x"`, `name. = "x"`, `[]`: a key or a table's name left out.
    fn empty_key(&self) -> Explained {
        if self.is_header() {
            return (
                Msg::new(MsgId::SyntaxHeaderName),
                Some(Msg::new(MsgId::SyntaxHeaderHint)),
            );
        }
        // `name. = "x"`, `.name`: the empty part of a dotted key dropped.
        let mended = self
            .toks
            .iter()
            .rfind(|t| t.kind == Kind::Word && t.at.start <= self.at)
            .filter(|t| self.line[t.at.clone()].contains('.'))
            .and_then(|t| {
                let parts: Vec<&str> = self.line[t.at.clone()]
                    .split('.')
                    .filter(|p| !p.is_empty())
                    .collect();
                if parts.is_empty() {
                    None
                } else {
                    self.mend(t.at.clone(), &parts.join("."))
                }
            });
        let hint = match mended {
            Some(l) => write_like(l),
            None if self.scope(self.at).open == b'{' => self.table_example(),
            None => Msg::new(MsgId::SyntaxHint),
        };
        (Msg::new(MsgId::SyntaxEmptyKey), Some(hint))
    }

    /// A character no key without quotes may have.
    fn key_chars(&self) -> Explained {
        let chars = &self.line[self.at..self.at + self.len];
        if chars.contains(':') {
            return self.colon();
        }
        (
            Msg::new(MsgId::SyntaxKeyChars).arg("chars", chars),
            Some(Msg::new(MsgId::SyntaxHint)),
        )
    }

    /// `name: "x"`, as YAML and MikroTik's export write it.
    fn colon(&self) -> Explained {
        let code = &self.line[..self.code_end()];
        let mended = code.find(':').and_then(|i| {
            let value = code[i + 1..].trim_start();
            let value = value.strip_prefix('=').unwrap_or(value).trim_start();
            parses(&format!("{} = {value}", code[..i].trim()))
        });
        (
            Msg::new(MsgId::SyntaxColon),
            Some(mended.map_or(Msg::new(MsgId::SyntaxHint), write_like)),
        )
    }

    /// A key without `=`: a colon for it, a space in the key, a header without `[`.
    fn no_value(&self) -> Explained {
        if let Some(t) = self
            .toks
            .iter()
            .find(|t| matches!(t.kind, Kind::Basic | Kind::Literal) && !t.closed)
        {
            // `"name = …`: the key's quote left open.
            return self.unclosed(if t.kind == Kind::Basic { '"' } else { '\'' });
        }
        let code = &self.line[..self.code_end()];
        let before = code.get(..self.at).unwrap_or(code);
        if self.char_at() == Some(':') || before.trim_end().ends_with(':') {
            return self.colon();
        }
        let scope = self.scope(self.at);
        let eq = self
            .toks
            .iter()
            .find(|t| t.kind == Kind::Punct && &self.line[t.at.clone()] == "=");
        let top = scope.open == 0 && scope.key.is_none() && !self.is_header();
        if let Some(eq) = eq.filter(|eq| eq.at.start >= self.at && top) {
            let key = code[..eq.at.start].trim();
            let joined: Vec<&str> = key.split_whitespace().collect();
            let mended = parses(&format!(
                "{} = {}",
                joined.join("_"),
                code[eq.at.end..].trim()
            ));
            return (
                Msg::new(MsgId::SyntaxKeySpace),
                Some(mended.map_or(Msg::new(MsgId::SyntaxHint), write_like)),
            );
        }
        if eq.is_none() && code.ends_with(']') && !self.is_header() {
            return self.unopened_header();
        }
        // `lan "eth1"`, `{ upload "1Gbps" }`: `=` put in.
        let first_word = self
            .toks
            .iter()
            .find(|t| t.kind != Kind::Space)
            .filter(|t| t.kind == Kind::Word)
            .map(|t| &self.line[t.at.clone()]);
        let hint = self
            .mend(self.at..self.at, "= ")
            .or_else(|| self.example_at(self.at).map(str::to_string))
            .or_else(|| {
                first_word
                    .and_then(|k| example(self.table, k, ""))
                    .map(str::to_string)
            });
        (
            Msg::new(MsgId::SyntaxNoValue),
            Some(hint.map_or(Msg::new(MsgId::SyntaxHint), write_like)),
        )
    }

    fn extra_equals(&self) -> Explained {
        let mended = self.mend_without('=');
        (
            Msg::new(MsgId::SyntaxExtraEquals),
            Some(mended.map_or(Msg::new(MsgId::SyntaxHint), write_like)),
        )
    }

    fn extra_comma(&self) -> Explained {
        let mended = self.mend_without(',');
        let hint = match mended {
            Some(l) => write_like(l),
            None if self.scope(self.at).open == b'{' => self.table_example(),
            None => self.list_example(),
        };
        (Msg::new(MsgId::SyntaxExtraComma), Some(hint))
    }

    /// The line without the `=` or `,` the parser found one too many.
    fn mend_without(&self, c: char) -> Option<String> {
        if !self.line[self.at..].starts_with(c) {
            return None;
        }
        let before = self.line[..self.at].trim_end();
        let after = self.line[self.at + 1..self.code_end().max(self.at + 1)].trim_start();
        let gap = if before.ends_with('[') { "" } else { " " };
        parses(&format!("{before}{gap}{after}"))
    }

    fn missing_comma(&self, id: MsgId) -> Explained {
        let before = self.line[..self.at].trim_end();
        let after = &self.line[self.at..self.code_end().max(self.at)];
        let mended = parses(&format!("{}, {}", before.trim(), after.trim()));
        let hint = match mended {
            Some(l) => write_like(l),
            None if id == MsgId::SyntaxList => self.list_example(),
            None => self.table_example(),
        };
        (Msg::new(id), Some(hint))
    }

    fn unclosed_bracket(&self, id: MsgId, close: &str) -> Explained {
        let end = self.code_end();
        let close = if close == "}" { " }" } else { close };
        let mended = self
            .mend(end..end, close)
            .filter(|l| !l.ends_with("[]") && !l.ends_with("{ }"));
        let hint = match mended {
            Some(l) => write_like(l),
            None if id == MsgId::SyntaxList => self.list_example(),
            None => self.table_example(),
        };
        (Msg::new(id), Some(hint))
    }

    fn unclosed_header(&self) -> Explained {
        let close = if self.expected.contains("]]") {
            "]]"
        } else {
            "]"
        };
        let end = self.code_end();
        let hint = self
            .mend(end..end, close)
            .map_or(Msg::new(MsgId::SyntaxHeaderHint), write_like);
        (Msg::new(MsgId::SyntaxHeader), Some(hint))
    }

    /// `]`, `agency]]`: a header without its `[`.
    fn unopened_header(&self) -> Explained {
        let code = self.line[..self.code_end()].trim();
        let open = if code.ends_with("]]") { "[[" } else { "[" };
        let hint =
            parses(&format!("{open}{code}")).map_or(Msg::new(MsgId::SyntaxHeaderHint), write_like);
        (Msg::new(MsgId::SyntaxHeaderOpen), Some(hint))
    }

    /// Something after the value (or the header): another value, a quote inside the text,
    /// a comment without `#`.
    fn trailing(&self) -> Explained {
        if let Some(comment) = self.comment_marker() {
            return comment;
        }
        let scope = self.scope(self.at);
        if self.is_header() && scope.key.is_none() {
            return (
                Msg::new(MsgId::SyntaxAfterHeader),
                Some(Msg::new(MsgId::SyntaxHeaderHint)),
            );
        }
        let end = self.code_end();
        let Some((_, from)) = scope.key.filter(|(_, from)| *from <= end) else {
            return self.generic_trailing();
        };
        let from = end - self.line[from..end].trim_start().len();
        let range = from..end;
        let value = &self.line[range.clone()];
        let words: Vec<&str> = value
            .split([',', ' ', '\t'])
            .filter(|w| !w.is_empty())
            .collect();
        let known = self.key_name(self.at);
        if let Some(number) = without_thousands(value)
            && known.as_deref().is_some_and(|k| !wants_list(self.table, k))
        {
            // `host_table = 65,536`: one number, not a list.
            let hint = self.mend(range.clone(), &number).map(write_like);
            return (
                Msg::new(MsgId::SyntaxThousands),
                Some(hint.unwrap_or_else(|| Msg::new(MsgId::SyntaxHint))),
            );
        }
        if words.len() >= 2 && words.iter().all(|w| is_number(w) || is_bool(w)) {
            let list = format!("[{}]", words.join(", "));
            let hint = match known.as_deref() {
                Some(k) if !wants_list(self.table, k) => {
                    example(self.table, k, value).map(str::to_string)
                }
                _ => self.mend(range.clone(), &list),
            };
            return (
                Msg::new(MsgId::SyntaxSeveralValues),
                Some(hint.map_or_else(|| self.list_example(), write_like)),
            );
        }
        if let Some(q) = value.chars().next().filter(|c| matches!(c, '"' | '\''))
            && value.len() >= 2
            && value.ends_with(q)
            && !value.contains('=')
        {
            // `"Dinas "Kesehatan""`: the quote inside ends the text.
            let inner = &value[1..value.len() - 1];
            // In the other quotes, or its double quotes escaped.
            let requoted = quote(inner)
                .or_else(|| (q == '"').then(|| format!("\"{}\"", inner.replace('"', "\\\""))));
            let hint = requoted.and_then(|r| self.mend(range.clone(), &r));
            return (
                Msg::new(MsgId::SyntaxInnerQuote),
                Some(hint.map_or(Msg::new(MsgId::SyntaxHint), write_like)),
            );
        }
        let first = self
            .toks
            .iter()
            .find(|t| t.at.start >= from && t.kind != Kind::Space);
        if first.is_some_and(|t| t.kind == Kind::Word) && !value.contains(['"', '\'', '[', '{']) {
            // `rate = 1,5Gbps`: a word without quotes, cut at its comma.
            return self.unquoted(range);
        }
        self.generic_trailing()
    }

    fn generic_trailing(&self) -> Explained {
        (
            Msg::new(MsgId::SyntaxTrailing),
            Some(Msg::new(MsgId::SyntaxTrailingHint)),
        )
    }
}

/// The line's tokens, roughly as TOML reads them; text in quotes runs to the line's end when
/// its quote is missing.
fn lex(line: &str) -> Vec<Tok> {
    let b = line.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        let mut closed = false;
        let kind = match b[i] {
            q @ (b'"' | b'\'') => {
                let delim = if b[i..].starts_with(&[q, q, q]) { 3 } else { 1 };
                i += delim;
                while i < b.len() {
                    if q == b'"' && b[i] == b'\\' {
                        i += 2;
                    } else if b[i..].starts_with(&[q, q, q][..delim]) {
                        i += delim;
                        closed = true;
                        break;
                    } else {
                        i += 1;
                    }
                }
                i = i.min(b.len());
                if q == b'"' {
                    Kind::Basic
                } else {
                    Kind::Literal
                }
            }
            b'#' => {
                i = b.len();
                Kind::Comment
            }
            b' ' | b'\t' | b'\r' => {
                while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\r') {
                    i += 1;
                }
                Kind::Space
            }
            b'[' | b']' | b'{' | b'}' | b'=' | b',' => {
                i += 1;
                Kind::Punct
            }
            _ => {
                while i < b.len()
                    && !matches!(
                        b[i],
                        b'"' | b'\''
                            | b'#'
                            | b' '
                            | b'\t'
                            | b'\r'
                            | b'['
                            | b']'
                            | b'{'
                            | b'}'
                            | b'='
                            | b','
                    )
                {
                    i += 1;
                }
                Kind::Word
            }
        };
        // A backslash before a multi-byte character may leave `i` inside it.
        while !line.is_char_boundary(i) {
            i += 1;
        }
        toks.push(Tok {
            kind,
            at: start..i,
            closed,
        });
    }
    toks
}

/// The line, if it is TOML on its own.
fn parses(line: &str) -> Option<String> {
    let line = line.trim();
    let (_, errors) = DeTable::parse_recoverable(line);
    (!line.is_empty() && errors.is_empty()).then(|| line.to_string())
}

fn write_like(line: impl Into<String>) -> Msg {
    Msg::new(MsgId::WriteLike).arg("line", line.into())
}

/// The example line of a key the policy knows, from the keys of the table the line is in (and
/// of its inline tables) if it is one of them: of the shape written (a list `[`, a table `{` or
/// one value) when the key has examples of several.
fn example(table: &str, key: &str, written: &str) -> Option<&'static str> {
    let own: &[&[Key]] = match table {
        "site" => &[raw::SITE, raw::CAPACITY, raw::COSTS],
        "site.costs" => &[raw::COSTS],
        "agency" => &[raw::AGENCY, raw::LIMIT],
        "agency.schedule" => &[raw::SCHEDULE, raw::OVERRIDE],
        _ => &[],
    };
    let all: &[&[Key]] = &[
        raw::SITE,
        raw::CAPACITY,
        raw::COSTS,
        raw::AGENCY,
        raw::LIMIT,
        raw::SCHEDULE,
        raw::OVERRIDE,
    ];
    let shape = |v: &str| {
        v.trim_start()
            .chars()
            .next()
            .filter(|c| matches!(c, '[' | '{'))
    };
    let pick = |tables: &[&[Key]]| {
        let mut lines = tables
            .iter()
            .flat_map(|t| t.iter())
            .filter(|k| k.name == key && k.example.contains(" = "))
            .map(|k| k.example)
            .peekable();
        let first = *lines.peek()?;
        Some(
            lines
                .find(|l| shape(value_of(l)) == shape(written))
                .unwrap_or(first),
        )
    };
    pick(own).or_else(|| pick(all))
}

fn value_of(line: &str) -> &str {
    line.split_once(" = ").map_or("", |(_, v)| v)
}

/// Whether a key takes text (or is unknown, so may), or a list of texts for an item of a
/// list: a word without quotes gets them.
fn wants_text(table: &str, key: &str, in_list: bool) -> bool {
    let (shape, text) = if in_list { ("[", "[\"") } else { ("", "\"") };
    example(table, key, shape).is_none_or(|l| value_of(l).starts_with(text))
}

fn wants_list(table: &str, key: &str) -> bool {
    example(table, key, "[").is_none_or(|l| value_of(l).starts_with('['))
}

/// A number as written, perhaps not as TOML writes it (`010`, `1__0`, `1.`).
fn is_number(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '.' | '_' | 'e' | 'E'))
        && s.chars().any(|c| c.is_ascii_digit())
        && s.replace('_', "").parse::<f64>().is_ok()
}

/// A number TOML refuses (`010`, `1__0`, `1.`), as TOML writes it.
fn plain_number(s: &str) -> Option<String> {
    let plain = s.replace('_', "");
    match plain.parse::<i64>() {
        Ok(n) => Some(n.to_string()),
        Err(_) => plain.parse::<f64>().ok().map(|f| f.to_string()),
    }
}

/// `65,536` as one number, `65536`.
fn without_thousands(s: &str) -> Option<String> {
    let mut groups = s.split(',');
    let first = groups.next()?;
    let rest: Vec<&str> = groups.collect();
    let digits = |g: &str| g.chars().all(|c| c.is_ascii_digit());
    (!rest.is_empty()
        && (1..=3).contains(&first.len())
        && digits(first)
        && rest.iter().all(|g| g.len() == 3 && digits(g)))
    .then(|| format!("{first}{}", rest.concat()))
}

fn is_bool(s: &str) -> bool {
    s == "true" || s == "false"
}

/// Text in the quotes it needs: double, or single when it holds `"` or `\`.
fn quote(text: &str) -> Option<String> {
    if !text.contains(['"', '\\']) {
        Some(format!("\"{text}\""))
    } else if !text.contains('\'') {
        Some(format!("'{text}'"))
    } else {
        None
    }
}

/// Backslashes that start no escape, doubled; escapes kept.
fn double_lone_backslashes(text: &str) -> String {
    let hex = |s: &str, n: usize| {
        s.get(..n)
            .is_some_and(|h| h.chars().all(|c| c.is_ascii_hexdigit()))
    };
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let n = match after.chars().next() {
            Some('b' | 'e' | 'f' | 'n' | 'r' | 't' | '"' | '\\') => 1,
            Some('x') if hex(&after[1..], 2) => 3,
            Some('u') if hex(&after[1..], 4) => 5,
            Some('U') if hex(&after[1..], 8) => 9,
            _ => 0,
        };
        if n == 0 {
            out.push_str("\\\\");
        } else {
            out.push('\\');
            out.push_str(&after[..n]);
        }
        rest = &after[n..];
    }
    out.push_str(rest);
    out
}

/// Where `key` was last set before `offset`: the first of a pair of duplicates.
fn first_key_before(table: &DeTable, key: &str, offset: usize) -> Option<usize> {
    let mut best: Option<usize> = None;
    let mut consider = |at: usize| {
        if at < offset && best.is_none_or(|b| at > b) {
            best = Some(at);
        }
    };
    fn walk(v: &DeValue, key: &str, consider: &mut dyn FnMut(usize)) {
        match v {
            DeValue::Table(t) => walk_table(t, key, consider),
            DeValue::Array(a) => a.iter().for_each(|x| walk(x.get_ref(), key, consider)),
            _ => {}
        }
    }
    fn walk_table(t: &DeTable, key: &str, consider: &mut dyn FnMut(usize)) {
        for (k, v) in t.iter() {
            if k.get_ref() == key {
                consider(k.span().start);
            }
            walk(v.get_ref(), key, consider);
        }
    }
    walk_table(table, key, &mut consider);
    best
}
