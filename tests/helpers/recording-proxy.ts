// A forwarding HTTP proxy on 127.0.0.1 that notes every request it passes on (path, headers, body
// size) and changes nothing: a node that lists a peer at the proxy's address talks to the real peer
// through it, signatures and all, and a test sees what travelled. No part of the protocol is faked.
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface PassedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  bodyBytes: number;
}

export interface RecordingProxy {
  url: string;
  passed: PassedRequest[];
  close(): Promise<void>;
}

/** A proxy in front of `target` (a base URL, e.g. a node's). */
export async function recordingProxy(target: string): Promise<RecordingProxy> {
  const to = new URL(target);
  const passed: PassedRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      passed.push({ method: req.method ?? "", path: req.url ?? "", headers: req.headers, bodyBytes: body.byteLength });
      const out = http.request(
        { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: { ...req.headers, host: to.host } },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      out.on("error", () => res.destroy());
      out.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    passed,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
