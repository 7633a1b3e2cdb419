// A tiny static file server for the built app (dist/), bound to 127.0.0.1 only. No dependencies.
import { createServer } from "node:http";
import { mkdtemp, readFile, stat } from "node:fs/promises";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { extname, join, normalize, resolve } from "node:path";

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".wasm": "application/wasm",
  ".txt": "text/plain; charset=utf-8",
  ".json": "application/json",
  ".png": "image/png",
  ".svg": "image/svg+xml",
  ".webmanifest": "application/manifest+json",
};

// `cors`: answer any origin (a CI artifact host a deployment allows links to load from).
// A fresh folder under the system's temporary folder, removed when this test file's process exits,
// whether its tests pass or fail (a run writes hundreds of MiB there; CI disks can be nearly full).
const scratch = [];
process.on("exit", () => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});
export async function scratchDir(prefix) {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  scratch.push(dir);
  return dir;
}

export async function serve(root, port = 0, { cors = false } = {}) {
  const base = resolve(root);
  const server = createServer(async (req, res) => {
    try {
      const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
      let file = normalize(join(base, path));
      if (!file.startsWith(base)) throw new Error("outside root");
      if ((await stat(file).catch(() => null))?.isDirectory()) file = join(file, "index.html");
      const body = await readFile(file);
      const headers = { "content-type": TYPES[extname(file)] || "application/octet-stream" };
      if (cors) headers["access-control-allow-origin"] = "*";
      res.writeHead(200, headers);
      res.end(body);
    } catch {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not found");
    }
  });
  await new Promise((ok) => server.listen(port, "127.0.0.1", ok));
  return { server, url: `http://127.0.0.1:${server.address().port}/` };
}

if (process.argv[1] && process.argv[1].endsWith("server.mjs")) {
  const root = process.argv[2] || "../dist";
  const port = Number(process.argv[3] || 8080);
  const { url } = await serve(root, port);
  console.log(`serving ${root} at ${url}`);
}

// The system Chromium with the flags every test uses (never a downloaded browser).
export function launch(chromium) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-quic", "--no-first-run", "--disable-sync"],
  });
}

/** Drop files on the page as a folder drop names them: `files` is `[[name, path on disk], …]`. */
export async function dropPaths(page, files) {
  const { readFile } = await import("node:fs/promises");
  const payload = [];
  for (const [name, path] of files) payload.push([name, (await readFile(path)).toString("base64")]);
  await page.evaluate((payload) => {
    const dt = new DataTransfer();
    for (const [name, b64] of payload) dt.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], name));
    document.querySelector(".app").dispatchEvent(new DragEvent("drop", { bubbles: true, cancelable: true, dataTransfer: dt }));
  }, payload);
}
