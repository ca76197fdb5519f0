'use strict';
// JSON-lines stdio driver for the JS registry (protocol opsref.trace/1).
// One request per line in, exactly one response line out, written before the
// next line is read. stdout carries responses only; diagnostics go to stderr.
//
//   node server.js [--bug complete-from-provisioning]

const readline = require('readline');
const { Registry, RegistryError, KINDS } = require('./registry');

const KNOWN_BUGS = new Set(['complete-from-provisioning']);

function parseArgs(argv) {
  const bugs = new Set();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    let name;
    if (arg === '--bug') name = argv[++i] ?? '(missing)';
    else if (arg.startsWith('--bug=')) name = arg.slice('--bug='.length);
    else {
      process.stderr.write(`server.js: unknown argument ${arg}\n`);
      process.exit(2);
    }
    if (!KNOWN_BUGS.has(name)) {
      process.stderr.write(`server.js: unknown --bug ${name}; known: ${[...KNOWN_BUGS].join(', ')}\n`);
      process.exit(2);
    }
    bugs.add(name);
  }
  return bugs;
}

// Argument validators: every listed argument is required, no other allowed.
const isId = (v) => typeof v === 'string';
const isNat = (v) => Number.isSafeInteger(v) && v >= 0;
const ID = { id: isId };
const NONE = {};
const SIGNATURES = {
  reset: { max_completed: isNat, max_concurrent: (v) => v === null || isNat(v) },
  register_operation: { id: isId, kind: (v) => KINDS.has(v) },
  provisioning_succeeded: ID, provisioning_failed: ID, fail_operation: ID,
  abort_provisioning: ID, cancel_operation: ID, request_retire: ID, mark_retired: ID,
  complete_operation: ID, report_progress: ID, peer_ready: ID, register_watcher: ID,
  snapshot: ID,
  terminate_owner: NONE, collect_completed: NONE, wait_poll: NONE, wait_cancel: NONE,
  operations: NONE, active_count: NONE, persist_and_recover: NONE,
  wait_begin: { ids: (v) => Array.isArray(v) && v.every(isId) },
  feed: { after: isNat },
};

const unsupported = (message) => ({ error: { kind: 'unsupported', message } });

function checkArgs(call, args) {
  const sig = SIGNATURES[call];
  if (args === null || typeof args !== 'object' || Array.isArray(args)) return 'args must be an object';
  for (const key of Object.keys(args)) if (!Object.hasOwn(sig, key)) return `unexpected argument ${key}`;
  for (const [key, ok] of Object.entries(sig)) {
    if (!Object.hasOwn(args, key)) return `missing argument ${key}`;
    if (!ok(args[key])) return `bad value for ${key}: ${JSON.stringify(args[key])}`;
  }
  return null;
}

function main() {
  const bugs = parseArgs(process.argv.slice(2));
  // A default registry so a request before the first reset still gets an answer.
  let registry = new Registry({}, bugs);

  function handle(line) {
    let req;
    try {
      req = JSON.parse(line);
    } catch (e) {
      return unsupported(`malformed JSON: ${e.message}`);
    }
    if (req === null || typeof req !== 'object' || typeof req.call !== 'string') {
      return unsupported('request must be an object with a string "call"');
    }
    const { call } = req;
    const args = req.args === undefined ? {} : req.args;
    if (!Object.hasOwn(SIGNATURES, call)) return unsupported(`unknown call ${call}`);
    const bad = checkArgs(call, args);
    if (bad) return unsupported(`${call}: ${bad}`);

    if (call === 'reset') {
      registry = new Registry(args, bugs); // also drops the last wait
      return { ok: null };
    }
    if (call === 'persist_and_recover') {
      registry = Registry.recover(registry.persist(), bugs);
      return { ok: null };
    }
    try {
      return { ok: registry[call](args) };
    } catch (e) {
      if (e instanceof RegistryError) return { error: e.toJSON() };
      process.stderr.write(`server.js: internal error on ${line}\n${e.stack}\n`);
      return { error: { kind: 'internal', message: String(e && e.message) } };
    }
  }

  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false });
  // readline handles lines one at a time and handle() is synchronous, so each
  // response is written before the next request is processed. Writes to a pipe
  // are synchronous on POSIX in Node, so nothing is lost at end of input.
  rl.on('line', (line) => {
    process.stdout.write(JSON.stringify(handle(line)) + '\n');
  });
}

main();
