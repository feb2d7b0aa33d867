/**
 * Password hashing with argon2id (the npm package `argon2`, reference implementation bindings),
 * OWASP's first choice for password storage. Hashes are PHC strings that carry their parameters.
 */
import argon2 from "argon2";
import { ApiError } from "../errors";

/** Shortest password accepted (NIST SP 800-63B allows 8; we ask for 10). */
export const MIN_PASSWORD_LENGTH = 10;
/** Longest accepted, so a huge body cannot make hashing a denial of service. */
export const MAX_PASSWORD_LENGTH = 1000;

/**
 * Checks a new password's length.
 * @throws ApiError WEAKP under MIN_PASSWORD_LENGTH characters, INVAL over MAX_PASSWORD_LENGTH.
 */
export function assertAcceptablePassword(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH) {
    throw new ApiError("WEAKP", `The password must have at least ${MIN_PASSWORD_LENGTH} characters.`);
  }
  if (password.length > MAX_PASSWORD_LENGTH) {
    throw new ApiError("INVAL", `The password must have at most ${MAX_PASSWORD_LENGTH} characters.`);
  }
}

/** argon2id hash of the password, as a PHC string (`$argon2id$v=19$m=...`). */
export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, { type: argon2.argon2id });
}

let dummyHash: Promise<string> | undefined;

/**
 * Whether the password matches the hash. With no hash (unknown e-mail) it still verifies against a
 * dummy hash, so a login takes as long whether or not the e-mail exists; the answer is then false.
 */
export async function verifyPassword(hash: string | undefined, password: string): Promise<boolean> {
  dummyHash ??= hashPassword("dummy password, never matches anything real");
  const ok = await argon2.verify(hash ?? (await dummyHash), password.slice(0, MAX_PASSWORD_LENGTH));
  return hash !== undefined && ok;
}
