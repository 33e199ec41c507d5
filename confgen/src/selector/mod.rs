//! Calico's label selector language, as used by `BGPPeer.spec.nodeSelector`,
//! `BGPPeer.spec.peerSelector` and `IPPool.spec.nodeSelector`.
//!
//! ```text
//! selector   = ws* ( or-expr ws* )?          empty (or blank) means all()
//! or-expr    = and-expr ( "||" and-expr )*
//! and-expr   = unary ( "&&" unary )*
//! unary      = "!"* primary                  an odd number of '!' negates
//! primary    = "(" or-expr ")"
//!            | "all(" ")" | "has(" key ")"
//!            | key ( "==" | "!=" | "contains" | "starts with" | "ends with" ) string
//!            | key ( "in" | "not in" ) "{" ( string ( "," string )* ","? )? "}"
//! key        = [a-zA-Z0-9_./-]+
//! string     = "'" [^']* "'" | '"' [^"]* '"'   no escapes
//! ws         = " " | "\t"
//! ```
//!
//! Whitespace may appear between any two tokens, inside `has( key )`,
//! `all( )`, between `starts`/`ends` and `with` and between `not` and `in`,
//! but not between a function's name and its `(`: like Calico, `has (x)` is
//! an error. Whitespace is spaces and tabs only: Calico rejects a newline (a
//! YAML block scalar's trailing one included), and so does this parser.
//! `||` binds looser than `&&`; `!` binds tightest and applies to one
//! term (`!a == 'x'` is `!(a == 'x')`).
//!
//! Semantics, as Calico's: `==`, `in`, `contains`, `starts with` and
//! `ends with` are false when the key is absent; `!=` and `not in` are true
//! when it is absent. Values are compared byte for byte; there are no escapes,
//! so a value can hold one kind of quote but not both.
//!
//! Where this parser departs from Calico's, it rejects more: `global()`
//! (meaningful only for network sets) is an error here, and so is any input
//! deeper than [`MAX_DEPTH`] parentheses.

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::str::FromStr;

mod parse;
#[cfg(test)]
mod tests;

/// How deep parentheses may nest before a selector is refused (Calico has no
/// limit; real selectors nest two or three levels).
pub const MAX_DEPTH: usize = 64;

/// A parsed label selector.
///
/// Two selectors are equal when they have the same structure up to
/// whitespace, quote style, redundant parentheses, associativity of `&&` and
/// `||`, double negation, and order or repetition within a set; equal
/// selectors match the same labels.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Selector {
    root: Expr,
}

/// A selector's syntax tree, kept normal so that derived equality is
/// structural equality of canonical forms: `And` and `Or` have at least two
/// operands and no operand of their own kind, and `Not` never holds a `Not`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Expr {
    All,
    Has(String),
    Compare {
        key: String,
        op: CompareOp,
        value: String,
    },
    In {
        key: String,
        negated: bool,
        values: BTreeSet<String>,
    },
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum CompareOp {
    Eq,
    Ne,
    Contains,
    StartsWith,
    EndsWith,
}

impl CompareOp {
    fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "==",
            Self::Ne => "!=",
            Self::Contains => "contains",
            Self::StartsWith => "starts with",
            Self::EndsWith => "ends with",
        }
    }
}

impl Expr {
    /// `!self`, without double negation.
    fn negate(self) -> Self {
        match self {
            Self::Not(inner) => *inner,
            other => Self::Not(Box::new(other)),
        }
    }

    /// `a && b && ...`, flattening nested conjunctions.
    fn and(operands: Vec<Self>) -> Self {
        Self::join(operands, true)
    }

    /// `a || b || ...`, flattening nested disjunctions.
    fn or(operands: Vec<Self>) -> Self {
        Self::join(operands, false)
    }

    fn join(operands: Vec<Self>, and: bool) -> Self {
        let mut flat = Vec::with_capacity(operands.len());
        for operand in operands {
            match operand {
                Self::And(inner) if and => flat.extend(inner),
                Self::Or(inner) if !and => flat.extend(inner),
                other => flat.push(other),
            }
        }
        if flat.len() == 1 {
            if let Some(only) = flat.pop() {
                return only;
            }
        }
        if and {
            Self::And(flat)
        } else {
            Self::Or(flat)
        }
    }

    fn matches<L: Labels + ?Sized>(&self, labels: &L) -> bool {
        match self {
            Self::All => true,
            Self::Has(key) => labels.label(key).is_some(),
            Self::Compare { key, op, value } => match (labels.label(key), op) {
                (None, CompareOp::Ne) => true,
                (None, _) => false,
                (Some(v), CompareOp::Eq) => v == value,
                (Some(v), CompareOp::Ne) => v != value,
                (Some(v), CompareOp::Contains) => v.contains(value.as_str()),
                (Some(v), CompareOp::StartsWith) => v.starts_with(value.as_str()),
                (Some(v), CompareOp::EndsWith) => v.ends_with(value.as_str()),
            },
            Self::In {
                key,
                negated,
                values,
            } => match labels.label(key) {
                Some(v) => values.contains(v) != *negated,
                None => *negated,
            },
            Self::Not(inner) => !inner.matches(labels),
            Self::And(operands) => operands.iter().all(|e| e.matches(labels)),
            Self::Or(operands) => operands.iter().any(|e| e.matches(labels)),
        }
    }

    /// Binding strength when printed: `||` 0, `&&` 1, anything else 2.
    fn precedence(&self) -> u8 {
        match self {
            Self::Or(_) => 0,
            Self::And(_) => 1,
            _ => 2,
        }
    }

    /// Prints `self`, in parentheses if it binds looser than `min`.
    fn write(&self, f: &mut fmt::Formatter<'_>, min: u8) -> fmt::Result {
        if self.precedence() < min {
            f.write_str("(")?;
            self.write(f, 0)?;
            return f.write_str(")");
        }
        match self {
            Self::All => f.write_str("all()"),
            Self::Has(key) => write!(f, "has({key})"),
            Self::Compare { key, op, value } => {
                write!(f, "{key} {} ", op.as_str())?;
                write_quoted(f, value)
            }
            Self::In {
                key,
                negated,
                values,
            } => {
                write!(f, "{key} {} {{", if *negated { "not in" } else { "in" })?;
                for (i, value) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write_quoted(f, value)?;
                }
                f.write_str("}")
            }
            Self::Not(inner) => {
                f.write_str("!")?;
                match **inner {
                    // Unambiguous without parentheses.
                    Self::All | Self::Has(_) => inner.write(f, 2),
                    _ => {
                        f.write_str("(")?;
                        inner.write(f, 0)?;
                        f.write_str(")")
                    }
                }
            }
            Self::And(operands) | Self::Or(operands) => {
                let sep = if matches!(self, Self::And(_)) {
                    " && "
                } else {
                    " || "
                };
                for (i, operand) in operands.iter().enumerate() {
                    if i > 0 {
                        f.write_str(sep)?;
                    }
                    // An operand of its own kind cannot occur; if it did,
                    // printing it bare would still mean the same.
                    operand.write(f, self.precedence())?;
                }
                Ok(())
            }
        }
    }
}

/// Double quotes, as Calico prints, unless the value holds a double quote.
fn write_quoted(f: &mut fmt::Formatter<'_>, value: &str) -> fmt::Result {
    let quote = if value.contains('"') { '\'' } else { '"' };
    write!(f, "{quote}{value}{quote}")
}

impl Selector {
    /// Parses a selector. An empty or blank string is `all()`, as in Calico
    /// (callers that treat an absent or empty selector as "not set" must check
    /// for that before parsing).
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        parse::parse(text).map(|root| Self { root })
    }

    /// The selector that matches everything, `all()`.
    pub fn all() -> Self {
        Self { root: Expr::All }
    }

    /// Whether this is exactly `all()` (not merely equivalent to it).
    pub fn is_all(&self) -> bool {
        self.root == Expr::All
    }

    /// Whether a set of labels satisfies the selector.
    pub fn matches<L: Labels + ?Sized>(&self, labels: &L) -> bool {
        self.root.matches(labels)
    }
}

impl Default for Selector {
    fn default() -> Self {
        Self::all()
    }
}

impl FromStr for Selector {
    type Err = SelectorError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

/// The canonical form: single spaces around operators, double quotes unless
/// the value holds one, sets sorted and deduplicated, parentheses only where
/// precedence needs them (and around a negated comparison). It parses back to
/// an equal selector.
impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.root.write(f, 0)
    }
}

/// A set of labels to match a selector against.
pub trait Labels {
    /// The value of a label, if the label is set.
    fn label(&self, key: &str) -> Option<&str>;
}

impl<K, V> Labels for BTreeMap<K, V>
where
    K: Borrow<str> + Ord,
    V: AsRef<str>,
{
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(AsRef::as_ref)
    }
}

impl<K, V, S> Labels for HashMap<K, V, S>
where
    K: Borrow<str> + Hash + Eq,
    V: AsRef<str>,
    S: BuildHasher,
{
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(AsRef::as_ref)
    }
}

impl<L: Labels + ?Sized> Labels for &L {
    fn label(&self, key: &str) -> Option<&str> {
        (**self).label(key)
    }
}

/// Why a selector did not parse, and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("at column {column}: {kind}")]
pub struct SelectorError {
    /// 1-based, in characters; one past the last character when the input
    /// ended too soon.
    pub column: usize,
    pub kind: SelectorErrorKind,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectorErrorKind {
    /// Something else was needed here.
    #[error("expected {expected}, found {found}")]
    Expected { expected: String, found: String },
    /// A string literal with no closing quote; the column is its opening quote.
    #[error("unterminated string: no closing {quote} (selector strings have no escapes)")]
    UnterminatedString { quote: char },
    /// `name(` for a name other than `has` and `all`.
    #[error("unknown function '{0}()': expected has(key) or all()")]
    UnknownFunction(String),
    /// `global()`, which Calico allows only in network set selectors.
    #[error("global() is not supported in node selectors")]
    GlobalNotSupported,
    /// A `)` with no `(` to close.
    #[error("unexpected ')' with no matching '('")]
    UnmatchedParen,
    /// More than [`MAX_DEPTH`] nested parentheses.
    #[error("parentheses nested more than {MAX_DEPTH} deep")]
    TooDeep,
}
