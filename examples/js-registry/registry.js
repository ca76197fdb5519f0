'use strict';
// Ops lifecycle registry, "reference" profile, in plain JavaScript (no I/O).
// Written from the protocol, the design notes and the seed registry; it differs
// from the seed in three decisions:
//   1. a wait barrier records each member's outcome when it finishes, so evicting
//      or collecting a finished member cannot block the wait;
//   2. ids are never reused (the set of ever-registered ids survives everything);
//   3. provisioning_failed is legal only from provisioning.

const LIVE = new Set(['provisioning', 'running', 'retiring']);
const KINDS = new Set(['mob_member_child', 'background_tool_op']);

// Label used in invalid_transition for provisioning_failed. The brief asks for the
// call name; the seed (and PROTOCOL.md's wording) uses "fail_operation".
const PROVISIONING_FAILED_ACTION = 'provisioning_failed';

// A refused call: carries the protocol error kind and its fields.
class RegistryError extends Error {
  constructor(kind, fields = {}, message = kind) {
    super(message);
    this.kind = kind;
    this.fields = fields;
  }
  toJSON() {
    return { kind: this.kind, ...this.fields, message: this.message };
  }
}

// from-status sets of the transitions; the bug flag widens complete_operation only.
function transitionTable(bugs) {
  return {
    provisioning_succeeded: { from: ['provisioning'], to: 'running' },
    provisioning_failed: { from: ['provisioning'], to: 'failed', action: PROVISIONING_FAILED_ACTION },
    fail_operation: { from: ['provisioning', 'running', 'retiring'], to: 'failed' },
    abort_provisioning: { from: ['provisioning'], to: 'aborted' },
    cancel_operation: { from: ['provisioning', 'running', 'retiring'], to: 'cancelled' },
    request_retire: { from: ['running'], to: 'retiring' },
    mark_retired: { from: ['running', 'retiring'], to: 'retired' },
    complete_operation: {
      from: bugs.has('complete-from-provisioning')
        ? ['provisioning', 'running', 'retiring'] : ['running', 'retiring'],
      to: 'completed',
    },
  };
}

class Registry {
  constructor({ max_completed = 256, max_concurrent = null } = {}, bugs = new Set()) {
    this.maxCompleted = max_completed;
    this.maxConcurrent = max_concurrent;
    this.bugs = bugs;
    this.transitions = transitionTable(bugs);
    this.ops = new Map();          // id -> op record; Map keeps registration order
    this.everRegistered = new Set(); // decision 2: never forgotten
    this.activeCount = 0;
    this.completedOrder = [];      // retained terminal ids, oldest completion first
    this.nextSeq = 0;              // last completion seq handed out
    this.feedEntries = [];         // [{seq,id,outcome}], bounded like the seed's buffer
    this.watermark = 0;
    this.feedCapacity = Math.max(4 * max_completed, 1024);
    this.wait = null;              // {pending:Set, outcomes:Map, state:'waiting'|'done'|'cancelled'}
  }

  // --- helpers -------------------------------------------------------------

  tracked(id) {
    const op = this.ops.get(id);
    if (!op) throw new RegistryError('not_found', { id }, `operation ${id} not found`);
    return op;
  }

  invalid(id, op, action) {
    return new RegistryError('invalid_transition', { id, status: op.status, action },
      `${action} not allowed from ${op.status}`);
  }

  // Everything a terminal transition must do, in the seed's order:
  // resolve watchers, seq + feed entry, FIFO retention/eviction, then barrier.
  finish(id, op, status) {
    op.status = status;
    op.outcome = status;
    op.watchers = 0;
    this.activeCount -= 1;
    op.seq = ++this.nextSeq;
    this.feedEntries.push({ seq: op.seq, id, outcome: status });
    this.watermark = op.seq;
    while (this.feedEntries.length > this.feedCapacity) this.feedEntries.shift();
    this.completedOrder.push(id);
    while (this.completedOrder.length > this.maxCompleted) {
      this.ops.delete(this.completedOrder.shift()); // evicted: forgotten entirely
    }
    // Decision 1: the barrier learns the outcome now, independent of retention.
    const w = this.wait;
    if (w && w.state === 'waiting' && w.pending.has(id)) {
      w.pending.delete(id);
      w.outcomes.set(id, status);
      if (w.pending.size === 0) w.state = 'done';
    }
  }

  // --- calls ---------------------------------------------------------------

  register_operation({ id, kind }) {
    if (!KINDS.has(kind)) throw new RegistryError('unsupported', {}, `unknown kind ${kind}`);
    if (this.ops.has(id) || this.everRegistered.has(id)) {
      throw new RegistryError('already_registered', { id }, `operation ${id} already registered`);
    }
    if (this.maxConcurrent !== null && this.activeCount >= this.maxConcurrent) {
      throw new RegistryError('max_concurrent_exceeded',
        { limit: this.maxConcurrent, active: this.activeCount }, 'concurrency limit reached');
    }
    this.ops.set(id, { status: 'provisioning', kind, peer_ready: false, progress: 0,
      watchers: 0, outcome: null, seq: null });
    this.everRegistered.add(id);
    this.activeCount += 1;
    return null;
  }

  // Shared body of the table-driven status transitions.
  transition(call, id) {
    const op = this.tracked(id);
    const t = this.transitions[call];
    if (!t.from.includes(op.status)) throw this.invalid(id, op, t.action || call);
    if (LIVE.has(t.to)) op.status = t.to;
    else this.finish(id, op, t.to);
    return null;
  }

  report_progress({ id }) {
    const op = this.tracked(id);
    if (op.status !== 'running' && op.status !== 'retiring') throw this.invalid(id, op, 'report_progress');
    op.progress += 1;
    return null;
  }

  // Guard order from the seed's classifier: kind, already ready, then status.
  peer_ready({ id }) {
    const op = this.tracked(id);
    if (op.kind !== 'mob_member_child') throw new RegistryError('peer_not_expected', { id }, 'no peer expected');
    if (op.peer_ready) throw new RegistryError('already_peer_ready', { id }, 'peer already ready');
    if (op.status !== 'running' && op.status !== 'retiring') throw this.invalid(id, op, 'peer_ready');
    op.peer_ready = true;
    return null;
  }

  register_watcher({ id }) {
    const op = this.tracked(id);
    if (!LIVE.has(op.status)) return { resolved: true }; // late watcher: nothing to store
    op.watchers += 1;
    return { resolved: false };
  }

  // Only live ops are picked, so terminate_owner itself never refuses.
  terminate_owner() {
    const targets = [...this.ops].filter(([, op]) => LIVE.has(op.status)).map(([id]) => id);
    for (const id of targets) this.finish(id, this.ops.get(id), 'terminated');
    return { terminated: targets };
  }

  collect_completed() {
    const drained = this.completedOrder.map((id) => ({ id, outcome: this.ops.get(id).outcome }));
    for (const { id } of drained) this.ops.delete(id);
    this.completedOrder = [];
    return drained;
  }

  wait_begin({ ids }) {
    const seen = new Set();
    for (const id of ids) {
      if (seen.has(id)) throw new RegistryError('duplicate_wait_operation', { id }, `duplicate id ${id}`);
      seen.add(id);
    }
    if (this.wait && this.wait.state === 'waiting') {
      throw new RegistryError('wait_already_active', {}, 'a wait is already active');
    }
    for (const id of ids) this.tracked(id);
    const pending = new Set(ids.filter((id) => LIVE.has(this.ops.get(id).status)));
    const outcomes = new Map(ids.filter((id) => !pending.has(id)).map((id) => [id, this.ops.get(id).outcome]));
    // All finished already: resolved at once, no barrier armed.
    this.wait = { ids, pending, outcomes, state: pending.size === 0 ? 'done' : 'waiting' };
    return { done: pending.size === 0 };
  }

  wait_poll() {
    return { state: this.wait ? this.wait.state : 'none' };
  }

  wait_cancel() {
    if (this.wait && this.wait.state === 'waiting') this.wait.state = 'cancelled';
    return null;
  }

  snapshotOf(op) {
    const { status, kind, peer_ready, progress, watchers, outcome } = op;
    return { status, kind, peer_ready, progress, watchers, outcome };
  }

  snapshot({ id }) {
    const op = this.ops.get(id);
    return op ? this.snapshotOf(op) : null;
  }

  operations() {
    const out = Object.create(null); // ids like "__proto__" must stay plain keys
    for (const [id, op] of this.ops) out[id] = this.snapshotOf(op);
    return { active_count: this.activeCount, operations: out };
  }

  active_count() {
    return this.activeCount;
  }

  feed({ after }) {
    return { watermark: this.watermark, entries: this.feedEntries.filter((e) => e.seq > after) };
  }

  // --- persistence ---------------------------------------------------------

  // The persisted form is plain JSON; live ops are written too but dropped on
  // recovery, as the seed's from_recovered does.
  persist() {
    return JSON.stringify({
      max_completed: this.maxCompleted,
      max_concurrent: this.maxConcurrent,
      operations: [...this.ops].map(([id, op]) => ({ id, ...op })),
      completed_order: this.completedOrder,
      ever_registered: [...this.everRegistered],
      next_seq: this.nextSeq,
      watermark: this.watermark,
      feed: this.feedEntries,
    });
  }

  static recover(text, bugs) {
    const s = JSON.parse(text);
    const r = new Registry({ max_completed: s.max_completed, max_concurrent: s.max_concurrent }, bugs);
    for (const { id, ...op } of s.operations) {
      if (LIVE.has(op.status)) continue; // only terminal ops survive a restart
      r.ops.set(id, { ...op, watchers: 0 });
    }
    r.completedOrder = s.completed_order.filter((id) => r.ops.has(id));
    r.everRegistered = new Set(s.ever_registered);
    r.nextSeq = s.next_seq;
    r.watermark = s.watermark;
    r.feedEntries = s.feed;
    return r; // activeCount 0, no wait: a waiter does not survive a restart
  }
}

for (const call of Object.keys(transitionTable(new Set()))) {
  Registry.prototype[call] = function ({ id }) { return this.transition(call, id); };
}

module.exports = { Registry, RegistryError, KINDS };
