//! `rust-seed-registry`: serves the opsref JSON-lines protocol (`conformance/PROTOCOL.md`,
//! ops_lifecycle calls) on stdin/stdout over a literal port of the seed's
//! `RuntimeOpsLifecycleRegistry` (see `registry.rs`).
//!
//! One request per line `{"call": NAME, "args": {...}}`, one answer line per request,
//! flushed before the next read. End of input → exit 0. Diagnostics go to stderr.
//!
//! Command line: `--bug feed-inclusive`, `--bug feed-capacity-8` (deliberately broken
//! variants); anything else → exit 2.

mod registry;

use std::io::{self, BufRead, Write};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use registry::{
    OperationCompletionWatch, OperationId, OperationKind, OperationLifecycleSnapshot,
    OperationResult, OperationSpec, OpsLifecycleConfig, OpsLifecycleError, PortVariant, RunId,
    RuntimeOpsLifecycleRegistry, WaitAllFutureBox,
};

// ===========================================================================
// A small JSON value, parser and printer
// ===========================================================================

#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    /// The number's literal text (validated against the JSON grammar).
    Num(String),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn uint(n: u64) -> Json {
        Json::Num(n.to_string())
    }

    fn str(s: &str) -> Json {
        Json::Str(s.to_string())
    }

    fn obj(fields: Vec<(&str, Json)>) -> Json {
        Json::Obj(fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }
}

struct Parser<'a> {
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn parse(text: &'a str) -> Result<Json, String> {
        let mut p = Parser {
            bytes: text.as_bytes(),
            pos: 0,
            depth: 0,
        };
        p.ws();
        let v = p.value()?;
        p.ws();
        if p.pos != p.bytes.len() {
            return Err(format!("trailing characters at byte {}", p.pos));
        }
        Ok(v)
    }

    fn ws(&mut self) {
        while self.pos < self.bytes.len() && matches!(self.bytes[self.pos], b' ' | b'\t' | b'\n' | b'\r')
        {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn expect(&mut self, lit: &str) -> Result<(), String> {
        if self.bytes[self.pos..].starts_with(lit.as_bytes()) {
            self.pos += lit.len();
            Ok(())
        } else {
            Err(format!("expected `{lit}` at byte {}", self.pos))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        match self.peek() {
            None => Err("unexpected end of input".into()),
            Some(b'n') => self.expect("null").map(|_| Json::Null),
            Some(b't') => self.expect("true").map(|_| Json::Bool(true)),
            Some(b'f') => self.expect("false").map(|_| Json::Bool(false)),
            Some(b'"') => self.string().map(Json::Str),
            Some(b'[') => {
                self.enter()?;
                self.pos += 1;
                let mut items = Vec::new();
                self.ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                } else {
                    loop {
                        self.ws();
                        items.push(self.value()?);
                        self.ws();
                        match self.peek() {
                            Some(b',') => self.pos += 1,
                            Some(b']') => {
                                self.pos += 1;
                                break;
                            }
                            _ => return Err(format!("expected `,` or `]` at byte {}", self.pos)),
                        }
                    }
                }
                self.depth -= 1;
                Ok(Json::Arr(items))
            }
            Some(b'{') => {
                self.enter()?;
                self.pos += 1;
                let mut fields = Vec::new();
                self.ws();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                } else {
                    loop {
                        self.ws();
                        if self.peek() != Some(b'"') {
                            return Err(format!("expected a key at byte {}", self.pos));
                        }
                        let key = self.string()?;
                        self.ws();
                        self.expect(":")?;
                        self.ws();
                        let v = self.value()?;
                        fields.push((key, v));
                        self.ws();
                        match self.peek() {
                            Some(b',') => self.pos += 1,
                            Some(b'}') => {
                                self.pos += 1;
                                break;
                            }
                            _ => return Err(format!("expected `,` or `}}` at byte {}", self.pos)),
                        }
                    }
                }
                self.depth -= 1;
                Ok(Json::Obj(fields))
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(c) => Err(format!("unexpected character {:?} at byte {}", c as char, self.pos)),
        }
    }

    fn enter(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > 256 {
            Err("nesting too deep".into())
        } else {
            Ok(())
        }
    }

    fn number(&mut self) -> Result<Json, String> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                while matches!(self.peek(), Some(b'0'..=b'9')) {
                    self.pos += 1;
                }
            }
            _ => return Err(format!("bad number at byte {start}")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(format!("bad number at byte {start}"));
            }
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.pos += 1;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(format!("bad number at byte {start}"));
            }
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.pos += 1;
            }
        }
        let text = std::str::from_utf8(&self.bytes[start..self.pos]).map_err(|e| e.to_string())?;
        Ok(Json::Num(text.to_string()))
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = self
                .peek()
                .and_then(|c| (c as char).to_digit(16))
                .ok_or_else(|| format!("bad \\u escape at byte {}", self.pos))?;
            v = v * 16 + d;
            self.pos += 1;
        }
        Ok(v)
    }

    fn string(&mut self) -> Result<String, String> {
        self.pos += 1; // opening quote
        let mut out = String::new();
        loop {
            let start = self.pos;
            while let Some(c) = self.peek() {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            // The input is a &str, and we stopped on ASCII bytes, so this is valid UTF-8.
            out.push_str(std::str::from_utf8(&self.bytes[start..self.pos]).map_err(|e| e.to_string())?);
            match self.peek() {
                None => return Err("unterminated string".into()),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let e = self.peek().ok_or("unterminated escape")?;
                    self.pos += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{08}'),
                        b'f' => out.push('\u{0c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                if !self.bytes[self.pos..].starts_with(b"\\u") {
                                    return Err("lone surrogate in string".into());
                                }
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err("lone surrogate in string".into());
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else if (0xDC00..0xE000).contains(&hi) {
                                return Err("lone surrogate in string".into());
                            } else {
                                hi
                            };
                            out.push(char::from_u32(code).ok_or("bad code point")?);
                        }
                        _ => return Err(format!("bad escape at byte {}", self.pos - 1)),
                    }
                }
                Some(_) => return Err(format!("control character in string at byte {}", self.pos)),
            }
        }
    }
}

fn write_json(v: &Json, out: &mut String) {
    match v {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Num(n) => out.push_str(n),
        Json::Str(s) => out.push_str(&registry::serde_json::to_string(s)),
        Json::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Json::Obj(fields) => {
            out.push('{');
            for (i, (k, v)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&registry::serde_json::to_string(k));
                out.push(':');
                write_json(v, out);
            }
            out.push('}');
        }
    }
}

// ===========================================================================
// Argument checking
// ===========================================================================

type BadRequest = String;

struct Args<'a> {
    fields: &'a [(String, Json)],
}

impl<'a> Args<'a> {
    /// Every name in `names` present exactly once, and nothing else.
    fn exactly(fields: &'a [(String, Json)], names: &[&str]) -> Result<Self, BadRequest> {
        for (i, (k, _)) in fields.iter().enumerate() {
            if !names.contains(&k.as_str()) {
                return Err(format!("unexpected argument `{k}`"));
            }
            if fields[..i].iter().any(|(other, _)| other == k) {
                return Err(format!("duplicate argument `{k}`"));
            }
        }
        for name in names {
            if !fields.iter().any(|(k, _)| k == name) {
                return Err(format!("missing argument `{name}`"));
            }
        }
        Ok(Args { fields })
    }

    fn get(&self, name: &str) -> &'a Json {
        &self
            .fields
            .iter()
            .find(|(k, _)| k == name)
            .expect("checked by Args::exactly")
            .1
    }

    fn string(&self, name: &str) -> Result<String, BadRequest> {
        match self.get(name) {
            Json::Str(s) => Ok(s.clone()),
            _ => Err(format!("argument `{name}` must be a string")),
        }
    }

    fn uint(&self, name: &str) -> Result<u64, BadRequest> {
        json_uint(self.get(name)).ok_or_else(|| format!("argument `{name}` must be an integer >= 0"))
    }

    fn opt_uint(&self, name: &str) -> Result<Option<u64>, BadRequest> {
        match self.get(name) {
            Json::Null => Ok(None),
            v => json_uint(v)
                .map(Some)
                .ok_or_else(|| format!("argument `{name}` must be an integer >= 0 or null")),
        }
    }

    fn kind(&self, name: &str) -> Result<OperationKind, BadRequest> {
        match self.get(name) {
            Json::Str(s) => OperationKind::parse(s)
                .ok_or_else(|| format!("argument `{name}`: unknown kind {s:?}")),
            _ => Err(format!("argument `{name}` must be a kind string")),
        }
    }

    fn strings(&self, name: &str) -> Result<Vec<String>, BadRequest> {
        match self.get(name) {
            Json::Arr(items) => items
                .iter()
                .map(|item| match item {
                    Json::Str(s) => Ok(s.clone()),
                    _ => Err(format!("argument `{name}` must be a list of strings")),
                })
                .collect(),
            _ => Err(format!("argument `{name}` must be a list of strings")),
        }
    }
}

/// A non-negative integer literal (no fraction or exponent).
fn json_uint(v: &Json) -> Option<u64> {
    match v {
        Json::Num(text) if text.bytes().all(|b| b.is_ascii_digit()) => text.parse().ok(),
        _ => None,
    }
}

// ===========================================================================
// Results
// ===========================================================================

fn ok(v: Json) -> Json {
    Json::obj(vec![("ok", v)])
}

fn error_json(e: &OpsLifecycleError) -> Json {
    let fields: Vec<(&str, Json)> = match e {
        OpsLifecycleError::NotFound(id) => vec![("kind", Json::str("not_found")), ("id", Json::str(id))],
        OpsLifecycleError::AlreadyRegistered(id) => {
            vec![("kind", Json::str("already_registered")), ("id", Json::str(id))]
        }
        OpsLifecycleError::MaxConcurrentExceeded { limit, active } => vec![
            ("kind", Json::str("max_concurrent_exceeded")),
            ("limit", Json::uint(*limit as u64)),
            ("active", Json::uint(*active as u64)),
        ],
        OpsLifecycleError::InvalidTransition { id, status, action } => vec![
            ("kind", Json::str("invalid_transition")),
            ("id", Json::str(id)),
            ("status", Json::str(status.as_str())),
            ("action", Json::str(action)),
        ],
        OpsLifecycleError::PeerNotExpected(id) => {
            vec![("kind", Json::str("peer_not_expected")), ("id", Json::str(id))]
        }
        OpsLifecycleError::AlreadyPeerReady(id) => {
            vec![("kind", Json::str("already_peer_ready")), ("id", Json::str(id))]
        }
        OpsLifecycleError::DuplicateWaitOperation(id) => vec![
            ("kind", Json::str("duplicate_wait_operation")),
            ("id", Json::str(id)),
        ],
        OpsLifecycleError::WaitAlreadyActive => vec![("kind", Json::str("wait_already_active"))],
        OpsLifecycleError::WaitNotActive(wait_request_id) => vec![
            ("kind", Json::str("wait_not_active")),
            ("wait_request_id", Json::Str(wait_request_id.to_string())),
        ],
        OpsLifecycleError::Unsupported(message) => vec![
            ("kind", Json::str("unsupported")),
            ("message", Json::str(message)),
        ],
        OpsLifecycleError::Internal(message) => {
            vec![("kind", Json::str("internal")), ("message", Json::str(message))]
        }
    };
    Json::obj(vec![("error", Json::obj(fields))])
}

fn unsupported(message: String) -> Json {
    error_json(&OpsLifecycleError::Unsupported(message))
}

fn result_json(r: Result<Json, OpsLifecycleError>) -> Json {
    match r {
        Ok(v) => ok(v),
        Err(e) => error_json(&e),
    }
}

fn snapshot_json(s: &OperationLifecycleSnapshot) -> Json {
    Json::obj(vec![
        ("status", Json::str(s.status.as_str())),
        ("kind", Json::str(s.kind.as_str())),
        ("peer_ready", Json::Bool(s.peer_ready)),
        ("progress", Json::uint(s.progress_count as u64)),
        ("watchers", Json::uint(s.watcher_count as u64)),
        (
            "outcome",
            s.terminal_outcome
                .as_ref()
                .map_or(Json::Null, |o| Json::str(o.as_str())),
        ),
    ])
}

// ===========================================================================
// The driver: one registry, at most one held wait_all future
// ===========================================================================

/// What `wait_poll` reports about the last accepted wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WaitState {
    /// No waiter held since the last reset / recovery.
    None,
    /// Held and not resolved by any poll yet.
    Waiting,
    /// Resolved by a poll with `Ok`.
    Done,
    /// Resolved by a poll with `Err`.
    Failed,
    /// Dropped by `wait_cancel` before any poll resolved it.
    Cancelled,
}

impl WaitState {
    fn as_str(self) -> &'static str {
        match self {
            WaitState::None => "none",
            WaitState::Waiting => "waiting",
            WaitState::Done => "done",
            WaitState::Failed => "failed",
            WaitState::Cancelled => "cancelled",
        }
    }
}

struct Driver {
    registry: Rc<RuntimeOpsLifecycleRegistry>,
    /// The held future (`last` in `last = registry.wait_all(ids)`).
    held: Option<WaitAllFutureBox>,
    wait_state: WaitState,
    /// Watches handed out by `register_watcher`, kept alive (never dropped) until the
    /// registry they belong to is replaced.
    watches: Vec<OperationCompletionWatch>,
}

enum Polled {
    Pending,
    Ok,
    Err(OpsLifecycleError),
}

fn poll_once(fut: &mut WaitAllFutureBox) -> Polled {
    let mut cx = Context::from_waker(Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        Poll::Pending => Polled::Pending,
        Poll::Ready(Ok(_)) => Polled::Ok,
        Poll::Ready(Err(e)) => Polled::Err(e),
    }
}

impl Driver {
    fn new() -> Self {
        Driver {
            registry: Rc::new(RuntimeOpsLifecycleRegistry::new()),
            held: None,
            wait_state: WaitState::None,
            watches: Vec::new(),
        }
    }

    /// Replace the registry: the held future is dropped first (its `Drop` acts on the
    /// old registry, which is then discarded).
    fn replace_registry(&mut self, registry: RuntimeOpsLifecycleRegistry) {
        drop(self.held.take());
        self.wait_state = WaitState::None;
        self.watches.clear();
        self.registry = Rc::new(registry);
    }

    fn handle_line(&mut self, line: &str) -> Json {
        let request = match Parser::parse(line) {
            Ok(v) => v,
            Err(e) => return unsupported(format!("malformed request: {e}")),
        };
        let Json::Obj(top) = request else {
            return unsupported("request must be a JSON object".into());
        };
        let call = match top.iter().find(|(k, _)| k == "call") {
            Some((_, Json::Str(c))) => c.clone(),
            _ => return unsupported("request needs a string `call`".into()),
        };
        let args = match top.iter().find(|(k, _)| k == "args") {
            Some((_, Json::Obj(fields))) => fields.clone(),
            _ => return unsupported("request needs an object `args`".into()),
        };
        match self.dispatch(&call, &args) {
            Ok(answer) => answer,
            Err(bad) => unsupported(format!("{call}: {bad}")),
        }
    }

    fn dispatch(&mut self, call: &str, fields: &[(String, Json)]) -> Result<Json, BadRequest> {
        let reg = Rc::clone(&self.registry);
        let unit = |r: Result<(), OpsLifecycleError>| result_json(r.map(|()| Json::Null));
        Ok(match call {
            "reset" => {
                let a = Args::exactly(fields, &["max_completed", "max_concurrent"])?;
                let max_completed = a.uint("max_completed")?;
                let max_concurrent = a.opt_uint("max_concurrent")?;
                let to_usize = |n: u64| usize::try_from(n).map_err(|_| "integer too large".to_string());
                let config = OpsLifecycleConfig {
                    max_completed: to_usize(max_completed)?,
                    max_concurrent: max_concurrent.map(to_usize).transpose()?,
                };
                self.replace_registry(RuntimeOpsLifecycleRegistry::with_config(config));
                ok(Json::Null)
            }
            "register_operation" => {
                let a = Args::exactly(fields, &["id", "kind"])?;
                let id = a.string("id")?;
                let kind = a.kind("kind")?;
                unit(reg.register_operation(OperationSpec {
                    display_name: id.clone(),
                    id,
                    kind,
                }))
            }
            "provisioning_succeeded" | "provisioning_failed" | "fail_operation"
            | "abort_provisioning" | "cancel_operation" | "request_retire" | "mark_retired"
            | "complete_operation" | "report_progress" | "peer_ready" => {
                let a = Args::exactly(fields, &["id"])?;
                let id: OperationId = a.string("id")?;
                unit(match call {
                    "provisioning_succeeded" => reg.provisioning_succeeded(&id),
                    "provisioning_failed" => reg.provisioning_failed(&id, "provisioning failed".into()),
                    "fail_operation" => reg.fail_operation(&id, "failed".into()),
                    "abort_provisioning" => reg.abort_provisioning(&id, None),
                    "cancel_operation" => reg.cancel_operation(&id, None),
                    "request_retire" => reg.request_retire(&id),
                    "mark_retired" => reg.mark_retired(&id),
                    "complete_operation" => reg.complete_operation(
                        &id,
                        OperationResult {
                            content: "done".into(),
                        },
                    ),
                    "report_progress" => reg.report_progress(&id),
                    "peer_ready" => reg.peer_ready(&id),
                    _ => unreachable!(),
                })
            }
            "register_watcher" => {
                let a = Args::exactly(fields, &["id"])?;
                let id = a.string("id")?;
                match reg.register_watcher(&id) {
                    Ok(watch) => {
                        let resolved = watch.is_resolved();
                        self.watches.push(watch);
                        ok(Json::obj(vec![("resolved", Json::Bool(resolved))]))
                    }
                    Err(e) => error_json(&e),
                }
            }
            "terminate_owner" => {
                Args::exactly(fields, &[])?;
                result_json(reg.terminate_owner("owner terminated".into()).map(|ids| {
                    Json::obj(vec![(
                        "terminated",
                        Json::Arr(ids.iter().map(|id| Json::str(id)).collect()),
                    )])
                }))
            }
            "collect_completed" => {
                Args::exactly(fields, &[])?;
                result_json(reg.collect_completed().map(|items| {
                    Json::Arr(
                        items
                            .iter()
                            .map(|(id, outcome)| {
                                Json::obj(vec![
                                    ("id", Json::str(id)),
                                    ("outcome", Json::str(outcome.as_str())),
                                ])
                            })
                            .collect(),
                    )
                }))
            }
            "wait_begin" => {
                let a = Args::exactly(fields, &["ids"])?;
                let ids = a.strings("ids")?;
                // `last = registry.wait_all(ids)`: the new future is created (and here
                // polled once) first; only when it is accepted does it replace the held
                // one, whose Drop then runs.
                let mut fut = reg.wait_all(&RunId(1), &ids);
                let (answer, state) = match poll_once(&mut fut) {
                    Polled::Err(e) => {
                        drop(fut);
                        return Ok(error_json(&e));
                    }
                    Polled::Ok => (true, WaitState::Done),
                    Polled::Pending => (false, WaitState::Waiting),
                };
                let previous = self.held.replace(fut);
                self.wait_state = state;
                drop(previous);
                ok(Json::obj(vec![("done", Json::Bool(answer))]))
            }
            "wait_poll" => {
                Args::exactly(fields, &[])?;
                if self.wait_state == WaitState::Waiting {
                    if let Some(fut) = self.held.as_mut() {
                        self.wait_state = match poll_once(fut) {
                            Polled::Pending => WaitState::Waiting,
                            Polled::Ok => WaitState::Done,
                            Polled::Err(e) => {
                                eprintln!("rust-seed-registry: wait_all resolved with {e:?}");
                                WaitState::Failed
                            }
                        };
                    }
                }
                ok(Json::obj(vec![("state", Json::str(self.wait_state.as_str()))]))
            }
            "wait_cancel" => {
                Args::exactly(fields, &[])?;
                if let Some(fut) = self.held.take() {
                    drop(fut);
                    if self.wait_state == WaitState::Waiting {
                        self.wait_state = WaitState::Cancelled;
                    }
                }
                ok(Json::Null)
            }
            "snapshot" => {
                let a = Args::exactly(fields, &["id"])?;
                let id = a.string("id")?;
                ok(reg.snapshot(&id).map_or(Json::Null, |s| snapshot_json(&s)))
            }
            "operations" => {
                Args::exactly(fields, &[])?;
                ok(self.operations_json())
            }
            "active_count" => {
                Args::exactly(fields, &[])?;
                ok(Json::uint(reg.active_count() as u64))
            }
            "feed" => {
                let a = Args::exactly(fields, &["after"])?;
                let after = a.uint("after")?;
                let feed = reg.completion_feed().expect("the runtime registry has a feed");
                let batch = feed.list_since(after);
                ok(Json::obj(vec![
                    ("watermark", Json::uint(batch.watermark)),
                    (
                        "entries",
                        Json::Arr(
                            batch
                                .entries
                                .iter()
                                .map(|e| {
                                    Json::obj(vec![
                                        ("seq", Json::uint(e.seq)),
                                        ("id", Json::str(&e.operation_id)),
                                        ("outcome", Json::str(e.terminal_outcome.as_str())),
                                    ])
                                })
                                .collect(),
                        ),
                    ),
                ]))
            }
            "persist_and_recover" => {
                Args::exactly(fields, &[])?;
                let snapshot = reg.capture_persistence_snapshot();
                let recovered = RuntimeOpsLifecycleRegistry::from_recovered(snapshot);
                drop(reg);
                self.replace_registry(recovered);
                ok(Json::Null)
            }
            other => return Err(format!("unknown call `{other}`")),
        })
    }

    fn operations_json(&self) -> Json {
        let reg = &self.registry;
        let ops = reg
            .list_operations()
            .iter()
            .map(|s| (s.id.clone(), snapshot_json(s)))
            .collect();
        Json::obj(vec![
            ("active_count", Json::uint(reg.active_count() as u64)),
            ("operations", Json::Obj(ops)),
        ])
    }
}

// ===========================================================================
// main
// ===========================================================================

fn parse_flags() -> Result<PortVariant, String> {
    let mut variant = PortVariant::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let name = if arg == "--bug" {
            args.next().ok_or("--bug needs a NAME")?
        } else if let Some(name) = arg.strip_prefix("--bug=") {
            name.to_string()
        } else {
            return Err(format!("unknown argument {arg:?}"));
        };
        match name.as_str() {
            "feed-inclusive" => variant.feed_inclusive = true,
            "feed-capacity-8" => variant.feed_capacity_8 = true,
            other => {
                return Err(format!(
                    "unknown bug {other:?} (known: feed-inclusive, feed-capacity-8)"
                ))
            }
        }
    }
    Ok(variant)
}

fn main() {
    let variant = match parse_flags() {
        Ok(v) => v,
        Err(message) => {
            eprintln!("rust-seed-registry: {message}");
            eprintln!("usage: rust-seed-registry [--bug feed-inclusive] [--bug feed-capacity-8]");
            std::process::exit(2);
        }
    };
    registry::set_variant(variant);

    let stdin = io::stdin();
    let mut input = stdin.lock();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut driver = Driver::new();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match input.read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                eprintln!("rust-seed-registry: reading stdin: {e}");
                std::process::exit(1);
            }
        }
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        let answer = match std::str::from_utf8(&buf) {
            Ok(line) => driver.handle_line(line),
            Err(e) => unsupported(format!("malformed request: not UTF-8: {e}")),
        };
        let mut line = String::new();
        write_json(&answer, &mut line);
        line.push('\n');
        if out.write_all(line.as_bytes()).and_then(|()| out.flush()).is_err() {
            // The reader went away: nothing more to answer.
            break;
        }
    }
}
