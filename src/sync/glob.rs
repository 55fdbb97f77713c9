//! Shell-style globs on `/`-separated relative paths: `*` `?` within a component, `**` across
//! components, `[abc]` `[!a-z]` classes, `{a,b}` alternatives. Matching is dynamic programming
//! over (pattern, text) positions, so no pattern can make it take exponential time.

use crate::error::{Error, Result};

/// Alternatives produced by `{a,b}` expansion, at most this many per pattern.
const MAX_ALTERNATIVES: usize = 256;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Char(char),
    Any,                            // ?
    Star,                           // *
    DoubleStar,                     // ** as a whole component (with its slash)
    Class(bool, Vec<(char, char)>), // negated, ranges
}

/// One compiled pattern (its `{}` alternatives expanded).
#[derive(Clone, Debug)]
pub(crate) struct Glob {
    alternatives: Vec<Vec<Token>>,
    /// No `/` in the pattern: it matches the last component of a path.
    name_only: bool,
}

/// A list of globs; matches when any matches.
#[derive(Clone, Debug, Default)]
pub(crate) struct GlobSet {
    globs: Vec<Glob>,
}

impl GlobSet {
    pub(crate) fn new(patterns: &[String], what: &str) -> Result<GlobSet> {
        let globs = patterns
            .iter()
            .map(|p| Glob::new(p).map_err(|e| e.context(format!("{what} pattern {p:?}"))))
            .collect::<Result<_>>()?;
        Ok(GlobSet { globs })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.globs.is_empty()
    }

    pub(crate) fn matches(&self, rel: &str) -> bool {
        self.globs.iter().any(|g| g.matches(rel))
    }
}

fn expand_braces(p: &str, out: &mut Vec<String>) -> Result<()> {
    // The first `{` at depth 0 with its matching `}`.
    let chars: Vec<char> = p.chars().collect();
    let mut depth = 0usize;
    let mut open = None;
    let mut commas = Vec::new();
    let mut in_class = false;
    for (i, &c) in chars.iter().enumerate() {
        match c {
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '{' if !in_class => {
                if depth == 0 {
                    open = Some(i);
                    commas.clear();
                }
                depth += 1;
            }
            ',' if !in_class && depth == 1 => commas.push(i),
            '}' if !in_class && depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    let start = open.expect("set with depth");
                    let head: String = chars[..start].iter().collect();
                    let tail: String = chars[i + 1..].iter().collect();
                    let mut bounds = vec![start];
                    bounds.extend(&commas);
                    bounds.push(i);
                    for w in bounds.windows(2) {
                        let part: String = chars[w[0] + 1..w[1]].iter().collect();
                        expand_braces(&format!("{head}{part}{tail}"), out)?;
                        if out.len() > MAX_ALTERNATIVES {
                            return Err(Error::invalid(format!(
                                "more than {MAX_ALTERNATIVES} alternatives"
                            )));
                        }
                    }
                    return Ok(());
                }
            }
            _ => {}
        }
    }
    if depth > 0 {
        return Err(Error::invalid("a `{` is not closed"));
    }
    out.push(p.to_string());
    Ok(())
}

fn compile(p: &str) -> Result<Vec<Token>> {
    let chars: Vec<char> = p.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' => {
                let run = chars[i..].iter().take_while(|&&c| c == '*').count();
                let at_start = i == 0 || chars[i - 1] == '/';
                let at_end = i + run == chars.len() || chars[i + run] == '/';
                if run >= 2 && at_start && at_end {
                    tokens.push(Token::DoubleStar);
                    i += run + usize::from(i + run < chars.len()); // its slash too
                } else {
                    tokens.push(Token::Star);
                    i += run;
                }
            }
            '?' => {
                tokens.push(Token::Any);
                i += 1;
            }
            '[' => {
                let mut j = i + 1;
                let negated = matches!(chars.get(j), Some('!') | Some('^'));
                if negated {
                    j += 1;
                }
                let mut ranges = Vec::new();
                let mut first = true;
                while j < chars.len() && (chars[j] != ']' || first) {
                    let lo = chars[j];
                    if chars.get(j + 1) == Some(&'-') && chars.get(j + 2).is_some_and(|&c| c != ']')
                    {
                        ranges.push((lo, chars[j + 2]));
                        j += 3;
                    } else {
                        ranges.push((lo, lo));
                        j += 1;
                    }
                    first = false;
                }
                if j >= chars.len() {
                    return Err(Error::invalid("a `[` is not closed"));
                }
                tokens.push(Token::Class(negated, ranges));
                i = j + 1;
            }
            '\\' if i + 1 < chars.len() => {
                tokens.push(Token::Char(chars[i + 1]));
                i += 2;
            }
            c => {
                tokens.push(Token::Char(c));
                i += 1;
            }
        }
    }
    Ok(tokens)
}

impl Glob {
    pub(crate) fn new(pattern: &str) -> Result<Glob> {
        let trimmed = pattern.trim_start_matches("./").trim_start_matches('/');
        if trimmed.is_empty() {
            return Err(Error::invalid("the pattern is empty"));
        }
        let mut expanded = Vec::new();
        expand_braces(trimmed, &mut expanded)?;
        let alternatives = expanded.iter().map(|p| compile(p)).collect::<Result<_>>()?;
        Ok(Glob {
            alternatives,
            name_only: !trimmed.contains('/'),
        })
    }

    pub(crate) fn matches(&self, rel: &str) -> bool {
        let text = if self.name_only {
            rel.rsplit('/').next().unwrap_or(rel)
        } else {
            rel
        };
        let text: Vec<char> = text.chars().collect();
        self.alternatives.iter().any(|t| match_tokens(t, &text))
    }
}

fn class_has(ranges: &[(char, char)], c: char) -> bool {
    ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi)
}

/// `reach[j]`: the pattern so far can end just before text position `j`.
fn match_tokens(tokens: &[Token], text: &[char]) -> bool {
    let n = text.len();
    let mut reach = vec![false; n + 1];
    reach[0] = true;
    for t in tokens {
        let mut next = vec![false; n + 1];
        match t {
            Token::Char(c) => {
                for j in 0..n {
                    next[j + 1] = reach[j] && text[j] == *c;
                }
            }
            Token::Any => {
                for j in 0..n {
                    next[j + 1] = reach[j] && text[j] != '/';
                }
            }
            Token::Class(neg, ranges) => {
                for j in 0..n {
                    next[j + 1] = reach[j] && text[j] != '/' && class_has(ranges, text[j]) != *neg;
                }
            }
            Token::Star => {
                for j in 0..=n {
                    next[j] = reach[j] || (j > 0 && next[j - 1] && text[j - 1] != '/');
                }
            }
            Token::DoubleStar => {
                // Zero or more whole components: from a reachable component start, any later
                // position right after a `/` (or the end) is reachable.
                let mut open = false;
                for j in 0..=n {
                    open |= reach[j];
                    next[j] = reach[j] || (open && j > 0 && (text[j - 1] == '/' || j == n));
                }
            }
        }
        reach = next;
    }
    reach[n]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, t: &str) -> bool {
        Glob::new(p).unwrap().matches(t)
    }

    #[test]
    fn globs_match_like_a_shell() {
        assert!(m("*.png", "a/b/c.png"));
        assert!(!m("*.png", "a/b/c.jpg"));
        assert!(m("a/*.png", "a/c.png"));
        assert!(!m("a/*.png", "a/b/c.png"));
        assert!(m("a/**/*.png", "a/c.png"));
        assert!(m("a/**/*.png", "a/b/d/c.png"));
        assert!(m("**/thumbs/**", "x/thumbs/y/z.jpg"));
        assert!(m("thumbs/**", "thumbs/y.jpg"));
        assert!(m("*.{jpg,png}", "x.png"));
        assert!(!m("*.{jpg,png}", "x.gif"));
        assert!(m("img[0-9].jpg", "d/img7.jpg"));
        assert!(!m("img[!0-9].jpg", "img7.jpg"));
        assert!(m("?.jpg", "a.jpg"));
        assert!(!m("a?b", "a/b"));
        assert!(m("raw", "x/raw"));
        assert!(Glob::new("{a,b").is_err());
        assert!(Glob::new("[ab").is_err());
        // Many stars stay quick (dynamic programming, no backtracking).
        assert!(!m("*a*a*a*a*a*a*a*a*a*a*b", &"a".repeat(200)));
    }
}
