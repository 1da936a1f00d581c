//! A small concrete syntax tree over YAML text: block mappings and sequences as
//! trees, everything else (scalars, flow collections, block scalars) as the exact
//! text it was written as, and every comment attached to the entry or item it
//! belongs to. This is what lets `meshc fmt` reorder keys and re-indent without
//! losing comments or quoting: it never re-emits a value from a data model.
//!
//! Structure comes from saphyr-parser events (with spans); comments come from the
//! text between the spans, which holds nothing but indentation, `-` and `:`
//! indicators, document markers and comments. Anything else found there (anchors
//! and tags on collections, explicit `?` keys, directives) makes the document
//! [`Doc::unsupported`]: it is then left exactly as written.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// Trivia kept before an entry or item: a comment line, or one blank line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trivia {
    Blank,
    /// The comment text, starting at `#`, trailing whitespace removed.
    Comment(String),
}

/// A node: a block mapping or sequence, or a leaf kept as written.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Map(Vec<Entry>),
    Seq(Vec<Item>),
    Leaf(Leaf),
}

/// A scalar or flow collection as written, possibly over several lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    /// The original text (for block scalars, from the `|`/`>` header on).
    pub text: String,
    /// Indentation of the entry or item holding it in the original; continuation
    /// lines are shifted by the change of that indentation.
    pub parent_indent: usize,
    /// A block scalar (`|`, `>`): it must end its line.
    pub block: bool,
}

impl Leaf {
    /// A single-line leaf made up by the formatter (a filled-in default).
    pub fn new(text: String) -> Leaf {
        Leaf { text, parent_indent: 0, block: false }
    }
}

/// A block mapping entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub before: Vec<Trivia>,
    /// The key as written (quotes included).
    pub key_text: String,
    /// The key's value.
    pub key: String,
    pub value: Node,
    /// A comment at the end of the entry's first line (after the key of a
    /// collection, after a one-line value).
    pub eol: Option<String>,
}

/// A block sequence item.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub before: Vec<Trivia>,
    pub value: Node,
    pub eol: Option<String>,
}

/// One document of a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Doc {
    /// Lines before the `---` marker (comments, directives), as written.
    pub preamble: Vec<String>,
    /// Byte range of the whole document in the file text, markers and comments
    /// included: the documents' ranges cover the text exactly.
    pub range: std::ops::Range<usize>,
    /// The `---` line, as written (it may carry a comment).
    pub start_marker: Option<String>,
    /// The `...` line, as written.
    pub end_marker: Option<String>,
    /// Comments before the content (the document header).
    pub header: Vec<Trivia>,
    pub root: Option<Node>,
    /// Comments after the content.
    pub trailer: Vec<Trivia>,
    /// Lines after the `...` marker (comments), as written.
    pub postamble: Vec<String>,
    /// Why this document must be left as written, if it must.
    pub unsupported: Option<String>,
}

/// Parse `text` into documents. `Err` when the text does not parse as YAML (the
/// file is then left as written).
pub fn parse(text: &str, max_depth: usize) -> Result<Vec<Doc>, String> {
    let events = collect_events(text)?;
    let offsets = CharOffsets::new(text);
    // Split the event stream into documents.
    let mut docs = Vec::new();
    let mut i = 0;
    while i < events.len() {
        match &events[i].0 {
            Event::DocumentStart(explicit) => {
                let start = i;
                let explicit = *explicit;
                while i < events.len() && !matches!(events[i].0, Event::DocumentEnd) {
                    i += 1;
                }
                docs.push((start, i.min(events.len() - 1), explicit));
            }
            _ => i += 1,
        }
    }
    // Document ranges: each document starts where its `---` line starts (or,
    // implicit, where the previous one ended) and ends where the next starts.
    let mut starts = Vec::new();
    for (n, (s, _, explicit)) in docs.iter().enumerate() {
        let pos = if n == 0 {
            0
        } else if *explicit {
            line_start(text, offsets.byte(events[*s].1.start.index()))
        } else {
            // After an explicit `...`: the line after it.
            let prev_end = &events[docs[n - 1].1];
            next_line(text, offsets.byte(prev_end.1.end.index()))
        };
        starts.push(pos);
    }
    let mut out = Vec::new();
    for (n, (s, e, explicit)) in docs.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(text.len());
        let range = starts[n]..end.max(starts[n]);
        let mut builder = DocBuilder {
            text,
            offsets: &offsets,
            events: &events[*s..=*e],
            at: 1,
            ids: 0,
            anchors: Vec::new(),
            owners: HashMap::new(),
            covered: Vec::new(),
            max_depth,
            unsupported: None,
        };
        out.push(builder.build(range, *explicit));
    }
    Ok(out)
}

type Spanned<'a> = (Event<'a>, Span);

fn collect_events(text: &str) -> Result<Vec<Spanned<'_>>, String> {
    let mut parser = Parser::new_from_str(text);
    let mut events = Vec::new();
    while let Some(next) = parser.next_event() {
        events.push(next.map_err(|e| e.info().to_string())?);
    }
    Ok(events)
}

/// saphyr positions count characters; slicing needs bytes.
struct CharOffsets {
    /// Byte offset of each char index, or empty when the text is ASCII.
    bytes: Vec<usize>,
    len: usize,
}

impl CharOffsets {
    fn new(text: &str) -> Self {
        let bytes = if text.is_ascii() { Vec::new() } else { text.char_indices().map(|(b, _)| b).collect() };
        CharOffsets { bytes, len: text.len() }
    }
    fn byte(&self, char_index: usize) -> usize {
        if self.bytes.is_empty() {
            char_index.min(self.len)
        } else {
            self.bytes.get(char_index).copied().unwrap_or(self.len)
        }
    }
}

fn line_start(text: &str, at: usize) -> usize {
    text[..at.min(text.len())].rfind('\n').map(|i| i + 1).unwrap_or(0)
}

fn next_line(text: &str, at: usize) -> usize {
    let at = at.min(text.len());
    text[at..].find('\n').map(|i| at + i + 1).unwrap_or(text.len())
}

fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())].iter().filter(|b| **b == b'\n').count()
}

fn column_of(text: &str, at: usize) -> usize {
    text[line_start(text, at)..at.min(text.len())].chars().count()
}

/// Builds one document's tree. Entries and items get ids; comments found in the
/// gaps are attached by id afterwards.
struct DocBuilder<'a> {
    text: &'a str,
    offsets: &'a CharOffsets,
    events: &'a [Spanned<'a>],
    at: usize,
    ids: usize,
    /// (byte position where own-line comments before it end, id) of every entry and item.
    anchors: Vec<(usize, usize)>,
    /// Line -> the entry or item whose key or leaf ends last on it.
    owners: HashMap<usize, usize>,
    /// Byte ranges of keys and leaves: no comment is looked for inside them.
    covered: Vec<(usize, usize)>,
    max_depth: usize,
    unsupported: Option<String>,
}

/// Tree under construction: children carry ids for comment attachment.
enum Raw {
    Map(Vec<(usize, String, String, Raw)>),
    Seq(Vec<(usize, Raw)>),
    Leaf(Leaf),
}

impl DocBuilder<'_> {
    fn fail(&mut self, why: impl Into<String>) {
        if self.unsupported.is_none() {
            self.unsupported = Some(why.into());
        }
    }

    fn byte(&self, span_pos: saphyr_parser::Marker) -> usize {
        self.offsets.byte(span_pos.index())
    }

    fn build(&mut self, range: std::ops::Range<usize>, explicit: bool) -> Doc {
        let text = self.text;
        let mut doc = Doc {
            preamble: Vec::new(),
            range: range.clone(),
            start_marker: None,
            end_marker: None,
            header: Vec::new(),
            root: None,
            trailer: Vec::new(),
            postamble: Vec::new(),
            unsupported: None,
        };
        // Markers: the `---` line and a `...` line.
        let mut body_start = range.start;
        if explicit {
            let s = self.byte(self.events[0].1.start);
            let line_end = next_line(text, s);
            doc.start_marker = Some(text[line_start(text, s)..line_end].trim_end().to_string());
            if !text[line_start(text, s)..s].trim().is_empty() {
                self.fail("text before the `---` marker");
            }
            let pre = &text[range.start..line_start(text, s).max(range.start)];
            doc.preamble = pre.lines().map(|l| l.trim_end().to_string()).collect();
            while doc.preamble.last().is_some_and(|l| l.is_empty()) {
                doc.preamble.pop();
            }
            if doc.preamble.iter().any(|l| !(l.is_empty() || l.starts_with('#') || l.starts_with('%'))) {
                self.fail("text before the `---` marker");
            }
            body_start = line_end;
        }
        let mut body_end = range.end;
        if let Some((Event::DocumentEnd, span)) = self.events.last() {
            let (s, e) = (self.byte(span.start), self.byte(span.end));
            if &text[s..e.min(text.len())] == "..." {
                let after = next_line(text, s);
                doc.end_marker = Some(text[s..after].trim_end().to_string());
                body_end = line_start(text, s);
                let post = &text[after.min(range.end)..range.end];
                doc.postamble = post.lines().map(|l| l.trim_end().to_string()).collect();
                while doc.postamble.last().is_some_and(|l| l.is_empty()) {
                    doc.postamble.pop();
                }
                if doc.postamble.iter().any(|l| !(l.is_empty() || l.trim_start().starts_with('#'))) {
                    self.fail("text after the `...` marker");
                }
            }
        }
        let root = if self.at < self.events.len() && !matches!(self.events[self.at].0, Event::DocumentEnd) {
            let start = self.byte(self.events[self.at].1.start);
            let r = self.node(0, start);
            Some(r)
        } else {
            None
        };
        let root = match root {
            // An empty document (`---` then only comments).
            Some(Raw::Leaf(l)) if l.text.is_empty() => None,
            Some(Raw::Leaf(_)) => {
                self.fail("a scalar or a flow collection (JSON) as the whole document");
                None
            }
            other => other,
        };
        // The document's own `---` line content (e.g. `--- {a: 1}`) is not supported.
        if body_start > body_end {
            self.fail("content on the document marker line");
        }
        let (before, eol, trailer) = self.comments(body_start.min(body_end), body_end);
        if let Some(why) = self.unsupported.take() {
            doc.unsupported = Some(why);
            return doc;
        }
        doc.trailer = trailer;
        let mut attach = Attach { before, eol };
        let root = root.map(|r| attach.node(r));
        // Comments before the first root entry are the document header.
        if let Some(Node::Map(entries)) = &root
            && let Some(first) = entries.first()
        {
            doc.header = first.before.clone();
        }
        doc.root = root.map(|mut r| {
            if let Node::Map(entries) = &mut r
                && let Some(first) = entries.first_mut()
            {
                first.before.clear();
            }
            r
        });
        while doc.header.first() == Some(&Trivia::Blank) {
            doc.header.remove(0);
        }
        doc
    }

    fn next_id(&mut self) -> usize {
        self.ids += 1;
        self.ids
    }

    /// Build the node at the current event. `indicator_end`: where the text after
    /// the `:` or `-` (or the document start) begins, for block scalar headers.
    fn node(&mut self, depth: usize, indicator_end: usize) -> Raw {
        if depth > self.max_depth {
            self.fail("nesting too deep");
        }
        let Some((event, span)) = self.events.get(self.at).cloned() else {
            self.fail("unexpected end of document");
            return Raw::Leaf(Leaf::new(String::new()));
        };
        self.at += 1;
        let start = self.byte(span.start);
        let end = self.byte(span.end);
        match event {
            Event::Scalar(_, style, anchor, _) => {
                if anchor != 0 {
                    self.fail("an anchor");
                }
                if matches!(style, ScalarStyle::Literal | ScalarStyle::Folded) {
                    let header_start = skip_spaces(self.text, indicator_end);
                    let content_end = header_start.max(trim_end_at(self.text, end));
                    let leaf_text = &self.text[header_start..content_end];
                    let header = leaf_text.lines().next().unwrap_or_default();
                    if header.split('#').next().unwrap_or_default().contains('+') {
                        self.fail("a block scalar with keep chomping (`+`)");
                    }
                    self.covered.push((header_start, content_end));
                    return Raw::Leaf(Leaf { text: leaf_text.to_string(), parent_indent: 0, block: true });
                }
                self.covered.push((start, end));
                Raw::Leaf(Leaf { text: self.text[start..end].to_string(), parent_indent: 0, block: false })
            }
            Event::Alias(_) => {
                self.fail("an alias");
                Raw::Leaf(Leaf::new(String::new()))
            }
            Event::MappingStart(anchor, tag) | Event::SequenceStart(anchor, tag) => {
                if anchor != 0 {
                    self.fail("an anchor");
                }
                if tag.is_some() {
                    self.fail("a tag on a collection");
                }
                let is_map = matches!(self.events[self.at - 1].0, Event::MappingStart(..));
                if start != end {
                    // A flow collection: its whole text is one leaf.
                    let mut level = 1;
                    let mut last = end;
                    while level > 0 {
                        let Some((ev, sp)) = self.events.get(self.at).cloned() else {
                            self.fail("unterminated flow collection");
                            break;
                        };
                        self.at += 1;
                        match ev {
                            Event::MappingStart(a, t) | Event::SequenceStart(a, t) => {
                                level += 1;
                                if a != 0 || t.is_some() {
                                    self.fail("an anchor or tag in a flow collection");
                                }
                            }
                            Event::MappingEnd | Event::SequenceEnd => level -= 1,
                            Event::Alias(_) => self.fail("an alias"),
                            Event::Scalar(_, _, a, _) if a != 0 => self.fail("an anchor"),
                            _ => {}
                        }
                        last = self.byte(sp.end);
                    }
                    self.covered.push((start, last));
                    return Raw::Leaf(Leaf {
                        text: self.text[start..last].to_string(),
                        parent_indent: 0,
                        block: false,
                    });
                }
                if is_map { self.map(depth) } else { self.seq(depth) }
            }
            _ => {
                self.fail("unexpected YAML event");
                Raw::Leaf(Leaf::new(String::new()))
            }
        }
    }

    fn map(&mut self, depth: usize) -> Raw {
        let mut entries = Vec::new();
        loop {
            let Some((event, span)) = self.events.get(self.at).cloned() else {
                self.fail("unterminated mapping");
                break;
            };
            if matches!(event, Event::MappingEnd) {
                self.at += 1;
                break;
            }
            let Event::Scalar(key, style, anchor, _) = event else {
                self.fail("a key that is not a scalar");
                self.at += 1;
                return Raw::Map(entries);
            };
            self.at += 1;
            if anchor != 0 {
                self.fail("an anchor");
            }
            let (ks, ke) = (self.byte(span.start), self.byte(span.end));
            let key_text = self.text[ks..ke].to_string();
            if key_text.contains('\n') || matches!(style, ScalarStyle::Literal | ScalarStyle::Folded) || ks == ke {
                self.fail("a multi-line or empty key");
            }
            self.covered.push((ks, ke));
            let id = self.next_id();
            self.anchors.push((ks, id));
            let line = line_of(self.text, ke);
            self.owners.insert(line, id);
            let indent = column_of(self.text, ks);
            // After the key: optional spaces, then `:`.
            let colon = skip_spaces(self.text, ke);
            let after = if self.text[colon..].starts_with(':') { colon + 1 } else { colon };
            let mut value = self.node(depth + 1, after);
            if let Raw::Leaf(leaf) = &mut value {
                leaf.parent_indent = indent;
                if !leaf.text.is_empty() {
                    let end_line = line_of(self.text, ks) + leaf.text.matches('\n').count();
                    // The leaf may start on a later line than the key.
                    let leaf_end_line = self.leaf_end_line(&leaf.text, after);
                    self.owners.insert(leaf_end_line.max(end_line), id);
                }
            }
            entries.push((id, key_text, key.into_owned(), value));
        }
        Raw::Map(entries)
    }

    fn seq(&mut self, depth: usize) -> Raw {
        let mut items = Vec::new();
        loop {
            let Some((event, span)) = self.events.get(self.at).cloned() else {
                self.fail("unterminated sequence");
                break;
            };
            if matches!(event, Event::SequenceEnd) {
                self.at += 1;
                break;
            }
            // The `-` is the last non-blank character before the item's content.
            let content = self.byte(span.start);
            let before = self.text[..content].trim_end_matches([' ', '\t']);
            let dash = if let Some(stripped) = before.strip_suffix('-') {
                stripped.len()
            } else {
                // An empty item (`-` then a newline): the dash is on an earlier line.
                match self.text[..content].rfind('-') {
                    Some(d) => d,
                    None => {
                        self.fail("a sequence item without `-`");
                        content
                    }
                }
            };
            let id = self.next_id();
            self.anchors.push((dash, id));
            self.owners.insert(line_of(self.text, dash), id);
            let indent = column_of(self.text, dash);
            let mut value = self.node(depth + 1, dash + 1);
            if let Raw::Leaf(leaf) = &mut value {
                leaf.parent_indent = indent;
                if !leaf.text.is_empty() {
                    let l = self.leaf_end_line(&leaf.text, dash + 1);
                    self.owners.insert(l, id);
                } else if !matches!(self.text[dash + 1..].chars().next(), None | Some(' ' | '\t' | '\n' | '\r')) {
                    self.fail("an unusual empty item");
                }
            }
            items.push((id, value));
        }
        Raw::Seq(items)
    }

    /// The line a leaf written after `from` ends on.
    fn leaf_end_line(&self, leaf: &str, from: usize) -> usize {
        let start = self.text[from..].find(leaf).map(|i| from + i).unwrap_or(from);
        line_of(self.text, start + leaf.len())
    }

    /// Scan `[from, to)` outside keys and leaves: collect comments and blank lines.
    /// Returns own-line trivia by the id of the entry/item they precede,
    /// end-of-line comments by id, and the trivia after the last node.
    #[allow(clippy::type_complexity)]
    fn comments(
        &mut self,
        from: usize,
        to: usize,
    ) -> (HashMap<usize, Vec<Trivia>>, HashMap<usize, String>, Vec<Trivia>) {
        let text = self.text;
        let mut covered = std::mem::take(&mut self.covered);
        covered.sort();
        let mut anchors = std::mem::take(&mut self.anchors);
        anchors.sort();
        let mut before: HashMap<usize, Vec<Trivia>> = HashMap::new();
        let mut eol: HashMap<usize, String> = HashMap::new();
        let mut pending: Vec<Trivia> = Vec::new();
        let mut next_anchor = 0;
        let mut ci = 0;
        let mut pos = from;
        let mut line_has_content = false;
        let mut blank_run = false;
        let flush = |pending: &mut Vec<Trivia>, before: &mut HashMap<usize, Vec<Trivia>>, id: usize| {
            if !pending.is_empty() {
                before.entry(id).or_default().append(pending);
            }
        };
        while pos < to {
            // Attach pending trivia to every anchor reached.
            while next_anchor < anchors.len() && anchors[next_anchor].0 <= pos {
                flush(&mut pending, &mut before, anchors[next_anchor].1);
                next_anchor += 1;
            }
            if ci < covered.len() && covered[ci].0 <= pos {
                if covered[ci].1 > pos {
                    let end = covered[ci].1;
                    if text[pos..end].contains('\n') {
                        blank_run = false;
                    }
                    pos = end;
                    line_has_content = true;
                }
                ci += 1;
                continue;
            }
            let Some(c) = text[pos..].chars().next() else { break };
            match c {
                '\n' => {
                    if !line_has_content {
                        if !blank_run && (!pending.is_empty() || next_anchor > 0) {
                            pending.push(Trivia::Blank);
                        }
                        blank_run = true;
                    }
                    line_has_content = false;
                    pos += 1;
                }
                ' ' | '\t' | '\r' => pos += 1,
                '-' | ':' => {
                    line_has_content = true;
                    blank_run = false;
                    pos += 1;
                }
                '#' => {
                    let end = text[pos..].find('\n').map(|i| pos + i).unwrap_or(text.len()).min(to.max(pos));
                    let comment = text[pos..end].trim_end().to_string();
                    let line = line_of(text, pos);
                    let owner = if line_has_content { self.owners.get(&line).copied() } else { None };
                    match owner {
                        Some(id) if !eol.contains_key(&id) => {
                            eol.insert(id, comment);
                        }
                        _ => pending.push(Trivia::Comment(comment)),
                    }
                    blank_run = false;
                    line_has_content = true;
                    pos = end;
                }
                other => {
                    self.fail(format!("unexpected `{other}` outside values"));
                    pos += other.len_utf8();
                }
            }
        }
        while next_anchor < anchors.len() {
            flush(&mut pending, &mut before, anchors[next_anchor].1);
            next_anchor += 1;
        }
        while pending.last() == Some(&Trivia::Blank) {
            pending.pop();
        }
        (before, eol, pending)
    }
}

/// Turns the id-keyed tree and comments into the final tree.
struct Attach {
    before: HashMap<usize, Vec<Trivia>>,
    eol: HashMap<usize, String>,
}

impl Attach {
    fn node(&mut self, raw: Raw) -> Node {
        match raw {
            Raw::Leaf(l) => Node::Leaf(l),
            Raw::Map(entries) => Node::Map(
                entries
                    .into_iter()
                    .map(|(id, key_text, key, value)| Entry {
                        before: self.before.remove(&id).unwrap_or_default(),
                        key_text,
                        key,
                        value: self.node(value),
                        eol: self.eol.remove(&id),
                    })
                    .collect(),
            ),
            Raw::Seq(items) => Node::Seq(
                items
                    .into_iter()
                    .map(|(id, value)| Item {
                        before: self.before.remove(&id).unwrap_or_default(),
                        value: self.node(value),
                        eol: self.eol.remove(&id),
                    })
                    .collect(),
            ),
        }
    }
}

fn skip_spaces(text: &str, at: usize) -> usize {
    let at = at.min(text.len());
    at + text[at..].len() - text[at..].trim_start_matches([' ', '\t']).len()
}

/// `at` moved back over trailing whitespace and newlines.
fn trim_end_at(text: &str, at: usize) -> usize {
    text[..at.min(text.len())].trim_end().len()
}
