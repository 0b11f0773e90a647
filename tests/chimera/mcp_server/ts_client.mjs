// A client from another code base: the MCP TypeScript SDK's own Client (npm
// @modelcontextprotocol/sdk, installed in stack/mcp by scripts/setup.sh), driven by the
// Python tests. Usage:
//   node ts_client.mjs '<plan JSON>'
// plan: {"transport": "http", "url": "...", "token": "..."}
//    or {"transport": "stdio", "command": "...", "args": [...], "env": {...}}
//   plus "steps": [{"do": "listTools"} | {"do": "listResources"} | {"do": "listResourceTemplates"}
//                  | {"do": "readResource", "uri": "..."} | {"do": "callTool", "name": "...",
//                  "arguments": {...}} | {"do": "listPrompts"} | {"do": "getPrompt", ...}]
// Prints one JSON object: {"server": ..., "results": [{"ok": true, "value": ...} |
// {"ok": false, "error": {"name", "code", "message"}}]}; a failed connection is
// {"connected": false, "error": {...}}.
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const sdk = join(here, "..", "..", "..", "stack", "mcp", "node_modules", "@modelcontextprotocol", "sdk", "dist", "esm");
const load = (path) => import(pathToFileURL(join(sdk, path)).href);
const { Client } = await load("client/index.js");
const { StreamableHTTPClientTransport } = await load("client/streamableHttp.js");
const { StdioClientTransport } = await load("client/stdio.js");

const plan = JSON.parse(process.argv[2]);
const describe = (e) => ({ name: e?.constructor?.name ?? "Error", code: e?.code ?? null, message: String(e?.message ?? e) });

let transport;
if (plan.transport === "http") {
  const headers = plan.token ? { Authorization: `Bearer ${plan.token}` } : {};
  transport = new StreamableHTTPClientTransport(new URL(plan.url), { requestInit: { headers } });
} else {
  transport = new StdioClientTransport({ command: plan.command, args: plan.args ?? [], env: plan.env, stderr: "pipe" });
}
const client = new Client({ name: "chimera-tests-ts", version: "1.0.0" });
try {
  await client.connect(transport);
} catch (e) {
  console.log(JSON.stringify({ connected: false, error: describe(e) }));
  process.exit(0);
}
const results = [];
for (const step of plan.steps ?? []) {
  try {
    let value;
    switch (step.do) {
      case "listTools": value = await client.listTools(); break;
      case "listResources": value = await client.listResources(); break;
      case "listResourceTemplates": value = await client.listResourceTemplates(); break;
      case "readResource": value = await client.readResource({ uri: step.uri }); break;
      case "callTool": value = await client.callTool({ name: step.name, arguments: step.arguments ?? {} }); break;
      case "listPrompts": value = await client.listPrompts(); break;
      case "getPrompt": value = await client.getPrompt({ name: step.name, arguments: step.arguments ?? {} }); break;
      default: throw new Error(`unknown step ${step.do}`);
    }
    results.push({ ok: true, value });
  } catch (e) {
    results.push({ ok: false, error: describe(e) });
  }
}
console.log(JSON.stringify({ connected: true, server: client.getServerVersion(), results }));
await client.close();
