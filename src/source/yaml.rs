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
    /// More documents than `--max-documents`: the rest of the file is not read.
    TooManyDocuments,
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

/// Keys whose values are secrets or certificates (Kuma DataSources and friends).
/// Their spans are collected so that nothing shows them.
pub const SECRET_KEYS: &[&str] =
    &["inline", "inlineString", "inlineBytes", "privateKey", "key", "clientKey", "cert", "caCert", "clientCert"];

/// Spans of the nodes a report needs, found in one pass over a file. Only the
/// wanted pointers (and their ancestors) are tracked, as a trie walked alongside
/// the parser, so the cost is linear in the file whatever its keys look like.
/// The same pass collects the spans of secret values ([`SECRET_KEYS`]).
#[derive(Debug, Default)]
pub struct SpanIndex {
    /// Per document: trie nodes, the root first.
    docs: HashMap<usize, Vec<TrieNode>>,
    secrets: Vec<(Pos, Pos)>,
}

#[derive(Debug, Default)]
struct TrieNode {
    children: HashMap<String, usize>,
    span: Option<NodeSpan>,
}

impl SpanIndex {
    /// Index `text` for the wanted (document, pointer) pairs.
    pub fn build<'p>(text: &str, limits: &Limits, wanted: impl IntoIterator<Item = (usize, &'p str)>) -> SpanIndex {
        let mut index = SpanIndex::default();
        for (doc, pointer) in wanted {
            let nodes = index.docs.entry(doc).or_insert_with(|| vec![TrieNode::default()]);
            let mut at = 0;
            for seg in pointer_segments(pointer) {
                let next = nodes.len();
                at = *nodes[at].children.entry(seg).or_insert(next);
                if at == next {
                    nodes.push(TrieNode::default());
                }
            }
        }
        let mut builder = Builder::new(limits, Some(index));
        builder.run(text);
        builder.index.unwrap_or_default()
    }

    /// The node at `pointer`, or its deepest existing ancestor, so a finding about a
    /// missing field lands on the mapping that should hold it.
    pub fn lookup(&self, doc: usize, pointer: &str) -> Option<NodeSpan> {
        let nodes = self.docs.get(&doc)?;
        let mut at = 0;
        let mut best = nodes[0].span;
        for seg in pointer_segments(pointer) {
            match nodes[at].children.get(&seg) {
                Some(&next) => at = next,
                None => break,
            }
            best = nodes[at].span.or(best);
        }
        best
    }

    /// Spans of secret values, to be masked wherever source text is shown.
    pub fn secrets(&self) -> &[(Pos, Pos)] {
        &self.secrets
    }
}

enum Frame {
    Seq {
        items: Vec<Value>,
        anchor: usize,
        start: Pos,
        at: Located,
    },
    Map {
        map: Map<String, Value>,
        merges: Vec<Value>,
        pending_key: Option<(String, Pos, Pos)>,
        anchor: usize,
        start: Pos,
        at: Located,
    },
}

/// Where a node sits for the span index: its trie node, if wanted, and whether it
/// is (inside) a secret value.
#[derive(Debug, Clone, Copy, Default)]
struct Located {
    trie: Option<usize>,
    secret: bool,
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
    /// Set when locating spans instead of building documents.
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
                    // Span indexing (`index`) re-reads what parsing kept, whatever the limits were.
                    if self.doc_index >= self.limits.max_documents && self.index.is_none() {
                        let msg = format!(
                            "more than {} documents in this file (--max-documents); the rest were not read",
                            self.limits.max_documents
                        );
                        self.problem(YamlProblemKind::TooManyDocuments, span.start.into(), msg);
                        return;
                    }
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
                        // An anchor of another document, or of the node being defined.
                        let msg = "alias to an anchor that is not defined before it in this document".into();
                        self.problem(YamlProblemKind::Syntax, span.start.into(), msg);
                        self.doc_failed = true;
                        continue;
                    };
                    // Count before copying: an alias bomb must never be materialized.
                    if !self.count(count, span) {
                        continue;
                    }
                    let value = self.anchors[&id].0.clone();
                    let is_key = matches!(self.stack.last(), Some(Frame::Map { pending_key: None, .. }));
                    if is_key && (value.is_object() || value.is_array()) {
                        let msg = "a mapping or sequence used as a mapping key is not supported".into();
                        self.problem(YamlProblemKind::UnsupportedKey, span.start.into(), msg);
                        self.doc_failed = true;
                        continue;
                    }
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
                    let at = self.locate_child();
                    self.stack.push(if matches!(event, Event::SequenceStart(..)) {
                        Frame::Seq { items: Vec::new(), anchor, start, at }
                    } else {
                        Frame::Map { map: Map::new(), merges: Vec::new(), pending_key: None, anchor, start, at }
                    });
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let frame = self.stack.pop().expect("balanced events");
                    let before = self.counts.pop().unwrap_or(0);
                    let (value, anchor, start) = match frame {
                        Frame::Seq { items, anchor, start, .. } => (Value::Array(items), anchor, start),
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
        let at = if self.index.is_some() { self.locate_child() } else { Located::default() };
        match self.stack.last_mut() {
            None => {
                self.record(at, None, span_pos);
                *root = Some(value);
            }
            Some(Frame::Seq { items, .. }) => {
                items.push(value);
                self.record(at, None, span_pos);
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
                    let msg = format!("duplicate mapping key {}", crate::findings::excerpt(&key));
                    self.problem(YamlProblemKind::DuplicateKey, kstart, msg);
                    self.doc_failed = true;
                    return;
                }
                map.insert(key, value);
                self.record(at, Some((kstart, kend)), span_pos);
            }
        }
    }

    /// Where the next node attached to the innermost open container sits (its
    /// value position: the pending key of a mapping, the next index of a list).
    fn locate_child(&self) -> Located {
        let Some(index) = self.index.as_ref() else { return Located::default() };
        let trie = index.docs.get(&self.doc_index);
        let Some(parent) = self.stack.last() else {
            return Located { trie: trie.map(|_| 0), secret: false };
        };
        let (at, segment) = match parent {
            Frame::Seq { items, at, .. } => (*at, std::borrow::Cow::Owned(items.len().to_string())),
            Frame::Map { pending_key: Some((key, ..)), at, .. } => (*at, std::borrow::Cow::Borrowed(key.as_str())),
            Frame::Map { .. } => return Located::default(),
        };
        let child = match (trie, at.trie) {
            (Some(nodes), Some(t)) => nodes[t].children.get(segment.as_ref()).copied(),
            _ => None,
        };
        Located { trie: child, secret: at.secret || SECRET_KEYS.contains(&segment.as_ref()) }
    }

    fn record(&mut self, at: Located, key: Option<(Pos, Pos)>, value: (Pos, Pos)) {
        let doc = self.doc_index;
        let Some(index) = self.index.as_mut() else { return };
        if at.secret {
            index.secrets.push(value);
        }
        if let (Some(t), Some(nodes)) = (at.trie, index.docs.get_mut(&doc)) {
            nodes[t].span = Some(NodeSpan { key, value });
        }
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
        let wanted = [(0, "/spec/to/0/targetRef/kind"), (1, "/b/1"), (0, "/spec/to/0/targetRef/name")];
        let index = SpanIndex::build(text, &Limits::default(), wanted);
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
