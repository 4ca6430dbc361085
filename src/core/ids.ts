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
