// Which addresses a node will talk to as a peer. A peer's URL comes from configuration or from the
// peer itself (/peer/hello), and the node then sends requests there: it must never be a cloud
// metadata service, a link-local or multicast address, or "any address". Loopback and private
// networks stay allowed (tests and single-machine clusters use loopback). Checked where a URL is
// accepted, again before every request, and on every address a host name resolves to.

import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { BlockList, isIP, type LookupFunction } from "node:net";
import { ServerError } from "../errors.js";

/** Addresses no peer may have, whatever a configuration or a hello says. */
const FORBIDDEN = new BlockList();
FORBIDDEN.addSubnet("0.0.0.0", 8, "ipv4"); // "this network", including the unspecified 0.0.0.0
FORBIDDEN.addSubnet("169.254.0.0", 16, "ipv4"); // link-local: 169.254.169.254 is the metadata service of AWS, GCP, Azure, …
FORBIDDEN.addSubnet("224.0.0.0", 4, "ipv4"); // multicast
FORBIDDEN.addSubnet("240.0.0.0", 4, "ipv4"); // reserved, and 255.255.255.255 broadcast
FORBIDDEN.addAddress("100.100.100.200", "ipv4"); // Alibaba Cloud metadata
FORBIDDEN.addAddress("168.63.129.16", "ipv4"); // Azure host services (wireserver)
FORBIDDEN.addAddress("::", "ipv6"); // unspecified
FORBIDDEN.addSubnet("fe80::", 10, "ipv6"); // link-local
FORBIDDEN.addSubnet("ff00::", 8, "ipv6"); // multicast
FORBIDDEN.addAddress("fd00:ec2::254", "ipv6"); // AWS metadata over IPv6

/** Names of metadata services that resolve inside a cloud (the resolved address is checked too). */
const FORBIDDEN_NAMES = new Set(["metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal"]);

/** Why `address` (an IP literal) may not be a peer's, or undefined if it may. */
export function forbiddenAddress(address: string): string | undefined {
  const family = isIP(address);
  if (family === 0) return `${address} is not an IP address`;
  if (family === 6) {
    // An IPv4 address written as IPv6 (mapped ::ffff:a.b.c.d, compatible ::a.b.c.d, NAT64 64:ff9b::a.b.c.d)
    // reaches the same IPv4 host: judge that one.
    const embedded = embeddedIpv4(address);
    if (embedded) {
      const why = forbiddenAddress(embedded);
      if (why) return `${address} is ${embedded}: ${why}`;
    }
  }
  return FORBIDDEN.check(address, family === 4 ? "ipv4" : "ipv6")
    ? `${address} is link-local, multicast, unspecified or a metadata address`
    : undefined;
}

/**
 * A peer URL as this node will use it, or a `bad_request` naming what is wrong: http or https, no
 * credentials, and a host that is not a forbidden address or a metadata service's name.
 */
export function checkPeerUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ServerError("bad_request", `peer URL ${JSON.stringify(text)} is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new ServerError("bad_request", `peer URL ${text}: only http and https, not ${url.protocol}`);
  if (url.username !== "" || url.password !== "") throw new ServerError("bad_request", `peer URL ${text}: no credentials in the URL`);
  // WHATWG URL has normalised the host already: 0xa9fea9fe, 2852039166 and 169.254.169.254 are one address.
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  if (isIP(host) !== 0) {
    const why = forbiddenAddress(host);
    if (why) throw new ServerError("bad_request", `peer URL ${text}: ${why}`);
  } else if (FORBIDDEN_NAMES.has(host.replace(/\.$/, "").toLowerCase())) {
    throw new ServerError("bad_request", `peer URL ${text}: ${host} is a metadata service`);
  }
  return url;
}

/**
 * A DNS lookup for peer requests that refuses forbidden addresses: a name that resolves (or is
 * re-pointed, after the URL was accepted) to a metadata or link-local address is never connected to.
 */
export const peerLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, "", 0);
    const list = addresses as LookupAddress[];
    for (const a of list) {
      const why = forbiddenAddress(a.address);
      if (why)
        return callback(
          Object.assign(new Error(`peer host ${hostname} resolves to a forbidden address: ${why}`), { code: "EFORBIDDEN" }),
          "",
          0,
        );
    }
    if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
    const first = list[0];
    if (!first) return callback(Object.assign(new Error(`peer host ${hostname} has no address`), { code: "ENOTFOUND" }), "", 0);
    callback(null, first.address, first.family);
  });
};

function embeddedIpv4(v6: string): string | undefined {
  const lower = v6.toLowerCase();
  const m = /^(?:::ffff:|::|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (m) return m[1];
  const hex = /^(?:::ffff:|::|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (!hex) return undefined;
  const hi = parseInt(hex[1]!, 16);
  const lo = parseInt(hex[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}
