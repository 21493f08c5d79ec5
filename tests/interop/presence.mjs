// Presence interop (issue item 9): an unmodified automerge-repo 2.5 client from npm, with its real
// `Presence` class, shares presence with a Casebook Rust client through the relay. Driven by
// tests/tests/interop_presence_js.rs, which runs this script twice (--mode goodbye, then --mode vanish).
//
//   node presence.mjs --relay ws://127.0.0.1:PORT/v1/sync --token TOKEN --peer-id device-ID --doc automerge:ID \
//     --rust-peer device-ID --rust-name NAME --caregiver ACCOUNT --name NAME --appointment ID \
//     --mode goodbye|vanish [--heartbeat-ms N --ttl-ms N] [--timeout-ms 30000]
//
// Both modes: connect a Repo (no storage) to the relay, find DOC (an appointment's notes document), and
// start a `Presence` on its handle with {caregiver, name, editing: "notes", appointment}; then wait until the
// Rust peer (RUST_PEER) is in `getPeerStates()` with name RUST_NAME.
// - goodbye: `broadcast("editing", "summary")`; wait until the Rust peer's `editing` is "reading" (Rust's
//   answer); `stop()` (sends a goodbye); shut the repo down; exit.
// - vanish: wait for the Rust peer's goodbye (it leaves the peer states), then for it to come back with
//   `editing` "done"; print the result and exit at once WITHOUT stopping (no goodbye: Rust must expire us).
// Prints one JSON object on stdout ({ ok, error?, steps, saw_rust, timings_ms, ... }); exits 0 if every step
// passed, 1 otherwise (2 on bad arguments).

import { parseArgs } from "node:util"
import { Presence, Repo } from "@automerge/automerge-repo"
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
      "rust-peer": { type: "string" },
      "rust-name": { type: "string" },
      caregiver: { type: "string" },
      name: { type: "string" },
      appointment: { type: "string" },
      mode: { type: "string" },
      "heartbeat-ms": { type: "string" },
      "ttl-ms": { type: "string" },
      "timeout-ms": { type: "string", default: "30000" },
    },
    strict: true,
  }).values
  for (const k of ["relay", "token", "peer-id", "doc", "rust-peer", "rust-name", "caregiver", "name", "appointment",
    "mode"]) {
    if (args[k] === undefined) throw new Error(`missing --${k}`)
  }
  if (!["goodbye", "vanish"].includes(args.mode)) throw new Error(`--mode goodbye|vanish, not ${args.mode}`)
} catch (e) {
  console.error(`presence.mjs: ${e.message}`)
  process.exit(2)
}

const timeoutMs = Number(args["timeout-ms"])
const started = performance.now()
const since = t => Math.round(performance.now() - t)
const result = { ok: false, mode: args.mode, steps: [], timings_ms: {}, events: [] }
const step = name => {
  result.steps.push(name)
  result.timings_ms[name] = since(started)
}

/** Resolve with `check()`'s value once truthy (checked on every presence event and every 50 ms), or reject. */
function until(presence, what, check) {
  return new Promise((resolve, reject) => {
    const events = ["snapshot", "update", "heartbeat", "goodbye", "pruning"]
    const done = (f, v) => {
      clearTimeout(timer)
      clearInterval(poll)
      for (const e of events) presence.off(e, onEvent)
      f(v)
    }
    const onEvent = () => {
      try {
        const v = check()
        if (v) done(resolve, v)
      } catch (e) {
        done(reject, e)
      }
    }
    const timer = setTimeout(() => done(reject, new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs)
    const poll = setInterval(onEvent, 50)
    for (const e of events) presence.on(e, onEvent)
    onEvent()
  })
}

let repo
let presence
try {
  const url = `${args.relay}?token=${encodeURIComponent(args.token)}`
  const adapter = new BrowserWebSocketClientAdapter(url, 1000)
  repo = new Repo({ network: [adapter], peerId: args["peer-id"] })
  const deadline = performance.now() + timeoutMs
  while (!repo.peers.includes(RELAY_PEER_ID)) {
    if (performance.now() > deadline) throw new Error(`no handshake with ${RELAY_PEER_ID} in ${timeoutMs} ms`)
    await new Promise(r => setTimeout(r, 20))
  }
  step("connected")
  const handle = await repo.find(args.doc, { signal: AbortSignal.timeout(timeoutMs) })
  step("found")

  presence = new Presence({ handle })
  const rust = args["rust-peer"]
  for (const e of ["snapshot", "update", "goodbye"]) {
    presence.on(e, ev => {
      if (ev.peerId === rust) result.events.push(e)
    })
  }
  presence.on("pruning", ev => {
    if (ev.pruned.includes(rust)) result.events.push("pruning")
  })
  const config = {
    initialState: { caregiver: args.caregiver, name: args.name, editing: "notes", appointment: args.appointment },
  }
  if (args["heartbeat-ms"]) config.heartbeatMs = Number(args["heartbeat-ms"])
  if (args["ttl-ms"]) config.peerTtlMs = Number(args["ttl-ms"])
  presence.start(config)
  step("started")

  const rustState = () => presence.getPeerStates().value[rust]?.value
  result.saw_rust = await until(presence, "the Rust peer's presence",
    () => rustState()?.name === args["rust-name"] && rustState())
  step("saw_rust")

  if (args.mode === "goodbye") {
    presence.broadcast("editing", "summary")
    step("broadcast_summary")
    result.saw_rust_answer = await until(presence, "the Rust peer's answer (editing: reading)",
      () => rustState()?.editing === "reading" && rustState())
    step("saw_rust_answer")
    presence.stop()
    step("stopped")
    result.ok = true
  } else {
    await until(presence, "the Rust peer's goodbye", () => rustState() === undefined)
    step("saw_rust_goodbye")
    result.saw_rust_again = await until(presence, "the Rust peer back with editing: done",
      () => rustState()?.editing === "done" && rustState())
    step("saw_rust_again")
    result.ok = true
  }
} catch (e) {
  result.error = String(e?.message ?? e)
} finally {
  result.timings_ms.total = since(started)
  process.stdout.write(JSON.stringify(result) + "\n")
  if (args.mode === "goodbye" || !result.ok) {
    try {
      // Let the goodbye leave before the socket closes.
      await new Promise(r => setTimeout(r, 200))
      await Promise.race([repo?.shutdown(), new Promise(r => setTimeout(r, 2000))])
    } catch {
      // best effort: the result is already out
    }
  }
  // vanish: exit at once, no goodbye, no orderly close.
  process.exit(result.ok ? 0 : 1)
}
