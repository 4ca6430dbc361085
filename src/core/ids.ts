/**
 * The identifier rules every layer shares: a call's `call_sid` and an organization id. The route
 * schemas (src/schemas.ts) use the patterns; everything else (credentials, the CLI, registration,
 * the audit) calls the tests below, compiled once here.
 */
export const CALL_SID_PATTERN = '^call_[A-Za-z0-9]{1,64}$';
export const ORG_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$';

const CALL_SID = new RegExp(CALL_SID_PATTERN);
const ORG_ID = new RegExp(ORG_ID_PATTERN);

/** `call_` followed by 1–64 ASCII letters or digits. */
export const isCallSid = (value: string): boolean => CALL_SID.test(value);
/** 1–128 letters, digits or `_ . : -`, starting with a letter or digit. */
export const isOrgId = (value: string): boolean => ORG_ID.test(value);

/**
 * The `call_sid` of a PBX's own call id (Asterisk's `uniqueid` `1764322212.84`, a FreeSWITCH
 * uuid): `call_` and the id with every character that is not an ASCII letter or digit removed
 * (`call_176432221284`), or undefined when nothing usable is left or the result is too long.
 * Ingest, scan and import name calls by this one rule, so a recording and its CDR row meet.
 */
export function sidFromPbxId(id: string): string | undefined {
  const sid = `call_${id.replace(/[^A-Za-z0-9]/g, '')}`;
  return isCallSid(sid) ? sid : undefined;
}
