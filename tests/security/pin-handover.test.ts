// Attacks on a pin's hand-over (POST /peer/resources/:pin/handover and …/handover/cancel): only the
// node the pin answers may hand it on; the new pin answers only the node it was made for; a hand-over
// cannot be turned into a pin of another job or directory, cannot be cancelled by anyone else, nor
// once the new node has used it; a pin is never handed to its home node. Three real nodes on loopback.
import { afterEach, describe, expect, it } from "vitest";
import { generateSigningKey } from "../../server/auth/index.js";
import { startTestNode, type TestNode } from "../helpers/node.js";
import { asNode, linkPeers, pinAt, rawCall, signedRequest } from "../helpers/pins.js";

const nodes: TestNode[] = [];
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.close();
});

async function trio(): Promise<[TestNode, TestNode, TestNode]> {
  const key = generateSigningKey();
  const a = await startTestNode({ key, capabilities: ["reports/*:rw", "other/*:rw"] });
  const b = await startTestNode({ key });
  const c = await startTestNode({ key });
  nodes.push(a, b, c);
  linkPeers(a, b, c);
  return [a, b, c];
}

const json = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));

describe("a pin's hand-over", () => {
  it("is made only for the pin's own node, answers only the node it was made for, and never names home", async () => {
    const [a, b, c] = await trio();
    const pin = pinAt(a, b);
    const cId = c.running.identity.nodeId;
    // C (a peer, but not the pin's) cannot take the pin for itself.
    const stolen = await signedRequest(a.running.url, asNode(c), "POST", `/peer/resources/${pin.id}/handover`, json({ to: cId }));
    expect([stolen.status, stolen.code]).toEqual([403, "forbidden"]);
    // A client's key is no peer.
    const client = await signedRequest(a.running.url, a.key, "POST", `/peer/resources/${pin.id}/handover`, json({ to: cId }));
    expect(client.status).toBe(401);
    const home = await signedRequest(
      a.running.url,
      asNode(b),
      "POST",
      `/peer/resources/${pin.id}/handover`,
      json({ to: a.running.identity.nodeId }),
    );
    expect([home.status, home.code]).toEqual([400, "bad_request"]);
    const unknown = await signedRequest(a.running.url, asNode(b), "POST", `/peer/resources/${pin.id}/handover`, json({ to: "nowhere" }));
    expect([unknown.status, unknown.code]).toEqual([404, "not_found"]);
    const given = await signedRequest(a.running.url, asNode(b), "POST", `/peer/resources/${pin.id}/handover`, json({ to: cId }));
    expect(given.status).toBe(200);
    const made = (JSON.parse(new TextDecoder().decode(given.payload)) as { pin: string }).pin;
    expect(a.running.node.pins.get(made)).toMatchObject({
      jobId: pin.jobId,
      owner: pin.owner,
      dir: pin.dir,
      access: pin.access,
      peer: cId,
    });
    // The new pin answers C only; B keeps its own until it lets it go.
    expect((await rawCall(a, asNode(b), made, 1, { op: "stat", args: [""] })).status).toBe(403);
    expect((await rawCall(a, asNode(c), made, 1, { op: "stat", args: [""] })).status).toBe(200);
    expect((await rawCall(a, asNode(b), pin.id, 1, { op: "stat", args: [""] })).status).toBe(200);
  });

  it("is cancelled only by the pin's node, only for a pin of the same job and directory, and not once used", async () => {
    const [a, b, c] = await trio();
    const pin = pinAt(a, b);
    const cId = c.running.identity.nodeId;
    const other = pinAt(a, b, "other", "rw", "job-2");
    const handover = async () =>
      JSON.parse(
        new TextDecoder().decode(
          (await signedRequest(a.running.url, asNode(b), "POST", `/peer/resources/${pin.id}/handover`, json({ to: cId }))).payload,
        ),
      ).pin as string;
    const cancel = (signer: TestNode, target: string) =>
      signedRequest(a.running.url, asNode(signer), "POST", `/peer/resources/${pin.id}/handover/cancel`, json({ pin: target }));
    const made = await handover();
    // C cannot cancel through B's pin; B cannot release another job's pin by naming it.
    expect((await cancel(c, made)).status).toBe(403);
    const unrelated = await cancel(b, other.id);
    expect(JSON.parse(new TextDecoder().decode(unrelated.payload))).toEqual({ released: false });
    expect(a.running.node.pins.get(other.id)).toBeDefined();
    // Used by C: the hand-over happened, it cannot be taken back.
    expect((await rawCall(a, asNode(c), made, 1, { op: "stat", args: [""] })).status).toBe(200);
    expect([(await cancel(b, made)).status, (await cancel(b, made)).code]).toEqual([409, "conflict"]);
    expect(a.running.node.pins.get(made)).toBeDefined();
    // Never used: cancelled.
    const unused = await handover();
    expect(JSON.parse(new TextDecoder().decode((await cancel(b, unused)).payload))).toEqual({ released: true });
    expect(a.running.node.pins.get(unused)).toBeUndefined();
  });
});
