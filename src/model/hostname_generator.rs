//! HostnameGenerator (`pkg/core/resources/apis/hostnamegenerator/`): generates the
//! hostnames of MeshServices, MeshExternalServices and MeshMultiZoneServices from a
//! Go text/template (reference §6.4).
//!
//! The template language is a small subset of Go's `text/template`, the part Kuma's
//! templates use: literal text, `{{ .DisplayName }}`, `{{ .Name }}`,
//! `{{ .Namespace }}`, `{{ .Zone }}`, `{{ .Mesh }}`, `{{ label "key" }}` (also as
//! `{{ "key" | label }}`), string literals, comments and the `{{-`/`-}}` trim
//! markers. The lexer follows Go's, so a template Go rejects gets Go's message.
//! Other Go constructs (`if`, `range`, variables, `printf`, ...) parse in Kuma but
//! meshc cannot evaluate them: they are reported as such.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::findings::codes;
use crate::model::common::{StringMap, is_dns1123_subdomain};
use crate::model::mesh_external_service::Extension;
use crate::model::mesh_multi_zone_service::LabelSelector;
use crate::model::{KindSpec, ValidateCtx};
use crate::validate::violations::{Path, Violations, msg};

/// HostnameGenerator spec.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct HostnameGenerator {
    /// The services this generator gives hostnames to (exactly one kind).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<Selector>,
    /// Go text/template of the hostname, e.g. `{{ .DisplayName }}.svc.mesh.local`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub template: Option<String>,
    /// Plugin configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension: Option<Extension>,
}

/// The services a HostnameGenerator applies to, by kind and labels.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Selector {
    /// MeshServices with these labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mesh_service: Option<LabelSelector>,
    /// MeshExternalServices with these labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mesh_external_service: Option<LabelSelector>,
    /// MeshMultiZoneServices with these labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mesh_multi_zone_service: Option<LabelSelector>,
}

impl KindSpec for HostnameGenerator {
    fn validate(&self, _ctx: &ValidateCtx, v: &mut Violations) {
        let root = Path::root();
        let count = self
            .selector
            .as_ref()
            .map(|s| {
                [s.mesh_service.is_some(), s.mesh_external_service.is_some(), s.mesh_multi_zone_service.is_some()]
                    .into_iter()
                    .filter(|b| *b)
                    .count()
            })
            .unwrap_or(0);
        if count != 1 {
            v.add(&root.field("selector"), "exact one selector (meshService, meshExternalService) must be defined");
        }
        validate_template(v, &root.field("template"), self.template.as_deref().unwrap_or_default());
        if let Some(ext) = &self.extension
            && ext.type_.as_deref().unwrap_or_default().is_empty()
        {
            v.add_code(codes::KUMA_REQUIRED, &root.field("extension").field("type"), msg::MUST_NOT_BE_EMPTY);
        }
    }
}

/// Kuma's template rules (must not be empty, must parse), then meshc's: the
/// template must be one meshc can evaluate, and render, with sample values, to a
/// DNS-1123 subdomain.
fn validate_template(v: &mut Violations, path: &Path, template: &str) {
    if template.is_empty() {
        v.add_code(codes::KUMA_REQUIRED, path, msg::MUST_NOT_BE_EMPTY);
        return;
    }
    let nodes = match parse(template) {
        Ok(nodes) => nodes,
        Err(Fail::Parse(e)) => return v.add(path, format!("couldn't parse template: {e}")),
        Err(Fail::Unsupported(e)) => return v.add_code(codes::BAD_FORMAT, path, e),
    };
    let sample = TemplateData {
        display_name: "display-name".into(),
        name: "name".into(),
        namespace: "namespace".into(),
        zone: "zone".into(),
        mesh: "mesh".into(),
        labels: StringMap::new(),
    };
    match execute(template, &nodes, &sample, true) {
        Err(e) => v.add_code(codes::BAD_FORMAT, path, format!("template cannot be evaluated: {e}")),
        Ok(out) if !is_dns1123_subdomain(&out) => {
            v.add_code(codes::BAD_ADDRESS, path, format!("template renders to {out:?} which is not a valid DNS name"))
        }
        Ok(_) => {}
    }
}

/// The values a hostname template can use (Kuma's `EvaluateTemplate`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TemplateData {
    /// `.DisplayName`: the `kuma.io/display-name` label, else the name.
    pub display_name: String,
    /// `.Name`: the Kubernetes object name, or the core name.
    pub name: String,
    /// `.Namespace`: the `k8s.kuma.io/namespace` label.
    pub namespace: String,
    /// `.Zone`: the `kuma.io/zone` label.
    pub zone: String,
    /// `.Mesh`: the mesh of the service.
    pub mesh: String,
    /// The service's labels, for `label "key"`.
    pub labels: StringMap,
}

/// Render a hostname template as Kuma does. Errors are Go's messages where Go
/// has one (`template: :1: ...`), or say which construct meshc cannot evaluate.
pub fn render(template: &str, data: &TemplateData) -> Result<String, String> {
    let nodes = parse(template).map_err(|f| match f {
        Fail::Parse(e) => format!("failed compiling gotemplate error={e:?}"),
        Fail::Unsupported(e) => e,
    })?;
    execute(template, &nodes, data, false)
}

// ---- lexer (a transcription of Go's text/template/parse/lex.go) ----------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum It {
    Text,
    LeftDelim,
    RightDelim,
    Space,
    Field,
    Identifier,
    Str,
    RawStr,
    Pipe,
    Dot,
    Variable,
    Number,
    Bool,
    CharConst,
    Char,
    Keyword,
    Nil,
    LeftParen,
    RightParen,
    Assign,
    Declare,
    Error,
    Eof,
}

#[derive(Debug, Clone)]
struct Item {
    typ: It,
    val: String,
    pos: usize,
    line: usize,
}

impl Item {
    /// Go's `item.String()`, used in "unexpected X" messages.
    fn describe(&self) -> String {
        match self.typ {
            It::Eof => "EOF".into(),
            It::Error => self.val.clone(),
            It::Keyword | It::Nil => format!("<{}>", self.val),
            _ if self.val.chars().count() > 10 => {
                let short: String = self.val.chars().take(10).collect();
                format!("{short:?}...")
            }
            _ => format!("{:?}", self.val),
        }
    }
}

const LEFT: &str = "{{";
const RIGHT: &str = "}}";
const KEYWORDS: &[&str] = &["block", "break", "continue", "define", "else", "end", "if", "range", "template", "with"];

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

fn has_left_trim(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0] == b'-' && is_space(b[1] as char)
}

fn has_right_trim(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && is_space(b[0] as char) && b[1] == b'-'
}

/// Go's `%#U`.
fn go_u(c: char) -> String {
    if c.is_control() || (c.is_whitespace() && c != ' ') {
        format!("U+{:04X}", c as u32)
    } else {
        format!("U+{:04X} '{c}'", c as u32)
    }
}

enum State {
    Text,
    LeftDelim,
    Comment,
    RightDelim,
    Inside,
    Done,
}

struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    start: usize,
    paren_depth: i32,
    items: Vec<Item>,
}

impl Lexer<'_> {
    fn line_at(&self, pos: usize) -> usize {
        1 + self.input[..pos].matches('\n').count()
    }

    fn emit(&mut self, typ: It) {
        let val = self.input[self.start..self.pos].to_string();
        self.items.push(Item { typ, val, pos: self.start, line: self.line_at(self.start) });
        self.start = self.pos;
    }

    fn error(&mut self, message: String) -> State {
        self.items.push(Item { typ: It::Error, val: message, pos: self.start, line: self.line_at(self.start) });
        State::Done
    }

    fn peek(&self) -> Option<char> {
        self.input[self.pos..].chars().next()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn backup(&mut self, c: Option<char>) {
        if let Some(c) = c {
            self.pos -= c.len_utf8();
        }
    }

    fn rest(&self) -> &str {
        &self.input[self.pos..]
    }

    fn at_right_delim(&self) -> (bool, bool) {
        if has_right_trim(self.rest()) && self.rest()[2..].starts_with(RIGHT) {
            return (true, true);
        }
        (self.rest().starts_with(RIGHT), false)
    }

    fn at_terminator(&self) -> bool {
        match self.peek() {
            None => true,
            Some(c) if is_space(c) || matches!(c, '.' | ',' | '|' | ':' | ')' | '(') => true,
            _ => self.rest().starts_with(RIGHT),
        }
    }

    fn text(&mut self) -> State {
        if let Some(x) = self.rest().find(LEFT) {
            if x > 0 {
                self.pos += x;
                let mut trim = 0;
                if has_left_trim(&self.input[self.pos + LEFT.len()..]) {
                    let before = &self.input[self.start..self.pos];
                    trim = before.len() - before.trim_end_matches(is_space).len();
                }
                self.pos -= trim;
                if self.pos > self.start {
                    self.emit(It::Text);
                }
                self.pos += trim;
                self.start = self.pos;
            }
            return State::LeftDelim;
        }
        self.pos = self.input.len();
        if self.pos > self.start {
            self.emit(It::Text);
        }
        self.emit(It::Eof);
        State::Done
    }

    fn left_delim(&mut self) -> State {
        self.pos += LEFT.len();
        let trim = has_left_trim(self.rest());
        let after = if trim { 2 } else { 0 };
        if self.rest()[after..].starts_with("/*") {
            self.pos += after;
            self.start = self.pos;
            return State::Comment;
        }
        self.emit(It::LeftDelim);
        self.pos += after;
        self.start = self.pos;
        self.paren_depth = 0;
        State::Inside
    }

    fn comment(&mut self) -> State {
        self.pos += 2;
        let Some(x) = self.rest().find("*/") else { return self.error("unclosed comment".into()) };
        self.pos += x + 2;
        let (delim, trim) = self.at_right_delim();
        if !delim {
            return self.error("comment ends before closing delimiter".into());
        }
        if trim {
            self.pos += 2;
        }
        self.pos += RIGHT.len();
        if trim {
            self.pos += self.rest().len() - self.rest().trim_start_matches(is_space).len();
        }
        self.start = self.pos;
        State::Text
    }

    fn right_delim(&mut self) -> State {
        let (_, trim) = self.at_right_delim();
        if trim {
            self.pos += 2;
            self.start = self.pos;
        }
        self.pos += RIGHT.len();
        self.emit(It::RightDelim);
        if trim {
            self.pos += self.rest().len() - self.rest().trim_start_matches(is_space).len();
            self.start = self.pos;
        }
        State::Text
    }

    fn inside(&mut self) -> State {
        let (delim, _) = self.at_right_delim();
        if delim {
            if self.paren_depth == 0 {
                return State::RightDelim;
            }
            return self.error("unclosed left paren".into());
        }
        let Some(c) = self.next() else { return self.error("unclosed action".into()) };
        match c {
            c if is_space(c) => {
                self.backup(Some(c));
                return self.space();
            }
            '=' => self.emit(It::Assign),
            ':' => {
                if self.next() != Some('=') {
                    return self.error("expected :=".into());
                }
                self.emit(It::Declare);
            }
            '|' => self.emit(It::Pipe),
            '"' => return self.quote(),
            '`' => return self.raw_quote(),
            '$' => return self.field_or_variable(It::Variable),
            '\'' => return self.char_constant(),
            '.' if self.peek().is_some_and(|n| !n.is_ascii_digit()) => return self.field_or_variable(It::Field),
            '.' | '+' | '-' | '0'..='9' => {
                self.backup(Some(c));
                return self.number();
            }
            c if is_alnum(c) => {
                self.backup(Some(c));
                return self.identifier();
            }
            '(' => {
                self.paren_depth += 1;
                self.emit(It::LeftParen);
            }
            ')' => {
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    return self.error("unexpected right paren".into());
                }
                self.emit(It::RightParen);
            }
            c if c.is_ascii() && !c.is_ascii_control() => self.emit(It::Char),
            c => return self.error(format!("unrecognized character in action: {}", go_u(c))),
        }
        State::Inside
    }

    fn space(&mut self) -> State {
        let mut n = 0;
        while self.peek().is_some_and(is_space) {
            self.next();
            n += 1;
        }
        if has_right_trim(&self.input[self.pos - 1..]) && self.input[self.pos + 1..].starts_with(RIGHT) {
            self.pos -= 1;
            if n == 1 {
                return State::RightDelim;
            }
        }
        self.emit(It::Space);
        State::Inside
    }

    fn quote(&mut self) -> State {
        loop {
            match self.next() {
                Some('\\') => match self.next() {
                    None | Some('\n') => return self.error("unterminated quoted string".into()),
                    Some(_) => {}
                },
                None | Some('\n') => return self.error("unterminated quoted string".into()),
                Some('"') => break,
                Some(_) => {}
            }
        }
        self.emit(It::Str);
        State::Inside
    }

    fn raw_quote(&mut self) -> State {
        loop {
            match self.next() {
                None => return self.error("unterminated raw quoted string".into()),
                Some('`') => break,
                Some(_) => {}
            }
        }
        self.emit(It::RawStr);
        State::Inside
    }

    fn char_constant(&mut self) -> State {
        loop {
            match self.next() {
                Some('\\') => match self.next() {
                    None | Some('\n') => return self.error("unterminated character constant".into()),
                    Some(_) => {}
                },
                None | Some('\n') => return self.error("unterminated character constant".into()),
                Some('\'') => break,
                Some(_) => {}
            }
        }
        self.emit(It::CharConst);
        State::Inside
    }

    fn field_or_variable(&mut self, typ: It) -> State {
        if self.at_terminator() {
            self.emit(if typ == It::Variable { It::Variable } else { It::Dot });
            return State::Inside;
        }
        let mut stop = None;
        while let Some(c) = self.next() {
            if !is_alnum(c) {
                self.backup(Some(c));
                stop = Some(c);
                break;
            }
        }
        if !self.at_terminator() {
            let c = stop.unwrap_or_default();
            return self.error(format!("bad character {}", go_u(c)));
        }
        self.emit(typ);
        State::Inside
    }

    fn identifier(&mut self) -> State {
        let mut stop = None;
        while let Some(c) = self.next() {
            if !is_alnum(c) {
                self.backup(Some(c));
                stop = Some(c);
                break;
            }
        }
        if !self.at_terminator() {
            let c = stop.unwrap_or_default();
            return self.error(format!("bad character {}", go_u(c)));
        }
        let word = &self.input[self.start..self.pos];
        let typ = match word {
            "nil" => It::Nil,
            "true" | "false" => It::Bool,
            w if KEYWORDS.contains(&w) => It::Keyword,
            _ => It::Identifier,
        };
        self.emit(typ);
        State::Inside
    }

    /// Numbers are not evaluated by meshc; this only delimits them like Go does.
    fn number(&mut self) -> State {
        if matches!(self.peek(), Some('+' | '-')) {
            self.next();
        }
        let digits_start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_')) {
            self.next();
        }
        if self.pos == digits_start || !self.at_terminator() {
            while self.peek().is_some_and(is_alnum) {
                self.next();
            }
            let text = self.input[self.start..self.pos].to_string();
            return self.error(format!("bad number syntax: {text:?}"));
        }
        self.emit(It::Number);
        State::Inside
    }
}

fn lex(input: &str) -> Vec<Item> {
    let mut l = Lexer { input, pos: 0, start: 0, paren_depth: 0, items: Vec::new() };
    let mut state = State::Text;
    loop {
        state = match state {
            State::Text => l.text(),
            State::LeftDelim => l.left_delim(),
            State::Comment => l.comment(),
            State::RightDelim => l.right_delim(),
            State::Inside => l.inside(),
            State::Done => break,
        };
    }
    l.items
}

// ---- parser (the subset of Go's parse.go that meshc evaluates) ------------------

enum Fail {
    /// Go's parse error (`template: :1: ...`), which Kuma reports.
    Parse(String),
    /// Valid Go, but not something meshc evaluates.
    Unsupported(String),
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Vec<Cmd>),
}

#[derive(Debug, Clone)]
struct Cmd {
    args: Vec<Arg>,
}

#[derive(Debug, Clone)]
enum Arg {
    /// `.A.B`: the field names.
    Field {
        names: Vec<String>,
        pos: usize,
    },
    Str(String),
    /// A function call by name (only `label`).
    Func {
        name: String,
        pos: usize,
    },
}

/// Functions a Kuma hostname template may call: Go's builtins parse, `label` is Kuma's.
const GO_BUILTINS: &[&str] = &[
    "and", "call", "html", "index", "slice", "js", "len", "not", "or", "print", "printf", "println", "urlquery", "eq",
    "ge", "gt", "le", "lt", "ne",
];

const SUPPORTED: &str = "meshc evaluates literal text, {{ .DisplayName }}, {{ .Name }}, {{ .Namespace }}, \
                         {{ .Zone }}, {{ .Mesh }} and {{ label \"key\" }}";

struct Parser {
    items: Vec<Item>,
    i: usize,
    action_line: usize,
}

impl Parser {
    fn next(&mut self) -> Item {
        let it = self.items[self.i.min(self.items.len() - 1)].clone();
        self.i += 1;
        it
    }

    fn backup(&mut self) {
        self.i -= 1;
    }

    fn next_non_space(&mut self) -> Item {
        loop {
            let it = self.next();
            if it.typ != It::Space {
                return it;
            }
        }
    }

    fn peek_non_space(&mut self) -> Item {
        let it = self.next_non_space();
        self.backup();
        it
    }

    fn error(&self, line: usize, message: impl std::fmt::Display) -> Fail {
        Fail::Parse(format!("template: :{line}: {message}"))
    }

    /// Go's `unexpected`: a lexer error as is, anything else as "unexpected X in ctx".
    fn unexpected(&self, item: &Item, context: &str) -> Fail {
        if item.typ == It::Error {
            let extra = if self.action_line != 0 && self.action_line != item.line {
                format!(" in action started at :{}", self.action_line)
            } else {
                String::new()
            };
            return self.error(item.line, format!("{}{extra}", item.val));
        }
        self.error(item.line, format!("unexpected {} in {context}", item.describe()))
    }

    fn unsupported(&self, what: impl std::fmt::Display) -> Fail {
        Fail::Unsupported(format!("meshc cannot evaluate this template: {what} is not supported ({SUPPORTED})"))
    }

    fn parse(&mut self) -> Result<Vec<Node>, Fail> {
        let mut nodes = Vec::new();
        loop {
            let it = self.next();
            match it.typ {
                It::Eof => return Ok(nodes),
                It::Text => nodes.push(Node::Text(it.val)),
                It::LeftDelim => {
                    self.action_line = it.line;
                    nodes.push(self.action()?);
                    self.action_line = 0;
                }
                _ => return Err(self.unexpected(&it, "input")),
            }
        }
    }

    fn action(&mut self) -> Result<Node, Fail> {
        let it = self.next_non_space();
        if it.typ == It::Keyword {
            if it.val == "end" || it.val == "else" {
                return Err(self.error(it.line, format!("unexpected {{{{{}}}}}", it.val)));
            }
            return Err(self.unsupported(format!("{{{{{}}}}}", it.val)));
        }
        self.backup();
        self.pipeline().map(Node::Action)
    }

    fn pipeline(&mut self) -> Result<Vec<Cmd>, Fail> {
        let first = self.peek_non_space();
        if first.typ == It::Variable {
            return Err(self.variable(&first));
        }
        let mut cmds = Vec::new();
        loop {
            let it = self.next_non_space();
            match it.typ {
                It::RightDelim => {
                    if cmds.is_empty() {
                        return Err(self.error(it.line, "missing value for command"));
                    }
                    for (i, c) in cmds.iter().enumerate().skip(1) {
                        let c: &Cmd = c;
                        if matches!(c.args.first(), Some(Arg::Str(_))) {
                            return Err(
                                self.error(it.line, format!("non executable command in pipeline stage {}", i + 1))
                            );
                        }
                    }
                    return Ok(cmds);
                }
                It::Bool
                | It::CharConst
                | It::Dot
                | It::Field
                | It::Identifier
                | It::Number
                | It::Nil
                | It::RawStr
                | It::Str
                | It::Variable
                | It::LeftParen => {
                    self.backup();
                    cmds.push(self.command()?);
                }
                _ => return Err(self.unexpected(&it, "command")),
            }
        }
    }

    fn command(&mut self) -> Result<Cmd, Fail> {
        let start = self.peek_non_space();
        let mut args = Vec::new();
        loop {
            self.peek_non_space();
            if let Some(arg) = self.operand()? {
                args.push(arg);
            }
            let it = self.next();
            match it.typ {
                It::Space => continue,
                It::RightDelim | It::RightParen => self.backup(),
                It::Pipe => {}
                _ => return Err(self.unexpected(&it, "operand")),
            }
            break;
        }
        if args.is_empty() {
            return Err(self.error(start.line, "empty command"));
        }
        Ok(Cmd { args })
    }

    fn operand(&mut self) -> Result<Option<Arg>, Fail> {
        let Some(mut arg) = self.term()? else { return Ok(None) };
        if self.items.get(self.i).is_some_and(|it| it.typ == It::Field) {
            let Arg::Field { names, .. } = &mut arg else {
                return Err(self.unsupported("a field of a non-field value"));
            };
            while self.items.get(self.i).is_some_and(|it| it.typ == It::Field) {
                let it = self.next();
                names.push(it.val[1..].to_string());
            }
        }
        Ok(Some(arg))
    }

    fn term(&mut self) -> Result<Option<Arg>, Fail> {
        let it = self.next_non_space();
        match it.typ {
            It::Identifier => {
                if it.val == "label" {
                    return Ok(Some(Arg::Func { name: it.val, pos: it.pos }));
                }
                if GO_BUILTINS.contains(&it.val.as_str()) {
                    return Err(self.unsupported(format!("the function {:?}", it.val)));
                }
                Err(self.error(it.line, format!("function {:?} not defined", it.val)))
            }
            It::Field => Ok(Some(Arg::Field { names: vec![it.val[1..].to_string()], pos: it.pos })),
            It::Str | It::RawStr => match go_unquote(&it.val) {
                Some(s) => Ok(Some(Arg::Str(s))),
                None => Err(self.error(it.line, "invalid syntax")),
            },
            It::Variable => Err(self.variable(&it)),
            It::Dot => Err(self.unsupported("{{ . }}")),
            It::Nil | It::Bool | It::Number | It::CharConst => Err(self.unsupported(format!("the literal {}", it.val))),
            It::LeftParen => Err(self.unsupported("a parenthesized pipeline")),
            _ => {
                self.backup();
                Ok(None)
            }
        }
    }

    fn variable(&self, it: &Item) -> Fail {
        if it.val == "$" {
            self.unsupported("the variable $")
        } else {
            self.error(it.line, format!("undefined variable {:?}", it.val))
        }
    }
}

/// Go's `strconv.Unquote` for a double-quoted or raw string literal.
fn go_unquote(lit: &str) -> Option<String> {
    if let Some(raw) = lit.strip_prefix('`') {
        return Some(raw.strip_suffix('`')?.replace('\r', ""));
    }
    let body = lit.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = chars.next()?;
        let hex = |chars: &mut std::str::Chars, n: usize| -> Option<u32> {
            let s: String = chars.by_ref().take(n).collect();
            if s.len() != n {
                return None;
            }
            u32::from_str_radix(&s, 16).ok()
        };
        match e {
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\u{b}'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            'x' => out.push(char::from_u32(hex(&mut chars, 2)?)?),
            'u' => out.push(char::from_u32(hex(&mut chars, 4)?)?),
            'U' => out.push(char::from_u32(hex(&mut chars, 8)?)?),
            '0'..='7' => {
                let rest: String = chars.by_ref().take(2).collect();
                let v = u32::from_str_radix(&format!("{e}{rest}"), 8).ok().filter(|v| *v <= 255)?;
                out.push(char::from_u32(v)?);
            }
            _ => return None,
        }
    }
    Some(out)
}

fn parse(template: &str) -> Result<Vec<Node>, Fail> {
    let items = lex(template);
    Parser { items, i: 0, action_line: 0 }.parse()
}

// ---- execution ---------------------------------------------------------------------

/// Go's error position: `:line:byte-in-line`.
fn exec_error(template: &str, pos: usize, at: &str, message: &str) -> String {
    let before = &template[..pos];
    let line = 1 + before.matches('\n').count();
    let col = before.rfind('\n').map(|n| pos - n - 1).unwrap_or(pos);
    format!("template: :{line}:{col}: executing \"\" at <{at}>: {message}")
}

fn execute(template: &str, nodes: &[Node], data: &TemplateData, stub_labels: bool) -> Result<String, String> {
    let mut out = String::new();
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Action(cmds) => {
                let mut last: Option<String> = None;
                for cmd in cmds {
                    last = Some(eval_command(template, cmd, last, data, stub_labels)?);
                }
                out.push_str(&last.unwrap_or_default());
            }
        }
    }
    Ok(out)
}

fn field_value<'a>(data: &'a TemplateData, name: &str) -> Option<&'a str> {
    Some(match name {
        "DisplayName" => &data.display_name,
        "Name" => &data.name,
        "Namespace" => &data.namespace,
        "Mesh" => &data.mesh,
        "Zone" => &data.zone,
        _ => return None,
    })
}

fn eval_field(template: &str, names: &[String], pos: usize, data: &TemplateData) -> Result<String, String> {
    let at = names.iter().map(|n| format!(".{n}")).collect::<String>();
    let Some(value) = field_value(data, &names[0]) else {
        let m = format!("can't evaluate field {} in type hostname.meshedName", names[0]);
        return Err(exec_error(template, pos, &at, &m));
    };
    if let Some(next) = names.get(1) {
        return Err(exec_error(template, pos, &at, &format!("can't evaluate field {next} in type string")));
    }
    Ok(value.to_string())
}

fn eval_command(
    template: &str,
    cmd: &Cmd,
    piped: Option<String>,
    data: &TemplateData,
    stub_labels: bool,
) -> Result<String, String> {
    let has_args = cmd.args.len() > 1 || piped.is_some();
    match &cmd.args[0] {
        Arg::Field { names, pos } => {
            if has_args {
                let at = names.iter().map(|n| format!(".{n}")).collect::<String>();
                let m = format!("{} has arguments but cannot be invoked as function", names[0]);
                return Err(exec_error(template, *pos, &at, &m));
            }
            eval_field(template, names, *pos, data)
        }
        Arg::Str(s) => {
            if has_args {
                return Err(format!("template: :1: executing \"\": can't give argument to non-function {s:?}"));
            }
            Ok(s.clone())
        }
        Arg::Func { name, pos } => {
            let mut args = Vec::new();
            for a in &cmd.args[1..] {
                args.push(match a {
                    Arg::Str(s) => s.clone(),
                    Arg::Field { names, pos } => eval_field(template, names, *pos, data)?,
                    Arg::Func { name, pos } => {
                        let m = format!("wrong number of args for {name}: want 1 got 0");
                        return Err(exec_error(template, *pos, name, &m));
                    }
                });
            }
            args.extend(piped);
            if args.len() != 1 {
                let m = format!("wrong number of args for {name}: want 1 got {}", args.len());
                return Err(exec_error(template, *pos, name, &m));
            }
            let key = &args[0];
            match data.labels.get(key) {
                Some(v) => Ok(v.clone()),
                None if stub_labels => Ok("label".to_string()),
                None => Err(exec_error(template, *pos, name, &format!("error calling {name}: label {key} not found"))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::model::testing::meta;
    use crate::model::{Kind, PolicyRole};

    fn check(spec: Value) -> Vec<(String, String)> {
        crate::model::testing::check::<HostnameGenerator>(
            &meta(Kind::HostnameGenerator, "hg"),
            PolicyRole::System,
            spec,
        )
    }

    fn one(field: &str, message: &str) -> Vec<(String, String)> {
        vec![(field.to_string(), message.to_string())]
    }

    fn data() -> TemplateData {
        let mut labels = StringMap::new();
        labels.insert("statefulset.kubernetes.io/pod-name".into(), "redis-0".into());
        labels.insert("k8s.kuma.io/service-name".into(), "redis".into());
        TemplateData {
            display_name: "redis".into(),
            name: "redis".into(),
            namespace: "kuma-demo".into(),
            zone: "zone-1".into(),
            mesh: "default".into(),
            labels,
        }
    }

    #[test]
    fn kuma_error_cases() {
        assert_eq!(
            check(json!({"template": "{{ .Name[4 }}.mesh", "selector": {"meshService": {}}})),
            one("spec.template", "couldn't parse template: template: :1: bad character U+005B '['")
        );
        assert_eq!(
            check(json!({"template": "", "selector": {"meshService": {}}})),
            one("spec.template", "must not be empty")
        );
        assert_eq!(
            check(json!({"template": "{{ .Name }}.mesh"})),
            one("spec.selector", "exact one selector (meshService, meshExternalService) must be defined")
        );
        assert_eq!(
            check(
                json!({"template": "{{ .Name }}.mesh", "selector": {"meshService": {}}, "extension": {"config": {}}})
            ),
            one("spec.extension.type", "must not be empty")
        );
        assert_eq!(
            check(json!({"template": "{{ .Name }}.mesh", "selector": {"meshService": {}, "meshExternalService": {}}})),
            one("spec.selector", "exact one selector (meshService, meshExternalService) must be defined")
        );
    }

    #[test]
    fn kuma_valid_cases() {
        assert!(check(json!({"template": "{{ .Name }}.mesh", "selector": {"meshService": {}}})).is_empty());
        assert!(check(json!({"template": "{{ .Name }}.mesh", "selector": {"meshMultiZoneService": {}}})).is_empty());
        let headless = "{{ label \"statefulset.kubernetes.io/pod-name\" }}.{{ label \"k8s.kuma.io/service-name\" }}.{{ .Namespace }}.svc.{{ .Zone }}.mesh.local";
        assert!(
            check(json!({"template": headless, "selector": {"meshService": {"matchLabels": {"a": "b"}}}})).is_empty()
        );
    }

    #[test]
    fn go_parse_errors() {
        let cases = [
            ("{{ .Name", "template: :1: unclosed action"),
            ("{{ label \"x }}", "template: :1: unterminated quoted string"),
            ("{{ foo }}.mesh", "template: :1: function \"foo\" not defined"),
            ("{{ }}.mesh", "template: :1: missing value for command"),
            ("{{ end }}", "template: :1: unexpected {{end}}"),
            ("{{ $x }}", "template: :1: undefined variable \"$x\""),
            ("a\n{{ .Name ^ }}", "template: :2: unexpected \"^\" in operand"),
            ("{{ .Name | \"x\" }}", "template: :1: non executable command in pipeline stage 2"),
            ("{{ .Zone }.mesh.local", "template: :1: unexpected \"}\" in operand"),
        ];
        for (t, want) in cases {
            match parse(t) {
                Err(Fail::Parse(got)) => assert_eq!(got, want, "{t}"),
                _ => panic!("{t}: expected a parse error"),
            }
        }
    }

    #[test]
    fn unsupported_and_unknown() {
        let got = check(json!({"template": "{{ if .Zone }}x{{ end }}.mesh", "selector": {"meshService": {}}}));
        assert_eq!(got.len(), 1);
        assert!(got[0].1.starts_with("meshc cannot evaluate this template: {{if}} is not supported"), "{got:?}");
        assert_eq!(
            check(json!({"template": "{{ .Foo }}.mesh", "selector": {"meshService": {}}})),
            one(
                "spec.template",
                "template cannot be evaluated: template: :1:3: executing \"\" at <.Foo>: can't evaluate field Foo in type hostname.meshedName"
            )
        );
        assert_eq!(
            check(json!({"template": "{{ .Name }}_{{ .Zone }}.Mesh", "selector": {"meshService": {}}})),
            one("spec.template", "template renders to \"name_zone.Mesh\" which is not a valid DNS name")
        );
    }

    #[test]
    fn rendering() {
        let d = data();
        assert_eq!(render("{{ .DisplayName }}.svc.{{ .Zone }}.mesh.local", &d).unwrap(), "redis.svc.zone-1.mesh.local");
        assert_eq!(render("{{.Name}}.{{.Namespace}}.{{.Mesh}}", &d).unwrap(), "redis.kuma-demo.default");
        assert_eq!(
            render(
                "{{ label \"statefulset.kubernetes.io/pod-name\" }}.{{ label `k8s.kuma.io/service-name` }}.{{ .Namespace }}.svc.{{ .Zone }}.mesh.local",
                &d
            )
            .unwrap(),
            "redis-0.redis.kuma-demo.svc.zone-1.mesh.local"
        );
        assert_eq!(render("{{ \"k8s.kuma.io/service-name\" | label }}", &d).unwrap(), "redis");
        assert_eq!(render("plain.host", &d).unwrap(), "plain.host");
        assert_eq!(render("{{/* comment */}}a.b", &d).unwrap(), "a.b");
        assert_eq!(
            render("{{ label \"missing\" }}", &d).unwrap_err(),
            "template: :1:3: executing \"\" at <label>: error calling label: label missing not found"
        );
        assert!(render("{{ .Name[4 }}", &d).unwrap_err().contains("bad character U+005B '['"));
    }

    #[test]
    fn trim_markers() {
        let d = data();
        assert_eq!(render("a  {{- .Name -}}  .b", &d).unwrap(), "aredis.b");
        assert_eq!(render("a {{- .Name}} .b", &d).unwrap(), "aredis .b");
        assert_eq!(render("a {{.Name -}}\n .b", &d).unwrap(), "a redis.b");
        assert_eq!(render("a {{- /* c */ -}} b", &d).unwrap(), "ab");
        // `{{-3}}` is not a trim marker but a number, which meshc does not evaluate.
        assert!(render("{{-3}}", &d).is_err());
    }
}
