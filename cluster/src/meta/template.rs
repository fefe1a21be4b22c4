//! Object-name templates of multi-object operations (AIS's `ListRange.template`), sans-IO.
//!
//! Three forms, as AIS parses them (tried in this order):
//! - bash brace ranges: `prefix-{0000..0099..2}-gap-{1..3}-suffix` (start, end, optional
//!   step); a number is zero-padded to the shorter of the start's and end's digit counts;
//! - "at" ranges: `prefix-@100-suffix` means `{0..100}` padded to the digits given (`@007`:
//!   `000..007`);
//! - fmt: `prefix-%06d-suffix`, an unbounded range (0 up): always more names than the limit,
//!   so refused for expansion, as AIS refuses it beyond its limit.
//!
//! A template with none of these is a name prefix (AIS's "prefix-only" template): the caller
//! selects the objects whose names start with it. `""` and `*` select everything.
//!
//! # Invariants
//! - Every range has `0 <= start <= end` and `step > 0` (checked when parsing).
//! - [`Template::count`] never overflows: parsing refuses a product over [`TEMPLATE_NAMES_MAX`].
//! - Names come out in AIS's order: the last range varies fastest.
//!
//! # What this module does not do
//! It does not list buckets: prefix selection is the job's walk.

use std::fmt::Write as _;

/// Most names one template may expand to. AIS's own bound is 10,000,000; a multi-object job
/// here expands the template on every target (each keeps the names it owns), so the bound is
/// what one target may walk through for one request. More is refused (400) naming this limit.
pub const TEMPLATE_NAMES_MAX: u64 = 1_000_000;

/// One numeric range of a template and the text after it (up to the next range or the end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    pub start: u64,
    pub end: u64,
    pub step: u64,
    /// Zero-padded to this many digits.
    pub digits: usize,
    pub gap: String,
}

impl Range {
    fn count(&self) -> u64 {
        (self.end - self.start) / self.step + 1
    }
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Template {
    /// No range: the objects whose names start with this prefix (empty: every object).
    Prefix(String),
    /// Names `prefix` + each range's numbers and gaps.
    Ranges { prefix: String, ranges: Vec<Range> },
}

/// Why a template was refused (the message names the template and the fault).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError(pub String);

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn invalid(form: &str, t: &str, why: &str) -> TemplateError {
    TemplateError(format!("invalid '{form}' template {t:?}: {why}"))
}

impl Template {
    /// Parse `t` (see the module comment); a range template over [`TEMPLATE_NAMES_MAX`]
    /// names is refused.
    pub fn parse(t: &str) -> Result<Template, TemplateError> {
        if t.is_empty() || t == "*" {
            return Ok(Template::Prefix(String::new()));
        }
        let parsed = if t.contains('{') {
            parse_bash(t)?
        } else if t.contains('@') {
            parse_at(t)?
        } else if t.contains('%') {
            parse_fmt(t)?
        } else {
            // AIS trims a trailing wildcard of a prefix.
            return Ok(Template::Prefix(
                t.strip_suffix('*').unwrap_or(t).to_string(),
            ));
        };
        let Template::Ranges { ranges, .. } = &parsed else {
            return Ok(parsed);
        };
        let mut total: u64 = 1;
        for r in ranges {
            total = total
                .checked_mul(r.count())
                .filter(|n| *n <= TEMPLATE_NAMES_MAX)
                .ok_or_else(|| {
                    TemplateError(format!(
                        "template {t:?} expands to more than {TEMPLATE_NAMES_MAX} names (the most one request may name)"
                    ))
                })?;
        }
        Ok(parsed)
    }

    /// How many names it expands to (`None` for a prefix).
    pub fn count(&self) -> Option<u64> {
        match self {
            Template::Prefix(_) => None,
            Template::Ranges { ranges, .. } => Some(ranges.iter().map(Range::count).product()),
        }
    }

    /// Its names, in AIS's order (empty for a prefix).
    pub fn names(&self) -> Names<'_> {
        match self {
            Template::Prefix(_) => Names {
                prefix: "",
                ranges: &[],
                at: Vec::new(),
                done: true,
            },
            Template::Ranges { prefix, ranges } => Names {
                prefix,
                ranges,
                at: ranges.iter().map(|r| r.start).collect(),
                done: ranges.is_empty(),
            },
        }
    }
}

/// Iterator over a template's names.
pub struct Names<'a> {
    prefix: &'a str,
    ranges: &'a [Range],
    at: Vec<u64>,
    done: bool,
}

impl Iterator for Names<'_> {
    type Item = String;
    fn next(&mut self) -> Option<String> {
        if self.done {
            return None;
        }
        let mut s = String::with_capacity(self.prefix.len() + 16 * self.ranges.len());
        s.push_str(self.prefix);
        for (r, v) in self.ranges.iter().zip(&self.at) {
            let _ = write!(s, "{v:0width$}", width = r.digits);
            s.push_str(&r.gap);
        }
        // Advance: the last range fastest, carrying into the ones before it.
        let mut i = self.ranges.len();
        loop {
            if i == 0 {
                self.done = true;
                break;
            }
            i -= 1;
            let r = &self.ranges[i];
            match self.at[i].checked_add(r.step).filter(|n| *n <= r.end) {
                Some(n) => {
                    self.at[i] = n;
                    break;
                }
                None => self.at[i] = r.start,
            }
        }
        Some(s)
    }
}

fn number(form: &str, t: &str, s: &str) -> Result<u64, TemplateError> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return Err(invalid(
            form,
            t,
            &format!("{s:?} is not a non-negative decimal number"),
        ));
    }
    s.parse::<u64>()
        .map_err(|_| invalid(form, t, &format!("{s:?} is too large")))
}

fn check(form: &str, t: &str, start: u64, end: u64, step: u64) -> Result<(), TemplateError> {
    if start > end {
        return Err(invalid(form, t, "'start' cannot be greater than 'end'"));
    }
    if step == 0 {
        return Err(invalid(form, t, "'step' is non-positive"));
    }
    Ok(())
}

/// `prefix{a..b[..s]}gap{...}...`
fn parse_bash(t: &str) -> Result<Template, TemplateError> {
    const EXPECT: &str = "expecting e.g. 'prefix-{0001..0010..1}-suffix'";
    let left = t.find('{').ok_or_else(|| invalid("bash", t, EXPECT))?;
    let prefix = t[..left].to_string();
    let mut rest = &t[left..];
    let mut ranges = Vec::new();
    while let Some(l) = rest.find('{') {
        let r = rest[l..]
            .find('}')
            .map(|r| r + l)
            .ok_or_else(|| invalid("bash", t, "unbalanced '{'"))?;
        let inside = &rest[l + 1..r];
        let parts: Vec<&str> = inside.split("..").collect();
        if !(2..=3).contains(&parts.len()) {
            return Err(invalid("bash", t, EXPECT));
        }
        let start = number("bash", t, parts[0])?;
        let end = number("bash", t, parts[1])?;
        let step = match parts.get(2) {
            Some(s) => number("bash", t, s)?,
            None => 1,
        };
        check("bash", t, start, end, step)?;
        rest = &rest[r + 1..];
        let gap_end = rest.find('{').unwrap_or(rest.len());
        ranges.push(Range {
            start,
            end,
            step,
            digits: parts[0].len().min(parts[1].len()),
            gap: rest[..gap_end].to_string(),
        });
        rest = &rest[gap_end..];
    }
    // A '}' in the text between two ranges (AIS refuses it too; after the last one it is
    // just text).
    if ranges.iter().rev().skip(1).any(|r| r.gap.contains('}')) {
        return Err(invalid("bash", t, "unbalanced '}'"));
    }
    Ok(Template::Ranges { prefix, ranges })
}

/// `prefix@100gap@007...`
fn parse_at(t: &str) -> Result<Template, TemplateError> {
    let left = t.find('@').expect("caller checked");
    let prefix = t[..left].to_string();
    let mut rest = &t[left..];
    let mut ranges = Vec::new();
    while let Some(rest_at) = rest.strip_prefix('@') {
        let digits_len = rest_at.bytes().take_while(u8::is_ascii_digit).count();
        let end = number("at", t, &rest_at[..digits_len])
            .map_err(|_| invalid("at", t, "expecting e.g. 'prefix-@00100-suffix'"))?;
        rest = &rest_at[digits_len..];
        let gap_end = rest.find('@').unwrap_or(rest.len());
        ranges.push(Range {
            start: 0,
            end,
            step: 1,
            digits: digits_len,
            gap: rest[..gap_end].to_string(),
        });
        rest = &rest[gap_end..];
    }
    Ok(Template::Ranges { prefix, ranges })
}

/// `prefix%0Nd suffix`: 0 up, unbounded.
fn parse_fmt(t: &str) -> Result<Template, TemplateError> {
    const EXPECT: &str = "expecting e.g. 'prefix-%06d-suffix'";
    let p = t.find('%').expect("caller checked");
    if t[p + 1..].contains('%') {
        return Ok(Template::Prefix(t.to_string()));
    }
    let d = t[p..]
        .find('d')
        .map(|d| d + p)
        .ok_or_else(|| invalid("fmt", t, EXPECT))?;
    let spec = &t[p + 1..d];
    let digits = if spec.is_empty() {
        0
    } else if spec.len() >= 2 && spec.starts_with('0') {
        number("fmt", t, &spec[1..]).map_err(|_| invalid("fmt", t, EXPECT))? as usize
    } else {
        return Err(invalid("fmt", t, EXPECT));
    };
    Ok(Template::Ranges {
        prefix: t[..p].to_string(),
        ranges: vec![Range {
            start: 0,
            end: u64::MAX - 1,
            step: 1,
            digits,
            gap: t[d + 1..].to_string(),
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(t: &str) -> Vec<String> {
        Template::parse(t).expect(t).names().collect()
    }

    #[test]
    fn bash_ranges_expand_as_ais_does() {
        let v = names("a-{0..3}.txt");
        assert_eq!(v, ["a-0.txt", "a-1.txt", "a-2.txt", "a-3.txt"]);
        let v = names("shard-{0000..0099..2}-x");
        assert_eq!(v.len(), 50);
        assert_eq!(v[0], "shard-0000-x");
        assert_eq!(v[1], "shard-0002-x");
        assert_eq!(v[49], "shard-0098-x");
        // Padding: the shorter of start's and end's digit counts.
        assert_eq!(names("{1..0010..3}"), ["1", "4", "7", "10"]);
        assert_eq!(names("{001..10..3}"), ["01", "04", "07", "10"]);
        // A step past the end stops at the last value in range.
        assert_eq!(names("x{0..10..4}"), ["x0", "x4", "x8"]);
        assert_eq!(names("x{5..5}"), ["x5"]);
        // Braces outside ranges are text, as in AIS.
        assert_eq!(names("a}{1..2}}"), ["a}1}", "a}2}"]);
    }

    #[test]
    fn several_ranges_vary_the_last_fastest() {
        let v = names("p-{00001..00005..2}-gap-{1..2}-s");
        assert_eq!(
            v,
            [
                "p-00001-gap-1-s",
                "p-00001-gap-2-s",
                "p-00003-gap-1-s",
                "p-00003-gap-2-s",
                "p-00005-gap-1-s",
                "p-00005-gap-2-s"
            ]
        );
        let t = Template::parse("p-{00001..00005..2}-gap-{1..2}-s").unwrap();
        assert_eq!(t.count(), Some(6));
    }

    #[test]
    fn at_ranges() {
        assert_eq!(names("o@3.bin"), ["o0.bin", "o1.bin", "o2.bin", "o3.bin"]);
        let v = names("a@007-b@1");
        assert_eq!(v.len(), 16);
        assert_eq!(v[0], "a000-b0");
        assert_eq!(v[15], "a007-b1");
    }

    #[test]
    fn prefix_only_and_match_all() {
        assert_eq!(
            Template::parse("").unwrap(),
            Template::Prefix(String::new())
        );
        assert_eq!(
            Template::parse("*").unwrap(),
            Template::Prefix(String::new())
        );
        assert_eq!(
            Template::parse("logs/2025/").unwrap(),
            Template::Prefix("logs/2025/".into())
        );
        assert_eq!(
            Template::parse("logs/*").unwrap(),
            Template::Prefix("logs/".into())
        );
        assert_eq!(Template::parse("logs/").unwrap().count(), None);
        assert_eq!(Template::parse("logs/").unwrap().names().count(), 0);
    }

    #[test]
    fn malformed_templates_are_refused_with_the_fault() {
        for (t, fault) in [
            ("a{1..}", "not a non-negative decimal number"),
            ("a{..3}", "not a non-negative decimal number"),
            ("a{1..2..3..4}", "expecting"),
            ("a{5..1}", "'start' cannot be greater than 'end'"),
            ("a{1..5..0}", "'step' is non-positive"),
            ("a{1..5", "unbalanced '{'"),
            ("a{1..2}x}{3..4}", "unbalanced '}'"),
            ("a{-1..5}", "not a non-negative decimal number"),
            ("a{x..5}", "not a non-negative decimal number"),
            ("a{1..99999999999999999999999}", "too large"),
            ("a@x", "expecting e.g. 'prefix-@00100-suffix'"),
            ("a%5d", "expecting e.g. 'prefix-%06d-suffix'"),
        ] {
            let e = Template::parse(t).expect_err(t);
            assert!(e.0.contains(fault), "{t}: {e}");
            assert!(e.0.contains(&format!("{t:?}")), "{t}: {e}");
        }
    }

    #[test]
    fn the_limit_is_exact() {
        // At the limit: accepted; one past it: refused naming the limit.
        let at = format!("x{{1..{TEMPLATE_NAMES_MAX}}}");
        assert_eq!(
            Template::parse(&at).unwrap().count(),
            Some(TEMPLATE_NAMES_MAX)
        );
        let past = format!("x{{0..{TEMPLATE_NAMES_MAX}}}");
        let e = Template::parse(&past).unwrap_err();
        assert!(e.0.contains(&TEMPLATE_NAMES_MAX.to_string()), "{e}");
        // A product of ranges past it, each under it.
        let e = Template::parse("{0..999}-{0..999}-{0..9}").unwrap_err();
        assert!(e.0.contains("more than"), "{e}");
        assert!(Template::parse("{0..999}-{0..999}").is_ok());
        // fmt: unbounded, always past the limit.
        let e = Template::parse("img-%06d.jpg").unwrap_err();
        assert!(e.0.contains("more than"), "{e}");
    }

    #[test]
    fn iteration_at_the_top_of_u64_ends() {
        let t = Template::Ranges {
            prefix: String::new(),
            ranges: vec![Range {
                start: u64::MAX - 2,
                end: u64::MAX,
                step: 2,
                digits: 0,
                gap: String::new(),
            }],
        };
        assert_eq!(t.names().count(), 2);
    }
}
