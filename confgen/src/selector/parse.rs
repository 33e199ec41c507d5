//! A recursive-descent parser over the selector's text, without a separate
//! tokenizer: what a word means depends on where it is (after a key, `in`,
//! `contains`, `starts`, `ends` and `not` are operators; elsewhere any word is a
//! key), which is how Calico's tokenizer decides too.
//!
//! Recursion happens only at `(`, and is bounded by [`MAX_DEPTH`]; `!`, `&&`
//! and `||` are loops, so no input can exhaust the stack.

use std::collections::BTreeSet;

use super::{CompareOp, Expr, SelectorError, SelectorErrorKind, MAX_DEPTH};

pub(super) fn parse(text: &str) -> Result<Expr, SelectorError> {
    let mut p = Parser { text, pos: 0 };
    p.skip_ws();
    if p.at_end() {
        return Ok(Expr::All);
    }
    let expr = p.or_expr(0)?;
    p.skip_ws();
    match p.peek() {
        None => Ok(expr),
        Some(b')') => Err(p.error(SelectorErrorKind::UnmatchedParen)),
        Some(_) => Err(p.expected("'&&', '||' or the end of the selector")),
    }
}

/// An operator after a label key.
enum Operator {
    Compare(CompareOp),
    In { negated: bool },
}

/// Bytes a label key is made of (Calico's `[a-zA-Z0-9_./-]`).
fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'/' | b'-')
}

/// The longest a word is quoted in an error message.
const MAX_QUOTED_WORD: usize = 40;

struct Parser<'a> {
    text: &'a str,
    /// A byte offset, always on a character boundary: the parser only steps
    /// over ASCII bytes, or to just past a string's (ASCII) closing quote.
    pos: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        self.text.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.text.as_bytes().get(self.pos + ahead).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    /// Skips spaces and tabs: Calico's whitespace (not newlines).
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    /// Consumes `s` if the input continues with it.
    fn eat(&mut self, s: &str) -> bool {
        if self.rest().starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    /// Consumes a (possibly empty) run of key bytes.
    fn word(&mut self) -> &str {
        let start = self.pos;
        while self.peek().is_some_and(is_key_byte) {
            self.pos += 1;
        }
        self.text.get(start..self.pos).unwrap_or("")
    }

    fn column_at(&self, pos: usize) -> usize {
        self.text.get(..pos).map_or(pos, |s| s.chars().count()) + 1
    }

    fn error_at(&self, pos: usize, kind: SelectorErrorKind) -> SelectorError {
        SelectorError {
            column: self.column_at(pos),
            kind,
        }
    }

    fn error(&self, kind: SelectorErrorKind) -> SelectorError {
        self.error_at(self.pos, kind)
    }

    /// "expected `what`, found <whatever is here>", at the current position.
    fn expected(&self, what: impl Into<String>) -> SelectorError {
        self.error(SelectorErrorKind::Expected {
            expected: what.into(),
            found: self.found(),
        })
    }

    /// Describes what is at the current position, for an error message.
    fn found(&self) -> String {
        let rest = self.rest();
        let Some(c) = rest.chars().next() else {
            return "the end of the selector".to_owned();
        };
        if c == '\'' || c == '"' {
            return "a quoted string".to_owned();
        }
        let len = rest.bytes().take_while(|&b| is_key_byte(b)).count();
        if len > 0 {
            let word = rest.get(..len).unwrap_or("");
            return match word.get(..MAX_QUOTED_WORD) {
                Some(prefix) if len > MAX_QUOTED_WORD => format!("'{prefix}...'"),
                _ => format!("'{word}'"),
            };
        }
        for op in ["&&", "||", "==", "!="] {
            if rest.starts_with(op) {
                return format!("'{op}'");
            }
        }
        format!("'{}'", c.escape_debug())
    }

    fn or_expr(&mut self, depth: usize) -> Result<Expr, SelectorError> {
        let mut operands = vec![self.and_expr(depth)?];
        loop {
            self.skip_ws();
            if self.eat("||") {
                operands.push(self.and_expr(depth)?);
            } else if self.peek() == Some(b'|') {
                return Err(self.expected("'||'"));
            } else {
                return Ok(Expr::or(operands));
            }
        }
    }

    fn and_expr(&mut self, depth: usize) -> Result<Expr, SelectorError> {
        let mut operands = vec![self.unary(depth)?];
        loop {
            self.skip_ws();
            if self.eat("&&") {
                operands.push(self.unary(depth)?);
            } else if self.peek() == Some(b'&') {
                return Err(self.expected("'&&'"));
            } else {
                return Ok(Expr::and(operands));
            }
        }
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, SelectorError> {
        let mut negated = false;
        loop {
            self.skip_ws();
            if self.peek() == Some(b'!') && self.peek_at(1) != Some(b'=') {
                self.pos += 1;
                negated = !negated;
            } else {
                break;
            }
        }
        let expr = self.primary(depth)?;
        Ok(if negated { expr.negate() } else { expr })
    }

    fn primary(&mut self, depth: usize) -> Result<Expr, SelectorError> {
        const TERM: &str = "a selector term (has(key), all(), a label comparison or '(')";
        self.skip_ws();
        match self.peek() {
            Some(b'(') => {
                if depth >= MAX_DEPTH {
                    return Err(self.error(SelectorErrorKind::TooDeep));
                }
                let open = self.pos;
                self.pos += 1;
                let expr = self.or_expr(depth + 1)?;
                self.skip_ws();
                if !self.eat(")") {
                    let col = self.column_at(open);
                    return Err(self.expected(format!(
                        "'&&', '||' or ')' to close the '(' at column {col}"
                    )));
                }
                Ok(expr)
            }
            Some(b) if is_key_byte(b) => {
                let start = self.pos;
                let word = self.word().to_owned();
                if self.peek() != Some(b'(') {
                    return self.comparison(word);
                }
                match word.as_str() {
                    "has" => {
                        self.pos += 1;
                        self.skip_ws();
                        let key = self.word().to_owned();
                        if key.is_empty() {
                            return Err(self.expected("a label key in has()"));
                        }
                        self.skip_ws();
                        if !self.eat(")") {
                            return Err(self.expected(format!("')' after has({key}")));
                        }
                        Ok(Expr::Has(key))
                    }
                    "all" => {
                        self.pos += 1;
                        self.skip_ws();
                        if !self.eat(")") {
                            return Err(self.expected("')' after all("));
                        }
                        Ok(Expr::All)
                    }
                    "global" => Err(self.error_at(start, SelectorErrorKind::GlobalNotSupported)),
                    _ => Err(self.error_at(start, SelectorErrorKind::UnknownFunction(word))),
                }
            }
            _ => Err(self.expected(TERM)),
        }
    }

    /// What follows a label key: an operator and its operand.
    fn comparison(&mut self, key: String) -> Result<Expr, SelectorError> {
        self.skip_ws();
        let op_start = self.pos;
        let op = if self.eat("==") {
            Operator::Compare(CompareOp::Eq)
        } else if self.eat("!=") {
            Operator::Compare(CompareOp::Ne)
        } else {
            match self.word() {
                "contains" => Operator::Compare(CompareOp::Contains),
                "startswith" => Operator::Compare(CompareOp::StartsWith),
                "endswith" => Operator::Compare(CompareOp::EndsWith),
                "in" => Operator::In { negated: false },
                "notin" => Operator::In { negated: true },
                // Two words, with optional whitespace between (as Calico).
                first @ ("starts" | "ends" | "not") => {
                    let (second, op) = match first {
                        "starts" => ("with", Operator::Compare(CompareOp::StartsWith)),
                        "ends" => ("with", Operator::Compare(CompareOp::EndsWith)),
                        _ => ("in", Operator::In { negated: true }),
                    };
                    let first = first.to_owned();
                    self.skip_ws();
                    let second_start = self.pos;
                    if self.word() != second {
                        self.pos = second_start;
                        return Err(self.expected(format!("'{second}' after '{first}'")));
                    }
                    op
                }
                _ => {
                    self.pos = op_start;
                    return Err(self.expected(format!(
                        "an operator after label '{key}' \
                         (==, !=, in, not in, contains, starts with, ends with)"
                    )));
                }
            }
        };
        match op {
            Operator::Compare(op) => {
                let value = self.string(|| format!("a quoted string after '{}'", op.as_str()))?;
                Ok(Expr::Compare { key, op, value })
            }
            Operator::In { negated } => {
                let values = self.set(if negated { "not in" } else { "in" })?;
                Ok(Expr::In {
                    key,
                    negated,
                    values,
                })
            }
        }
    }

    /// A string literal, after optional whitespace.
    fn string(&mut self, expected: impl FnOnce() -> String) -> Result<String, SelectorError> {
        self.skip_ws();
        let quote = match self.peek() {
            Some(q @ (b'\'' | b'"')) => q,
            _ => return Err(self.expected(expected())),
        };
        let open = self.pos;
        let body = self.pos + 1;
        let Some(len) = self
            .text
            .as_bytes()
            .get(body..)
            .and_then(|b| b.iter().position(|&c| c == quote))
        else {
            return Err(self.error_at(
                open,
                SelectorErrorKind::UnterminatedString {
                    quote: char::from(quote),
                },
            ));
        };
        self.pos = body + len + 1;
        Ok(self.text.get(body..body + len).unwrap_or("").to_owned())
    }

    /// `{ 'a', 'b' }` after `in` or `not in`; empty, and a trailing comma,
    /// allowed as in Calico.
    fn set(&mut self, op: &str) -> Result<BTreeSet<String>, SelectorError> {
        self.skip_ws();
        if !self.eat("{") {
            return Err(self.expected(format!("'{{' after '{op}'")));
        }
        let mut values = BTreeSet::new();
        loop {
            self.skip_ws();
            if self.eat("}") {
                return Ok(values);
            }
            values.insert(self.string(|| "a quoted string or '}' in a set".to_owned())?);
            self.skip_ws();
            if self.eat("}") {
                return Ok(values);
            }
            if !self.eat(",") {
                return Err(self.expected("',' or '}' in a set"));
            }
        }
    }
}
