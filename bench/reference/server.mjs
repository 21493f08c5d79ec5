// The reference relay of the relay benchmark (issue 5): what a user would otherwise deploy, the automerge-repo
// sync server, built from unmodified npm packages the way automerge-repo-sync-server does it: a Repo with the
// WebSocket server adapter and Node filesystem storage, sharing nothing unasked (`sharePolicy` false: peers get
// the documents they ask for). No accounts, no auth.
//
//   node server.mjs --port PORT --dir DATA_DIR
//
// Prints `listening PORT` on stdout once the socket is bound. SIGTERM/SIGINT stop it.

import { parseArgs } from "node:util"
import { WebSocketServer } from "ws"
import { Repo } from "@automerge/automerge-repo"
import { NodeWSServerAdapter } from "@automerge/automerge-repo-network-websocket"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"

const { values: args } = parseArgs({
  options: { port: { type: "string" }, dir: { type: "string" } },
  strict: true,
})
if (!args.port || !args.dir) {
  console.error("usage: node server.mjs --port PORT --dir DATA_DIR")
  process.exit(2)
}

const wss = new WebSocketServer({ port: Number(args.port), host: "127.0.0.1" })
const repo = new Repo({
  network: [new NodeWSServerAdapter(wss)],
  storage: new NodeFSStorageAdapter(args.dir),
  peerId: "reference-relay",
  sharePolicy: async () => false,
})

wss.on("listening", () => console.log(`listening ${wss.address().port}`))
const stop = async () => {
  try {
    await repo.shutdown()
  } finally {
    process.exit(0)
  }
}
process.on("SIGTERM", stop)
process.on("SIGINT", stop)
