// minisign's public key and signature formats with an Ed25519 key made here (Ed25519 over
// the file's BLAKE2b-512, then over the signature and the trusted comment), for tests that
// sign releases: the dashboard's installer and update tests, and the tray's (which imports
// this file by path; it needs nothing but node:crypto).
import { createHash, generateKeyPairSync, sign } from "node:crypto";

/// A new key: `pub` (the base64 line to pin in a config) and `signFile(data, comment)`
/// (a `.minisig` text whose trusted comment is `comment`).
export function minisign(keyId = [1, 2, 3, 4, 5, 6, 7, 8]) {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const id = Buffer.from(keyId);
  const raw = Buffer.from(publicKey.export({ format: "jwk" }).x, "base64url");
  const pub = Buffer.concat([Buffer.from("Ed"), id, raw]).toString("base64");
  const signFile = (data, comment) => {
    const sig = sign(null, createHash("blake2b512").update(data).digest(), privateKey);
    const line = Buffer.concat([Buffer.from("ED"), id, sig]).toString("base64");
    const global = sign(null, Buffer.concat([sig, Buffer.from(comment)]), privateKey).toString("base64");
    return `untrusted comment: test\n${line}\ntrusted comment: ${comment}\n${global}\n`;
  };
  return { pub, signFile };
}
