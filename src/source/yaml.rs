//! YAML 1.2 text -> `serde_json::Value` documents, straight from saphyr-parser events.
//!
//! We build JSON values directly (no intermediate YAML tree) because the happy path
//! never needs a span: findings carry a JSON pointer and only the renderer asks for a
//! line and column, by re-reading the file with [`SpanIndex`]. The same builder enforces
//! the hostile-input limits (nesting depth, node budget including alias expansion,
//! duplicate keys) so a billion-laughs document costs a bounded amount of work.

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};
use serde_json::{Map, Number, Value};

use super::Limits;

/// A position in the text: 1-based line, 0-based column in characters, char index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
    pub index: usize,
}

impl From<saphyr_parser::Marker> for Pos {
    fn from(m: saphyr_parser::Marker) -> Self {
        Pos { line: m.line(), col: m.col(), index: m.index() }
    }
}

/// A problem found while reading YAML, before any resource is looked at.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlProblem {
    pub kind: YamlProblemKind,
    pub pos: Pos,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YamlProblemKind {
    Syntax,
    TooDeep,
    TooManyNodes,
    DuplicateKey,
    UnsupportedKey,
}

/// One YAML document of a file.
#[derive(Debug, Clone)]
pub struct RawDocument {
    /// Zero-based index of the document in its file.
    pub index: usize,
    /// Where the document's content starts (for findings about the whole document).
    pub start: Pos,
    /// `None` for an empty document (`---` followed by nothing).
    pub value: Option<Value>,
}

/// Everything read from one file: its documents, and the problems that stopped or
/// spoiled some of them. A syntax error ends the file: documents before it are kept.
#[derive(Debug, Default)]
pub struct ParsedYaml {
    pub documents: Vec<RawDocument>,
    pub problems: Vec<YamlProblem>,
}

/// Parse every document of `text`.
pub fn parse(text: &str, limits: &Limits) -> ParsedYaml {
    let mut builder = Builder::new(limits, None);
    builder.run(text);
    builder.out
}

/// Spans of the node at a JSON pointer: the key (when the node is a mapping value)
/// and the value itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeSpan {
    pub key: Option<(Pos, Pos)>,
    pub value: (Pos, Pos),
}

/// Every node of a file by (document, JSON pointer). Built only when findings need
/// line and column, one pass per file however many findings it has.
#[derive(Debug, Default)]
pub struct SpanIndex {
    nodes: HashMap<(usize, String), NodeSpan>,
}

impl SpanIndex {
    pub fn build(text: &str, limits: &Limits) -> SpanIndex {
        let mut builder = Builder::new(limits, Some(SpanIndex::default()));
        builder.run(text);
        builder.index.unwrap_or_default()
    }

    /// The node at `pointer`, or its deepest existing ancestor, so a finding about a
    /// missing field lands on the mapping that should hold it.
    pub fn lookup(&self, doc: usize, pointer: &str) -> Option<NodeSpan> {
        let mut p = pointer;
        loop {
            if let Some(span) = self.nodes.get(&(doc, p.to_string())) {
                return Some(*span);
            }
            if p.is_empty() {
                return None;
            }
            p = &p[..p.rfind('/').unwrap_or(0)];
        }
    }
}

enum Frame {
    Seq {
        items: Vec<Value>,
        anchor: usize,
        start: Pos,
    },
    Map {
        map: Map<String, Value>,
        merges: Vec<Value>,
        pending_key: Option<(String, Pos, Pos)>,
        anchor: usize,
        start: Pos,
    },
}

struct Builder<'l> {
    limits: &'l Limits,
    out: ParsedYaml,
    stack: Vec<Frame>,
    /// Values of anchors seen in the current document, with their node counts.
    anchors: HashMap<usize, (Value, usize)>,
    nodes: usize,
    doc_index: usize,
    doc_start: Pos,
    doc_failed: bool,
    /// Pointer of the node being built (segments), kept only when locating.
    index: Option<SpanIndex>,
    /// Nodes built since each open container started (for anchors on containers).
    counts: Vec<usize>,
}

impl<'l> Builder<'l> {
    fn new(limits: &'l Limits, index: Option<SpanIndex>) -> Self {
        Builder {
            limits,
            out: ParsedYaml::default(),
            stack: Vec::new(),
            anchors: HashMap::new(),
            nodes: 0,
            doc_index: 0,
            doc_start: Pos::default(),
            doc_failed: false,
            index,
            counts: Vec::new(),
        }
    }

    fn run(&mut self, text: &str) {
        let mut parser = Parser::new_from_str(text);
        let mut in_doc = false;
        let mut root: Option<Value> = None;
        while let Some(next) = parser.next_event() {
            let (event, span) = match next {
                Ok(ev) => ev,
                Err(err) if err.info().contains("recursion limit") => {
                    let msg = format!("nesting is deeper than the YAML parser's limit ({})", err.info());
                    self.problem(YamlProblemKind::TooDeep, (*err.marker()).into(), msg);
                    return;
                }
                Err(err) => {
                    self.problem(YamlProblemKind::Syntax, (*err.marker()).into(), err.info().to_string());
                    return;
                }
            };
            match event {
                Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
                Event::DocumentStart(_) => {
                    in_doc = true;
                    root = None;
                    self.stack.clear();
                    self.counts.clear();
                    self.anchors.clear();
                    self.nodes = 0;
                    self.doc_failed = false;
                    self.doc_start = span.start.into();
                }
                Event::DocumentEnd => {
                    if in_doc {
                        let value = if self.doc_failed { None } else { root.take() };
                        if !self.doc_failed || self.index.is_some() {
                            self.out.documents.push(RawDocument {
                                index: self.doc_index,
                                start: self.doc_start,
                                value,
                            });
                        }
                        self.doc_index += 1;
                    }
                    in_doc = false;
                }
                _ if self.doc_failed => {}
                Event::Alias(id) => {
                    let Some(count) = self.anchors.get(&id).map(|(_, c)| *c) else {
                        self.problem(YamlProblemKind::Syntax, span.start.into(), "unknown anchor".into());
                        continue;
                    };
                    // Count before copying: an alias bomb must never be materialized.
                    if !self.count(count, span) {
                        continue;
                    }
                    let value = self.anchors[&id].0.clone();
                    self.push_value(value, span, &mut root);
                }
                Event::Scalar(text, style, anchor, tag) => {
                    if !self.count(1, span) {
                        continue;
                    }
                    let is_key = matches!(self.stack.last(), Some(Frame::Map { pending_key: None, .. }));
                    let value = if is_key {
                        Value::String(text.into_owned())
                    } else {
                        resolve_scalar(text, style, tag.as_deref())
                    };
                    if anchor != 0 {
                        self.anchors.insert(anchor, (value.clone(), 1));
                    }
                    self.push_value(value, span, &mut root);
                }
                Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                    if !self.count(1, span) {
                        continue;
                    }
                    if self.stack.len() >= self.limits.max_depth {
                        self.problem(
                            YamlProblemKind::TooDeep,
                            span.start.into(),
                            format!(
                                "nesting is deeper than the limit of {} levels (--max-depth)",
                                self.limits.max_depth
                            ),
                        );
                        self.doc_failed = true;
                        continue;
                    }
                    if let Some(Frame::Map { pending_key: None, .. }) = self.stack.last() {
                        self.problem(
                            YamlProblemKind::UnsupportedKey,
                            span.start.into(),
                            "a mapping or sequence used as a mapping key is not supported".into(),
                        );
                        self.doc_failed = true;
                        continue;
                    }
                    self.counts.push(self.nodes);
                    let start: Pos = span.start.into();
                    self.stack.push(if matches!(event, Event::SequenceStart(..)) {
                        Frame::Seq { items: Vec::new(), anchor, start }
                    } else {
                        Frame::Map { map: Map::new(), merges: Vec::new(), pending_key: None, anchor, start }
                    });
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let frame = self.stack.pop().expect("balanced events");
                    let before = self.counts.pop().unwrap_or(0);
                    let (value, anchor, start) = match frame {
                        Frame::Seq { items, anchor, start } => (Value::Array(items), anchor, start),
                        Frame::Map { mut map, merges, anchor, start, .. } => {
                            apply_merge_keys(&mut map, merges);
                            (Value::Object(map), anchor, start)
                        }
                    };
                    if anchor != 0 {
                        self.anchors.insert(anchor, (value.clone(), self.nodes - before + 1));
                    }
                    let whole = Span::new(saphyr_parser::Marker::new(start.index, start.line, start.col), span.end);
                    self.push_value(value, whole, &mut root);
                }
            }
        }
    }

    /// Account for `n` new nodes; false (and the document dropped) past the budget.
    fn count(&mut self, n: usize, span: Span) -> bool {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > self.limits.max_nodes {
            self.problem(
                YamlProblemKind::TooManyNodes,
                span.start.into(),
                format!(
                    "document expands to more than {} nodes (--max-nodes); aliases are counted each time they are used",
                    self.limits.max_nodes
                ),
            );
            self.doc_failed = true;
            return false;
        }
        true
    }

    fn problem(&mut self, kind: YamlProblemKind, pos: Pos, message: String) {
        if self.index.is_none() {
            self.out.problems.push(YamlProblem { kind, pos, message });
        }
    }

    /// Attach a finished value to its parent (or make it the document root).
    fn push_value(&mut self, value: Value, span: Span, root: &mut Option<Value>) {
        let span_pos: (Pos, Pos) = (span.start.into(), span.end.into());
        match self.stack.last_mut() {
            None => {
                self.record(&[], None, span_pos);
                *root = Some(value);
            }
            Some(Frame::Seq { items, .. }) => {
                let idx = items.len();
                if self.index.is_some() {
                    let mut p = self.path_of_stack();
                    p.push(idx.to_string());
                    self.record(&p, None, span_pos);
                }
                if let Some(Frame::Seq { items, .. }) = self.stack.last_mut() {
                    items.push(value);
                }
            }
            Some(Frame::Map { pending_key, .. }) if pending_key.is_none() => {
                let key = match value {
                    Value::String(s) => s,
                    Value::Null => "null".to_string(),
                    other => other.to_string(),
                };
                *pending_key = Some((key, span_pos.0, span_pos.1));
            }
            Some(Frame::Map { map, merges, pending_key, .. }) => {
                let (key, kstart, kend) = pending_key.take().expect("checked above");
                if key == "<<" {
                    merges.push(value);
                    return;
                }
                if map.contains_key(&key) {
                    let msg = format!("duplicate mapping key `{key}`");
                    self.problem(YamlProblemKind::DuplicateKey, kstart, msg);
                    self.doc_failed = true;
                    return;
                }
                map.insert(key.clone(), value);
                if self.index.is_some() {
                    let mut p = self.path_of_stack();
                    p.push(key);
                    self.record(&p, Some((kstart, kend)), span_pos);
                }
            }
        }
    }

    /// Pointer segments of the innermost open container (used only when locating).
    fn path_of_stack(&self) -> Vec<String> {
        let mut out = Vec::with_capacity(self.stack.len());
        for i in 1..self.stack.len() {
            match &self.stack[i - 1] {
                Frame::Seq { items, .. } => out.push(items.len().to_string()),
                Frame::Map { pending_key, .. } => {
                    out.push(pending_key.as_ref().map(|k| k.0.clone()).unwrap_or_default())
                }
            }
        }
        out
    }

    fn record(&mut self, segments: &[String], key: Option<(Pos, Pos)>, value: (Pos, Pos)) {
        let doc = self.doc_index;
        let Some(index) = self.index.as_mut() else { return };
        let mut pointer = String::new();
        for seg in segments {
            pointer.push('/');
            pointer.push_str(&seg.replace('~', "~0").replace('/', "~1"));
        }
        index.nodes.insert((doc, pointer), NodeSpan { key, value });
    }
}

/// Split an RFC 6901 pointer into unescaped segments.
pub fn pointer_segments(pointer: &str) -> Vec<String> {
    if pointer.is_empty() {
        return Vec::new();
    }
    pointer.trim_start_matches('/').split('/').map(|s| s.replace("~1", "/").replace("~0", "~")).collect()
}

fn apply_merge_keys(map: &mut Map<String, Value>, merges: Vec<Value>) {
    for merge in merges {
        let sources = match merge {
            Value::Array(items) => items,
            other => vec![other],
        };
        for source in sources {
            if let Value::Object(src) = source {
                for (k, v) in src {
                    map.entry(k).or_insert(v);
                }
            }
        }
    }
}

/// Resolve a scalar by the YAML 1.2 core schema (plain scalars only; quoted ones
/// are strings), honouring the core `!!str`, `!!int`, `!!float`, `!!bool`, `!!null` tags.
fn resolve_scalar(text: Cow<'_, str>, style: ScalarStyle, tag: Option<&Tag>) -> Value {
    if let Some(tag) = tag.filter(|t| t.is_yaml_core_schema()) {
        return match tag.suffix.as_str() {
            "str" => Value::String(text.into_owned()),
            "null" => Value::Null,
            "bool" => parse_bool(&text).map(Value::Bool).unwrap_or(Value::String(text.into_owned())),
            "int" | "float" => parse_number(&text).unwrap_or(Value::String(text.into_owned())),
            _ => Value::String(text.into_owned()),
        };
    }
    if style != ScalarStyle::Plain {
        return Value::String(text.into_owned());
    }
    match text.as_ref() {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        _ => {}
    }
    if let Some(b) = parse_bool(&text) {
        return Value::Bool(b);
    }
    parse_number(&text).unwrap_or(Value::String(text.into_owned()))
}

fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

fn parse_number(s: &str) -> Option<Value> {
    let first = s.as_bytes().first()?;
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return None;
    }
    if let Some(hex) = s.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok().map(Value::from);
    }
    if let Some(oct) = s.strip_prefix("0o") {
        return i64::from_str_radix(oct, 8).ok().map(Value::from);
    }
    let is_int = {
        let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    };
    if is_int {
        if let Ok(i) = s.parse::<i64>() {
            return Some(Value::from(i));
        }
        if let Ok(u) = s.parse::<u64>() {
            return Some(Value::from(u));
        }
    }
    match s {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF" | ".nan" | ".NaN"
        | ".NAN" => return None, // not representable in JSON: keep the text
        _ => {}
    }
    let float_like = s.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && s.bytes().any(|b| b.is_ascii_digit());
    if float_like && let Ok(f) = s.parse::<f64>() {
        return Number::from_f64(f).map(Value::Number);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(text: &str) -> Value {
        let parsed = parse(text, &Limits::default());
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
        parsed.documents[0].value.clone().unwrap()
    }

    #[test]
    fn core_schema_scalars() {
        let v = one("a: yes\nb: true\nc: 0755\nd: '1'\ne: ~\nf: 1.5\ng: 0x10\nh: 1e3\n");
        assert_eq!(v, json!({"a":"yes","b":true,"c":755,"d":"1","e":null,"f":1.5,"g":16,"h":1000.0}));
    }

    #[test]
    fn multi_document_and_empty() {
        let parsed = parse("a: 1\n---\n---\nb: 2\n", &Limits::default());
        assert_eq!(parsed.documents.len(), 3);
        assert_eq!(parsed.documents[1].value, Some(Value::Null));
        assert_eq!(parsed.documents[2].value, Some(json!({"b": 2})));
    }

    #[test]
    fn duplicate_keys_are_reported() {
        let parsed = parse("a: 1\na: 2\n", &Limits::default());
        assert_eq!(parsed.problems[0].kind, YamlProblemKind::DuplicateKey);
        assert_eq!(parsed.problems[0].pos.line, 2);
    }

    #[test]
    fn alias_bomb_hits_node_budget() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let parsed = parse(&text, &Limits::default());
        assert_eq!(parsed.problems[0].kind, YamlProblemKind::TooManyNodes);
    }

    #[test]
    fn merge_keys() {
        let v = one("base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  y: 3\n");
        assert_eq!(v["d"], json!({"x":1,"y":3}));
    }

    #[test]
    fn locate_keys_and_values() {
        let text = "a: 1\nspec:\n  to:\n    - targetRef:\n        kind: Mesh\n---\nb: [1, 2]\n";
        let index = SpanIndex::build(text, &Limits::default());
        let s = index.lookup(0, "/spec/to/0/targetRef/kind").unwrap();
        assert_eq!(s.key.unwrap().0.line, 5);
        assert_eq!(s.key.unwrap().0.col, 8);
        let s = index.lookup(1, "/b/1").unwrap();
        assert_eq!((s.value.0.line, s.value.0.col), (7, 7));
        // Missing child: the deepest existing ancestor.
        let s = index.lookup(0, "/spec/to/0/targetRef/name").unwrap();
        assert_eq!(s.value.0.line, 5);
    }
}
