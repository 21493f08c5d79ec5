// Interop check (issue 3, test 5): an unmodified automerge-repo 2.5 client from npm, with its WebSocket
// network adapter, syncs a Casebook case through the relay. Driven by tests/tests/interop_js.rs, which
// creates the case in Rust, runs this script, and checks the Rust side.
//
//   node interop.mjs --relay ws://127.0.0.1:PORT/v1/sync --token TOKEN --peer-id device-ID --doc automerge:ID \
//     --expect-name NAME --expect-symptoms TEXT --insert-after MARK --insert TEXT --set-stage STAGE \
//     --wait-symptoms TEXT --wait-stage STAGE [--timeout-ms 30000]
//
// 1. Connects a Repo (no storage) to `RELAY?token=TOKEN` announcing PEER_ID (the relay binds it to the device
//    the token authenticates), then `repo.find(DOC)`.
// 2. Checks what Rust wrote: `patient.display_name` == NAME and `symptoms` == TEXT.
// 3. Edits: splices INSERT into the `symptoms` Text right after the first MARK (UTF-16 index, as JS counts)
//    and sets `patient.stage` (Automerge 3 stores a plain string as a Text object).
// 4. Waits until the relay holds the edit: the relay's heads, as its sync messages report them, include it.
// 5. Waits (polling the document) for the Rust edit made after it: `symptoms` == WAIT_SYMPTOMS and
//    `patient.stage` == WAIT_STAGE.
// Prints one JSON object on stdout ({ ok, error?, steps, timings_ms, ... }) and exits 0 if every step
// passed, 1 otherwise (2 on bad arguments).

import { parseArgs } from "node:util"
import * as A from "@automerge/automerge"
import { Repo } from "@automerge/automerge-repo"
import { BrowserWebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"

const RELAY_PEER_ID = "casebook-relay"

let args
try {
  args = parseArgs({
    options: {
      relay: { type: "string" },
      token: { type: "string" },
      "peer-id": { type: "string" },
      doc: { type: "string" },
      "expect-name": { type: "string" },
      "expect-symptoms": { type: "string" },
      "insert-after": { type: "string" },
      insert: { type: "string" },
      "set-stage": { type: "string" },
      "wait-symptoms": { type: "string" },
      "wait-stage": { type: "string" },
      "timeout-ms": { type: "string", default: "30000" },
    },
    strict: true,
  }).values
  for (const k of ["relay", "token", "peer-id", "doc", "expect-name", "expect-symptoms", "insert-after", "insert",
    "set-stage", "wait-symptoms", "wait-stage"]) {
    if (args[k] === undefined) throw new Error(`missing --${k}`)
  }
} catch (e) {
  console.error(`interop.mjs: ${e.message}`)
  process.exit(2)
}

const timeoutMs = Number(args["timeout-ms"])
const started = performance.now()
const since = t => Math.round(performance.now() - t)
const result = { ok: false, peer_id: args["peer-id"], steps: [], timings_ms: {} }
const step = name => {
  result.steps.push(name)
  result.timings_ms[name] = since(started)
}

/** A string field, whether stored as a Text object (a JS string) or a scalar string (an ImmutableString). */
const str = v => (v === undefined || v === null ? v : String(v))

/** Resolve when `check()` returns a truthy value (re-checked on every change of the handle), or reject. */
function until(handle, what, check) {
  return new Promise((resolve, reject) => {
    const done = (f, v) => {
      clearTimeout(timer)
      handle.off("change", onChange)
      f(v)
    }
    const onChange = () => {
      try {
        const v = check()
        if (v) done(resolve, v)
      } catch (e) {
        done(reject, e)
      }
    }
    const timer = setTimeout(() => done(reject, new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs)
    handle.on("change", onChange)
    onChange()
  })
}

function assertEq(what, actual, expected) {
  if (actual !== expected) {
    throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`)
  }
}

// The relay's heads of each document, as reported by its sync messages (hex change hashes).
const relayHeads = new Map()
const relayHeadsChanged = new Set()

let repo
try {
  const url = `${args.relay}?token=${encodeURIComponent(args.token)}`
  // Retry interval: the adapter's default of 5 s would only slow a reconnect down.
  const adapter = new BrowserWebSocketClientAdapter(url, 1000)
  repo = new Repo({ network: [adapter], peerId: args["peer-id"] })
  repo.synchronizer.on("sync-state", ({ peerId, documentId, syncState }) => {
    if (peerId !== RELAY_PEER_ID || !syncState.theirHeads) return
    relayHeads.set(documentId, [...syncState.theirHeads])
    for (const f of relayHeadsChanged) f()
  })

  // 1. Connect and find the case.
  // Connected once the relay answered our `join` with its `peer` message.
  const deadline = performance.now() + timeoutMs
  while (!repo.peers.includes(RELAY_PEER_ID)) {
    if (performance.now() > deadline) throw new Error(`no handshake with ${RELAY_PEER_ID} in ${timeoutMs} ms`)
    await new Promise(r => setTimeout(r, 20))
  }
  step("connected")
  const t0 = performance.now()
  const handle = await repo.find(args.doc, { signal: AbortSignal.timeout(timeoutMs) })
  result.timings_ms.find = since(t0)
  result.relay_peers = repo.peers
  step("found")

  // 2. What Rust wrote.
  const doc = handle.doc()
  result.saw = {
    kind: str(doc.kind),
    display_name: str(doc.patient?.display_name),
    symptoms: str(doc.symptoms),
  }
  assertEq("kind", result.saw.kind, "casebook-case")
  assertEq("patient.display_name", result.saw.display_name, args["expect-name"])
  assertEq("symptoms", result.saw.symptoms, args["expect-symptoms"])
  step("checked_rust_content")

  // 3. Edit: a splice into the Text at a UTF-16 index, and a new value for a patient field.
  const at = doc.symptoms.indexOf(args["insert-after"])
  if (at < 0) throw new Error(`--insert-after ${JSON.stringify(args["insert-after"])} is not in the symptoms`)
  const index = at + args["insert-after"].length
  handle.change(d => {
    A.splice(d, ["symptoms"], index, 0, args.insert)
    d.patient.stage = args["set-stage"]
  })
  const edited = handle.doc()
  // Automerge 3 reads a Text object as a JS string and a scalar string as an ImmutableString.
  result.after_edit = {
    symptoms: str(edited.symptoms),
    stage: str(edited.patient.stage),
    stage_is_text: typeof edited.patient.stage === "string",
    splice_index: index,
  }
  const mine = A.getHeads(edited)
  step("edited")

  // 4. Until the relay holds the edit: every head of ours is among (or behind) the relay's heads.
  const t1 = performance.now()
  await new Promise((resolve, reject) => {
    const check = () => {
      const theirs = relayHeads.get(handle.documentId)
      if (!theirs) return
      const current = handle.doc()
      if (!A.hasHeads(current, theirs)) return // the relay has changes we have not received yet
      const missing = new Set(A.getChangesSince(current, theirs).map(c => A.decodeChange(c).hash))
      if (mine.every(h => !missing.has(h))) {
        clearTimeout(timer)
        relayHeadsChanged.delete(check)
        resolve()
      }
    }
    const timer = setTimeout(() => {
      relayHeadsChanged.delete(check)
      reject(new Error(`timed out after ${timeoutMs} ms waiting for the relay to acknowledge the edit`))
    }, timeoutMs)
    relayHeadsChanged.add(check)
    check()
  })
  result.timings_ms.relay_ack = since(t1)
  step("relay_has_edit")

  // 5. The reverse direction: the Rust client's edit, made after it saw ours.
  const t2 = performance.now()
  await until(handle, "the Rust edit", () => {
    const d = handle.doc()
    return str(d.symptoms) === args["wait-symptoms"] && str(d.patient?.stage) === args["wait-stage"]
  })
  result.timings_ms.rust_edit_seen = since(t2)
  const final = handle.doc()
  result.final = {
    symptoms: str(final.symptoms),
    stage: str(final.patient.stage),
    stage_is_text: typeof final.patient.stage === "string",
  }
  step("saw_rust_edit")
  result.ok = true
} catch (e) {
  result.error = String(e?.message ?? e)
} finally {
  result.timings_ms.total = since(started)
  process.stdout.write(JSON.stringify(result) + "\n")
  try {
    await Promise.race([repo?.shutdown(), new Promise(r => setTimeout(r, 2000))])
  } catch {
    // closing is best effort: the result is already out
  }
  process.exit(result.ok ? 0 : 1)
}
