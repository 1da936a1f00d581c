//! The tree of [`super::cst`] back to text, in the canonical layout: two spaces
//! per mapping level, sequences not indented under their key (`- ` at the key's
//! column, as `kubectl get -o yaml` prints them), one blank line at most between
//! entries, own-line comments at the indentation of what they precede,
//! end-of-line comments after one space, a final newline.

use super::cst::{Doc, Entry, Item, Leaf, Node, Trivia};

/// Render a document (markers and comments included).
pub fn doc(d: &Doc) -> String {
    let mut lines: Vec<String> = d.preamble.clone();
    if let Some(m) = &d.start_marker {
        lines.push(m.clone());
    }
    trivia(&d.header, 0, true, &mut lines);
    match &d.root {
        Some(Node::Map(entries)) => entries_lines(entries, 0, &mut lines),
        Some(Node::Seq(items)) => items_lines(items, 0, &mut lines),
        Some(Node::Leaf(l)) => lines.extend(reindent(l, 0)),
        None => {}
    }
    let trailer_starts_with_blank = d.trailer.first() == Some(&Trivia::Blank);
    trivia(&d.trailer, 0, !trailer_starts_with_blank || d.root.is_none(), &mut lines);
    if let Some(m) = &d.end_marker {
        lines.push(m.clone());
    }
    lines.extend(d.postamble.iter().cloned());
    let mut out = String::new();
    for l in lines {
        out.push_str(&l);
        out.push('\n');
    }
    out
}

fn trivia(ts: &[Trivia], indent: usize, skip_leading_blank: bool, out: &mut Vec<String>) {
    let mut last_blank = skip_leading_blank;
    for t in ts {
        match t {
            Trivia::Blank => {
                if !last_blank {
                    out.push(String::new());
                }
                last_blank = true;
            }
            Trivia::Comment(c) => {
                out.push(format!("{}{c}", spaces(indent)));
                last_blank = false;
            }
        }
    }
}

fn spaces(n: usize) -> String {
    " ".repeat(n)
}

fn with_eol(mut line: String, eol: &Option<String>) -> String {
    if let Some(c) = eol {
        if !line.trim().is_empty() {
            line.push(' ');
        }
        line.push_str(c);
    }
    line
}

fn entries_lines(entries: &[Entry], indent: usize, out: &mut Vec<String>) {
    for (i, e) in entries.iter().enumerate() {
        trivia(&e.before, indent, i == 0, out);
        let head = format!("{}{}:", spaces(indent), e.key_text);
        match &e.value {
            Node::Leaf(l) if l.text.is_empty() => out.push(with_eol(head, &e.eol)),
            Node::Leaf(l) => leaf_after(head, l, indent, &e.eol, out),
            Node::Map(m) => {
                out.push(with_eol(head, &e.eol));
                entries_lines(m, indent + 2, out);
            }
            Node::Seq(s) => {
                out.push(with_eol(head, &e.eol));
                items_lines(s, indent, out);
            }
        }
    }
}

/// `head` followed by a leaf on the same line, its continuation lines re-indented.
fn leaf_after(head: String, l: &Leaf, indent: usize, eol: &Option<String>, out: &mut Vec<String>) {
    let mut lines = reindent(l, indent);
    let first = format!("{head} {}", lines.remove(0));
    if lines.is_empty() {
        out.push(with_eol(first, eol));
        return;
    }
    out.push(first);
    let last = lines.pop().unwrap_or_default();
    out.extend(lines);
    if l.block {
        // Nothing may follow a block scalar's last line on that line.
        out.push(last);
        if let Some(c) = eol {
            out.push(format!("{}{c}", spaces(indent)));
        }
    } else {
        out.push(with_eol(last, eol));
    }
}

fn items_lines(items: &[Item], indent: usize, out: &mut Vec<String>) {
    for (i, it) in items.iter().enumerate() {
        trivia(&it.before, indent, i == 0, out);
        let dash = format!("{}-", spaces(indent));
        match &it.value {
            Node::Leaf(l) if l.text.is_empty() => out.push(with_eol(dash, &it.eol)),
            Node::Leaf(l) => leaf_after(dash, l, indent, &it.eol, out),
            Node::Map(entries) => {
                // The first entry's comments go above the `- ` line; an item comment too.
                let mut hoisted = Vec::new();
                if let Some(c) = &it.eol {
                    hoisted.push(Trivia::Comment(c.clone()));
                }
                let mut entries = entries.clone();
                if let Some(first) = entries.first_mut() {
                    hoisted.extend(std::mem::take(&mut first.before));
                }
                trivia(&hoisted, indent, true, out);
                let mut sub = Vec::new();
                entries_lines(&entries, indent + 2, &mut sub);
                merge_dash(sub, indent, out);
            }
            Node::Seq(inner) => {
                let mut hoisted = Vec::new();
                if let Some(c) = &it.eol {
                    hoisted.push(Trivia::Comment(c.clone()));
                }
                let mut inner = inner.clone();
                if let Some(first) = inner.first_mut() {
                    hoisted.extend(std::mem::take(&mut first.before));
                }
                trivia(&hoisted, indent, true, out);
                let mut sub = Vec::new();
                items_lines(&inner, indent + 2, &mut sub);
                merge_dash(sub, indent, out);
            }
        }
    }
}

/// Put `- ` in front of the first line of an item's block content.
fn merge_dash(mut sub: Vec<String>, indent: usize, out: &mut Vec<String>) {
    if sub.is_empty() {
        out.push(format!("{}-", spaces(indent)));
        return;
    }
    let first = sub.remove(0);
    out.push(format!("{}- {}", spaces(indent), first.trim_start()));
    out.extend(sub);
}

/// A leaf's lines, continuation lines shifted by the change of their parent's
/// indentation (so block scalar content and multi-line flow text keep their
/// shape relative to the key).
fn reindent(l: &Leaf, indent: usize) -> Vec<String> {
    let mut lines = l.text.split('\n').map(|s| s.trim_end_matches('\r').to_string());
    let mut out = vec![lines.next().unwrap_or_default()];
    for line in lines {
        if line.is_empty() || (line.trim().is_empty() && !l.block) {
            out.push(String::new());
            continue;
        }
        let lead = line.len() - line.trim_start_matches(' ').len();
        let shifted = if indent >= l.parent_indent {
            format!("{}{line}", spaces(indent - l.parent_indent))
        } else {
            line[(l.parent_indent - indent).min(lead)..].to_string()
        };
        out.push(shifted);
    }
    out
}
