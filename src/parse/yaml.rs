//! The one YAML reader of guest files (netplan, cloud.cfg), over saphyr: the single document
//! of a text as a small owned tree that the parsers match on.
//!
//! YAML 1.2 core schema: `true`/`false` are booleans (`yes` stays a string), `~`,
//! `null` and an empty value are null. A text of several documents, a duplicate key, an
//! invalid tagged scalar (`!!int x`), alias expansion past saphyr's budget (a "billion
//! laughs" file) and nesting deeper than [`MAX_DEPTH`] are errors, never a panic. Tags are
//! looked through: `!foo bar` reads as `bar`.

use saphyr::{LoadableYamlNode, Scalar, Yaml};
use saphyr_parser::Event;
use std::fmt;

/// Collections nested deeper than this are refused: the tree is walked recursively, and a
/// hostile file (`- - - - …`) must not overflow the stack.
pub const MAX_DEPTH: usize = 128;

/// One YAML node.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Seq(Vec<Value>),
    /// In document order.
    Map(Vec<(Value, Value)>),
}

impl Value {
    /// The value of the string key `key` of a mapping; None if there is no such key or this
    /// is not a mapping.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(m) => m
                .iter()
                .find(|(k, _)| matches!(k, Value::String(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

/// A node on one line, in flow style: a string as itself, `null`, `[a, b]`, `{k: v}`.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) if x.is_nan() => f.write_str(".nan"),
            Value::Float(x) if x.is_infinite() => {
                f.write_str(if *x > 0.0 { ".inf" } else { "-.inf" })
            }
            Value::Float(x) => write!(f, "{x:?}"),
            Value::String(s) => f.write_str(s),
            Value::Seq(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Map(entries) => {
                f.write_str("{")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

/// Parses the text's one document; an empty text (or only comments) is `Null`.
pub fn parse(text: &str) -> Result<Value, String> {
    check_depth(text)?;
    let mut docs = Yaml::load_from_str(text).map_err(|e| e.to_string())?;
    if docs.len() > 1 {
        return Err(format!(
            "{} YAML documents where one is expected",
            docs.len()
        ));
    }
    match docs.pop() {
        None => Ok(Value::Null),
        Some(doc) => convert(&doc, 0),
    }
}

/// Refuses nesting deeper than [`MAX_DEPTH`] from saphyr's event stream, before a tree is
/// built: saphyr nests flow collections at most 255 deep but block ones (`- - - x`) as deep
/// as the text is long, and drops its tree recursively. Its parser keeps its own stack.
fn check_depth(text: &str) -> Result<(), String> {
    let mut depth = 0usize;
    for ev in saphyr_parser::Parser::new_from_str(text) {
        match ev.map_err(|e| e.to_string())?.0 {
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(format!("collections nested deeper than {MAX_DEPTH} levels"));
                }
            }
            Event::SequenceEnd | Event::MappingEnd => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn convert(y: &Yaml, depth: usize) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err(format!("collections nested deeper than {MAX_DEPTH} levels"));
    }
    Ok(match y {
        Yaml::Value(s) => scalar(s),
        Yaml::Representation(s, _, _) => Value::String(s.to_string()),
        Yaml::Sequence(items) => Value::Seq(
            items
                .iter()
                .map(|v| convert(v, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Yaml::Mapping(m) => Value::Map(
            m.iter()
                .map(|(k, v)| Ok((convert(k, depth + 1)?, convert(v, depth + 1)?)))
                .collect::<Result<_, String>>()?,
        ),
        Yaml::Tagged(_, inner) => convert(inner, depth)?,
        Yaml::Alias(_) => return Err("an alias that could not be resolved".into()),
        Yaml::BadValue => return Err("a value that does not match its tag".into()),
    })
}

fn scalar(s: &Scalar) -> Value {
    match s {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Bool(*b),
        Scalar::Integer(i) => Value::Int(*i),
        Scalar::FloatingPoint(x) => Value::Float(x.into_inner()),
        Scalar::String(s) => Value::String(s.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::String(v.into())
    }

    #[test]
    fn core_schema_scalars() {
        let v = parse("a: true\nb: yes\nc: ~\nd:\ne: 9000\nf: '9000'\ng: 1.5\nh: None\ni: 0x10\n")
            .unwrap();
        assert_eq!(v.get("a"), Some(&Value::Bool(true)));
        assert_eq!(v.get("b"), Some(&s("yes")));
        assert_eq!(v.get("c"), Some(&Value::Null));
        assert_eq!(v.get("d"), Some(&Value::Null));
        assert_eq!(v.get("e"), Some(&Value::Int(9000)));
        assert_eq!(v.get("f"), Some(&s("9000")));
        assert_eq!(v.get("g"), Some(&Value::Float(1.5)));
        assert_eq!(v.get("h"), Some(&s("None")));
        assert_eq!(v.get("i"), Some(&Value::Int(16)));
        assert_eq!(v.get("nope"), None);
        assert_eq!(s("x").get("a"), None);
    }

    #[test]
    fn mappings_keep_document_order_and_keys_render_on_one_line() {
        let v = parse("z: 1\na: [x, {k: v}]\n1: n\n? [p, q]\n: r\n").unwrap();
        let Value::Map(m) = v else { panic!() };
        let keys: Vec<String> = m.iter().map(|(k, _)| k.to_string()).collect();
        assert_eq!(keys, vec!["z", "a", "1", "[p, q]"]);
        assert_eq!(m[1].1.to_string(), "[x, {k: v}]");
    }

    #[test]
    fn empty_and_comment_only_texts_are_null() {
        assert_eq!(parse("").unwrap(), Value::Null);
        assert_eq!(parse("# only a comment\n").unwrap(), Value::Null);
    }

    #[test]
    fn tags_are_looked_through_and_aliases_resolved() {
        let v = parse("a: !custom b\nc: &x [1]\nd: *x\n").unwrap();
        assert_eq!(v.get("a"), Some(&s("b")));
        assert_eq!(v.get("d"), Some(&Value::Seq(vec![Value::Int(1)])));
    }

    #[test]
    fn hostile_and_broken_texts_are_errors() {
        for bad in [
            "a: [1, 2\n",
            "a: 1\na: 2\n",
            "a: !!int x\n",
            "a: 1\n---\nb: 2\n",
            "a: *nowhere\n",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        // Deep nesting is refused before saphyr builds a tree (flow nesting past 255 also
        // by saphyr's scanner).
        for deep in [
            "- ".repeat(100_000) + "x",
            "{a: ".repeat(200),
            "[".repeat(100_000),
        ] {
            assert!(parse(&deep).is_err(), "{}", &deep[..10]);
        }
        let e = parse(&("- ".repeat(100_000) + "x")).unwrap_err();
        assert!(e.contains("nested deeper than 128"), "{e}");
        // A billion laughs: saphyr's alias budget stops the expansion.
        let mut laughs = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let (p, n) = ((b'a' + i - 1) as char, (b'a' + i) as char);
            laughs.push_str(&format!(
                "{n}: &{n} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
            ));
        }
        assert!(parse(&laughs).is_err());
        // Aliases nest a tree deeper than its text: refused while converting.
        let mut chain = String::from("a0: &a0 [x]\n");
        for i in 1..200 {
            chain.push_str(&format!("a{i}: &a{i} [*a{}]\n", i - 1));
        }
        let e = parse(&chain).unwrap_err();
        assert!(e.contains("nested deeper than 128"), "{e}");
        // Ordinary nesting is well within the bound.
        let ok = "network:\n  ethernets:\n    ens3:\n      match: {macaddress: 'fa:16'}\n      routes:\n        - to: default\n          via: 10.0.0.1\n";
        assert!(parse(ok).is_ok());
    }
}
