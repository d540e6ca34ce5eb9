//! Single-use offer codes: a shop uploads a pool of codes (`cartback codes import`), and a
//! step whose offer names the pool shows each cart a code of its own.
//!
//! The rules every store keeps (`ports::OfferCodes`): a code is handed to one cart step
//! only, and to that step again on every retry; a code that was ever handed out never
//! becomes available again, not even by importing it once more.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::ids::CartId;

/// The longest code accepted: checkout discount codes are short, and every code is a key.
pub const MAX_CODE_LEN: usize = 64;

/// Codes per import transaction: two items each (the check that the code was never claimed,
/// and the free code) plus the pool's counters, within DynamoDB's 100 items per transaction.
pub const IMPORT_BATCH: usize = 49;

/// One single-use code: 1 to 64 characters, none of them whitespace or control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OfferCode(String);

/// Why a code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("the code is empty")]
    Empty,
    #[error("the code has {0} characters; at most {MAX_CODE_LEN} are allowed")]
    TooLong(usize),
    #[error("the code contains whitespace")]
    Whitespace,
    #[error("the code contains a control character")]
    Control,
}

impl OfferCode {
    pub fn parse(value: impl Into<String>) -> Result<Self, CodeError> {
        let value = value.into();
        if value.is_empty() {
            return Err(CodeError::Empty);
        }
        let chars = value.chars().count();
        if chars > MAX_CODE_LEN {
            return Err(CodeError::TooLong(chars));
        }
        if value.chars().any(char::is_whitespace) {
            return Err(CodeError::Whitespace);
        }
        if value.chars().any(char::is_control) {
            return Err(CodeError::Control);
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for OfferCode {
    type Error = CodeError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl From<OfferCode> for String {
    fn from(value: OfferCode) -> Self {
        value.0
    }
}

impl fmt::Display for OfferCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A code handed to a cart step, and how many codes the pool had left after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedCode {
    pub code: OfferCode,
    /// Free codes left in the pool after this claim. Read just before the claim: concurrent
    /// claims of other carts may have taken a few more.
    pub remaining: u64,
}

/// What an import did, as `cartback codes import` prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct ImportReport {
    /// Codes the pool did not know: now available.
    pub added: u64,
    /// Codes the pool already knew (free, or claimed at some time), or repeated in the file.
    pub already_present: u64,
    /// Free codes in the pool after the import.
    pub available: u64,
}

/// A line of a code file that is not a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeLineError {
    pub line: usize,
    pub error: CodeError,
}

/// The bad lines of a code file; nothing is imported from a file with any.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct CodeFileError {
    pub file: String,
    pub lines: Vec<CodeLineError>,
}

/// How many bad lines an error lists before it only counts the rest.
const LISTED_LINES: usize = 20;

impl fmt::Display for CodeFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, bad) in self.lines.iter().take(LISTED_LINES).enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{}:{}: {}", self.file, bad.line, bad.error)?;
        }
        if self.lines.len() > LISTED_LINES {
            write!(
                f,
                "\n… and {} more bad lines",
                self.lines.len() - LISTED_LINES
            )?;
        }
        write!(
            f,
            "\n  fix: one code per line, 1 to {MAX_CODE_LEN} characters without spaces; blank lines and lines starting with `#` are skipped. Nothing was imported."
        )
    }
}

/// A parsed code file: each code once, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CodeFile {
    pub codes: Vec<OfferCode>,
    /// Lines repeating a code given earlier in the file.
    pub repeated: u64,
}

/// Reads one code per line: trimmed; blank lines and `#` comments skipped. Every bad line is
/// reported (with its number), and a file with any bad line yields no codes.
pub fn parse_code_file(file: &str, source: &str) -> Result<CodeFile, CodeFileError> {
    let mut parsed = CodeFile::default();
    let mut seen = HashSet::new();
    let mut bad = Vec::new();
    for (index, text) in source.lines().enumerate() {
        let text = text.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        match OfferCode::parse(text) {
            Ok(code) if seen.insert(code.clone()) => parsed.codes.push(code),
            Ok(_) => parsed.repeated += 1,
            Err(error) => bad.push(CodeLineError {
                line: index + 1,
                error,
            }),
        }
    }
    if bad.is_empty() {
        Ok(parsed)
    } else {
        Err(CodeFileError {
            file: file.to_owned(),
            lines: bad,
        })
    }
}

/// 8 hex digits of SHA-256: spreads free codes evenly over the sort order whatever they
/// look like (`WINTER-0001`, `WINTER-0002`, … would otherwise sit side by side).
fn spread(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    hex::encode(&hasher.finalize()[..4])
}

/// Where a free code sits in the pool's sort order: `<8 hex of its hash>#<code>`.
pub fn free_slot(code: &OfferCode) -> String {
    format!("{}#{code}", spread(&[code.as_str()]))
}

/// Where a claim of `cart`'s `step` starts looking for a free code (8 hex digits, the same
/// form as the start of a free slot). Different carts start at different places, so
/// concurrent claims rarely reach for the same code; a retry (`attempt`) starts elsewhere.
pub fn claim_start(cart: &CartId, step: u32, attempt: u32) -> String {
    spread(&[cart.as_str(), &step.to_string(), &attempt.to_string()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_short_and_have_no_spaces_or_control_characters() {
        assert!(OfferCode::parse("WINTER10-Q7M3").is_ok());
        assert!(OfferCode::parse("ÄLÄ-10").is_ok());
        assert_eq!(OfferCode::parse(""), Err(CodeError::Empty));
        assert_eq!(OfferCode::parse("A B"), Err(CodeError::Whitespace));
        assert_eq!(OfferCode::parse("A\u{7}B"), Err(CodeError::Control));
        assert_eq!(
            OfferCode::parse("x".repeat(65)),
            Err(CodeError::TooLong(65))
        );
        assert!(OfferCode::parse("x".repeat(64)).is_ok());
    }

    #[test]
    fn a_code_file_skips_blanks_and_comments_and_keeps_each_code_once() {
        let source = "# winter campaign\n\n  A1  \r\nA2\n# A3 is withdrawn\nA1\n\t\nA4\n";
        let parsed = parse_code_file("codes.txt", source).expect("valid");
        let codes: Vec<&str> = parsed.codes.iter().map(OfferCode::as_str).collect();
        assert_eq!(codes, ["A1", "A2", "A4"]);
        assert_eq!(parsed.repeated, 1);
    }

    #[test]
    fn every_bad_line_is_reported_with_its_number_and_nothing_is_taken() {
        let long = "Y".repeat(65);
        let source = format!("A1\nA 2\n{long}\nA3\nB\u{1b}[0m\n");
        let error = parse_code_file("codes.txt", &source).expect_err("bad lines");
        let lines: Vec<(usize, CodeError)> = error
            .lines
            .iter()
            .map(|l| (l.line, l.error.clone()))
            .collect();
        assert_eq!(
            lines,
            [
                (2, CodeError::Whitespace),
                (3, CodeError::TooLong(65)),
                (5, CodeError::Control)
            ]
        );
        let text = error.to_string();
        assert!(
            text.starts_with("codes.txt:2: the code contains whitespace"),
            "{text}"
        );
        assert!(text.contains("codes.txt:3: "), "{text}");
        assert!(text.contains("fix: one code per line"), "{text}");
    }

    #[test]
    fn a_long_list_of_bad_lines_is_cut_short() {
        let source = "a b\n".repeat(25);
        let text = parse_code_file("f", &source).expect_err("bad").to_string();
        assert!(text.contains("f:20: "), "{text}");
        assert!(!text.contains("f:21: "), "{text}");
        assert!(text.contains("and 5 more bad lines"), "{text}");
    }

    #[test]
    fn free_slots_spread_similar_codes_and_claims_start_apart() {
        let a = free_slot(&OfferCode::parse("WINTER-0001").expect("valid"));
        let b = free_slot(&OfferCode::parse("WINTER-0002").expect("valid"));
        assert_eq!(a.len(), 8 + 1 + 11);
        assert!(a.ends_with("#WINTER-0001"));
        assert_ne!(a[..8], b[..8]);
        let cart = CartId::parse("c1").expect("valid");
        assert_eq!(claim_start(&cart, 2, 0), claim_start(&cart, 2, 0));
        assert_ne!(claim_start(&cart, 2, 0), claim_start(&cart, 2, 1));
        assert_ne!(claim_start(&cart, 2, 0), claim_start(&cart, 1, 0));
    }
}
