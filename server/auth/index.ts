// Request signing, client keys, grants and node identity: the authentication surface for the server.

export * from "./canonical.js";
export { DEFAULT_QUOTAS, parseCapabilities, parseQuotas, type Quotas } from "../formats/grants.js";
export {
  checkGrant,
  parseSignedGrant,
  signGrant,
  DEFAULT_GRANT_LIFETIME_MS,
  GRANT_SIGNATURE_VERSION,
  MAX_GRANT_LIFETIME_MS,
  type GrantExpectation,
  type MigrationGrant,
  type SignedGrant,
} from "./migration-grant.js";
export {
  generateSigningKey,
  keyFileOf,
  parsePublicKey,
  readKeyFile,
  writeKeyFile,
  KEY_FILE_KIND,
  type KeyFile,
  type SigningKey,
} from "./keys.js";
export { keyFingerprint, publicKeyPem } from "../formats/keys.js";
export {
  loadOrCreateNodeIdentity,
  readNodeIdentity,
  signTransfer,
  verifyTransfer,
  NODE_KEY_FILE,
  TRANSFER_SIGNATURE_VERSION,
  type NodeIdentity,
} from "./node-identity.js";
export { newNonce, signRequest, type AuthHeaders, type RequestToSign } from "./sign-request.js";
export {
  bodyMismatch,
  verifyRequest,
  verifyRequestHead,
  type HeaderBag,
  type RequestHead,
  type RequestToVerify,
  type Signer,
  type SignerDirectory,
  type VerifiedHead,
  type VerifyOptions,
} from "./verify-request.js";
