//! Literal, std-only port of the seed's `RuntimeOpsLifecycleRegistry`.
//!
//! Sources (line numbers below are the numbers printed in the seed files):
//!
//! * `001` = `/work/shared/seeds/001_a4e6fa90f19bb992.txt`, i.e. upstream
//!   `lukacf/meerkat` `meerkat-runtime/src/ops_lifecycle.rs` at commit
//!   `625127f88b870b920c99e869032a7e09572d4658` (byte-identical to the seed);
//! * `000` = `/work/shared/seeds/000_1e7f2d639d29d3c9.txt`, the public contract
//!   (`meerkat-core/src/ops_lifecycle.rs`);
//! * `DSL` = the ops-lifecycle transitions of the MeerkatMachine catalog DSL at the same
//!   commit (`meerkat-machine-schema/src/catalog/dsl/meerkat_machine.rs`, transitions
//!   `RegisterOp` … `CancelWaitAll`), which the seed drives through `mm_dsl` but does not
//!   contain. Their guards agree with the "from" table of `/work/shared/DESIGN.md`.
//!
//! What is kept literally, because the protocol can observe it:
//!
//! * the DSL state maps are `BTreeMap<String, _>` keyed by the JSON encoding of the id
//!   (`serde_json::to_string(id)`), so every walk over `op_statuses` (`operation_ids`,
//!   hence `owner_termination_targets` / `terminate_owner`, `capture_snapshot`) follows
//!   sorted-JSON-key byte order;
//! * guard order and the shell's pre-checks (NotFound first, AlreadyRegistered before
//!   MaxConcurrentExceeded, the peer_ready classification order);
//! * `finalize_terminal`: watchers, feed push, `completed_order` FIFO eviction of every
//!   map + the shell record, then `maybe_satisfy_wait`;
//! * the feed buffer, its capacity formula and `list_since`;
//! * the whole wait_all shell machinery: `wait_request_id`, `pending_wait`, the DSL
//!   barrier, `cancel_wait_all_internal` *including its `_ =>` branch that drops any
//!   pending sender*, `collect_wait_outcomes`, and `WaitAllFuture` with Ready / Waiting /
//!   Done and its `Drop`;
//! * `collect_completed`, `capture_snapshot` + `from_recovered`.
//!
//! What is left out, because nothing can observe it through the protocol: timestamps,
//! display names beyond a copy of the id, peer handles, owner sessions, the persistence
//! channel (`maybe_persist` is the "no channel wired" path, 001:832–840), the epoch id and
//! cursor snapshot of `PersistedOpsSnapshot`, the feed's `Notify` / `wait_for_advance`.
//!
//! Concurrency: the seed's `RwLock<ShellState>` becomes a `RefCell<ShellState>`
//! (single-threaded driver), tokio's oneshot becomes the `oneshot` module below, and the
//! `&'a RuntimeOpsLifecycleRegistry` held by `WaitAllFuture` becomes an
//! `Rc<RuntimeOpsLifecycleRegistry>` so the driver can hold a future across requests.

// The port keeps the seed's whole surface (contract items, persisted-state fields,
// DSL error variants) even where this binary never reads them.
#![allow(dead_code)]

use std::cell::{Cell, Ref, RefCell, RefMut};
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::OnceLock;
use std::task::{Context, Poll};

// ===========================================================================
// Deliberately broken variants (`--bug NAME`), used to check the oracle notices.
// ===========================================================================

/// Which deliberate bugs are switched on. Default: none (the literal seed).
#[derive(Debug, Clone, Copy, Default)]
pub struct PortVariant {
    /// `--bug feed-inclusive`: `list_since` keeps entries with `seq >= after`.
    pub feed_inclusive: bool,
    /// `--bug feed-capacity-8`: the feed buffer holds 8 entries, not the formula.
    pub feed_capacity_8: bool,
}

static VARIANT: OnceLock<PortVariant> = OnceLock::new();

/// Set the variant once, before the first registry is built.
pub fn set_variant(variant: PortVariant) {
    let _ = VARIANT.set(variant);
}

fn variant() -> PortVariant {
    VARIANT.get().copied().unwrap_or_default()
}

// ===========================================================================
// serde_json stand-in for `OperationId` (a JSON string)
// ===========================================================================

/// The two serde_json calls the seed makes on ids and payload strings:
/// `serde_json::to_string(&String)` and `serde_json::from_str::<String>(..)`.
pub mod serde_json {
    /// `serde_json::to_string` of a string: quotes, `"` → `\"`, `\` → `\\`, the short
    /// escapes `\b \f \n \r \t`, other chars below 0x20 → `\u00xx` (lowercase hex),
    /// everything else literal UTF-8 (serde_json's `ESCAPE` table).
    pub fn to_string(s: &str) -> String {
        let mut out = String::with_capacity(s.len() + 2);
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\u{08}' => out.push_str("\\b"),
                '\u{0c}' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    let b = c as u32 as usize;
                    out.push_str("\\u00");
                    out.push(HEX[b >> 4] as char);
                    out.push(HEX[b & 0xf] as char);
                }
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    /// `serde_json::to_string(&Option<String>)`.
    pub fn to_string_opt(s: Option<&str>) -> String {
        match s {
            Some(s) => to_string(s),
            None => "null".to_string(),
        }
    }

    /// `serde_json::from_str::<String>`: a single JSON string literal, nothing else.
    pub fn from_str(text: &str) -> Result<String, ()> {
        let chars: Vec<char> = text.chars().collect();
        let mut i = 0;
        let skip_ws = |i: &mut usize| {
            while *i < chars.len() && matches!(chars[*i], ' ' | '\t' | '\n' | '\r') {
                *i += 1;
            }
        };
        skip_ws(&mut i);
        if i >= chars.len() || chars[i] != '"' {
            return Err(());
        }
        i += 1;
        let mut out = String::new();
        loop {
            let c = *chars.get(i).ok_or(())?;
            i += 1;
            match c {
                '"' => break,
                '\\' => {
                    let e = *chars.get(i).ok_or(())?;
                    i += 1;
                    match e {
                        '"' => out.push('"'),
                        '\\' => out.push('\\'),
                        '/' => out.push('/'),
                        'b' => out.push('\u{08}'),
                        'f' => out.push('\u{0c}'),
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        'u' => {
                            let hex = |i: &mut usize| -> Result<u32, ()> {
                                let mut v = 0u32;
                                for _ in 0..4 {
                                    let d = chars.get(*i).ok_or(())?.to_digit(16).ok_or(())?;
                                    v = v * 16 + d;
                                    *i += 1;
                                }
                                Ok(v)
                            };
                            let hi = hex(&mut i)?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                if chars.get(i) != Some(&'\\') || chars.get(i + 1) != Some(&'u') {
                                    return Err(());
                                }
                                i += 2;
                                let lo = hex(&mut i)?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(());
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            out.push(char::from_u32(code).ok_or(())?);
                        }
                        _ => return Err(()),
                    }
                }
                c if (c as u32) < 0x20 => return Err(()),
                c => out.push(c),
            }
        }
        skip_ws(&mut i);
        if i != chars.len() {
            return Err(());
        }
        Ok(out)
    }

    /// `serde_json::from_str::<Option<String>>`.
    pub fn from_str_opt(text: &str) -> Result<Option<String>, ()> {
        if text.trim() == "null" {
            Ok(None)
        } else {
            from_str(text).map(Some)
        }
    }
}

// ===========================================================================
// tokio::sync::oneshot stand-in (single-threaded)
// ===========================================================================

/// A oneshot channel with tokio's observable semantics: `send` stores the value (or
/// fails when the receiver is gone); the receiver yields `Ok(value)` once a value is
/// stored, `Err(RecvError)` when the sender was dropped without sending, else `Pending`.
pub mod oneshot {
    use std::cell::RefCell;
    use std::future::Future;
    use std::pin::Pin;
    use std::rc::Rc;
    use std::task::{Context, Poll};

    struct Inner<T> {
        value: Option<T>,
        sender_dropped: bool,
        receiver_dropped: bool,
    }

    pub struct Sender<T> {
        inner: Rc<RefCell<Inner<T>>>,
    }

    pub struct Receiver<T> {
        inner: Rc<RefCell<Inner<T>>>,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct RecvError;

    pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
        let inner = Rc::new(RefCell::new(Inner {
            value: None,
            sender_dropped: false,
            receiver_dropped: false,
        }));
        (
            Sender {
                inner: Rc::clone(&inner),
            },
            Receiver { inner },
        )
    }

    impl<T> Sender<T> {
        /// Consumes the sender; its `Drop` then marks it gone (after the value is in).
        pub fn send(self, value: T) -> Result<(), T> {
            {
                let mut inner = self.inner.borrow_mut();
                if inner.receiver_dropped {
                    return Err(value);
                }
                inner.value = Some(value);
            }
            Ok(())
        }
    }

    impl<T> Drop for Sender<T> {
        fn drop(&mut self) {
            self.inner.borrow_mut().sender_dropped = true;
        }
    }

    impl<T> Receiver<T> {
        /// Port-only peek: a value is waiting (used to report an already-resolved watch).
        pub fn has_value(&self) -> bool {
            self.inner.borrow().value.is_some()
        }
    }

    impl<T> Future for Receiver<T> {
        type Output = Result<T, RecvError>;

        fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Self::Output> {
            let mut inner = self.inner.borrow_mut();
            if let Some(value) = inner.value.take() {
                Poll::Ready(Ok(value))
            } else if inner.sender_dropped {
                Poll::Ready(Err(RecvError))
            } else {
                Poll::Pending
            }
        }
    }

    impl<T> Drop for Receiver<T> {
        fn drop(&mut self) {
            self.inner.borrow_mut().receiver_dropped = true;
        }
    }
}

// ===========================================================================
// Public contract (seed 000)
// ===========================================================================

/// `meerkat_core::ops::OperationId` serializes as a JSON string; the port uses the
/// string itself.
pub type OperationId = String;

/// 000:15–16.
pub const DEFAULT_MAX_COMPLETED: usize = 256;

/// 000:18–31.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperationKind {
    MobMemberChild,
    BackgroundToolOp,
}

impl OperationKind {
    /// 000:27–30.
    pub fn expects_peer_channel(self) -> bool {
        matches!(self, Self::MobMemberChild)
    }

    /// serde `rename_all = "snake_case"` (000:20).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MobMemberChild => "mob_member_child",
            Self::BackgroundToolOp => "background_tool_op",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "mob_member_child" => Some(Self::MobMemberChild),
            "background_tool_op" => Some(Self::BackgroundToolOp),
            _ => None,
        }
    }
}

/// 000:33–43, reduced to the fields the registry reads (`display_name` only feeds
/// snapshots / feed entries / `list_operations` sorting, none observable here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationSpec {
    pub id: OperationId,
    pub kind: OperationKind,
    pub display_name: String,
}

/// `meerkat_core::ops::OperationResult`, reduced to its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationResult {
    pub content: String,
}

/// 000:59–69.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperationTerminalOutcome {
    Completed(OperationResult),
    Failed { error: String },
    Aborted { reason: Option<String> },
    Cancelled { reason: Option<String> },
    Retired,
    Terminated { reason: String },
}

impl OperationTerminalOutcome {
    /// The `outcome_type` tag (000:61), = the terminal status name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Completed(_) => "completed",
            Self::Failed { .. } => "failed",
            Self::Aborted { .. } => "aborted",
            Self::Cancelled { .. } => "cancelled",
            Self::Retired => "retired",
            Self::Terminated { .. } => "terminated",
        }
    }
}

/// 000:71–122.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperationStatus {
    Absent,
    Provisioning,
    Running,
    Retiring,
    Completed,
    Failed,
    Aborted,
    Cancelled,
    Retired,
    Terminated,
}

impl OperationStatus {
    /// 000:88–98.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Completed
                | Self::Failed
                | Self::Aborted
                | Self::Cancelled
                | Self::Retired
                | Self::Terminated
        )
    }

    /// 000:100–102.
    pub fn allows_terminalization(self) -> bool {
        matches!(self, Self::Provisioning | Self::Running | Self::Retiring)
    }

    /// 000:108–121.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Absent => "absent",
            Self::Provisioning => "provisioning",
            Self::Running => "running",
            Self::Retiring => "retiring",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Aborted => "aborted",
            Self::Cancelled => "cancelled",
            Self::Retired => "retired",
            Self::Terminated => "terminated",
        }
    }
}

/// 000:124–151, without the timestamps, child session and peer handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationLifecycleSnapshot {
    pub id: OperationId,
    pub kind: OperationKind,
    pub display_name: String,
    pub status: OperationStatus,
    pub peer_ready: bool,
    pub progress_count: u32,
    pub watcher_count: u32,
    pub terminal_outcome: Option<OperationTerminalOutcome>,
}

/// 000:153–184.
pub struct OperationCompletionWatch {
    rx: oneshot::Receiver<OperationTerminalOutcome>,
}

impl OperationCompletionWatch {
    /// 000:159–166.
    pub fn channel() -> (
        oneshot::Sender<OperationTerminalOutcome>,
        OperationCompletionWatch,
    ) {
        let (tx, rx) = oneshot::channel();
        (tx, Self { rx })
    }

    /// 000:178–183.
    pub fn already_resolved(outcome: OperationTerminalOutcome) -> Self {
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(outcome);
        Self { rx }
    }

    /// Port-only: the watch already holds its outcome (e.g. `already_resolved`).
    pub fn is_resolved(&self) -> bool {
        self.rx.has_value()
    }
}

/// `meerkat_core::lifecycle::RunId` (unused by the registry, kept for the signature).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunId(pub u64);

/// `meerkat_core::lifecycle::WaitRequestId`: upstream a fresh UUID per `new()`; here a
/// process-wide counter, which is just as unique.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WaitRequestId(pub u64);

thread_local! {
    static NEXT_WAIT_REQUEST_ID: Cell<u64> = const { Cell::new(1) };
}

impl WaitRequestId {
    pub fn new() -> Self {
        NEXT_WAIT_REQUEST_ID.with(|next| {
            let id = next.get();
            next.set(id + 1);
            WaitRequestId(id)
        })
    }
}

impl std::fmt::Display for WaitRequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "wait-{}", self.0)
    }
}

/// 000:186–215.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpsLifecycleError {
    AlreadyRegistered(OperationId),
    NotFound(OperationId),
    InvalidTransition {
        id: OperationId,
        status: OperationStatus,
        action: &'static str,
    },
    PeerNotExpected(OperationId),
    AlreadyPeerReady(OperationId),
    MaxConcurrentExceeded {
        limit: usize,
        active: usize,
    },
    Unsupported(String),
    WaitAlreadyActive,
    WaitNotActive(WaitRequestId),
    DuplicateWaitOperation(OperationId),
    Internal(String),
}

/// 000:217–229.
#[derive(Debug)]
pub struct WaitAllResult {
    pub outcomes: Vec<(OperationId, OperationTerminalOutcome)>,
    pub satisfied: WaitAllSatisfied,
}

/// 000:231–243.
#[derive(Debug)]
pub struct WaitAllSatisfied {
    pub wait_request_id: WaitRequestId,
    pub operation_ids: Vec<OperationId>,
}

// ===========================================================================
// `mm_dsl`: the ops-lifecycle slice of the MeerkatMachine DSL authority
// ===========================================================================

/// The generated `mm_dsl` items the seed uses (001:39), restricted to the ops-lifecycle
/// state and the transitions `RegisterOp` … `CancelWaitAll` of the catalog DSL. Guards
/// are evaluated in their declared order; the first failing one rejects with
/// `GuardRejected` and leaves the state untouched. All these transitions are
/// `per_phase [Idle, …] … to Idle`, and the seed keeps the phase at `Idle` (001:367–377),
/// so the phase never decides anything here.
pub mod mm_dsl {
    use std::collections::{BTreeMap, BTreeSet};

    /// DSL operation id: the JSON encoding of the domain id
    /// (`Self::from(serde_json::to_string(id))`).
    #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
    pub struct OperationId(pub String);

    impl OperationId {
        pub fn from_domain(id: &super::OperationId) -> Self {
            Self(super::serde_json::to_string(id))
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
    pub struct WaitRequestId(pub String);

    impl WaitRequestId {
        pub fn from_domain(id: &super::WaitRequestId) -> Self {
            Self(id.to_string())
        }
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
    pub enum OperationStatus {
        #[default]
        Absent,
        Provisioning,
        Running,
        Retiring,
        Completed,
        Failed,
        Aborted,
        Cancelled,
        Retired,
        Terminated,
    }

    impl From<super::OperationStatus> for OperationStatus {
        fn from(status: super::OperationStatus) -> Self {
            use super::OperationStatus as S;
            match status {
                S::Absent => Self::Absent,
                S::Provisioning => Self::Provisioning,
                S::Running => Self::Running,
                S::Retiring => Self::Retiring,
                S::Completed => Self::Completed,
                S::Failed => Self::Failed,
                S::Aborted => Self::Aborted,
                S::Cancelled => Self::Cancelled,
                S::Retired => Self::Retired,
                S::Terminated => Self::Terminated,
            }
        }
    }

    impl From<OperationStatus> for super::OperationStatus {
        fn from(status: OperationStatus) -> Self {
            use OperationStatus as S;
            match status {
                S::Absent => Self::Absent,
                S::Provisioning => Self::Provisioning,
                S::Running => Self::Running,
                S::Retiring => Self::Retiring,
                S::Completed => Self::Completed,
                S::Failed => Self::Failed,
                S::Aborted => Self::Aborted,
                S::Cancelled => Self::Cancelled,
                S::Retired => Self::Retired,
                S::Terminated => Self::Terminated,
            }
        }
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
    pub enum OperationKind {
        #[default]
        MobMemberChild,
        BackgroundToolOp,
    }

    impl OperationKind {
        pub fn from_domain(kind: &super::OperationKind) -> Self {
            Self::from(*kind)
        }
    }

    impl From<super::OperationKind> for OperationKind {
        fn from(kind: super::OperationKind) -> Self {
            match kind {
                super::OperationKind::MobMemberChild => Self::MobMemberChild,
                super::OperationKind::BackgroundToolOp => Self::BackgroundToolOp,
            }
        }
    }

    impl From<OperationKind> for super::OperationKind {
        fn from(kind: OperationKind) -> Self {
            match kind {
                OperationKind::MobMemberChild => Self::MobMemberChild,
                OperationKind::BackgroundToolOp => Self::BackgroundToolOp,
            }
        }
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
    pub enum OperationTerminalOutcomeKind {
        Completed,
        Failed,
        Aborted,
        Cancelled,
        Retired,
        Terminated,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub enum MeerkatPhase {
        #[default]
        Idle,
    }

    /// The ops-lifecycle substate of `MeerkatMachineState` (catalog: "Ops lifecycle
    /// substate"), with the catalog's initial values (all empty / 0 / false / None).
    #[derive(Debug, Clone, Default)]
    pub struct MeerkatMachineState {
        pub lifecycle_phase: MeerkatPhase,
        pub op_statuses: BTreeMap<String, OperationStatus>,
        pub op_completion_seq: BTreeMap<String, u64>,
        pub op_terminal_outcomes: BTreeMap<String, OperationTerminalOutcomeKind>,
        pub op_terminal_payload: BTreeMap<String, String>,
        pub op_kinds: BTreeMap<String, OperationKind>,
        pub op_peer_ready: BTreeMap<String, bool>,
        pub op_progress_counts: BTreeMap<String, u64>,
        pub active_op_count: u64,
        pub wait_active: bool,
        pub wait_request_id: Option<WaitRequestId>,
        pub wait_operation_ids: BTreeSet<String>,
        pub wait_operation_id_tokens: BTreeSet<OperationId>,
        pub next_completion_seq: u64,
    }

    #[derive(Debug, Clone)]
    pub enum MeerkatMachineInput {
        RegisterOp {
            operation_id: String,
            kind: OperationKind,
        },
        StartOp {
            operation_id: String,
        },
        CompleteOp {
            operation_id: String,
            outcome: OperationTerminalOutcomeKind,
            payload: String,
        },
        FailOp {
            operation_id: String,
            outcome: OperationTerminalOutcomeKind,
            payload: String,
        },
        CancelOp {
            operation_id: String,
            outcome: OperationTerminalOutcomeKind,
            payload: String,
        },
        AbortOp {
            operation_id: String,
            outcome: OperationTerminalOutcomeKind,
            payload: String,
        },
        PeerReadyOp {
            operation_id: String,
        },
        ProgressReportedOp {
            operation_id: String,
        },
        RetireRequestedOp {
            operation_id: String,
        },
        RetireCompletedOp {
            operation_id: String,
            outcome: OperationTerminalOutcomeKind,
            payload: String,
        },
        TerminateOp {
            operation_id: String,
            outcome: OperationTerminalOutcomeKind,
            payload: String,
        },
        RequestWaitAll {
            wait_request_id: WaitRequestId,
            operation_ids: BTreeSet<String>,
            operation_id_tokens: BTreeSet<OperationId>,
        },
        SatisfyWaitAll {
            wait_request_id: WaitRequestId,
            operation_id_tokens: BTreeSet<OperationId>,
        },
        CancelWaitAll,
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum MeerkatMachineTransitionError {
        GuardRejected {
            transition: &'static str,
            guard: &'static str,
        },
        NoMatchingTransition {
            input: &'static str,
        },
    }

    /// Effects are not needed by the shell here (it reads state, 001:428).
    #[derive(Debug, Clone)]
    pub struct MeerkatMachineTransition {
        pub transition: &'static str,
    }

    pub struct MeerkatMachineAuthority {
        pub state: MeerkatMachineState,
    }

    impl MeerkatMachineAuthority {
        pub fn from_state(state: MeerkatMachineState) -> Self {
            Self { state }
        }
    }

    pub struct MeerkatMachineMutator;

    type TResult = Result<MeerkatMachineTransition, MeerkatMachineTransitionError>;

    fn reject(transition: &'static str, guard: &'static str) -> TResult {
        Err(MeerkatMachineTransitionError::GuardRejected { transition, guard })
    }

    fn ok(transition: &'static str) -> TResult {
        Ok(MeerkatMachineTransition { transition })
    }

    use OperationStatus::{Provisioning, Retiring, Running};
    const NON_TERMINAL: &[OperationStatus] = &[Provisioning, Running, Retiring];
    const RUNNING_OR_RETIRING: &[OperationStatus] = &[Running, Retiring];

    fn status_in(state: &MeerkatMachineState, id: &str, allowed: &[OperationStatus]) -> bool {
        state
            .op_statuses
            .get(id)
            .copied()
            .is_some_and(|s| allowed.contains(&s))
    }

    /// The shape shared by CompleteOp / FailOp / CancelOp / AbortOp / RetireCompletedOp /
    /// TerminateOp: guards `op_registered`, `from_status_valid`; update status, outcome,
    /// payload, `active_op_count -= 1` (CompleteOp also stamps `op_completion_seq`).
    #[allow(clippy::too_many_arguments)]
    fn terminal(
        state: &mut MeerkatMachineState,
        transition: &'static str,
        operation_id: String,
        from: &[OperationStatus],
        to: OperationStatus,
        outcome: OperationTerminalOutcomeKind,
        payload: String,
        stamps_completion_seq: bool,
    ) -> TResult {
        if !state.op_statuses.contains_key(&operation_id) {
            return reject(transition, "op_registered");
        }
        if !status_in(state, &operation_id, from) {
            return reject(transition, "from_status_valid");
        }
        state.op_statuses.insert(operation_id.clone(), to);
        state
            .op_terminal_outcomes
            .insert(operation_id.clone(), outcome);
        state
            .op_terminal_payload
            .insert(operation_id.clone(), payload);
        state.active_op_count -= 1;
        if stamps_completion_seq {
            state
                .op_completion_seq
                .insert(operation_id, state.next_completion_seq);
            state.next_completion_seq += 1;
        }
        ok(transition)
    }

    impl MeerkatMachineMutator {
        pub fn apply(
            authority: &mut MeerkatMachineAuthority,
            input: MeerkatMachineInput,
        ) -> TResult {
            let state = &mut authority.state;
            match input {
                // RegisterOp: register a new operation as Provisioning.
                MeerkatMachineInput::RegisterOp { operation_id, kind } => {
                    if state.op_statuses.contains_key(&operation_id) {
                        return reject("RegisterOp", "not_already_registered");
                    }
                    state
                        .op_statuses
                        .insert(operation_id.clone(), OperationStatus::Provisioning);
                    state.op_kinds.insert(operation_id.clone(), kind);
                    state.op_peer_ready.insert(operation_id.clone(), false);
                    state.op_progress_counts.insert(operation_id, 0);
                    state.active_op_count += 1;
                    ok("RegisterOp")
                }
                // StartOp: Provisioning -> Running.
                MeerkatMachineInput::StartOp { operation_id } => {
                    if !state.op_statuses.contains_key(&operation_id) {
                        return reject("StartOp", "op_registered");
                    }
                    if !status_in(state, &operation_id, &[Provisioning]) {
                        return reject("StartOp", "from_status_valid");
                    }
                    state.op_statuses.insert(operation_id, Running);
                    ok("StartOp")
                }
                // CompleteOp: Running|Retiring -> Completed.
                MeerkatMachineInput::CompleteOp {
                    operation_id,
                    outcome,
                    payload,
                } => terminal(
                    state,
                    "CompleteOp",
                    operation_id,
                    RUNNING_OR_RETIRING,
                    OperationStatus::Completed,
                    outcome,
                    payload,
                    true,
                ),
                // FailOp: Provisioning|Running|Retiring -> Failed (the seed's
                // `provisioning_failed` and `fail_operation` both fire it).
                MeerkatMachineInput::FailOp {
                    operation_id,
                    outcome,
                    payload,
                } => terminal(
                    state,
                    "FailOp",
                    operation_id,
                    NON_TERMINAL,
                    OperationStatus::Failed,
                    outcome,
                    payload,
                    false,
                ),
                // CancelOp: Provisioning|Running|Retiring -> Cancelled.
                MeerkatMachineInput::CancelOp {
                    operation_id,
                    outcome,
                    payload,
                } => terminal(
                    state,
                    "CancelOp",
                    operation_id,
                    NON_TERMINAL,
                    OperationStatus::Cancelled,
                    outcome,
                    payload,
                    false,
                ),
                // AbortOp: Provisioning -> Aborted.
                MeerkatMachineInput::AbortOp {
                    operation_id,
                    outcome,
                    payload,
                } => terminal(
                    state,
                    "AbortOp",
                    operation_id,
                    &[Provisioning],
                    OperationStatus::Aborted,
                    outcome,
                    payload,
                    false,
                ),
                // PeerReadyOp: guards op_registered, kind_is_mob_member_child,
                // not_already_peer_ready, from_status_valid (Running|Retiring).
                MeerkatMachineInput::PeerReadyOp { operation_id } => {
                    if !state.op_statuses.contains_key(&operation_id) {
                        return reject("PeerReadyOp", "op_registered");
                    }
                    if state.op_kinds.get(&operation_id).copied()
                        != Some(OperationKind::MobMemberChild)
                    {
                        return reject("PeerReadyOp", "kind_is_mob_member_child");
                    }
                    if state.op_peer_ready.get(&operation_id).copied() == Some(true) {
                        return reject("PeerReadyOp", "not_already_peer_ready");
                    }
                    if !status_in(state, &operation_id, RUNNING_OR_RETIRING) {
                        return reject("PeerReadyOp", "from_status_valid");
                    }
                    state.op_peer_ready.insert(operation_id, true);
                    ok("PeerReadyOp")
                }
                // ProgressReportedOp: Running|Retiring, progress += 1.
                MeerkatMachineInput::ProgressReportedOp { operation_id } => {
                    if !state.op_statuses.contains_key(&operation_id) {
                        return reject("ProgressReportedOp", "op_registered");
                    }
                    if !status_in(state, &operation_id, RUNNING_OR_RETIRING) {
                        return reject("ProgressReportedOp", "from_status_valid");
                    }
                    let count = state.op_progress_counts.entry(operation_id).or_insert(0);
                    *count = count.saturating_add(1);
                    ok("ProgressReportedOp")
                }
                // RetireRequestedOp: Running -> Retiring.
                MeerkatMachineInput::RetireRequestedOp { operation_id } => {
                    if !state.op_statuses.contains_key(&operation_id) {
                        return reject("RetireRequestedOp", "op_registered");
                    }
                    if !status_in(state, &operation_id, &[Running]) {
                        return reject("RetireRequestedOp", "from_status_valid");
                    }
                    state.op_statuses.insert(operation_id, Retiring);
                    ok("RetireRequestedOp")
                }
                // RetireCompletedOp: Running|Retiring -> Retired.
                MeerkatMachineInput::RetireCompletedOp {
                    operation_id,
                    outcome,
                    payload,
                } => terminal(
                    state,
                    "RetireCompletedOp",
                    operation_id,
                    RUNNING_OR_RETIRING,
                    OperationStatus::Retired,
                    outcome,
                    payload,
                    false,
                ),
                // TerminateOp: Provisioning|Running|Retiring -> Terminated.
                MeerkatMachineInput::TerminateOp {
                    operation_id,
                    outcome,
                    payload,
                } => terminal(
                    state,
                    "TerminateOp",
                    operation_id,
                    NON_TERMINAL,
                    OperationStatus::Terminated,
                    outcome,
                    payload,
                    false,
                ),
                // RequestWaitAll: no guard; activates the barrier with its membership.
                MeerkatMachineInput::RequestWaitAll {
                    wait_request_id,
                    operation_ids,
                    operation_id_tokens,
                } => {
                    state.wait_active = true;
                    state.wait_request_id = Some(wait_request_id);
                    state.wait_operation_ids = operation_ids;
                    state.wait_operation_id_tokens = operation_id_tokens;
                    ok("RequestWaitAll")
                }
                // SatisfyWaitAll: guards wait_is_active, wait_request_matches,
                // operation_tokens_match, all_members_terminal (a member missing from
                // op_statuses — evicted or collected — is NOT terminal).
                MeerkatMachineInput::SatisfyWaitAll {
                    wait_request_id,
                    operation_id_tokens,
                } => {
                    if !state.wait_active {
                        return reject("SatisfyWaitAll", "wait_is_active");
                    }
                    if state.wait_request_id.as_ref() != Some(&wait_request_id) {
                        return reject("SatisfyWaitAll", "wait_request_matches");
                    }
                    if state.wait_operation_id_tokens != operation_id_tokens {
                        return reject("SatisfyWaitAll", "operation_tokens_match");
                    }
                    let all_members_terminal = state.wait_operation_ids.iter().all(|member| {
                        matches!(
                            state.op_statuses.get(member).copied(),
                            Some(
                                OperationStatus::Completed
                                    | OperationStatus::Failed
                                    | OperationStatus::Aborted
                                    | OperationStatus::Cancelled
                                    | OperationStatus::Retired
                                    | OperationStatus::Terminated
                            )
                        )
                    });
                    if !all_members_terminal {
                        return reject("SatisfyWaitAll", "all_members_terminal");
                    }
                    state.wait_active = false;
                    state.wait_request_id = None;
                    state.wait_operation_ids = BTreeSet::new();
                    state.wait_operation_id_tokens = BTreeSet::new();
                    ok("SatisfyWaitAll")
                }
                // CancelWaitAll: guard wait_is_active; clears the barrier, no token.
                MeerkatMachineInput::CancelWaitAll => {
                    if !state.wait_active {
                        return reject("CancelWaitAll", "wait_is_active");
                    }
                    state.wait_active = false;
                    state.wait_request_id = None;
                    state.wait_operation_ids = BTreeSet::new();
                    state.wait_operation_id_tokens = BTreeSet::new();
                    ok("CancelWaitAll")
                }
            }
        }
    }
}

// ===========================================================================
// Persisted snapshot shells (001:41–113)
// ===========================================================================

/// 001:49–59.
#[derive(Debug, Clone)]
pub struct OperationCanonicalState {
    status: OperationStatus,
    kind: OperationKind,
    peer_ready: bool,
    progress_count: u32,
    watcher_count: u32,
    terminal_outcome: Option<OperationTerminalOutcome>,
    terminal_buffered: bool,
}

/// 001:61–72.
#[derive(Debug, Clone)]
pub struct RegistryCanonicalState {
    operations: HashMap<OperationId, OperationCanonicalState>,
    completed_order: VecDeque<OperationId>,
    max_completed: usize,
    max_concurrent: Option<usize>,
    active_count: usize,
    wait_request_id: Option<WaitRequestId>,
    wait_operation_ids: Vec<OperationId>,
    next_completion_seq: CompletionSeq,
}

impl RegistryCanonicalState {
    /// 001:75–78.
    pub fn max_completed(&self) -> usize {
        self.max_completed
    }

    /// 001:80–83.
    pub fn max_concurrent(&self) -> Option<usize> {
        self.max_concurrent
    }

    /// 001:85–88.
    pub fn operation_count(&self) -> usize {
        self.operations.len()
    }
}

/// 001:101–113, without `epoch_id` and `cursors` (not observable here).
#[derive(Debug, Clone)]
pub struct PersistedOpsSnapshot {
    pub authority_state: RegistryCanonicalState,
    pub operation_specs: HashMap<OperationId, OperationSpec>,
    pub completion_entries: Vec<CompletionEntry>,
}

// ===========================================================================
// Completion feed (meerkat_core::completion_feed + 001:131–242)
// ===========================================================================

pub type CompletionSeq = u64;

/// `meerkat_core::completion_feed::CompletionEntry`.
#[derive(Debug, Clone)]
pub struct CompletionEntry {
    pub seq: CompletionSeq,
    pub operation_id: OperationId,
    pub kind: OperationKind,
    pub display_name: String,
    pub terminal_outcome: OperationTerminalOutcome,
    pub completed_at_ms: Option<u64>,
}

/// `meerkat_core::completion_feed::CompletionBatch`.
#[derive(Debug, Clone)]
pub struct CompletionBatch {
    pub entries: Vec<CompletionEntry>,
    pub watermark: CompletionSeq,
}

/// 001:139–144.
#[derive(Debug)]
struct FeedBufferInner {
    entries: VecDeque<CompletionEntry>,
    watermark: CompletionSeq,
    max_retained: usize,
}

/// 001:150–157 (the `Notify` is left out: nothing here awaits the feed).
#[derive(Debug)]
struct FeedBuffer {
    inner: RefCell<FeedBufferInner>,
    watermark_atomic: Cell<u64>,
}

impl FeedBuffer {
    /// 001:160–170.
    fn new(max_retained: usize) -> Self {
        Self {
            inner: RefCell::new(FeedBufferInner {
                entries: VecDeque::new(),
                watermark: 0,
                max_retained,
            }),
            watermark_atomic: Cell::new(0),
        }
    }

    /// 001:172–190: append, watermark := entry.seq, evict oldest while over capacity.
    fn push(&self, entry: CompletionEntry) {
        let mut inner = self.inner.borrow_mut();
        let seq = entry.seq;
        inner.entries.push_back(entry);
        inner.watermark = seq;

        // Evict oldest if over capacity.
        while inner.entries.len() > inner.max_retained {
            inner.entries.pop_front();
        }

        drop(inner);

        self.watermark_atomic.set(seq);
    }
}

/// 001:197–200.
#[derive(Debug, Clone)]
pub struct RuntimeCompletionFeed {
    buffer: Rc<FeedBuffer>,
}

impl RuntimeCompletionFeed {
    /// 001:203–205.
    pub fn watermark(&self) -> CompletionSeq {
        self.buffer.watermark_atomic.get()
    }

    /// 001:207–221: entries with `seq > after_seq`, plus the buffer's watermark.
    /// (`--bug feed-inclusive`: `seq >= after_seq`.)
    pub fn list_since(&self, after_seq: CompletionSeq) -> CompletionBatch {
        let inclusive = variant().feed_inclusive;
        let inner = self.buffer.inner.borrow();
        let entries: Vec<CompletionEntry> = inner
            .entries
            .iter()
            .filter(|e| {
                if inclusive {
                    e.seq >= after_seq
                } else {
                    e.seq > after_seq
                }
            })
            .cloned()
            .collect();
        let watermark = inner.watermark;
        CompletionBatch { entries, watermark }
    }
}

// ===========================================================================
// Shell records (001:244–314)
// ===========================================================================

/// 001:251–262 (timestamps and peer handle left out).
struct ShellRecord {
    spec: OperationSpec,
    watchers: Vec<oneshot::Sender<OperationTerminalOutcome>>,
}

/// 001:264–268.
struct PendingWaitState {
    wait_request_id: WaitRequestId,
    sender: oneshot::Sender<WaitAllSatisfied>,
}

/// 001:270–273.
enum WaitAllAuthorityPlan {
    AlreadySatisfied(WaitAllSatisfied),
    ActivateBarrier,
}

impl ShellRecord {
    /// 001:276–286.
    fn new(spec: OperationSpec) -> Self {
        Self {
            spec,
            watchers: Vec::new(),
        }
    }

    /// 001:303–308: notify all watchers with the outcome and drain the list.
    fn notify_watchers(&mut self, outcome: &OperationTerminalOutcome) {
        for watcher in std::mem::take(&mut self.watchers) {
            let _ = watcher.send(outcome.clone());
        }
    }
}

// ===========================================================================
// Combined shell state: DSL authority + shell records (001:316–960)
// ===========================================================================

/// 001:320–350 (persistence channel fields left out).
struct ShellState {
    dsl: DslAuthority,
    records: HashMap<OperationId, ShellRecord>,
    pending_wait: Option<PendingWaitState>,
    completed_order: VecDeque<OperationId>,
    max_completed: usize,
    max_concurrent: Option<usize>,
    wait_request_id: Option<WaitRequestId>,
    next_completion_seq: CompletionSeq,
    feed_buffer: Rc<FeedBuffer>,
}

/// 001:357.
struct DslAuthority(mm_dsl::MeerkatMachineAuthority);

/// 001:371–377.
fn new_ops_dsl_authority() -> DslAuthority {
    let state = mm_dsl::MeerkatMachineState {
        lifecycle_phase: mm_dsl::MeerkatPhase::Idle,
        ..mm_dsl::MeerkatMachineState::default()
    };
    DslAuthority(mm_dsl::MeerkatMachineAuthority::from_state(state))
}

impl ShellState {
    /// 001:380–399. Feed capacity `max_completed.saturating_mul(4).max(1024)`
    /// (`--bug feed-capacity-8`: 8).
    fn new(max_completed: usize, max_concurrent: Option<usize>) -> Self {
        let feed_capacity = if variant().feed_capacity_8 {
            8
        } else {
            max_completed.saturating_mul(4).max(1024)
        };
        Self {
            dsl: new_ops_dsl_authority(),
            records: HashMap::new(),
            pending_wait: None,
            completed_order: VecDeque::new(),
            max_completed,
            max_concurrent,
            wait_request_id: None,
            next_completion_seq: 0,
            feed_buffer: Rc::new(FeedBuffer::new(feed_capacity)),
        }
    }

    /// 001:407–415.
    fn dsl_apply(
        &mut self,
        input: mm_dsl::MeerkatMachineInput,
        context: &str,
    ) -> Result<(), OpsLifecycleError> {
        self.dsl_apply_raw(input).map_err(|err| {
            OpsLifecycleError::Internal(format!("DSL rejected ops transition ({context}): {err:?}"))
        })
    }

    /// 001:424–429.
    fn dsl_apply_raw(
        &mut self,
        input: mm_dsl::MeerkatMachineInput,
    ) -> Result<(), mm_dsl::MeerkatMachineTransitionError> {
        mm_dsl::MeerkatMachineMutator::apply(&mut self.dsl.0, input).map(|_transition| ())
    }

    /// 001:444–472.
    fn split_outcome(
        outcome: &OperationTerminalOutcome,
    ) -> (mm_dsl::OperationTerminalOutcomeKind, String) {
        match outcome {
            OperationTerminalOutcome::Completed(result) => (
                mm_dsl::OperationTerminalOutcomeKind::Completed,
                serde_json::to_string(&result.content),
            ),
            OperationTerminalOutcome::Failed { error } => (
                mm_dsl::OperationTerminalOutcomeKind::Failed,
                serde_json::to_string(error),
            ),
            OperationTerminalOutcome::Aborted { reason } => (
                mm_dsl::OperationTerminalOutcomeKind::Aborted,
                serde_json::to_string_opt(reason.as_deref()),
            ),
            OperationTerminalOutcome::Cancelled { reason } => (
                mm_dsl::OperationTerminalOutcomeKind::Cancelled,
                serde_json::to_string_opt(reason.as_deref()),
            ),
            OperationTerminalOutcome::Retired => {
                (mm_dsl::OperationTerminalOutcomeKind::Retired, String::new())
            }
            OperationTerminalOutcome::Terminated { reason } => (
                mm_dsl::OperationTerminalOutcomeKind::Terminated,
                serde_json::to_string(reason),
            ),
        }
    }

    /// 001:475–484.
    fn status(&self, id: &OperationId) -> Option<OperationStatus> {
        let id_key = mm_dsl::OperationId::from_domain(id).0;
        self.dsl
            .0
            .state
            .op_statuses
            .get(&id_key)
            .copied()
            .map(OperationStatus::from)
    }

    /// 001:487–496.
    fn kind(&self, id: &OperationId) -> Option<OperationKind> {
        let id_key = mm_dsl::OperationId::from_domain(id).0;
        self.dsl
            .0
            .state
            .op_kinds
            .get(&id_key)
            .copied()
            .map(OperationKind::from)
    }

    /// 001:499–502.
    fn peer_ready(&self, id: &OperationId) -> Option<bool> {
        let id_key = mm_dsl::OperationId::from_domain(id).0;
        self.dsl.0.state.op_peer_ready.get(&id_key).copied()
    }

    /// 001:505–513.
    fn progress_count(&self, id: &OperationId) -> Option<u32> {
        let id_key = mm_dsl::OperationId::from_domain(id).0;
        self.dsl
            .0
            .state
            .op_progress_counts
            .get(&id_key)
            .map(|v| (*v).min(u32::MAX as u64) as u32)
    }

    /// 001:518–564: DSL discriminant + companion payload → domain outcome.
    fn terminal_outcome(&self, id: &OperationId) -> Option<OperationTerminalOutcome> {
        let id_key = mm_dsl::OperationId::from_domain(id).0;
        let kind = self
            .dsl
            .0
            .state
            .op_terminal_outcomes
            .get(&id_key)
            .copied()?;
        let payload = self
            .dsl
            .0
            .state
            .op_terminal_payload
            .get(&id_key)
            .map(String::as_str)
            .unwrap_or("");
        match kind {
            mm_dsl::OperationTerminalOutcomeKind::Completed => {
                let content = serde_json::from_str(payload).ok()?;
                Some(OperationTerminalOutcome::Completed(OperationResult {
                    content,
                }))
            }
            mm_dsl::OperationTerminalOutcomeKind::Failed => {
                let error = serde_json::from_str(payload).unwrap_or_default();
                Some(OperationTerminalOutcome::Failed { error })
            }
            mm_dsl::OperationTerminalOutcomeKind::Aborted => {
                let reason = serde_json::from_str_opt(payload).ok().flatten();
                Some(OperationTerminalOutcome::Aborted { reason })
            }
            mm_dsl::OperationTerminalOutcomeKind::Cancelled => {
                let reason = serde_json::from_str_opt(payload).ok().flatten();
                Some(OperationTerminalOutcome::Cancelled { reason })
            }
            mm_dsl::OperationTerminalOutcomeKind::Retired => {
                Some(OperationTerminalOutcome::Retired)
            }
            mm_dsl::OperationTerminalOutcomeKind::Terminated => {
                let reason = serde_json::from_str(payload).unwrap_or_default();
                Some(OperationTerminalOutcome::Terminated { reason })
            }
        }
    }

    /// 001:567–570.
    fn contains(&self, id: &OperationId) -> bool {
        let id_key = mm_dsl::OperationId::from_domain(id).0;
        self.dsl.0.state.op_statuses.contains_key(&id_key)
    }

    /// 001:573–575.
    fn active_count(&self) -> usize {
        self.dsl.0.state.active_op_count as usize
    }

    /// 001:578–580.
    #[allow(dead_code)]
    fn operation_count(&self) -> usize {
        self.dsl.0.state.op_statuses.len()
    }

    /// 001:583–591: the DSL keys (sorted JSON encodings) decoded back to ids.
    fn operation_ids(&self) -> Vec<OperationId> {
        self.dsl
            .0
            .state
            .op_statuses
            .keys()
            .filter_map(|k| serde_json::from_str(k).ok())
            .collect()
    }

    /// 001:594–597.
    fn next_seq(&mut self) -> CompletionSeq {
        self.next_completion_seq = self.next_completion_seq.saturating_add(1);
        self.next_completion_seq
    }

    /// 001:600–635.
    fn snapshot(&self, id: &OperationId) -> Option<OperationLifecycleSnapshot> {
        let shell = self.records.get(id)?;
        let kind = self.kind(id)?;
        let status = self.status(id)?;
        let peer_ready = self.peer_ready(id).unwrap_or(false);
        let progress_count = self.progress_count(id).unwrap_or(0);
        let terminal_outcome = self.terminal_outcome(id);

        Some(OperationLifecycleSnapshot {
            id: shell.spec.id.clone(),
            kind,
            display_name: shell.spec.display_name.clone(),
            status,
            peer_ready,
            progress_count,
            watcher_count: shell.watchers.len() as u32,
            terminal_outcome,
        })
    }

    /// 001:640–692: notify watchers, push the feed entry, FIFO retention + eviction
    /// (every DSL map and the shell record), then re-check the barrier.
    fn finalize_terminal(&mut self, id: &OperationId) {
        let outcome = match self.terminal_outcome(id) {
            Some(o) => o,
            None => return,
        };
        let kind = self.kind(id);

        // Notify watchers (and, upstream, mark the completion timestamp).
        if let Some(shell) = self.records.get_mut(id) {
            shell.notify_watchers(&outcome);
        }

        // Push completion feed entry.
        let seq = self.next_seq();
        let display_name = self
            .records
            .get(id)
            .map(|r| r.spec.display_name.clone())
            .unwrap_or_default();
        let kind_for_entry = kind.unwrap_or(OperationKind::BackgroundToolOp);
        self.feed_buffer.push(CompletionEntry {
            seq,
            operation_id: id.clone(),
            kind: kind_for_entry,
            display_name,
            terminal_outcome: outcome,
            completed_at_ms: None,
        });

        // FIFO retention + eviction.
        self.completed_order.push_back(id.clone());
        while self.completed_order.len() > self.max_completed {
            if let Some(evicted) = self.completed_order.pop_front() {
                let evicted_key = mm_dsl::OperationId::from_domain(&evicted).0;
                self.dsl.0.state.op_statuses.remove(&evicted_key);
                self.dsl.0.state.op_kinds.remove(&evicted_key);
                self.dsl.0.state.op_peer_ready.remove(&evicted_key);
                self.dsl.0.state.op_progress_counts.remove(&evicted_key);
                self.dsl.0.state.op_terminal_outcomes.remove(&evicted_key);
                self.dsl.0.state.op_terminal_payload.remove(&evicted_key);
                self.dsl.0.state.op_completion_seq.remove(&evicted_key);
                self.records.remove(&evicted);
            }
        }

        // Satisfy a pending wait request if all its ops are now terminal.
        self.maybe_satisfy_wait();
    }

    /// 001:695–703.
    fn wait_operation_ids(&self) -> Vec<OperationId> {
        self.dsl
            .0
            .state
            .wait_operation_ids
            .iter()
            .filter_map(|k| serde_json::from_str(k).ok())
            .collect()
    }

    /// 001:706–708.
    fn wait_active(&self) -> bool {
        self.dsl.0.state.wait_active
    }

    /// 001:710–762: duplicate → DuplicateWaitOperation; barrier active →
    /// WaitAlreadyActive; untracked member → NotFound; all terminal → AlreadySatisfied;
    /// else fire RequestWaitAll and activate the barrier.
    fn begin_wait_all_authority(
        &mut self,
        wait_request_id: &WaitRequestId,
        operation_ids: &[OperationId],
    ) -> Result<WaitAllAuthorityPlan, OpsLifecycleError> {
        let mut seen = HashSet::new();
        for operation_id in operation_ids {
            if !seen.insert(operation_id.clone()) {
                return Err(OpsLifecycleError::DuplicateWaitOperation(
                    operation_id.clone(),
                ));
            }
        }

        if self.wait_active() {
            return Err(OpsLifecycleError::WaitAlreadyActive);
        }

        for operation_id in operation_ids {
            if !self.contains(operation_id) {
                return Err(OpsLifecycleError::NotFound(operation_id.clone()));
            }
        }

        let all_terminal = operation_ids.iter().all(|operation_id| {
            self.status(operation_id)
                .is_some_and(OperationStatus::is_terminal)
        });
        if all_terminal {
            return Ok(WaitAllAuthorityPlan::AlreadySatisfied(WaitAllSatisfied {
                wait_request_id: wait_request_id.clone(),
                operation_ids: operation_ids.to_vec(),
            }));
        }

        let dsl_ids: BTreeSet<String> = operation_ids
            .iter()
            .map(|id| mm_dsl::OperationId::from_domain(id).0)
            .collect();
        let dsl_id_tokens: BTreeSet<mm_dsl::OperationId> = operation_ids
            .iter()
            .map(mm_dsl::OperationId::from_domain)
            .collect();
        self.dsl_apply(
            mm_dsl::MeerkatMachineInput::RequestWaitAll {
                wait_request_id: mm_dsl::WaitRequestId::from_domain(wait_request_id),
                operation_ids: dsl_ids,
                operation_id_tokens: dsl_id_tokens,
            },
            "RequestWaitAll",
        )?;
        Ok(WaitAllAuthorityPlan::ActivateBarrier)
    }

    /// 001:764–770: every tracked non-terminal op, in `operation_ids()` order, i.e.
    /// sorted by JSON-encoded id (NOT registration order).
    fn owner_termination_targets(&self) -> Vec<(OperationId, OperationStatus)> {
        self.operation_ids()
            .into_iter()
            .filter_map(|id| self.status(&id).map(|status| (id, status)))
            .filter(|(_, status)| !status.is_terminal())
            .collect()
    }

    /// 001:790–825: fire SatisfyWaitAll (guard rejection = silent no-op); on acceptance
    /// take the shell's `wait_request_id` and send the token on the correlated sender.
    fn maybe_satisfy_wait(&mut self) {
        // Capture membership *before* applying (SatisfyWaitAll clears it).
        let ids = self.wait_operation_ids();
        let Some(dsl_wait_request_id) = self.dsl.0.state.wait_request_id.clone() else {
            return;
        };
        let dsl_operation_id_tokens = self.dsl.0.state.wait_operation_id_tokens.clone();
        if self
            .dsl_apply_raw(mm_dsl::MeerkatMachineInput::SatisfyWaitAll {
                wait_request_id: dsl_wait_request_id,
                operation_id_tokens: dsl_operation_id_tokens,
            })
            .is_err()
        {
            return;
        }
        let wait_id = match self.wait_request_id.take() {
            Some(id) => id,
            None => return,
        };
        if let Some(pending) = self.pending_wait.take() {
            if pending.wait_request_id == wait_id {
                let _ = pending.sender.send(WaitAllSatisfied {
                    wait_request_id: wait_id,
                    operation_ids: ids,
                });
            } else {
                self.pending_wait = Some(pending);
            }
        }
    }

    /// 001:832–861 with no persistence channel wired: always `Ok(())` (001:839).
    fn maybe_persist(&self) -> Result<(), OpsLifecycleError> {
        Ok(())
    }

    /// 001:864–933.
    fn capture_snapshot(&self) -> PersistedOpsSnapshot {
        let operation_specs: HashMap<OperationId, OperationSpec> = self
            .records
            .iter()
            .map(|(id, record)| (id.clone(), record.spec.clone()))
            .collect();

        let completion_entries = {
            let inner = self.feed_buffer.inner.borrow();
            inner.entries.iter().cloned().collect()
        };

        let mut operations: HashMap<OperationId, OperationCanonicalState> = HashMap::new();
        for op_id in self.operation_ids() {
            let Some(status) = self.status(&op_id) else {
                continue;
            };
            let Some(kind) = self.kind(&op_id) else {
                continue;
            };
            let peer_ready = self.peer_ready(&op_id).unwrap_or(false);
            let progress_count = self.progress_count(&op_id).unwrap_or(0);
            let terminal_outcome = self.terminal_outcome(&op_id);
            let terminal_buffered = terminal_outcome.is_some();
            let watcher_count = self
                .records
                .get(&op_id)
                .map(|r| r.watchers.len() as u32)
                .unwrap_or(0);
            operations.insert(
                op_id,
                OperationCanonicalState {
                    status,
                    kind,
                    peer_ready,
                    progress_count,
                    watcher_count,
                    terminal_outcome,
                    terminal_buffered,
                },
            );
        }

        let authority_state = RegistryCanonicalState {
            operations,
            completed_order: self.completed_order.clone(),
            max_completed: self.max_completed,
            max_concurrent: self.max_concurrent,
            active_count: self.active_count(),
            wait_request_id: self.wait_request_id.clone(),
            wait_operation_ids: self.wait_operation_ids(),
            next_completion_seq: self.next_completion_seq,
        };

        PersistedOpsSnapshot {
            authority_state,
            operation_specs,
            completion_entries,
        }
    }

    /// 001:935–942.
    fn shell_record_mut(
        &mut self,
        id: &OperationId,
    ) -> Result<&mut ShellRecord, OpsLifecycleError> {
        self.records
            .get_mut(id)
            .ok_or_else(|| OpsLifecycleError::NotFound(id.clone()))
    }

    /// 001:944–959: outcomes in request order; a member without a terminal outcome
    /// (e.g. evicted since) fails the whole wait with `Internal`.
    fn collect_wait_outcomes(
        &self,
        operation_ids: &[OperationId],
    ) -> Result<Vec<(OperationId, OperationTerminalOutcome)>, OpsLifecycleError> {
        operation_ids
            .iter()
            .map(|operation_id| {
                let outcome = self.terminal_outcome(operation_id).ok_or_else(|| {
                    OpsLifecycleError::Internal(format!(
                        "wait_all completed without terminal outcome for {operation_id}"
                    ))
                })?;
                Ok((operation_id.clone(), outcome))
            })
            .collect()
    }
}

impl Default for ShellState {
    /// 001:962–966.
    fn default() -> Self {
        Self::new(DEFAULT_MAX_COMPLETED, None)
    }
}

// ===========================================================================
// Public configuration & registry (001:968–1243)
// ===========================================================================

/// 001:972–988.
#[derive(Debug, Clone)]
pub struct OpsLifecycleConfig {
    pub max_completed: usize,
    pub max_concurrent: Option<usize>,
}

impl Default for OpsLifecycleConfig {
    fn default() -> Self {
        Self {
            max_completed: DEFAULT_MAX_COMPLETED,
            max_concurrent: None,
        }
    }
}

/// 001:996–999 (`RwLock` → `RefCell`, single-threaded).
pub struct RuntimeOpsLifecycleRegistry {
    state: RefCell<ShellState>,
}

impl Default for RuntimeOpsLifecycleRegistry {
    fn default() -> Self {
        Self {
            state: RefCell::new(ShellState::default()),
        }
    }
}

impl RuntimeOpsLifecycleRegistry {
    /// 001:1021–1023.
    pub fn new() -> Self {
        Self::default()
    }

    /// 001:1025–1029.
    pub fn with_config(config: OpsLifecycleConfig) -> Self {
        Self {
            state: RefCell::new(ShellState::new(config.max_completed, config.max_concurrent)),
        }
    }

    /// 001:1054–1148: only terminal ops survive; `active_op_count = 0`;
    /// `completed_order` filtered to the retained ops; the sequence counter is
    /// re-seeded; the feed is re-filled by pushing every persisted entry (so its
    /// watermark becomes the last entry's seq, 0 when there are none); shell records are
    /// rebuilt for retained ops (no watchers). The wait barrier, `wait_request_id` and
    /// `pending_wait` are NOT restored.
    pub fn from_recovered(snapshot: PersistedOpsSnapshot) -> Self {
        let mut shell = ShellState::new(
            snapshot.authority_state.max_completed,
            snapshot.authority_state.max_concurrent,
        );

        // Only retain terminal operations in the DSL state.
        let mut retained_ids: HashSet<OperationId> = HashSet::new();
        for (op_id, op_state) in snapshot.authority_state.operations {
            if !op_state.status.is_terminal() {
                continue;
            }
            let id_key = mm_dsl::OperationId::from_domain(&op_id).0;
            shell.dsl.0.state.op_statuses.insert(
                id_key.clone(),
                mm_dsl::OperationStatus::from(op_state.status),
            );
            shell
                .dsl
                .0
                .state
                .op_kinds
                .insert(id_key.clone(), mm_dsl::OperationKind::from(op_state.kind));
            shell
                .dsl
                .0
                .state
                .op_peer_ready
                .insert(id_key.clone(), op_state.peer_ready);
            shell
                .dsl
                .0
                .state
                .op_progress_counts
                .insert(id_key.clone(), op_state.progress_count as u64);
            if let Some(outcome) = op_state.terminal_outcome.as_ref() {
                let (kind, payload) = ShellState::split_outcome(outcome);
                shell
                    .dsl
                    .0
                    .state
                    .op_terminal_outcomes
                    .insert(id_key.clone(), kind);
                shell
                    .dsl
                    .0
                    .state
                    .op_terminal_payload
                    .insert(id_key.clone(), payload);
            }
            retained_ids.insert(op_id);
        }
        // active_count is 0 — all retained ops are terminal.
        shell.dsl.0.state.active_op_count = 0;

        // Rebuild completed_order keeping only retained ops.
        shell.completed_order = snapshot
            .authority_state
            .completed_order
            .into_iter()
            .filter(|id| retained_ids.contains(id))
            .collect();

        // Re-seed completion sequence counter.
        shell.next_completion_seq = snapshot.authority_state.next_completion_seq;

        // Seed the feed buffer from persisted entries.
        for entry in &snapshot.completion_entries {
            shell.feed_buffer.push(entry.clone());
        }

        // Rebuild shell records from specs (no watchers), retained ops only.
        for (op_id, spec) in snapshot.operation_specs {
            if retained_ids.contains(&op_id) {
                shell.records.insert(
                    op_id,
                    ShellRecord {
                        spec,
                        watchers: Vec::new(),
                    },
                );
            }
        }

        Self {
            state: RefCell::new(shell),
        }
    }

    /// 001:1155–1165.
    pub fn capture_persistence_snapshot(&self) -> PersistedOpsSnapshot {
        let state = self.state.borrow();
        state.capture_snapshot()
    }

    /// 001:1168–1176.
    pub fn completion_feed_handle(&self) -> RuntimeCompletionFeed {
        let state = self.state.borrow();
        RuntimeCompletionFeed {
            buffer: Rc::clone(&state.feed_buffer),
        }
    }

    /// 001:1204–1208.
    fn read_state(&self) -> Result<Ref<'_, ShellState>, OpsLifecycleError> {
        self.state
            .try_borrow()
            .map_err(|_| OpsLifecycleError::Internal("ops lifecycle registry poisoned".into()))
    }

    /// 001:1210–1214.
    fn write_state(&self) -> Result<RefMut<'_, ShellState>, OpsLifecycleError> {
        self.state
            .try_borrow_mut()
            .map_err(|_| OpsLifecycleError::Internal("ops lifecycle registry poisoned".into()))
    }

    /// 001:1216–1242. When the shell's `wait_request_id` is this future's, clear it, drop
    /// the pending sender and fire CancelWaitAll. Otherwise (the `_ =>` arm) the pending
    /// sender is dropped UNCONDITIONALLY — even when it belongs to a newer request, whose
    /// future then resolves with "wait_all completion channel dropped" while the DSL
    /// barrier of that newer request stays active. Seed defect, kept on purpose.
    fn cancel_wait_all_internal(
        &self,
        wait_request_id: &WaitRequestId,
    ) -> Result<(), OpsLifecycleError> {
        let mut state = self.write_state()?;
        match state.wait_request_id.as_ref() {
            Some(active) if active == wait_request_id => {
                state.wait_request_id = None;
                state.pending_wait = None;
                let _ = state.dsl_apply(
                    mm_dsl::MeerkatMachineInput::CancelWaitAll,
                    "CancelWaitAll(cancel)",
                );
                Ok(())
            }
            _ => {
                state.pending_wait = None;
                Ok(())
            }
        }
    }
}

// ===========================================================================
// WaitAllFuture (001:1245–1307)
// ===========================================================================

/// 001:1245–1249.
enum WaitAllFutureState {
    Ready(Option<Result<WaitAllResult, OpsLifecycleError>>),
    Waiting(oneshot::Receiver<WaitAllSatisfied>),
    Done,
}

/// 001:1251–1256 (`&'a RuntimeOpsLifecycleRegistry` → `Rc<…>`).
struct WaitAllFuture {
    registry: Rc<RuntimeOpsLifecycleRegistry>,
    wait_request_id: WaitRequestId,
    operation_ids: Vec<OperationId>,
    state: WaitAllFutureState,
}

impl Future for WaitAllFuture {
    type Output = Result<WaitAllResult, OpsLifecycleError>;

    /// 001:1261–1296.
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.state {
            WaitAllFutureState::Ready(result) => {
                let ready = result.take().unwrap_or_else(|| {
                    Err(OpsLifecycleError::Internal(
                        "wait_all future polled after completion".into(),
                    ))
                });
                self.state = WaitAllFutureState::Done;
                Poll::Ready(ready)
            }
            WaitAllFutureState::Waiting(receiver) => match Pin::new(receiver).poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Ok(satisfied)) => {
                    let outcomes = match self.registry.read_state() {
                        Ok(state) => state.collect_wait_outcomes(&self.operation_ids),
                        Err(err) => Err(err),
                    };
                    self.state = WaitAllFutureState::Done;
                    Poll::Ready(outcomes.map(|outcomes| WaitAllResult {
                        outcomes,
                        satisfied,
                    }))
                }
                Poll::Ready(Err(_)) => {
                    self.state = WaitAllFutureState::Done;
                    Poll::Ready(Err(OpsLifecycleError::Internal(
                        "wait_all completion channel dropped".into(),
                    )))
                }
            },
            WaitAllFutureState::Done => Poll::Ready(Err(OpsLifecycleError::Internal(
                "wait_all future polled after completion".into(),
            ))),
        }
    }
}

impl Drop for WaitAllFuture {
    /// 001:1299–1307: cancel only while still `Waiting`.
    fn drop(&mut self) {
        if matches!(self.state, WaitAllFutureState::Waiting(_)) {
            let _ = self
                .registry
                .cancel_wait_all_internal(&self.wait_request_id);
        }
    }
}

/// What `wait_all` hands back (001:1774–1776).
pub type WaitAllFutureBox = Pin<Box<dyn Future<Output = Result<WaitAllResult, OpsLifecycleError>>>>;

// ===========================================================================
// Shell → DSL error classification (001:1309–1389)
// ===========================================================================

/// 001:1333–1351.
fn classify_op_rejection(
    err: mm_dsl::MeerkatMachineTransitionError,
    id: &OperationId,
    status: OperationStatus,
    action: &'static str,
) -> OpsLifecycleError {
    match err {
        mm_dsl::MeerkatMachineTransitionError::GuardRejected { .. } => {
            OpsLifecycleError::InvalidTransition {
                id: id.clone(),
                status,
                action,
            }
        }
        other => OpsLifecycleError::Internal(format!(
            "DSL rejected ops transition ({action}): {other:?}"
        )),
    }
}

/// 001:1364–1389: kind → PeerNotExpected, already ready → AlreadyPeerReady, else
/// InvalidTransition.
fn classify_peer_ready_rejection(
    state: &ShellState,
    err: mm_dsl::MeerkatMachineTransitionError,
    id: &OperationId,
    status: OperationStatus,
) -> OpsLifecycleError {
    match err {
        mm_dsl::MeerkatMachineTransitionError::GuardRejected { .. } => {
            let kind = state.kind(id);
            if kind != Some(OperationKind::MobMemberChild) {
                return OpsLifecycleError::PeerNotExpected(id.clone());
            }
            if state.peer_ready(id).unwrap_or(false) {
                return OpsLifecycleError::AlreadyPeerReady(id.clone());
            }
            OpsLifecycleError::InvalidTransition {
                id: id.clone(),
                status,
                action: "peer_ready",
            }
        }
        other => OpsLifecycleError::Internal(format!(
            "DSL rejected ops transition (peer_ready): {other:?}"
        )),
    }
}

// ===========================================================================
// The `OpsLifecycleRegistry` methods (001:1391–1839), as inherent methods
// ===========================================================================

impl RuntimeOpsLifecycleRegistry {
    /// 001:1392–1423: AlreadyRegistered (tracked id) first, then
    /// MaxConcurrentExceeded{limit, active}, then RegisterOp + shell record.
    pub fn register_operation(&self, spec: OperationSpec) -> Result<(), OpsLifecycleError> {
        let mut state = self.write_state()?;
        let operation_id = spec.id.clone();
        let kind = spec.kind;

        // Pre-check: duplicate.
        if state.contains(&operation_id) {
            return Err(OpsLifecycleError::AlreadyRegistered(operation_id));
        }
        // Pre-check: concurrency limit.
        if let Some(limit) = state.max_concurrent {
            if state.active_count() >= limit {
                return Err(OpsLifecycleError::MaxConcurrentExceeded {
                    limit,
                    active: state.active_count(),
                });
            }
        }

        // DSL apply.
        state.dsl_apply(
            mm_dsl::MeerkatMachineInput::RegisterOp {
                operation_id: mm_dsl::OperationId::from_domain(&operation_id).0,
                kind: mm_dsl::OperationKind::from_domain(&kind),
            },
            "RegisterOp",
        )?;

        // Insert shell record.
        state.records.insert(operation_id, ShellRecord::new(spec));
        Ok(())
    }

    /// 001:1425–1448.
    pub fn provisioning_succeeded(&self, id: &OperationId) -> Result<(), OpsLifecycleError> {
        let mut state = self.write_state()?;

        let status = state
            .status(id)
            .ok_or_else(|| OpsLifecycleError::NotFound(id.clone()))?;

        if let Err(err) = state.dsl_apply_raw(mm_dsl::MeerkatMachineInput::StartOp {
            operation_id: mm_dsl::OperationId::from_domain(id).0,
        }) {
            return Err(classify_op_rejection(
                err,
                id,
                status,
                "provisioning_succeeded",
            ));
        }
        // (Upstream records the started timestamp here.)
        Ok(())
    }

    /// 001:1450–1475: the SAME FailOp transition as `fail_operation` (legal from
    /// Provisioning / Running / Retiring), rejection labelled "fail_operation".
    pub fn provisioning_failed(
        &self,
        id: &OperationId,
        error: String,
    ) -> Result<(), OpsLifecycleError> {
        let mut state = self.write_state()?;

        let status = state
            .status(id)
            .ok_or_else(|| OpsLifecycleError::NotFound(id.clone()))?;

        let terminal_outcome = OperationTerminalOutcome::Failed { error };
        let (outcome_kind, outcome_payload) = ShellState::split_outcome(&terminal_outcome);

        if let Err(err) = state.dsl_apply_raw(mm_dsl::MeerkatMachineInput::FailOp {
            operation_id: mm_dsl::OperationId::from_domain(id).0,
            outcome: outcome_kind,
            payload: outcome_payload,
        }) {
            return Err(classify_op_rejection(err, id, status, "fail_operation"));
        }

        state.finalize_terminal(id);
        state.maybe_persist()?;
        Ok(())
    }

    /// 001:1477–1503.
    pub fn peer_ready(&self, id: &OperationId) -> Result<(), OpsLifecycleError> {
        let mut state = self.write_state()?;

        let status = state
            .status(id)
            .ok_or_else(|| OpsLifecycleError::NotFound(id.clone()))?;

        if let Err(err) = state.dsl_apply_raw(mm_dsl::MeerkatMachineInput::PeerReadyOp {
            operation_id: mm_dsl::OperationId::from_domain(id).0,
        }) {
            return Err(classify_peer_ready_rejection(&state, err, id, status));
        }
        // (Upstream stores the peer handle here.)
        Ok(())
    }

    /// 001:1505–1525: terminal → already-resolved watch; else a pending watcher whose
    /// sender is kept in the shell record until the terminal transition.
    pub fn register_watcher(
        &self,
        id: &OperationId,
    ) -> Result<OperationCompletionWatch, OpsLifecycleError> {
        let mut state = self.write_state()?;

        if !state.contains(id) {
            return Err(OpsLifecycleError::NotFound(id.clone()));
        }

        // If already terminal, return an already-resolved watch.
        if let Some(outcome) = state.terminal_outcome(id) {
            return Ok(OperationCompletionWatch::already_resolved(outcome));
        }

        // Shell concern: create the channel and store the sender.
        let shell = state.shell_record_mut(id)?;
        let (tx, watch) = OperationCompletionWatch::channel();
        shell.watchers.push(tx);
        Ok(watch)
    }

    /// 001:1527–1544.
    pub fn report_progress(&self, id: &OperationId) -> Result<(), OpsLifecycleError> {
        let mut state = self.write_state()?;

        let status = state
            .status(id)
            .ok_or_else(|| OpsLifecycleError::NotFound(id.clone()))?;

        if let Err(err) = state.dsl_apply_raw(mm_dsl::MeerkatMachineInput::ProgressReportedOp {
            operation_id: mm_dsl::OperationId::from_domain(id).0,
        }) {
            return Err(classify_op_rejection(err, id, status, "report_progress"));
        }
        Ok(())
    }

    /// 001:1546–1571.
    pub fn complete_operation(
        &self,
        id: &OperationId,
        result: OperationResult,
    ) -> Result<(), OpsLifecycleError> {
        let mut state = self.write_state()?;

        let status = state
            .status(id)
            .ok_or_else(|| OpsLifecycleError::NotFound(id.clone()))?;

        let terminal_outcome = OperationTerminalOutcome::Completed(result);
        let (outcome_kind, outcome_payload) = ShellState::split_outcome(&terminal_outcome);

        if let Err(err) = state.dsl_apply_raw(mm_dsl::MeerkatMachineInput::CompleteOp {
            operation_id: mm_dsl::OperationId::from_domain(id).0,
            outcome: outcome_kind,
            payload: outcome_payload,
        }) {
            return Err(classify_op_rejection(err, id, status, "complete_operation"));
        }

        state.finalize_terminal(id);
        state.maybe_persist()?;
        Ok(())
    }

    /// 001:1573–1594.
    pub fn fail_operation(&self, id: &OperationId, error: String) -> Result<(), OpsLifecycleError> {
        let mut state = self.write_state()?;

        let status = state
            .status(id)
            .ok_or_else(|| OpsLifecycleError::NotFound(id.clone()))?;

        let terminal_outcome = OperationTerminalOutcome::Failed { error };
        let (outcome_kind, outcome_payload) = ShellState::split_outcome(&terminal_outcome);

        if let Err(err) = state.dsl_apply_raw(mm_dsl::MeerkatMachineInput::FailOp {
            operation_id: mm_dsl::OperationId::from_domain(id).0,
            outcome: outcome_kind,
            payload: outcome_payload,
        }) {
            return Err(classify_op_rejection(err, id, status, "fail_operation"));
        }

        state.finalize_terminal(id);
        state.maybe_persist()?;
        Ok(())
    }

    /// 001:1596–1621.
    pub fn abort_provisioning(
        &self,
        id: &OperationId,
        reason: Option<String>,
    ) -> Result<(), OpsLifecycleError> {
        let mut state = self.write_state()?;

        let status = state
            .status(id)
            .ok_or_else(|| OpsLifecycleError::NotFound(id.clone()))?;

        let terminal_outcome = OperationTerminalOutcome::Aborted { reason };
        let (outcome_kind, outcome_payload) = ShellState::split_outcome(&terminal_outcome);

        if let Err(err) = state.dsl_apply_raw(mm_dsl::MeerkatMachineInput::AbortOp {
            operation_id: mm_dsl::OperationId::from_domain(id).0,
            outcome: outcome_kind,
            payload: outcome_payload,
        }) {
            return Err(classify_op_rejection(err, id, status, "abort_provisioning"));
        }

        state.finalize_terminal(id);
        state.maybe_persist()?;
        Ok(())
    }

    /// 001:1623–1648.
    pub fn cancel_operation(
        &self,
        id: &OperationId,
        reason: Option<String>,
    ) -> Result<(), OpsLifecycleError> {
        let mut state = self.write_state()?;

        let status = state
            .status(id)
            .ok_or_else(|| OpsLifecycleError::NotFound(id.clone()))?;

        let terminal_outcome = OperationTerminalOutcome::Cancelled { reason };
        let (outcome_kind, outcome_payload) = ShellState::split_outcome(&terminal_outcome);

        if let Err(err) = state.dsl_apply_raw(mm_dsl::MeerkatMachineInput::CancelOp {
            operation_id: mm_dsl::OperationId::from_domain(id).0,
            outcome: outcome_kind,
            payload: outcome_payload,
        }) {
            return Err(classify_op_rejection(err, id, status, "cancel_operation"));
        }

        state.finalize_terminal(id);
        state.maybe_persist()?;
        Ok(())
    }

    /// 001:1650–1663.
    pub fn request_retire(&self, id: &OperationId) -> Result<(), OpsLifecycleError> {
        let mut state = self.write_state()?;

        let status = state
            .status(id)
            .ok_or_else(|| OpsLifecycleError::NotFound(id.clone()))?;

        if let Err(err) = state.dsl_apply_raw(mm_dsl::MeerkatMachineInput::RetireRequestedOp {
            operation_id: mm_dsl::OperationId::from_domain(id).0,
        }) {
            return Err(classify_op_rejection(err, id, status, "request_retire"));
        }
        Ok(())
    }

    /// 001:1665–1686.
    pub fn mark_retired(&self, id: &OperationId) -> Result<(), OpsLifecycleError> {
        let mut state = self.write_state()?;

        let status = state
            .status(id)
            .ok_or_else(|| OpsLifecycleError::NotFound(id.clone()))?;

        let terminal_outcome = OperationTerminalOutcome::Retired;
        let (outcome_kind, outcome_payload) = ShellState::split_outcome(&terminal_outcome);

        if let Err(err) = state.dsl_apply_raw(mm_dsl::MeerkatMachineInput::RetireCompletedOp {
            operation_id: mm_dsl::OperationId::from_domain(id).0,
            outcome: outcome_kind,
            payload: outcome_payload,
        }) {
            return Err(classify_op_rejection(err, id, status, "mark_retired"));
        }

        state.finalize_terminal(id);
        state.maybe_persist()?;
        Ok(())
    }

    /// 001:1688–1690.
    pub fn snapshot(&self, id: &OperationId) -> Option<OperationLifecycleSnapshot> {
        self.read_state().ok().and_then(|state| state.snapshot(id))
    }

    /// 001:1692–1705 (sorted by display name, as upstream).
    pub fn list_operations(&self) -> Vec<OperationLifecycleSnapshot> {
        let mut snapshots = self
            .read_state()
            .map(|state| {
                state
                    .operation_ids()
                    .into_iter()
                    .filter_map(|id| state.snapshot(&id))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        snapshots.sort_by(|left, right| left.display_name.cmp(&right.display_name));
        snapshots
    }

    /// Port-only read of `active_count()` (001:573–575); the seed reaches it through
    /// `diagnostic_snapshot` (001:1179–1202).
    pub fn active_count(&self) -> usize {
        self.read_state().map(|s| s.active_count()).unwrap_or(0)
    }

    /// 001:1707–1738: one TerminateOp per non-terminal op, in
    /// `owner_termination_targets` order (sorted JSON-encoded ids), each followed by
    /// `finalize_terminal` (so evictions and barrier satisfaction interleave).
    /// Port-only: also returns the ids it terminated, in that order.
    pub fn terminate_owner(&self, reason: String) -> Result<Vec<OperationId>, OpsLifecycleError> {
        let mut state = self.write_state()?;

        let to_terminate = state.owner_termination_targets();
        let mut terminated = Vec::with_capacity(to_terminate.len());

        for (op_id, status) in &to_terminate {
            let terminal_outcome = OperationTerminalOutcome::Terminated {
                reason: reason.clone(),
            };
            let (outcome_kind, outcome_payload) = ShellState::split_outcome(&terminal_outcome);

            if let Err(err) = state.dsl_apply_raw(mm_dsl::MeerkatMachineInput::TerminateOp {
                operation_id: mm_dsl::OperationId::from_domain(op_id).0,
                outcome: outcome_kind,
                payload: outcome_payload,
            }) {
                return Err(classify_op_rejection(
                    err,
                    op_id,
                    *status,
                    "terminate_owner",
                ));
            }

            state.finalize_terminal(op_id);
            terminated.push(op_id.clone());
        }

        if !to_terminate.is_empty() {
            state.maybe_persist()?;
        }
        Ok(terminated)
    }

    /// 001:1740–1764: drain `completed_order`, removing each op from every DSL map and
    /// its shell record; report the ones that still had an outcome.
    pub fn collect_completed(
        &self,
    ) -> Result<Vec<(OperationId, OperationTerminalOutcome)>, OpsLifecycleError> {
        let mut state = self.write_state()?;

        let ids: Vec<OperationId> = state.completed_order.drain(..).collect();
        let mut collected = Vec::with_capacity(ids.len());
        for id in ids {
            let outcome = state.terminal_outcome(&id);
            // Remove from DSL state and shell record.
            let id_key = mm_dsl::OperationId::from_domain(&id).0;
            state.dsl.0.state.op_statuses.remove(&id_key);
            state.dsl.0.state.op_kinds.remove(&id_key);
            state.dsl.0.state.op_peer_ready.remove(&id_key);
            state.dsl.0.state.op_progress_counts.remove(&id_key);
            state.dsl.0.state.op_terminal_outcomes.remove(&id_key);
            state.dsl.0.state.op_terminal_payload.remove(&id_key);
            state.dsl.0.state.op_completion_seq.remove(&id_key);
            state.records.remove(&id);
            if let Some(outcome) = outcome {
                collected.push((id, outcome));
            }
        }
        Ok(collected)
    }

    /// 001:1766–1768.
    pub fn completion_feed(&self) -> Option<RuntimeCompletionFeed> {
        Some(self.completion_feed_handle())
    }

    /// 001:1770–1838. `self: &Rc<Self>` stands in for the `'_` borrow of the registry.
    pub fn wait_all(self: &Rc<Self>, _run_id: &RunId, ids: &[OperationId]) -> WaitAllFutureBox {
        let wait_request_id = WaitRequestId::new();
        let owned_ids = ids.to_vec();

        let state = match self.write_state() {
            Ok(mut state) => match state.begin_wait_all_authority(&wait_request_id, &owned_ids) {
                Ok(WaitAllAuthorityPlan::AlreadySatisfied(satisfied)) => {
                    let outcomes = state
                        .collect_wait_outcomes(&owned_ids)
                        .map(|outcomes| WaitAllResult {
                            outcomes,
                            satisfied,
                        });
                    WaitAllFutureState::Ready(Some(outcomes))
                }
                Ok(WaitAllAuthorityPlan::ActivateBarrier) => {
                    state.wait_request_id = Some(wait_request_id.clone());

                    if state.pending_wait.is_some() {
                        // Roll back the DSL barrier we just activated (001:1796–1818).
                        state.wait_request_id = None;
                        let _ = state.dsl_apply(
                            mm_dsl::MeerkatMachineInput::CancelWaitAll,
                            "CancelWaitAll(rollback)",
                        );
                        return Box::pin(WaitAllFuture {
                            registry: Rc::clone(self),
                            wait_request_id,
                            operation_ids: owned_ids,
                            state: WaitAllFutureState::Ready(Some(Err(
                                OpsLifecycleError::Internal(
                                    "wait_all started while a pending wait sender already existed"
                                        .into(),
                                ),
                            ))),
                        });
                    }
                    let (sender, receiver) = oneshot::channel();
                    state.pending_wait = Some(PendingWaitState {
                        wait_request_id: wait_request_id.clone(),
                        sender,
                    });
                    WaitAllFutureState::Waiting(receiver)
                }
                Err(err) => WaitAllFutureState::Ready(Some(Err(err))),
            },
            Err(err) => WaitAllFutureState::Ready(Some(Err(err))),
        };

        Box::pin(WaitAllFuture {
            registry: Rc::clone(self),
            wait_request_id,
            operation_ids: owned_ids,
            state,
        })
    }
}

// ===========================================================================
// Port-only unit tests mirroring the seed's own tests (001:1841–2342)
// ===========================================================================

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    fn poll_once(fut: &mut WaitAllFutureBox) -> Poll<Result<WaitAllResult, OpsLifecycleError>> {
        let mut cx = Context::from_waker(Waker::noop());
        fut.as_mut().poll(&mut cx)
    }

    fn spec(id: &str, kind: OperationKind) -> OperationSpec {
        OperationSpec {
            id: id.into(),
            kind,
            display_name: id.into(),
        }
    }

    fn done() -> OperationResult {
        OperationResult {
            content: "done".into(),
        }
    }

    #[test]
    fn json_key_encoding_matches_serde_json() {
        assert_eq!(serde_json::to_string("a"), "\"a\"");
        assert_eq!(serde_json::to_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(
            serde_json::to_string("\u{08}\u{0c}\n\r\t\u{01}\u{1f}\u{7f}é"),
            "\"\\b\\f\\n\\r\\t\\u0001\\u001f\u{7f}é\""
        );
        for s in ["", "a", "\"", "\\", "\u{0}x", "é☃😀"] {
            assert_eq!(serde_json::from_str(&serde_json::to_string(s)).unwrap(), s);
        }
    }

    #[test]
    fn late_watchers_resolve_immediately() {
        let registry = RuntimeOpsLifecycleRegistry::new();
        registry
            .register_operation(spec("late", OperationKind::BackgroundToolOp))
            .unwrap();
        let id = "late".to_string();
        registry.provisioning_succeeded(&id).unwrap();
        registry.complete_operation(&id, done()).unwrap();
        assert!(registry.register_watcher(&id).unwrap().is_resolved());
    }

    #[test]
    fn bounded_completed_retention_evicts_oldest() {
        let registry = RuntimeOpsLifecycleRegistry::with_config(OpsLifecycleConfig {
            max_completed: 3,
            max_concurrent: None,
        });
        for i in 0..5 {
            let id = format!("op-{i}");
            registry
                .register_operation(spec(&id, OperationKind::BackgroundToolOp))
                .unwrap();
            registry.provisioning_succeeded(&id).unwrap();
            registry.complete_operation(&id, done()).unwrap();
        }
        assert!(registry.snapshot(&"op-0".into()).is_none());
        assert!(registry.snapshot(&"op-1".into()).is_none());
        assert!(registry.snapshot(&"op-4".into()).is_some());
    }

    #[test]
    fn dropping_wait_all_future_cancels_active_wait_request() {
        let registry = Rc::new(RuntimeOpsLifecycleRegistry::new());
        registry
            .register_operation(spec("w", OperationKind::BackgroundToolOp))
            .unwrap();
        let fut = registry.wait_all(&RunId(1), &["w".into()]);
        assert!(registry.state.borrow().wait_active());
        drop(fut);
        let state = registry.state.borrow();
        assert!(state.wait_request_id.is_none());
        assert!(state.wait_operation_ids().is_empty());
        assert!(!state.wait_active());
    }

    #[test]
    fn stale_future_drop_drops_newer_sender() {
        let registry = Rc::new(RuntimeOpsLifecycleRegistry::new());
        registry
            .register_operation(spec("a", OperationKind::BackgroundToolOp))
            .unwrap();
        let mut first = registry.wait_all(&RunId(1), &["a".into()]);
        assert!(poll_once(&mut first).is_pending());
        registry.fail_operation(&"a".into(), "x".into()).unwrap();
        registry
            .register_operation(spec("b", OperationKind::BackgroundToolOp))
            .unwrap();
        let mut second = registry.wait_all(&RunId(1), &["b".into()]);
        assert!(poll_once(&mut second).is_pending());
        drop(first);
        assert!(matches!(
            poll_once(&mut second),
            Poll::Ready(Err(OpsLifecycleError::Internal(_)))
        ));
        assert!(registry.state.borrow().wait_active());
    }
}
