use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;

use super::*;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|&(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// A selector, labels, and whether the selector matches them.
type MatchCase = (&'static str, &'static [(&'static str, &'static str)], bool);

#[rustfmt::skip]
const MATCHES: &[MatchCase] = &[
    // all(), and the empty selector that means it.
    ("all()", &[], true),
    ("all()", &[("a", "1")], true),
    ("", &[], true),
    (" \t ", &[("a", "1")], true),
    ("all( )", &[], true),
    ("!all()", &[("a", "1")], false),
    // has()
    ("has(a)", &[("a", "")], true),
    ("has(a)", &[("a", "x")], true),
    ("has(a)", &[("b", "x")], false),
    ("has(a)", &[], false),
    ("!has(a)", &[], true),
    ("!has(a)", &[("a", "x")], false),
    ("has( a )", &[("a", "x")], true),
    ("has(\ta\t)", &[("a", "x")], true),
    // ==
    ("a == 'x'", &[("a", "x")], true),
    ("a == 'x'", &[("a", "y")], false),
    ("a == 'x'", &[("a", "xx")], false),
    ("a == 'x'", &[("a", "X")], false),
    ("a == 'x'", &[], false),
    ("a == ''", &[("a", "")], true),
    ("a == ''", &[], false),
    ("a == \"x\"", &[("a", "x")], true),
    ("a=='x'", &[("a", "x")], true),
    ("a == 'x y'", &[("a", "x y")], true),
    ("a == ' x'", &[("a", "x")], false),
    ("a == \"it's\"", &[("a", "it's")], true),
    ("a == 'say \"hi\"'", &[("a", "say \"hi\"")], true),
    ("a == 'ünï'", &[("a", "ünï")], true),
    ("a == '&& || ! ( ) { } ,'", &[("a", "&& || ! ( ) { } ,")], true),
    // !=, true when absent.
    ("a != 'x'", &[("a", "y")], true),
    ("a != 'x'", &[("a", "x")], false),
    ("a != 'x'", &[], true),
    ("a!=\"x\"", &[("b", "x")], true),
    // in / not in; not in is true when absent.
    ("a in {'x', 'y'}", &[("a", "x")], true),
    ("a in {'x', 'y'}", &[("a", "y")], true),
    ("a in {'x', 'y'}", &[("a", "z")], false),
    ("a in {'x', 'y'}", &[], false),
    ("a in {}", &[("a", "x")], false),
    ("a in {}", &[], false),
    ("a in {''}", &[("a", "")], true),
    ("a in{'x'}", &[("a", "x")], true),
    ("a in {\"x\",'y',}", &[("a", "y")], true),
    ("a in { 'x' , 'x' }", &[("a", "x")], true),
    ("a not in {'x', 'y'}", &[("a", "x")], false),
    ("a not in {'x', 'y'}", &[("a", "z")], true),
    ("a not in {'x', 'y'}", &[], true),
    ("a not in {}", &[], true),
    ("a not in {}", &[("a", "x")], true),
    ("a notin {'x'}", &[("a", "x")], false),
    ("a not \t in {'x'}", &[("a", "y")], true),
    // contains / starts with / ends with: false when absent.
    ("a contains 'bc'", &[("a", "abcd")], true),
    ("a contains 'bc'", &[("a", "acbd")], false),
    ("a contains 'bc'", &[], false),
    ("a contains ''", &[("a", "")], true),
    ("a contains ''", &[], false),
    ("a contains'b'", &[("a", "abc")], true),
    ("a starts with 'ab'", &[("a", "abc")], true),
    ("a starts with 'ab'", &[("a", "cab")], false),
    ("a starts with 'ab'", &[], false),
    ("a startswith 'ab'", &[("a", "abc")], true),
    ("a starts  with 'ab'", &[("a", "abc")], true),
    ("a ends with 'bc'", &[("a", "abc")], true),
    ("a ends with 'bc'", &[("a", "bca")], false),
    ("a ends with 'bc'", &[], false),
    ("a endswith \"c\"", &[("a", "abc")], true),
    ("a starts with ''", &[("a", "x")], true),
    ("a ends with ''", &[], false),
    // &&, ||, and || binding looser than &&.
    ("a == 'x' && b == 'y'", &[("a", "x"), ("b", "y")], true),
    ("a == 'x' && b == 'y'", &[("a", "x")], false),
    ("a == 'x' || b == 'y'", &[("b", "y")], true),
    ("a == 'x' || b == 'y'", &[], false),
    ("a == 'x' || b == 'y' && c == 'z'", &[("a", "x")], true),
    ("a == 'x' || b == 'y' && c == 'z'", &[("b", "y")], false),
    ("a == 'x' || b == 'y' && c == 'z'", &[("b", "y"), ("c", "z")], true),
    ("(a == 'x' || b == 'y') && c == 'z'", &[("a", "x")], false),
    ("(a == 'x' || b == 'y') && c == 'z'", &[("a", "x"), ("c", "z")], true),
    ("a == 'x' && b == 'y' || c == 'z'", &[("c", "z")], true),
    ("a == 'x' && (b == 'y' || c == 'z')", &[("c", "z")], false),
    ("has(a) && has(b) && has(c)", &[("a", ""), ("b", ""), ("c", "")], true),
    ("has(a) && has(b) && has(c)", &[("a", ""), ("c", "")], false),
    ("has(a) || has(b) || has(c)", &[("c", "")], true),
    ("has(a)&&has(b)", &[("a", ""), ("b", "")], true),
    ("has(a)||has(b)", &[("b", "")], true),
    // Negation applies to one term, and repeats.
    ("!a == 'x'", &[("a", "x")], false),
    ("!a == 'x'", &[], true),
    ("!a == 'x' && has(b)", &[("b", "")], true),
    ("!(a == 'x' && has(b))", &[("a", "x")], true),
    ("!(a == 'x' || has(b))", &[("b", "")], false),
    ("!(a == 'x' || has(b))", &[], true),
    ("!!has(a)", &[("a", "")], true),
    ("!!!has(a)", &[("a", "")], false),
    ("! ! has(a)", &[("a", "")], true),
    ("!(!has(a))", &[("a", "")], true),
    ("!a != 'x'", &[], false),
    ("!a not in {'x'}", &[("a", "x")], true),
    // Parentheses and whitespace.
    ("((has(a)))", &[("a", "")], true),
    ("( has(a) )", &[("a", "")], true),
    ("\t has(a) \t", &[("a", "")], true),
    ("(has(a)||has(b))&&!has(c)", &[("b", "")], true),
    ("(has(a)||has(b))&&!has(c)", &[("b", ""), ("c", "")], false),
    // Keys: Kubernetes-style names, and words that are operators elsewhere.
    ("kubernetes.io/hostname == 'node-1'", &[("kubernetes.io/hostname", "node-1")], true),
    ("has(projectcalico.org/namespace)", &[("projectcalico.org/namespace", "ns")], true),
    ("has(projectcalico.org/namespace)", &[("namespace", "ns")], false),
    ("a_b-c.d/e9 == 'v'", &[("a_b-c.d/e9", "v")], true),
    ("9 == 'v'", &[("9", "v")], true),
    ("-x == 'v'", &[("-x", "v")], true),
    ("in == 'v'", &[("in", "v")], true),
    ("has == 'v'", &[("has", "v")], true),
    ("all != 'v'", &[], true),
    ("contains contains 'v'", &[("contains", "xvx")], true),
    ("not not in {'v'}", &[("not", "w")], true),
    ("has(in) && in in {'v'}", &[("in", "v")], true),
    ("A == 'x'", &[("a", "x")], false),
    // Calico's BGP documentation.
    ("has(route-reflector)", &[("route-reflector", "true")], true),
    ("has(route-reflector)", &[("rack", "rack-1")], false),
    ("!has(route-reflector)", &[("rack", "rack-1")], true),
    ("!has(route-reflector)", &[("route-reflector", "")], false),
    ("route-reflector == 'true'", &[("route-reflector", "true")], true),
    ("route-reflector == 'true'", &[("route-reflector", "false")], false),
    ("route-reflector == 'true'", &[], false),
    ("rack == 'rack-1'", &[("rack", "rack-1")], true),
    ("rack == 'rack-1'", &[("rack", "rack-2")], false),
    ("rack == 'rack-1' && !has(route-reflector)", &[("rack", "rack-1")], true),
    ("rack == 'rack-1' && has(route-reflector)", &[("rack", "rack-1")], false),
    ("rack in {'rack-1', 'rack-2'}", &[("rack", "rack-2")], true),
    ("all()", &[("route-reflector", "true")], true),
    ("routeReflector == 'true'", &[("routeReflector", "true")], true),
];

#[test]
fn matches_table() {
    for &(text, pairs, expected) in MATCHES {
        let selector = Selector::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        let map = labels(pairs);
        assert_eq!(
            selector.matches(&map),
            expected,
            "{text:?} against {pairs:?}"
        );
        // The canonical form means the same thing.
        let again = Selector::parse(&selector.to_string()).unwrap();
        assert_eq!(again, selector, "{text:?} printed as {selector}");
        assert_eq!(
            again.matches(&map),
            expected,
            "{selector} against {pairs:?}"
        );
    }
}

#[test]
fn other_label_maps() {
    let selector = Selector::parse("a == 'x' && !has(b)").unwrap();
    let borrowed: BTreeMap<&str, &str> = [("a", "x")].into_iter().collect();
    assert!(selector.matches(&borrowed));
    let hashed: HashMap<String, String> = [("a".to_owned(), "x".to_owned())].into_iter().collect();
    assert!(selector.matches(&hashed));
    let hashed_b: HashMap<&str, String> = [("a", "x".to_owned()), ("b", String::new())]
        .into_iter()
        .collect();
    assert!(!selector.matches(&hashed_b));
    assert!(selector.matches(&&borrowed));
}

#[test]
fn empty_is_all() {
    assert_eq!(Selector::parse("").unwrap(), Selector::all());
    assert_eq!(Selector::parse("  \t").unwrap(), Selector::all());
    assert_eq!(Selector::parse("all()").unwrap(), Selector::all());
    assert!(Selector::parse("").unwrap().is_all());
    assert!(Selector::parse("!!all()").unwrap().is_all());
    assert!(!Selector::parse("all() && all()").unwrap().is_all());
    assert_eq!(Selector::default(), Selector::all());
    assert_eq!(Selector::all().to_string(), "all()");
}

#[test]
fn from_str() {
    let selector: Selector = "has(a)".parse().unwrap();
    assert_eq!(selector, Selector::parse("has(a)").unwrap());
    assert!("has(".parse::<Selector>().is_err());
}

/// (input, canonical form): equal selectors print the same.
#[rustfmt::skip]
const CANONICAL: &[(&str, &str)] = &[
    ("", "all()"),
    ("all( )", "all()"),
    ("has( a )", "has(a)"),
    ("a=='x'", "a == \"x\""),
    ("a == \"x\"", "a == \"x\""),
    ("a == 'say \"hi\"'", "a == 'say \"hi\"'"),
    ("a == \"it's\"", "a == \"it's\""),
    ("a!='x'", "a != \"x\""),
    ("a contains'x'", "a contains \"x\""),
    ("a startswith 'x'", "a starts with \"x\""),
    ("a ends  with 'x'", "a ends with \"x\""),
    ("a in {'y', 'x', 'y',}", "a in {\"x\", \"y\"}"),
    ("a in{}", "a in {}"),
    ("a notin {'x'}", "a not in {\"x\"}"),
    ("a in {'x', 'a\"b'}", "a in {'a\"b', \"x\"}"),
    ("!has(a)", "!has(a)"),
    ("!!has(a)", "has(a)"),
    ("!(!has(a))", "has(a)"),
    ("!all()", "!all()"),
    ("!a == 'x'", "!(a == \"x\")"),
    ("!(a == 'x')", "!(a == \"x\")"),
    ("((has(a)))", "has(a)"),
    ("has(a) && has(b) && has(c)", "has(a) && has(b) && has(c)"),
    ("(has(a) && has(b)) && has(c)", "has(a) && has(b) && has(c)"),
    ("has(a) && (has(b) && has(c))", "has(a) && has(b) && has(c)"),
    ("has(a) || (has(b) || has(c))", "has(a) || has(b) || has(c)"),
    ("has(a) || has(b) && has(c)", "has(a) || has(b) && has(c)"),
    ("has(a) || (has(b) && has(c))", "has(a) || has(b) && has(c)"),
    ("(has(a) || has(b)) && has(c)", "(has(a) || has(b)) && has(c)"),
    ("!(has(a) || has(b)) && !(has(c) && has(d))", "!(has(a) || has(b)) && !(has(c) && has(d))"),
    ("kubernetes.io/hostname in {'n1'}", "kubernetes.io/hostname in {\"n1\"}"),
];

#[test]
fn canonical_form() {
    for &(text, canonical) in CANONICAL {
        let selector = Selector::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(selector.to_string(), canonical, "{text:?}");
        assert_eq!(
            Selector::parse(canonical).unwrap(),
            selector,
            "{canonical:?}"
        );
    }
}

#[test]
fn equality_ignores_spelling() {
    let eq = |a: &str, b: &str| {
        assert_eq!(
            Selector::parse(a).unwrap(),
            Selector::parse(b).unwrap(),
            "{a:?} vs {b:?}"
        )
    };
    eq("a == 'x'", "a==\"x\"");
    eq("a in {'x','y'}", "a in {\"y\", 'x', 'x'}");
    eq(
        "(has(a) && has(b)) && has(c)",
        "has(a) && (has(b) && has(c))",
    );
    eq("!!has(a)", "has(a)");
    eq("a not in {}", "a notin{}");
    let ne = |a: &str, b: &str| {
        assert_ne!(
            Selector::parse(a).unwrap(),
            Selector::parse(b).unwrap(),
            "{a:?} vs {b:?}"
        )
    };
    ne("has(a) && has(b)", "has(b) && has(a)");
    ne("a == 'x'", "a == 'X'");
    ne("a in {'x'}", "a not in {'x'}");
    ne("all()", "all() && all()");
}

/// (input, 1-based column, message after "at column N: ").
#[rustfmt::skip]
const ERRORS: &[(&str, usize, &str)] = &[
    // Unbalanced parentheses.
    ("(has(a)", 8, "expected '&&', '||' or ')' to close the '(' at column 1, found the end of the selector"),
    ("((has(a))", 10, "expected '&&', '||' or ')' to close the '(' at column 1, found the end of the selector"),
    ("(has(a) has(b))", 9, "expected '&&', '||' or ')' to close the '(' at column 1, found 'has'"),
    ("has(a))", 7, "unexpected ')' with no matching '('"),
    ("has(a) && has(b) )", 18, "unexpected ')' with no matching '('"),
    ("()", 2, "expected a selector term (has(key), all(), a label comparison or '('), found ')'"),
    ("(", 2, "expected a selector term (has(key), all(), a label comparison or '('), found the end of the selector"),
    (")", 1, "expected a selector term (has(key), all(), a label comparison or '('), found ')'"),
    // Strings.
    ("a == 'x", 6, "unterminated string: no closing ' (selector strings have no escapes)"),
    ("a == \"x", 6, "unterminated string: no closing \" (selector strings have no escapes)"),
    ("a == 'x\"", 6, "unterminated string: no closing ' (selector strings have no escapes)"),
    // No escapes: the backslash ends the string, and what follows is garbage.
    ("a == 'it\\'s'", 11, "expected '&&', '||' or the end of the selector, found 's'"),
    ("a in {'x', 'y}", 12, "unterminated string: no closing ' (selector strings have no escapes)"),
    ("a == x", 6, "expected a quoted string after '==', found 'x'"),
    ("a == ", 6, "expected a quoted string after '==', found the end of the selector"),
    ("a ==", 5, "expected a quoted string after '==', found the end of the selector"),
    ("a != && has(b)", 6, "expected a quoted string after '!=', found '&&'"),
    ("a contains", 11, "expected a quoted string after 'contains', found the end of the selector"),
    ("a starts with {'x'}", 15, "expected a quoted string after 'starts with', found '{'"),
    // Operators.
    ("a", 2, "expected an operator after label 'a' (==, !=, in, not in, contains, starts with, ends with), found the end of the selector"),
    ("a = 'x'", 3, "expected an operator after label 'a' (==, !=, in, not in, contains, starts with, ends with), found '='"),
    ("a === 'x'", 5, "expected a quoted string after '==', found '='"),
    ("a equals 'x'", 3, "expected an operator after label 'a' (==, !=, in, not in, contains, starts with, ends with), found 'equals'"),
    ("a 'x'", 3, "expected an operator after label 'a' (==, !=, in, not in, contains, starts with, ends with), found a quoted string"),
    ("a ! = 'x'", 3, "expected an operator after label 'a' (==, !=, in, not in, contains, starts with, ends with), found '!'"),
    ("a starts 'x'", 10, "expected 'with' after 'starts', found a quoted string"),
    ("a ends without 'x'", 8, "expected 'with' after 'ends', found 'without'"),
    ("a not {'x'}", 7, "expected 'in' after 'not', found '{'"),
    ("a index {'x'}", 3, "expected an operator after label 'a' (==, !=, in, not in, contains, starts with, ends with), found 'index'"),
    ("a has(b)", 3, "expected an operator after label 'a' (==, !=, in, not in, contains, starts with, ends with), found 'has'"),
    ("a == 'x' & b == 'y'", 10, "expected '&&', found '&'"),
    ("a == 'x' | b == 'y'", 10, "expected '||', found '|'"),
    ("has(a) &&", 10, "expected a selector term (has(key), all(), a label comparison or '('), found the end of the selector"),
    ("|| has(a)", 1, "expected a selector term (has(key), all(), a label comparison or '('), found '||'"),
    ("has(a) && || has(b)", 11, "expected a selector term (has(key), all(), a label comparison or '('), found '||'"),
    ("!", 2, "expected a selector term (has(key), all(), a label comparison or '('), found the end of the selector"),
    ("!= 'x'", 1, "expected a selector term (has(key), all(), a label comparison or '('), found '!='"),
    ("'x' == a", 1, "expected a selector term (has(key), all(), a label comparison or '('), found a quoted string"),
    // Sets.
    ("a in 'x'", 6, "expected '{' after 'in', found a quoted string"),
    ("a not in ('x')", 10, "expected '{' after 'not in', found '('"),
    ("a in {'x' 'y'}", 11, "expected ',' or '}' in a set, found a quoted string"),
    ("a in {,}", 7, "expected a quoted string or '}' in a set, found ','"),
    ("a in {'x',,'y'}", 11, "expected a quoted string or '}' in a set, found ','"),
    ("a in {'x'", 10, "expected ',' or '}' in a set, found the end of the selector"),
    ("a in {x}", 7, "expected a quoted string or '}' in a set, found 'x'"),
    // Functions.
    ("has()", 5, "expected a label key in has(), found ')'"),
    ("has(", 5, "expected a label key in has(), found the end of the selector"),
    ("has('a')", 5, "expected a label key in has(), found a quoted string"),
    ("has(a", 6, "expected ')' after has(a, found the end of the selector"),
    ("has(a b)", 7, "expected ')' after has(a, found 'b'"),
    ("has(a, b)", 6, "expected ')' after has(a, found ','"),
    ("all(x)", 5, "expected ')' after all(, found 'x'"),
    ("all", 4, "expected an operator after label 'all' (==, !=, in, not in, contains, starts with, ends with), found the end of the selector"),
    ("has (a)", 5, "expected an operator after label 'has' (==, !=, in, not in, contains, starts with, ends with), found '('"),
    ("foo(a)", 1, "unknown function 'foo()': expected has(key) or all()"),
    ("has(a) && Has(b)", 11, "unknown function 'Has()': expected has(key) or all()"),
    ("exists(a)", 1, "unknown function 'exists()': expected has(key) or all()"),
    ("global()", 1, "global() is not supported in node selectors"),
    ("has(a) || global()", 11, "global() is not supported in node selectors"),
    // Trailing garbage.
    ("has(a) x", 8, "expected '&&', '||' or the end of the selector, found 'x'"),
    ("has(a) has(b)", 8, "expected '&&', '||' or the end of the selector, found 'has'"),
    ("a == 'x' 'y'", 10, "expected '&&', '||' or the end of the selector, found a quoted string"),
    ("all() ;", 7, "expected '&&', '||' or the end of the selector, found ';'"),
    ("all()!", 6, "expected '&&', '||' or the end of the selector, found '!'"),
    // Whitespace is spaces and tabs only, as in Calico.
    ("has(a)\n", 7, "expected '&&', '||' or the end of the selector, found '\\n'"),
    ("\nhas(a)", 1, "expected a selector term (has(key), all(), a label comparison or '('), found '\\n'"),
    ("has(a)\r\n&& has(b)", 7, "expected '&&', '||' or the end of the selector, found '\\r'"),
    ("a\u{a0}== 'x'", 2, "expected an operator after label 'a' (==, !=, in, not in, contains, starts with, ends with), found '\\u{a0}'"),
    // Columns count characters, not bytes.
    ("a == 'ünï' x", 12, "expected '&&', '||' or the end of the selector, found 'x'"),
    ("ü == 'x'", 1, "expected a selector term (has(key), all(), a label comparison or '('), found 'ü'"),
    ("a == 'x' && é", 13, "expected a selector term (has(key), all(), a label comparison or '('), found 'é'"),
];

#[test]
fn errors_table() {
    for &(text, column, message) in ERRORS {
        match Selector::parse(text) {
            Ok(s) => panic!("{text:?} parsed as {s}"),
            Err(e) => {
                assert_eq!(
                    (e.column, e.kind.to_string().as_str()),
                    (column, message),
                    "{text:?}"
                );
                assert_eq!(e.to_string(), format!("at column {column}: {message}"));
            }
        }
    }
}

#[test]
fn long_words_are_shortened_in_errors() {
    let word = "x".repeat(1000);
    let e = Selector::parse(&format!("has(a) {word}")).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "at column 8: expected '&&', '||' or the end of the selector, found '{}...'",
            "x".repeat(40)
        )
    );
}

#[test]
fn depth_limit() {
    // Exactly MAX_DEPTH levels parse.
    let ok = format!("{}has(a){}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
    assert_eq!(
        Selector::parse(&ok).unwrap(),
        Selector::parse("has(a)").unwrap()
    );
    let ok = format!("{}has(a){}", "!(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
    assert_eq!(
        Selector::parse(&ok).unwrap(),
        Selector::parse("has(a)").unwrap()
    );
    // One more does not.
    let deep = format!(
        "{}has(a){}",
        "(".repeat(MAX_DEPTH + 1),
        ")".repeat(MAX_DEPTH + 1)
    );
    let e = Selector::parse(&deep).unwrap_err();
    assert_eq!(
        (e.column, &e.kind),
        (MAX_DEPTH + 1, &SelectorErrorKind::TooDeep)
    );
    assert_eq!(
        e.to_string(),
        "at column 65: parentheses nested more than 64 deep"
    );
    // A bomb of 10,000 '(' (and variants) fails cleanly.
    for bomb in [
        "(".repeat(10_000),
        "!(".repeat(10_000),
        "( ".repeat(10_000),
        format!("{}{}", "(".repeat(10_000), ")".repeat(10_000)),
    ] {
        let e = Selector::parse(&bomb).unwrap_err();
        assert_eq!(e.kind, SelectorErrorKind::TooDeep);
    }
}

#[test]
fn long_inputs() {
    // Long flat expressions are loops, not recursion.
    let n = 100_000;
    let and = vec!["has(a)"; n].join(" && ");
    let s = Selector::parse(&and).unwrap();
    assert!(s.matches(&labels(&[("a", "")])));
    assert!(!s.matches(&labels(&[])));
    let or: String = (0..n)
        .map(|i| format!("k == '{i}'"))
        .collect::<Vec<_>>()
        .join(" || ");
    let s = Selector::parse(&or).unwrap();
    assert!(s.matches(&labels(&[("k", "99999")])));
    assert_eq!(Selector::parse(&s.to_string()).unwrap(), s);
    let set: String = format!(
        "k in {{{}}}",
        (0..n)
            .map(|i| format!("'{i}'"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert!(Selector::parse(&set)
        .unwrap()
        .matches(&labels(&[("k", "4242")])));
    let nots = format!("{}has(a)", "!".repeat(1_000_001));
    assert_eq!(
        Selector::parse(&nots).unwrap(),
        Selector::parse("!has(a)").unwrap()
    );
    let key = "k".repeat(100_000);
    assert!(Selector::parse(&format!("has({key})"))
        .unwrap()
        .matches(&labels(&[(&key, "")])));
    let value = "v".repeat(1_000_000);
    assert!(Selector::parse(&format!("k == '{value}'"))
        .unwrap()
        .matches(&labels(&[("k", &value)])));
    let ws = " ".repeat(1_000_000);
    assert!(Selector::parse(&format!("{ws}has(a){ws}&&{ws}all(){ws}")).is_ok());
}

// Property tests.

fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_./-]{1,12}",
        // Words that are keywords elsewhere must stay keys.
        prop::sample::select(vec![
            "has",
            "all",
            "global",
            "in",
            "not",
            "contains",
            "starts",
            "with",
            "ends",
            "startswith",
            "notin"
        ])
        .prop_map(str::to_owned),
    ]
}

/// Values can hold anything but both kinds of quote (they have no escapes).
fn arb_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9 '(){},&|!=.-]{0,8}",
        "[a-z\"]{0,4}",
        any::<String>(),
    ]
    .prop_filter("both quotes", |v| !(v.contains('\'') && v.contains('"')))
}

fn arb_expr() -> impl Strategy<Value = Expr> {
    let op = prop::sample::select(vec![
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Contains,
        CompareOp::StartsWith,
        CompareOp::EndsWith,
    ]);
    let leaf = prop_oneof![
        Just(Expr::All),
        arb_key().prop_map(Expr::Has),
        (arb_key(), op, arb_value()).prop_map(|(key, op, value)| Expr::Compare { key, op, value }),
        (
            arb_key(),
            any::<bool>(),
            prop::collection::btree_set(arb_value(), 0..4)
        )
            .prop_map(|(key, negated, values)| Expr::In {
                key,
                negated,
                values
            }),
    ];
    leaf.prop_recursive(6, 64, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(Expr::negate),
            prop::collection::vec(inner.clone(), 2..5).prop_map(Expr::and),
            prop::collection::vec(inner, 2..5).prop_map(Expr::or),
        ]
    })
}

/// Text close to the grammar: its tokens, with and without spacing.
fn arb_token_soup() -> impl Strategy<Value = String> {
    let token = prop::sample::select(vec![
        "(",
        ")",
        "!",
        "&&",
        "||",
        "&",
        "|",
        "==",
        "!=",
        "=",
        "in",
        "not",
        "not in",
        "contains",
        "starts",
        "with",
        "starts with",
        "ends with",
        "{",
        "}",
        ",",
        "'x'",
        "\"y\"",
        "''",
        "'",
        "\"",
        "has(",
        "has(a)",
        "all()",
        "all(",
        "global()",
        "a",
        "b",
        "kubernetes.io/hostname",
        "-",
        "\t",
        " ",
        "\n",
        "é",
    ]);
    prop::collection::vec((token, prop::sample::select(vec!["", " ", "  "])), 0..24).prop_map(
        |parts| {
            parts
                .into_iter()
                .map(|(t, sep)| format!("{t}{sep}"))
                .collect()
        },
    )
}

fn arb_labels() -> impl Strategy<Value = BTreeMap<String, String>> {
    let key = prop_oneof!["[a-c]", arb_key()];
    let value = prop_oneof!["[xy]{0,2}", arb_value()];
    prop::collection::btree_map(key, value, 0..5)
}

/// Whatever parses prints to a form that parses back to the same selector,
/// and printing is idempotent.
fn check_round_trip(text: &str) -> Result<(), TestCaseError> {
    if let Ok(selector) = Selector::parse(text) {
        let printed = selector.to_string();
        let again = Selector::parse(&printed);
        prop_assert_eq!(
            again.as_ref(),
            Ok(&selector),
            "{:?} printed as {:?}",
            text,
            printed
        );
        prop_assert_eq!(again.map(|s| s.to_string()), Ok(printed));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn generated_selectors_round_trip(expr in arb_expr(), map in arb_labels()) {
        let selector = Selector { root: expr };
        let printed = selector.to_string();
        let parsed = Selector::parse(&printed);
        prop_assert_eq!(parsed.as_ref(), Ok(&selector), "printed as {:?}", printed);
        prop_assert_eq!(parsed.map(|s| s.matches(&map)), Ok(selector.matches(&map)));
    }

    #[test]
    fn arbitrary_strings_never_panic(text in any::<String>()) {
        check_round_trip(&text)?;
    }

    #[test]
    fn token_soup_never_panics(text in arb_token_soup()) {
        check_round_trip(&text)?;
    }

    /// Errors point inside the input, or just past its end.
    #[test]
    fn error_columns_are_in_range(text in prop_oneof![arb_token_soup(), any::<String>()]) {
        if let Err(e) = Selector::parse(&text) {
            prop_assert!(e.column >= 1 && e.column <= text.chars().count() + 1, "{:?}: {}", text, e);
        }
    }

    /// The operators mean what Calico says, checked against a direct reading.
    #[test]
    fn operators_agree_with_definition(key in "[ab]", value in "[xy]{0,2}", map in arb_labels()) {
        let got = map.get(&key).map(String::as_str);
        let p = |s: String| Selector::parse(&s).unwrap().matches(&map);
        prop_assert_eq!(p(format!("{key} == '{value}'")), got == Some(value.as_str()));
        prop_assert_eq!(p(format!("{key} != '{value}'")), got != Some(value.as_str()));
        prop_assert_eq!(p(format!("has({key})")), got.is_some());
        prop_assert_eq!(p(format!("{key} contains '{value}'")), got.is_some_and(|g| g.contains(value.as_str())));
        prop_assert_eq!(p(format!("{key} starts with '{value}'")), got.is_some_and(|g| g.starts_with(value.as_str())));
        prop_assert_eq!(p(format!("{key} ends with '{value}'")), got.is_some_and(|g| g.ends_with(value.as_str())));
        prop_assert_eq!(p(format!("{key} in {{'{value}', 'z'}}")), got == Some(value.as_str()) || got == Some("z"));
        prop_assert_eq!(p(format!("{key} not in {{'{value}', 'z'}}")), !(got == Some(value.as_str()) || got == Some("z")));
    }

}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// `!`, `&&` and `||` are boolean, with `&&` binding tighter.
    #[test]
    fn connectives_are_boolean(a in arb_expr(), b in arb_expr(), c in arb_expr(), map in arb_labels()) {
        let (sa, sb, sc) = (Selector { root: a }, Selector { root: b }, Selector { root: c });
        let (ma, mb, mc) = (sa.matches(&map), sb.matches(&map), sc.matches(&map));
        let p = |s: String| Selector::parse(&s).unwrap().matches(&map);
        prop_assert_eq!(p(format!("({sa}) || ({sb}) && ({sc})")), ma || (mb && mc));
        prop_assert_eq!(p(format!("({sa}) && ({sb}) || ({sc})")), (ma && mb) || mc);
        prop_assert_eq!(p(format!("!({sa}) && ({sb})")), !ma && mb);
        prop_assert_eq!(p(format!("!(({sa}) || ({sb}))")), !(ma || mb));
    }
}
